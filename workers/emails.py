"""What an outbox e-mail says, and how it becomes a header-safe MIME message.

One plain-text Jinja2 template per :class:`~models.enums.EmailTemplate`;
the words come from the row's certificate → sitting → test taker / test /
organisation. Anything that reaches a header goes through
:func:`clean_header_text` (text) or :func:`check_address` (addresses), so a
name such as ``"Ann\\r\\nBcc: x@example.test"`` can never add a header.
"""

from __future__ import annotations

import email.errors
import email.policy
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache

from jinja2 import Environment, StrictUndefined, Template

from models import Certificate, OutboxEmail
from models.enums import EmailTemplate
from resolvers.global_ids import to_global_id
from resolvers.wording import score_text

SUBJECT_MAX_LENGTH = 300  # OutboxEmail.subject is a CharField(300)
MESSAGE_POLICY = email.policy.SMTP.clone(max_line_length=998)
"""CRLF line ends, lines up to RFC 5322's 998 characters: a subject of up to 300 characters is never folded
before its first word, which parsers would return with a leading space."""

# Cf characters that are part of how names are spelt (Persian and Indic
# names use ZWNJ, emoji sequences ZWJ); they cannot break a header line.
_KEPT_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})
# Cc/Cf are controls and invisible formatting (bidi overrides included);
# Zl/Zp are the Unicode line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


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
(score {{ score }}, taken on {{ taken_on }}).

To receive it, confirm the name to print on the certificate and upload a photo:
{{ link }}
{% if claim_deadline %}
Claim it by {{ claim_deadline }} (UTC): after that it can no longer be claimed.
{% endif %}
Our security team reviews every claim before the certificate is issued.

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CERTIFICATE_ISSUED: _Wording(
        subject="{{ name }}, your {{ test }} certificate has been issued",
        body="""\
Hello {{ name }},

Your certificate for {{ test }} (score {{ score }}, taken on
{{ taken_on }}) has been approved and issued by {{ organisation }}.

Anyone can check that it is genuine at:
{{ link }}

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
{{ link }}

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CLAIM_REMINDER: _Wording(
        subject="{{ name }}, claim your {{ test }} certificate by {{ claim_deadline }}",
        body="""\
Hello {{ name }},

Your certificate for {{ test }} from {{ organisation }} is still waiting for you.
Claim it by {{ claim_deadline }} (UTC): after that it can no longer be claimed.

Confirm the name to print on the certificate and upload a photo:
{{ link }}

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CLAIM_LAPSED: _Wording(
        subject="{{ name }}, your {{ test }} certificate was not claimed in time",
        body="""\
Hello {{ name }},

The certificate for {{ test }} that {{ organisation }} granted you was not
claimed by {{ claim_deadline }} (UTC), so it can no longer be claimed.

If you still need it, please contact {{ organisation }}.

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CERTIFICATE_EXPIRING: _Wording(
        subject="{{ name }}, your {{ test }} certificate expires on {{ expires_on }}",
        body="""\
Hello {{ name }},

Your certificate for {{ test }} (score {{ score }}, taken on {{ taken_on }})
from {{ organisation }} is valid until {{ expires_on }} (UTC). After that date
its verification page will show it as expired.

Its verification page:
{{ link }}

Certify, on behalf of {{ organisation }}
""",
    ),
    EmailTemplate.CERTIFICATE_REVOKED: _Wording(
        subject="{{ name }}, your {{ test }} certificate has been revoked",
        body="""\
Hello {{ name }},

{{ organisation }} has revoked your certificate for {{ test }}
(taken on {{ taken_on }}). It is no longer valid, and its verification page
now shows it as revoked.

Reason given:
{{ revocation_reason }}

If you believe this is a mistake, please contact {{ organisation }}.

Certify, on behalf of {{ organisation }}
""",
    ),
}


class InvalidAddress(ValueError):
    """An e-mail address that must not be put into a header or an SMTP envelope."""


def clean_header_text(text: str, *, max_length: int | None = None) -> str:
    """``text`` made safe for one header line.

    Control and invisible formatting characters (Unicode categories Cc, Cf
    except ZWNJ/ZWJ, Zl, Zp) become spaces, runs of white space collapse to
    one space, the ends are stripped, and the result is cut to
    ``max_length`` characters when given. Never raises.
    """
    cleaned = "".join(
        " " if unicodedata.category(ch) in _UNSAFE_CATEGORIES and ch not in _KEPT_FORMAT_CHARACTERS else ch
        for ch in text
    )
    cleaned = " ".join(cleaned.split())
    if max_length is not None:
        cleaned = cleaned[:max_length].rstrip()
    return cleaned


def check_address(address: str) -> str:
    """The addr-spec ``local@domain``, with the domain in IDNA (ASCII) form.

    Raises :class:`InvalidAddress` when ``address`` contains white space or any
    control/format character, is not exactly one RFC 5322 addr-spec, or has
    a non-ASCII local part (SMTPUTF8 is not used).
    """
    if not address or any(ch.isspace() or unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in address):
        raise InvalidAddress(f"address contains white space or control characters: {address!r}")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(f"not an e-mail address: {address!r}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        parsed = Address(addr_spec=f"{local}@{ascii_domain}")
    except (ValueError, IndexError, UnicodeError, email.errors.MessageError) as exc:
        raise InvalidAddress(f"not an e-mail address: {address!r} ({exc})") from exc
    if not parsed.username.isascii():
        raise InvalidAddress(f"non-ASCII local part is not supported: {address!r}")
    return parsed.addr_spec


def message_id_for(row_id: int, sender: str) -> str:
    """The stable Message-ID of outbox row ``row_id``: ``<outbox-{id}@{sender's domain}>``.

    Every retry of a row carries the same id, so a receiver can drop a
    duplicate delivered after a crash between acceptance and bookkeeping.
    """
    domain = check_address(parseaddr(sender)[1]).rpartition("@")[2]
    return f"<outbox-{row_id}@{domain}>"


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    to_name: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """A plain-text ``EmailMessage`` (:data:`MESSAGE_POLICY`) ready to send.

    ``sender`` is ``"Display Name <addr>"`` or a bare address; ``to`` a bare
    address, shown with ``to_name`` when given. Subject and display names are
    passed through :func:`clean_header_text`. ``message_id`` must look like
    ``<left@right>``; ``date`` defaults to now.

    Raises :class:`InvalidAddress` for an unusable sender or recipient and
    ``ValueError`` for a malformed ``message_id``.
    """
    sender_name, sender_address = parseaddr(sender)
    if not sender_address or any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in sender):
        raise InvalidAddress(f"unusable sender: {sender!r}")
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        raise ValueError(f"malformed Message-ID: {message_id!r}")
    if clean_header_text(message_id) != message_id:
        raise ValueError(f"Message-ID contains white space or control characters: {message_id!r}")

    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = _address_header(sender_name, sender_address)
    message["To"] = _address_header(to_name or "", to)
    message["Subject"] = clean_header_text(subject)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = message_id
    if body.isascii():
        message.set_content(body)
    else:
        message.set_content(body, cte="quoted-printable")
    return message


def _address_header(display_name: str, address: str) -> Address:
    local, _, domain = check_address(address).rpartition("@")
    return Address(display_name=clean_header_text(display_name), username=local, domain=domain)


async def compose(row: OutboxEmail, *, public_url: str) -> tuple[str, str]:
    """``(subject, body)`` of ``row``: a one-line subject and a plain-text body.

    Reads the row's certificate with its sitting, test taker, test and
    organisation; links start with ``public_url`` (no trailing slash).
    Raises ``ValueError`` when the row has no certificate and
    ``tortoise.exceptions.DoesNotExist`` when the certificate is gone.
    """
    if row.certificate_id is None:
        raise ValueError(f"outbox row {row.id} ({row.template}) has no certificate")
    certificate = await Certificate.get(id=row.certificate_id).select_related(
        "sitting__test_taker", "sitting__test", "sitting__organisation"
    )
    template = EmailTemplate(row.template)
    values = _template_values(certificate, template, public_url=public_url.rstrip("/"))
    subject_template, body_template = _compiled(template)
    subject = clean_header_text(subject_template.render(values), max_length=SUBJECT_MAX_LENGTH)
    return subject, body_template.render(values)


def _template_values(certificate: Certificate, template: EmailTemplate, *, public_url: str) -> dict[str, object]:
    sitting = certificate.sitting
    return {
        "name": certificate.holder_name or sitting.test_taker.name,
        "test": sitting.test.name,
        "score": score_text(sitting.score, sitting.test.score_max),
        "taken_on": sitting.taken_at.date().isoformat(),
        "organisation": sitting.organisation.name,
        "rejection_reason": certificate.rejection_reason or "(no reason was recorded)",
        "revocation_reason": certificate.revocation_reason or "(no reason was recorded)",
        "claim_deadline": _minute(certificate.claim_deadline),
        "expires_on": sitting.expires_at.date().isoformat() if sitting.expires_at else "",
        "link": _link(certificate, template, public_url=public_url),
    }


def _minute(instant: datetime | None) -> str:
    """``2026-03-01 14:05`` in UTC, or an empty string."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if instant else ""


_VERIFY_LINKED = frozenset(
    {EmailTemplate.CERTIFICATE_ISSUED, EmailTemplate.CERTIFICATE_EXPIRING, EmailTemplate.CERTIFICATE_REVOKED}
)


def _link(certificate: Certificate, template: EmailTemplate, *, public_url: str) -> str:
    # /verify/{code} is served by this service (docs/RULES.md, "E-mail");
    # /claim/{sitting ID} is the deep link the web and mobile clients open to
    # build the certificate: the ID claimCertificate takes (the API's global ID).
    if template in _VERIFY_LINKED and certificate.verification_code:
        return f"{public_url}/verify/{certificate.verification_code}"
    return f"{public_url}/claim/{to_global_id('Sitting', certificate.sitting_id)}"


@cache
def _environment() -> Environment:
    # Plain text: nothing is HTML, so no autoescape; StrictUndefined turns a
    # typo in a template into an error instead of an empty gap in a message.
    return Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)


@cache
def _compiled(template: EmailTemplate) -> tuple[Template, Template]:
    wording = _WORDING[template]
    environment = _environment()
    return environment.from_string(wording.subject), environment.from_string(wording.body)
