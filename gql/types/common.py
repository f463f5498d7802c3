"""Shared GraphQL types: the Node interface, enums, PageInfo, UserError."""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

from models import enums
from resolvers.errors import DomainError, ErrorCode
from resolvers.pagination import Page

Role = strawberry.enum(enums.Role, name="Role")
CertificationStatus = strawberry.enum(enums.CertificationStatus)
IneligibilityReason = strawberry.enum(enums.IneligibilityReason)
PhotoCheck = strawberry.enum(enums.PhotoCheck)
CertificateStatus = strawberry.enum(
    enums.CertificateStatus,
    description="AWAITING_CLAIM → UNDER_REVIEW → APPROVED → ISSUED; UNDER_REVIEW → REJECTED → UNDER_REVIEW.",
)
CreditTransactionKind = strawberry.enum(enums.CreditTransactionKind)
NotificationKind = strawberry.enum(enums.NotificationKind)
UserErrorCode = strawberry.enum(ErrorCode, name="UserErrorCode")


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


def edges_of(page: Page, edge_type: type, convert) -> list:
    """Build ``edge_type(cursor, node)`` for each row of ``page`` with ``convert(row)``."""
    return [edge_type(cursor=c, node=convert(row)) for c, row in zip(page.cursors, page.items, strict=True)]


__all__ = ["Generic"]
