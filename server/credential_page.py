"""``GET /verify`` and ``POST /verify``: anyone checks a credential file (the certificate's PNG, or its JSON).

The upload (one file, at most :data:`MAX_UPLOAD_BYTES`) is verified with
:func:`credentials.verifier.verify_credential`. The server never fetches
from the internet: the DID documents and status lists a credential names are
read from this service's own data when they are under its public URL, and any
other issuer fails the proof check, with a pointer to ``certify
verify-credential`` or the issuer's own tools. One address may ask for
:data:`UPLOADS_PER_MINUTE` checks a minute (429 with ``Retry-After`` beyond). The page shows each check and
the credential's facts; Jinja2 autoescapes everything it prints.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache

from jinja2 import DictLoader, Environment, Template, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from credentials.baking import BakingError, read_credential
from credentials.verifier import Verification, verify_credential
from resolvers.credential_status import organisation_did_document
from resolvers.wording import data_size
from server.errors import error_response
from server.rate_limits import Throttled
from server.state import AppState

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
UPLOADS_PER_MINUTE = 30
"""Checks one address may ask for a minute (``CERTIFY_RATE_LIMIT_ENABLED`` turns the limit off with the others)."""
OWN_DOCUMENT = re.compile(r"^/orgs/(\d{1,9})/(did\.json|credentials/status/(\d{1,9}))$")

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }} · Certify</title>
<style>
body { font-family: "Noto Sans", system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
main { max-width: 40rem; margin: 3rem auto; background: #fff; padding: 2rem; border-radius: 8px; }
h1 { font-size: 1.4rem; margin-top: 0; } .ok { color: #136c3a; } .fail { color: #a01c1c; }
li { margin: .35rem 0; } code { word-break: break-all; } bdi { unicode-bidi: isolate; }
form { display: grid; gap: .75rem; margin-top: 1.5rem; } button { justify-self: start; padding: .4rem 1rem; }
</style>
</head>
<body>
<main>
{% if report is none %}
<h1>Verify a certificate</h1>
{% if problem %}<p class="fail" id="problem" role="alert">{{ problem }}</p>{% endif %}
<p>Upload the certificate's PNG, or its credential (JSON), to check its signature, its dates and whether it was revoked.</p>
{% else %}
<h1 id="status" class="{{ 'ok' if report.verified else 'fail' }}">{{ title }}</h1>
<ul id="checks">
{% for check in report.checks %}<li class="{{ 'ok' if check.ok else 'fail' }}"><strong>{{ check.name }}</strong>: {{ check.detail }}</li>
{% endfor %}</ul>
{% if facts %}<p>{{ facts }}</p>{% endif %}
{% endif %}
<form method="post" action="/verify" enctype="multipart/form-data">
<label>Certificate PNG or credential JSON <input type="file" name="credential" accept=".png,.json,image/png,application/json,application/vc+ld+json" required></label>
<button type="submit">Verify</button>
</form>
</main>
</body>
</html>
"""
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@cache
def _template() -> Template:
    environment = Environment(loader=DictLoader({"check.html": PAGE}), autoescape=select_autoescape(default=True))
    return environment.get_template("check.html")


def _page(status: int, *, report: Verification | None = None, problem: str = "", facts: str = "") -> Response:
    if report is None:
        title = "Verify a certificate"
    elif report.verified:
        title = "This credential is genuine and valid"
    else:
        title = "This credential is revoked" if report.revoked else "This credential could not be verified"
    html = _template().render(title=title, report=report, problem=problem, facts=facts)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


async def credential_page(request: Request) -> Response:
    """``GET /verify``: the upload form; ``POST /verify``: the checks of the uploaded credential."""
    if request.method == "POST":
        throttled = await _spend(request)
        if throttled is not None:
            return error_response(
                429,
                f"at most {UPLOADS_PER_MINUTE} checks a minute from one address: retry in {throttled.retry_after} s",
                headers={"Retry-After": str(throttled.retry_after)},
            )
        return await _check_upload(request)
    return _page(200)


async def _spend(request: Request) -> Throttled | None:
    """One check from the caller's address against :data:`UPLOADS_PER_MINUTE`; None when it may go on."""
    limiter = request.app.state.certify.rate_limiter
    if limiter is None:
        return None
    address = request.client.host if request.client else "unknown"
    return await limiter.spend(f"verify-upload:{address}", 1, points_per_minute=UPLOADS_PER_MINUTE)


def _own_fetcher(state: AppState):
    """``fetch_json`` reading this service's DID documents and status lists; anything else is unreachable."""
    prefix = state.settings.public_url

    async def fetch_json(url: str) -> object:
        match = OWN_DOCUMENT.fullmatch(url.removeprefix(prefix)) if url.startswith(prefix + "/") else None
        if match is None:
            raise LookupError("this page checks only credentials this service issued; use `certify verify-credential`")
        organisation_id = int(match[1])
        if match[3] is None:
            document = await organisation_did_document(organisation_id=organisation_id, issuer=state.issuer)
        else:
            body = await state.status_lists.credential(
                organisation_id=organisation_id, status_list_id=int(match[3]), issuer=state.issuer
            )
            document = json.loads(body) if body is not None else None
        if document is None:
            raise LookupError("not found")
        return document

    return fetch_json


def _facts(credential: dict) -> str:
    """One line naming the holder, the achievement and the issuer, as the credential states them."""
    subject = credential.get("credentialSubject") if isinstance(credential.get("credentialSubject"), dict) else {}
    names = [
        i.get("identityHash")
        for i in subject.get("identifier", [])
        if isinstance(i, dict) and i.get("identityType") == "name"
    ]
    achievement = subject.get("achievement") if isinstance(subject.get("achievement"), dict) else {}
    issuer = credential.get("issuer") if isinstance(credential.get("issuer"), dict) else {}
    parts = [
        f"Holder: {names[0]}" if names else "",
        f"Achievement: {achievement.get('name', '')}",
        f"Issuer: {issuer.get('name', '')}",
    ]
    return " · ".join(part for part in parts if part and not part.endswith(": "))


async def _check_upload(request: Request) -> Response:
    """Verify the uploaded file: 200 with the checks, 400 when no credential could be read."""
    async with request.form(max_files=1, max_fields=1) as form:
        upload = form.get("credential")
        if upload is None or isinstance(upload, str):
            return _page(400, problem="Choose a certificate PNG or a credential JSON file to verify.")
        if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            return _page(
                400, problem=f"The file is {data_size(upload.size)}; at most {data_size(MAX_UPLOAD_BYTES)} is accepted."
            )
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return _page(
            400, problem=f"The file is {data_size(len(data))}; at most {data_size(MAX_UPLOAD_BYTES)} is accepted."
        )
    try:
        credential = read_credential(data)
    except BakingError as error:
        return _page(400, problem=str(error))
    state = request.app.state.certify
    report = await verify_credential(credential, fetch_json=_own_fetcher(state), now=datetime.now(UTC))
    return _page(200, report=report, facts=_facts(credential))
