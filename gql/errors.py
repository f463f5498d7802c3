"""Where domain errors become GraphQL: UserErrors in payloads, codes on GraphQL errors.

- :class:`DomainError` → ``errors: [UserError]`` in the mutation's payload (:func:`as_payload`).
- :class:`AccessError` → GraphQL error, ``extensions.code`` UNAUTHENTICATED / FORBIDDEN.
- :class:`BadArgument`, or a value a scalar refused → ``BAD_USER_INPUT``.
- Query-language mistakes → ``GRAPHQL_VALIDATION_FAILED`` / ``GRAPHQL_PARSE_FAILED``.
- The database unreachable (a restart, a lost network) → ``SERVICE_UNAVAILABLE`` with a fixed message.
- Anything unexpected → ``INTERNAL_SERVER_ERROR`` with its message masked (and logged).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from gql.types.common import UserError
from models.db import database_unavailable
from resolvers.errors import AccessError, BadArgument, DomainError

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "the database is unavailable; retry shortly"
"""The message of a ``SERVICE_UNAVAILABLE`` error (docs/RULES.md, "Faults"): no host, port or driver text."""

T = TypeVar("T")
P = TypeVar("P")


async def as_payload(work: Awaitable[T], *, ok: Callable[[T], P], failed: Callable[[list[UserError]], P]) -> P:
    """Await ``work`` and wrap its result with ``ok``; a :class:`DomainError` becomes ``failed([UserError])``."""
    try:
        result = await work
    except DomainError as error:
        return failed([UserError.from_domain(error)])
    return ok(result)


def error_code(error: GraphQLError) -> str:
    """The ``extensions.code`` a GraphQL error should carry."""
    original = error.original_error
    if not error.path and error.message.startswith("Unknown operation named"):
        return "OPERATION_RESOLUTION_FAILURE"  # strawberry's wording for an operationName that names nothing
    if isinstance(original, (AccessError, BadArgument)):
        return original.code
    if isinstance(original, GraphQLError) and not error.path:
        # graphql-core wraps a variable's failed coercion: "Variable '$x' has invalid value …"
        return "BAD_USER_INPUT"
    if original is None:
        message = error.message
        if message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED"
        if message.startswith("Variable '$") or "got invalid value" in message or "Expected value of type" in message:
            return "BAD_USER_INPUT"
        return "GRAPHQL_VALIDATION_FAILED"
    if isinstance(original, (ValueError, TypeError)) and not error.path:
        return "BAD_USER_INPUT"
    if database_unavailable(original):
        return "SERVICE_UNAVAILABLE"
    return "INTERNAL_SERVER_ERROR"


def annotate(error: GraphQLError) -> GraphQLError:
    """Set ``extensions.code`` on ``error``; mask and log unexpected failures."""
    code = (error.extensions or {}).get("code") or error_code(error)
    if code == "INTERNAL_SERVER_ERROR":
        log.error("unexpected error at %s", error.path, exc_info=error.original_error)
        masked = GraphQLError("Internal server error", nodes=error.nodes, path=error.path, extensions={"code": code})
        return masked
    if code == "SERVICE_UNAVAILABLE" and "code" not in (error.extensions or {}):
        log.warning("database unavailable at %s: %r", error.path, error.original_error)
        return GraphQLError(DATABASE_UNAVAILABLE, nodes=error.nodes, path=error.path, extensions={"code": code})
    error.extensions = {**(error.extensions or {}), "code": code}
    return error


class ErrorCodes(SchemaExtension):
    """Give every error of a response its ``extensions.code``."""

    def on_operation(self):
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [annotate(e) for e in result.errors]
