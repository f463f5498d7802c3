"""The durable render queue: APPROVED certificates become ISSUED once Chromium has printed them.

The queue is the ``certificate`` table itself (DESIGN.md, "Rendering"): an
APPROVED certificate with ``render_next_at`` ≤ now is due. A worker claims one
with a conditional UPDATE that moves ``render_next_at`` a lease into the
future and counts the attempt, so several processes never render the same
certificate at once. While the render runs the worker moves the lease on
every third of it, so a render waiting for a free browser slot keeps its
claim, and a process that died mid-render (SIGKILL, power loss) leaves the
certificate due again within one lease (40 s by default). A graceful stop
hands its in-flight renders back at once.

On success the PDF and PNG are stored, then one transaction marks the
certificate ISSUED, the sitting CERTIFIED and writes the CERTIFICATE_ISSUED
notification and e-mail; events are published after the commit. A failure
is retried with exponential backoff; after ``max_attempts`` the certificate
stays APPROVED with ``render_error`` set and ``render_next_at`` NULL, which
puts it in the reviewers' queue. Such renders are queued again when a
reviewer approves again, and when a worker starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F

from models import AuditEvent, Certificate, Sitting
from models.enums import (
    CertificateStatus,
    CertificationStatus,
    NotificationKind,
)
from models.transitions import ensure_transition
from renderer import CertificateData, CertificateRenderer, RenderedCertificate
from resolvers.messages import notify_test_taker
from resolvers.sql import transaction
from adapters.storage import FileStorage, new_key
from resolvers.verification import level_for
from subscriptions.events import (
    Event,
    NotificationCreated,
    Publisher,
    SittingStatusChanged,
)

log = logging.getLogger(__name__)

ISSUED_TITLE = "Your certificate has been issued"
ERROR_MAX_LENGTH = 300
BACKOFF_CAP_SECONDS = 600.0
ACTOR = "system:renderer"


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """How the queue behaves; times in seconds.

    ``retry_seconds`` is the first backoff, doubled per failed attempt (capped
    at 10 min); ``lease_seconds`` is how long a claim lasts without being
    renewed (renewed every third of it while the render runs), and should
    exceed the renderer's own timeout.
    """

    public_url: str
    max_attempts: int = 3
    retry_seconds: float = 5.0
    lease_seconds: float = 40.0
    poll_seconds: float = 1.0
    batch_size: int = 8


class RenderFailed(Exception):
    """A render attempt failed for a reason other than the renderer (missing photo, data, commit)."""


class RenderWorker:
    """Renders due certificates with one process's warm ``renderer``; run :meth:`run` as a task."""

    def __init__(
        self, *, renderer: CertificateRenderer, storage: FileStorage, publisher: Publisher, settings: RenderSettings
    ):
        self._renderer = renderer
        self._storage = storage
        self._publisher = publisher
        self._settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due renders now instead of at the next poll (call after queueing one)."""
        self._wake.set()

    async def run(self, stop_event: asyncio.Event) -> None:
        """Requeue renders that failed for good, then render due certificates until ``stop_event`` is set.

        Exceptions of a round are logged and the loop goes on; only cancellation ends it early.
        """
        try:
            await requeue_failed_renders()
        except Exception:
            log.exception("render queue: could not requeue failed renders")
        while not stop_event.is_set():
            try:
                done = await self.render_due()
            except Exception:
                log.exception("render queue: round failed; retrying in %.1f s", self._settings.poll_seconds)
                done = 0
            if done == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)

    async def render_due(self) -> int:
        """Claim and render the due certificates (up to ``batch_size``); return how many were attempted."""
        now = datetime.now(UTC)
        due = await (
            Certificate.filter(status=CertificateStatus.APPROVED, render_next_at__lte=now)
            .order_by("render_next_at", "id")
            .limit(self._settings.batch_size)
            .values_list("id", flat=True)
        )
        claimed = [pk for pk in due if await self._claim(pk)]
        await asyncio.gather(*(self._attempt(pk) for pk in claimed))
        return len(claimed)

    async def _claim(self, certificate_id: int) -> bool:
        # The WHERE re-checks "still due", so of two workers only one matches;
        # on PostgreSQL the second UPDATE waits for the row lock, then re-checks.
        now = datetime.now(UTC)
        lease_until = now + timedelta(seconds=self._settings.lease_seconds)
        claimed = await Certificate.filter(
            id=certificate_id, status=CertificateStatus.APPROVED, render_next_at__lte=now
        ).update(render_next_at=lease_until, render_attempts=F("render_attempts") + 1, updated_at=now)
        return bool(claimed)

    async def _attempt(self, certificate_id: int) -> None:
        keeper = asyncio.create_task(self._keep_lease(certificate_id), name=f"render-lease-{certificate_id}")
        try:
            events = await self._render_and_issue(certificate_id)
        except asyncio.CancelledError:
            # Stopping: give the render back so the next start does it at once.
            await _stop(keeper)
            await asyncio.shield(_release(certificate_id))
            raise
        except Exception as error:  # noqa: BLE001 - every failure is recorded, never silent
            await _stop(keeper)
            await self._record_failure(certificate_id, error)
            return
        await _stop(keeper)
        await self._publisher.publish(events)

    async def _keep_lease(self, certificate_id: int) -> None:
        """Every third of the lease, move the end of a lease still held a whole lease ahead."""
        lease = timedelta(seconds=self._settings.lease_seconds)
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 3)
            now = datetime.now(UTC)
            try:
                await Certificate.filter(
                    id=certificate_id, status=CertificateStatus.APPROVED, render_next_at__gt=now
                ).update(render_next_at=now + lease)
            except Exception:  # noqa: BLE001 - a missed renewal only risks a second render later
                log.warning("render queue: could not renew the lease of certificate %d", certificate_id)

    async def _render_and_issue(self, certificate_id: int) -> list[Event]:
        certificate = await Certificate.get(id=certificate_id).select_related(
            "sitting__test", "sitting__organisation", "sitting__test_taker"
        )
        sitting = certificate.sitting
        ensure_transition(CertificationStatus(sitting.status), CertificationStatus.CERTIFIED)
        if not certificate.photo_key or not certificate.holder_name or not certificate.verification_code:
            raise RenderFailed("the certificate has no holder name, photo or verification code")
        issued_at = datetime.now(UTC)
        data = CertificateData(
            holder_name=certificate.holder_name,
            photo=await self._storage.get(certificate.photo_key),
            photo_mime="image/jpeg",
            test_name=sitting.test.name,
            score=sitting.score,
            level=level_for(sitting.score, sitting.test.cefr_mapping),
            taken_at=sitting.taken_at,
            issued_at=issued_at,
            organisation_name=sitting.organisation.name,
            verification_code=certificate.verification_code,
            verification_url=verification_url(self._settings.public_url, certificate.verification_code),
        )
        rendered = await self._renderer.render(data)
        return await self._issue(certificate, rendered, issued_at)

    async def _issue(self, certificate: Certificate, rendered: RenderedCertificate, issued_at: datetime) -> list[Event]:
        pdf_key, png_key = new_key("certificates", "pdf"), new_key("certificates", "png")
        await self._storage.put(pdf_key, rendered.pdf)
        await self._storage.put(png_key, rendered.png)
        sitting = certificate.sitting
        test_taker = sitting.test_taker
        try:
            async with transaction() as conn:
                issued = await Certificate.filter(id=certificate.id, status=CertificateStatus.APPROVED).using_db(
                    conn
                ).update(
                    status=CertificateStatus.ISSUED,
                    pdf_key=pdf_key,
                    png_key=png_key,
                    pdf_sha256=rendered.pdf_sha256,
                    issued_at=issued_at,
                    render_next_at=None,
                    render_error=None,
                    updated_at=issued_at,
                )
                certified = await Sitting.filter(id=sitting.id, status=CertificationStatus.IN_PROGRESS).using_db(
                    conn
                ).update(status=CertificationStatus.CERTIFIED, updated_at=issued_at)
                if not issued or not certified:
                    raise RenderFailed("the certificate or its sitting changed while it was being rendered")
                notification = await notify_test_taker(
                    conn,
                    test_taker=test_taker,
                    certificate_id=certificate.id,
                    kind=NotificationKind.CERTIFICATE_ISSUED,
                    title=ISSUED_TITLE,
                    body=f"Your {sitting.test.name} certificate is ready to view and download. "
                    f"Verification code: {certificate.verification_code}.",
                    at=issued_at,
                )
                await AuditEvent.create(
                    actor=ACTOR,
                    actor_role="system",
                    action="issue_certificate",
                    object_type="Certificate",
                    object_id=str(certificate.id),
                    detail={"pdf_sha256": rendered.pdf_sha256, "attempt": certificate.render_attempts},
                    using_db=conn,
                )
        except BaseException:
            for key in (pdf_key, png_key):
                with contextlib.suppress(Exception):
                    await self._storage.delete(key)
            raise
        return [
            SittingStatusChanged(
                sitting.organisation_id,
                sitting.id,
                CertificationStatus.IN_PROGRESS.value,
                CertificationStatus.CERTIFIED.value,
                issued_at,
            ),
            NotificationCreated(test_taker.id, notification.id, issued_at),
        ]

    async def _record_failure(self, certificate_id: int, error: Exception) -> None:
        # The first line only: Chromium's errors go on with its command line and profile paths.
        first_line = (str(error).strip().splitlines() or [""])[0]
        message = (f"{type(error).__name__}: {first_line}".strip())[:ERROR_MAX_LENGTH]
        certificate = await Certificate.get(id=certificate_id)
        now = datetime.now(UTC)
        if certificate.render_attempts >= self._settings.max_attempts:
            log.error(
                "render queue: certificate %d given up after %d attempts: %s",
                certificate_id,
                certificate.render_attempts,
                message,
            )
            retry_at = None
        else:
            delay = min(self._settings.retry_seconds * 2 ** (certificate.render_attempts - 1), BACKOFF_CAP_SECONDS)
            retry_at = now + timedelta(seconds=delay)
            log.warning(
                "render queue: certificate %d attempt %d failed, retrying in %.1f s: %s",
                certificate_id,
                certificate.render_attempts,
                delay,
                message,
            )
        update = {"render_next_at": retry_at, "updated_at": now}
        if retry_at is None:
            update["render_error"] = message
        await Certificate.filter(id=certificate_id, status=CertificateStatus.APPROVED).update(**update)


def verification_url(public_url: str, code: str) -> str:
    """The public verification page of ``code``: ``{public_url}/verify/{code}``."""
    return f"{public_url.rstrip('/')}/verify/{code}"


async def requeue_failed_renders() -> int:
    """Queue again every render that failed after its last retry (on start); return how many.

    ``render_error`` stays until a render succeeds or fails again.
    """
    now = datetime.now(UTC)
    return await Certificate.filter(status=CertificateStatus.APPROVED, render_next_at__isnull=True).update(
        render_attempts=0, render_next_at=now, updated_at=now
    )


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended (its own cancellation is not raised here)."""
    task.cancel()
    await asyncio.wait([task])


async def _release(certificate_id: int) -> None:
    """Hand an interrupted render back: due now, the attempt not counted."""
    now = datetime.now(UTC)
    with contextlib.suppress(Exception):
        await Certificate.filter(id=certificate_id, status=CertificateStatus.APPROVED).update(
            render_next_at=now, render_attempts=F("render_attempts") - 1, updated_at=now
        )
