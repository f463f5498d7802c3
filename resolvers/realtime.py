"""Realtime reads: the scoped event streams behind the GraphQL subscriptions.

Who may subscribe to what (docs/RULES.md, "Who sees what" and "Realtime"):
sitting statuses, live sittings and credits for an organisation's admins and
analysts (their organisation's channel only); notifications for the test taker
they belong to; the review queue for security reviewers and platform admins.
Anyone else: :class:`Forbidden` (the rules of :data:`resolvers.access.RULES`).
Every event is checked again against the database with the same scopes as
the queries (the ``visible_*`` sets of :mod:`resolvers.access`) before it is sent.

Rows are read once per published message for every local subscriber with
the same scope (:func:`subscriptions.streams.shared`); identical
subscriptions are then executed once per process (:mod:`server.multiplex`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from models import Certificate, Notification, Sitting
from resolvers import access
from resolvers.access import Operation, viewer_scope, visible_certificates, visible_notifications, visible_sittings
from resolvers.pagination import Page
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter, SittingOrder, apply_filter, list_sittings, matches, row_filter
from subscriptions.channels import REVIEW_QUEUE, organisation_channel, test_taker_channel
from subscriptions.events import (
    CertificateRevoked,
    CreditBalanceChanged,
    NotificationCreated,
    ReviewQueueChanged,
    SittingsRecorded,
    SittingStatusChanged,
)
from subscriptions.hub import Hub
from subscriptions.streams import bursts, shared, typed_messages

PAGE_CHANGES = (SittingStatusChanged, SittingsRecorded, ReviewQueueChanged, CertificateRevoked)
LIVE_WINDOW_SECONDS = 0.15


EXECUTIONS = "executions"
"""The key of a message's ``shared`` dict under which its events' shared executions are kept."""


async def sitting_status_changes(
    *, principal: Principal, spec: SittingFilter | None, hub: Hub
) -> AsyncIterator[tuple[SittingStatusChanged, Sitting, dict]]:
    """Each status change of a visible sitting matching ``spec`` as it is after the change, with its row and
    the dict in which the streams it reaches may share their executions of it (one per message:
    :mod:`server.event_sharing`). Every subscriber of the message gets the same change and, for the
    same scope and read, the same row object.

    The status criterion is checked against the event's new status, the other
    criteria against the row; one query per message serves every local
    subscriber with the same organisation and filter.

    Raises:
        Forbidden: not an org admin or analyst.
        BadArgument: a malformed filter.
        StreamInterrupted: the event stream broke (resubscribe).
    """
    organisation_id = access.require_organisation(principal, Operation.SITTING_STATUS_CHANGED)
    facts = dataclasses.replace(spec, status=None) if spec is not None else None
    apply_filter(Sitting.all(), spec)
    statuses = set(spec.status) if spec is not None and spec.status is not None else None
    # Criteria a row can answer are checked here, so every filter of one scope shares a single read
    # (2,000 dashboards with 200 filters: one query per event instead of 200).
    on_row = row_filter(facts)
    read = None if on_row is not None else facts
    async with hub.subscribe(organisation_channel(organisation_id)) as subscription:
        async for message, changes in typed_messages(subscription, SittingStatusChanged):
            ids = [change.sitting_id for change in changes]

            async def matching(ids=ids) -> dict[int, Sitting]:
                rows = await apply_filter(visible_sittings(principal), read).filter(id__in=ids)
                return {row.id: row for row in rows}

            rows = await shared(message, ("sitting-status", viewer_scope(principal), read), matching)
            for change in changes:
                row = rows.get(change.sitting_id)
                if row is None or (statuses is not None and change.status not in statuses):
                    continue
                if on_row is None or matches(row, on_row):
                    yield change, row, message.shared.setdefault(EXECUTIONS, {})


async def live_sitting_pages(
    *,
    principal: Principal,
    spec: SittingFilter | None,
    order: SittingOrder | None,
    first: int | None,
    hub: Hub,
    window: float = LIVE_WINDOW_SECONDS,
) -> AsyncIterator[Page[Sitting]]:
    """The page at once, then the fresh page after each burst of changes in the organisation.

    Changes are coalesced over ``window`` seconds; a change during a re-read
    causes one more, so the last page pushed is the final state.

    Raises:
        Forbidden: not an org admin or analyst.
        BadArgument: bad filter or ``first``.
        StreamInterrupted: the event stream broke (resubscribe).
    """
    organisation_id = access.require_organisation(principal, Operation.LIVE_SITTINGS)
    async with hub.subscribe(organisation_channel(organisation_id)) as subscription:
        yield await list_sittings(principal=principal, spec=spec, order=order, first=first)
        async for _ in bursts(subscription, PAGE_CHANGES, window):
            yield await list_sittings(principal=principal, spec=spec, order=order, first=first)


async def credit_balance_changes(*, principal: Principal, hub: Hub) -> AsyncIterator[CreditBalanceChanged]:
    """Each change of the principal's organisation's credit balance.

    Raises:
        Forbidden: not an org admin or analyst.
        StreamInterrupted: the event stream broke (resubscribe).
    """
    organisation_id = access.require_organisation(principal, Operation.CREDIT_BALANCE_CHANGED)
    async with hub.subscribe(organisation_channel(organisation_id)) as subscription:
        async for _, changes in typed_messages(subscription, CreditBalanceChanged):
            for change in changes:
                if change.organisation_id == organisation_id:
                    yield change


async def notifications_received(*, principal: Principal, hub: Hub) -> AsyncIterator[Notification]:
    """Each notification created for the principal (a test taker), oldest first.

    Raises:
        Forbidden: not a test taker.
        StreamInterrupted: the event stream broke (resubscribe).
    """
    test_taker_id = access.require_test_taker(principal, Operation.NOTIFICATION_RECEIVED)
    async with hub.subscribe(test_taker_channel(test_taker_id)) as subscription:
        async for _, created in typed_messages(subscription, NotificationCreated):
            ids = [event.notification_id for event in created if event.test_taker_id == test_taker_id]
            rows = {row.id: row for row in await visible_notifications(principal).filter(id__in=ids)}
            for pk in ids:
                if pk in rows:
                    yield rows[pk]


async def review_queue_changes(
    *, principal: Principal, hub: Hub
) -> AsyncIterator[tuple[ReviewQueueChanged, Certificate]]:
    """Each certificate entering or leaving the review queue, with its row.

    Raises:
        Forbidden: not a security reviewer or platform admin.
        StreamInterrupted: the event stream broke (resubscribe).
    """
    access.require(principal, Operation.REVIEW_QUEUE_CHANGED)
    async with hub.subscribe(REVIEW_QUEUE) as subscription:
        async for message, changes in typed_messages(subscription, ReviewQueueChanged):
            ids = [change.certificate_id for change in changes]

            async def visible(ids=ids) -> dict[int, Certificate]:
                return {row.id: row for row in await visible_certificates(principal).filter(id__in=ids)}

            rows = await shared(message, ("review-queue", viewer_scope(principal)), visible)
            for change in changes:
                if change.certificate_id in rows:
                    yield change, rows[change.certificate_id]
