"""Claiming due jobs (renders, e-mails) in one statement, so several worker processes share one queue.

A claim is one ``WITH due AS MATERIALIZED (SELECT id … LIMIT n) UPDATE …
WHERE id IN (SELECT id FROM due) RETURNING id`` that moves the job's due time one lease ahead. On PostgreSQL the inner
SELECT is ``FOR UPDATE SKIP LOCKED``: a worker skips the rows another
worker's claim is locking instead of waiting for them, and PostgreSQL
re-checks a row changed by a claim that committed meanwhile, so a row is
claimed by one worker only (PostgreSQL manual, "The Locking Clause"). SQLite
has no SKIP LOCKED and needs none: it runs one write at a time, so the
statement sees the due rows as they are when it writes. The outer WHERE
repeats the due condition for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tortoise import connections

from resolvers.sql import Statement

Condition = Callable[[Statement], str]
"""Renders a SQL condition (or SET list) through a :class:`Statement`, adding its values as parameters."""


@dataclass(frozen=True, slots=True)
class Queue:
    """One table used as a queue: which rows are due, in which order, and what a claim writes.

    ``due`` and ``claim`` render SQL through the statement (values as
    parameters); ``order`` is a fixed ORDER BY list of the table's columns.
    """

    table: str
    due: Condition
    order: str
    claim: Condition


async def claim_due(queue: Queue, *, limit: int) -> list[int]:
    """Claim up to ``limit`` due rows of ``queue`` (oldest first) for this worker; return their ids.

    Raises ``ValueError`` if ``limit < 1``; database errors propagate (nothing is claimed then).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    stmt = Statement(connections.get("default"))
    lock = " FOR UPDATE SKIP LOCKED" if stmt.postgres else ""
    changes = queue.claim(stmt)
    inner_due = queue.due(stmt)
    outer_due = queue.due(stmt)
    # A materialised CTE runs its SELECT once: as an IN subquery PostgreSQL may rescan it
    # per outer row, and each rescan's LIMIT could then claim more than ``limit`` rows.
    sql = (
        f"WITH due AS MATERIALIZED (SELECT id FROM {queue.table} WHERE {inner_due} "
        f"ORDER BY {queue.order} LIMIT {stmt.param(limit)}{lock}) "
        f"UPDATE {queue.table} SET {changes} WHERE id IN (SELECT id FROM due) AND {outer_due} RETURNING id"
    )
    rows = await stmt.fetch(sql)
    return sorted(row["id"] for row in rows)
