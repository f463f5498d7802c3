"""The web pages people use, served as static files: ``GET /review`` (the security team's review desk),
``GET /dashboard`` (the organisation's sittings and their certification) and ``GET /me`` (a test taker's own
results and certificates, "My certificates").

Each page is a static HTML shell whose scripts are ES modules under
``/static/app/`` (shared sign-in, GraphQL and realtime code, then the page's
own) importing the libraries vendored in ``/static/vendor/``
(``server/static/vendor/README.md``): no build step, no CDN, no inline
script. The Content-Security-Policy admits scripts, styles, images and
connections from this origin only (the websocket by its ``ws:``/``wss:``
address, which CSP's ``'self'`` does not match in every browser).

Signing in: like any client, the pages send a bearer token (README,
"Tokens"), taken from the URL fragment ``#access_token=…`` (which never
reaches the server), else the tab's ``sessionStorage``, else a sign-in form;
never a cookie, so there is no CSRF surface. :func:`sign_in_links` makes the
fragment links ``certify seed-demo`` prints in development.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse

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
<script type="module" src="/static/app/{module}"></script>
</head>
<body>
<div id="app"><main class="page"><h1>{title}</h1><p role="status">Loading…</p></main></div>
<noscript><p class="page">The {noun} needs JavaScript.</p></noscript>
</body>
</html>
"""
"""A page's shell: its title and module (kept out of ``/static`` so it is only ever served with the policy below)."""
REVIEW_SHELL = SHELL.format(title="Review desk", module="review.js", noun="review desk")
DASHBOARD_SHELL = SHELL.format(title="Dashboard", module="dashboard.js", noun="dashboard")
MY_CERTIFICATES_SHELL = SHELL.format(title="My certificates", module="me.js", noun="page")
ROLE_PAGES = {"security_reviewer": "/review", "org_admin": "/dashboard", "analyst": "/dashboard", "test_taker": "/me"}
"""The page each role signs in to (a test taker's lists every sitting with the way to its claim or downloads
page); roles without a page of their own get no link."""
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def content_security_policy(host: str) -> str:
    """The pages' policy: nothing but this origin (``host`` as the browser named it, for the websocket)."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' ws://{host} wss://{host}; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _page(request: Request, shell: str) -> HTMLResponse:
    headers = {**HEADERS, "Content-Security-Policy": content_security_policy(request.url.netloc)}
    return HTMLResponse(shell, headers=headers)


async def review_page(request: Request) -> HTMLResponse:
    """``GET /review``: the review desk, the queue live with approve and reject (``server/static/app/review.js``)."""
    return _page(request, REVIEW_SHELL)


async def dashboard_page(request: Request) -> HTMLResponse:
    """``GET /dashboard``: the organisation's sittings, live, and certifying them (``server/static/app/dashboard.js``)."""
    return _page(request, DASHBOARD_SHELL)


async def my_certificates_page(request: Request) -> HTMLResponse:
    """``GET /me``: a test taker's sittings and certificates, each linking to its claim or downloads page (``me.js``)."""
    return _page(request, MY_CERTIFICATES_SHELL)


def sign_in_links(public_url: str, tokens: dict[str, str], pages: dict[str, str] | None = None) -> dict[str, str]:
    """One development sign-in link per role that has a page: ``{role: "<public_url>/review#access_token=…"}``.

    ``tokens`` maps role names to tokens as ``certify seed-demo`` mints them
    (a ``_token`` suffix is dropped: ``test_taker_token`` is ``test_taker``).
    ``pages`` adds or replaces a role's page path. The token travels in the
    fragment, which browsers never send to a server.
    """
    paths = {**ROLE_PAGES, **(pages or {})}
    links = {}
    for key, token in tokens.items():
        role = key.removesuffix("_token")
        if role in paths:
            links[role] = f"{public_url.rstrip('/')}{paths[role]}#access_token={quote(token, safe='')}"
    return links
