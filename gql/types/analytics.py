"""The analytics types: grouped sitting statistics, score buckets, the certification funnel and monthly credit use."""

from __future__ import annotations

from enum import Enum

import strawberry

from gql.context import Info
from gql.types.common import CertificationStatus
from gql.types.organisation import Organisation
from gql.types.sitting import Test
from resolvers import analytics, credit_usage, funnel


@strawberry.enum
class SittingDimension(Enum):
    TEST = analytics.Dimension.TEST.value
    STATUS = analytics.Dimension.STATUS.value
    TAKEN_MONTH = strawberry.enum_value(
        analytics.Dimension.TAKEN_MONTH.value, description="Calendar month of takenAt in timeZone."
    )
    CERTIFIED_MONTH = strawberry.enum_value(
        analytics.Dimension.CERTIFIED_MONTH.value,
        description="Calendar month of certifiedAt in timeZone; never-certified sittings group under null.",
    )
    ORGANISATION = strawberry.enum_value(analytics.Dimension.ORGANISATION.value, description="PLATFORM_ADMIN only.")

    def to_spec(self) -> analytics.Dimension:
        return analytics.Dimension(self.value)


@strawberry.type
class SittingGroup:
    row: strawberry.Private[analytics.SittingGroup]
    status: CertificationStatus | None
    taken_month: str | None = strawberry.field(description="YYYY-MM")
    certified_month: str | None = strawberry.field(description="YYYY-MM")
    count: int
    average_score: float | None
    median_score: float | None = strawberry.field(
        description="The middle score; for an even count the mean of the two middle scores "
        "(PostgreSQL percentile_cont(0.5))."
    )
    min_score: int | None
    max_score: int | None

    @classmethod
    def from_result(cls, group: analytics.SittingGroup) -> SittingGroup:
        return cls(
            row=group,
            status=group.status,
            taken_month=group.taken_month,
            certified_month=group.certified_month,
            count=group.count,
            average_score=group.average_score,
            median_score=group.median_score,
            min_score=group.min_score,
            max_score=group.max_score,
        )

    @strawberry.field
    async def test(self, info: Info) -> Test | None:
        if self.row.test_id is None:
            return None
        row = await info.context.loaders.test_by_id.load(self.row.test_id)
        return Test.from_model(row) if row is not None else None

    @strawberry.field
    async def organisation(self, info: Info) -> Organisation | None:
        if self.row.organisation_id is None:
            return None
        row = await info.context.loaders.organisation_by_id.load(self.row.organisation_id)
        return Organisation.from_model(row) if row is not None else None


@strawberry.type
class ScoreBucket:
    from_: int = strawberry.field(name="from", description="Lowest score of the bucket (inclusive).")
    to: int = strawberry.field(description="Highest score of the bucket, exclusive.")
    count: int

    @classmethod
    def from_result(cls, bucket: analytics.ScoreBucket) -> ScoreBucket:
        return cls(from_=bucket.start, to=bucket.end, count=bucket.count)


@strawberry.type
class CertificationFunnel:
    recorded: int = strawberry.field(description="Sittings matching the filter.")
    eligible: int = strawberry.field(description="Of those, sittings not INELIGIBLE.")
    certified: int = strawberry.field(description="Sittings IN_PROGRESS or CERTIFIED.")
    claimed: int = strawberry.field(
        description="Certified sittings whose current certificate has had a claim submitted."
    )
    issued: int = strawberry.field(description="Certified sittings whose current certificate is or was ISSUED.")
    median_seconds_to_claim: float | None = strawberry.field(
        description="Median seconds from certification to the first claim submitted."
    )
    median_seconds_to_issue: float | None = strawberry.field(
        description="Median seconds from the first claim submitted to issue."
    )

    @classmethod
    def from_result(cls, result: funnel.CertificationFunnel) -> CertificationFunnel:
        return cls(
            recorded=result.recorded,
            eligible=result.eligible,
            certified=result.certified,
            claimed=result.claimed,
            issued=result.issued,
            median_seconds_to_claim=result.median_seconds_to_claim,
            median_seconds_to_issue=result.median_seconds_to_issue,
        )


@strawberry.type
class CreditUsageMonth:
    month: str = strawberry.field(description="YYYY-MM")
    purchased: int
    spent: int
    refunded: int

    @classmethod
    def from_result(cls, usage: credit_usage.CreditUsageMonth) -> CreditUsageMonth:
        return cls(month=usage.month, purchased=usage.purchased, spent=usage.spent, refunded=usage.refunded)
