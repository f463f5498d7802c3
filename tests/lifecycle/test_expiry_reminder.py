"""The expiry reminder in real time: an ISSUED certificate is told once that it expires soon.

A real rendering server on SQLite and on PostgreSQL runs the lifecycle job
every second with ``CERTIFY_EXPIRY_REMINDER`` of 200 days, and a real SMTP
server receives its e-mail; a test valid for 12 months gets one sitting taken
300 days ago (it expires within the lead) and one taken yesterday (beyond it)
(docs/RULES.md, "The certificate's life").
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from builders import CREATE_ORGANISATION, CREATE_VALID_TEST, PURCHASE_CREDITS, RECORD_SITTINGS, sitting_row
from certificate_flow import certify_all, issue, rendering_server, wait_for
from lifecycle_support import kinds_of, lifecycle_runs

from gql.ids import decode_id
from models import Certificate, OutboxEmail, Reminder, Sitting
from models.enums import ReminderKind

LEAD = timedelta(days=200)
NOTIFICATIONS = "{ notifications(first: 10) { edges { node { kind title body certificate { id } } } } }"
EXPIRING_BODY = "Your certificate for Acme English expires soon; after that its verification shows it as expired."


@pytest.fixture
async def reminding_server(tmp_path, database_url, smtp_server):
    """Renders certificates; the lifecycle job every second; the expiry reminder 200 days ahead."""
    async with rendering_server(
        tmp_path, database_url, expiry_reminder=LEAD, scheduler_seconds=1.0, smtp_url=smtp_server.url
    ) as server:
        yield server


async def issued_pair(server):
    """Two ISSUED certificates of a 12-month test: one taken 300 days ago, one taken a day ago; their candidates."""
    platform = server.platform()
    org = (await platform.data(CREATE_ORGANISATION, {"name": "Acme Languages"}))["createOrganisation"]
    org_id = org["organisation"]["id"]
    test = (await platform.data(CREATE_VALID_TEST, {"name": "Acme English", "months": 12}))["createTest"]
    assert test["errors"] == []
    await platform.data(PURCHASE_CREDITS, {"org": org_id, "credits": 2, "ref": "initial"})
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        sitting_row(org_id, test["test"]["id"], n, taken_at=now - timedelta(days=days))
        for n, days in enumerate((300, 1))
    ]
    recorded = (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
    assert recorded == {"recordedCount": 2, "unchangedCount": 0, "errors": []}
    soon, later = await certify_all(server, decode_id(org_id, "Organisation"), key="expiring")
    await issue(server, soon, "Zoë Nguyễn")
    await issue(server, later, "Kwame Mensah")
    return soon, later


def received(smtp_server) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(e.content, policy=email.policy.default) for e in list(smtp_server.messages)]


def delivered_to(smtp_server, subject: str) -> list[tuple[list[str], str]]:
    """(envelope recipients, To header: the holder's name and address) of every message the SMTP server accepted with ``subject``."""
    accepted = []
    for envelope in list(smtp_server.messages):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if message["Subject"] == subject:
            accepted.append((envelope.rcpt_tos, str(message["To"])))
    return accepted


@pytest.mark.chromium
async def test_an_issued_certificate_expiring_within_the_lead_is_reminded_once(reminding_server, smtp_server):
    """Given an ISSUED certificate expiring in about 65 days and one in about 364, when the job runs again and
    again, then the first holder gets one CERTIFICATE_EXPIRING notification and one e-mail, and the other none."""
    server = reminding_server
    soon, later = await issued_pair(server)
    soon_sitting = await Sitting.get(id=soon.sitting_pk).prefetch_related("test_taker")
    later_sitting = await Sitting.get(id=later.sitting_pk).prefetch_related("test_taker")
    now = datetime.now(UTC)
    assert soon_sitting.expires_at - now < LEAD < later_sitting.expires_at - now

    # when the job has reminded the first, and then runs three more times
    async def reminded() -> bool:
        return await Reminder.filter(certificate_id=soon.certificate_pk).exists()

    await wait_for(reminded, timeout=15)
    runs = await lifecycle_runs(server.http)

    async def three_more_runs() -> bool:
        return await lifecycle_runs(server.http) >= runs + 3

    await wait_for(three_more_runs, timeout=15, interval=0.2)

    # then one expiry reminder is recorded, for the first certificate's expiry, and none for the other
    reminders = await Reminder.filter(certificate_id__in=[soon.certificate_pk, later.certificate_pk])
    assert [(r.certificate_id, r.kind, r.due_for, r.lead_seconds) for r in reminders] == [
        (soon.certificate_pk, ReminderKind.EXPIRY, soon_sitting.expires_at, int(LEAD.total_seconds()))
    ]
    # and its holder has one CERTIFICATE_EXPIRING notification, newest, about this certificate
    assert await kinds_of(soon.test_taker_pk) == [
        "CERTIFICATE_READY_TO_CLAIM",
        "CERTIFICATE_APPROVED",
        "CERTIFICATE_ISSUED",
        "CERTIFICATE_EXPIRING",
    ]
    inbox = [edge["node"] for edge in (await soon.client.data(NOTIFICATIONS))["notifications"]["edges"]]
    assert inbox[0] == {
        "kind": "CERTIFICATE_EXPIRING",
        "title": "Your certificate expires soon",
        "body": EXPIRING_BODY,
        "certificate": {"id": soon.certificate_id},
    }
    assert await kinds_of(later.test_taker_pk) == [
        "CERTIFICATE_READY_TO_CLAIM",
        "CERTIFICATE_APPROVED",
        "CERTIFICATE_ISSUED",
    ]

    # and one e-mail, to the holder, naming the day it expires
    expires = soon_sitting.expires_at.astimezone(UTC)
    subject = f"Zoë Nguyễn, your Acme English certificate expires on {expires.day} {expires:%B} {expires.year}"
    address = soon_sitting.test_taker.email

    async def sent() -> bool:
        return bool(delivered_to(smtp_server, subject))

    await wait_for(sent, timeout=10)
    assert delivered_to(smtp_server, subject) == [([address], f"Zoë Nguyễn <{address}>")]
    # saying when, in UTC, and linking to the holder's downloads page and the verification page, in both parts
    [message] = [m for m in received(smtp_server) if m["Subject"] == subject]
    plain, html = (part.get_content() for part in message.iter_parts())
    code = (await Certificate.get(id=soon.certificate_pk)).verification_code
    public_url = server.settings.public_url
    links = [f"{public_url}/certificates/{soon.certificate_id}", f"{public_url}/verify/{code}"]
    assert f"is valid until {expires.day} {expires:%B} {expires.year}, {expires:%H:%M} UTC. After that" in plain
    assert [line for line in plain.splitlines() if line.startswith(public_url)] == links
    assert [f'<a href="{link}">{link}</a>' in html for link in links] == [True, True]
    # the only expiry e-mail written at all: the other holder got none
    expiring = await OutboxEmail.filter(template="CERTIFICATE_EXPIRING").values_list("to_address", "subject")
    assert expiring == [(address, subject)]
