"""Durable e-mail delivery against a real SMTP server (aiosmtpd) and the file outbox."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import random
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address

import pytest
from tortoise import connections

from models import OutboxEmail
from server.settings import Settings
from workers.outbox import BACKOFF_CAP_SECONDS, OutboxDeliverer, backoff_seconds, run_outbox

MESSAGE_HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}
"""The top level of a multipart/alternative message (each part has its own Content-Type and encoding)."""


def settings_for(tmp_path, smtp_url: str | None, *, max_attempts: int = 5) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        smtp_url=smtp_url,
        smtp_from="Certify <no-reply@certify.example.test>",
        public_url="https://certify.example.test",
        outbox_max_attempts=max_attempts,
    )


def received(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.original_content, policy=email.policy.default)


def text_of(message: email.message.EmailMessage) -> str:
    """The text/plain part, with the wire's CRLF line ends read as ``\n``."""
    assert message.get_content_type() == "multipart/alternative"
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


async def make_due(*rows: OutboxEmail) -> None:
    """Move the rows' next attempt into the past, as if the backoff had elapsed."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    await OutboxEmail.filter(id__in=[row.id for row in rows]).update(next_attempt_at=past)


async def test_due_rows_are_delivered_once_with_recipient_subject_and_body(tmp_path, smtp_server, make_email):
    # given
    rows = [
        await make_email(name="Zoë Ångström", email="zoe@example.test"),
        await make_email(name="山田 真綾", email="mayu@example.test"),
        await make_email(name="עומרי עבדאללה", email="omri@example.test"),
    ]
    deliverer = OutboxDeliverer(settings_for(tmp_path, smtp_server.url))

    # when
    sent = await deliverer.deliver_due()
    sent_again = await deliverer.deliver_due()

    # then
    assert (sent, sent_again) == (3, 0)
    assert len(smtp_server.messages) == 3
    by_recipient = {envelope.rcpt_tos[0]: envelope for envelope in smtp_server.messages}
    for row, name in zip(rows, ["Zoë Ångström", "山田 真綾", "עומרי עבדאללה"], strict=True):
        envelope = by_recipient[row.to_address]
        assert envelope.rcpt_tos == [row.to_address]
        assert envelope.mail_from == "no-reply@certify.example.test"
        message = received(envelope)
        assert message["To"].addresses == (Address(display_name=name, addr_spec=row.to_address),)
        assert message["Subject"] == f"{name}, your English B2 Academic certificate is ready to claim"
        assert message["Message-ID"] == f"<outbox-{row.id}@certify.example.test>"
        assert f"Hello {name}," in text_of(message)
        stored = await OutboxEmail.get(id=row.id)
        assert stored.sent_at is not None
        assert stored.subject == message["Subject"]
        assert stored.body is not None and stored.body.replace("\r\n", "\n") == text_of(message)
        assert (stored.attempts, stored.last_error) == (0, None)


async def test_a_name_carrying_a_bcc_line_never_becomes_a_header(tmp_path, smtp_server, make_email):
    # given
    row = await make_email(name="Eve\r\nBcc: x@example.test", email="eve@example.test")

    # when
    await OutboxDeliverer(settings_for(tmp_path, smtp_server.url)).deliver_due()

    # then
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["eve@example.test"]
    message = received(envelope)
    assert set(message.keys()) == MESSAGE_HEADERS
    assert message.get_all("Bcc") is None
    assert message["Subject"] == "Eve Bcc: x@example.test, your English B2 Academic certificate is ready to claim"
    assert b"\r\nBcc:" not in envelope.original_content.split(b"\r\n\r\n", 1)[0]
    assert (await OutboxEmail.get(id=row.id)).sent_at is not None


async def test_server_down_counts_an_attempt_and_keeps_every_row_pending_until_it_is_back(
    tmp_path, smtp_server_down, make_email
):
    # given: nothing listens on the port
    rows = [await make_email(), await make_email()]
    deliverer = OutboxDeliverer(settings_for(tmp_path, smtp_server_down.url))

    # when
    before = datetime.now(UTC)
    sent = await deliverer.deliver_due()

    # then
    assert sent == 0
    for row in rows:
        stored = await OutboxEmail.get(id=row.id)
        assert stored.attempts == 1
        assert stored.sent_at is None
        assert "cannot reach SMTP server" in stored.last_error
        assert stored.next_attempt_at > before
    assert await deliverer.deliver_due() == 0  # backing off: not due yet

    # when the server is back and the backoff has elapsed
    smtp_server_down.start()
    await make_due(*rows)
    sent = await deliverer.deliver_due()

    # then
    assert sent == 2
    assert sorted(e.rcpt_tos[0] for e in smtp_server_down.messages) == sorted(r.to_address for r in rows)
    for row in rows:
        stored = await OutboxEmail.get(id=row.id)
        assert stored.sent_at is not None
        assert stored.attempts == 1


async def test_an_accepted_message_is_never_sent_again(tmp_path, smtp_server, make_email):
    # given
    row = await make_email()
    deliverer = OutboxDeliverer(settings_for(tmp_path, smtp_server.url))
    await deliverer.deliver_due()

    # when: even if the row looked due again
    await make_due(row)
    sent = await deliverer.deliver_due()

    # then
    assert sent == 0
    assert len(smtp_server.messages) == 1


async def test_max_attempts_stops_retries_and_leaves_the_last_error_visible(tmp_path, smtp_server_down, make_email):
    # given
    row = await make_email()
    deliverer = OutboxDeliverer(settings_for(tmp_path, smtp_server_down.url, max_attempts=2))
    await deliverer.deliver_due()
    await make_due(row)
    await deliverer.deliver_due()

    # when: the server comes back, and time has passed
    smtp_server_down.start()
    await make_due(row)
    sent = await deliverer.deliver_due()

    # then
    assert sent == 0
    assert smtp_server_down.messages == []
    stored = await OutboxEmail.get(id=row.id)
    assert stored.attempts == 2
    assert stored.sent_at is None
    assert "cannot reach SMTP server" in stored.last_error


async def test_a_permanent_refusal_is_not_retried_and_does_not_stop_the_batch(tmp_path, smtp_server, make_email):
    # given
    refused = await make_email(email="gone@example.test")
    fine = await make_email(email="here@example.test")
    smtp_server.refuse.add("gone@example.test")
    deliverer = OutboxDeliverer(settings_for(tmp_path, smtp_server.url, max_attempts=5))

    # when
    sent = await deliverer.deliver_due()

    # then
    assert sent == 1
    assert [e.rcpt_tos for e in smtp_server.messages] == [["here@example.test"]]
    stored = await OutboxEmail.get(id=refused.id)
    assert stored.sent_at is None
    assert stored.attempts == 5
    assert stored.last_error.startswith("permanent: ") and "550" in stored.last_error
    assert (await OutboxEmail.get(id=fine.id)).sent_at is not None


async def test_an_address_with_control_characters_is_refused_without_reaching_the_server(
    tmp_path, smtp_server, make_email
):
    row = await make_email(to_address="eve@example.test\r\nRCPT TO:<x@example.test>")

    sent = await OutboxDeliverer(settings_for(tmp_path, smtp_server.url)).deliver_due()

    assert sent == 0
    assert smtp_server.messages == []
    stored = await OutboxEmail.get(id=row.id)
    assert stored.sent_at is None
    assert stored.last_error.startswith("permanent: ")


async def test_concurrent_deliverers_send_each_row_exactly_once(tmp_path, smtp_server, make_email):
    # given
    rows = [await make_email() for _ in range(30)]
    settings = settings_for(tmp_path, smtp_server.url)
    workers = [OutboxDeliverer(settings) for _ in range(3)]

    # when
    results = await asyncio.gather(*(worker.deliver_due(limit=30) for worker in workers))

    # then
    assert sum(results) == 30
    message_ids = [received(envelope)["Message-ID"] for envelope in smtp_server.messages]
    assert sorted(message_ids) == sorted(f"<outbox-{row.id}@certify.example.test>" for row in rows)


async def test_without_smtp_url_each_row_becomes_one_parseable_eml_file(tmp_path, make_email):
    # given
    rows = [await make_email(name="Ana Souza"), await make_email(name="Иван Петров")]
    settings = settings_for(tmp_path, None)
    deliverer = OutboxDeliverer(settings)

    # when
    sent = await deliverer.deliver_due()
    sent_again = await deliverer.deliver_due()

    # then
    assert (sent, sent_again) == (2, 0)
    files = sorted(settings.outbox_dir.iterdir())
    assert [f.name for f in files] == [f"{row.id:08d}.eml" for row in rows]
    for path, row, name in zip(files, rows, ["Ana Souza", "Иван Петров"], strict=True):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert set(message.keys()) == MESSAGE_HEADERS
        assert message["To"].addresses == (Address(display_name=name, addr_spec=row.to_address),)
        assert message["Subject"].startswith(f"{name}, ")
        assert f"Hello {name}," in text_of(message)
        assert (await OutboxEmail.get(id=row.id)).sent_at is not None


async def test_rows_not_yet_due_wait(tmp_path, smtp_server, make_email):
    row = await make_email()
    await OutboxEmail.filter(id=row.id).update(next_attempt_at=datetime.now(UTC) + timedelta(minutes=5))

    assert await OutboxDeliverer(settings_for(tmp_path, smtp_server.url)).deliver_due() == 0
    assert smtp_server.messages == []


async def test_rows_are_delivered_oldest_first_up_to_the_limit(tmp_path, smtp_server, make_email):
    rows = [await make_email() for _ in range(3)]
    now = datetime.now(UTC)
    for age, row in zip([1, 3, 2], rows, strict=True):
        await OutboxEmail.filter(id=row.id).update(next_attempt_at=now - timedelta(minutes=age))

    sent = await OutboxDeliverer(settings_for(tmp_path, smtp_server.url)).deliver_due(limit=2)

    assert sent == 2
    assert sorted(e.rcpt_tos[0] for e in smtp_server.messages) == sorted([rows[1].to_address, rows[2].to_address])


@pytest.mark.parametrize("attempts", [1, 2, 5, 11, 12, 30])
def test_backoff_doubles_per_attempt_up_to_an_hour_with_a_little_jitter(attempts):
    expected = min(2**attempts, BACKOFF_CAP_SECONDS)
    delays = [backoff_seconds(attempts, random.Random(seed)) for seed in range(50)]
    assert all(0.9 * expected <= delay <= expected for delay in delays)
    assert len(set(delays)) > 1


async def test_run_outbox_delivers_when_woken_survives_errors_and_stops(tmp_path, smtp_server, make_email, caplog):
    # given a running loop with a long poll interval
    deliverer = OutboxDeliverer(settings_for(tmp_path, smtp_server.url))
    stop = asyncio.Event()
    task = asyncio.create_task(run_outbox(deliverer, poll_seconds=30, stop_event=stop))
    await asyncio.sleep(0.05)

    # when a certification queues an e-mail and pokes the loop
    await make_email(email="first@example.test")
    deliverer.wake()

    # then it is delivered without waiting for the poll interval
    await wait_until(lambda: len(smtp_server.messages) == 1)

    # when a batch fails outright (the table is briefly unavailable)
    conn = connections.get("default")
    await conn.execute_script("ALTER TABLE outbox_email RENAME TO outbox_email_away")
    with caplog.at_level(logging.ERROR, logger="workers.outbox"):
        deliverer.wake()
        await wait_until(lambda: any("delivery batch failed" in r.getMessage() for r in caplog.records))
    await conn.execute_script("ALTER TABLE outbox_email_away RENAME TO outbox_email")

    # then the loop is still alive and delivers the next e-mail
    assert not task.done()
    await make_email(email="second@example.test")
    deliverer.wake()
    await wait_until(lambda: len(smtp_server.messages) == 2)

    # when stopped, it ends promptly
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert [e.rcpt_tos[0] for e in smtp_server.messages] == ["first@example.test", "second@example.test"]


async def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
