"""Analytics area: grouped sitting statistics, the score histogram, the certification funnel and credit usage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gql.context import Info
from gql.ids import decode_id
from gql.types.analytics import CertificationFunnel, CreditUsageMonth, ScoreBucket, SittingDimension, SittingGroup
from gql.types.sitting import SittingFilter
from resolvers import analytics, credit_usage, funnel
from resolvers.sittings import MALFORMED_ID


def _organisation_pk(global_id: strawberry.ID | None) -> int | None:
    """The pk of an Organisation ID; MALFORMED_ID for any other string (refused by the verb)."""
    if global_id is None:
        return None
    return decode_id(global_id, "Organisation") or MALFORMED_ID


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(
        description="Counts and score statistics of the filtered sittings, one entry per combination of the "
        "groupBy dimensions (none: one entry for all). At most 10,000 groups."
    )
    async def sitting_aggregates(
        self,
        info: Info,
        filter: SittingFilter | None = None,
        group_by: list[SittingDimension] | None = None,
        time_zone: str | None = None,
    ) -> list[SittingGroup]:
        groups = await analytics.sitting_aggregates(
            principal=info.context.require_principal(),
            spec=filter.to_spec() if filter else None,
            group_by=[d.to_spec() for d in group_by] if group_by else None,
            time_zone=time_zone,
        )
        return [SittingGroup.from_result(group) for group in groups]

    @strawberry.field(
        description="Sittings per score bucket [from, to): buckets start at multiples of bucketWidth (≥ 1), from "
        "the lowest to the highest non-empty bucket, empty buckets between them included, lowest first."
    )
    async def score_histogram(
        self, info: Info, filter: SittingFilter | None = None, *, bucket_width: int
    ) -> list[ScoreBucket]:
        buckets = await analytics.score_histogram(
            principal=info.context.require_principal(),
            spec=filter.to_spec() if filter else None,
            bucket_width=bucket_width,
        )
        return [ScoreBucket.from_result(bucket) for bucket in buckets]

    @strawberry.field(description="How the filtered sittings move through certification, and how long the steps take.")
    async def certification_funnel(self, info: Info, filter: SittingFilter | None = None) -> CertificationFunnel:
        result = await funnel.certification_funnel(
            principal=info.context.require_principal(), spec=filter.to_spec() if filter else None
        )
        return CertificationFunnel.from_result(result)

    @strawberry.field(
        description="Credits purchased, spent and refunded per calendar month (in timeZone), oldest first. "
        "PLATFORM_ADMIN may name an organisation; others get their own."
    )
    async def credit_usage(
        self,
        info: Info,
        organisation_id: strawberry.ID | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        time_zone: str | None = None,
    ) -> list[CreditUsageMonth]:
        months = await credit_usage.credit_usage(
            principal=info.context.require_principal(),
            organisation_id=_organisation_pk(organisation_id),
            start=from_,
            end=to,
            time_zone=time_zone,
        )
        return [CreditUsageMonth.from_result(month) for month in months]
