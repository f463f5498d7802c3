"""Organisation, its credit ledger and credit events."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.context import Info
from gql.ids import to_global_id
from gql.loaders import PageKey
from gql.types.common import CreditTransactionKind, Node, PageInfo, edges_of, selects
from models import CreditTransaction as CreditTransactionRow
from models import Organisation as OrganisationRow
from resolvers import access
from resolvers.access import Field


@strawberry.type
class CreditTransaction(Node):
    row: strawberry.Private[CreditTransactionRow]
    id: strawberry.ID
    kind: CreditTransactionKind
    delta: int
    balance_after: int
    reference: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, row: CreditTransactionRow) -> CreditTransaction:
        return cls(
            row=row,
            id=strawberry.ID(to_global_id("CreditTransaction", row.id)),
            kind=row.kind,
            delta=row.delta,
            balance_after=row.balance_after,
            reference=row.reference,
            created_at=row.created_at,
        )


@strawberry.type
class CreditTransactionEdge:
    cursor: str
    node: CreditTransaction


@strawberry.type
class CreditTransactionConnection:
    edges: list[CreditTransactionEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class Organisation(Node):
    row: strawberry.Private[OrganisationRow]
    id: strawberry.ID
    name: str

    @classmethod
    def from_model(cls, row: OrganisationRow) -> Organisation:
        return cls(row=row, id=strawberry.ID(to_global_id("Organisation", row.id)), name=row.name)

    @strawberry.field(description="Credits left; readable by the organisation's admins and analysts.")
    def credit_balance(self, info: Info) -> int:
        access.require_field(info.context.require_principal(), Field.CREDIT_BALANCE, organisation_id=self.row.id)
        return self.row.credit_balance

    @strawberry.field(description="The ledger, newest first; its deltas sum to creditBalance.")
    async def credit_transactions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> CreditTransactionConnection:
        principal = info.context.require_principal()
        # Checked per organisation, so a refusal is this field's error only.
        access.require_field(principal, Field.CREDIT_TRANSACTIONS, organisation_id=self.row.id)
        key = PageKey(principal, self.row.id, first, after, selects(info, "totalCount"))
        page = await info.context.loaders.credit_transaction_page_by_organisation.load(key)
        return CreditTransactionConnection(
            edges=edges_of(page, CreditTransactionEdge, CreditTransaction.from_model),
            page_info=PageInfo.from_page(page),
            total_count=page.total_count,
        )


@strawberry.type
class CreditBalanceEvent:
    organisation: Organisation
    credit_balance: int
    delta: int
    at: datetime
