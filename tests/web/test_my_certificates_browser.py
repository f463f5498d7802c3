"""The test taker's own page, "My certificates" (``GET /me``), in real Chromium against the real, rendering server:
every sitting of theirs in every organisation, newest first, named by its test, organisation, date and score,
with what became of its certificate in words and the link on (its claim page, or its downloads once issued);
live; an Arabic name laid out right to left; accessibility (axe-core) and the page's policy at 1280×800 and
390×844. Screenshots ``docs/screenshots/me-desktop.png`` and ``me-phone.png`` when ``CERTIFY_SCREENSHOTS=1``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import BASE_TIME, RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import APPROVE, portrait, post_claim, rendering_server, reviewer, wait_for
from playwright.async_api import Page
from test_review_desk import DESKTOP, PHONE, axe_violations, browser_page, policy_violations, screenshot

from gql.ids import to_global_id
from models import Certificate, Sitting
from models.enums import CertificateStatus, Role
from server.web_pages import content_security_policy

ARABIC = "ليلى حداد"
EMAIL = "laila@example.com"
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { errors { code message } }
}
"""

pytestmark = pytest.mark.chromium


async def laila_at_two_organisations(server) -> dict[str, Sitting]:
    """Laila's four sittings: Acme's issued, ready to claim and too low a score; Beta's not certified yet."""
    platform = server.platform()
    acme = await build_world(platform, sittings=0, credits=2, name="Acme Languages", prefix="a")
    beta = await build_world(platform, sittings=0, credits=1, name="Beta Institute", prefix="b")

    def row(world, prefix, n, days, score):
        return sitting_row(
            world.organisation_id,
            world.test_id,
            n,
            prefix=prefix,
            email=EMAIL,
            name=ARABIC,
            score=score,
            taken_at=BASE_TIME - timedelta(days=days),
        )

    rows = [row(acme, "a", 0, 30, 90), row(acme, "a", 1, 10, 75), row(acme, "a", 2, 40, 40), row(beta, "b", 3, 0, 70)]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    sittings = {
        key: await Sitting.get(external_id=r["externalId"])
        for key, r in zip(("issued", "ready", "low", "beta"), rows, strict=True)
    }
    admin = server.client(server.token(Role.ORG_ADMIN, org=acme.organisation_pk))
    ids = [to_global_id("Sitting", sittings[key].id) for key in ("issued", "ready")]
    assert (await admin.data(CERTIFY, {"ids": ids, "key": "acme"}))["certifySittings"]["errors"] == []
    # the first claimed in Arabic, approved and issued
    token = laila_token(server, sittings)
    claimed = await post_claim(server, token=token, sitting_id=ids[0], name=ARABIC, photo=portrait())
    assert claimed.json()["data"]["claimCertificate"]["errors"] == []
    certificate = await Certificate.get(sitting_id=sittings["issued"].id)
    approved = await reviewer(server).data(APPROVE, {"id": to_global_id("Certificate", certificate.id)})
    assert approved["approveCertificate"]["errors"] == []

    async def issued():
        return (await Certificate.get(id=certificate.id)).status == CertificateStatus.ISSUED

    await wait_for(issued, timeout=60)
    return sittings


def laila_token(server, sittings) -> str:
    return server.token(Role.TEST_TAKER, test_taker=sittings["issued"].test_taker_id, subject="laila")


async def cards(page: Page) -> list[dict]:
    return await page.locator(".my-sitting").evaluate_all(
        """cards => cards.map(card => ({
          test: card.querySelector('h2').textContent,
          facts: [...card.querySelectorAll('dd')].map(dd => dd.textContent),
          status: card.querySelector('.my-status').textContent,
          link: card.querySelector('a') ? [card.querySelector('a').textContent, card.querySelector('a').getAttribute('href')] : null,
        }))"""
    )


async def test_a_test_taker_sees_every_result_of_theirs_and_goes_on_to_claim(tmp_path, sqlite_url):
    async with rendering_server(tmp_path, sqlite_url) as server:
        sittings = await laila_at_two_organisations(server)
        issued = await Certificate.get(sitting_id=sittings["issued"].id)
        gid = {key: to_global_id("Sitting", sitting.id) for key, sitting in sittings.items()}
        async with browser_page(DESKTOP) as (page, problems):
            # given Laila signed in to her page by its link
            await page.goto(f"{server.url}/me#access_token={laila_token(server, sittings)}")
            await page.locator("#live-status", has_text="Live").wait_for()
            await page.locator(".my-sitting").nth(3).wait_for()
            assert await page.title() == "My certificates · Certify"
            assert await page.evaluate("location.hash") == ""
            # then her name reads right to left, and her four results are listed newest first, in words
            assert await page.text_content("#my-intro") == f"The test results of {ARABIC}: 4 results, newest first."
            assert await page.locator("#taker-name").evaluate("e => getComputedStyle(e).direction") == "rtl"
            assert await cards(page) == [
                {
                    "test": "Beta Institute English",
                    "facts": ["Beta Institute", "1 October 2026, 09:00 UTC", "70 / 100"],
                    "status": "No certificate yet: your test centre has not certified this result.",
                    "link": None,
                },
                {
                    "test": "Acme Languages English",
                    "facts": ["Acme Languages", "21 September 2026, 09:00 UTC", "75 / 100"],
                    "status": (await page.locator(".my-sitting").nth(1).locator(".my-status").text_content()),
                    "link": ["Claim your certificate", f"/claim/{gid['ready']}"],
                },
                {
                    "test": "Acme Languages English",
                    "facts": ["Acme Languages", "1 September 2026, 09:00 UTC", "90 / 100", ARABIC],
                    "status": "Issued.",
                    "link": ["Download your certificate", f"/certificates/{to_global_id('Certificate', issued.id)}"],
                },
                {
                    "test": "Acme Languages English",
                    "facts": ["Acme Languages", "22 August 2026, 09:00 UTC", "40 / 100"],
                    "status": "No certificate: the score is below what this test certifies.",
                    "link": None,
                },
            ]
            ready = await page.locator(".my-sitting").nth(1).locator(".my-status").text_content()
            assert ready.startswith("Ready to claim, by ") and ready.endswith(" UTC.")
            assert await page.locator(".my-holder").evaluate("e => getComputedStyle(e).direction") == "rtl"
            shown = await page.inner_text("body")
            assert not any(sitting_id in shown for sitting_id in gid.values())
            # and the page reads well to axe at both sizes, and fits a phone without sideways scrolling
            assert await axe_violations(page) == []
            await screenshot(page, "me-desktop.png")
            await page.set_viewport_size(PHONE)
            assert await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            assert await axe_violations(page) == []
            await screenshot(page, "me-phone.png")
            await page.set_viewport_size(DESKTOP)

            # when Beta certifies her result, then, without a reload, it is ready to claim
            beta_admin = server.client(server.token(Role.ORG_ADMIN, org=sittings["beta"].organisation_id))
            assert (await beta_admin.data(CERTIFY, {"ids": [gid["beta"]], "key": "beta"}))["certifySittings"][
                "errors"
            ] == []
            first = page.locator(".my-sitting").first
            await first.locator("a", has_text="Claim your certificate").wait_for()
            assert (await first.locator(".my-status").text_content()).startswith("Ready to claim, by ")

            # when she follows the link of the Acme result ready to claim, its claim page opens, still signed in
            await page.locator(".my-sitting").nth(1).locator("a").click()
            await page.locator("#claim-form").wait_for()
            assert page.url == f"{server.url}/claim/{gid['ready']}"
            assert await page.text_content("#organisation-name") == "Acme Languages"
            assert await page.text_content("#score") == "75 / 100"
            assert await policy_violations(page) == []
            assert await page.context.cookies() == []
            assert problems == []


async def test_the_page_is_a_static_shell_under_the_pages_policy(sqlite_server):
    response = await sqlite_server.http.get("/me")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == content_security_policy(f"127.0.0.1:{sqlite_server.port}")
    assert response.headers["cache-control"] == "no-store"
    assert "<title>My certificates · Certify</title>" in response.text
    assert '<script type="module" src="/static/app/me.js"></script>' in response.text
    assert "<script>" not in response.text and "style=" not in response.text
    script = await sqlite_server.http.get("/static/app/me.js")
    assert (script.status_code, script.headers["content-type"].split(";")[0]) == (200, "text/javascript")
