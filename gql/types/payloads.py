"""Mutation payloads: each carries ``errors: [UserError!]!`` (empty on success)."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.types.certificate import Certificate
from gql.types.common import UserError
from gql.types.organisation import Organisation
from gql.types.sitting import Test


@strawberry.type
class SelectionPayload:
    changed_count: int = strawberry.field(description="How many sittings changed status.")
    errors: list[UserError]


@strawberry.type
class ConfirmCertificationPayload:
    certified_count: int
    credits_spent: int
    errors: list[UserError]
    balance: strawberry.Private[int | None] = None
    organisation_id: strawberry.Private[int | None] = None

    @strawberry.field(description="The organisation's balance after the call (unchanged when it failed).")
    async def credit_balance(self, info: Info) -> int:
        if self.balance is not None:
            return self.balance
        row = await info.context.loaders.organisation_by_id.load(self.organisation_id) if self.organisation_id else None
        return row.credit_balance if row is not None else 0


@strawberry.type
class PurchaseCreditsPayload:
    organisation: Organisation | None
    errors: list[UserError]


@strawberry.type
class OrganisationPayload:
    organisation: Organisation | None
    errors: list[UserError]


@strawberry.type
class TestPayload:
    test: Test | None
    errors: list[UserError]


@strawberry.type
class RecordSittingsPayload:
    recorded_count: int
    unchanged_count: int
    errors: list[UserError]


@strawberry.type
class CertificatePayload:
    certificate: Certificate | None
    errors: list[UserError]


@strawberry.type
class MarkNotificationsReadPayload:
    updated_count: int
    errors: list[UserError]
