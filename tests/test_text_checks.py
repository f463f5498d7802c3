"""The characters refused in keys and names (resolvers/text.py): ASCII text is answered without reading each
character's Unicode category, with the same answer as reading them."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.text import FORBIDDEN_CATEGORIES, HIDDEN_CATEGORIES, has_control_characters, hidden_character

ASCII = "".join(map(chr, range(128)))


def by_category(text: str, categories: frozenset[str]) -> str | None:
    """The first character of ``text`` in ``categories``, as U+XXXX with its name (ASCII has no joiner)."""
    for char in text:
        if unicodedata.category(char) in categories:
            name = unicodedata.name(char, "")
            return f"U+{ord(char):04X}" + (f" {name}" if name else "")
    return None


def test_each_ascii_character_is_refused_exactly_when_its_category_is_a_control():
    refused = [char for char in ASCII if has_control_characters(f"a{char}b")]
    hidden = [char for char in ASCII if hidden_character(f"a{char}b") is not None]
    assert refused == hidden == [*map(chr, range(32)), "\x7f"]
    assert all(unicodedata.category(char) == "Cc" for char in refused)
    assert hidden_character("Ann\x7f") == "U+007F"
    assert hidden_character("Ann\tLee") == "U+0009"


@settings(max_examples=400, deadline=None)
@given(st.text(st.sampled_from(ASCII), max_size=40))
def test_ascii_text_gets_the_answer_its_categories_give(text):
    assert has_control_characters(text) is (by_category(text, FORBIDDEN_CATEGORIES) is not None)
    assert hidden_character(text) == by_category(text, HIDDEN_CATEGORIES)
