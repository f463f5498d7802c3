"""What a document may ask before it runs: its size and shape, its cost and its caller's budget.

Every operation, over HTTP or a websocket, passes these steps in order, each
refusing with an ``extensions.code`` and doing no work (docs/RULES.md, "Limits"):

1. a text longer than the tier's characters is not parsed, and parsing stops at the tier's
   token limit (both ``GRAPHQL_PARSE_FAILED``);
2. the operation to run is named, or is the only one (``OPERATION_RESOLUTION_FAILURE``);
3. the variables hold at most the tier's number of values (``BAD_USER_INPUT``: graphql-core
   coerces each one before anything runs); the shape, checked in one pass that costs no more
   than reading the document:
   fields after spreading every fragment, the same response name repeated in one
   selection set (graphql-core's overlapping-fields rule is quadratic in those),
   fragment spreads in one selection set (``GRAPHQL_VALIDATION_FAILED``);
4. the cost by :mod:`server.cost`: a page size no connection accepts is
   ``BAD_USER_INPUT``, a cost over the tier's budget ``MAX_COST_EXCEEDED``;
5. full validation, with the depth and alias limits (once per shared document and tier: ``_VALIDATED``);
6. the caller's budget of points per minute (:mod:`server.rate_limits`): ``THROTTLED``,
   with ``extensions.retryAfter`` seconds and, over HTTP, status 429 and ``Retry-After``.

Anonymous callers (only ``verifyCertificate`` admits them) get the tighter tier;
the tiers and the checks that only read the document are in :mod:`server.tiers`.
Every result of a query or mutation, and a refused subscription, carries
``extensions.cost``: ``{"requested": n, "limit": m}``.

Parsed documents are shared: every open subscription keeps its parsed document
for as long as it lives (≈ 5.5 KiB for a dashboard's ``sittingStatusChanged``),
so :func:`shared_document` parses each distinct short text once and hands every
request the same tree (graphql-core never mutates a parsed document); a text
that does not parse is left to strawberry's own parsing, so its error keeps its
usual ``GRAPHQL_PARSE_FAILED`` code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import lru_cache

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from resolvers import access
from server.cost import Cost, CostError, find_operation, operation_cost
from server.rate_limits import Throttled
from server.strawberry_internals import graphql_schema_of, provided_operation_name
from server.tiers import (
    ANONYMOUS,
    AUTHENTICATED,
    MAX_TOKENS,
    Tier,
    check_shape,
    check_variables,
    limit_error,
    root_field_names,
)

CACHED_DOCUMENTS = 128
# Only short texts are cached, so distinct documents sent to fill the cache hold at most
# ≈ 128 × 4,096 characters' worth of syntax trees (≈ 60 bytes of tree per character).
MAX_CACHED_CHARS = 4096


@lru_cache(maxsize=CACHED_DOCUMENTS)
def _parse_shared(query: str) -> DocumentNode:
    return parse(query, max_tokens=MAX_TOKENS)


def shared_document(query: str | None) -> DocumentNode | None:
    """The one parsed document of ``query``, or None when it is not cached (too long, empty, or not parsable)."""
    if not query or len(query) > MAX_CACHED_CHARS:
        return None
    try:
        return _parse_shared(query)
    except GraphQLError:  # not cached: strawberry parses it again and reports the error
        return None


_PLACEHOLDER = parse("{ __typename }")
_VALIDATED: dict[tuple[str, int, int], DocumentNode] = {}
"""Shared documents (by text and the tier's depth and alias limits) that passed full validation.

Validation reads only the schema, the document and the rules, so a shared document that passed once
passes again: graphql-core's validation was a fifth of the server's CPU for a 50-row dashboard page.
Steps 1–4 and 6 still run for every operation (the cost depends on the variables)."""


def principal_key(context) -> str:
    """Whose budget an operation spends: the token's role and subject, or the client's address."""
    principal = context.principal
    if principal is not None:
        return f"principal:{principal.role.value}:{principal.subject}"
    client = getattr(context.request, "client", None)
    return f"address:{client.host if client else 'unknown'}"


class DocumentLimits(SchemaExtension):
    """Steps 1–6 of the module, as hooks that end with parsing, validation and the start of execution.

    Nothing of it stays open for a subscription's lifetime but the operation's
    cost (an ``on_operation`` hook would keep a generator per subscription).
    """

    tier: Tier = AUTHENTICATED
    cost: Cost | None = None
    subscription: bool = False
    too_long: GraphQLError | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        self.tier = AUTHENTICATED if getattr(context.context, "principal", None) is not None else ANONYMOUS
        self.cost = Cost(None, self._max_cost())
        context.parse_options["max_tokens"] = self.tier.max_tokens
        if context.graphql_document is None and context.query and len(context.query) > self.tier.max_chars:
            # Not parsed at all: a placeholder stands in until on_validate refuses the operation.
            self.too_long = limit_error(
                f"the document is longer than {self.tier.max_chars:,} characters: send large values as variables",
                "GRAPHQL_PARSE_FAILED",
            )
            context.graphql_document = _PLACEHOLDER
        elif context.graphql_document is None and self.tier is AUTHENTICATED:
            context.graphql_document = shared_document(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if self.too_long is not None:
            context.pre_execution_errors = [self.too_long]
        elif document is not None and context.pre_execution_errors is None:
            error = self._refusal(document)
            if error is not None:
                context.pre_execution_errors = [error]  # strawberry then skips validation
        context.validation_rules = context.validation_rules + self.tier.rules
        key = (context.query, self.tier.max_depth, self.tier.max_aliases)
        if context.pre_execution_errors is None and document is not None and _VALIDATED.get(key) is document:
            context.pre_execution_errors = []  # validated before: strawberry skips graphql-core's validation
        yield
        if context.pre_execution_errors == [] and document is not None and document is shared_document(context.query):
            if len(_VALIDATED) >= 2 * CACHED_DOCUMENTS:
                _VALIDATED.clear()
            _VALIDATED[key] = document

    async def on_execute(self) -> AsyncIterator[None]:
        await self._spend()
        yield

    def get_results(self) -> dict[str, object]:
        context = self.execution_context
        if self.cost is None:
            return {}
        if self.subscription and not context.pre_execution_errors:
            return {}  # events of a running subscription carry no cost: they are shared between subscribers
        return {"cost": self.cost.as_extension()}

    def _max_cost(self) -> int:
        settings = getattr(getattr(self.execution_context.context, "state", None), "settings", None)
        if self.tier is ANONYMOUS or settings is None:
            return self.tier.max_cost
        return settings.max_query_cost

    def _refusal(self, document: DocumentNode) -> GraphQLError | None:
        context = self.execution_context
        operation_name = provided_operation_name(context)
        operation = find_operation(document, operation_name)
        if operation is None:
            if operation_name is None:
                return limit_error(
                    "the document holds several operations: name the one to run with operationName",
                    "OPERATION_RESOLUTION_FAILURE",
                )
            return limit_error(f'Unknown operation named "{operation_name}".', "OPERATION_RESOLUTION_FAILURE")
        self.subscription = operation.operation is OperationType.SUBSCRIPTION
        if self.subscription and isinstance(getattr(context.context, "request", None), Request):
            return limit_error(
                "subscriptions run over a websocket: connect to /graphql with graphql-transport-ws", "BAD_REQUEST"
            )
        error = check_variables(context.variables, self.tier) or check_shape(document, operation, self.tier)
        if error is not None:
            return error
        if self.tier is ANONYMOUS:
            error = self._unauthenticated(document, operation)
            if error is not None:
                return error
        try:
            requested = operation_cost(graphql_schema_of(context.schema), document, operation, context.variables)
        except CostError as cost_error:
            return limit_error(str(cost_error), "BAD_USER_INPUT")
        self.cost = Cost(requested, self.cost.limit)
        if hasattr(context.context, "cost"):
            context.context.cost = self.cost
        if requested > self.cost.limit:
            return limit_error(
                f"the operation costs {requested} nodes; at most {self.cost.limit} are allowed "
                "(docs/RULES.md, 'Query cost': ask for fewer rows or fewer nested connections)",
                "MAX_COST_EXCEEDED",
            )
        return None

    def _unauthenticated(self, document: DocumentNode, operation: OperationDefinitionNode) -> GraphQLError | None:
        """UNAUTHENTICATED at once when an anonymous operation asks for a root field that needs a token."""
        if all(
            access.admits_anonymous(name) for name in root_field_names(document, operation) if not name.startswith("__")
        ):
            return None
        auth_error = getattr(self.execution_context.context, "auth_error", None)
        message = str(auth_error) if auth_error else "authentication required: send Authorization: Bearer <token>"
        return limit_error(message, "UNAUTHENTICATED")

    async def _spend(self) -> None:
        context = self.execution_context.context
        if self.cost is None or self.cost.requested is None or getattr(context, "prepaid", False):
            return
        throttled = await spend(getattr(context, "state", None), context, self.cost.requested)
        if throttled is None:
            return
        response = getattr(context, "response", None)
        if isinstance(response, Response):  # HTTP; a websocket's operation gets the error alone
            response.status_code = 429
            response.headers["Retry-After"] = str(throttled.retry_after)
        raise throttled_error(throttled)


async def spend(state, context, cost: int) -> Throttled | None:
    """Spend ``cost`` points of the budget of ``context``'s caller (:func:`principal_key`); None when spent.

    ``state``: the process's ``AppState`` (no limiter, or limits turned off: always None).
    """
    limiter = getattr(state, "rate_limiter", None)
    if limiter is None:
        return None
    settings = state.settings
    budget = (
        settings.rate_limit_points_per_minute
        if getattr(context, "principal", None) is not None
        else settings.anonymous_rate_limit_points_per_minute
    )
    return await limiter.spend(principal_key(context), cost, points_per_minute=budget)


def throttled_error(throttled: Throttled) -> GraphQLError:
    """The ``THROTTLED`` error of an operation refused for its caller's budget, with ``retryAfter`` seconds."""
    return limit_error(
        f"over the budget of {throttled.points_per_minute} cost points a minute: retry in {throttled.retry_after} s",
        "THROTTLED",
        retryAfter=throttled.retry_after,
    )
