"""What outbox e-mails say, and that nothing in them can forge a header."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from models import Certificate, OutboxEmail
from models.enums import EmailTemplate
from resolvers.global_ids import to_global_id
from workers.emails import (
    InvalidAddress,
    build_message,
    check_address,
    clean_header_text,
    compose,
    message_id_for,
)

PUBLIC_URL = "https://certify.example.test"
SENDER = "Certify <no-reply@certify.example.test>"
MESSAGE_HEADERS = {
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
}


def parsed(message) -> email.message.EmailMessage:
    """The message as a receiver would see it: serialised, then parsed back."""
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def text_of(message: email.message.EmailMessage) -> str:
    """The decoded body with the wire's CRLF line ends read as ``\n``."""
    return message.get_content().replace("\r\n", "\n")


async def test_ready_to_claim_names_the_test_taker_test_score_organisation_and_claim_link(make_email):
    # given
    row = await make_email(name="Zoë Ångström", template=EmailTemplate.CERTIFICATE_READY_TO_CLAIM, score=82)

    # when
    subject, body = await compose(row, public_url=PUBLIC_URL + "/")

    # then
    assert subject == "Zoë Ångström, your English B2 Academic certificate is ready to claim"
    assert "Hello Zoë Ångström," in body
    assert "Northwind Language Centre" in body
    assert "score 82 / 100, taken on 2026-03-14" in body
    assert f"{PUBLIC_URL}/claim/{to_global_id('Sitting', await sitting_of(row))}" in body


async def test_issued_prefers_the_holder_name_and_links_to_the_public_verification_page(make_email):
    row = await make_email(
        name="Ivan Petrov",
        holder_name="Иван Петров",
        template=EmailTemplate.CERTIFICATE_ISSUED,
        verification_code="VX7Q-22KD",
    )

    subject, body = await compose(row, public_url=PUBLIC_URL)

    assert subject.startswith("Иван Петров, ")
    assert "issued" in subject
    assert f"{PUBLIC_URL}/verify/VX7Q-22KD" in body
    assert "Ivan Petrov" not in body


async def test_rejected_gives_the_reviewers_reason(make_email):
    row = await make_email(
        name="سارا احمدی",
        holder_name="سارا احمدی",
        template=EmailTemplate.CERTIFICATE_REJECTED,
        rejection_reason="The photo does not show your face clearly.",
    )

    subject, body = await compose(row, public_url=PUBLIC_URL)

    assert "needs changes" in subject
    assert "The photo does not show your face clearly." in body
    assert f"{PUBLIC_URL}/claim/{to_global_id('Sitting', await sitting_of(row))}" in body


async def test_a_row_without_a_certificate_cannot_be_composed(db):
    row = await OutboxEmail.create(
        to_address="a@example.test", template=EmailTemplate.CERTIFICATE_ISSUED, next_attempt_at=datetime.now(UTC)
    )

    with pytest.raises(ValueError, match="no certificate"):
        await compose(row, public_url=PUBLIC_URL)


async def test_a_name_with_line_breaks_yields_a_one_line_subject(make_email):
    row = await make_email(name="Eve\r\nBcc: x@example.test")

    subject, _ = await compose(row, public_url=PUBLIC_URL)

    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("Eve Bcc: x@example.test, ")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Eve\r\nBcc: x@example.test", "Eve Bcc: x@example.test"),
        ("tab\there\x00nul\x7fdel", "tab here nul del"),
        ("bidi \u202eevil\u202c override", "bidi evil override"),
        ("line\u2028sep\u2029para\x85nel", "line sep para nel"),
        ("نازنین\u200cزهرا", "نازنین\u200cزهرا"),  # ZWNJ is part of the spelling
        ("  many   spaces  ", "many spaces"),
    ],
)
def test_clean_header_text_removes_controls_and_keeps_spelling(raw, clean):
    assert clean_header_text(raw) == clean


def test_clean_header_text_cuts_to_a_maximum_length():
    assert clean_header_text("x" * 500, max_length=300) == "x" * 300


@pytest.mark.parametrize(
    "address",
    [
        "a@example.test\r\nBcc: x@example.test",
        "a@example.test\n",
        "a\x00@example.test",
        "a@exam\u202eple.test",
        "a b@example.test",
        "a@example.test, b@example.test",
        "<a@example.test>",
        "a@",
        "@example.test",
        "no-at-sign",
        "jos\u00e9@example.test",
        "",
    ],
)
def test_check_address_refuses_anything_but_one_plain_address(address):
    with pytest.raises(InvalidAddress):
        check_address(address)


def test_check_address_accepts_plain_and_internationalised_domains():
    assert check_address("Ada.Lovelace+cert@example.test") == "Ada.Lovelace+cert@example.test"
    assert check_address("anna@bücher.example") == "anna@xn--bcher-kva.example"


def test_build_message_has_exactly_the_expected_headers_and_a_stable_message_id():
    # given
    message_id = message_id_for(42, SENDER)

    # when
    message = parsed(
        build_message(
            sender=SENDER,
            to="ana@example.test",
            subject="Ana, your certificate is ready",
            body="Hello Ana,\n",
            message_id=message_id,
            date=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        )
    )

    # then
    assert message_id == "<outbox-42@certify.example.test>"
    assert set(message.keys()) == MESSAGE_HEADERS
    assert message["Message-ID"] == message_id
    assert message["To"] == "ana@example.test"
    assert message["From"].addresses[0].addr_spec == "no-reply@certify.example.test"
    assert message["Date"].datetime == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert text_of(message) == "Hello Ana,\n"


def test_build_message_neutralises_header_injection_in_subject_and_display_names():
    message = parsed(
        build_message(
            sender=SENDER,
            to="eve@example.test",
            to_name="Eve\r\nBcc: x@example.test",
            subject="Hi\r\nBcc: y@example.test\r\n\r\nforged body",
            body="real body\n",
            message_id="<outbox-1@certify.example.test>",
        )
    )

    assert set(message.keys()) == MESSAGE_HEADERS
    assert message["Subject"] == "Hi Bcc: y@example.test forged body"
    assert message["To"].addresses[0].display_name == "Eve Bcc: x@example.test"
    assert message["To"].addresses[0].addr_spec == "eve@example.test"
    assert text_of(message) == "real body\n"


def test_build_message_refuses_a_recipient_or_sender_with_control_characters():
    with pytest.raises(InvalidAddress):
        build_message(
            sender=SENDER,
            to="eve@example.test\r\nBcc: x@example.test",
            subject="s",
            body="b",
            message_id="<outbox-1@certify.example.test>",
        )
    with pytest.raises(InvalidAddress):
        build_message(
            sender="Certify <no-reply@certify.example.test>\r\nBcc: x@example.test",
            to="eve@example.test",
            subject="s",
            body="b",
            message_id="<outbox-1@certify.example.test>",
        )


def test_build_message_carries_any_script_in_subject_name_and_body():
    body = "Здравствуйте, 山田 真綾 and שלום — score 82 / 100\n"
    message = parsed(
        build_message(
            sender=SENDER,
            to="mayu@example.test",
            to_name="山田 真綾",
            subject="山田 真綾, your certificate is ready",
            body=body,
            message_id="<outbox-7@certify.example.test>",
        )
    )

    assert message["Subject"] == "山田 真綾, your certificate is ready"
    assert message["To"].addresses[0].display_name == "山田 真綾"
    assert text_of(message) == body
    assert message.as_bytes().isascii()  # quoted-printable: no 8BITMIME needed


async def sitting_of(row: OutboxEmail) -> int:
    """The sitting whose certificate ``row`` is about: the ID ``claimCertificate`` takes."""
    return (await Certificate.get(id=row.certificate_id)).sitting_id
