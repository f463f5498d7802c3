"""Selecting sittings for certification: validating a selection and changing status in bulk.

Rules: docs/RULES.md, "Selection" (SittingSelectionInput). With ids, one
bad id fails the whole call; with a filter or ``all``, sittings that cannot
make the change are skipped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.queryset import QuerySet

from models import Sitting
from models.enums import CertificationStatus
from models.transitions import can_request, sources_of
from resolvers import access
from resolvers.access import Operation
from resolvers.errors import BadArgument, DomainError, ErrorCode
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter, apply_filter
from resolvers.sql import Statement, lock_organisation, transaction
from subscriptions.events import Event, Publisher, SittingStatusChanged

MAX_IDS = 10_000


@dataclass(frozen=True, slots=True)
class Selection:
    """The contract's ``SittingSelectionInput``; ``ids`` holds None for an ID that did not decode."""

    ids: tuple[int | None, ...] | None = None
    filter: SittingFilter | None = None
    all: bool | None = None

    def fingerprint(self) -> object:
        """A JSON-able canonical form, for idempotency request hashes."""
        if self.ids is not None:
            return {"ids": sorted({i if i is not None else -1 for i in self.ids})}
        if self.filter is not None:
            spec = self.filter
            return {
                "filter": {
                    "status": sorted(spec.status) if spec.status is not None else None,
                    "test_id": spec.test_id,
                    "score_min": spec.score_min,
                    "score_max": spec.score_max,
                    "taken_after": spec.taken_after.isoformat() if spec.taken_after else None,
                    "taken_before": spec.taken_before.isoformat() if spec.taken_before else None,
                    "search": spec.search,
                }
                # Only when given: the hash of every earlier request stays what it was.
                | (
                    {"certificate_status": sorted(spec.certificate_status)}
                    if spec.certificate_status is not None
                    else {}
                )
            }
        return {"all": True}


def validate_selection(selection: Selection) -> None:
    """Exactly one of ids, filter, all (true); ids non-empty and at most 10,000.

    Raises:
        DomainError: INVALID_INPUT naming the field at fault.
    """
    given = [
        name
        for name, value in (("ids", selection.ids), ("filter", selection.filter), ("all", selection.all))
        if value is not None
    ]
    if len(given) != 1:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"give exactly one of ids, filter or all (got {', '.join(given) or 'none'})",
            ["input"],
        )
    if selection.all is False:
        raise DomainError(ErrorCode.INVALID_INPUT, "all must be true when given", ["input", "all"])
    if selection.ids is not None and not selection.ids:
        raise DomainError(ErrorCode.INVALID_INPUT, "the selection names no sitting", ["input", "ids"])
    if selection.ids is not None and len(selection.ids) > MAX_IDS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_IDS} ids per call", ["input", "ids"])


async def check_ids(
    organisation_id: int, ids: Sequence[int | None], target: CertificationStatus, field_prefix: Sequence[str]
) -> list[int]:
    """Check every id may move to ``target``; return the distinct ids (no-op ones included).

    Raises:
        DomainError: NOT_FOUND (not visible or malformed), NOT_ELIGIBLE (INELIGIBLE),
            INVALID_TRANSITION (any other impossible move), naming the first bad index.
    """
    known = [i for i in ids if i is not None]
    rows = await Sitting.filter(organisation_id=organisation_id, id__in=known).values_list("id", "status")
    status_of = {pk: CertificationStatus(status) for pk, status in rows}
    for index, pk in enumerate(ids):
        field = [*field_prefix, str(index)]
        if pk is None or pk not in status_of:
            raise DomainError(ErrorCode.NOT_FOUND, "no such sitting", field)
        current = status_of[pk]
        if current is CertificationStatus.INELIGIBLE:
            raise DomainError(ErrorCode.NOT_ELIGIBLE, "the sitting is not eligible for certification", field)
        if current is not target and not can_request(current, target):
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"a {current} sitting cannot become {target}", field)
        if current is target and target is CertificationStatus.IN_PROGRESS:
            raise DomainError(ErrorCode.INVALID_TRANSITION, "the sitting is already certified", field)
    return list(dict.fromkeys(known))


async def target_queryset(organisation_id: int, selection: Selection, target: CertificationStatus) -> QuerySet[Sitting]:
    """The organisation's sittings the selection names (ids validated first).

    Raises:
        DomainError: as :func:`validate_selection` and :func:`check_ids`.
        BadArgument: a malformed filter.
    """
    validate_selection(selection)
    base = Sitting.filter(organisation_id=organisation_id)
    if selection.ids is not None:
        ids = await check_ids(organisation_id, selection.ids, target, ["input", "ids"])
        return base.filter(id__in=ids)
    if selection.filter is not None:
        try:
            return apply_filter(base, selection.filter)
        except BadArgument as error:
            raise DomainError(ErrorCode.INVALID_INPUT, str(error), ["input", "filter"]) from error
    return base


async def _move(conn, queryset, source: CertificationStatus, target: CertificationStatus, principal: Principal, now):
    """UPDATE the sittings of ``queryset`` that are ``source`` to ``target``; their ids (``RETURNING id``)."""
    stmt = Statement(conn)
    selecting = target is CertificationStatus.SELECTED
    sql = (
        f"UPDATE sitting SET status = {stmt.param(target.value)}, "
        f"selected_at = {stmt.param(now if selecting else None)}, "
        f"selected_by = {stmt.param(principal.actor if selecting else None)}, "
        f"updated_at = {stmt.param(now)} "
        f"WHERE id IN ({stmt.subquery(queryset.values_list('id', flat=True))}) "
        f"AND status = {stmt.param(source.value)} RETURNING id"
    )
    return await stmt.fetch(sql)


async def _change_status(
    *,
    principal: Principal,
    operation: Operation,
    selection: Selection,
    target: CertificationStatus,
    publisher: Publisher,
) -> int:
    organisation_id = access.require_organisation(principal, operation)
    now = datetime.now(UTC)
    sources = [s for s in sources_of(target) if s is not CertificationStatus.IN_PROGRESS]
    events: list[Event] = []
    async with transaction() as conn:
        await lock_organisation(conn, organisation_id)
        queryset = await target_queryset(organisation_id, selection, target)
        # One UPDATE per source status (one today), so each event names the sitting's real previous status.
        for source in sources:
            rows = await _move(conn, queryset, source, target, principal, now)
            events.extend(
                SittingStatusChanged(organisation_id, row["id"], source.value, target.value, now) for row in rows
            )
    await publisher.publish(events)
    return len(events)


async def select_sittings(*, principal: Principal, selection: Selection, publisher: Publisher) -> int:
    """Move the selected UNSELECTED sittings to SELECTED; return how many changed.

    Raises:
        Forbidden: the principal is not an org admin (rule ``selectSittings``).
        DomainError: INVALID_INPUT, NOT_FOUND (another organisation's sitting), NOT_ELIGIBLE, INVALID_TRANSITION.
    """
    return await _change_status(
        principal=principal,
        operation=Operation.SELECT_SITTINGS,
        selection=selection,
        target=CertificationStatus.SELECTED,
        publisher=publisher,
    )


async def unselect_sittings(*, principal: Principal, selection: Selection, publisher: Publisher) -> int:
    """Move the selected SELECTED sittings back to UNSELECTED; return how many changed.

    Raises:
        Forbidden: the principal is not an org admin (rule ``unselectSittings``).
        DomainError: INVALID_INPUT, NOT_FOUND (another organisation's sitting), NOT_ELIGIBLE, INVALID_TRANSITION.
    """
    return await _change_status(
        principal=principal,
        operation=Operation.UNSELECT_SITTINGS,
        selection=selection,
        target=CertificationStatus.UNSELECTED,
        publisher=publisher,
    )
