"""Shared streams: identical subscriptions run once per process, and each result is written to all of them.

Two thousand dashboards of one organisation subscribed to the same
``sittingStatusChanged`` document with the same variables receive the same
payloads: what a viewer may read depends only on its role, organisation and
test taker (docs/RULES.md, "Who sees what"). So the first graphql-transport-ws
subscription of a given (document, operation name, variables, viewer scope)
starts a :class:`SharedStream` that runs strawberry's subscription once, and
every later identical subscription joins it as a member. Each result is
encoded once and written to every member's connection in one loop, without a
task switch per member (:meth:`server.websockets.TransportWSHandler.send_next_now`).
Measured in BENCHMARKS.md, "fan-out"; what it saves: docs/ARCHITECTURE.md, "Fan-out".

What a member sees is what a subscription of its own would send:
- event subscriptions (:attr:`gql.realtime.Sharing.EVENTS`): a member that joins receives the
  events published from then on, as it would alone;
- live queries (:attr:`gql.realtime.Sharing.LIVE`): a member that joins a stream that has
  already sent a page reads its own first page at once (a page can hold
  values no event refreshes, such as signed URLs that expire), then gets
  the newest of the pages the stream pushed meanwhile, and every page after;
- a result with errors (a broken event stream, a validation error) goes to
  each member through the usual per-operation path, in the member's own task,
  so a member whose client reads slowly holds up no one; the stream then
  takes no new members;
- when the stream ends, every member gets ``complete``; when the last member
  leaves (``complete``, close, dropped connection), the stream is cancelled and
  its channel released at once.

A member's results go straight to its connection while it has nothing else
in hand; while it does (an error result being sent, its own first page),
they wait in the member's queue, in order.

The hub counts a stream's members as its subscribers
(:class:`subscriptions.hub.Consumers`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Mapping
from contextlib import aclosing
from typing import Any, NamedTuple

from graphql import FieldNode, OperationDefinitionNode, OperationType

from gql.context import Context
from gql.loaders import Loaders
from gql.realtime import Sharing, sharing_of
from resolvers.access import viewer_scope
from resolvers.principal import Principal
from server.cost import find_operation, operation_cost
from server.documents import shared_document
from server.strawberry_internals import graphql_schema_of, is_plain_result
from subscriptions.hub import Consumers, consumed_by

log = logging.getLogger(__name__)

class SharingKey(NamedTuple):
    """What makes two subscriptions identical; ``replay``: a joiner reads its own first result (a live query)."""

    query: str
    operation_name: str | None
    variables: str
    scope: tuple[Any, int | None, int | None]
    replay: bool


def sharing_key(
    query: str,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    principal: Principal | None,
    sharing: Mapping[str, Sharing],
) -> SharingKey | None:
    """What makes two subscriptions identical, or None when this one is not shared.

    Shared: an authenticated subscription whose text parses (and is cached,
    :func:`server.documents.shared_document`), whose operation is a subscription
    selecting only fields of one kind in ``sharing`` (the schema's, from
    :func:`gql.realtime.sharing_of`), with JSON variables. The key is the
    text, the operation name, the variables (canonical JSON) and the viewer
    scope (:func:`resolvers.access.viewer_scope`: role, organisation, test
    taker), on which alone what a viewer may read depends (docs/RULES.md,
    "Who sees what").
    """
    if principal is None or not isinstance(query, str):
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
    kinds = {sharing.get(selection.name.value) for selection in selections}
    if len(kinds) != 1 or None in kinds:
        return None
    replay = kinds == {Sharing.LIVE}
    try:
        variables_key = json.dumps(variables, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return SharingKey(
        query, operation_name, variables_key, viewer_scope(principal), replay
    )


_END = object()


class Member:
    """One subscription (a graphql-transport-ws operation of one connection) served by a :class:`SharedStream`.

    Results reach it in two ways: :meth:`SharedStream._deliver` writes a
    successful result straight to the connection while :attr:`queue` is None;
    anything else (an error result, the end of the stream, and any result
    arriving while such an item waits) is queued and handled in order by
    :meth:`serve`, in the member's own task.
    """

    __slots__ = ("handler", "operation", "prefix", "queue", "_wakeup")

    def __init__(self, handler: Any, operation: Any):
        self.handler = handler
        self.operation = operation
        # The member's own part of every ``next`` message: its operation id.
        self.prefix = f'{{"id":{json.dumps(operation.id)},"type":"next","payload":{{"data":'
        self.queue: deque[tuple[Any, ...]] | None = None
        self._wakeup: asyncio.Future[None] | None = None

    def send(self, encoded: str) -> None:
        """A successful result (``encoded``: its ``data`` as JSON): written now, or queued behind what waits."""
        if self.queue is None:
            self.handler.send_next_now(self, encoded)
        else:
            self.push(("frame", encoded))

    def push(self, item: tuple[Any, ...]) -> None:
        if self.queue is None:
            self.queue = deque()
        self.queue.append(item)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def serve(self) -> None:
        """Handle queued items until the stream ends or this operation is over; raises what delivering raised."""
        while True:
            if not self.queue:
                self.queue = None  # back to direct writes
                self._wakeup = asyncio.get_running_loop().create_future()
                await self._wakeup
                continue
            kind, *args = self.queue[0]
            if kind == "frame":
                self.handler.send_next_now(self, args[0])
            elif kind == "result":
                result, first = args
                if not await self.handler.deliver_result(self.operation, result, first) or self.operation.completed:
                    return
            elif kind == "page":
                if not await self._own_first_page(*args) or self.operation.completed:
                    return
                self.queue.popleft()
                self._keep_newest_page()
                continue
            else:  # the end of the stream
                return
            self.queue.popleft()

    def _keep_newest_page(self) -> None:
        """Of the shared pages that queued behind the member's own first page, keep only the newest.

        Some of them may have been read before the member's own page, and would
        show the page going back in time. The newest is enough: each page is
        the whole current state, and if it too is older than the member's own
        page, a change happened after it was read, so the stream pushes again.
        """
        queue = self.queue
        newest = None
        while queue and queue[0][0] == "frame":
            newest = queue.popleft()
        if newest is not None:
            queue.appendleft(newest)

    async def _own_first_page(self, stream: SharedStream) -> bool:
        """Read and send this member's own first page of a live query (a short-lived stream of its own).

        False when the member is done: the page was an error (as a subscription of
        its own, it then completes) or no page came.
        """
        with consumed_by(Consumers(0)):  # the member is already counted in its shared stream
            source = await stream.open(stream.new_context())
            async with aclosing(source):
                async for result in source:
                    going_on = await self.handler.deliver_result(self.operation, result, True)
                    return going_on and not getattr(result, "errors", None)
        return False


class SharedStream:
    """One strawberry subscription stream serving every member with the same :func:`sharing_key`."""

    def __init__(self, streams: SharedStreams, key: SharingKey, operation: Any, state: Any, principal: Principal):
        self.streams = streams
        self.key = key
        self.query = operation.query
        self.variables = operation.variables
        self.operation_name = operation.operation_name
        self.state = state
        self.principal = principal
        self.context = self.new_context()
        self.members: dict[Member, None] = {}  # insertion-ordered set
        self.consumers = Consumers(0)
        self.task: asyncio.Task | None = None
        self.results_sent = 0
        # A live query's last page pushed to every member: the same page again is not pushed (None: push it).
        self.last_page: str | None = None

    def new_context(self) -> Context:
        """A context for one more execution of this stream's document, as its viewer.

        Each member paid its subscription's cost when it subscribed (:meth:`SharedStreams.cost_of`).
        """
        return Context(state=self.state, loaders=Loaders(), principal=self.principal, prepaid=True)

    async def open(self, context: Context) -> Any:
        """A new strawberry result stream of this stream's document, variables and operation."""
        return await self.streams.schema.stream(
            self.query,
            variable_values=self.variables,
            context_value=context,
            root_value=None,
            operation_name=self.operation_name,
        )

    def join(self, member: Member) -> None:
        if self.key.replay and self.results_sent:
            member.push(("page", self))
        self.last_page = None  # the joiner's own first page may differ from the last one pushed
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
                source = await self.open(self.context)
                async with aclosing(source):
                    async for result in source:
                        self._deliver(result)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - as strawberry does for one operation: log, then complete
                log.exception("shared subscription stream failed", exc_info=error)
            finally:
                self.streams.forget(self)
                for member in list(self.members):
                    member.push((_END,))

    def _deliver(self, result: Any) -> None:
        first = not self.results_sent
        if is_plain_result(result):
            encoded = self.streams.encode(result.data)
            if self.key.replay:
                if encoded == self.last_page:
                    return  # a re-read after changes that left this page as every member has it
                self.last_page = encoded
            self.results_sent += 1
            for member in list(self.members):
                member.send(encoded)
            return
        # Errors and anything unusual: each member through strawberry's own per-operation path, in its own task.
        self.results_sent += 1
        self.streams.forget(self)
        for member in list(self.members):
            member.push(("result", result, first))


class SharedStreams:
    """The shared streams of one process, by :func:`sharing_key` (``AppState.shared_streams``, made by the lifespan).

    Args:
        schema: the strawberry schema the streams run.
        encode: JSON-encodes a result's ``data`` (the view's ``encode_json_string``).
    """

    def __init__(self, schema: Any, encode: Any):
        self.schema = schema
        self.encode = encode
        self.sharing = sharing_of(schema)
        self._streams: dict[SharingKey, SharedStream] = {}

    def key_for(self, operation: Any, principal: Principal | None) -> SharingKey | None:
        """The :func:`sharing_key` of a graphql-transport-ws ``operation`` under this schema, or None."""
        return sharing_key(operation.query, operation.operation_name, operation.variables, principal, self.sharing)

    def cost_of(self, operation: Any) -> int:
        """The cost (:mod:`server.cost`) of a shareable ``operation``, whose document :func:`sharing_key` parsed."""
        document = shared_document(operation.query)
        chosen = find_operation(document, operation.operation_name)
        return operation_cost(graphql_schema_of(self.schema), document, chosen, operation.variables)

    def member_counts(self) -> list[int]:
        """The number of members of each open stream, smallest first (for tests and diagnostics)."""
        return sorted(len(stream.members) for stream in self._streams.values())

    async def follow(self, key: SharingKey, handler: Any, operation: Any, principal: Principal) -> None:
        """Serve ``operation`` from the shared stream of ``key`` until that stream ends.

        Cancel the calling task to leave (the operation was completed or its
        connection closed). Raises what delivering an error result to this
        member raised (e.g. the connection was closed for a bad document).
        """
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = SharedStream(self, key, operation, handler.context.state, principal)
        member = Member(handler, operation)
        stream.join(member)
        try:
            await member.serve()
        finally:
            stream.leave(member)

    def forget(self, stream: SharedStream) -> None:
        """Take no new members into ``stream`` (it is ending, or has sent an error)."""
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
