"""Sittings area: list, stats, select / unselect, confirm and certify."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql.context import Info
from gql.errors import as_payload
from gql.ids import decode_id
from gql.types.inputs import CertifySittingsInput, ConfirmCertificationInput, SittingSelectionInput
from gql.types.payloads import ConfirmCertificationPayload, SelectionPayload
from gql.types.sitting import SittingConnection, SittingFilter, SittingOrder, SittingStats, StatusCount
from resolvers import certification, selection, sittings


def to_selection(value: SittingSelectionInput) -> selection.Selection:
    """Decode the input; an ID that is not a Sitting becomes None (reported as NOT_FOUND)."""
    return selection.Selection(
        ids=tuple(decode_id(i, "Sitting") for i in value.ids) if value.ids is not None else None,
        filter=value.filter.to_spec() if value.filter is not None else None,
        all=value.all,
    )


def _changed(count: int) -> SelectionPayload:
    return SelectionPayload(changed_count=count, errors=[])


def _selection_failed(errors) -> SelectionPayload:
    return SelectionPayload(changed_count=0, errors=errors)


def _certification_failed(info: Info):
    def failed(errors) -> ConfirmCertificationPayload:
        organisation_id = info.context.require_principal().organisation_id
        return ConfirmCertificationPayload(
            certified_count=0, credits_spent=0, errors=errors, organisation_id=organisation_id
        )

    return failed


def _certified(result: certification.CertificationResult) -> ConfirmCertificationPayload:
    return ConfirmCertificationPayload(
        certified_count=result.certified_count,
        credits_spent=result.credits_spent,
        errors=[],
        balance=result.credit_balance,
    )


@strawberry.type
class SittingQuery:
    @strawberry.field(description="The viewer's sittings, filtered, ordered and paged (first: 1–500, default 50).")
    async def sittings(
        self,
        info: Info,
        filter: SittingFilter | None = None,
        order_by: SittingOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        skip: Annotated[
            int | None,
            strawberry.argument(
                description="Rows passed over before the page, counted from `after` (or the start): opens a "
                "page by its number (page n of 50: `skip: 50 × (n − 1)`) without reading the cursors before "
                "it. 0–10,000,000; none: 0."
            ),
        ] = None,
    ) -> SittingConnection:
        page = await sittings.list_sittings(
            principal=info.context.require_principal(),
            spec=filter.to_spec() if filter else None,
            order=order_by.to_spec() if order_by else None,
            first=first,
            after=after,
            skip=skip,
        )
        return await SittingConnection.prefetched(info, page)

    @strawberry.field(description="Counts per status (every status, zeros included) and mean score.")
    async def sitting_stats(self, info: Info, filter: SittingFilter | None = None) -> SittingStats:
        stats = await sittings.sitting_stats(
            principal=info.context.require_principal(), spec=filter.to_spec() if filter else None
        )
        return SittingStats(
            total=stats.total,
            by_status=[StatusCount(status=s, count=n) for s, n in stats.by_status.items()],
            average_score=stats.average_score,
        )


@strawberry.type
class SittingMutation:
    @strawberry.mutation
    async def select_sittings(self, info: Info, input: SittingSelectionInput) -> SelectionPayload:
        work = selection.select_sittings(
            principal=info.context.require_principal(), selection=to_selection(input), publisher=info.context.publisher
        )
        return await as_payload(work, ok=_changed, failed=_selection_failed)

    @strawberry.mutation
    async def unselect_sittings(self, info: Info, input: SittingSelectionInput) -> SelectionPayload:
        work = selection.unselect_sittings(
            principal=info.context.require_principal(), selection=to_selection(input), publisher=info.context.publisher
        )
        return await as_payload(work, ok=_changed, failed=_selection_failed)

    @strawberry.mutation(
        description="Certify every SELECTED sitting of the viewer's organisation (the dashboard's 'done')."
    )
    async def confirm_certification(self, info: Info, input: ConfirmCertificationInput) -> ConfirmCertificationPayload:
        work = certification.confirm_certification(
            principal=info.context.require_principal(),
            idempotency_key=input.idempotency_key,
            publisher=info.context.publisher,
            policy=info.context.settings.lifecycle_policy,
        )
        return await as_payload(work, ok=_certified, failed=_certification_failed(info))

    @strawberry.mutation(description="Select and confirm in one step.")
    async def certify_sittings(self, info: Info, input: CertifySittingsInput) -> ConfirmCertificationPayload:
        work = certification.certify_sittings(
            principal=info.context.require_principal(),
            selection=to_selection(input.selection),
            idempotency_key=input.idempotency_key,
            publisher=info.context.publisher,
            policy=info.context.settings.lifecycle_policy,
        )
        return await as_payload(work, ok=_certified, failed=_certification_failed(info))
