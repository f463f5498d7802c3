"""Headers every parser reads back exactly: subjects and display names of any length and script, folded at 78."""

from __future__ import annotations

import email
import email.policy
from email.headerregistry import Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.mime import address_header, build_message, clean_header_text, unstructured_header

SENDER = '"Certify, on behalf of \\"Acme\\"" <no-reply@certify.example.test>'
LONG_LATIN = (
    "Zoë Nguyễn-Ångström de la Fontaine, your Acme Languages English for Academic Purposes "
    "(Advanced, Listening and Speaking) certificate is ready to claim"
)
ARABIC = "سارا احمدی, گواهی آزمون زبان انگلیسی پیشرفته دانشگاه تهران شما آماده دریافت است"
CJK = "山田 真綾, 日本語能力試験 上級 総合 オンライン 受験 の 証明書 が 発行されました 山田真綾山田真綾山田真綾山田真綾"
EMOJI = "👩🏽‍🔬 Zoë 🎓, your 🧪 Chemistry certificate is ready to claim 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉"
LOOKALIKE = "Ann =?utf-8?q?forged?= Smith, your test certificate is ready to claim"
ONE_LONG_WORD = "Supercalifragilisticexpialidocious-Antidisestablishmentarianism-Floccinaucinihilipilification"


def wire(subject: str, *, to_name: str = "", sender: str = SENDER) -> bytes:
    message = build_message(
        sender=sender,
        to="zoe@example.test",
        to_name=to_name,
        subject=subject,
        body="Hello,\n",
        html="<p>Hello,</p>",
        message_id="<outbox-1@certify.example.test>",
    )
    return message.as_bytes()


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.parametrize(
    "subject",
    [LONG_LATIN, ARABIC, CJK, EMOJI, LOOKALIKE, ONE_LONG_WORD, ONE_LONG_WORD + " " + ARABIC, "x" * 300, "é" * 300],
)
def test_a_subject_of_any_length_and_script_reads_back_exactly_from_lines_of_at_most_78(subject):
    # when
    raw = wire(subject)

    # then
    assert str(parsed(raw)["Subject"]) == subject
    assert raw.isascii()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert b"Subject: \r\n" not in head and not head.startswith(b"Subject:\r\n")


@pytest.mark.parametrize(
    "name",
    [
        'Zoë "Z" Nguyễn, Jr.',
        "O'Brien, Máire",
        'Smith, John "JJ" \\ Jr.',
        "سارا احمدی",
        "山田 真綾",
        "👩🏽‍🔬 Zoë",
        "Ann =?utf-8?q?x?= Smith",
        "Plain Name",
        "A very long plain ASCII name of many words that needs a fold somewhere",
    ],
)
def test_a_display_name_with_commas_quotes_or_any_script_reads_back_exactly(name):
    raw = wire("Hello", to_name=name)

    message = parsed(raw)

    assert message["To"].addresses == (Address(display_name=name, addr_spec="zoe@example.test"),)
    assert message["From"].addresses == (
        Address(display_name='Certify, on behalf of "Acme"', addr_spec="no-reply@certify.example.test"),
    )
    assert max(len(line) for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")) <= 78


def test_a_name_too_long_for_one_encoded_word_is_left_out_rather_than_read_with_other_spaces():
    name = "山田真綾" * 6

    message = parsed(wire("Hello", to_name=name))

    assert message["To"].addresses == (Address(display_name="", addr_spec="zoe@example.test"),)


def test_folds_keep_the_first_words_on_the_header_line_and_encode_only_what_must_be():
    assert unstructured_header("Subject", "Ana, your certificate is ready") == "Ana, your certificate is ready"
    ascii_only = "Zoe Nguyen-Angstrom de la Fontaine, your Acme Languages English for Academic Purposes certificate"
    assert unstructured_header("Subject", ascii_only) == (
        "Zoe Nguyen-Angstrom de la Fontaine, your Acme Languages English for\n Academic Purposes certificate"
    )
    assert unstructured_header("Subject", "Zoë").startswith("=?utf-8?b?")
    assert address_header("To", "Ana Souza", "ana@example.test") == "Ana Souza <ana@example.test>"
    assert address_header("To", "Souza, Ana", "ana@example.test") == '"Souza, Ana" <ana@example.test>'
    assert address_header("To", "", "ana@example.test") == "ana@example.test"


def test_the_message_is_plain_text_then_html_as_alternatives():
    message = parsed(wire("Hello"))

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message.get_body(("plain",)).get_content() == "Hello,\r\n"
    assert message.get_body(("html",)).get_content() == "<p>Hello,</p>\r\n"


@settings(max_examples=400, deadline=None)
@given(subject=st.text(st.characters(exclude_categories=("Cs",)), max_size=300), name=st.text(max_size=100))
def test_any_cleaned_subject_and_name_read_back_exactly_in_lines_of_at_most_78(subject, name):
    subject, name = clean_header_text(subject, max_length=300), clean_header_text(name)

    raw = wire(subject, to_name=name)

    message = parsed(raw)
    assert str(message["Subject"]) == subject
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) in {(name, "zoe@example.test"), ("", "zoe@example.test")}
    assert to.display_name == name or len(name.encode()) > 45  # only a name over one encoded word (45 bytes) is left out
    assert max(len(line) for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")) <= 78


def test_an_ascii_name_with_a_word_too_long_for_a_line_is_left_out_rather_than_overlong():
    message = wire("Hello", to_name="W" * 100)

    assert max(len(line) for line in message.split(b"\r\n")) <= 78
    assert parsed(message)["To"].addresses == (Address(display_name="", addr_spec="zoe@example.test"),)
