"""Platform area: organisations, tests, recorded sittings and credit purchases (PLATFORM_ADMIN)."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.errors import as_payload
from gql.ids import decode_id
from gql.types.inputs import CreateOrganisationInput, CreateTestInput, PurchaseCreditsInput, RecordSittingsInput
from gql.types.organisation import Organisation
from gql.types.payloads import OrganisationPayload, PurchaseCreditsPayload, RecordSittingsPayload, TestPayload
from gql.types.sitting import Test
from models.enums import PhotoCheck
from resolvers import credits, platform, recording


@strawberry.type
class PlatformMutation:
    @strawberry.mutation(description="PLATFORM_ADMIN only.")
    async def create_organisation(self, info: Info, input: CreateOrganisationInput) -> OrganisationPayload:
        return await as_payload(
            platform.create_organisation(principal=info.context.require_principal(), name=input.name),
            ok=lambda row: OrganisationPayload(organisation=Organisation.from_model(row), errors=[]),
            failed=lambda errors: OrganisationPayload(organisation=None, errors=errors),
        )

    @strawberry.mutation(description="PLATFORM_ADMIN only.")
    async def create_test(self, info: Info, input: CreateTestInput) -> TestPayload:
        work = platform.create_test(
            principal=info.context.require_principal(),
            name=input.name,
            min_certifiable_score=input.min_certifiable_score,
            score_max=input.score_max,
            validity_months=input.validity_months,
            levels=[(level.level, level.min_score) for level in input.levels or []],
        )
        return await as_payload(
            work,
            ok=lambda row: TestPayload(test=Test.from_model(row), errors=[]),
            failed=lambda errors: TestPayload(test=None, errors=errors),
        )

    @strawberry.mutation(description="PLATFORM_ADMIN only: records a payment made for credits.")
    async def purchase_credits(self, info: Info, input: PurchaseCreditsInput) -> PurchaseCreditsPayload:
        work = credits.purchase_credits(
            principal=info.context.require_principal(),
            organisation_id=decode_id(input.organisation_id, "Organisation"),
            credits=input.credits,
            reference=input.reference,
            publisher=info.context.publisher,
        )
        return await as_payload(
            work,
            ok=lambda row: PurchaseCreditsPayload(organisation=Organisation.from_model(row), errors=[]),
            failed=lambda errors: PurchaseCreditsPayload(organisation=None, errors=errors),
        )

    @strawberry.mutation(description="Used by the test-delivery platform (PLATFORM_ADMIN). Upsert by externalId.")
    async def record_sittings(self, info: Info, input: RecordSittingsInput) -> RecordSittingsPayload:
        principal = info.context.require_principal()
        rows = [
            recording.SittingRecord(
                external_id=row.external_id,
                organisation_id=decode_id(row.organisation_id, "Organisation"),
                test_id=decode_id(row.test_id, "Test"),
                test_taker_email=row.test_taker_email,
                test_taker_name=row.test_taker_name,
                taken_at=row.taken_at,
                score=row.score,
                photo_check=PhotoCheck(row.photo_check.value),
            )
            for row in input.sittings
        ]
        return await as_payload(
            recording.record_sittings(principal=principal, rows=rows, publisher=info.context.publisher),
            ok=lambda r: RecordSittingsPayload(
                recorded_count=r.recorded_count, unchanged_count=r.unchanged_count, errors=[]
            ),
            failed=lambda errors: RecordSittingsPayload(recorded_count=0, unchanged_count=0, errors=errors),
        )
