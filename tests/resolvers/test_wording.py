"""How numbers read in messages: counts with their noun, MB and megapixels (resolvers/wording.py)."""

from __future__ import annotations

import pytest

from resolvers.wording import count, data_size, megapixels, number, score_text


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

    assert utc_minute(datetime(2026, 3, 1, 16, 5, 59, tzinfo=timezone(timedelta(hours=2)))) == "1 March 2026, 14:05 UTC"
    assert utc_minute(datetime(2026, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-9)))) == "1 January 2027, 08:00 UTC"
    assert utc_minute(datetime(2026, 7, 9, 9, 30)) == "9 July 2026, 09:30 UTC"  # naive: already UTC


def test_a_day_reads_as_the_certificate_prints_it_in_utc_whatever_the_locale():
    from datetime import UTC, datetime, timedelta, timezone

    from resolvers.wording import utc_day

    assert utc_day(datetime(2026, 3, 14, 9, 30, tzinfo=UTC)) == "14 March 2026"
    assert utc_day(datetime(2026, 3, 15, 1, 0, tzinfo=timezone(timedelta(hours=2)))) == "14 March 2026"
    assert [utc_day(datetime(2026, month, 1)) for month in (1, 5, 9, 11)] == [
        "1 January 2026",
        "1 May 2026",
        "1 September 2026",
        "1 November 2026",
    ]


def test_a_day_reads_in_messages_as_the_certificate_prints_it():
    # The renderer imports nothing of ours (docs/ARCHITECTURE.md), so it keeps its own copy of the format.
    from datetime import datetime, timedelta, timezone

    from renderer.template import format_date
    from resolvers.wording import utc_day

    days = [datetime(2026, month, day, 23, 30, tzinfo=timezone(timedelta(hours=-5))) for month in range(1, 13) for day in (1, 28)]
    assert [utc_day(day) for day in days] == [format_date(day) for day in days]


def test_a_pixel_count_just_over_a_limit_reads_more_than_it():
    assert megapixels(40_005_625) == "more than 40 megapixels"
    assert megapixels(200_000_000) == "200 megapixels"


def test_scores_read_with_thousands_separated_on_their_scale():
    assert [score_text(999_999, 1_000_000), score_text(77, 100), score_text(12_345, None)] == [
        "999,999 / 1,000,000",
        "77 / 100",
        "12,345",
    ]


def test_the_certificate_writes_scores_as_the_messages_do():
    from renderer.template import format_score

    cases = [(0, 100), (77, 100), (999_999, 1_000_000), (12_345, None)]
    assert [format_score(*case) for case in cases] == [score_text(*case) for case in cases]
