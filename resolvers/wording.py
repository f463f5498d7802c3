"""How numbers read in every message: counts with their noun, sizes in KB or MB, pixel counts in megapixels.

One place for the words around numbers, so that every error message reads
alike: ``1 sitting``, ``3 sittings``, ``12,000 sittings`` (thousands
separated by commas), ``10 MB``, ``13.2 MB``, ``40 megapixels``. English
plurals here are regular or given; the service's messages are in English.
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


def utc_minute(instant: datetime) -> str:
    """An instant to the minute in UTC, the zone stated: "2026-03-01 14:05 (UTC)"."""
    return f"{instant.astimezone(UTC):%Y-%m-%d %H:%M} (UTC)"


def score_text(score: int, score_max: int | None) -> str:
    """A score on its test's scale, as every reader sees it: "77 / 100", or "310" when the scale has no maximum."""
    return f"{score} / {score_max}" if score_max is not None else f"{score}"


def megapixels(pixels: int) -> str:
    """A pixel count in megapixels (millions), one decimal at most: "48 megapixels", "0.3 megapixels"."""
    return f"{number(pixels / 1_000_000)} megapixels"
