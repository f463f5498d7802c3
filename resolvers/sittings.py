"""Reading sittings: filtering, ordering, pages and statistics of those the caller may see."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from models import Certificate, Sitting
from models.enums import CertificateStatus, CertificationStatus
from models.sitting import fold
from resolvers import access
from resolvers.access import Operation, visible_sittings
from resolvers.errors import BadArgument
from resolvers.pagination import Page, SortKey, paginate, paginate_each
from resolvers.principal import Principal
from resolvers.text import has_control_characters

MALFORMED_ID = -1
MAX_SEARCH_LENGTH = 200


@dataclass(frozen=True, slots=True)
class SittingFilter:
    """The contract's ``SittingFilter`` with IDs already decoded to primary keys.

    ``test_id`` is MALFORMED_ID (-1) when the client named an ID that is not a Test ID.
    """

    status: tuple[CertificationStatus, ...] | None = None
    test_id: int | None = None
    score_min: int | None = None
    score_max: int | None = None
    taken_after: datetime | None = None
    taken_before: datetime | None = None
    search: str | None = None
    certificate_status: tuple[CertificateStatus, ...] | None = None


class SittingOrderField:
    TAKEN_AT = "taken_at"
    SCORE = "score"
    TEST_TAKER_NAME = "test_taker__name"


@dataclass(frozen=True, slots=True)
class SittingOrder:
    """Sort by ``field`` (a :class:`SittingOrderField` value); ties broken by id."""

    field: str = SittingOrderField.TAKEN_AT
    descending: bool = True


def apply_filter(queryset: QuerySet[Sitting], spec: SittingFilter | None) -> QuerySet[Sitting]:
    """Narrow ``queryset`` by ``spec``; every given criterion must hold.

    Raises:
        BadArgument: an empty status list, ``scoreMin > scoreMax``, ``takenAfter > takenBefore``,
            a malformed testId, or a search longer than 200 characters or holding control characters.
    """
    if spec is None:
        return queryset
    if spec.status is not None:
        if not spec.status:
            raise BadArgument("filter.status must name at least one status")
        queryset = queryset.filter(status__in=list(spec.status))
    if spec.test_id == MALFORMED_ID:
        raise BadArgument("filter.testId is not a Test ID")
    if spec.test_id is not None:
        queryset = queryset.filter(test_id=spec.test_id)
    if spec.score_min is not None and spec.score_max is not None and spec.score_min > spec.score_max:
        raise BadArgument("filter.scoreMin must not exceed filter.scoreMax")
    if spec.score_min is not None:
        queryset = queryset.filter(score__gte=spec.score_min)
    if spec.score_max is not None:
        queryset = queryset.filter(score__lte=spec.score_max)
    if spec.taken_after and spec.taken_before and spec.taken_after > spec.taken_before:
        raise BadArgument("filter.takenAfter must not be later than filter.takenBefore")
    if spec.taken_after is not None:
        queryset = queryset.filter(taken_at__gte=spec.taken_after)
    if spec.taken_before is not None:
        queryset = queryset.filter(taken_at__lt=spec.taken_before)
    if spec.certificate_status is not None:
        queryset = queryset.filter(certificate_status_condition(spec.certificate_status))
    if spec.search is not None and spec.search.strip():
        needle = spec.search.strip()
        if len(needle) > MAX_SEARCH_LENGTH or has_control_characters(needle):
            raise BadArgument(f"filter.search must be at most {MAX_SEARCH_LENGTH} printable characters")
        queryset = queryset.filter(test_taker__search_key__contains=fold(needle))
    return queryset


def row_filter(spec: SittingFilter | None) -> SittingFilter | None:
    """``spec`` when :func:`matches` can decide it on a row alone, else None (search, certificate status, naive times).

    The status criterion is left out: callers check it against an event's status.
    """
    if spec is None or spec.search is not None or spec.certificate_status is not None:
        return None
    if any(moment is not None and moment.tzinfo is None for moment in (spec.taken_after, spec.taken_before)):
        return None
    return spec


def matches(row: Sitting, spec: SittingFilter) -> bool:
    """Whether ``row`` meets ``spec``'s test, score and time criteria, as :func:`apply_filter` would select it."""
    return (
        (spec.test_id is None or row.test_id == spec.test_id)
        and (spec.score_min is None or row.score >= spec.score_min)
        and (spec.score_max is None or row.score <= spec.score_max)
        and (spec.taken_after is None or row.taken_at >= spec.taken_after)
        and (spec.taken_before is None or row.taken_at < spec.taken_before)
    )


def certificate_status_condition(statuses: tuple[CertificateStatus, ...]) -> Q:
    """Sittings whose newest certificate has one of ``statuses``: the current one (any status but LAPSED),
    or for LAPSED a lapsed one with no current certificate since (docs/RULES.md, "The certificate's life").

    Raises:
        BadArgument: an empty list.
    """
    if not statuses:
        raise BadArgument("filter.certificateStatus must name at least one status")
    current = [status for status in statuses if status != CertificateStatus.LAPSED]
    condition = Q(id__in=Subquery(Certificate.filter(status__in=current).values("sitting_id")))
    if CertificateStatus.LAPSED in statuses:
        lapsed = Q(id__in=Subquery(Certificate.filter(status=CertificateStatus.LAPSED).values("sitting_id")))
        never_again = ~Q(id__in=Subquery(Certificate.exclude(status=CertificateStatus.LAPSED).values("sitting_id")))
        condition = condition | (lapsed & never_again) if current else lapsed & never_again
    return condition


async def list_sittings(
    *,
    principal: Principal,
    spec: SittingFilter | None = None,
    order: SittingOrder | None = None,
    first: int | None = None,
    after: str | None = None,
    skip: int | None = None,
) -> Page[Sitting]:
    """One page of the sittings ``principal`` may read, filtered and ordered, ``skip`` rows on from
    ``after`` (or the start) (rule: ``sittings``).

    Raises:
        Forbidden: the ``sittings`` rule refuses the role (docs/RULES.md, "Who sees what").
        BadArgument: bad filter, ``first`` outside 1–500, ``skip`` outside 0–10,000,000, or a malformed cursor.
    """
    access.require(principal, Operation.SITTINGS)
    order = order or SittingOrder()
    queryset = apply_filter(visible_sittings(principal), spec)
    return await paginate(queryset, SortKey(order.field, order.descending), first=first, after=after, skip=skip)


async def pages_of_test_takers(
    *,
    principal: Principal,
    test_taker_ids: Collection[int],
    first: int | None,
    after: str | None,
    count: bool = True,
) -> dict[int, Page[Sitting]]:
    """Test taker id → its page of the sittings ``principal`` may read, newest first (rule: ``sittings``).

    Each page is what :func:`list_sittings` gives for that test taker's sittings alone in the default
    order, cursors included; all of them take one statement, plus one grouped count when ``count``
    (else ``total_count`` is None).

    Raises:
        Forbidden: the ``sittings`` rule refuses the role (docs/RULES.md, "Who sees what").
        BadArgument: ``first`` outside 1–500, or a malformed cursor.
    """
    access.require(principal, Operation.SITTINGS)
    order = SittingOrder()
    return await paginate_each(
        visible_sittings(principal),
        SortKey(order.field, order.descending),
        parent="test_taker_id",
        parent_ids=test_taker_ids,
        first=first,
        after=after,
        count=count,
    )


async def get_sitting(*, principal: Principal, sitting_id: int) -> Sitting | None:
    """The sitting if ``principal`` may read it, else ``None``."""
    return await visible_sittings(principal).get_or_none(id=sitting_id)


@dataclass(slots=True)
class SittingStats:
    """Counts per status (every status, zeros included) and the mean score (None if no rows)."""

    total: int
    by_status: dict[CertificationStatus, int] = field(default_factory=dict)
    average_score: float | None = None


async def sitting_stats(*, principal: Principal, spec: SittingFilter | None = None) -> SittingStats:
    """Aggregate the visible sittings matching ``spec`` in one grouped query.

    The mean is computed from exact per-status sums: the ORM's ``Avg`` on an
    integer column returns an integer.

    Raises:
        Forbidden: the ``sittingStats`` rule refuses the role (docs/RULES.md, "Who sees what").
        BadArgument: a malformed filter.
    """
    access.require(principal, Operation.SITTING_STATS)
    queryset = apply_filter(visible_sittings(principal), spec)
    grouped = queryset.annotate(n=Count("id"), score_sum=Sum("score")).group_by("status")
    rows = await grouped.values("status", "n", "score_sum")
    by_status = {status: 0 for status in CertificationStatus}
    score_sum = 0
    for row in rows:
        by_status[CertificationStatus(row["status"])] = row["n"]
        score_sum += row["score_sum"] or 0
    total = sum(by_status.values())
    return SittingStats(
        total=total,
        by_status=by_status,
        average_score=round(score_sum / total, 2) if total else None,
    )
