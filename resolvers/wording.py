"""How numbers and dates read in every message: counts with their noun, sizes in KB or MB, pixel counts in
megapixels, days and instants.

One place for the words around numbers, so that every error message, e-mail
and page reads alike: ``1 sitting``, ``3 sittings``, ``12,000 sittings``
(thousands separated by commas), ``10 MB``, ``13.2 MB``, ``40 megapixels``;
days as the certificate prints them, ``14 March 2026``, and instants as
``14 March 2026, 09:30 UTC``, always in UTC with the zone stated. English
plurals and month names here are regular or given, whatever the process
locale; the service's messages are in English.
"""

from __future__ import annotations

from datetime import UTC, datetime

KILOBYTE = 1024
MEGABYTE = 1024 * 1024
"""Bytes in one MB as the messages count it (the limits are set in whole binary megabytes: 10 MB = 10,485,760)."""


def number(value: float) -> str:
    """``value`` with commas between thousands and at most one decimal, none when whole: 1,200 · 13.2 · 10."""
    rounded = round(value, 1)
    if rounded == int(rounded):
        return f"{int(rounded):,}"
    return f"{rounded:,.1f}"


def count(value: int, noun: str, plural: str | None = None) -> str:
    """``value`` and its noun, singular for exactly 1: ``count(1, "sitting")`` is "1 sitting", else "n sittings".

    ``plural`` defaults to ``noun + "s"``.
    """
    return f"{number(value)} {noun if value == 1 else plural or noun + 's'}"


def data_size(size: int) -> str:
    """A size in bytes as people read it: bytes under 1 KB, KB under 1 MB, else MB (1 KB = 1,024 bytes,
    1 MB = 1,048,576), one decimal at most: "1,000 bytes", "512 KB", "10 MB", "13.2 MB".

    A size just over a whole number that would round to it reads as "more than": 10,485,761 bytes is
    "more than 10 MB", so a refusal never reads "10 MB; at most 10 MB".
    """
    if size < KILOBYTE:
        return count(size, "byte")
    unit, name = (MEGABYTE, "MB") if size >= MEGABYTE else (KILOBYTE, "KB")
    value = size / unit
    text = f"{number(value)} {name}"
    return f"more than {text}" if round(value, 1) < value else text


MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
"""English month names, so a date reads the same under any locale (``%B`` would follow it)."""


def utc_day(instant: datetime) -> str:
    """The day of an instant in UTC, day month year as the certificate prints it: "1 March 2026".

    A naive ``instant`` is taken to be in UTC already.
    """
    at = instant.astimezone(UTC) if instant.tzinfo is not None else instant
    return f"{at.day} {MONTHS[at.month - 1]} {at.year}"


def utc_minute(instant: datetime) -> str:
    """An instant to the minute in UTC, the zone stated: "1 March 2026, 14:05 UTC" (24-hour clock).

    A naive ``instant`` is taken to be in UTC already.
    """
    at = instant.astimezone(UTC) if instant.tzinfo is not None else instant
    return f"{utc_day(at)}, {at:%H:%M} UTC"


def score_text(score: int, score_max: int | None) -> str:
    """A score on its test's scale, as every reader sees it: "77 / 100", "999,999 / 1,000,000", or "310"
    when the scale has no maximum."""
    return f"{number(score)} / {number(score_max)}" if score_max is not None else number(score)


def megapixels(pixels: int) -> str:
    """A pixel count in megapixels (millions), one decimal at most: "48 megapixels", "0.3 megapixels".

    As :func:`data_size` does, a count just over a figure that would round to it reads "more than":
    40,005,625 pixels is "more than 40 megapixels", so a refusal never reads "40 megapixels; at most 40".
    """
    value = pixels / 1_000_000
    text = f"{number(value)} megapixels"
    return f"more than {text}" if round(value, 1) < value else text
