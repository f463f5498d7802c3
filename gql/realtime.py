"""The Subscription root: the contract's five subscriptions over the realtime verbs.

A websocket's context lives as long as its connection, so each pushed result
gets fresh :class:`Loaders` (never a stale row). A broken event stream ends the
subscription with a GraphQL error ``extensions.code`` STREAM_INTERRUPTED: the
client should subscribe again.

Every field is declared with :func:`event_subscription` or :func:`live_query`,
which records how identical subscriptions of it share one stream
(:class:`Sharing`, read by :func:`sharing_of`); :func:`gql.schema.build_schema`
refuses a Subscription field that declares neither. The path of an event is
in docs/ARCHITECTURE.md, "An event".
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from enum import StrEnum
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from gql.context import Context, Info
from gql.errors import annotate
from gql.loaders import Loaders
from gql.types.certificate import Certificate, ReviewQueueChange, ReviewQueueEvent
from gql.types.notification import Notification
from gql.types.organisation import CreditBalanceEvent, Organisation
from gql.types.sitting import Sitting, SittingConnection, SittingFilter, SittingOrder, SittingStatusEvent
from models.enums import CertificationStatus
from resolvers import realtime
from subscriptions.hub import StreamInterrupted

T = TypeVar("T")

STREAM_INTERRUPTED = "STREAM_INTERRUPTED"
SHARING = "certify.sharing"
"""The key of a Subscription field's :class:`Sharing` in its strawberry ``metadata``."""


class Sharing(StrEnum):
    """How identical subscriptions of a field share one stream (:mod:`server.multiplex`).

    ``EVENTS``: a sequence of events with no initial result; a subscriber that
    joins gets the events published from then on. ``LIVE``: a live query; each
    result is the whole current state, the first at once, so a joiner reads
    its own first result.
    """

    EVENTS = "events"
    LIVE = "live"


def event_subscription(*, description: str) -> Any:
    """``strawberry.subscription`` for a stream of events (:attr:`Sharing.EVENTS`)."""
    return strawberry.subscription(description=description, metadata={SHARING: Sharing.EVENTS})


def live_query(*, description: str) -> Any:
    """``strawberry.subscription`` for a live query (:attr:`Sharing.LIVE`)."""
    return strawberry.subscription(description=description, metadata={SHARING: Sharing.LIVE})


def sharing_of(schema: strawberry.Schema) -> dict[str, Sharing]:
    """Each Subscription field of ``schema`` by its GraphQL name, with its :class:`Sharing`.

    Raises:
        TypeError: a field declared without :func:`event_subscription` or :func:`live_query`.
    """
    definition = schema.get_type_by_name("Subscription")
    if definition is None:
        return {}
    kinds: dict[str, Sharing] = {}
    for field in definition.fields:
        name = schema.config.name_converter.get_graphql_name(field)
        kind = (field.metadata or {}).get(SHARING)
        if not isinstance(kind, Sharing):
            raise TypeError(f"Subscription.{name} must be declared with event_subscription() or live_query()")
        kinds[name] = kind
    return kinds


class StreamErrorCodes(SchemaExtension):
    """Give errors of streamed (subscription) results their ``extensions.code``, as :class:`gql.errors.ErrorCodes` does for the rest."""

    def on_stream_result(self, result):
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [annotate(error) for error in errors]
        yield


async def _fresh(context: Context, source: AsyncIterator[T]) -> AsyncIterator[T]:
    """Items of ``source``, each with fresh loaders; a broken stream becomes a STREAM_INTERRUPTED error."""
    try:
        async for item in source:
            if context.loaders.used:
                context.loaders = Loaders()
            yield item
    except StreamInterrupted as exc:
        raise GraphQLError(str(exc), extensions={"code": STREAM_INTERRUPTED}) from exc
    finally:
        await source.aclose()


@strawberry.type
class Subscription:
    @event_subscription(description="Per-sitting status changes in the viewer's organisation.")
    async def sitting_status_changed(
        self, info: Info, filter: SittingFilter | None = None
    ) -> AsyncGenerator[SittingStatusEvent, None]:
        context = info.context
        changes = realtime.sitting_status_changes(
            principal=context.require_principal(), spec=filter.to_spec() if filter else None, hub=context.state.hub
        )
        async for change, row, executions in _fresh(context, changes):
            yield SittingStatusEvent(
                sitting=Sitting.from_model(row),
                previous_status=CertificationStatus(change.previous_status),
                status=CertificationStatus(change.status),
                at=change.at,
                shared_executions=executions,
                source_key=(id(change), id(row)),
            )

    @live_query(description="Live query: the current page at once, then again whenever it may have changed.")
    async def live_sittings(
        self,
        info: Info,
        filter: SittingFilter | None = None,
        order_by: SittingOrder | None = None,
        first: int | None = None,
    ) -> AsyncGenerator[SittingConnection, None]:
        context = info.context
        pages = realtime.live_sitting_pages(
            principal=context.require_principal(),
            spec=filter.to_spec() if filter else None,
            order=order_by.to_spec() if order_by else None,
            first=first,
            hub=context.state.hub,
            window=context.settings.live_query_window_seconds,
        )
        async for page in _fresh(context, pages):
            yield await SittingConnection.prefetched(info, page)

    @event_subscription(description="The viewer's organisation's credit balance after each change.")
    async def credit_balance_changed(self, info: Info) -> AsyncGenerator[CreditBalanceEvent, None]:
        context = info.context
        changes = realtime.credit_balance_changes(principal=context.require_principal(), hub=context.state.hub)
        async for change in _fresh(context, changes):
            organisation = await context.loaders.organisation_by_id.load(change.organisation_id)
            yield CreditBalanceEvent(
                organisation=Organisation.from_model(organisation),
                credit_balance=change.credit_balance,
                delta=change.delta,
                at=change.at,
            )

    @event_subscription(description="The test taker's own notifications.")
    async def notification_received(self, info: Info) -> AsyncGenerator[Notification, None]:
        context = info.context
        rows = realtime.notifications_received(principal=context.require_principal(), hub=context.state.hub)
        async for row in _fresh(context, rows):
            yield Notification.from_model(row)

    @event_subscription(description="Certificates entering or leaving the review queue (reviewers, platform admins).")
    async def review_queue_changed(self, info: Info) -> AsyncGenerator[ReviewQueueEvent, None]:
        context = info.context
        changes = realtime.review_queue_changes(principal=context.require_principal(), hub=context.state.hub)
        async for change, row in _fresh(context, changes):
            yield ReviewQueueEvent(
                certificate=Certificate.from_model(row), change=ReviewQueueChange(change.change), at=change.at
            )
