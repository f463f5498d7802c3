"""One execution of a subscription event for every stream whose result for it must be the same.

Two thousand dashboards with 200 different filters on one ``sittingStatusChanged``
document run 200 shared streams (:mod:`server.multiplex`): the filter decides
which events reach a stream, but an event that reaches several of them is
executed against the same selection, as the same viewer scope, with the same
source objects. graphql-core executes the root field of each event with the
event itself (strawberry's per-event resolver ignores the root field's
arguments), so the root field's arguments cannot change the result: only the
variables used anywhere else in the operation can.

:func:`event_key_of` gives what identifies such an execution; the executor
(:class:`server.strawberry_internals.ExecutionContext`) keeps each result in
the ``shared_executions`` dict an event carries (one per published message,
gone with it) under ``(event.source_key, key)``, and every later stream with
the same key takes that result instead of executing again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import Counter
from collections.abc import Hashable
from typing import Any

from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, OperationType, VariableNode

from resolvers.access import viewer_scope
from server.strawberry_internals import ExecutionContext

_STREAMS: Counter[Hashable] = Counter()
"""Event key → the live subscriptions (graphql-core executors) that have it."""
log = logging.getLogger(__name__)


def _variables_in(node: Any, found: set[str]) -> set[str]:
    """Add the names of the variables ``node`` (an AST node, a list or tuple of them, or None) uses to ``found``."""
    if node is None:
        return found
    if isinstance(node, (list, tuple)):
        for child in node:
            _variables_in(child, found)
    elif isinstance(node, VariableNode):
        found.add(node.name.value)
    else:
        for attribute in ("arguments", "directives", "selection_set", "selections", "value", "values", "fields"):
            child = getattr(node, attribute, None)
            if child is not None and not isinstance(child, str):
                _variables_in(child, found)
    return found


_NAMES: dict[tuple[str, str | None], tuple[str, ...] | None] = {}
"""Document text and operation name → :func:`_beyond_roots` (a document's streams ask once)."""


def _beyond_roots(
    operation: OperationDefinitionNode, fragments: list[FragmentDefinitionNode]
) -> tuple[str, ...] | None:
    """The variables ``operation`` uses outside its root fields' arguments, sorted; None: a root is not a field."""
    roots = operation.selection_set.selections
    if not all(isinstance(root, FieldNode) for root in roots):
        return None
    found = _variables_in([operation.directives, *fragments], set())
    for root in roots:
        _variables_in([root.directives, root.selection_set], found)
    return tuple(sorted(found))


def event_key_of(executor: Any) -> Hashable | None:
    """What makes two streams' executions of one event the same, or None when they are not shared.

    ``executor``: graphql-core's executor of a subscription operation, whose
    ``context_value`` is a :class:`gql.context.Context`. The key is the
    document's text and operation name, the viewer scope
    (:func:`resolvers.access.viewer_scope`: on it alone what a viewer may read
    depends, docs/RULES.md, "Who sees what") and the values of the variables
    used outside the root fields' arguments (in their selections, in
    directives, in fragments). None: no viewer, a document without its text,
    a root selection that is not a field, or variables that are not JSON.
    """
    operation = executor.operation
    principal = getattr(executor.context_value, "principal", None)
    if principal is None or operation.loc is None:
        return None
    name = operation.name.value if operation.name else None
    text = operation.loc.source.body
    if (text, name) not in _NAMES:
        if len(_NAMES) >= 4096:
            _NAMES.clear()
        _NAMES[text, name] = _beyond_roots(operation, list(executor.fragment_definitions.values()))
    names = _NAMES[text, name]
    if names is None:
        return None
    coerced = executor.variable_values.coerced
    try:
        values = json.dumps({name: coerced.get(name) for name in names}, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    return (text, name, values, viewer_scope(principal))


class SharingExecutionContext(ExecutionContext):
    """The server's executor, executing an event once for every stream with the same :func:`event_key_of`.

    An event opts in by carrying ``shared_executions`` (a dict living as long as
    its message) and ``source_key`` (what identifies its source objects in
    it). The first stream to execute it stores the result there, or a future
    of it while its own execution awaits; the others take it (a shielded
    wait: a waiting stream that is cancelled cancels no one's execution, and
    one whose owner was cancelled executes the event itself).
    """

    _event_key: Hashable | None = None
    _shared_execution: tuple[dict, Hashable] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Counted from the start, so that the first event already finds every stream that can share it.
        if self.operation.operation is OperationType.SUBSCRIPTION:
            self._event_key = self._keyed()

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executions = getattr(payload, "shared_executions", None)
        # Only a key that another live subscription has too is worth a lookup and a stored result.
        if executions is not None and self._event_key is not None and _STREAMS[self._event_key] > 1:
            executor._shared_execution = (executions, (payload.source_key, self._event_key))
        return executor

    def _keyed(self) -> Hashable | None:
        """This subscription's :func:`event_key_of`, counted in ``_STREAMS`` while the subscription lives."""
        try:
            key = event_key_of(self)
        except Exception:  # sharing is an optimisation: without a key the stream executes alone
            log.exception("subscription events are executed per stream: no sharing key")
            return None
        if key is not None:
            _STREAMS[key] += 1
            weakref.finalize(self, _forget, key)
        return key

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self._shared_execution is None:
            return super().execute_operation(serially)
        executions, key = self._shared_execution
        found = executions.get(key)
        if found is None:
            result = super().execute_operation(serially)
            if not self.is_awaitable(result):
                executions[key] = result
                return result
            future = executions[key] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieved)
            return _owning(result, future)
        if not isinstance(found, asyncio.Future):
            return found
        if found.done() and not found.cancelled():
            return found.result()
        return self._waiting(found, serially)

    async def _waiting(self, future: asyncio.Future, serially: bool | None) -> Any:
        """The result another stream is computing; this stream's own if that one was cancelled first."""
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # this stream itself is being cancelled
                raise
        result = ExecutionContext.execute_operation(self, serially)
        return await result if self.is_awaitable(result) else result


async def _owning(result: Any, future: asyncio.Future) -> Any:
    """Await the execution ``result`` in the stream that started it (no task of its own) and hand it on."""
    try:
        completed = await result
    except asyncio.CancelledError:
        future.cancel()
        raise
    except BaseException as error:
        future.set_exception(error)
        raise
    future.set_result(completed)
    return completed


def _forget(key: Hashable) -> None:
    _STREAMS[key] -= 1
    if _STREAMS[key] <= 0:
        del _STREAMS[key]


def _retrieved(future: asyncio.Future) -> None:
    """Mark a shared execution's failure as seen: the stream that ran it reports it, waiters or not."""
    if not future.cancelled():
        future.exception()
