"""Buying credits, and reading organisations' ledgers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from models import CreditTransaction, Organisation
from models.enums import CreditTransactionKind
from resolvers import access
from resolvers.access import Field, Operation, visible_credit_transactions
from resolvers.audit import record_audit
from resolvers.errors import DomainError, ErrorCode
from resolvers.pagination import Page, SortKey, paginate_each
from resolvers.principal import Principal
from resolvers.sql import Statement, lock_organisation, transaction
from resolvers.text import has_control_characters
from resolvers.wording import number
from subscriptions.events import CreditBalanceChanged, Publisher

MAX_PURCHASE = 1_000_000
LEDGER_ORDER = SortKey("created_at", descending=True)
"""A ledger reads newest first."""


async def purchase_credits(
    *, principal: Principal, organisation_id: int | None, credits: int, reference: str, publisher: Publisher
) -> Organisation:
    """Record a payment of ``credits`` (1–1,000,000) under ``reference``; a repeated reference adds nothing.

    A reference already recorded for the organisation with the same amount
    returns the organisation unchanged (a retried call); with another amount
    it is an error naming the first purchase, and nothing is added.

    Raises:
        Forbidden: not a platform admin (rule ``purchaseCredits``).
        DomainError: NOT_FOUND (organisation), INVALID_INPUT (credits or reference),
            IDEMPOTENCY_KEY_REUSED (the reference recorded another amount).
    """
    access.require(principal, Operation.PURCHASE_CREDITS)
    reference = reference.strip()
    if not 1 <= credits <= MAX_PURCHASE:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"credits must be 1–{number(MAX_PURCHASE)}; received {number(credits)}",
            ["input", "credits"],
        )
    if not reference or len(reference) > 200 or has_control_characters(reference):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "reference must be 1–200 printable characters", ["input", "reference"]
        )
    now = datetime.now(UTC)
    async with transaction() as conn:
        if organisation_id is None or not await lock_organisation(conn, organisation_id):
            raise DomainError(ErrorCode.NOT_FOUND, "no such organisation", ["input", "organisationId"])
        if await _already_purchased(conn, organisation_id, reference, credits):
            return await Organisation.get(id=organisation_id).using_db(conn)
        stmt = Statement(conn)
        rows = await stmt.fetch(
            f"UPDATE organisation SET credit_balance = credit_balance + {stmt.param(credits)} "
            f"WHERE id = {stmt.param(organisation_id)} RETURNING credit_balance"
        )
        balance = rows[0]["credit_balance"]
        await CreditTransaction.create(
            organisation_id=organisation_id,
            kind=CreditTransactionKind.PURCHASE,
            delta=credits,
            balance_after=balance,
            reference=reference,
            actor=principal.actor,
            using_db=conn,
        )
        await record_audit(
            actor=principal,
            action="purchase_credits",
            object_type="Organisation",
            object_id=organisation_id,
            detail={"credits": credits, "reference": reference},
            conn=conn,
        )
        organisation = await Organisation.get(id=organisation_id).using_db(conn)
    await publisher.publish([CreditBalanceChanged(organisation_id, balance, credits, now)])
    return organisation


async def _already_purchased(conn, organisation_id: int, reference: str, credits: int) -> bool:
    """True when ``reference`` already recorded this purchase of ``credits`` for the organisation.

    Raises:
        DomainError: IDEMPOTENCY_KEY_REUSED when it recorded another amount (the message names it and when).
    """
    first = (
        await CreditTransaction.filter(
            organisation_id=organisation_id, kind=CreditTransactionKind.PURCHASE, reference=reference
        )
        .using_db(conn)
        .first()
    )
    if first is not None and first.delta != credits:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            f"reference {reference!r} already recorded a purchase of {first.delta:,} credits on "
            f"{first.created_at.astimezone(UTC).isoformat(timespec='seconds')}: use a new reference",
            ["input", "reference"],
        )
    return first is not None


async def pages_of_organisations(
    *,
    principal: Principal,
    organisation_ids: Collection[int],
    first: int | None,
    after: str | None,
    count: bool = True,
) -> dict[int, Page[CreditTransaction]]:
    """Organisation id → the page of its ledger, newest first, for organisations the caller may already read.

    Each page is what :func:`resolvers.pagination.paginate` gives for that organisation alone, cursors
    included; all of them take one statement, plus one grouped count when ``count`` (else
    ``total_count`` is None).

    Raises:
        Forbidden: the caller may not read the credits of one of the organisations (field rule
            ``Organisation.creditTransactions``, checked per organisation; docs/RULES.md, "Who sees what").
        BadArgument: ``first`` outside 1–500 or a malformed cursor.
    """
    for organisation_id in organisation_ids:
        access.require_field(principal, Field.CREDIT_TRANSACTIONS, organisation_id=organisation_id)
    return await paginate_each(
        visible_credit_transactions(principal),
        LEDGER_ORDER,
        parent="organisation_id",
        parent_ids=organisation_ids,
        first=first,
        after=after,
        count=count,
    )
