"""Notifications area: the test taker's inbox."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.errors import as_payload
from gql.ids import decode_id
from gql.types.inputs import MarkNotificationsReadInput
from gql.types.notification import NotificationConnection
from gql.types.payloads import MarkNotificationsReadPayload
from resolvers import notifications


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="The test taker's own notifications, newest first (test takers only).")
    async def notifications(
        self, info: Info, first: int | None = None, after: str | None = None, unread_only: bool | None = None
    ) -> NotificationConnection:
        page = await notifications.list_notifications(
            principal=info.context.require_principal(), first=first, after=after, unread_only=unread_only
        )
        return NotificationConnection.from_page(page)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation
    async def mark_notifications_read(
        self, info: Info, input: MarkNotificationsReadInput
    ) -> MarkNotificationsReadPayload:
        principal = info.context.require_principal()
        work = notifications.mark_notifications_read(
            principal=principal, ids=[decode_id(i, "Notification") for i in input.ids]
        )
        return await as_payload(
            work,
            ok=lambda count: MarkNotificationsReadPayload(updated_count=count, errors=[]),
            failed=lambda errors: MarkNotificationsReadPayload(updated_count=0, errors=errors),
        )
