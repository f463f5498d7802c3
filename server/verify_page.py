"""``GET /verify/{code}``: the public verification page the certificate's QR code points to.

No authentication. The page is a Jinja2 template with autoescape on; it shows
the facts of :func:`resolvers.verification.verify_certificate` and never a
photo or an e-mail address. Its days read as the certificate and the e-mails
give them, "14 March 2026" in UTC (:func:`resolvers.wording.utc_day`). An
unknown code gets 404 with the same page saying the certificate is not valid. It links the
certificate's signed credential and, while it is valid, LinkedIn's add-to-profile link.
"""

from __future__ import annotations

from functools import cache

from jinja2 import DictLoader, Environment, Template, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from resolvers.credentials import credential_url, linkedin_url
from resolvers.verification import Verification, VerificationStatus, verify_certificate
from resolvers.wording import score_text, utc_day

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ {"VALID": "Valid certificate", "EXPIRED": "Expired certificate", "REVOKED": "Revoked certificate"}.get(v.status, "Certificate not found") }} · Certify</title>
<style>
body { font-family: "Noto Sans", system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
main { max-width: 36rem; margin: 3rem auto; background: #fff; padding: 2rem; border-radius: 8px; }
h1 { font-size: 1.4rem; margin-top: 0; }
.valid { color: #136c3a; } .invalid { color: #a01c1c; }
.banner { margin: 0 0 1.25rem; padding: .9rem 1rem; border-radius: 6px; font-weight: 700; font-size: 1.1rem; }
.banner.revoked { background: #a01c1c; color: #fff; } .banner.expired { background: #f2c14e; color: #3b2a00; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .5rem 1.5rem; }
dt { color: #5a6270; } dd { margin: 0; font-weight: 600; }
bdi { unicode-bidi: isolate; }
</style>
</head>
<body>
<main>
{% if v.status != "NOT_FOUND" %}
{% if v.status == "REVOKED" %}
<p class="banner revoked" id="status" role="alert">Revoked on {{ revoked_on }}: this certificate is no longer valid</p>
<h1 class="invalid">This certificate was revoked</h1>
{% elif v.status == "EXPIRED" %}
<p class="banner expired" id="status" role="alert">Expired on {{ expires_on }}: this certificate is no longer valid</p>
<h1 class="invalid">This certificate has expired</h1>
{% else %}
<h1 class="valid" id="status">This certificate is valid</h1>
{% endif %}
<dl>
<dt>Holder</dt><dd><bdi id="holder-name">{{ v.holder_name }}</bdi></dd>
<dt>Test</dt><dd id="test-name">{{ v.test_name }}</dd>
<dt>Score</dt><dd id="score">{{ score }}</dd>
{% if v.level %}<dt>Level</dt><dd id="level"><bdi dir="auto">{{ v.level }}</bdi></dd>{% endif %}
<dt>Organisation</dt><dd id="organisation-name">{{ v.organisation_name }}</dd>
<dt>Issued</dt><dd id="issued-on">{{ issued_on }}</dd>
{% if expires_on %}<dt>{{ {"EXPIRED": "Expired", "VALID": "Valid until"}.get(v.status, "Would have expired") }}</dt><dd id="expires-on">{{ expires_on }}</dd>{% endif %}
<dt>Verification code</dt><dd id="verification-code">{{ v.verification_code }}</dd>
{% if credential_url %}<dt>Signed credential</dt><dd><a id="credential" href="{{ credential_url }}">Open Badges 3.0 credential</a> (verifiable without this site)</dd>{% endif %}
</dl>
{% if linkedin_url %}<p><a id="add-to-linkedin" href="{{ linkedin_url }}" rel="noopener">Add to LinkedIn profile</a></p>{% endif %}
{% else %}
<h1 class="invalid">No valid certificate has this code</h1>
<p>Check the code and try again: <code>{{ code }}</code></p>
{% endif %}
<p><a href="/verify">Verify a certificate file (PNG or credential JSON)</a></p>
</main>
</body>
</html>
"""
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CODE_ECHO_MAX = 64


@cache
def _template() -> Template:
    environment = Environment(loader=DictLoader({"verify.html": PAGE}), autoescape=select_autoescape(default=True))
    return environment.get_template("verify.html")


async def verify_page(request: Request) -> Response:
    """The HTML verification page of ``{code}``: 200 for an issued certificate (valid, expired or revoked), else 404."""
    code = request.path_params["code"]
    verification = await verify_certificate(code=code)
    credential, linkedin = _credential_links(verification, request.app.state.certify.settings.public_url)
    html = _template().render(
        v=verification,
        credential_url=credential,
        score=score_text(verification.score, verification.score_max) if verification.score is not None else "",
        linkedin_url=linkedin,
        code=code[:CODE_ECHO_MAX],
        issued_on=utc_day(verification.issued_at) if verification.issued_at else "",
        expires_on=utc_day(verification.expires_at) if verification.expires_at else "",
        revoked_on=utc_day(verification.revoked_at) if verification.revoked_at else "",
    )
    found = verification.status != VerificationStatus.NOT_FOUND
    return HTMLResponse(html, status_code=200 if found else 404, headers=HEADERS)


def _credential_links(verification: Verification, public_url: str) -> tuple[str | None, str | None]:
    """The credential's URL (issued or revoked, once it has one) and, while it is valid, LinkedIn's add-to-profile link."""
    if not verification.has_credential:
        return None, None
    credential = credential_url(public_url, verification.verification_code)
    if verification.status != VerificationStatus.VALID:
        return credential, None
    return credential, linkedin_url(
        test_name=verification.test_name,
        organisation_name=verification.organisation_name,
        issued_at=verification.issued_at,
        expires_at=verification.expires_at,
        credential=credential,
        code=verification.verification_code,
    )
