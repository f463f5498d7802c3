"""Exports area: the signed URL of a CSV file of the viewer's sittings."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.context import Info
from gql.types.sitting import SittingFilter, SittingOrder
from resolvers import exports


@strawberry.type
class SittingsExport:
    url: str
    expires_at: datetime
    row_count: int = strawberry.field(description="Rows the file holds, counted when the URL was made.")


@strawberry.type
class ExportQuery:
    @strawberry.field(
        description="A short-lived signed URL of a CSV file of the filtered sittings; the file is streamed when fetched."
    )
    async def export_sittings(
        self, info: Info, filter: SittingFilter | None = None, order_by: SittingOrder | None = None
    ) -> SittingsExport:
        request, row_count = await exports.prepare_export(
            principal=info.context.require_principal(),
            spec=filter.to_spec() if filter else None,
            order=order_by.to_spec() if order_by else None,
        )
        url, expires_at = info.context.state.exports.url_for(request)
        return SittingsExport(url=url, expires_at=expires_at, row_count=row_count)
