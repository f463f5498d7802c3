"""Time the analytics queries on N sittings, as a platform admin and as one organisation's admin.

Usage:
    .venv/bin/python bench/analytics_bench.py [--sittings 1000000] [--postgres URL] [--runs 5]

Builds a fresh database (SQLite in a temp dir, or with --postgres a new
database on that server root such as postgres://postgres@127.0.0.1:5432;
either is removed afterwards), migrated as the service migrates it, and bulk-inserts N
sittings: 4 organisations (one holding 40 %), 3 tests, taken over three
years, about 55 % certified with their certificates (70 % of those claimed,
half of the claimed issued) and a ledger of a few thousand rows. Then it
calls each analytics verb (:mod:`resolvers.analytics`,
:mod:`resolvers.credit_usage`) ``--runs`` times per principal and prints
the median and the slowest run in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from tortoise import Tortoise

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import scratch_database
from models.db import forget_compiled_statements, migrate, tortoise_config
from models.enums import Role
from resolvers.analytics import Dimension, score_histogram, sitting_aggregates
from resolvers.credit_usage import credit_usage
from resolvers.funnel import certification_funnel
from resolvers.principal import Principal

START = datetime(2023, 12, 1, tzinfo=UTC)
SPAN_SECONDS = 3 * 365 * 86400
ORGANISATIONS = 4
TESTS = 3
TEST_TAKERS = 50_000
SITTING_COLUMNS = (
    "id",
    "external_id",
    "organisation_id",
    "test_taker_id",
    "test_id",
    "taken_at",
    "score",
    "photo_check",
    "status",
    "ineligibility_reason",
    "certified_at",
    "certified_by",
    "certification_batch",
    "created_at",
    "updated_at",
)
CERTIFICATE_COLUMNS = (
    "id",
    "sitting_id",
    "status",
    "submitted_at",
    "claimed_at",
    "issued_at",
    "render_attempts",
    "created_at",
    "updated_at",
)
LEDGER_COLUMNS = ("id", "organisation_id", "kind", "delta", "balance_after", "reference", "actor", "created_at")


def _organisation(rng: random.Random) -> int:
    return 1 if rng.random() < 0.4 else rng.randint(2, ORGANISATIONS)


def sitting_rows(n: int, seed: int = 7) -> tuple[list[tuple], list[tuple]]:
    """N sitting rows and the certificates of the certified ones (datetimes aware, in UTC)."""
    rng = random.Random(seed)
    sittings, certificates = [], []
    for pk in range(1, n + 1):
        taken = START + timedelta(seconds=rng.randrange(SPAN_SECONDS), microseconds=rng.randrange(1_000_000))
        score = min(100, max(0, int(rng.gauss(68, 14))))
        draw = rng.random()
        certified_at = None
        if score < 50 or draw < 0.05:
            status, reason = "INELIGIBLE", "LOW_SCORE" if score < 50 else "PHOTO_PROBLEM"
        elif draw < 0.65:
            certified_at = taken + timedelta(
                seconds=rng.randrange(1, 30 * 86400), microseconds=rng.randrange(1_000_000)
            )
            status, reason = "IN_PROGRESS", None
        else:
            status, reason = ("SELECTED" if draw < 0.7 else "UNSELECTED"), None
        if certified_at is not None:
            status = _certificate(rng, pk, certified_at, certificates)
        sittings.append(
            (
                pk,
                f"bench-{pk}",
                _organisation(rng),
                rng.randint(1, TEST_TAKERS),
                rng.randint(1, TESTS),
                taken,
                score,
                "PASSED" if reason != "PHOTO_PROBLEM" else "FAILED",
                status,
                reason,
                certified_at,
                "admin" if certified_at else None,
                f"batch-{pk // 500}" if certified_at else None,
                taken,
                taken,
            )
        )
    return sittings, certificates


def _certificate(rng: random.Random, sitting_pk: int, certified_at: datetime, out: list[tuple]) -> str:
    """Append the sitting's certificate; return the sitting's status (CERTIFIED once issued)."""
    claimed = issued = None
    status = "AWAITING_CLAIM"
    if rng.random() < 0.7:
        claimed = certified_at + timedelta(seconds=rng.randrange(60, 14 * 86400), microseconds=rng.randrange(1_000_000))
        status = "UNDER_REVIEW"
        if rng.random() < 0.5:
            issued = claimed + timedelta(seconds=rng.randrange(60, 3 * 86400), microseconds=rng.randrange(1_000_000))
            status = "ISSUED"
    out.append(
        (len(out) + 1, sitting_pk, status, claimed, claimed, issued, 1 if issued else 0, certified_at, certified_at)
    )
    return "CERTIFIED" if issued else "IN_PROGRESS"


def ledger_rows(rng: random.Random, count: int = 4_000) -> list[tuple]:
    rows = []
    for pk in range(1, count + 1):
        purchase = rng.random() < 0.3
        delta = rng.randint(100, 5000) if purchase else -rng.randint(1, 500)
        at = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        kind = "PURCHASE" if purchase else "CERTIFICATION"
        rows.append((pk, rng.randint(1, ORGANISATIONS), kind, delta, 0, f"ref-{pk}", "bench", at))
    return rows


def _fixed_rows() -> dict[str, tuple[tuple, list[tuple]]]:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    organisations = [(pk, f"Org {pk}", 0, now) for pk in range(1, ORGANISATIONS + 1)]
    tests = [(pk, f"Test {pk}", 100, 50, None, now) for pk in range(1, TESTS + 1)]
    takers = [
        (pk, f"Taker {pk}", f"t{pk}@example.com", f"t{pk}@example.com", f"taker {pk}\nt{pk}@example.com", "en", now)
        for pk in range(1, TEST_TAKERS + 1)
    ]
    return {
        "organisation": (("id", "name", "credit_balance", "created_at"), organisations),
        "test": (("id", "name", "score_max", "min_certifiable_score", "cefr_mapping", "created_at"), tests),
        "test_taker": (("id", "name", "email", "email_key", "search_key", "locale", "created_at"), takers),
    }


def all_tables(n: int) -> list[tuple[str, tuple, list[tuple]]]:
    sittings, certificates = sitting_rows(n)
    tables = [(name, columns, rows) for name, (columns, rows) in _fixed_rows().items()]
    return tables + [
        ("sitting", SITTING_COLUMNS, sittings),
        ("certificate", CERTIFICATE_COLUMNS, certificates),
        ("credit_transaction", LEDGER_COLUMNS, ledger_rows(random.Random(11))),
    ]


def fill_sqlite(path: str, tables) -> None:
    """Insert with executemany in one transaction; datetimes as Tortoise stores them (ISO text with offset)."""
    db = sqlite3.connect(path)
    with db:
        for table, columns, rows in tables:
            marks = ", ".join("?" for _ in columns)
            encoded = ([str(v) if isinstance(v, datetime) else v for v in row] for row in rows)
            db.executemany(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks})', encoded)
    db.execute("ANALYZE")
    db.close()


async def fill_postgres(url: str, tables) -> None:
    """COPY each table, then move the id sequences past the copied ids and ANALYZE."""
    conn = await asyncpg.connect(url)
    try:
        for table, columns, rows in tables:
            await conn.copy_records_to_table(table, records=rows, columns=list(columns))
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {len(rows) + 1})")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def cases(org_admin: bool) -> list[tuple[str, object]]:
    """(label, zero-argument coroutine factory taking a principal)."""
    listed = [
        ("aggregates, no groupBy", lambda p: sitting_aggregates(principal=p)),
        (
            "aggregates by TEST, STATUS",
            lambda p: sitting_aggregates(principal=p, group_by=[Dimension.TEST, Dimension.STATUS]),
        ),
        (
            "aggregates by TAKEN_MONTH (Europe/Berlin)",
            lambda p: sitting_aggregates(principal=p, group_by=[Dimension.TAKEN_MONTH], time_zone="Europe/Berlin"),
        ),
        (
            "aggregates by CERTIFIED_MONTH, STATUS (America/New_York)",
            lambda p: sitting_aggregates(
                principal=p, group_by=[Dimension.CERTIFIED_MONTH, Dimension.STATUS], time_zone="America/New_York"
            ),
        ),
        ("histogram, width 5", lambda p: score_histogram(principal=p, bucket_width=5)),
        ("certification funnel", lambda p: certification_funnel(principal=p)),
        ("credit usage (Europe/Berlin)", lambda p: credit_usage(principal=p, time_zone="Europe/Berlin")),
    ]
    if not org_admin:
        listed.insert(
            4,
            (
                "aggregates by ORGANISATION, TAKEN_MONTH",
                lambda p: sitting_aggregates(principal=p, group_by=[Dimension.ORGANISATION, Dimension.TAKEN_MONTH]),
            ),
        )
    return listed


async def time_all(runs: int) -> None:
    principals = [
        ("platform admin", Principal("bench", Role.PLATFORM_ADMIN)),
        ("org admin (40 % of rows)", Principal("bench", Role.ORG_ADMIN, organisation_id=1)),
    ]
    for who, principal in principals:
        print(f"  as {who}:")
        for label, call in cases(principal.role is Role.ORG_ADMIN):
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                await call(principal)
                times.append(time.perf_counter() - started)
            print(f"    {label:<58} median {statistics.median(times):6.3f} s   max {max(times):6.3f} s")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sittings", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=None, help="PostgreSQL server root; SQLite when omitted")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    tables = all_tables(args.sittings)
    async with scratch_database(args.postgres) as url:
        forget_compiled_statements()
        await migrate(url)
        if args.postgres:
            await fill_postgres(url, tables)
        else:
            fill_sqlite(url.removeprefix("sqlite://"), tables)
        del tables
        print(
            f"{'postgresql' if args.postgres else 'sqlite'}: {args.sittings:,} sittings "
            f"(built in {time.perf_counter() - started:.0f} s)"
        )
        await Tortoise.init(config=tortoise_config(url))
        try:
            await time_all(args.runs)
        finally:
            await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main())
