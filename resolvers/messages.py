"""Telling a test taker about their certificate: one in-app notification and, but for an approval, one outbox e-mail."""

from __future__ import annotations

from datetime import datetime

from models import Notification, OutboxEmail, TestTaker
from models.enums import EmailTemplate, NotificationKind

SENTENCE_ENDS = ".!?…。！？؟۔"
CLOSING = "\"'”’»)]"


def rejected_body(test_name: str, reason: str) -> str:
    """The rejection notification's words: the reviewer's reason quoted and ended as a sentence of its own.

    A reason without a final full stop (or ``!``, ``?``, ``…``, ``؟``…) gets one, so it never runs into the
    next sentence, whatever its script.
    """
    ended = reason.rstrip(CLOSING)[-1:] in SENTENCE_ENDS
    return (
        f"Your claim for the {test_name} certificate was not approved. The reason given: "
        f"“{reason if ended else reason + '.'}” You can correct your name or photo and submit it again."
    )


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


async def notify_in_app(
    conn, *, test_taker_id: int, certificate_id: int, kind: NotificationKind, title: str, body: str
) -> Notification:
    """Write the in-app notification alone, inside the caller's transaction ``conn`` (no e-mail).

    For news the e-mail that follows soon covers: an approval, whose issue
    e-mail comes once the render is stored (docs/RULES.md, "Claims and review").
    """
    return await Notification.create(
        test_taker_id=test_taker_id, kind=kind, title=title, body=body, certificate_id=certificate_id, using_db=conn
    )
