"""The fields of a CSV export: values as the database driver returns them, written as CSV text.

Every field is byte for byte what Python's ``csv.writer`` writes with its
defaults and ``lineterminator="\\r\\n"`` (RFC 4180: a field holding a comma,
a quote or a line break is quoted, its quotes doubled; null is empty), and
free text is defused as defusedcsv 3's writer defuses it, plus what OWASP's
"CSV Injection" lists and defusedcsv leaves (README.md, "CSV export").

The mappings (:class:`InstantFields`, :class:`ValueFields`,
:class:`TextFields`, :class:`GlobalIds`) write each distinct value once
while they are kept, so that a column mapped through ``map(fields.__getitem__,
column)`` costs a dictionary lookup in C for every value already seen.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_QUOTED = re.compile(r'[,"\r\n]')
"""The characters ``csv.writer`` quotes a field for (its defaults, ``lineterminator="\\r\\n"``)."""
_LEFT_BY_DEFUSEDCSV = re.compile(r"[\t\r]|-[0-9,.]+$")
"""What defusedcsv 3 leaves as it is although OWASP lists it: a leading tab or carriage return, a negative number."""
_FORMULA_STARTS = frozenset("=+-@|%")
"""The first characters defusedcsv's writer escapes (a leading ``'``, and ``|`` as ``\\|``)."""
_ODD_START = re.compile(r"\x00(?![^\W_])")
"""In texts joined by NULs, one (after the first) starting with anything but a letter or a digit (``str.isalnum``)."""


def field(text: str) -> str:
    """``text`` as one field: in quotes, with its quotes doubled, when it holds a comma, a quote or a line break."""
    return '"' + text.replace('"', '""') + '"' if _QUOTED.search(text) else text


def _defused(text: str) -> str:
    """A non-empty text as defusedcsv 3's writer writes it, with a ``'`` too before what it leaves but OWASP lists.

    defusedcsv escapes text starting with a :data:`_FORMULA_STARTS` character
    unless it is a number (``-?[0-9,.]+``): it prefixes ``'`` and writes every
    ``|`` as ``\\|``. The numbers starting with one of those are negative:
    those, and text starting with a tab or a carriage return, get the ``'`` only.
    """
    if _LEFT_BY_DEFUSEDCSV.match(text):
        return "'" + text
    if text[0] in _FORMULA_STARTS:
        return "'" + text.replace("|", "\\|")
    return text


def text_field(text: str | None) -> str:
    """Free text as a field: defused unless it starts with a letter or a digit (nothing to defuse), then quoted; null → empty.

    Source: OWASP, "CSV Injection" (defusedcsv's rule and the cases it leaves).
    """
    if not text:
        return ""
    return field(text if text[0].isalnum() else _defused(text))


def plain_texts(texts: tuple[str | None, ...]) -> bool:
    """Whether every text of a column is its own field (:func:`text_field` changes none), decided in C over the whole column.

    True when no text is null or empty, none starts with anything but a
    letter or a digit, and none holds a character to quote; when false, some
    text may still be its own field.
    """
    try:
        joined = "\x00".join(texts)  # a null raises TypeError
    except TypeError:
        return False
    quoted = "," in joined or '"' in joined or "\r" in joined or "\n" in joined
    return not quoted and joined[:1].isalnum() and not _ODD_START.search(joined)


def instant_text(value: datetime | str) -> str:
    """ISO 8601 in UTC (``2026-10-01T09:00:00+00:00``, as the API writes times) of a datetime as the driver returns it.

    SQLite's driver gives the ORM's ISO text (naive text is UTC), PostgreSQL's an aware datetime.
    Raises ValueError for text that is not ISO 8601.
    """
    if isinstance(value, str):
        if value.endswith("+00:00"):
            return value.replace(" ", "T", 1)  # what isoformat() gives for the datetime this text is
        value = datetime.fromisoformat(value)
    if value.tzinfo is UTC:  # asyncpg's
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


class InstantFields(dict):
    """A time as the driver returns it → its field (:func:`instant_text`, never quoted); null → empty."""

    def __init__(self) -> None:
        super().__init__({None: ""})

    def __missing__(self, value: datetime | str) -> str:
        text = self[value] = instant_text(value)
        return text


class ValueFields(dict):
    """A number or an enum's value → its field (its text, quoted if need be); null → empty."""

    def __init__(self) -> None:
        super().__init__({None: ""})

    def __missing__(self, value: Any) -> str:
        text = self[value] = field(str(value))
        return text


class TextFields(dict):
    """Free text → its field (:func:`text_field`); null → empty."""

    def __missing__(self, text: str | None) -> str:
        written = self[text] = text_field(text)
        return written


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


class GlobalIds(dict):
    """A primary key → its global ID of ``type_name`` (never quoted), exactly as :func:`resolvers.global_ids.to_global_id` writes it.

    :meth:`encode` writes one and :meth:`encode_all` a column of them without
    keeping them (IDs that never repeat); looking a key up keeps what it
    wrote. The base64 of the whole triplets of bytes at the start of
    ``"TypeName:"`` is the same for every key, so :meth:`encode` writes it
    once, and only the rest (the prefix's last bytes and the digits) per key.
    """

    def __init__(self, type_name: str) -> None:
        super().__init__()
        self._prefix = f"{type_name}:"
        prefix = self._prefix.encode()
        whole = len(prefix) - len(prefix) % 3
        self._head = base64.urlsafe_b64encode(prefix[:whole]).decode()
        self._tail = prefix[whole:] + b"%d"

    def encode(self, pk: int) -> str:
        """The global ID of ``pk`` (an int; TypeError otherwise)."""
        return (
            self._head + binascii.b2a_base64(self._tail % pk, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()
        )

    def encode_all(self, pks: tuple[int, ...]) -> Iterable[str]:
        """The global IDs of ``pks`` (ints, at least one), in one base64 pass when their digits are as many.

        Each ``"TypeName:<digits>"`` is padded with zero bytes to whole
        triplets, so the base64 of them all is theirs one after the other,
        and each ID is the start of its own: base64 writes the bits missing
        from a last, partial triplet as zeros too, then pads with ``=``,
        which a global ID leaves out.
        """
        digits = list(map(str, pks))
        if len(set(map(len, digits))) != 1:
            return map(self.encode, pks)
        length = len(self._prefix) + len(digits[0])
        padding = "\x00" * (-length % 3)
        joined = self._prefix + (padding + self._prefix).join(digits) + padding
        text = binascii.b2a_base64(joined.encode(), newline=False).translate(_URL_SAFE).decode()
        block, kept = (length + len(padding)) // 3 * 4, -(-length * 4 // 3)
        return [text[start : start + kept] for start in range(0, len(text), block)]

    def __missing__(self, pk: int) -> str:
        global_id = self[pk] = self.encode(pk)
        return global_id
