"""``GET /claim/{Sitting ID}`` and ``GET /certificates/{Certificate ID}``: the holder's pages the e-mails link to.

Like the other web pages (:mod:`server.web_pages`), each is a static HTML
shell whose page is an ES module under ``/static/app/`` (``claim.js``,
``certificate.js``), served with the pages' Content-Security-Policy: no
inline script or style, nothing from another origin. The ID of the path is
kept in the shell's ``data-id`` for the module, never shown: the page names the sitting by its test,
organisation, date and score.

Opening either needs no token, so a link in an e-mail never expires; what
they show comes from the GraphQL API once the holder has signed in, with the
holder's own token (``#access_token=…`` in the URL fragment, else the tab's
``sessionStorage``, else the sign-in form). The downloads page asks for
``pdfUrl`` and ``pngUrl`` each time it is opened, so the signed file URLs it
links to are always fresh (they last ``CERTIFY_SIGNED_URL_TTL_SECONDS``; none
is ever put in an e-mail or in the shell). The claim page sends
``claimCertificate`` with the sitting ID of its path (the ID the mutation
takes), then follows the certificate live through ``notificationReceived``.

The shell also says the photo's limits (``data-photo-max-bytes``, ``data-photo-min-side``, ``data-photo-max-pixels``: those
:mod:`resolvers.claims` applies), so the claim page refuses a file over them before sending it.

The claim page's policy also admits ``blob:`` images: the preview of the
chosen photo is an object URL (``URL.createObjectURL``) of the file, which
never leaves the browser until the claim is sent. A path whose ID is not of
the type the page needs gets 404 with a page saying so, and no script.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from gql.ids import decode_id
from resolvers.claims import PHOTO_MAX_BYTES, PHOTO_MAX_PIXELS, PHOTO_MIN_SIDE
from resolvers.wording import count
from server.web_pages import HEADERS, content_security_policy

SHELL = """\
<!doctype html>
<html lang="en" dir="ltr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · Certify</title>
<link rel="icon" href="/static/app/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app/pages.css">
{script}</head>
<body>
<div id="app" class="holder" data-page="{page}" data-id="{id}" data-public-url="{public_url}" data-ttl="{ttl}"\
 data-photo-max-bytes="{photo_max_bytes}" data-photo-min-side="{photo_min_side}"\
 data-photo-max-pixels="{photo_max_pixels}">\
<main class="page"><h1>{title}</h1>{body}</main></div>
{noscript}</body>
</html>
"""
"""The holder's pages' shell: the page's module, or no script at all for a link that is not complete."""
SCRIPT = '<script type="module" src="/static/app/{module}"></script>\n'
NOSCRIPT = '<noscript><p class="page">This page needs JavaScript.</p></noscript>\n'
LOADING = '<p role="status" id="message">Loading…</p>'
NOT_COMPLETE = (
    '<p class="notice error" id="message">This link is not complete. Open the link from your e-mail again, in full.</p>'
)


def _policy(host: str, *, blob_images: bool) -> str:
    policy = content_security_policy(host)
    if blob_images:
        policy = policy.replace("img-src 'self';", "img-src 'self' blob:;", 1)
    return policy


def _page(request: Request, *, page: str, type_name: str, title: str, module: str, body: str, blob_images=False):
    global_id = request.path_params["id"]
    settings = request.app.state.certify.settings
    known = decode_id(global_id, type_name) is not None
    shown = escape(global_id) if known else ""
    html = SHELL.format(
        title=title,
        page=page,
        id=shown,
        public_url=escape(settings.public_url),
        ttl=escape(_duration(settings.signed_url_ttl_seconds)),
        photo_max_bytes=PHOTO_MAX_BYTES,
        photo_min_side=PHOTO_MIN_SIDE,
        photo_max_pixels=PHOTO_MAX_PIXELS,
        script=SCRIPT.format(module=module) if known else "",
        body=body if known else NOT_COMPLETE,
        noscript=NOSCRIPT if known else "",
    )
    headers = {**HEADERS, "Content-Security-Policy": _policy(request.url.netloc, blob_images=blob_images)}
    return HTMLResponse(html, status_code=200 if known else 404, headers=headers)


def _duration(seconds: int) -> str:
    """``seconds`` as the page says it: whole minutes when they are ("15 minutes"), else seconds."""
    return count(seconds // 60, "minute") if seconds % 60 == 0 else count(seconds, "second")


async def downloads_page(request: Request) -> HTMLResponse:
    """``GET /certificates/{id}``: the page that signs the holder in and links to fresh PDF and PNG URLs.

    200 for any well-formed Certificate ID (whether it exists, and is the
    holder's, is the API's answer after sign-in); 404 for anything else.
    """
    return _page(
        request,
        page="downloads",
        type_name="Certificate",
        title="Your certificate",
        module="certificate.js",
        body=LOADING,
    )


async def claim_page(request: Request) -> HTMLResponse:
    """``GET /claim/{id}``: the page that signs the holder in, sends their claim for the sitting ``{id}`` and follows it.

    200 for any well-formed Sitting ID; 404 for anything else. Its policy
    also admits ``blob:`` images, for the preview of the chosen photo.
    """
    return _page(
        request,
        page="claim",
        type_name="Sitting",
        title="Claim your certificate",
        module="claim.js",
        body=LOADING,
        blob_images=True,
    )
