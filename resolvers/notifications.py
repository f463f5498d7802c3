"""A test taker's in-app notifications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from models import Notification
from resolvers import access
from resolvers.access import Operation
from resolvers.errors import DomainError, ErrorCode
from resolvers.pagination import Page, SortKey, paginate
from resolvers.principal import Principal

MAX_MARK = 500


async def list_notifications(
    *, principal: Principal, first: int | None, after: str | None, unread_only: bool | None
) -> Page[Notification]:
    """The test taker's notifications, newest first.

    Raises:
        Forbidden: not a test taker (rule ``notifications``).
        BadArgument: ``first`` outside 1–500 or a malformed cursor.
    """
    test_taker_id = access.require_test_taker(principal, Operation.NOTIFICATIONS)
    queryset = Notification.filter(test_taker_id=test_taker_id)
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
    return await paginate(queryset, SortKey("created_at", True), first=first, after=after)


async def mark_notifications_read(*, principal: Principal, ids: Sequence[int | None]) -> int:
    """Mark the given notifications read; return how many were unread before.

    Every id must be one of the caller's notifications (else NOT_FOUND and nothing changes).

    Raises:
        Forbidden: not a test taker (rule ``markNotificationsRead``).
        DomainError: INVALID_INPUT (empty or more than 500 ids), NOT_FOUND (another's notification).
    """
    test_taker_id = access.require_test_taker(principal, Operation.MARK_NOTIFICATIONS_READ)
    if not ids or len(ids) > MAX_MARK:
        raise DomainError(ErrorCode.INVALID_INPUT, f"give 1–{MAX_MARK} notification ids", ["input", "ids"])
    known = [i for i in ids if i is not None]
    own = set(await Notification.filter(test_taker_id=test_taker_id, id__in=known).values_list("id", flat=True))
    for index, pk in enumerate(ids):
        if pk is None or pk not in own:
            raise DomainError(ErrorCode.NOT_FOUND, "no such notification", ["input", "ids", str(index)])
    return await Notification.filter(id__in=list(own), read_at__isnull=True).update(read_at=datetime.now(UTC))
