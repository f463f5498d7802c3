"""The work waiting in the two queues, read from the database: what ``/metrics`` shows of them.

Read at scrape time rather than counted as work happens, so the figures are
right however many processes deliver and render. One indexed statement per
figure: ``outbox_email (sent_at, next_attempt_at)``, ``certificate
(render_next_at)`` and ``certificate (status, submitted_at)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.functions import Count, Min

from models import Certificate, OutboxEmail
from models.enums import CertificateStatus


@dataclass(frozen=True)
class Backlog:
    """The queues at one moment.

    ``outbox_pending``: unsent e-mails still to be tried (fewer than the
    maximum attempts); ``outbox_oldest``: the creation time of the oldest of
    them (None when there is none); ``outbox_given_up``: unsent e-mails past
    the maximum attempts; ``renders_queued``: APPROVED certificates waiting
    for a render or being rendered; ``renders_given_up``: APPROVED
    certificates whose render failed for good (``render_error``, in the
    review queue). Rules: docs/RULES.md, "E-mail" and "Rendering".
    """

    outbox_pending: int
    outbox_oldest: datetime | None
    outbox_given_up: int
    renders_queued: int
    renders_given_up: int


async def read_backlog(*, outbox_max_attempts: int) -> Backlog:
    """The current :class:`Backlog`; database errors propagate."""
    pending = (
        await OutboxEmail.filter(sent_at=None, attempts__lt=outbox_max_attempts)
        .annotate(rows=Count("id"), oldest=Min("created_at"))
        .values("rows", "oldest")
    )[0]
    oldest = pending["oldest"]
    if isinstance(oldest, str):  # SQLite hands the aggregate back as text
        oldest = datetime.fromisoformat(oldest)
    return Backlog(
        outbox_pending=int(pending["rows"] or 0),
        outbox_oldest=oldest,
        outbox_given_up=await OutboxEmail.filter(sent_at=None, attempts__gte=outbox_max_attempts).count(),
        renders_queued=await Certificate.filter(
            status=CertificateStatus.APPROVED, render_next_at__isnull=False
        ).count(),
        renders_given_up=await Certificate.filter(
            status=CertificateStatus.APPROVED, render_next_at__isnull=True, render_error__isnull=False
        ).count(),
    )
