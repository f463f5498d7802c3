"""Handing one e-mail to the world: an SMTP server, or an ``.eml`` file when none is configured.

A transport sends :class:`email.message.EmailMessage` objects one at a time
and sorts failures into the two kinds the outbox acts on:
:class:`DeliveryUnavailable` (the server or directory cannot be reached at
all: the rest of the batch need not try) and :class:`PermanentFailure`
(retrying cannot help: a bad address or a 5xx reply). Any other exception
is a transient failure of that one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib


class DeliveryUnavailable(Exception):
    """The mail server (or the outbox directory) cannot be reached at all."""


class PermanentFailure(Exception):
    """Retrying cannot help: a bad address, or a 5xx reply from the server."""


def describe_error(exc: BaseException) -> str:
    """``"TypeName: message"`` (or the type name alone), as stored in ``last_error``."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    """Where ``smtp://[user:password@]host[:port]`` (or ``smtps://`` for implicit TLS) points."""

    hostname: str
    port: int
    use_tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpEndpoint:
        """Parse ``url``; raises ``ValueError`` for another scheme or a missing host."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"CERTIFY_SMTP_URL must look like smtp://host:port, got {url!r}")
        use_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if use_tls else 25),
            use_tls=use_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class Transport(Protocol):
    """Sends messages one at a time; :meth:`close` once the batch is done."""

    async def send(self, message: EmailMessage, *, row_id: int, sender: str, recipient: str) -> None:
        """Hand ``message`` over; raises DeliveryUnavailable, PermanentFailure or a transient error."""

    async def close(self) -> None: ...


def open_transport(endpoint: SmtpEndpoint | None, *, outbox_dir: Path, timeout: float) -> Transport:
    """An SMTP transport for ``endpoint`` (``timeout`` in seconds per command), or files in ``outbox_dir`` without one."""
    if endpoint is None:
        return FileTransport(outbox_dir)
    return SmtpTransport(endpoint, timeout=timeout)


class SmtpTransport:
    """One SMTP connection, opened on first use and reused until closed."""

    def __init__(self, endpoint: SmtpEndpoint, *, timeout: float):
        self._endpoint = endpoint
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage, *, row_id: int, sender: str, recipient: str) -> None:
        """Send over the open connection (opening it first if needed).

        Raises:
            DeliveryUnavailable: the server cannot be reached.
            PermanentFailure: a 5xx reply, or every recipient refused with a 5xx.
            aiosmtplib.SMTPException, OSError, TimeoutError: a transient failure.
        """
        client = await self._connected()
        try:
            # Flattened with the message's own policy, which writes the headers workers/mime.py
            # folded as they are (aiosmtplib's send_message would refold them with email.policy.SMTP).
            await client.sendmail(sender, [recipient], message.as_bytes())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(refused.code >= 500 for refused in exc.recipients):
                raise PermanentFailure(describe_error(exc)) from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            # aiosmtplib has sent RSET: the connection is usable for the next row.
            if exc.code >= 500:
                raise PermanentFailure(describe_error(exc)) from exc
            raise
        except BaseException:
            # A timeout or a dropped connection leaves the session in an
            # unknown state: the next row starts a fresh one.
            self._discard()
            raise
        finally:
            if self._client is not None and not self._client.is_connected:
                self._discard()

    async def close(self) -> None:
        """QUIT politely; drop the connection if the server does not answer."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    def _discard(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        endpoint = self._endpoint
        client = aiosmtplib.SMTP(
            hostname=endpoint.hostname,
            port=endpoint.port,
            use_tls=endpoint.use_tls,
            username=endpoint.username,
            password=endpoint.password,
            timeout=self._timeout,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise DeliveryUnavailable(
                f"cannot reach SMTP server {endpoint.hostname}:{endpoint.port}: {describe_error(exc)}"
            ) from exc
        self._client = client
        return client


class FileTransport:
    """Writes each message to ``{outbox_dir}/{row id:08d}.eml`` (temp file, fsync, rename)."""

    def __init__(self, directory: Path):
        self._directory = directory

    async def send(self, message: EmailMessage, *, row_id: int, sender: str, recipient: str) -> None:
        """Write the file atomically; raises DeliveryUnavailable when the directory cannot be written."""
        try:
            await asyncio.to_thread(self._write, message.as_bytes(), f"{row_id:08d}.eml")
        except OSError as exc:
            raise DeliveryUnavailable(f"cannot write to {self._directory}: {describe_error(exc)}") from exc

    async def close(self) -> None:
        return None

    def _write(self, data: bytes, name: str) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        fd, temp_path = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".eml.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_path, self._directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_path)
            raise
