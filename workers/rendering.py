"""The durable render queue: APPROVED certificates become ISSUED once Chromium has printed them.

The queue is the ``certificate`` table itself (docs/RULES.md, "Rendering"): an
APPROVED certificate with ``render_next_at`` ≤ now is due. A worker claims a
batch in one UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
:mod:`workers.leases`) that moves ``render_next_at`` a lease into the future
and counts the attempt, so several processes never render the same
certificate at once. While the render runs the worker moves the lease on
every third of it, so a render waiting for a free browser slot keeps its
claim, and a process that died mid-render (SIGKILL, power loss) leaves the
certificate due again within one lease (40 s by default). A graceful stop
hands its in-flight renders back at once.

On success the worker signs the certificate's credential
(:func:`resolvers.credentials.sign_credential`), bakes it into the PNG and
hands the PDF, PNG and credential to the issuing verb
(:func:`resolvers.issuing.issue_certificate`), which stores them and in one
transaction marks the certificate ISSUED and the sitting CERTIFIED and tells
the test taker; events are published after the commit. A failure
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

from adapters.metrics import RENDER_FAILURES
from adapters.storage import FileStorage
from credentials.baking import bake
from models import Certificate
from models.enums import CertificateStatus
from renderer import CertificateData, CertificateRenderer
from resolvers.credentials import CredentialIssuer, sign_credential
from resolvers.issuing import issuable_certificate, issue_certificate
from resolvers.sql import Statement
from resolvers.verification import level_for
from subscriptions.events import Publisher
from workers.leases import Queue, claim_due

log = logging.getLogger(__name__)

ERROR_MAX_LENGTH = 300
BACKOFF_CAP_SECONDS = 600.0


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


class RenderWorker:
    """Renders due certificates with one process's warm ``renderer``; run :meth:`run` as a task."""

    def __init__(
        self,
        *,
        renderer: CertificateRenderer,
        storage: FileStorage,
        publisher: Publisher,
        settings: RenderSettings,
        issuer: CredentialIssuer,
    ):
        self._renderer = renderer
        self._issuer = issuer
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
        claimed = await claim_due(self._queue(), limit=self._settings.batch_size)
        if claimed:
            log.info("render queue: claimed certificates %s", ",".join(map(str, claimed)))
        await asyncio.gather(*(self._attempt(pk) for pk in claimed))
        return len(claimed)

    def _queue(self) -> Queue:
        """The certificate table as the render queue: one claim moves the due time a lease ahead and counts the attempt."""
        now = datetime.now(UTC)
        lease_until = now + timedelta(seconds=self._settings.lease_seconds)

        def due(stmt: Statement) -> str:
            return f"status = {stmt.param(CertificateStatus.APPROVED.value)} AND render_next_at <= {stmt.param(now)}"

        def claim(stmt: Statement) -> str:
            return (
                f"render_next_at = {stmt.param(lease_until)}, render_attempts = render_attempts + 1, "
                f"updated_at = {stmt.param(now)}"
            )

        return Queue(table="certificate", due=due, order="render_next_at, id", claim=claim)

    async def _attempt(self, certificate_id: int) -> None:
        keeper = asyncio.create_task(self._keep_lease(certificate_id), name=f"render-lease-{certificate_id}")
        try:
            await self._render_and_issue(certificate_id)
        except asyncio.CancelledError:
            # Stopping: give the render back so the next start does it at once.
            await _stop(keeper)
            await asyncio.shield(_release(certificate_id))
            raise
        except Exception as error:  # noqa: BLE001 - every failure is recorded, never silent
            await _stop(keeper)
            RENDER_FAILURES.inc()
            await self._record_failure(certificate_id, error)
            return
        await _stop(keeper)

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

    async def _render_and_issue(self, certificate_id: int) -> None:
        certificate = await issuable_certificate(certificate_id=certificate_id)
        issued_at = datetime.now(UTC)
        rendered = await self._renderer.render(await self._data_for(certificate, issued_at))
        credential = await sign_credential(certificate, self._issuer, issued_at=issued_at)
        await issue_certificate(
            certificate=certificate,
            pdf=rendered.pdf,
            png=await asyncio.to_thread(bake, rendered.png, credential.json),
            pdf_sha256=rendered.pdf_sha256,
            credential=credential,
            issued_at=issued_at,
            storage=self._storage,
            publisher=self._publisher,
        )

    async def _data_for(self, certificate: Certificate, issued_at: datetime) -> CertificateData:
        """What the template prints for ``certificate`` (loaded by ``issuable_certificate``)."""
        sitting = certificate.sitting
        return CertificateData(
            holder_name=certificate.holder_name,
            photo=await self._storage.get(certificate.photo_key),
            photo_mime="image/jpeg",
            test_name=sitting.test.name,
            score=sitting.score,
            score_max=sitting.test.score_max,
            level=level_for(sitting.score, sitting.test.cefr_mapping),
            taken_at=sitting.taken_at,
            issued_at=issued_at,
            expires_at=sitting.expires_at,
            organisation_name=sitting.organisation.name,
            verification_code=certificate.verification_code,
            verification_url=verification_url(self._settings.public_url, certificate.verification_code),
        )

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
