"""Small checks on free text received from clients."""

from __future__ import annotations

import unicodedata

from resolvers.errors import DomainError, ErrorCode

REASON_MAX_LENGTH = 1000
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds control, format, surrogate, private-use, unassigned or
    line/paragraph-separator characters (NUL included) — never valid in keys, references or searches."""
    return any(unicodedata.category(ch) in FORBIDDEN_CATEGORIES for ch in text)


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
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"give a reason of 1–{REASON_MAX_LENGTH:,} printable characters (line breaks allowed)",
            ["input", "reason"],
        )
    return reason
