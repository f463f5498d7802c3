"""Certify "all" of N sittings in one call and count the SQL statements it takes.

Usage:
    .venv/bin/python bench/certify_bench.py [--sittings 100000] [--database-url URL] [--runs 3]

Each run builds a fresh database (SQLite in a temp dir unless --database-url
names a PostgreSQL server root such as postgres://postgres@127.0.0.1:5432),
records N eligible sittings with bulk inserts, then times one
``certify_sittings(selection=all)`` and counts the statements the ORM sent.
Prints the median time and the statement count per run. The baseline in the
same run is certifying 100 sittings, so the ratio shows how the cost grows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import scratch_database
from models import CreditTransaction, Organisation, Sitting, Test, TestTaker
from models.db import forget_compiled_statements, migrate, tortoise_config
from models.enums import CertificationStatus, CreditTransactionKind, PhotoCheck, Role
from resolvers.certification import certify_sittings
from resolvers.principal import Principal
from resolvers.selection import Selection
from subscriptions.events import NullPublisher


class StatementCounter:
    """Counts calls to the connection's execute methods (the ORM's only way to the database)."""

    METHODS = ("execute_query", "execute_query_dict", "execute_insert", "execute_many", "execute_script")

    def __init__(self) -> None:
        self.count = 0
        self.timings: list[tuple[float, str]] = []
        self._saved: list[tuple[str, object]] = []

    def __enter__(self) -> StatementCounter:
        for name in self.METHODS:
            original = getattr(BaseDBAsyncClient, name, None)
            if original is None:
                continue
            self._saved.append((name, original))
            for cls in _subclasses(BaseDBAsyncClient):
                if name in cls.__dict__:
                    self._saved.append((f"{cls.__module__}.{cls.__qualname__}.{name}", (cls, cls.__dict__[name])))
                    setattr(cls, name, self._wrap(cls.__dict__[name]))
        return self

    def _wrap(self, func):
        async def wrapper(client, *args, **kwargs):
            self.count += 1
            started = time.perf_counter()
            try:
                return await func(client, *args, **kwargs)
            finally:
                sql = str(args[0]) if args else ""
                self.timings.append((time.perf_counter() - started, " ".join(sql.split())[:90]))

        return wrapper

    def __exit__(self, *exc) -> None:
        for name, saved in self._saved:
            if isinstance(saved, tuple):
                cls, func = saved
                setattr(cls, name.rsplit(".", 1)[1], func)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


async def one_run(n: int, root: str | None) -> tuple[float, int]:
    async with scratch_database(root) as url:
        return await _certify_all(url, n)


async def _certify_all(url: str, n: int) -> tuple[float, int]:
    forget_compiled_statements()
    await migrate(url)
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        org = await Organisation.create(name="Bench", credit_balance=n)
        await CreditTransaction.create(
            organisation=org,
            kind=CreditTransactionKind.PURCHASE,
            delta=n,
            balance_after=n,
            reference="bench",
            actor="bench",
        )
        test = await Test.create(name="Bench test", min_certifiable_score=50)
        base = datetime(2026, 1, 1, tzinfo=UTC)
        takers = [TestTaker.for_person(name=f"Taker {i}", email=f"t{i}@example.com") for i in range(n)]
        for start in range(0, n, 5000):
            await TestTaker.bulk_create(takers[start : start + 5000])
        ids = await TestTaker.all().order_by("id").values_list("id", flat=True)
        sittings = [
            Sitting(
                external_id=f"b-{i}",
                organisation=org,
                test=test,
                test_taker_id=ids[i],
                taken_at=base + timedelta(seconds=i),
                score=80,
                photo_check=PhotoCheck.PASSED,
                status=CertificationStatus.UNSELECTED,
            )
            for i in range(n)
        ]
        for start in range(0, n, 5000):
            await Sitting.bulk_create(sittings[start : start + 5000])
        principal = Principal("bench", Role.ORG_ADMIN, organisation_id=org.id)
        with StatementCounter() as counter:
            started = time.perf_counter()
            result = await certify_sittings(
                principal=principal, selection=Selection(all=True), idempotency_key="bench", publisher=NullPublisher()
            )
            elapsed = time.perf_counter() - started
        assert result.certified_count == n, result
        if n >= 10_000:
            for seconds, sql in sorted(counter.timings, reverse=True)[:4]:
                print(f"    {seconds:7.3f} s  {sql}")
        return elapsed, counter.count
    finally:
        await Tortoise.close_connections()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sittings", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server root; SQLite when omitted")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    backend = "postgresql" if args.database_url else "sqlite"
    for n in (100, args.sittings):
        times, counts = [], []
        for _ in range(args.runs):
            elapsed, count = await one_run(n, args.database_url)
            times.append(elapsed)
            counts.append(count)
        print(
            f"{backend}: certify all of {n:>7} sittings: median {statistics.median(times):.3f} s "
            f"(runs {', '.join(f'{t:.3f}' for t in times)}), SQL statements per call {counts}"
        )


if __name__ == "__main__":
    asyncio.run(main())
