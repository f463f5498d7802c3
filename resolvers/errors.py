"""Typed domain errors raised by the workflow verbs.

The GraphQL layer turns :class:`DomainError` into a ``UserError`` inside the
mutation payload (nothing was changed), :class:`Forbidden` and
:class:`Unauthenticated` into GraphQL errors with ``extensions.code`` set, and
:class:`BadArgument` into a GraphQL error with code ``BAD_USER_INPUT``.
Codes follow ``UserErrorCode`` in ``schema.graphql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    """Business failure codes; the values equal the contract's ``UserErrorCode``."""

    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    NOTHING_SELECTED = "NOTHING_SELECTED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INVALID_PHOTO = "INVALID_PHOTO"
    INVALID_NAME = "INVALID_NAME"


class DomainError(Exception):
    """An expected business failure; the operation changed nothing.

    Args:
        code: the contract's ``UserErrorCode``.
        message: a sentence for a person.
        field: path to the input field at fault, e.g. ``("sittings", "3", "score")``.
    """

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field) if field is not None else None

    def __repr__(self) -> str:
        return f"DomainError({self.code}, {self.message!r}, field={self.field!r})"


class AccessError(Exception):
    """Base for authentication/authorisation failures (GraphQL errors, not UserErrors)."""

    code = "FORBIDDEN"


class Unauthenticated(AccessError):
    """No valid credentials were presented."""

    code = "UNAUTHENTICATED"


class Forbidden(AccessError):
    """The viewer is authenticated but the role may not perform the operation."""

    code = "FORBIDDEN"


class BadArgument(Exception):
    """A malformed query argument (e.g. ``first`` outside 1–500): ``BAD_USER_INPUT``."""

    code = "BAD_USER_INPUT"
