"""Telling a test taker about their certificate: one in-app notification and one outbox e-mail."""

from __future__ import annotations

from datetime import datetime

from models import Notification, OutboxEmail, TestTaker
from models.enums import EmailTemplate, NotificationKind


async def notify_test_taker(
    conn, *, test_taker: TestTaker, certificate_id: int, kind: NotificationKind, title: str, body: str, at: datetime
) -> Notification:
    """Write the notification and queue the e-mail of the same kind, inside the caller's transaction ``conn``.

    The e-mail's text is composed when it is delivered (workers/emails.py).
    """
    notification = await Notification.create(
        test_taker_id=test_taker.id, kind=kind, title=title, body=body, certificate_id=certificate_id, using_db=conn
    )
    await OutboxEmail.create(
        to_address=test_taker.email,
        template=EmailTemplate(kind.value),
        certificate_id=certificate_id,
        next_attempt_at=at,
        using_db=conn,
    )
    return notification
