"""``GET /verify/{code}``: the public verification page the certificate's QR code points to.

No authentication. The page is a Jinja2 template with autoescape on; it shows
the facts of :func:`resolvers.verification.verify_certificate` and never a
photo or an e-mail address. An unknown code gets 404 with the same page
saying the certificate is not valid.
"""

from __future__ import annotations

from functools import cache

from jinja2 import DictLoader, Environment, Template, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from renderer.template import format_date
from resolvers.verification import verify_certificate

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{% if v.valid %}Valid certificate{% else %}Certificate not found{% endif %} · Certify</title>
<style>
body { font-family: "Noto Sans", system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
main { max-width: 36rem; margin: 3rem auto; background: #fff; padding: 2rem; border-radius: 8px; }
h1 { font-size: 1.4rem; margin-top: 0; }
.valid { color: #136c3a; } .invalid { color: #a01c1c; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .5rem 1.5rem; }
dt { color: #5a6270; } dd { margin: 0; font-weight: 600; }
bdi { unicode-bidi: isolate; }
</style>
</head>
<body>
<main>
{% if v.valid %}
<h1 class="valid">This certificate is valid</h1>
<dl>
<dt>Holder</dt><dd><bdi id="holder-name">{{ v.holder_name }}</bdi></dd>
<dt>Test</dt><dd id="test-name">{{ v.test_name }}</dd>
<dt>Score</dt><dd id="score">{{ v.score }}{% if v.level %} ({{ v.level }}){% endif %}</dd>
<dt>Organisation</dt><dd id="organisation-name">{{ v.organisation_name }}</dd>
<dt>Issued</dt><dd id="issued-on">{{ issued_on }}</dd>
<dt>Verification code</dt><dd id="verification-code">{{ v.verification_code }}</dd>
</dl>
{% else %}
<h1 class="invalid">No valid certificate has this code</h1>
<p>Check the code and try again: <code>{{ code }}</code></p>
{% endif %}
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
    """The HTML verification page of ``{code}``: 200 for an issued certificate, 404 otherwise."""
    code = request.path_params["code"]
    verification = await verify_certificate(code=code)
    html = _template().render(
        v=verification,
        code=code[:CODE_ECHO_MAX],
        issued_on=format_date(verification.issued_at) if verification.issued_at else "",
    )
    return HTMLResponse(html, status_code=200 if verification.valid else 404, headers=HEADERS)
