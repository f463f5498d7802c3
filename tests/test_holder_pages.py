"""The holder's pages the e-mails link to: static shells under the pages' policy, opening without a token,
holding no signed URL, and refusing a wrong ID."""

from __future__ import annotations

import pytest

from gql.ids import to_global_id
from server.web_pages import content_security_policy

SITTING = to_global_id("Sitting", 7)
CERTIFICATE = to_global_id("Certificate", 7)


@pytest.mark.parametrize(
    ("path", "page", "title", "module"),
    [
        (f"/claim/{SITTING}", "claim", "Claim your certificate", "claim.js"),
        (f"/certificates/{CERTIFICATE}", "downloads", "Your certificate", "certificate.js"),
    ],
)
async def test_a_page_opens_without_a_token_as_a_static_shell_under_the_pages_policy(
    sqlite_server, path, page, title, module
):
    # when
    response = await sqlite_server.http.get(path)

    # then the shell names the page and its ID, and runs only its own module
    assert (response.status_code, response.headers["content-type"]) == (200, "text/html; charset=utf-8")
    global_id = path.rsplit("/", 1)[1]
    assert f'<div id="app" class="holder" data-page="{page}" data-id="{global_id}"' in response.text
    assert 'data-ttl="15 minutes"' in response.text
    assert f"<h1>{title}</h1>" in response.text
    assert response.text.count("<script") == 1
    assert f'<script type="module" src="/static/app/{module}"></script>' in response.text
    assert "<style" not in response.text and "style=" not in response.text and "/files/" not in response.text
    # and the policy is the web pages' own; the claim page's also admits blob: images (the photo's preview)
    policy = content_security_policy(f"127.0.0.1:{sqlite_server.port}")
    expected = policy.replace("img-src 'self';", "img-src 'self' blob:;") if page == "claim" else policy
    assert response.headers["content-security-policy"] == expected
    assert "'unsafe-inline'" not in expected and "nonce" not in expected
    assert (response.headers["cache-control"], response.headers["referrer-policy"]) == ("no-store", "no-referrer")
    # (the ID is for the module: the page never shows it)
    assert f">{global_id}<" not in response.text
    module_response = await sqlite_server.http.get(f"/static/app/{module}")
    assert (module_response.status_code, module_response.headers["content-type"].split(";")[0]) == (
        200,
        "text/javascript",
    )


@pytest.mark.parametrize(
    "path",
    [f"/claim/{CERTIFICATE}", "/claim/not-an-id", f"/certificates/{SITTING}", "/certificates/%3Cscript%3E"],
)
async def test_a_link_whose_id_is_not_of_the_page_is_404_saying_so(sqlite_server, path):
    response = await sqlite_server.http.get(path)

    assert (response.status_code, response.headers["content-type"]) == (404, "text/html; charset=utf-8")
    assert "This link is not complete. Open the link from your e-mail again, in full." in response.text
    assert "<script" not in response.text and 'data-id=""' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
