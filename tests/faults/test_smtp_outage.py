"""An SMTP server that goes away, or hangs, while the live server certifies sittings: every e-mail arrives once.

A real aiosmtpd server receives the outbox's e-mails; it is stopped and
started again on the same port, or made to hang before its greeting or after
receiving a message's data. Delivery is at least once (docs/RULES.md,
"E-mail"): a message whose ``250`` never came back is sent again with the
same Message-ID, so counting distinct Message-IDs per recipient is what the
receiving side sees after de-duplication, and that count is exactly one.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from builders import build_world
from harness import free_port, live_server, make_settings
from support import admin_of

from models import OutboxEmail

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMTP_TIMEOUT_SECONDS = 1.0
SENDER_DOMAIN = "certify.localhost"
SITTINGS = "{ sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id } } } }"
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount errors { code message } }
}
"""


@dataclass
class Mailbox:
    """A real aiosmtpd server on 127.0.0.1:``port`` that can be stopped, started again, or told to hang.

    ``received`` holds every message whose data arrived, duplicates
    included. While ``hang_after_data`` holds a Message-ID, that message's
    first delivery is recorded but answered only after ``hang_seconds``
    (longer than the client waits).
    """

    port: int
    received: list[Envelope] = field(default_factory=list)
    hang_after_data: set[str] = field(default_factory=set)
    hang_seconds: float = 3.0
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:
        message_id = message_of(envelope)["Message-ID"]
        with self._lock:
            self.received.append(envelope)
            hang = message_id in self.hang_after_data
            self.hang_after_data.discard(message_id)
        if hang:
            await asyncio.sleep(self.hang_seconds)
        return "250 Message accepted for delivery"

    def message_ids_by_recipient(self) -> dict[str, set[str]]:
        """Recipient → the distinct Message-IDs it received (what a de-duplicating receiver keeps)."""
        with self._lock:
            envelopes = list(self.received)
        kept: dict[str, set[str]] = {}
        for envelope in envelopes:
            kept.setdefault(envelope.rcpt_tos[0], set()).add(message_of(envelope)["Message-ID"])
        return kept

    def copies(self) -> Counter[str]:
        """Message-ID → how many times its data arrived."""
        with self._lock:
            return Counter(message_of(envelope)["Message-ID"] for envelope in self.received)


def message_of(envelope: Envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.original_content, policy=email.policy.default)


@pytest.fixture
def mailbox():
    box = Mailbox(port=free_port())
    box.start()
    yield box
    box.stop()


async def silent_listener(port: int) -> asyncio.Server:
    """A TCP server that accepts connections and never says anything (a hung SMTP server)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    return await asyncio.start_server(hold, "127.0.0.1", port)


def certify_check(settings) -> subprocess.CompletedProcess:
    """``certify check`` on the server's database, as an operator runs it."""
    env = {**os.environ, "CERTIFY_DATABASE_URL": settings.database_url, "CERTIFY_DATA_DIR": str(settings.data_dir)}
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "certify"), "check"],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def certify(admin, ids: list[str], key: str) -> None:
    result = (await admin.data(CERTIFY, {"ids": ids, "key": key}))["certifySittings"]
    assert (result["certifiedCount"], result["errors"]) == (len(ids), []), result


async def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)


async def all_sent() -> bool:
    return not await OutboxEmail.filter(sent_at=None).exists()


async def expected_ids() -> dict[str, set[str]]:
    """Recipient → the Message-ID of each of its outbox rows."""
    rows = await OutboxEmail.all().values_list("id", "to_address")
    expected: dict[str, set[str]] = {}
    for row_id, address in rows:
        expected.setdefault(address, set()).add(f"<outbox-{row_id}@{SENDER_DOMAIN}>")
    return expected


async def test_every_email_queued_while_the_smtp_server_was_down_arrives_exactly_once(tmp_path, database_url, mailbox):
    # given a live server delivering to a real SMTP server, and 30 eligible sittings
    settings = make_settings(
        tmp_path, database_url, smtp_url=f"smtp://127.0.0.1:{mailbox.port}", smtp_timeout_seconds=SMTP_TIMEOUT_SECONDS
    )
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=30, credits=30)
        admin = admin_of(server, world)
        ids = [edge["node"]["id"] for edge in (await admin.data(SITTINGS))["sittings"]["edges"]]
        await certify(admin, ids[:10], "before")
        await wait_until(all_sent, timeout=15, what="the first 10 e-mails sent")

        # when the SMTP server stops while two more batches are certified
        mailbox.stop()
        await certify(admin, ids[10:20], "during-1")
        await certify(admin, ids[20:], "during-2")

        async def all_failed_once() -> bool:
            return await OutboxEmail.filter(sent_at=None, attempts__gte=1).count() == 20

        await wait_until(all_failed_once, timeout=15, what="every queued e-mail tried against the stopped server")
        unsent_during_outage = await OutboxEmail.filter(sent_at=None).count()
        # and it comes back on the same port
        mailbox.start()
        await wait_until(all_sent, timeout=30, what="every e-mail sent after the restart")
        await asyncio.sleep(1.0)  # a duplicate would have the time to arrive

        # then every outbox row arrived exactly once, none lost, none twice
        assert unsent_during_outage == 20
        assert await OutboxEmail.all().count() == 30
        assert mailbox.message_ids_by_recipient() == await expected_ids()
        assert set(mailbox.copies().values()) == {1}
        assert len(mailbox.received) == 30
        errors = await OutboxEmail.filter(attempts__gte=1).values_list("last_error", flat=True)
        assert len(errors) == 20 and all(error.startswith("cannot reach SMTP server 127.0.0.1:") for error in errors)

    # and the data breaks no invariant
    check = certify_check(settings)
    assert check.returncode == 0, check.stdout + check.stderr


async def test_a_hung_smtp_server_never_stalls_delivery_and_a_lost_reply_is_resent_with_its_message_id(
    tmp_path, sqlite_url, mailbox
):
    # given an SMTP port where a server accepts connections and never greets
    port = free_port()
    listener = await silent_listener(port)
    settings = make_settings(
        tmp_path, sqlite_url, smtp_url=f"smtp://127.0.0.1:{port}", smtp_timeout_seconds=SMTP_TIMEOUT_SECONDS
    )
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=6, credits=6)
        admin = admin_of(server, world)
        ids = [edge["node"]["id"] for edge in (await admin.data(SITTINGS))["sittings"]["edges"]]

        # when three sittings are certified
        started = time.monotonic()
        await certify(admin, ids[:3], "hung-greeting")

        # then the batch gives up within the SMTP timeout, sending nothing
        async def tried() -> bool:
            return await OutboxEmail.filter(attempts=1).count() == 3

        await wait_until(tried, timeout=SMTP_TIMEOUT_SECONDS + 3, what="the hung server's batch recorded as failed")
        assert time.monotonic() - started < SMTP_TIMEOUT_SECONDS + 3
        errors = await OutboxEmail.all().values_list("last_error", flat=True)
        hung = f"cannot reach SMTP server 127.0.0.1:{port}: SMTPConnectTimeoutError: Timed out waiting for server ready message"
        assert errors == [hung] * 3

        # when a real server takes the port, answering the data of three more e-mails only after the client gave up
        listener.close()
        await listener.wait_closed()
        mailbox.stop()
        mailbox.port = port
        later = [f"<outbox-{n}@{SENDER_DOMAIN}>" for n in (4, 5, 6)]
        mailbox.hang_after_data.update(later)
        mailbox.start()
        await certify(admin, ids[3:], "hung-reply")
        await wait_until(all_sent, timeout=30, what="every e-mail sent")
        await asyncio.sleep(1.0)

        # then the three hung-at-greeting e-mails arrived once; the three whose reply was lost arrived twice,
        # with one Message-ID each, so a receiver that de-duplicates keeps exactly one of every e-mail
        assert mailbox.message_ids_by_recipient() == await expected_ids()
        copies = mailbox.copies()
        assert copies == Counter({f"<outbox-{n}@{SENDER_DOMAIN}>": 1 for n in (1, 2, 3)} | {mid: 2 for mid in later})
        resent = (
            await OutboxEmail.filter(id__in=[4, 5, 6]).order_by("id").values_list("attempts", "last_error", "sent_at")
        )
        assert [attempts for attempts, _, _ in resent] == [1, 1, 1]
        assert [error for _, error, _ in resent] == ["SMTPReadTimeoutError: Timed out waiting for server response"] * 3
        assert all(sent_at is not None for _, _, sent_at in resent)

    check = certify_check(settings)
    assert check.returncode == 0, check.stdout + check.stderr
