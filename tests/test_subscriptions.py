"""The five subscriptions over real websockets: what each viewer receives, and what it never does."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from builders import BASE_TIME, PURCHASE_CREDITS, build_world
from certificate_flow import APPROVE, certified_candidates, claim_ok, reviewer
from support import admin_of, analyst_of, sitting_nodes, sitting_pk, subscribed
from ws_client import LEGACY_WS, TRANSPORT_WS, ws_connect, ws_session

from gql.ids import to_global_id
from models import Sitting
from models.enums import Role

STATUS_CHANGED = """
subscription($filter: SittingFilter) {
  sittingStatusChanged(filter: $filter) { previousStatus status at sitting { id status testTaker { name } } }
}
"""
LIVE_SITTINGS = """
subscription($filter: SittingFilter, $first: Int) {
  liveSittings(filter: $filter, first: $first, orderBy: {field: TAKEN_AT, direction: ASC}) {
    totalCount edges { node { id status certificate { status } } } pageInfo { hasNextPage }
  }
}
"""
CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta organisation { id name } } }"
NOTIFICATIONS = "subscription { notificationReceived { kind title readAt certificate { status sitting { id } } } }"
REVIEW_QUEUE_CHANGED = "subscription { reviewQueueChanged { change certificate { id status holderName } } }"
SELECT = """
mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }
"""
CERTIFY = """
mutation($selection: SittingSelectionInput!, $key: String!) {
  certifySittings(input: {selection: $selection, idempotencyKey: $key}) { certifiedCount errors { code message } }
}
"""



async def test_status_changes_reach_only_the_organisation_and_match_the_filter(server):
    # given two organisations, an admin of A filtering on SELECTED, an analyst of A unfiltered, an admin of B
    world = await build_world(server.platform(), sittings=3, credits=5)
    other = await build_world(server.platform(), sittings=2, name="Other School", prefix="other")
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    async with (
        ws_session(server.ws_url, admin.token) as selected_only,
        ws_session(server.ws_url, analyst_of(server, world).token) as everything,
        ws_session(server.ws_url, admin_of(server, other).token) as outsider,
    ):
        await selected_only.subscribe("1", STATUS_CHANGED, {"filter": {"status": ["SELECTED"]}})
        await everything.subscribe("1", STATUS_CHANGED)
        await outsider.subscribe("1", STATUS_CHANGED)
        await subscribed(server, 3)

        # when the admin selects two sittings, then certifies the first
        assert (await admin.data(SELECT, {"ids": ids[:2]}))["selectSittings"]["changedCount"] == 2
        first = [await selected_only.data("1") for _ in range(2)]
        second = [await everything.data("1") for _ in range(2)]
        certified = await admin.data(CERTIFY, {"selection": {"ids": ids[:1]}, "key": "k1"})
        assert certified["certifySittings"]["certifiedCount"] == 1
        third = await everything.data("1")

        # then the filtered subscriber saw exactly the two selections, the analyst also the certification
        selections = sorted(
            (
                e["sittingStatusChanged"]["sitting"]["id"],
                e["sittingStatusChanged"]["previousStatus"],
                e["sittingStatusChanged"]["status"],
            )
            for e in first
        )
        assert selections == sorted((i, "UNSELECTED", "SELECTED") for i in ids[:2])
        assert sorted(
            (e["sittingStatusChanged"]["sitting"]["id"], e["sittingStatusChanged"]["status"]) for e in second
        ) == sorted((i, "SELECTED") for i in ids[:2])
        event = third["sittingStatusChanged"]
        assert (event["sitting"]["id"], event["previousStatus"], event["status"]) == (ids[0], "SELECTED", "IN_PROGRESS")
        assert event["sitting"]["status"] == "IN_PROGRESS"
        assert event["sitting"]["testTaker"]["name"] == "Candidate 0"
        assert event["at"].endswith("+00:00")
        await selected_only.nothing_for(0.3)
        await outsider.nothing_for(0.1)



async def test_status_changes_match_score_test_time_and_search_filters(server):
    # given three sittings taken a minute apart and six admins, each with one filter
    world = await build_world(server.platform(), sittings=3, credits=5)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    minute = (BASE_TIME + timedelta(minutes=1)).isoformat()
    filters = {
        "above": {"scoreMin": 81},
        "test": {"scoreMax": 80, "testId": world.test_id},
        "other test": {"testId": to_global_id("Test", 10_000)},
        "after": {"takenAfter": minute},
        "before": {"takenBefore": minute},
        "search": {"search": "candidate 2"},
    }
    async with contextlib.AsyncExitStack() as stack:
        sessions = {name: await stack.enter_async_context(ws_session(server.ws_url, admin.token)) for name in filters}
        for name, spec in filters.items():
            await sessions[name].subscribe("1", STATUS_CHANGED, {"filter": spec})
        await subscribed(server, len(filters))

        # when all three are certified at once
        certified = await admin.data(CERTIFY, {"selection": {"ids": ids}, "key": "filters"})
        assert certified["certifySittings"]["certifiedCount"] == 3

        # then each admin hears of exactly the sittings its filter selects
        expected = {"above": [], "test": ids, "other test": [], "after": ids[1:], "before": ids[:1], "search": ids[2:]}
        for name, wanted in expected.items():
            got = [(await sessions[name].data("1"))["sittingStatusChanged"]["sitting"]["id"] for _ in wanted]
            assert sorted(got) == sorted(wanted), name
            await sessions[name].nothing_for(0.05)

async def test_live_sittings_sends_the_page_at_once_then_the_fresh_page(server):
    # given an organisation with five sittings and an admin watching the first three, oldest first
    world = await build_world(server.platform(), sittings=5, credits=5)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    async with ws_session(server.ws_url, admin.token) as dashboard:
        await dashboard.subscribe("live", LIVE_SITTINGS, {"first": 3})

        # then the first page arrives at once
        page = (await dashboard.data("live"))["liveSittings"]
        assert page["totalCount"] == 5
        assert [(e["node"]["id"], e["node"]["status"], e["node"]["certificate"]) for e in page["edges"]] == [
            (i, "UNSELECTED", None) for i in ids[:3]
        ]
        assert page["pageInfo"]["hasNextPage"] is True

        # when the first two are certified
        await admin.data(CERTIFY, {"selection": {"ids": ids[:2]}, "key": "k"})

        # then one fresh page shows them in progress with their new certificates (fresh loaders)
        page = (await dashboard.data("live"))["liveSittings"]
        assert [(e["node"]["id"], e["node"]["status"], e["node"]["certificate"]) for e in page["edges"]] == [
            (ids[0], "IN_PROGRESS", {"status": "AWAITING_CLAIM"}),
            (ids[1], "IN_PROGRESS", {"status": "AWAITING_CLAIM"}),
            (ids[2], "UNSELECTED", None),
        ]
        await dashboard.nothing_for(0.5)


async def test_live_sittings_coalesces_ten_thousand_certifications(sqlite_server):
    # given 10,000 eligible sittings and a dashboard watching the uncertified ones
    server = sqlite_server
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=10_000)
    for batch in range(10):
        rows = [
            {
                "externalId": f"bulk-{batch}-{n}",
                "organisationId": world.organisation_id,
                "testId": world.test_id,
                "testTakerEmail": f"bulk{batch}-{n}@example.com",
                "testTakerName": f"Bulk {batch}-{n}",
                "takenAt": f"2026-10-01T{batch:02d}:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
                "score": 80,
                "photoCheck": "PASSED",
            }
            for n in range(1000)
        ]
        result = await platform.data(
            "mutation($rows: [RecordSittingInput!]!) { recordSittings(input: {sittings: $rows}) { recordedCount } }",
            {"rows": rows},
        )
        assert result["recordSittings"]["recordedCount"] == 1000
    admin = admin_of(server, world)
    async with ws_session(server.ws_url, admin.token) as dashboard:
        await dashboard.subscribe("live", LIVE_SITTINGS, {"first": 10, "filter": {"status": ["UNSELECTED"]}})
        assert (await dashboard.data("live"))["liveSittings"]["totalCount"] == 10_000

        # when all 10,000 are certified in one call
        result = await admin.data(CERTIFY, {"selection": {"all": True}, "key": "all"})
        assert result["certifySittings"]["certifiedCount"] == 10_000

        # then a few pushes arrive, the last one showing the final state
        pushes = []
        while True:
            try:
                pushes.append((await dashboard.data("live", timeout=1.5))["liveSittings"])
            except TimeoutError:
                break
        assert 1 <= len(pushes) <= 3
        assert pushes[-1] == {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False}}


async def test_credit_balance_changes_reach_the_organisations_admins_and_analysts(sqlite_server):
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=10)
    other = await build_world(server.platform(), sittings=0, credits=3, name="Other School", prefix="other")
    async with (
        ws_session(server.ws_url, admin_of(server, world).token) as admin,
        ws_session(server.ws_url, analyst_of(server, world).token) as analyst,
        ws_session(server.ws_url, admin_of(server, other).token) as outsider,
    ):
        for client in (admin, analyst, outsider):
            await client.subscribe("credits", CREDITS_CHANGED)
        await subscribed(server, 3)

        # when the platform records a purchase of 5 credits for the first organisation
        await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 5, "ref": "po-2"})

        # then its admin and analyst see the new balance; the other organisation sees nothing
        expected = {
            "creditBalanceChanged": {
                "creditBalance": 15,
                "delta": 5,
                "organisation": {"id": world.organisation_id, "name": "Acme Languages"},
            }
        }
        assert await admin.data("credits") == expected
        assert await analyst.data("credits") == expected
        await outsider.nothing_for(0.3)


@pytest.mark.parametrize(
    ("role", "query"),
    [
        (Role.TEST_TAKER, CREDITS_CHANGED),
        (Role.SECURITY_REVIEWER, CREDITS_CHANGED),
        (Role.SECURITY_REVIEWER, STATUS_CHANGED),
        (Role.PLATFORM_ADMIN, LIVE_SITTINGS),
        (Role.ORG_ADMIN, NOTIFICATIONS),
        (Role.ANALYST, REVIEW_QUEUE_CHANGED),
    ],
)
async def test_a_wrong_role_gets_forbidden(sqlite_server, role, query):
    server = sqlite_server
    await build_world(server.platform(), sittings=1, credits=0)  # organisation 1 and test taker 1
    token = server.token(
        role,
        org=1 if role in (Role.ORG_ADMIN, Role.ANALYST) else None,
        test_taker=1 if role is Role.TEST_TAKER else None,
    )
    async with ws_session(server.ws_url, token) as client:
        await client.subscribe("1", query)
        payload = await client.next("1")
        assert payload["data"] is None
        assert [e["extensions"]["code"] for e in payload["errors"]] == ["FORBIDDEN"]
        assert await client.receive() == {"id": "1", "type": "complete"}
    assert server.state.hub.subscriber_count() == 0


async def test_notifications_reach_only_their_test_taker(sqlite_server):
    # given two sittings of different test takers, each test taker listening
    server = sqlite_server
    world = await build_world(server.platform(), sittings=2, credits=2)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    takers = [(await Sitting.get(id=sitting_pk(i))).test_taker_id for i in ids]
    async with (
        ws_session(server.ws_url, server.token(Role.TEST_TAKER, test_taker=takers[0])) as mine,
        ws_session(server.ws_url, server.token(Role.TEST_TAKER, test_taker=takers[1])) as theirs,
    ):
        await mine.subscribe("n", NOTIFICATIONS)
        await theirs.subscribe("n", NOTIFICATIONS)
        await subscribed(server, 2)

        # when the first sitting is certified
        await admin.data(CERTIFY, {"selection": {"ids": ids[:1]}, "key": "k"})

        # then its test taker is notified at once, the other is not
        assert await mine.data("n") == {
            "notificationReceived": {
                "kind": "CERTIFICATE_READY_TO_CLAIM",
                "title": "Your certificate is ready to claim",
                "readAt": None,
                "certificate": {"status": "AWAITING_CLAIM", "sitting": {"id": ids[0]}},
            }
        }
        await theirs.nothing_for(0.3)


async def test_review_queue_changes_reach_reviewers(sqlite_server):
    # given a certified candidate and a reviewer and a platform admin watching the queue
    server = sqlite_server
    _, (candidate,) = await certified_candidates(server, 1)
    async with (
        ws_session(server.ws_url, reviewer(server).token) as security,
        ws_session(server.ws_url, server.token(Role.PLATFORM_ADMIN)) as platform,
    ):
        await security.subscribe("q", REVIEW_QUEUE_CHANGED)
        await platform.subscribe("q", REVIEW_QUEUE_CHANGED)
        await subscribed(server, 2)

        # when the candidate claims and a reviewer approves
        await claim_ok(server, candidate, name="Zoë Nguyễn")
        certificate_id = to_global_id("Certificate", candidate.certificate_pk)
        submitted = {
            "change": "SUBMITTED",
            "certificate": {"id": certificate_id, "status": "UNDER_REVIEW", "holderName": "Zoë Nguyễn"},
        }
        assert await security.data("q") == {"reviewQueueChanged": submitted}
        assert await platform.data("q") == {"reviewQueueChanged": submitted}
        payload = (await reviewer(server).data(APPROVE, {"id": certificate_id}))["approveCertificate"]
        assert payload["errors"] == []

        # then both see it leave the queue
        approved = (await security.data("q"))["reviewQueueChanged"]
        assert (approved["change"], approved["certificate"]["status"]) == ("APPROVED", "APPROVED")


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_both_protocols_deliver_with_the_same_authentication(sqlite_server, protocol):
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=1)
    async with ws_connect(server.ws_url, protocol) as client:
        await client.init(admin_of(server, world).token)
        await client.subscribe("c", CREDITS_CHANGED)
        await subscribed(server, 1)
        await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 2, "ref": "po-9"})
        event = (await client.data("c"))["creditBalanceChanged"]
        assert (event["creditBalance"], event["delta"]) == (3, 2)
        await client.complete("c")
        if client.legacy:
            assert await client.receive() == {"id": "c", "type": "complete"}
        await subscribed(server, 0)
