"""What outbox e-mails say, and that nothing in them can forge a header."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from models import Certificate, OutboxEmail, Test
from models.enums import EmailTemplate
from resolvers.global_ids import to_global_id
from workers.emails import compose, html_body
from workers.mime import InvalidAddress, build_message, check_address, clean_header_text, message_id_for

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
    assert "(score 82 / 100, taken on 14 March 2026).\n" in body
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
    certificate_id = to_global_id("Certificate", row.certificate_id)
    assert (
        "Download it as a PDF or an image, once you have signed in:\n"
        f"{PUBLIC_URL}/certificates/{certificate_id}\n\n"
        f"Anyone can check that it is genuine at:\n{PUBLIC_URL}/verify/VX7Q-22KD\n"
    ) in body
    assert "/files/" not in body
    assert "Ivan Petrov" not in body


async def test_issued_states_the_level_and_the_validity_where_the_test_has_them(make_email):
    # given an issued certificate of a test with levels whose result expires
    row = await make_email(template=EmailTemplate.CERTIFICATE_ISSUED, verification_code="VX7Q-22KD", score=82)
    certificate = await Certificate.get(id=row.certificate_id).select_related("sitting__test")
    await Test.filter(id=certificate.sitting.test_id).update(cefr_mapping={"B1": 40, "B2": 60, "C1": 85})
    certificate.sitting.expires_at = datetime(2028, 3, 14, 9, 30, tzinfo=UTC)
    await certificate.sitting.save(update_fields=["expires_at"])

    # when
    _, body = await compose(row, public_url=PUBLIC_URL)

    # then the sentence names the score, the level and the day it is valid until
    assert (
        "Your certificate for English B2 Academic (score 82 / 100, level B2,\n"
        "taken on 14 March 2026) has been approved and issued by Northwind Language Centre.\n"
        "It is valid until 14 March 2028.\n\n"
        "Download it as a PDF or an image"
    ) in body


async def test_issued_without_levels_or_expiry_says_neither(make_email):
    row = await make_email(template=EmailTemplate.CERTIFICATE_ISSUED, verification_code="VX7Q-22KD", score=82)

    _, body = await compose(row, public_url=PUBLIC_URL)

    assert (
        "Your certificate for English B2 Academic (score 82 / 100,\n"
        "taken on 14 March 2026) has been approved and issued by Northwind Language Centre.\n\n"
        "Download it as a PDF or an image"
    ) in body
    assert "level" not in body and "valid until" not in body


def test_the_html_part_joins_the_plain_texts_wrapped_lines_and_keeps_labels_and_links_apart():
    text = (
        "Your certificate for English B2 Academic (score 82 / 100,\n"
        "taken on 14 March 2026) has been issued.\nIt is valid until 14 March 2028.\n\n"
        f"Download it here:\n{PUBLIC_URL}/certificates/Q2VydDox\n"
    )

    html = html_body(text, subject="Issued", public_url=PUBLIC_URL)

    assert (
        "<p>Your certificate for English B2 Academic (score 82 / 100, taken on 14 March 2026) has been issued. "
        "It is valid until 14 March 2028.</p>"
    ) in html
    link = f"{PUBLIC_URL}/certificates/Q2VydDox"
    assert f'<p>Download it here:<br>\n<a href="{link}">{link}</a></p>' in html


def test_the_html_part_says_what_the_text_says_escaped_with_its_own_links_as_links():
    text = (
        "Hello Ann <b>&amp;</b> Bo,\n\nReason:\nsee https://elsewhere.example/x\n\n"
        f"Claim it here:\n{PUBLIC_URL}/claim/U2l0dGluZzox\n\nCertify\n"
    )

    html = html_body(text, subject="Ann <b>, hi", public_url=PUBLIC_URL + "/")

    assert "<title>Ann &lt;b&gt;, hi</title>" in html
    assert "<p>Hello Ann &lt;b&gt;&amp;amp;&lt;/b&gt; Bo,</p>" in html
    assert "<p>Reason:<br>\nsee https://elsewhere.example/x</p>" in html
    link = f"{PUBLIC_URL}/claim/U2l0dGluZzox"
    assert f'<p>Claim it here:<br>\n<a href="{link}">{link}</a></p>' in html
    assert html.count("<a ") == 1 and "<p>Certify</p>" in html


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


async def test_a_subject_with_names_at_the_apis_limits_shortens_the_names_never_what_happened(make_email):
    row = await make_email(name="Ŵ" * 100, template=EmailTemplate.CERTIFICATE_ISSUED, verification_code="VX7Q-22KD")
    await Test.filter(name="English B2 Academic").update(name="L" * 200)

    subject, body = await compose(row, public_url=PUBLIC_URL)

    assert subject == f"{'Ŵ' * 59}…, your {'L' * 119}… certificate has been issued"
    assert f"Hello {'Ŵ' * 100}," in body and "L" * 200 in body
