"""Credits purchased, spent and refunded per calendar month, summed by the database from the ledger.

Rules: docs/RULES.md, "Analytics". The ledger rows are those of
:func:`resolvers.access.visible_credit_transactions`, narrowed to one
organisation and a time range, grouped by their month in the asked time
zone (the month machinery of :mod:`resolvers.analytics_sql`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import CreditTransaction, Organisation
from models.enums import CreditTransactionKind
from resolvers import access
from resolvers.access import Field, Operation
from resolvers.analytics import as_instant
from resolvers.analytics_sql import fetch, month_key, month_text
from resolvers.errors import BadArgument
from resolvers.principal import Principal
from resolvers.sittings import MALFORMED_ID
from resolvers.sql import Statement
from resolvers.time_zones import months_between, offset_spans, parse_time_zone

REFUND = "REFUND"
"""The ledger kind of refunded credits; compared as text so refunds count from the day the kind is recorded."""


@dataclass(frozen=True, slots=True)
class CreditUsageMonth:
    """One calendar month (``"YYYY-MM"``): credits purchased, spent (a positive number) and refunded."""

    month: str
    purchased: int
    spent: int
    refunded: int


async def credit_usage(
    *,
    principal: Principal,
    organisation_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    time_zone: str | None = None,
) -> list[CreditUsageMonth]:
    """The ledger ``principal`` may read, summed per calendar month of ``time_zone``, oldest first.

    ``organisation_id``: one organisation's ledger (MALFORMED_ID when the
    client's ID was not an Organisation ID); None: the caller's own
    organisation, or every organisation together for a platform admin.
    ``start`` inclusive, ``end`` exclusive (rows by ``created_at``). Purchased
    sums PURCHASE deltas, spent is minus the sum of CERTIFICATION deltas,
    refunded sums REFUND deltas. Months run from the first to the last month
    with a ledger row, months between them without one as zeros; no rows, no
    months.

    Raises:
        Forbidden: the role may not run analytics, or names an organisation other than its own.
        BadArgument: a malformed organisation ID or one that names no organisation, an unknown time zone,
            or ``start`` later than ``end``.
    """
    access.require(principal, Operation.CREDIT_USAGE)
    if organisation_id == MALFORMED_ID:
        raise BadArgument("organisationId is not an Organisation ID")
    if organisation_id is not None:
        access.require_field(principal, Field.CREDIT_TRANSACTIONS, organisation_id=organisation_id)
        if not await Organisation.exists(id=organisation_id):
            raise BadArgument("organisationId names no organisation")
    zone = parse_time_zone(time_zone)
    if start is not None and end is not None and start > end:
        raise BadArgument("from must not be later than to")
    ledger = access.visible_credit_transactions(principal)
    if organisation_id is not None:
        ledger = ledger.filter(organisation_id=organisation_id)
    if start is not None:
        ledger = ledger.filter(created_at__gte=start)
    if end is not None:
        ledger = ledger.filter(created_at__lt=end)
    sums = await _monthly_sums(ledger, zone)
    if not sums:
        return []
    return [sums.get(month) or CreditUsageMonth(month, 0, 0, 0) for month in months_between(min(sums), max(sums))]


async def _monthly_sums(ledger, zone) -> dict[str, CreditUsageMonth]:
    """Month → its sums, for the months with ledger rows (two statements: the time range, then the sums)."""
    stmt = Statement(CreditTransaction._meta.db)
    source = stmt.subquery(ledger.values("created_at"))
    edges = (
        await stmt.fetch(
            f"SELECT MIN(src.created_at) AS earliest, MAX(src.created_at) AS latest FROM ({source}) AS src"
        )
    )[0]
    spans = offset_spans(zone, as_instant(edges["earliest"]), as_instant(edges["latest"]))
    stmt = Statement(CreditTransaction._meta.db)
    month = month_key(stmt, "src.created_at", spans)
    kinds = {
        name: stmt.param(kind)
        for name, kind in (
            ("purchase", CreditTransactionKind.PURCHASE.value),
            ("certification", CreditTransactionKind.CERTIFICATION.value),
            ("refund", REFUND),
        )
    }
    source = stmt.subquery(ledger.values("created_at", "kind", "delta"))
    rows = await fetch(
        stmt,
        f"SELECT {month_text(stmt, 'month')} AS month, "
        f"CAST(SUM(CASE WHEN kind = {kinds['purchase']} THEN delta ELSE 0 END) AS BIGINT) AS purchased, "
        f"CAST(-SUM(CASE WHEN kind = {kinds['certification']} THEN delta ELSE 0 END) AS BIGINT) AS spent, "
        f"CAST(SUM(CASE WHEN kind = {kinds['refund']} THEN delta ELSE 0 END) AS BIGINT) AS refunded "
        f"FROM (SELECT {month} AS month, src.kind AS kind, src.delta AS delta FROM ({source}) AS src) AS dated "
        f"GROUP BY month",
    )
    return {
        row["month"]: CreditUsageMonth(row["month"], int(row["purchased"]), int(row["spent"]), int(row["refunded"]))
        for row in rows
    }
