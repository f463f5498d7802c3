"""Bulk seeding for the database benchmarks: rows written by raw SQL, never through the API.

:func:`world` builds the rows of one organisation (its test takers, sittings,
optionally their certificates, and the purchase that funds certifying them) as
``(table, columns, rows)`` triples; :func:`fill` writes them with one
``executemany`` per table in one transaction (SQLite) or ``COPY`` (PostgreSQL),
then moves the id sequences past the copied ids and runs ANALYZE, as
autovacuum would after a bulk load. 100,000 sittings with their test takers
take a few seconds on either database.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from models.db import forget_compiled_statements, migrate

NOW = datetime(2026, 11, 30, tzinfo=UTC)
TAKEN_FROM = datetime(2026, 1, 1, tzinfo=UTC)
CLAIM_WINDOW_LEFT = timedelta(days=180)
"""How far from the moment of seeding the seeded certificates' claim deadlines lie: past every claim reminder's
lead, so that the server's lifecycle job neither lapses nor reminds them while a benchmark runs (it would lapse
every one of them at its first run, refund their credits and send an e-mail each)."""

Table = tuple[str, tuple[str, ...], list[tuple]]

SITTING_COLUMNS = (
    "id", "external_id", "organisation_id", "test_taker_id", "test_id", "taken_at", "score", "photo_check",
    "status", "ineligibility_reason", "certified_at", "certified_by", "certification_batch", "created_at",
    "updated_at",
)  # fmt: skip
CERTIFICATE_COLUMNS = ("id", "sitting_id", "status", "render_attempts", "claim_deadline", "created_at", "updated_at")
TAKER_COLUMNS = ("id", "name", "email", "email_key", "search_key", "locale", "created_at")


@dataclass(frozen=True, slots=True)
class World:
    """What :func:`world` makes: one organisation of ``sittings`` sittings, ids from ``first``.

    ``certified``: every ``certified``-th sitting is IN_PROGRESS with an AWAITING_CLAIM
    certificate (0: none, every sitting UNSELECTED and eligible). ``credits``: the
    organisation's balance, bought with one PURCHASE.
    """

    organisation_id: int
    sittings: int
    first: int = 1
    certified: int = 0
    credits: int = 0
    test_id: int = 1


def base_tables(organisations: int, tests: int = 1) -> list[Table]:
    """Organisations 1…n (no credits yet) and tests 1…m (scale 0–100, certifiable from 50)."""
    return [
        ("organisation", ("id", "name", "credit_balance", "created_at"),
         [(pk, f"Bench org {pk}", 0, NOW) for pk in range(1, organisations + 1)]),
        ("test", ("id", "name", "score_max", "min_certifiable_score", "created_at"),
         [(pk, f"Bench test {pk}", 100, 50, NOW) for pk in range(1, tests + 1)]),
    ]  # fmt: skip


def world(spec: World) -> list[Table]:
    """The rows of ``spec``: one test taker per sitting, sittings taken a second apart, the funding purchase."""
    ids = range(spec.first, spec.first + spec.sittings)
    takers = [
        (pk, f"Taker {pk}", f"taker{pk}@example.com", f"taker{pk}@example.com",
         f"taker {pk}\ntaker{pk}@example.com", "en", NOW)
        for pk in ids
    ]  # fmt: skip
    sittings, certificates = [], []
    deadline = datetime.now(UTC) + CLAIM_WINDOW_LEFT
    for pk in ids:
        taken = TAKEN_FROM + timedelta(seconds=pk)
        certified = spec.certified and pk % spec.certified == 0
        status = "IN_PROGRESS" if certified else "UNSELECTED"
        at = taken + timedelta(days=1) if certified else None
        sittings.append((
            pk, f"bench-{pk}", spec.organisation_id, pk, spec.test_id, taken, 50 + pk % 50, "PASSED", status, None,
            at, "bench" if certified else None, "seed" if certified else None, taken, taken,
        ))  # fmt: skip
        if certified:
            certificates.append(
                (len(certificates) + spec.first, pk, "AWAITING_CLAIM", 0, deadline, at, at)
            )
    tables: list[Table] = [
        ("test_taker", TAKER_COLUMNS, takers),
        ("sitting", SITTING_COLUMNS, sittings),
        ("certificate", CERTIFICATE_COLUMNS, certificates),
    ]
    if spec.credits:
        ledger = [
            (spec.organisation_id, spec.organisation_id, "PURCHASE", spec.credits, spec.credits, "seed", "bench", NOW)
        ]
        tables.append(("credit_transaction", LEDGER_COLUMNS, ledger))
    return tables


LEDGER_COLUMNS = ("id", "organisation_id", "kind", "delta", "balance_after", "reference", "actor", "created_at")


def _balances(tables: list[Table]) -> list[tuple[int, int]]:
    return [(row[4], row[1]) for name, _, rows in tables if name == "credit_transaction" for row in rows]


def fill_sqlite(path: str, tables: list[Table]) -> None:
    """Insert with ``executemany`` in one transaction; datetimes as Tortoise stores them (ISO text with offset)."""
    db = sqlite3.connect(path)
    try:
        with db:
            for table, columns, rows in tables:
                marks = ", ".join("?" for _ in columns)
                encoded = ([str(v) if isinstance(v, datetime) else v for v in row] for row in rows)
                db.executemany(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks})', encoded)
            db.executemany("UPDATE organisation SET credit_balance = ? WHERE id = ?", _balances(tables))
        db.execute("ANALYZE")
    finally:
        db.close()


async def fill_postgres(url: str, tables: list[Table]) -> None:
    """COPY each table, move its id sequence past the largest id, then ANALYZE."""
    conn = await asyncpg.connect(url)
    try:
        for table, columns, rows in tables:
            if rows:
                await conn.copy_records_to_table(table, records=rows, columns=list(columns))
        for table in {name for name, _, _ in tables}:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM \"{table}\"), false)"
            )
        await conn.executemany("UPDATE organisation SET credit_balance = $1 WHERE id = $2", _balances(tables))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def fill(url: str, tables: list[Table]) -> None:
    """Write ``tables`` into the migrated database at ``url`` (``sqlite://PATH`` or ``postgres://…``)."""
    if url.startswith("sqlite://"):
        fill_sqlite(url.removeprefix("sqlite://"), tables)
    else:
        await fill_postgres(url, tables)


async def migrated(url: str) -> None:
    """Migrate the empty database at ``url`` as ``certify serve`` does."""
    forget_compiled_statements()
    await migrate(url)
