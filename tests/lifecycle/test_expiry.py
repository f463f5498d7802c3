"""Sittings whose validity ends, in real time: unselected, selected and certified-but-unclaimed ones.

A real server on SQLite and on PostgreSQL runs the lifecycle job every
second; a test with ``validityMonths: 12`` gets sittings taken twelve months
and a few seconds ago, so their validity ends while the test watches
(docs/RULES.md, "The certificate's life").
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from builders import CREATE_ORGANISATION, CREATE_VALID_TEST, PURCHASE_CREDITS, RECORD_SITTINGS, sitting_row
from certificate_flow import CERTIFY, wait_for
from harness import live_server, make_settings
from lifecycle_support import kinds_of, subjects
from support import ledger_sum
from ws_client import ws_session

from gql.ids import decode_id
from models import Certificate, CreditTransaction, Organisation, Sitting
from models.enums import Role
from resolvers.invariants import find_violations

SELECT = "mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
SITTINGS = "{ sittings(first: 10, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id } } } }"
STATUS_CHANGES = "subscription { sittingStatusChanged { previousStatus status sitting { id } } }"
CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"
SITTING = "query($id: ID!) { node(id: $id) { ... on Sitting { status ineligibilityReason certificate { id } } } }"
AHEAD = timedelta(seconds=3)
"""How far ahead of recording the sittings' validity ends."""


async def expiring_world(server, expires_at: datetime) -> tuple[int, list[str]]:
    """An organisation with one credit and three sittings of a 12-month test that expire at ``expires_at``."""
    platform = server.platform()
    org = (await platform.data(CREATE_ORGANISATION, {"name": "Acme Languages"}))["createOrganisation"]
    org_id = org["organisation"]["id"]
    test = (await platform.data(CREATE_VALID_TEST, {"name": "Acme English", "months": 12}))["createTest"]
    assert test["errors"] == []
    await platform.data(PURCHASE_CREDITS, {"org": org_id, "credits": 1, "ref": "initial"})
    taken_at = expires_at.replace(year=expires_at.year - 1)
    rows = [sitting_row(org_id, test["test"]["id"], n, taken_at=taken_at + timedelta(microseconds=n)) for n in range(3)]
    recorded = (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
    assert recorded["errors"] == [] and recorded["recordedCount"] == 3
    return decode_id(org_id, "Organisation"), rows


@pytest.fixture
async def expiry_server(tmp_path, database_url, smtp_server):
    """The lifecycle job every second; claims have an hour (a reminder a minute before), so only expiry lapses."""
    settings = make_settings(
        tmp_path,
        database_url,
        claim_window=timedelta(hours=1),
        claim_reminders=(timedelta(minutes=1),),
        scheduler_seconds=1.0,
        smtp_url=smtp_server.url,
    )
    async with live_server(settings) as server:
        yield server


async def test_sittings_expire_and_an_unclaimed_certificate_of_one_lapses_with_its_refund(expiry_server, smtp_server):
    """Given an UNSELECTED, a SELECTED and a certified (AWAITING_CLAIM) sitting whose validity ends in 3 s,
    when it ends, then all three are INELIGIBLE/EXPIRED with one event per step, the certificate lapsed,
    its credit came back once, and the invariants hold."""
    server = expiry_server
    expires_at = datetime.now(UTC).replace(microsecond=0) + AHEAD + timedelta(seconds=1)
    organisation_pk, _ = await expiring_world(server, expires_at)
    admin_token = server.token(Role.ORG_ADMIN, org=organisation_pk, subject="admin")
    admin = server.client(admin_token)
    unselected, selected, certified = [edge["node"]["id"] for edge in (await admin.data(SITTINGS))["sittings"]["edges"]]
    sittings = await Sitting.filter(organisation_id=organisation_pk).order_by("taken_at")
    assert [s.expires_at for s in sittings] == [expires_at + timedelta(microseconds=n) for n in range(3)]
    assert (await admin.data(SELECT, {"ids": [selected]}))["selectSittings"] == {"changedCount": 1, "errors": []}
    assert (await admin.data(CERTIFY, {"ids": [certified], "key": "k"}))["certifySittings"]["certifiedCount"] == 1
    certificate = await Certificate.get(sitting_id=decode_id(certified, "Sitting"))
    # the claim window would end long after the validity: the deadline is the expiry, which lapses it
    certified_expiry = (await Sitting.get(id=certificate.sitting_id)).expires_at
    assert certificate.claim_deadline == certified_expiry < certificate.created_at + timedelta(hours=1)
    async with ws_session(server.ws_url, admin_token) as ws:
        await ws.subscribe("status", STATUS_CHANGES)
        await ws.subscribe("credits", CREDITS_CHANGED)
        await asyncio.sleep(0.3)

        async def all_expired() -> bool:
            return await Sitting.filter(organisation_id=organisation_pk, status="INELIGIBLE").count() == 3

        await wait_for(all_expired, timeout=15)
        heard: dict[str, list[dict]] = {"status": [], "credits": []}
        for _ in range(6):  # five status changes and one balance change, the two streams interleaved
            message = await ws.receive()
            heard[message["id"]].append(message["payload"]["data"])
        await ws.nothing_for(1.2)  # a later run finds nothing more

    changes = [
        (e["sittingStatusChanged"]["sitting"]["id"], e["sittingStatusChanged"]["previousStatus"],
         e["sittingStatusChanged"]["status"])
        for e in heard["status"]
    ]  # fmt: skip
    # each sitting's own changes arrive in order: a selected or certified sitting is UNSELECTED first
    assert [c for c in changes if c[0] == unselected] == [(unselected, "UNSELECTED", "INELIGIBLE")]
    assert [c for c in changes if c[0] == selected] == [
        (selected, "SELECTED", "UNSELECTED"),
        (selected, "UNSELECTED", "INELIGIBLE"),
    ]
    assert [c for c in changes if c[0] == certified] == [
        (certified, "IN_PROGRESS", "UNSELECTED"),
        (certified, "UNSELECTED", "INELIGIBLE"),
    ]
    assert heard["credits"] == [{"creditBalanceChanged": {"creditBalance": 1, "delta": 1}}]
    for gid in (unselected, selected, certified):
        node = (await admin.data(SITTING, {"id": gid}))["node"]
        assert node == {"status": "INELIGIBLE", "ineligibilityReason": "EXPIRED", "certificate": None}
    lapsed = await Certificate.get(id=certificate.id)
    assert str(lapsed.status) == "LAPSED" and lapsed.lapsed_at >= expires_at
    refunds = await CreditTransaction.filter(organisation_id=organisation_pk, kind="REFUND")
    assert [(r.delta, r.balance_after) for r in refunds] == [(1, 1)]
    assert (await Organisation.get(id=organisation_pk)).credit_balance == 1 == await ledger_sum(organisation_pk)
    taker = (await Sitting.get(id=certificate.sitting_id).prefetch_related("test_taker")).test_taker
    # the reminder's lead (a minute) had passed at once, so it came before the lapse, naming the real day
    assert await kinds_of(taker.id) == ["CERTIFICATE_READY_TO_CLAIM", "CLAIM_REMINDER", "CLAIM_LAPSED"]

    async def delivered() -> bool:
        return len(subjects(smtp_server, taker.email)) >= 3

    await wait_for(delivered, timeout=10)
    at = certified_expiry.astimezone(UTC)
    deadline = f"{at.day} {at:%B} {at.year}, {at:%H:%M} UTC"
    assert subjects(smtp_server, taker.email) == [
        f"{taker.name}, your Acme English certificate is ready to claim",
        f"{taker.name}, claim your Acme English certificate by {deadline}",
        f"{taker.name}, your Acme English certificate was not claimed in time",
    ]
    assert await find_violations(storage=server.state.storage) == []
