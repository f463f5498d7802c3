"""Small checks on free text received from clients."""

from __future__ import annotations

import unicodedata

FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds control, format, surrogate, private-use, unassigned or
    line/paragraph-separator characters (NUL included) — never valid in keys, references or searches."""
    return any(unicodedata.category(ch) in FORBIDDEN_CATEGORIES for ch in text)
