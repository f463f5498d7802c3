"""Every use of strawberry's non-public API, in one module (strawberry-graphql 0.341.x).

The websocket handlers (:mod:`server.websockets`) and the document limits
(:mod:`server.documents`) need a few things strawberry does not document:

- its protocol handler base classes and their ``Operation``, and the
  exception that ends an operation whose socket was closed;
- the step that sends one result of an operation's stream
  (``_send_result_stream`` and the two private methods it calls), which
  :class:`TransportWSBase` exposes as :meth:`TransportWSBase.deliver_result`,
  so a shared stream (:mod:`server.multiplex`) can hand a result to one
  member exactly as strawberry would;
- the connection-init timeout task, which strawberry keeps after
  cancelling it;
- the validator factories behind ``QueryDepthLimiter`` and
  ``MaxAliasesLimiter``, so the rules are built once per process instead of
  once per operation, and the ``ExecutionContext`` fields an extension sets
  before parsing and validation (``parse_options``, ``graphql_document``,
  ``validation_rules``, used by :class:`server.documents.DocumentLimits`);
- the graphql-core schema behind a strawberry schema (``Schema._schema``),
  which the cost rule walks (:func:`graphql_schema_of`);
- the operation name the client sent (``ExecutionContext._provided_operation_name``):
  strawberry's ``operation_name`` falls back to the document's first operation,
  which the GraphQL spec forbids when there are several (:func:`provided_operation_name`);
- the exception strawberry raises for an operation name that names nothing
  (``CannotGetOperationTypeError``), answered as ``OPERATION_RESOLUTION_FAILURE``;
- the GraphiQL page strawberry serves (``get_graphql_ide_html``), whose CDN
  addresses :mod:`server.graphiql` replaces with local copies;
- how strawberry writes an origin to compare with ``allowed_origins``
  (``normalize_origin``), so the public URL is allowed in that form
  (:func:`websocket_origin_of`);
- the Starlette request behind strawberry's request adapter (cross_web's
  ``StarletteRequestAdapter._request``), so uploads are parsed with bounds on
  their parts (:func:`starlette_request_of`);
- strawberry's execution context class (``StrawberryGraphQLCoreExecutionContext``)
  and graphql-core's sub-field memo inside it (``Executor._relevant_sub_fields``),
  which :class:`ExecutionContext` keys by the document's nodes.

``tests/test_strawberry_internals.py`` checks each of these names and
signatures against the installed strawberry, so an upgrade that changes one
fails there, loudly, before anything subtler breaks.
"""

from __future__ import annotations

from dataclasses import MISSING
from enum import Enum
from typing import Any

from graphql import GraphQLInputObjectType, GraphQLNonNull, Undefined, is_leaf_type
from graphql.execution.collect_fields import collect_subfields
from starlette.requests import Request
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.extensions.max_aliases import create_validator as alias_limit_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit_rule
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.http.ides import get_graphql_ide_html
from strawberry.http.websocket_origin import normalize_origin
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    _OperationStreamClosed as OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryMaybe, StrawberryOptional, has_object_definition
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UnsetType

SUPPORTED_VERSIONS = ">=0.341,<0.342"
"""The strawberry-graphql versions this module is written against (pyproject.toml pins the same)."""


class TransportWSBase(BaseGraphQLTransportWSHandler):
    """strawberry's graphql-transport-ws handler with its private per-result step made a named hook."""

    async def _send_result_stream(self, operation: Operation, result_source: Any) -> None:
        # As strawberry's own, one result at a time through deliver_result.
        first = True
        async for result in result_source:
            if not await self.deliver_result(operation, result, first):
                return
            first = False

    async def deliver_result(self, operation: Operation, result: Any, first: bool) -> bool:
        """Send one result of ``operation``'s stream as strawberry would; False when the stream must stop there.

        Raises:
            OperationStreamClosed: a pre-execution error closed the socket (4400).
        """
        if first and isinstance(result, PreExecutionError):
            await self._handle_pre_execution_error(operation, result)
            return False
        if not isinstance(result, ExecutionResult):
            await self._reject_incremental_delivery(operation)
            return False
        await operation.send_next(result)
        return True

    def forget_init_timeout(self) -> None:
        """Drop the cancelled connection-init timeout task, which would otherwise keep its traceback and frames."""
        self.connection_init_timeout_task = None

    def is_current(self, operation: Operation) -> bool:
        """Whether ``operation`` is still this connection's live operation of its id (not completed, id not reused)."""
        return not operation.completed and self.operations.get(operation.id) is operation


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context with graphql-core's sub-field memo keyed by field nodes, not by list identity.

    graphql-core 3.3 memoizes the sub-fields of a field list by the list's
    identity, and a subscription's per-event executors (shallow copies) share
    the memo while each event collects new lists: every event of every
    subscription missed it (≈ 18 % of a fan-out to 2,000 different documents)
    and added entries kept for the subscription's life. The nodes belong to
    the one parsed document, so keyed by them every event after the first
    finds its sub-fields. Fields under ``@defer`` or with fragment variables
    keep graphql-core's own memo.

    A field that strawberry resolves by reading an attribute (no resolver, no
    arguments) and whose type is a scalar or an enum is read and serialized
    here, without graphql-core's resolve info and value completion: a 50-row
    page of sittings has about 550 such fields. Anything else, and any such
    value that is null where the type forbids it, an exception, an awaitable,
    or one its scalar refuses, takes graphql-core's own path, which raises the
    same error it always did.
    """

    def execute_field(
        self, parent_type: Any, source: Any, field_details_list: Any, path: Any, position_context: Any
    ) -> Any:
        node = field_details_list[0].node
        plan = None if node.arguments else _leaf_plan(parent_type, node.name.value)
        if plan is not None and not (self.middleware_manager and self.middleware_manager.middlewares):
            resolve, leaf, nullable = plan
            try:
                value = resolve(source, None)
                if value is None:
                    if nullable:
                        return None
                elif not isinstance(value, Exception) and not self.is_awaitable(value):
                    coerced = leaf.coerce_output_value(value)
                    if coerced is not None and coerced is not Undefined:
                        return coerced
            except Exception:  # noqa: BLE001, S110 - graphql-core's path below raises and locates it
                pass
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def collect_subfields(self, return_type: Any, field_details_list: Any) -> Any:
        if any(d.defer_usage is not None or d.fragment_variable_values is not None for d in field_details_list):
            return super().collect_subfields(return_type, field_details_list)
        key = (return_type, *[id(d.node) for d in field_details_list])
        memo = self._relevant_sub_fields
        cached = memo.get(key)
        if cached is None:
            collected = collect_subfields(
                self.schema, self.fragments, self.variable_values, self.operation, return_type,
                field_details_list, self.hide_suggestions,
            )  # fmt: skip
            cached = memo[key] = (field_details_list, collected)  # the list keeps the nodes, so their ids, alive
        return cached[1]


_LEAF_PLANS: dict[tuple[Any, str], tuple[Any, Any, bool] | None] = {}
"""(object type, field name) → (resolver, scalar or enum type, nullable) of a plain leaf field, or None."""


def _leaf_plan(parent_type: Any, field_name: str) -> tuple[Any, Any, bool] | None:
    """How :meth:`ExecutionContext.execute_field` reads ``parent_type.field_name``; None: graphql-core's way.

    A plain leaf is a field strawberry resolves without a resolver of ours
    (its resolver is marked ``_is_default``), without arguments, of a scalar or
    enum type, nullable or not.
    """
    key = (parent_type, field_name)
    if key in _LEAF_PLANS:
        return _LEAF_PLANS[key]
    field = parent_type.fields.get(field_name)
    plan = None
    if field is not None and not field.args and getattr(field.resolve, "_is_default", False):
        nullable = not isinstance(field.type, GraphQLNonNull)
        leaf = field.type if nullable else field.type.of_type
        if is_leaf_type(leaf):
            plan = (field.resolve, leaf, nullable)
    _LEAF_PLANS[key] = plan
    return plan


def inputs_built_once(schema: Any) -> Any:
    """Every ``strawberry.input`` of ``schema`` built from its GraphQL value by a plan made on first use.

    strawberry's own conversion resolves each field's GraphQL name and type
    again for every value: of a ``recordSittings`` batch of 1,000 rows that was
    a third of the server's time. The plan keeps, per field, its GraphQL name,
    its Python name and whether the value passes unchanged (a scalar or an
    enum, or an optional one: graphql-core has already parsed it, and
    strawberry passes it on as it is); any other field (a list, a nested
    input, a ``Maybe``, a GlobalID) is converted by strawberry itself
    (``InputContext.convert``). Fields left out get None unless they have a
    default, as strawberry does. An input that already has a ``from_input``
    keeps it. Returns ``schema`` (a strawberry ``Schema``).
    """
    for graphql_type in graphql_schema_of(schema).type_map.values():
        definition = getattr(graphql_type, "extensions", {}).get("strawberry-definition")
        if (
            isinstance(graphql_type, GraphQLInputObjectType)
            and definition is not None
            and definition.from_input is None
        ):
            definition.from_input = _built_once(definition)
    return schema


def _built_once(definition: Any) -> Any:
    """The ``from_input`` hook of one input type (:func:`inputs_built_once`)."""
    plans: list[tuple[dict[str, Any], list[tuple[str, str, Any]]]] = []

    def from_input(type_: type, value: Any, context: InputContext) -> Any:
        if not plans:
            plans.append(_input_plan(definition, context))
        nones, fields = plans[0]
        kwargs = dict(nones)
        for graphql_name, python_name, field_type in fields:
            if graphql_name in value:
                item = value[graphql_name]
                kwargs[python_name] = item if field_type is None else context.convert(item, field_type, graphql_name)
        return type_(**kwargs)

    return from_input


def _input_plan(definition: Any, context: InputContext) -> tuple[dict[str, Any], list[tuple[str, str, Any]]]:
    """(defaults of None, [(GraphQL name, Python name, type to convert or None: unchanged)]) of an input type."""
    nones = {
        f.python_name: None for f in definition.fields if f.default_value is MISSING and f.default_factory is MISSING
    }
    fields = []
    for field in definition.fields:
        field_type = field.resolve_type(type_definition=definition)
        plain = field_type
        if isinstance(plain, StrawberryOptional) and not isinstance(plain, StrawberryMaybe):
            plain = plain.of_type
        unchanged = not isinstance(plain, StrawberryOptional) and (
            isinstance(plain, StrawberryEnumDefinition)
            or (isinstance(plain, type) and issubclass(plain, Enum) and not has_object_definition(plain))
            or (plain in context.scalar_registry and plain.__name__ != "GlobalID")
        )
        fields.append(
            (context.config.name_converter.from_field(field), field.python_name, None if unchanged else field_type)
        )
    return nones, fields


def provided_operation_name(execution_context: Any) -> str | None:
    """The ``operationName`` of the request itself, None when the client sent none."""
    return execution_context._provided_operation_name


def graphql_schema_of(schema: Any) -> Any:
    """The graphql-core ``GraphQLSchema`` a strawberry ``Schema`` executes."""
    return schema._schema


def starlette_request_of(request: Any) -> Request | None:
    """The Starlette ``Request`` inside strawberry's request adapter, None for any other adapter."""
    inner = getattr(request, "_request", None)
    return inner if isinstance(inner, Request) else None


def is_plain_result(result: Any) -> bool:
    """Whether ``result`` is an ordinary execution result with data and no errors or extensions."""
    return (
        isinstance(result, ExecutionResult)
        and not isinstance(result, PreExecutionError)
        and not result.errors
        and not result.extensions
        and isinstance(result.data, dict)
    )


__all__ = [
    "SUPPORTED_VERSIONS",
    "ASGIWebSocketAdapter",
    "BaseGraphQLWSHandler",
    "CannotGetOperationTypeError",
    "ExecutionContext",
    "NonJsonMessageReceived",
    "NonTextMessageReceived",
    "Operation",
    "OperationStreamClosed",
    "TransportWSBase",
    "UnsetType",
    "WebSocketDisconnected",
    "alias_limit_rule",
    "depth_limit_rule",
    "get_graphql_ide_html",
    "graphql_schema_of",
    "is_plain_result",
    "provided_operation_name",
    "starlette_request_of",
]


def websocket_origin_of(url: str) -> str:
    """The origin of ``url`` (``scheme://host[:port]``, lower case, no default port), as strawberry compares
    websocket ``Origin`` headers with ``allowed_origins``; ``url`` itself when it has none."""
    return normalize_origin(url) or url
