"""Claim deadlines in real time: reminders, lapses with their refunds, and claims that beat the deadline.

A real server on SQLite and on PostgreSQL with the durations as settings
(a 4 s claim window, a reminder 2 s before, the lifecycle job every second)
and a real SMTP server; what the e-mails, notifications, ledger, database
and a websocket subscriber see is asserted exactly (docs/RULES.md, "The
certificate's life").
"""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import io
from datetime import UTC, datetime, timedelta

import pytest
from certificate_flow import (
    CERTIFY,
    REJECT,
    certified_candidates,
    claim_ok,
    path_of,
    portrait,
    reviewer,
    send_claim,
    wait_for,
)
from harness import live_server, make_settings
from lifecycle_support import WINDOW, kinds_of, lifecycle_app, lifecycle_runs, links_in, subjects
from support import ledger_sum
from ws_client import ws_session

from gql.ids import to_global_id
from models import Certificate, CreditTransaction, Organisation, Reminder, Sitting
from models.enums import Role
from resolvers.invariants import find_violations

STATUS_CHANGES = "subscription { sittingStatusChanged { previousStatus status sitting { id } } }"
CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"
SITTING = """
query($id: ID!) { node(id: $id) { ... on Sitting { status certificate { id status } certificates { id status } } } }
"""
DEADLINE_FIELDS = "status claimDeadline reviewedAt"
DEADLINE = f"query($id: ID!) {{ node(id: $id) {{ ... on Certificate {{ {DEADLINE_FIELDS} }} }} }}"
REJECT_CLAIM = f"""
mutation($id: ID!) {{
  rejectCertificate(input: {{certificateId: $id, reason: "The photo is blurred."}}) {{
    certificate {{ {DEADLINE_FIELDS} }} errors {{ code }}
  }}
}}
"""
EXPORT = "query($filter: SittingFilter) { exportSittings(filter: $filter) { url rowCount } }"
EXTEND = """
mutation($id: ID!, $deadline: DateTime!) {
  extendClaimDeadline(input: {certificateId: $id, claimDeadline: $deadline}) { certificate { claimDeadline } errors { code } }
}
"""


async def test_an_unclaimed_certificate_is_reminded_once_then_lapses_and_is_refunded(lifecycle_server, smtp_server):
    """Given two certified sittings nobody claims, when the window passes, then each test taker was
    reminded once, each certificate lapsed with one +1 refund, the sittings are blank again, the
    dashboard heard it, and the invariants hold; certifying one again opens a second certificate."""
    server = lifecycle_server
    world, candidates = await certified_candidates(server, 2)
    admin_token = server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="admin")
    certified = await Certificate.filter(id__in=[c.certificate_pk for c in candidates]).order_by("id")
    for certificate in certified:
        sitting = await Sitting.get(id=certificate.sitting_id)
        assert certificate.claim_deadline == sitting.certified_at + WINDOW
    async with ws_session(server.ws_url, admin_token) as ws:
        await ws.subscribe("status", STATUS_CHANGES)
        await ws.subscribe("credits", CREDITS_CHANGED)
        await asyncio.sleep(0.3)

        # when the deadline passes (a scheduler run every second)
        async def lapsed() -> bool:
            return await Certificate.filter(id__in=[c.certificate_pk for c in candidates], status="LAPSED").count() == 2

        await wait_for(lapsed, timeout=15)
        heard: dict[str, list[dict]] = {"status": [], "credits": []}
        for _ in range(len(candidates) + 1):  # the two streams interleave
            message = await ws.receive()
            heard[message["id"]].append(message["payload"]["data"])
        events, [credits] = heard["status"], heard["credits"]
        await asyncio.sleep(1.2)  # another run finds nothing more to do
        await ws.nothing_for(0.5)

    # then each test taker got one reminder and one lapse notice, in-app and by e-mail
    for candidate in candidates:
        assert await kinds_of(candidate.test_taker_pk) == [
            "CERTIFICATE_READY_TO_CLAIM",
            "CLAIM_REMINDER",
            "CLAIM_LAPSED",
        ]
    for candidate, certificate in zip(candidates, certified, strict=True):
        taker = (await Sitting.get(id=candidate.sitting_pk).prefetch_related("test_taker")).test_taker

        async def delivered(email=taker.email) -> bool:
            return len(subjects(smtp_server, email)) >= 3

        await wait_for(delivered, timeout=10)
        at = certificate.claim_deadline.astimezone(UTC)
        deadline = f"{at.day} {at:%B} {at.year}, {at:%H:%M} UTC"
        assert subjects(smtp_server, taker.email) == [
            f"{taker.name}, your Acme Languages English certificate is ready to claim",
            f"{taker.name}, claim your Acme Languages English certificate by {deadline}",
            f"{taker.name}, your Acme Languages English certificate was not claimed in time",
        ]
        ready, reminder, lapse = (
            email.message_from_bytes(envelope.content, policy=email.policy.default)
            for envelope in list(smtp_server.messages)
            if taker.email in envelope.rcpt_tos
        )
        body = ready.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert f"\nClaim it by {deadline}: after that it can no longer be claimed.\n" in body
        # the reminder links to the claim page of this sitting in both parts; the lapse notice to nothing
        claim_link = f"{server.settings.public_url}/claim/{candidate.sitting_id}"
        assert links_in(ready) == links_in(reminder) == ([claim_link], [claim_link])
        assert links_in(lapse) == ([], [])
        lapse_text = lapse.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert f"\nclaimed by {deadline}, so it can no longer be claimed.\n" in lapse_text
    assert await Reminder.filter(certificate_id__in=[c.certificate_pk for c in candidates]).count() == 2
    # one +1 refund per certificate, naming its batch and certificate; the balance is the ledger's sum
    refunds = await CreditTransaction.filter(organisation_id=world.organisation_pk, kind="REFUND").order_by("id")
    batch = (await CreditTransaction.get(organisation_id=world.organisation_pk, kind="CERTIFICATION")).reference
    assert [(r.delta, r.balance_after, r.reference) for r in refunds] == [
        (1, 1, f"{batch}/lapse/{certified[0].id}"),
        (1, 2, f"{batch}/lapse/{certified[1].id}"),
    ]
    organisation = await Organisation.get(id=world.organisation_pk)
    assert organisation.credit_balance == 2 == await ledger_sum(world.organisation_pk)
    # the dashboard heard every sitting go back and one balance change of +2
    assert sorted((e["sittingStatusChanged"]["sitting"]["id"], e["sittingStatusChanged"]["previousStatus"],
                   e["sittingStatusChanged"]["status"]) for e in events) == sorted(
        (c.sitting_id, "IN_PROGRESS", "UNSELECTED") for c in candidates
    )  # fmt: skip
    assert credits == {"creditBalanceChanged": {"creditBalance": 2, "delta": 2}}
    admin = server.client(admin_token)
    for candidate in candidates:
        node = (await admin.data(SITTING, {"id": candidate.sitting_id}))["node"]
        lapsed_one = {"id": candidate.certificate_id, "status": "LAPSED"}
        assert node == {"status": "UNSELECTED", "certificate": None, "certificates": [lapsed_one]}
    assert await find_violations(storage=server.state.storage) == []

    # when one lapsed sitting is certified again, then a second certificate and a second debit
    again = await admin.data(CERTIFY, {"ids": [candidates[0].sitting_id], "key": "again"})
    assert again["certifySittings"] == {"certifiedCount": 1, "errors": []}
    second = await Certificate.get(sitting_id=candidates[0].sitting_pk, status="AWAITING_CLAIM")
    node = (await admin.data(SITTING, {"id": candidates[0].sitting_id}))["node"]
    again_one = {"id": to_global_id("Certificate", second.id), "status": "AWAITING_CLAIM"}
    assert node == {
        "status": "IN_PROGRESS",
        "certificate": again_one,
        "certificates": [again_one, {"id": candidates[0].certificate_id, "status": "LAPSED"}],
    }
    debits = await CreditTransaction.filter(organisation_id=world.organisation_pk, kind="CERTIFICATION").count()
    assert debits == 2

    # then the export's certificate column reads as the filter matches: the newest certificate
    for statuses, expected in (
        (["LAPSED"], [(candidates[1], "LAPSED")]),
        (["AWAITING_CLAIM"], [(candidates[0], "AWAITING_CLAIM")]),
    ):
        exported = (await admin.data(EXPORT, {"filter": {"certificateStatus": statuses}}))["exportSittings"]
        rows = list(csv.DictReader(io.StringIO((await server.http.get(path_of(exported["url"]))).text)))
        assert [(row["sittingId"], row["certificateStatus"]) for row in rows] == [
            (candidate.sitting_id, status) for candidate, status in expected
        ]
    assert (
        (await Organisation.get(id=world.organisation_pk)).credit_balance
        == 1
        == await ledger_sum(world.organisation_pk)
    )
    assert await find_violations(storage=server.state.storage) == []


async def test_a_claim_submitted_before_the_deadline_never_lapses(lifecycle_server):
    """Given a claim submitted a moment before the deadline, when the deadline passes and the claim is then
    rejected, then it never lapsed and the test taker has a whole new window; nothing was refunded."""
    server = lifecycle_server
    world, [candidate] = await certified_candidates(server, 1)
    certificate = await Certificate.get(id=candidate.certificate_pk)
    await asyncio.sleep(max(0.0, (certificate.claim_deadline - certificate.created_at).total_seconds() - 1.5))
    await claim_ok(server, candidate)
    await asyncio.sleep(2.5)  # past the deadline by a second, two or more scheduler runs
    claimed = await Certificate.get(id=candidate.certificate_pk)
    assert str(claimed.status) == "UNDER_REVIEW"
    assert claimed.submitted_at < certificate.claim_deadline < datetime.now(UTC)
    rejected = await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": "The photo is blurred."})
    assert rejected["rejectCertificate"]["errors"] == []
    certificate = await Certificate.get(id=candidate.certificate_pk)
    assert certificate.claim_deadline == certificate.reviewed_at + WINDOW
    await asyncio.sleep(1.2)  # another run: the new deadline is ahead
    assert str((await Certificate.get(id=candidate.certificate_pk)).status) == "REJECTED"
    assert await CreditTransaction.filter(organisation_id=world.organisation_pk, kind="REFUND").count() == 0


@pytest.fixture
async def late_reminder_server(tmp_path, database_url, smtp_server):
    """Claims have an hour, and two of the three reminder leads (two days, one day) are longer than that."""
    settings = make_settings(
        tmp_path,
        database_url,
        claim_window=timedelta(hours=1),
        claim_reminders=(timedelta(days=2), timedelta(days=1), timedelta(minutes=30)),
        scheduler_seconds=1.0,
        smtp_url=smtp_server.url,
    )
    async with live_server(settings) as server:
        yield server


async def test_leads_that_passed_together_send_one_reminder_and_are_all_recorded(late_reminder_server, smtp_server):
    """Given a certificate whose two longest reminder leads have both passed when it is certified (as after
    an outage), when the job runs, then the test taker gets one reminder, in-app and by e-mail, both leads
    are recorded as done, and later runs send nothing more until the third lead."""
    server = late_reminder_server
    _, [candidate] = await certified_candidates(server, 1)

    async def reminded() -> bool:
        return await Reminder.filter(certificate_id=candidate.certificate_pk).exists()

    await wait_for(reminded, timeout=10)
    await asyncio.sleep(1.5)  # another run finds nothing more to do
    certificate = await Certificate.get(id=candidate.certificate_pk)
    reminders = await Reminder.filter(certificate_id=certificate.id).order_by("-lead_seconds")
    assert [(r.kind, r.due_for, r.lead_seconds) for r in reminders] == [
        ("CLAIM", certificate.claim_deadline, 2 * 86400),
        ("CLAIM", certificate.claim_deadline, 86400),
    ]
    assert await kinds_of(candidate.test_taker_pk) == ["CERTIFICATE_READY_TO_CLAIM", "CLAIM_REMINDER"]
    taker = (await Sitting.get(id=candidate.sitting_pk).prefetch_related("test_taker")).test_taker

    async def delivered() -> bool:
        return len(subjects(smtp_server, taker.email)) >= 2

    await wait_for(delivered, timeout=10)
    at = certificate.claim_deadline.astimezone(UTC)
    deadline = f"{at.day} {at:%B} {at.year}, {at:%H:%M} UTC"
    assert subjects(smtp_server, taker.email) == [
        f"{taker.name}, your Acme Languages English certificate is ready to claim",
        f"{taker.name}, claim your Acme Languages English certificate by {deadline}",
    ]


REJECTION_WINDOW, REJECTION_LEAD = timedelta(seconds=8), timedelta(seconds=4)


@pytest.fixture
async def rejection_server(tmp_path, database_url, smtp_server):
    """Claims have 8 s, one reminder 4 s before: a rejection nearer than 4 s to the deadline moves it."""
    async with lifecycle_app(
        tmp_path, database_url, smtp_server, window=REJECTION_WINDOW, lead=REJECTION_LEAD
    ) as server:
        yield server


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def deadline_of(client, candidate) -> datetime:
    return instant((await client.data(DEADLINE, {"id": candidate.certificate_id}))["node"]["claimDeadline"])


async def reject_at(server, candidate, moment: datetime) -> dict:
    """Reject ``candidate``'s claim once ``moment`` has come; the certificate as the payload gives it."""
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))
    payload = (await reviewer(server).data(REJECT_CLAIM, {"id": candidate.certificate_id}))["rejectCertificate"]
    assert payload["errors"] == []
    return payload["certificate"]


async def test_a_rejection_after_or_near_the_deadline_moves_it_and_one_well_before_does_not(rejection_server):
    """Given three claims under review, when one is rejected an hour before its deadline, one 2 s before it
    (nearer than the 4 s lead) and one 1 s after it, then the first deadline stays and the others become
    exactly their rejection time plus the 8 s window; none lapsed."""
    server = rejection_server
    world, [well, near, after] = await certified_candidates(server, 3)
    admin = server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="admin"))
    extended = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    moved = await admin.data(EXTEND, {"id": well.certificate_id, "deadline": extended.isoformat()})
    assert moved["extendClaimDeadline"] == {"certificate": {"claimDeadline": extended.isoformat()}, "errors": []}
    for candidate in (well, near, after):
        await claim_ok(server, candidate)
    deadlines = [await deadline_of(admin, candidate) for candidate in (well, near, after)]
    assert deadlines[0] == extended

    # when each is rejected: well before, nearer than the lead, and after the deadline
    rejected = [
        await reject_at(server, well, datetime.now(UTC)),
        await reject_at(server, near, deadlines[1] - REJECTION_LEAD / 2),
        await reject_at(server, after, deadlines[2] + timedelta(seconds=1)),
    ]
    reviewed = [instant(certificate["reviewedAt"]) for certificate in rejected]

    # then they were rejected where intended, by the server's own clock
    assert deadlines[0] - reviewed[0] > REJECTION_LEAD
    assert timedelta(0) < deadlines[1] - reviewed[1] < REJECTION_LEAD
    assert reviewed[2] > deadlines[2]
    # and the first deadline is unchanged, the others a whole window from their rejection
    expected = [deadlines[0], reviewed[1] + REJECTION_WINDOW, reviewed[2] + REJECTION_WINDOW]
    assert [(c["status"], instant(c["claimDeadline"])) for c in rejected] == [("REJECTED", d) for d in expected]
    assert [await deadline_of(admin, candidate) for candidate in (well, near, after)] == expected

    # and a later run lapses none of them: every new deadline is still ahead
    runs = await lifecycle_runs(server.http)

    async def another_run() -> bool:
        return await lifecycle_runs(server.http) > runs

    await wait_for(another_run, timeout=5, interval=0.1)
    assert datetime.now(UTC) < min(expected)
    statuses = [(await admin.data(DEADLINE, {"id": c.certificate_id}))["node"]["status"] for c in (well, near, after)]
    assert statuses == ["REJECTED", "REJECTED", "REJECTED"]
    assert await CreditTransaction.filter(organisation_id=world.organisation_pk, kind="REFUND").count() == 0


@pytest.fixture
async def idle_job_server(tmp_path, database_url):
    """A 2 s claim window and a lifecycle job that does not run during the test (hourly)."""
    settings = make_settings(tmp_path, database_url, claim_window=timedelta(seconds=2), scheduler_seconds=3600.0)
    async with live_server(settings) as server:
        yield server


async def test_past_the_deadline_a_claim_is_refused_before_the_job_lapses_it(idle_job_server):
    """Given two certificates past their deadline that the job has not lapsed yet, when one is claimed
    and the other's deadline is extended, then both are INVALID_TRANSITION and nothing changed."""
    server = idle_job_server
    world, [late, overdue] = await certified_candidates(server, 2)
    deadline = (await Certificate.get(id=late.certificate_pk)).claim_deadline
    await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 0.2)

    # when
    payload = await send_claim(server, late, name="Zoë Nguyễn", photo=portrait())
    admin = server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="admin"))
    later = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    extended = await admin.data(EXTEND, {"id": overdue.certificate_id, "deadline": later})

    # then
    at = deadline.astimezone(UTC)
    shown = f"{at.day} {at:%B} {at.year}, {at:%H:%M} UTC"
    assert payload == {
        "certificate": None,
        "errors": [
            {
                "code": "INVALID_TRANSITION",
                "message": f"the claim deadline passed on {shown}; this certificate can no longer be claimed",
                "field": ["input", "sittingId"],
            }
        ],
    }
    assert extended["extendClaimDeadline"] == {"certificate": None, "errors": [{"code": "INVALID_TRANSITION"}]}
    rows = await Certificate.filter(id__in=[late.certificate_pk, overdue.certificate_pk]).values_list(
        "status", "photo_key", "claim_deadline"
    )
    assert [(status, photo) for status, photo, _ in rows] == [("AWAITING_CLAIM", None)] * 2
    assert list(server.settings.files_dir.rglob("*.jpg")) == []
