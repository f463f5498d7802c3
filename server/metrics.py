"""``GET /metrics`` and what the server measures: GraphQL operations, websocket connections and operations.

The families are in :mod:`adapters.metrics`. Operations are counted where
they start and end, never per message of a subscription: fanning an event
out to thousands of subscribers costs nothing more (docs/ARCHITECTURE.md, "Fan-out").
The queues' gauges are read from the database when Prometheus scrapes
(:mod:`workers.backlog`), one indexed statement each, so they are right
with any number of processes.

``/metrics`` is open unless ``CERTIFY_METRICS_TOKEN`` is set (then it needs
``Authorization: Bearer <that token>``, else 401); ``CERTIFY_METRICS_ENABLED=false``
removes the route (404).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from datetime import UTC, datetime

from graphql import GraphQLError, Source, TokenKind
from graphql.language.lexer import Lexer
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response

from adapters.metrics import (
    ANONYMOUS,
    GRAPHQL_DURATION,
    GRAPHQL_ERRORS,
    GRAPHQL_REQUESTS,
    SUBSCRIPTIONS,
    SUBSCRIPTIONS_STARTED,
    WEBSOCKET_CONNECTIONS,
    error_code_label,
    exposition,
    operation_label,
)
from server.errors import error_response
from server.logs import name_operation, operation_scope
from workers.backlog import Backlog, read_backlog

log = logging.getLogger(__name__)

BACKLOG_TIMEOUT_SECONDS = 2.0
"""How long a scrape waits for the queue statements; past it the queue gauges are left out (``certify_backlog_up 0``)."""


NAME_SCAN_TOKENS = 2_000
"""Tokens read to find an unnamed request's operation name (fragments may come first)."""
OPERATION_KEYWORDS = frozenset({"query", "mutation", "subscription"})


class GraphQLOperation:
    """One HTTP GraphQL operation being measured: see :func:`measured_operation`."""

    __slots__ = ("label", "started")

    def __init__(self, name: object):
        self.label = operation_label(name)
        self.started = time.perf_counter()

    def answered(self, errors: list | None) -> None:
        """Count the operation, its latency and, when ``errors`` (GraphQL errors) is not empty, its first code."""
        GRAPHQL_REQUESTS.labels(operation=self.label).inc()
        GRAPHQL_DURATION.labels(operation=self.label).observe(time.perf_counter() - self.started)
        if errors:
            extensions = getattr(errors[0], "extensions", None) or {}
            GRAPHQL_ERRORS.labels(operation=self.label, code=error_code_label(extensions.get("code"))).inc()


def operation_name_of(query: object, given: object) -> str | None:
    """The name of the operation a request runs: ``given`` (its ``operationName``), else the document's first operation's.

    Read with graphql-core's lexer (comments and strings skipped), at most
    :data:`NAME_SCAN_TOKENS` tokens; None for an anonymous operation or
    anything unreadable, which strawberry then refuses with its own error.
    """
    if isinstance(given, str) and given:
        return given
    if not isinstance(query, str):
        return None
    lexer = Lexer(Source(query))
    depth, in_fragment = 0, False
    try:
        for _ in range(NAME_SCAN_TOKENS):
            token = lexer.advance()
            if token.kind == TokenKind.EOF or (token.kind == TokenKind.BRACE_L and depth == 0 and not in_fragment):
                return None  # the end, or a shorthand query: anonymous
            depth += {TokenKind.BRACE_L: 1, TokenKind.BRACE_R: -1}.get(token.kind, 0)
            if depth == 0 and token.kind == TokenKind.BRACE_R:
                in_fragment = False
            elif depth == 0 and token.kind == TokenKind.NAME and token.value == "fragment":
                in_fragment = True
            elif depth == 0 and token.kind == TokenKind.NAME and token.value in OPERATION_KEYWORDS:
                following = lexer.lookahead()
                return following.value if following.kind == TokenKind.NAME else None
    except GraphQLError:
        return None
    return None


def measured_operation(name: object) -> GraphQLOperation:
    """Start measuring the HTTP operation named ``name`` and name it on the request's log lines.

    An unnamed operation is ``(anonymous)`` on its log lines as in the metrics' labels.
    """
    name_operation(name if isinstance(name, str) and name else ANONYMOUS)
    return GraphQLOperation(name)


def refused_request(code: str) -> None:
    """Count an HTTP request refused before it was an operation (a body that is not one operation's JSON)."""
    GRAPHQL_REQUESTS.labels(operation="(none)").inc()
    GRAPHQL_ERRORS.labels(operation="(none)", code=error_code_label(code)).inc()


class open_websocket:
    """Count a GraphQL websocket connection as open for the ``with`` block (from its accept to its end)."""

    __slots__ = ()

    def __enter__(self) -> None:
        WEBSOCKET_CONNECTIONS.inc()

    def __exit__(self, *exc_info: object) -> None:
        WEBSOCKET_CONNECTIONS.dec()


class running_subscription:
    """Count a websocket operation (``name``: its operation name) as running for the ``with`` block; log its start and end.

    Its lines carry the name (:func:`server.logs.operation_scope`). A class with
    slots rather than a generator: one lives as long as each subscription.
    """

    __slots__ = ("label", "name", "scope")

    def __init__(self, name: str | None):
        self.label = operation_label(name)
        self.name = name
        self.scope = operation_scope(name or ANONYMOUS)

    def __enter__(self) -> None:
        SUBSCRIPTIONS_STARTED.labels(operation=self.label).inc()
        SUBSCRIPTIONS.labels(operation=self.label).inc()
        self.scope.__enter__()
        log.info("websocket operation started")

    def __exit__(self, *exc_info: object) -> None:
        SUBSCRIPTIONS.labels(operation=self.label).dec()
        log.info("websocket operation ended")
        self.scope.__exit__(*exc_info)


def _backlog_families(backlog: Backlog | None, now: datetime) -> list[GaugeMetricFamily]:
    up = GaugeMetricFamily("certify_backlog_up", "1 when this scrape read the queue gauges from the database, else 0.")
    up.add_metric([], 0 if backlog is None else 1)
    if backlog is None:
        return [up]
    oldest = backlog.outbox_oldest
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    figures = [
        ("certify_outbox_backlog", "Unsent e-mails still to be tried.", backlog.outbox_pending),
        ("certify_outbox_oldest_age_seconds", "Age of the oldest unsent e-mail still to be tried (0: none).", age),
        ("certify_outbox_given_up", "Unsent e-mails given up after the maximum attempts.", backlog.outbox_given_up),
        (
            "certify_render_queue_depth",
            "Approved certificates waiting for their render or rendering.",
            backlog.renders_queued,
        ),
        ("certify_render_given_up", "Approved certificates whose render failed for good.", backlog.renders_given_up),
    ]
    families = [up]
    for name, documentation, value in figures:
        family = GaugeMetricFamily(name, documentation)
        family.add_metric([], value)
        families.append(family)
    return families


class _Families:
    """A collector of families already computed (prometheus_client's collector protocol)."""

    def __init__(self, families: list[GaugeMetricFamily]):
        self._families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self._families


async def serve_metrics(request: Request) -> Response:
    """``GET /metrics``: every family in Prometheus text format, the queue gauges read now (module docstring)."""
    settings = request.app.state.certify.settings
    expected = settings.metrics_token
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return error_response(401, "/metrics needs Authorization: Bearer <CERTIFY_METRICS_TOKEN>")
    try:
        async with asyncio.timeout(BACKLOG_TIMEOUT_SECONDS):
            backlog = await read_backlog(outbox_max_attempts=settings.outbox_max_attempts)
    except Exception:  # the process's own figures are still worth a scrape
        log.warning("metrics: could not read the queue gauges from the database", exc_info=True)
        backlog = None
    body = exposition([_Families(_backlog_families(backlog, datetime.now(UTC)))])
    return Response(body, media_type=CONTENT_TYPE_LATEST)
