"""Shared streams: identical subscriptions run once per process, and each result is written to all of them.

Two thousand dashboards of one organisation subscribed to the same
``sittingStatusChanged`` document with the same variables receive the same
payloads: what a viewer may read depends only on its role, organisation and
test taker (DESIGN.md, "Who sees what"). So the first graphql-transport-ws
subscription of a given (document, operation name, variables, viewer scope)
starts a :class:`SharedStream` that runs strawberry's subscription once, and
every later identical subscription joins it as a member. Each result is
encoded once and written to every member's connection in one loop, without a
task switch per member (:meth:`gql.websockets.TransportWSHandler.send_next_now`).
Measured in bench/RESULTS-realtime.md.

What a member sees is what a subscription of its own would send:
- event subscriptions (:data:`EVENT_FIELDS`): a member that joins receives the
  events published from then on, as it would alone;
- live queries (:data:`LIVE_FIELDS`): every result is the whole current page,
  so a member that joins gets the stream's latest page at once, then every
  fresh page. A change that the latest page does not show yet is always
  followed by a fresh page (the stream coalesces and re-reads after it);
- a result with errors (a broken event stream, a validation error) goes to
  each member through the usual per-operation path, and the stream then takes
  no new members;
- when the stream ends, every member gets ``complete``; when the last member
  leaves (``complete``, close, dropped connection), the stream is cancelled and
  its channel released at once.

The hub counts a stream's members as its subscribers
(:class:`subscriptions.hub.Consumers`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, NamedTuple

from graphql import FieldNode, OperationDefinitionNode, OperationType
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from gql.context import Context
from gql.documents import shared_document
from gql.loaders import Loaders
from gql.realtime import SharedData
from resolvers.principal import Principal
from subscriptions.hub import Consumers, consumed_by

log = logging.getLogger(__name__)

EVENT_FIELDS = frozenset({"sittingStatusChanged", "creditBalanceChanged", "notificationReceived", "reviewQueueChanged"})
"""Subscription fields whose stream is a sequence of events with no initial result."""

LIVE_FIELDS = frozenset({"liveSittings"})
"""Live queries: each result is the whole current state, the first one at once."""


class SharingKey(NamedTuple):
    """What makes two subscriptions identical; ``replay``: a joiner gets the latest result at once (a live query)."""

    query: str
    operation_name: str | None
    variables: str
    role: Any
    organisation_id: int | None
    test_taker_id: int | None
    replay: bool


def sharing_key(
    query: str, operation_name: str | None, variables: dict[str, Any] | None, principal: Principal | None
) -> SharingKey | None:
    """What makes two subscriptions identical, or None when this one is not shared.

    Shared: an authenticated subscription whose text parses (and is cached,
    :func:`gql.documents.shared_document`), whose operation is a subscription
    selecting only :data:`EVENT_FIELDS` or only :data:`LIVE_FIELDS`, with JSON
    variables. The key is the text, the operation name, the variables
    (canonical JSON) and the viewer scope (role, organisation, test taker).
    """
    if principal is None:
        return None
    document = shared_document(query)
    if document is None:
        return None
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and (operation_name is None or (definition.name is not None and definition.name.value == operation_name))
    ]
    if len(operations) != 1 or operations[0].operation is not OperationType.SUBSCRIPTION:
        return None
    selections = operations[0].selection_set.selections
    if not selections or not all(isinstance(s, FieldNode) for s in selections):
        return None
    fields = {selection.name.value for selection in selections}
    if fields <= EVENT_FIELDS:
        replay = False
    elif fields <= LIVE_FIELDS:
        replay = True
    else:
        return None
    try:
        variables_key = json.dumps(variables, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return SharingKey(
        query, operation_name, variables_key, principal.role, principal.organisation_id, principal.test_taker_id, replay
    )


class Member:
    """One subscription (a graphql-transport-ws operation of one connection) served by a :class:`SharedStream`."""

    __slots__ = ("handler", "operation", "done", "prefix")

    def __init__(self, handler: Any, operation: Any):
        self.handler = handler
        self.operation = operation
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # The member's own part of every ``next`` message: its operation id.
        self.prefix = f'{{"id":{json.dumps(operation.id)},"type":"next","payload":{{"data":'

    def end(self, error: BaseException | None = None) -> None:
        if not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)


class SharedStream:
    """One strawberry subscription stream serving every member with the same :func:`sharing_key`."""

    def __init__(self, streams: SharedStreams, key: SharingKey, operation: Any, context: Context):
        self.streams = streams
        self.key = key
        self.latest: str | None = None  # the last result's encoded data, replayed to joiners of a live query
        self.query = operation.query
        self.variables = operation.variables
        self.operation_name = operation.operation_name
        self.context = context
        self.members: dict[Member, None] = {}  # insertion-ordered set
        self.consumers = Consumers(0)
        self.task: asyncio.Task | None = None

    def join(self, member: Member) -> None:
        if self.latest is not None:
            member.handler.send_next_now(member, self.latest)
        self.members[member] = None
        self.consumers.count = len(self.members)
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name="certify-shared-stream")

    def leave(self, member: Member) -> None:
        self.members.pop(member, None)
        self.consumers.count = len(self.members)
        if not self.members:
            self.streams.forget(self)
            if self.task is not None:
                self.task.cancel()

    async def _run(self) -> None:
        with consumed_by(self.consumers):
            try:
                source = await self.streams.schema.stream(
                    self.query,
                    variable_values=self.variables,
                    context_value=self.context,
                    root_value=None,
                    operation_name=self.operation_name,
                )
                async with aclosing(source):
                    first = True
                    async for result in source:
                        await self._deliver(result, first)
                        first = False
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - as strawberry does for one operation: log, then complete
                log.exception("shared subscription stream failed", exc_info=error)
            finally:
                self.streams.forget(self)
                for member in list(self.members):
                    member.end()

    async def _deliver(self, result: Any, first: bool) -> None:
        data = getattr(result, "data", None)
        if (
            isinstance(result, ExecutionResult)
            and not isinstance(result, PreExecutionError)
            and not result.errors
            and not result.extensions
            and isinstance(data, dict)
        ):
            encoded = data.encoded if type(data) is SharedData else None
            if encoded is None:
                encoded = self.streams.encode(data)
                if type(data) is SharedData:
                    data.encoded = encoded
            if self.key.replay:
                self.latest = encoded
            for member in list(self.members):
                member.handler.send_next_now(member, encoded)
            return
        # Errors and anything unusual: each member through strawberry's own per-operation path.
        self.streams.forget(self)
        await asyncio.gather(*(self._deliver_one(member, result, first) for member in list(self.members)))

    @staticmethod
    async def _deliver_one(member: Member, result: Any, first: bool) -> None:
        try:
            going_on = await member.handler.deliver_result(member.operation, result, first)
        except Exception as error:  # noqa: BLE001 - that member's operation ends with it
            member.end(error)
            return
        if not going_on or member.operation.completed:
            member.end()


class SharedStreams:
    """The shared streams of one process, by :func:`sharing_key` (``AppState.shared_streams``, made by the lifespan).

    Args:
        schema: the strawberry schema the streams run.
        encode: JSON-encodes a result's ``data`` (the view's ``encode_json_string``).
    """

    def __init__(self, schema: Any, encode: Any):
        self.schema = schema
        self.encode = encode
        self._streams: dict[SharingKey, SharedStream] = {}

    def member_counts(self) -> list[int]:
        """The number of members of each open stream, smallest first (for tests and diagnostics)."""
        return sorted(len(stream.members) for stream in self._streams.values())

    def __len__(self) -> int:
        return len(self._streams)

    async def follow(self, key: SharingKey, handler: Any, operation: Any, principal: Principal) -> None:
        """Serve ``operation`` from the shared stream of ``key`` until that stream ends.

        Cancel the calling task to leave (the operation was completed or its
        connection closed). Raises what delivering an error result to this
        member raised (e.g. the connection was closed for a bad document).
        """
        stream = self._streams.get(key)
        if stream is None:
            context = Context(state=handler.context.state, loaders=Loaders(), principal=principal)
            stream = self._streams[key] = SharedStream(self, key, operation, context)
        member = Member(handler, operation)
        stream.join(member)
        try:
            await member.done
        finally:
            stream.leave(member)

    def forget(self, stream: SharedStream) -> None:
        """Take no new members into ``stream`` (it is ending, or has sent an error)."""
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
