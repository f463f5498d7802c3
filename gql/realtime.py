"""The Subscription root: the contract's five subscriptions over the realtime verbs.

A websocket's context lives as long as its connection, so each pushed result
gets fresh :class:`Loaders` (never a stale row). A broken event stream ends the
subscription with a GraphQL error ``extensions.code`` STREAM_INTERRUPTED: the
client should subscribe again.

Fan-out cost: when one event reaches many local subscribers (2,000 dashboards
of one organisation), each of them yields the *same* :class:`SharedEvent`, and
:class:`SharingExecutionContext` executes the selection once per distinct
(document, variables, viewer scope) and event, instead of once per
subscriber. The viewer scope is (role, organisation, test taker): what a
viewer may read depends on nothing else (DESIGN.md, "Who sees what").
Identical graphql-transport-ws subscriptions already share one whole stream
(:mod:`server.multiplex`, same key); this execution-level sharing serves the
subscriptions that do not: legacy graphql-ws clients, and texts too long for
the parsed-document cache.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

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


class StreamErrorCodes(SchemaExtension):
    """Give errors of streamed (subscription) results their ``extensions.code``, as :class:`gql.errors.ErrorCodes` does for the rest."""

    def on_stream_result(self, result):
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [annotate(error) for error in errors]
        yield


class SharedEvent:
    """A subscription payload that several local subscribers yield; its results are shared by execution key."""

    __slots__ = ("value", "results")

    def __init__(self, value: Any):
        self.value = value
        self.results: dict[Hashable, Any] = {}


def shared_event(memo: dict[Any, Any], key: Hashable, build: Callable[[], Any]) -> SharedEvent:
    """The one :class:`SharedEvent` of ``memo`` (a message's memo) for ``key``, built on first use."""
    event = memo.get(key)
    if event is None:
        event = memo[key] = SharedEvent(build())
    return event


class SharedData(dict):
    """The ``data`` of a shared result: every subscriber of the group gets this same dict.

    ``encoded`` caches its JSON, so the websocket handler encodes a shared
    ``next`` payload once per group instead of once per subscriber
    (:class:`server.websockets.TransportWSHandler`). Never mutated once built.
    """

    __slots__ = ("encoded",)

    def __init__(self, data: dict[str, Any]):
        super().__init__(data)
        self.encoded: str | None = None


def encoded_data(data: dict[str, Any], encode: Callable[[Any], str]) -> str:
    """``data`` as JSON text by ``encode``; a :class:`SharedData` is encoded once, for every subscriber."""
    if type(data) is not SharedData:
        return encode(data)
    if data.encoded is None:
        data.encoded = encode(data)
    return data.encoded


def _shareable(result: Any) -> Any:
    """``result`` (a graphql-core ExecutionResult) with its data as :class:`SharedData`."""
    data = getattr(result, "data", None)
    if type(data) is dict:
        result.data = SharedData(data)
    return result


async def _shareable_later(result: Any) -> Any:
    return _shareable(await result)


class SharingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Executes a :class:`SharedEvent` once per (document, variables, viewer scope); anything else as usual."""

    _shared: SharedEvent | None = None

    def build_per_event_executor(self, payload: Any):
        if not isinstance(payload, SharedEvent):
            return super().build_per_event_executor(payload)
        executor = super().build_per_event_executor(payload.value)
        executor._shared = payload
        return executor

    def execute_operation(self, serially: bool | None = None):
        shared = self._shared
        if shared is None:
            return super().execute_operation(serially)
        key = self._sharing_key()
        result = shared.results.get(key)
        if result is None:
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                result = asyncio.ensure_future(_shareable_later(result))
            else:
                result = _shareable(result)
            shared.results[key] = result
        if isinstance(result, asyncio.Future):
            if result.done():
                return result.result()  # the usual case once the group's first subscriber has it: no await
            return asyncio.shield(result)
        return result

    def _sharing_key(self) -> Hashable:
        location = self.operation.loc
        document = location.source.body if location is not None else id(self.operation)
        variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=repr)
        principal = getattr(self.context_value, "principal", None)
        scope = (principal.role, principal.organisation_id, principal.test_taker_id) if principal else None
        return document, variables, scope


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
    @strawberry.subscription(description="Per-sitting status changes in the viewer's organisation.")
    async def sitting_status_changed(
        self, info: Info, filter: SittingFilter | None = None
    ) -> AsyncGenerator[SittingStatusEvent, None]:
        context = info.context
        changes = realtime.sitting_status_changes(
            principal=context.require_principal(), spec=filter.to_spec() if filter else None, hub=context.state.hub
        )
        async for change, row, memo in _fresh(context, changes):
            yield shared_event(
                memo,
                ("sittingStatusChanged", id(change)),
                lambda: SittingStatusEvent(
                    sitting=Sitting.from_model(row),
                    previous_status=CertificationStatus(change.previous_status),
                    status=CertificationStatus(change.status),
                    at=change.at,
                ),
            )

    @strawberry.subscription(
        description="Live query: the current page at once, then again whenever it may have changed."
    )
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
            yield SittingConnection.from_page(page)

    @strawberry.subscription(description="The viewer's organisation's credit balance after each change.")
    async def credit_balance_changed(self, info: Info) -> AsyncGenerator[CreditBalanceEvent, None]:
        context = info.context
        changes = realtime.credit_balance_changes(principal=context.require_principal(), hub=context.state.hub)
        async for change, memo in _fresh(context, changes):
            key = ("creditBalanceChanged", id(change))
            organisation = None if key in memo else await context.loaders.organisation_by_id.load(change.organisation_id)
            yield shared_event(
                memo,
                key,
                lambda: CreditBalanceEvent(
                    organisation=Organisation.from_model(organisation),
                    credit_balance=change.credit_balance,
                    delta=change.delta,
                    at=change.at,
                ),
            )

    @strawberry.subscription(description="The test taker's own notifications.")
    async def notification_received(self, info: Info) -> AsyncGenerator[Notification, None]:
        context = info.context
        rows = realtime.notifications_received(principal=context.require_principal(), hub=context.state.hub)
        async for row in _fresh(context, rows):
            yield Notification.from_model(row)

    @strawberry.subscription(description="Certificates entering or leaving the review queue (reviewers, platform admins).")
    async def review_queue_changed(self, info: Info) -> AsyncGenerator[ReviewQueueEvent, None]:
        context = info.context
        changes = realtime.review_queue_changes(principal=context.require_principal(), hub=context.state.hub)
        async for change, row, memo in _fresh(context, changes):
            yield shared_event(
                memo,
                ("reviewQueueChanged", id(change)),
                lambda: ReviewQueueEvent(
                    certificate=Certificate.from_model(row), change=ReviewQueueChange(change.change), at=change.at
                ),
            )
