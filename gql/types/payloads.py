"""Mutation payloads: each carries ``errors: [UserError!]!`` (empty on success)."""

from __future__ import annotations

import strawberry

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
    credit_balance: int
    errors: list[UserError]


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
