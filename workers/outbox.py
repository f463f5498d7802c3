"""Durable e-mail delivery from the ``outbox_email`` table.

Rows are written (set-based, in the certifying transaction) with
``subject``/``body`` NULL and ``next_attempt_at`` = creation time. A worker
claims a batch of due rows with one UPDATE (a 60 s lease on
``next_attempt_at``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
:mod:`workers.leases`), renders and stores subject/body once, and hands the
message (that text, and the same as HTML: :func:`workers.emails.html_body`)
to the SMTP server or, without one, writes an ``.eml`` file (both
transports in :mod:`adapters.smtp`).
``sent_at`` set means accepted: the row is never sent again. A failure
counts an attempt and backs off exponentially (2^attempts s, at most 1 h,
jittered); after ``outbox_max_attempts`` the row stays with its
``last_error`` for people to see.

Delivery is at least once: a crash after the server accepted a message and
before ``sent_at`` is stored sends it again after the lease, with the same
Message-ID so the receiver can drop the copy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from adapters.smtp import (
    DeliveryUnavailable,
    PermanentFailure,
    SmtpEndpoint,
    Transport,
    describe_error,
    open_transport,
)
from models import OutboxEmail
from resolvers.sql import Statement
from workers.emails import compose, html_body, recipient_name
from workers.leases import Queue, claim_due
from workers.mime import InvalidAddress, build_message, check_address, message_id_for

log = logging.getLogger(__name__)

BACKOFF_CAP_SECONDS = 3600
LEASE_SECONDS = 60
SMTP_TIMEOUT_SECONDS = 10.0
LAST_ERROR_MAX_LENGTH = 2000


class OutboxSettings(Protocol):
    """What the deliverer reads from the service settings (``server.settings.Settings`` fits)."""

    smtp_url: str | None
    smtp_from: str
    public_url: str
    outbox_max_attempts: int

    @property
    def outbox_dir(self) -> Path: ...


def backoff_seconds(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failure: ``min(2**attempts, 3600)``, minus up to 10 % jitter.

    The jitter spreads retries of rows that failed together (a server
    outage) so they do not all come back in the same second.
    """
    base = float(min(2 ** max(attempts, 0), BACKOFF_CAP_SECONDS))
    return base * (rng or random).uniform(0.9, 1.0)


def _now() -> datetime:
    return datetime.now(UTC)


class OutboxDeliverer:
    """Delivers due outbox rows through SMTP (``settings.smtp_url``) or as ``.eml`` files.

    Safe to run in several processes against one PostgreSQL database: a row
    is only sent by the worker whose claim returned it.
    """

    def __init__(
        self,
        settings: OutboxSettings,
        *,
        lease_seconds: float = LEASE_SECONDS,
        smtp_timeout_seconds: float = SMTP_TIMEOUT_SECONDS,
        rng: random.Random | None = None,
    ):
        self._settings = settings
        self._endpoint = SmtpEndpoint.from_url(settings.smtp_url) if settings.smtp_url else None
        self._sender_address = check_address(parseaddr(settings.smtp_from)[1])
        self._lease = timedelta(seconds=lease_seconds)
        self._timeout = smtp_timeout_seconds
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()

    @property
    def max_attempts(self) -> int:
        return self._settings.outbox_max_attempts

    def wake(self) -> None:
        """Ask :func:`run_outbox` to poll now instead of at its next tick (call after commit)."""
        self._wake.set()

    async def idle(self, *, seconds: float, stop_event: asyncio.Event) -> None:
        """Wait up to ``seconds``, returning early on :meth:`wake` or when ``stop_event`` is set."""
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop_event.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        self._wake.clear()

    async def deliver_due(self, limit: int = 200) -> int:
        """Deliver up to ``limit`` due rows, oldest ``next_attempt_at`` first; return how many were accepted.

        Due: ``sent_at IS NULL``, ``next_attempt_at <= now`` (or NULL) and
        ``attempts < outbox_max_attempts``. Failures are recorded on their
        rows, never raised; when the server cannot be reached, every row of
        the batch records that failure without another connection attempt.
        Database errors propagate (claimed rows come back after the lease).
        Raises ``ValueError`` if ``limit < 1``.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        claimed = await claim_due(self._queue(), limit=limit)
        if not claimed:
            return 0
        due = await OutboxEmail.filter(id__in=claimed).order_by("id")
        transport = self._transport()
        sent = failed = 0
        unavailable: str | None = None
        try:
            for row in due:
                if unavailable is not None:
                    await self._record_failure(row, unavailable)
                    failed += 1
                    continue
                try:
                    if await self._attempt(row, transport):
                        sent += 1
                    else:
                        failed += 1
                except DeliveryUnavailable as exc:
                    unavailable = str(exc)
                    failed += 1
        finally:
            await transport.close()
        if failed:
            log.warning("outbox: %d sent, %d failed (%s)", sent, failed, unavailable or "see last_error")
        elif sent:
            log.info("outbox: %d sent", sent)
        return sent

    def _transport(self) -> Transport:
        return open_transport(self._endpoint, outbox_dir=self._settings.outbox_dir, timeout=self._timeout)

    def _queue(self) -> Queue:
        """The outbox table as a queue: due rows are unsent, under the attempt limit, and at or past their time.

        A claim moves ``next_attempt_at`` one lease ahead, so another worker
        (or this one after a crash) takes the row again only once the lease ends.
        """
        now = _now()
        lease_until = now + self._lease

        def due(stmt: Statement) -> str:
            return (
                f"sent_at IS NULL AND attempts < {stmt.param(self.max_attempts)} "
                f"AND (next_attempt_at IS NULL OR next_attempt_at <= {stmt.param(now)})"
            )

        return Queue(
            table="outbox_email",
            due=due,
            order="next_attempt_at, id",
            claim=lambda stmt: f"next_attempt_at = {stmt.param(lease_until)}",
        )

    async def _attempt(self, row: OutboxEmail, transport: Transport) -> bool:
        """Deliver one claimed row; True when accepted, else False with the failure recorded on the row.

        Raises :class:`DeliveryUnavailable` (also recorded) when the server cannot be reached.
        """
        try:
            await self._deliver(row, transport)
        except DeliveryUnavailable as exc:
            await self._record_failure(row, str(exc))
            raise
        except PermanentFailure as exc:
            await self._record_failure(row, f"permanent: {exc}", permanent=True)
            return False
        except Exception as exc:  # noqa: BLE001 - whatever failed, it is this row's last_error
            await self._record_failure(row, describe_error(exc))
            return False
        return True

    async def _deliver(self, row: OutboxEmail, transport: Transport) -> None:
        recipient = _checked_recipient(row.to_address)
        if row.subject is None or row.body is None:
            row.subject, row.body = await compose(row, public_url=self._settings.public_url)
            await OutboxEmail.filter(id=row.id).update(subject=row.subject, body=row.body)
        message = _message_for(
            row,
            sender=self._settings.smtp_from,
            recipient=recipient,
            recipient_name=await recipient_name(row),
            public_url=self._settings.public_url,
        )
        await transport.send(message, row_id=row.id, sender=self._sender_address, recipient=recipient)
        row.sent_at = _now()
        await OutboxEmail.filter(id=row.id, sent_at=None).update(sent_at=row.sent_at)

    async def _record_failure(self, row: OutboxEmail, error: str, *, permanent: bool = False) -> None:
        attempts = self.max_attempts if permanent else row.attempts + 1
        retry_at = _now() + timedelta(seconds=backoff_seconds(attempts, self._rng))
        error = error[:LAST_ERROR_MAX_LENGTH]
        await OutboxEmail.filter(id=row.id, sent_at=None).update(
            attempts=attempts, last_error=error, next_attempt_at=retry_at
        )
        row.attempts, row.last_error, row.next_attempt_at = attempts, error, retry_at
        if attempts >= self.max_attempts:
            log.error("outbox: e-mail %d to %r given up after %d attempts: %s", row.id, row.to_address, attempts, error)


def _checked_recipient(address: str) -> str:
    try:
        return check_address(address)
    except InvalidAddress as exc:
        raise PermanentFailure(str(exc)) from exc


def _message_for(
    row: OutboxEmail, *, sender: str, recipient: str, recipient_name: str, public_url: str
) -> EmailMessage:
    """The row's stored subject and text, with the same text as HTML (made afresh: the same on every attempt)."""
    subject, body = row.subject or "", row.body or ""
    try:
        return build_message(
            sender=sender,
            to=recipient,
            to_name=recipient_name,
            subject=subject,
            body=body,
            html=html_body(body, subject=subject, public_url=public_url),
            message_id=message_id_for(row.id, sender),
        )
    except InvalidAddress as exc:
        raise PermanentFailure(str(exc)) from exc


async def run_outbox(deliverer: OutboxDeliverer, *, poll_seconds: float, stop_event: asyncio.Event) -> None:
    """Deliver due e-mails until ``stop_event`` is set.

    Polls again at once after a batch that sent something, otherwise waits
    ``poll_seconds`` (or until :meth:`OutboxDeliverer.wake`). Any exception
    of a batch is logged with its traceback and the loop goes on; only
    cancellation ends it early.
    """
    while not stop_event.is_set():
        try:
            sent = await deliverer.deliver_due()
        except Exception:
            log.exception("outbox: delivery batch failed; retrying in %.1f s", poll_seconds)
            sent = 0
        if sent == 0:
            await deliverer.idle(seconds=poll_seconds, stop_event=stop_event)
