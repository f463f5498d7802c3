"""The SQLite expressions of resolvers/analytics_sql.py against Python's own arithmetic, on the SQLite the service runs."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from resolvers.analytics_sql import _sqlite_microseconds

EDGE_FRACTIONS = [0, 1, 499, 500, 999, 1000, 499_999, 500_000, 999_000, 999_499, 999_500, 999_501, 999_999]


def stored(instant: datetime) -> str:
    """How the ORM writes an aware UTC datetime to SQLite."""
    return instant.isoformat(sep=" ")


@pytest.mark.parametrize("fraction", EDGE_FRACTIONS)
def test_microseconds_are_exact_on_every_rounding_edge(fraction):
    db = sqlite3.connect(":memory:")
    instants = [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2028, 2, 29, 0, 0, 59, tzinfo=UTC),
        datetime(2099, 6, 30, 12, 30, 0, tzinfo=UTC),
    ]
    for instant in (i.replace(microsecond=fraction) for i in instants):
        (got,) = db.execute(f"SELECT {_sqlite_microseconds('?1')}", [stored(instant)]).fetchone()
        assert got == int(instant.replace(microsecond=0).timestamp()) * 1_000_000 + fraction, stored(instant)


def test_microseconds_are_exact_for_random_instants():
    db = sqlite3.connect(":memory:")
    rng = random.Random(3)
    for _ in range(20_000):
        instant = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(3 * 10**9), microseconds=rng.randrange(10**6)
        )
        (got,) = db.execute(f"SELECT {_sqlite_microseconds('?1')}", [stored(instant)]).fetchone()
        assert got == (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1), stored(instant)
