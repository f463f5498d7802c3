"""What an outbox e-mail says: its subject, its plain text, and the same text as HTML.

One plain-text Jinja2 template per :class:`~models.enums.EmailTemplate`;
the words come from the row's certificate → sitting → test taker / test /
organisation, days and instants as :mod:`resolvers.wording` writes them
everywhere ("14 March 2026", "14 March 2026, 09:30 UTC"). The HTML part is
made from the plain text (:func:`html_body`), so the two say the same and
carry the same links. Making the MIME message is :mod:`workers.mime`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, StrictUndefined, Template, select_autoescape

from models import Certificate, OutboxEmail
from models.enums import EmailTemplate
from resolvers.credentials import LINKEDIN_ADD_TO_PROFILE, credential_url, linkedin_url
from resolvers.global_ids import to_global_id
from resolvers.verification import level_for
from resolvers.wording import score_text, utc_day, utc_minute
from workers.mime import clean_header_text

SUBJECT_MAX_LENGTH = 300  # OutboxEmail.subject is a CharField(300)
SUBJECT_NAME_MAX, SUBJECT_TEST_MAX = 60, 120
"""The longest name and test a subject shows whole; longer ones end in "…" (the body has them in full)."""


def shorten(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its first ``limit - 1`` (trailing spaces dropped) and "…"."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class _Wording:
    subject: str
    body: str


_WORDING: dict[EmailTemplate, _Wording] = {
    EmailTemplate.CERTIFICATE_READY_TO_CLAIM: _Wording(
        subject="{{ name }}, your {{ test }} certificate is ready to claim",
        body="""\
Hello {{ name }},

{{ organisation }} has granted you a certificate for {{ test }}
(score {{ score }}{% if level %}, level {{ level }}{% endif %}, taken on {{ taken_on }}).

To receive it, confirm the name to print on the certificate and upload a photo:
{{ claim_link }}
{% if claim_deadline %}
Claim it by {{ claim_deadline }}: after that it can no longer be claimed.
{% endif %}
Our security team reviews every claim before the certificate is issued.

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CERTIFICATE_ISSUED: _Wording(
        subject="{{ name }}, your {{ test }} certificate has been issued",
        body="""\
Hello {{ name }},

Your certificate for {{ test }} (score {{ score }}{% if level %}, level {{ level }}{% endif %},
taken on {{ taken_on }}) has been approved and issued by {{ organisation }}.
{% if expires_on %}It is valid until {{ expires_on }}.
{% endif %}
Download it as a PDF or an image, once you have signed in:
{{ downloads_link }}

Anyone can check that it is genuine at:
{{ verify_link }}
{% if credential_link %}
It is also a signed digital credential (Open Badges 3.0), which employers,
universities and wallets can verify without us:
{{ credential_link }}

Add it to your LinkedIn profile:
{{ linkedin_link }}
{% endif %}
Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CERTIFICATE_REJECTED: _Wording(
        subject="{{ name }}, your {{ test }} certificate claim needs changes",
        body="""\
Hello {{ name }},

Our security team could not approve your claim for the {{ test }} certificate
granted by {{ organisation }}.

Reason given by the reviewer:
{{ rejection_reason }}

You can correct your claim and submit it again here:
{{ claim_link }}

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CLAIM_REMINDER: _Wording(
        subject="{{ name }}, claim your {{ test }} certificate by {{ claim_deadline }}",
        body="""\
Hello {{ name }},

Your certificate for {{ test }} from {{ organisation }} is still waiting for you.
Claim it by {{ claim_deadline }}: after that it can no longer be claimed.

Confirm the name to print on the certificate and upload a photo:
{{ claim_link }}

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CLAIM_LAPSED: _Wording(
        subject="{{ name }}, your {{ test }} certificate was not claimed in time",
        body="""\
Hello {{ name }},

The certificate for {{ test }} that {{ organisation }} granted you was not
claimed by {{ claim_deadline }}, so it can no longer be claimed.

If you still need it, please contact {{ organisation }}.

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CERTIFICATE_EXPIRING: _Wording(
        subject="{{ name }}, your {{ test }} certificate expires on {{ expires_on }}",
        body="""\
Hello {{ name }},

Your certificate for {{ test }} (score {{ score }}{% if level %}, level {{ level }}{% endif %},
taken on {{ taken_on }}) from {{ organisation }} is valid until {{ expires_at }}. After that its
verification page will show it as expired.

Download it as a PDF or an image, once you have signed in:
{{ downloads_link }}

Its verification page:
{{ verify_link }}

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CERTIFICATE_REVOKED: _Wording(
        subject="{{ name }}, your {{ test }} certificate has been revoked",
        body="""\
Hello {{ name }},

{{ organisation }} has revoked your certificate for {{ test }}
(taken on {{ taken_on }}). It is no longer valid, and its verification page
now shows it as revoked:
{{ verify_link }}

Reason given:
{{ revocation_reason }}

If you believe this is a mistake, please contact {{ organisation }}.

Certify, on behalf of {{ organisation }}
""",
    ),
}

HTML_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ subject }}</title>
</head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #1d2330;">
{% for paragraph in paragraphs %}
<p>{% for line in paragraph %}{% if not loop.first %}<br>
{% endif %}{% if line.link %}<a href="{{ line.text }}">{{ line.text }}</a>{% else %}{{ line.text }}{% endif %}{% endfor %}</p>
{% endfor %}
</body>
</html>
"""


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    link: bool


async def compose(row: OutboxEmail, *, public_url: str) -> tuple[str, str]:
    """``(subject, body)`` of ``row``: a one-line subject and a plain-text body.

    Reads the row's certificate with its sitting, test taker, test and
    organisation; links start with ``public_url`` (no trailing slash).
    Raises ``ValueError`` when the row has no certificate and
    ``tortoise.exceptions.DoesNotExist`` when the certificate is gone.
    """
    certificate = await _certificate_of(row)
    template = EmailTemplate(row.template)
    values = _template_values(certificate, public_url=public_url.rstrip("/"))
    subject_template, body_template = _compiled(template)
    # The names are shortened, never the words saying what happened (the API allows a 100-character
    # name and a 200-character test, more than a subject of SUBJECT_MAX_LENGTH holds).
    short = values | {
        "name": shorten(values["name"], SUBJECT_NAME_MAX),
        "test": shorten(values["test"], SUBJECT_TEST_MAX),
    }
    subject = clean_header_text(subject_template.render(short), max_length=SUBJECT_MAX_LENGTH)
    return subject, body_template.render(values)


async def recipient_name(row: OutboxEmail) -> str:
    """The name ``row``'s e-mail greets its reader by, for the To header: the holder's name, else the test taker's.

    Raises as :func:`compose` does.
    """
    certificate = await _certificate_of(row)
    return certificate.holder_name or certificate.sitting.test_taker.name


def html_body(text: str, *, subject: str, public_url: str) -> str:
    """The plain-text ``text`` as an HTML document, escaped: a paragraph per blank-line-separated block, and
    each line that is one URL under ``public_url`` (or LinkedIn's add-to-profile link) a link to it.

    The plain text is wrapped for a 78-column reader; in HTML the reader's window wraps, so a line joins the
    next with a space, except after a line ending in ``:`` (a label above its value) and around links, which
    keep a ``<br>`` of their own. Names may hold ``<`` or ``&``: every piece of text is escaped (Jinja2
    autoescape), so the HTML says exactly what the plain text says. Never raises.
    """
    prefixes = (public_url.rstrip("/") + "/", LINKEDIN_ADD_TO_PROFILE + "?")
    blocks = [block.strip("\n") for block in text.replace("\r\n", "\n").split("\n\n")]
    paragraphs = [_reflowed(block.split("\n"), prefixes) for block in blocks if block]
    return _html_page().render(subject=subject, paragraphs=paragraphs)


def _reflowed(lines: list[str], prefixes: tuple[str, ...]) -> list[_Line]:
    """A block's lines as HTML lines: wrapped text joined again, each link and each labelled value apart."""
    joined: list[_Line] = []
    for line in lines:
        link = line.startswith(prefixes) and not any(ch.isspace() for ch in line)
        previous = joined[-1] if joined else None
        if previous is not None and not link and not previous.link and not previous.text.endswith(":"):
            joined[-1] = _Line(f"{previous.text} {line.strip()}", False)
        else:
            joined.append(_Line(line, link))
    return joined


async def _certificate_of(row: OutboxEmail) -> Certificate:
    if row.certificate_id is None:
        raise ValueError(f"outbox row {row.id} ({row.template}) has no certificate")
    return await Certificate.get(id=row.certificate_id).select_related(
        "sitting__test_taker", "sitting__test", "sitting__organisation"
    )


def _template_values(certificate: Certificate, *, public_url: str) -> dict[str, object]:
    sitting = certificate.sitting
    return {
        "name": certificate.holder_name or sitting.test_taker.name,
        "test": sitting.test.name,
        "score": score_text(sitting.score, sitting.test.score_max),
        "level": level_for(sitting.score, sitting.test.cefr_mapping) or "",
        "taken_on": utc_day(sitting.taken_at),
        "organisation": sitting.organisation.name,
        "rejection_reason": certificate.rejection_reason or "(no reason was recorded)",
        "revocation_reason": certificate.revocation_reason or "(no reason was recorded)",
        "claim_deadline": utc_minute(certificate.claim_deadline) if certificate.claim_deadline else "",
        "expires_on": utc_day(sitting.expires_at) if sitting.expires_at else "",
        "expires_at": utc_minute(sitting.expires_at) if sitting.expires_at else "",
        **links(certificate, public_url=public_url),
    }


def links(certificate: Certificate, *, public_url: str) -> dict[str, str]:
    """The links an e-mail about ``certificate`` may carry, each under ``public_url`` (no trailing slash):

    ``claim_link`` ``/claim/{Sitting ID}``: the claim page, with the ID ``claimCertificate`` takes (the
    API's global ID); ``downloads_link`` ``/certificates/{Certificate ID}``: the holder's page that signs
    them in and fetches fresh download URLs, so the link never expires, as a signed file URL would after
    ``CERTIFY_SIGNED_URL_TTL_SECONDS``; ``verify_link`` ``/verify/{code}``: the public verification page,
    empty before the certificate has a code; ``credential_link`` ``/credentials/{code}``: the signed
    credential, and ``linkedin_link``: LinkedIn's add-to-profile link, both empty until it has a credential.
    The pages are served by this service (server/app.py).
    """
    code = certificate.verification_code
    credential = credential_url(public_url, code) if code and certificate.credential_key else ""
    return {
        "claim_link": f"{public_url}/claim/{to_global_id('Sitting', certificate.sitting_id)}",
        "downloads_link": f"{public_url}/certificates/{to_global_id('Certificate', certificate.id)}",
        "verify_link": f"{public_url}/verify/{code}" if code else "",
        "credential_link": credential,
        "linkedin_link": _linkedin(certificate, credential) if credential else "",
    }


def _linkedin(certificate: Certificate, credential: str) -> str:
    """LinkedIn's add-to-profile link of an issued ``certificate`` (sitting, test and organisation loaded)."""
    sitting = certificate.sitting
    return linkedin_url(
        test_name=sitting.test.name,
        organisation_name=sitting.organisation.name,
        issued_at=certificate.issued_at,
        expires_at=sitting.expires_at,
        credential=credential,
        code=certificate.verification_code,
    )


@cache
def _environment() -> Environment:
    # Plain text: nothing is HTML, so no autoescape; StrictUndefined turns a
    # typo in a template into an error instead of an empty gap in a message.
    return Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)


@cache
def _html_page() -> Template:
    environment = Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined)
    return environment.from_string(HTML_PAGE)


@cache
def _compiled(template: EmailTemplate) -> tuple[Template, Template]:
    wording = _WORDING[template]
    environment = _environment()
    return environment.from_string(wording.subject), environment.from_string(wording.body)
