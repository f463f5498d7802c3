"""Small checks on free text received from clients."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from idna.core import valid_contextj

from resolvers.errors import DomainError, ErrorCode
from resolvers.wording import count

REASON_MAX_LENGTH = 1000
ZWNJ, ZWJ = "\u200c", "\u200d"
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds control, format, surrogate, private-use, unassigned or
    line/paragraph-separator characters (NUL included) — never valid in keys, references or searches."""
    if text.isascii():
        return not text.isprintable()  # ASCII's only such characters are its controls (Cc), all unprintable
    return any(unicodedata.category(ch) in FORBIDDEN_CATEGORIES for ch in text)


def is_needed_joiner(text: str, index: int) -> bool:
    """Whether ``text[index]`` is a ZWJ/ZWNJ that shapes what is drawn, so a name may hold it.

    U+200D between two symbols joins an emoji sequence (👩‍🎓); otherwise the
    joiner must meet RFC 5892's CONTEXTJ rules (Appendix A.1 and A.2), as the
    ``idna`` package implements them: after a virama (Sinhala ශ්‍රී, Devanagari
    क्‍ष, Malayalam chillus, even at the end of a word), or a ZWNJ between
    letters that join (Persian می‌خواهم). Anywhere else it would only make two
    identical-looking texts differ.
    """
    char = text[index]
    if char not in (ZWNJ, ZWJ):
        return False
    if char == ZWJ and 0 < index < len(text) - 1:
        kinds = unicodedata.category(text[index - 1])[0] + unicodedata.category(text[index + 1])[0]
        if kinds in ("SS", "MS"):  # emoji, or emoji + variation selector
            return True
    return valid_contextj(text, index)


def hidden_character(text: str) -> str | None:
    """The first control, format or line-separator character of ``text`` that is not a needed joiner
    (:func:`is_needed_joiner`), named as people read it ("U+200B ZERO WIDTH SPACE"); None when there is none.

    For display names (organisations, tests, test takers): joiners a script needs stay, invisible ones do not.
    """
    if text.isascii() and text.isprintable():
        return None  # ASCII's only hidden characters are its controls (Cc), all unprintable
    for index, char in enumerate(text):
        if unicodedata.category(char) in HIDDEN_CATEGORIES and not is_needed_joiner(text, index):
            name = unicodedata.name(char, "")
            return f"U+{ord(char):04X}" + (f" {name}" if name else "")
    return None


def has_visible_text(text: str) -> bool:
    """True when ``text`` has at least one letter, digit, punctuation or symbol (not only spaces,
    marks or invisible characters such as U+200B)."""
    return any(unicodedata.category(ch)[0] in "LNPS" for ch in text)


def is_clean_paragraph(text: str) -> bool:
    """Free text for people (e.g. a rejection reason): visible, and no control characters but line breaks."""
    return has_visible_text(text) and not has_control_characters(text.replace("\n", " "))


def clean_reason(reason: str) -> str:
    """A rejection or revocation reason, trimmed: 1–1,000 printable characters, line breaks allowed.

    Raises:
        DomainError: INVALID_INPUT naming ``["input", "reason"]``.
    """
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX_LENGTH or not is_clean_paragraph(reason):
        received = f"; received {count(len(reason), 'character')}" if len(reason) > REASON_MAX_LENGTH else ""
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"give a reason of 1–{REASON_MAX_LENGTH:,} printable characters (line breaks allowed){received}",
            ["input", "reason"],
        )
    return reason


def normalized_email(address: str) -> str:
    """``address`` as email-validator normalizes it (its domain lowercased, Unicode in NFC), checked for
    syntax only: the outbox speaks plain SMTP, so a non-ASCII local part is refused (``allow_smtputf8=False``).

    The answers for the last 8,192 addresses of up to 254 characters (RFC 5321's longest path) are
    remembered: the delivery platform records the same test takers again with each new sitting, and a
    repeated batch changes nothing but is checked whole. A new address whose local part is a plain ASCII
    dot-atom of up to 64 characters (RFC 5321 §4.5.3.1.1) at a domain ASCII in every form is checked against the
    remembered answer for its domain (the last 1,024), which is most of email-validator's work (≈ 25 of
    40 µs an address): an organisation's test takers share a few domains. Anything else, and any refusal,
    is email-validator's own answer for the whole address (``tests/test_email_addresses.py`` checks that both
    ways agree).

    Raises:
        EmailNotValidError: with email-validator's message.
    """
    if len(address) > 254:
        return validate_email(address, check_deliverability=False, allow_smtputf8=False).normalized
    local, _, domain = address.rpartition("@")
    if len(local) <= 64 and domain.isascii() and PLAIN_LOCAL_PART.fullmatch(local):
        normalized_domain = _checked_domain(domain.lower())
        if normalized_domain is not None and normalized_domain.isascii():
            return f"{local}@{normalized_domain}"
    normalized, refusal = _checked_email(address)
    if refusal is not None:
        raise EmailNotValidError(refusal)
    return normalized


PLAIN_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
"""RFC 5322's dot-atom in ASCII (§3.2.3, ``atext`` runs joined by single dots): the local parts email-validator
accepts unquoted and leaves as they are."""


@lru_cache(maxsize=1024)
def _checked_domain(domain: str) -> str | None:
    """``domain`` (ASCII, lowercased: email-validator's checks of an ASCII domain ignore case) normalized as
    email-validator does for an address at it, or None when it refuses it."""
    try:
        return validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False).domain
    except EmailNotValidError:
        return None


@lru_cache(maxsize=8192)
def _checked_email(address: str) -> tuple[str, str | None]:
    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=False).normalized, None
    except EmailNotValidError as exc:
        return "", str(exc)
