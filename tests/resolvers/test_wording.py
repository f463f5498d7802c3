"""How numbers read in messages: counts with their noun, MB and megapixels (resolvers/wording.py)."""

from __future__ import annotations

import pytest

from resolvers.wording import count, data_size, megapixels, number


@pytest.mark.parametrize(
    ("value", "noun", "expected"),
    [
        (0, "sitting", "0 sittings"),
        (1, "sitting", "1 sitting"),
        (2, "sitting", "2 sittings"),
        (12_000, "credit", "12,000 credits"),
        (1, "person", "1 person"),
    ],
)
def test_a_count_takes_the_singular_for_one_only(value, noun, expected):
    assert count(value, noun) == expected


def test_an_irregular_plural_is_given():
    assert [count(n, "person", "people") for n in (1, 3)] == ["1 person", "3 people"]


@pytest.mark.parametrize(
    ("value", "expected"), [(10, "10"), (1200, "1,200"), (13.25, "13.2"), (0.3, "0.3"), (40_000_000, "40,000,000")]
)
def test_numbers_have_thousands_separated_and_one_decimal_at_most(value, expected):
    assert number(value) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (10 * 1024 * 1024, "10 MB"),
        (10 * 1024 * 1024 + 1, "more than 10 MB"),
        (13 * 1024 * 1024, "13 MB"),
        (13_841_203, "13.2 MB"),
        (512 * 1024, "512 KB"),
        (1000, "1,000 bytes"),
        (1, "1 byte"),
        (1025, "more than 1 KB"),
    ],
)
def test_sizes_read_in_bytes_kb_or_mb_and_one_byte_over_a_limit_is_more_than_it(size, expected):
    assert data_size(size) == expected


def test_pixel_counts_read_in_megapixels():
    assert [megapixels(n) for n in (40_000_000, 48_000_000, 300 * 300)] == [
        "40 megapixels",
        "48 megapixels",
        "0.1 megapixels",
    ]


def test_an_instant_reads_to_the_minute_in_utc_with_the_zone_stated():
    from datetime import datetime, timedelta, timezone

    from resolvers.wording import utc_minute

    assert utc_minute(datetime(2026, 3, 1, 16, 5, 59, tzinfo=timezone(timedelta(hours=2)))) == "2026-03-01 14:05 (UTC)"
