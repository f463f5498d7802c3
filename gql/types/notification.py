"""In-app notifications and their connection."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.context import Info
from gql.ids import to_global_id
from gql.types.certificate import Certificate
from gql.types.common import Node, NotificationKind, PageInfo, edges_of
from models import Notification as NotificationRow
from resolvers.pagination import Page


@strawberry.type
class Notification(Node):
    row: strawberry.Private[NotificationRow]
    id: strawberry.ID
    kind: NotificationKind
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def from_model(cls, row: NotificationRow) -> Notification:
        return cls(
            row=row,
            id=strawberry.ID(to_global_id("Notification", row.id)),
            kind=row.kind,
            title=row.title,
            body=row.body,
            created_at=row.created_at,
            read_at=row.read_at,
        )

    @strawberry.field
    async def certificate(self, info: Info) -> Certificate | None:
        if self.row.certificate_id is None:
            return None
        row = await info.context.loaders.certificate_by_id.load(self.row.certificate_id)
        return Certificate.from_model(row) if row is not None else None


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def from_page(cls, page: Page[NotificationRow]) -> NotificationConnection:
        return cls(
            edges=edges_of(page, NotificationEdge, Notification.from_model),
            page_info=PageInfo.from_page(page),
            total_count=page.total_count,
        )
