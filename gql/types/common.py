"""Shared GraphQL types: the Node interface, enums, PageInfo, UserError."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Generic, TypeVar

import strawberry

from gql.context import Info
from models import enums
from resolvers.errors import DomainError, ErrorCode
from resolvers.pagination import Page

Role = strawberry.enum(enums.Role, name="Role")
CertificationStatus = strawberry.enum(enums.CertificationStatus)
PhotoCheck = strawberry.enum(enums.PhotoCheck)
NotificationKind = strawberry.enum(enums.NotificationKind)
UserErrorCode = strawberry.enum(ErrorCode, name="UserErrorCode")

# The enums below describe some of their values, so each is its own class whose values are the
# models' members: an output may be the model's member, and an input's ``.value`` is one.


@strawberry.enum
class IneligibilityReason(Enum):
    LOW_SCORE = enums.IneligibilityReason.LOW_SCORE
    PHOTO_PROBLEM = enums.IneligibilityReason.PHOTO_PROBLEM
    EXPIRED = strawberry.enum_value(
        enums.IneligibilityReason.EXPIRED, description="The sitting is older than its test's validity period."
    )


@strawberry.enum(
    description="AWAITING_CLAIM → UNDER_REVIEW → APPROVED → ISSUED → REVOKED; UNDER_REVIEW → REJECTED → "
    "UNDER_REVIEW; AWAITING_CLAIM or REJECTED → LAPSED when the claim deadline passes."
)
class CertificateStatus(Enum):
    AWAITING_CLAIM = enums.CertificateStatus.AWAITING_CLAIM
    UNDER_REVIEW = enums.CertificateStatus.UNDER_REVIEW
    REJECTED = enums.CertificateStatus.REJECTED
    APPROVED = enums.CertificateStatus.APPROVED
    ISSUED = enums.CertificateStatus.ISSUED
    LAPSED = strawberry.enum_value(
        enums.CertificateStatus.LAPSED,
        description="Not claimed by its deadline: the credit was refunded and the sitting can be certified again.",
    )
    REVOKED = strawberry.enum_value(
        enums.CertificateStatus.REVOKED, description="Revoked by the organisation or the platform."
    )


@strawberry.enum
class CreditTransactionKind(Enum):
    PURCHASE = enums.CreditTransactionKind.PURCHASE
    CERTIFICATION = enums.CreditTransactionKind.CERTIFICATION
    REFUND = strawberry.enum_value(
        enums.CreditTransactionKind.REFUND, description="A credit returned because a claim lapsed."
    )


@strawberry.interface(description="An object with an opaque, globally unique ID.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def from_page(cls, page: Page) -> PageInfo:
        return cls(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        )


@strawberry.type(description="An expected business failure; the mutation changed nothing.")
class UserError:
    code: UserErrorCode
    message: str
    field: list[str] | None = strawberry.field(description="Path to the input field at fault, if any.", default=None)

    @classmethod
    def from_domain(cls, error: DomainError) -> UserError:
        return cls(code=error.code, message=error.message, field=error.field)


N = TypeVar("N")


def selects(info: Info, *path: str) -> bool:
    """Whether the field being resolved selects ``path``, a field (``"totalCount"``) or a field within fields
    (``"edges", "node", "testTaker"``), in fragments too (GraphQL names).

    A selection skipped by ``@skip(if: true)`` or ``@include(if: false)`` does not count.
    """
    level = list(info.selected_fields)
    for name in path:
        level = [
            field for field in _fields_of([s for parent in level for s in parent.selections]) if field.name == name
        ]
        if not level:
            return False
    return True


def _fields_of(selections: list) -> Iterator:
    """The fields of ``selections``, those of its fragments included, less those a directive skips."""
    for selection in selections:
        directives = selection.directives
        if directives.get("skip", {}).get("if") is True or directives.get("include", {}).get("if") is False:
            continue
        # A field has arguments; fragment spreads and inline fragments hold selections of their own.
        if hasattr(selection, "arguments"):
            yield selection
        else:
            yield from _fields_of(selection.selections)


def edges_of(page: Page, edge_type: type, convert) -> list:
    """Build ``edge_type(cursor, node)`` for each row of ``page`` with ``convert(row)``."""
    return [edge_type(cursor=c, node=convert(row)) for c, row in zip(page.cursors, page.items, strict=True)]


__all__ = ["Generic"]
