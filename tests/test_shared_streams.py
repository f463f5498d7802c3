"""Identical event subscriptions share one stream (server/multiplex.py): same events, own ids, own pace."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import graphql
import pytest
import strawberry
from builders import PURCHASE_CREDITS, RECORD_SITTINGS, build_world, sitting_row
from harness import live_server, make_settings
from own_redis import own_redis  # noqa: F401 - fixture
from support import admin_of, analyst_of, shrink_server_send_buffer, sitting_nodes, slow_socket, subscribed
from websockets.exceptions import ConnectionClosed
from ws_client import LEGACY_WS, ws_connect, ws_session

from gql.realtime import Sharing, event_subscription, live_query, sharing_of
from gql.schema import build_schema, export_sdl
from models.enums import Role
from resolvers.principal import Principal
from server.multiplex import sharing_key as key_under

STATUS_CHANGED = """
subscription($filter: SittingFilter) {
  sittingStatusChanged(filter: $filter) { previousStatus status sitting { id status } }
}
"""
BIG_STATUS_EVENT = """
subscription { sittingStatusChanged { previousStatus status at sitting { id takenAt score photoCheck status selectedAt } } }
"""
LIVE_SITTINGS = """
subscription($first: Int) {
  liveSittings(first: $first, orderBy: {field: TAKEN_AT, direction: ASC}) { totalCount edges { node { id status } } }
}
"""
SELECT = "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount } }"
SELECT_ALL = "mutation { selectSittings(input: {all: true}) { changedCount } }"
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount }
}
"""
ADMIN = Principal(subject="a", role=Role.ORG_ADMIN, organisation_id=1)
SHARING = sharing_of(build_schema())


def sharing_key(query, operation_name, variables, principal):
    """The sharing key under this project's schema."""
    return key_under(query, operation_name, variables, principal, SHARING)


def test_every_subscription_field_of_the_schema_declares_how_it_shares():
    # the sharing rules come from the schema itself: every Subscription field is shared, by its declared kind
    assert SHARING == {
        "sittingStatusChanged": Sharing.EVENTS,
        "liveSittings": Sharing.LIVE,
        "creditBalanceChanged": Sharing.EVENTS,
        "notificationReceived": Sharing.EVENTS,
        "reviewQueueChanged": Sharing.EVENTS,
    }
    subscription_fields = set(graphql.build_schema(export_sdl()).subscription_type.fields)
    assert set(SHARING) == subscription_fields


def test_a_subscription_field_that_declares_no_sharing_is_refused_when_the_schema_is_built():
    @strawberry.type
    class Query:
        ok: bool = True

    @strawberry.type
    class Subscription:
        @event_subscription(description="declared")
        async def declared(self) -> AsyncGenerator[int, None]:
            yield 1

        @live_query(description="declared")
        async def page(self) -> AsyncGenerator[int, None]:
            yield 1

        @strawberry.subscription
        async def undeclared(self) -> AsyncGenerator[int, None]:
            yield 1

    with pytest.raises(TypeError, match=r"Subscription.undeclared must be declared with event_subscription\(\) or live_query\(\)"):
        sharing_of(strawberry.Schema(query=Query, subscription=Subscription))



def test_authenticated_event_and_live_subscriptions_are_shared_by_text_variables_and_viewer_scope():
    status = "subscription { sittingStatusChanged { status } }"
    key = sharing_key(status, None, {}, ADMIN)
    # the subject is not part of what a viewer may read; role, organisation and variables are
    assert key == sharing_key(status, None, {}, Principal(subject="b", role=Role.ORG_ADMIN, organisation_id=1))
    assert key != sharing_key(status, None, {}, Principal(subject="a", role=Role.ANALYST, organisation_id=1))
    assert key != sharing_key(status, None, {}, Principal(subject="a", role=Role.ORG_ADMIN, organisation_id=2))
    assert sharing_key(status, None, {"a": 1, "b": 2}, ADMIN) == sharing_key(status, None, {"b": 2, "a": 1}, ADMIN)
    assert key != sharing_key(status, None, {"x": 1}, ADMIN)
    # live queries are shared too, and their joiners get the latest page at once
    assert key.replay is False
    assert sharing_key("subscription { liveSittings { totalCount } }", None, {}, ADMIN).replay is True
    # not shared: anonymous, mixed or unknown root fields, queries, unparsable text, an ambiguous or unknown operation
    assert sharing_key(status, None, {}, None) is None
    assert sharing_key("subscription { liveSittings { totalCount } creditBalanceChanged { delta } }", None, {}, ADMIN) is None
    assert sharing_key("subscription { __typename sittingStatusChanged { status } }", None, {}, ADMIN) is None
    assert sharing_key("{ viewer { role } }", None, {}, ADMIN) is None
    assert sharing_key("subscription {", None, {}, ADMIN) is None
    two = "subscription A { creditBalanceChanged { delta } } subscription B { liveSittings { totalCount } }"
    assert sharing_key(two, None, {}, ADMIN) is None
    assert sharing_key(two, "A", {}, ADMIN) is not None
    assert sharing_key(two, "B", {}, ADMIN).replay is True
    assert sharing_key(two, "C", {}, ADMIN) is None


async def test_identical_subscriptions_share_one_stream_each_under_its_own_id(sqlite_server):
    # given two admins (distinct subjects) and an analyst of one organisation
    server = sqlite_server
    world = await build_world(server.platform(), sittings=3, credits=5)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    async with (
        ws_session(server.ws_url, admin.token) as first,
        ws_session(server.ws_url, admin_of(server, world, subject="admin-2").token) as second,
        ws_session(server.ws_url, admin.token) as filtered,
        ws_session(server.ws_url, analyst_of(server, world).token) as analyst,
        ws_session(server.ws_url, admin.token, LEGACY_WS) as legacy,
    ):
        # when the admins subscribe with the same text, one of them with a filter, the analyst too
        await first.subscribe("1", STATUS_CHANGED)
        await second.subscribe("dash", STATUS_CHANGED)
        await filtered.subscribe("1", STATUS_CHANGED, {"filter": {"status": ["IN_PROGRESS"]}})
        await analyst.subscribe("1", STATUS_CHANGED)
        await legacy.subscribe("1", STATUS_CHANGED)
        await subscribed(server, 5)

        # then the two identical ones share a stream; filter, role and the legacy protocol keep their own
        assert server.state.shared_streams.member_counts() == [1, 1, 2]

        # when a sitting is selected, then everyone but the filtered one gets the same event under its own id
        await admin.data(SELECT, {"ids": ids[:1]})
        selected = {"sittingStatusChanged": {"previousStatus": "UNSELECTED", "status": "SELECTED", "sitting": {"id": ids[0], "status": "SELECTED"}}}
        assert await first.receive() == {"id": "1", "type": "next", "payload": {"data": selected}}
        assert await second.receive() == {"id": "dash", "type": "next", "payload": {"data": selected}}
        assert await analyst.data("1") == selected
        assert await legacy.receive() == {"id": "1", "type": "data", "payload": {"data": selected}}
        await filtered.nothing_for(0.2)

        # when one member completes and the sitting is certified
        await second.complete("dash")
        await subscribed(server, 4)
        assert server.state.shared_streams.member_counts() == [1, 1, 1]
        await admin.data(CERTIFY, {"ids": ids[:1], "key": "k1"})

        # then the other member still receives it, the one that left does not
        certified = {"previousStatus": "SELECTED", "status": "IN_PROGRESS", "sitting": {"id": ids[0], "status": "IN_PROGRESS"}}
        assert await first.data("1") == {"sittingStatusChanged": certified}
        assert await filtered.data("1") == {"sittingStatusChanged": certified}
        await second.nothing_for(0.3)

        # and the one that left can subscribe again under the same id and joins the stream again
        await second.subscribe("dash", STATUS_CHANGED)
        await subscribed(server, 5)
        assert server.state.shared_streams.member_counts() == [1, 1, 2]
        await admin.data(SELECT, {"ids": ids[1:2]})
        assert (await second.data("dash"))["sittingStatusChanged"]["sitting"]["id"] == ids[1]
        assert (await first.data("1"))["sittingStatusChanged"]["sitting"]["id"] == ids[1]

    # and once every connection has closed, no stream and no channel is left
    async with asyncio.timeout(5):
        while server.state.hub.subscriber_count() or server.state.hub.backend_channel_count():
            await asyncio.sleep(0.005)
    assert server.state.shared_streams.member_counts() == []


async def test_a_dashboard_joining_a_shared_live_query_gets_the_current_page_at_once(sqlite_server):
    # given a dashboard watching the first two sittings of three, and one sitting already selected
    server = sqlite_server
    world = await build_world(server.platform(), sittings=3, credits=5)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    async with ws_session(server.ws_url, admin.token) as first, ws_session(server.ws_url, admin.token) as second:
        await first.subscribe("live", LIVE_SITTINGS, {"first": 2})
        page = (await first.data("live"))["liveSittings"]
        assert [e["node"]["status"] for e in page["edges"]] == ["UNSELECTED", "UNSELECTED"]
        await admin.data(SELECT, {"ids": ids[:1]})
        selected = {"totalCount": 3, "edges": [{"node": {"id": ids[0], "status": "SELECTED"}}, {"node": {"id": ids[1], "status": "UNSELECTED"}}]}
        assert (await first.data("live"))["liveSittings"] == selected

        # when a second dashboard opens the same live query
        await second.subscribe("mine", LIVE_SITTINGS, {"first": 2})

        # then it joins the stream and gets the current page at once, under its own id
        assert await second.receive() == {"id": "mine", "type": "next", "payload": {"data": {"liveSittings": selected}}}
        assert server.state.shared_streams.member_counts() == [2]
        await first.nothing_for(0.3)

        # and when the selected sitting is certified, both get the one fresh page
        await admin.data(CERTIFY, {"ids": ids[:1], "key": "k1"})
        certified = {"totalCount": 3, "edges": [{"node": {"id": ids[0], "status": "IN_PROGRESS"}}, {"node": {"id": ids[1], "status": "UNSELECTED"}}]}
        assert (await first.data("live"))["liveSittings"] == certified
        assert (await second.data("mine"))["liveSittings"] == certified
        await first.nothing_for(0.3)
        await second.nothing_for(0.1)


LIVE_WITH_BALANCE = "subscription { liveSittings(first: 1) { edges { node { id organisation { creditBalance } } } } }"


async def test_a_dashboard_joining_a_live_query_reads_its_own_first_page(sqlite_server):
    # given a dashboard whose page shows the credit balance, which no page push refreshes
    server = sqlite_server
    world = await build_world(server.platform(), sittings=1, credits=5)
    admin = admin_of(server, world)
    async with ws_session(server.ws_url, admin.token) as first, ws_session(server.ws_url, admin.token) as second:
        await first.subscribe("live", LIVE_WITH_BALANCE)
        page = (await first.data("live"))["liveSittings"]
        assert page["edges"][0]["node"]["organisation"]["creditBalance"] == 5

        # when credits are bought, then a second dashboard opens the same live query
        await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 10, "ref": "po-1"})
        await second.subscribe("live", LIVE_WITH_BALANCE)

        # then it joins the stream but its first page is read now: it shows the balance as it is
        page = (await second.data("live"))["liveSittings"]
        assert page["edges"][0]["node"]["organisation"]["creditBalance"] == 15
        assert server.state.shared_streams.member_counts() == [2]
        await first.nothing_for(0.3)


class HeldOwnPages:
    """Holds the live page reads of joiners (not of shared streams) until released, like a slow connection pool."""

    def __init__(self, monkeypatch):
        import resolvers.realtime

        self.read = resolvers.realtime.list_sittings
        self.entered = asyncio.Event()
        self.released = asyncio.Event()
        monkeypatch.setattr(resolvers.realtime, "list_sittings", self)

    async def __call__(self, **arguments):
        if asyncio.current_task().get_name() != "certify-shared-stream":
            self.entered.set()
            await self.released.wait()
        return await self.read(**arguments)


async def test_a_joiner_whose_own_first_page_is_slow_never_sees_the_page_go_back(sqlite_server, monkeypatch):
    # given a dashboard on a live query, and a second one joining whose own first read is slow
    server = sqlite_server
    world = await build_world(server.platform(), sittings=3, credits=5)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    async with ws_session(server.ws_url, admin.token) as first, ws_session(server.ws_url, admin.token) as second:
        await first.subscribe("live", LIVE_SITTINGS, {"first": 3})
        await first.data("live")
        held = HeldOwnPages(monkeypatch)
        await second.subscribe("live", LIVE_SITTINGS, {"first": 3})
        await asyncio.wait_for(held.entered.wait(), 5)

        # when three sittings are selected one by one meanwhile (three shared pushes)
        for n in range(3):
            await admin.data(SELECT, {"ids": ids[n : n + 1]})
            await first.data("live")
        await second.nothing_for(0.3)
        held.released.set()

        # then the joiner gets its own page (read last, all selected) and the newest shared page, no older one
        pages = []
        with pytest.raises(TimeoutError):
            while True:
                pages.append([edge["node"]["status"] for edge in (await second.data("live", 1.0))["liveSittings"]["edges"]])
        assert pages == [["SELECTED"] * 3, ["SELECTED"] * 3]


async def test_a_bad_filter_gets_its_error_on_every_identical_subscription(sqlite_server):
    # given two connections of one admin
    server = sqlite_server
    world = await build_world(server.platform(), sittings=1, credits=0)
    admin = admin_of(server, world)
    async with ws_session(server.ws_url, admin.token) as one, ws_session(server.ws_url, admin.token) as two:
        # when both subscribe at once with a malformed test id in the filter
        bad = {"filter": {"testId": "not-an-id"}}
        await asyncio.gather(one.subscribe("1", STATUS_CHANGED, bad), two.subscribe("7", STATUS_CHANGED, bad))

        # then each gets the same error under its own id, then complete; nothing stays subscribed
        first, second = await one.next("1"), await two.next("7")
        assert first == second
        assert first["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert await one.receive() == {"id": "1", "type": "complete"}
        assert await two.receive() == {"id": "7", "type": "complete"}
        await subscribed(server, 0)
        assert server.state.shared_streams.member_counts() == []


@asynccontextmanager
async def quick_and_stalled_members(tmp_path, sqlite_url, sittings: int, **settings):
    """A server with ``sittings`` sittings and two members of one stream: one reading, one that has stopped."""
    settings = make_settings(tmp_path, sqlite_url, websocket_send_timeout_seconds=30.0, **settings)
    async with live_server(settings) as server:
        platform = server.platform()
        world = await build_world(platform, sittings=0, credits=0)
        rows = [sitting_row(world.organisation_id, world.test_id, n) for n in range(sittings)]
        assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["recordedCount"] == sittings
        admin = admin_of(server, world)
        sock = slow_socket(server.port)
        async with (
            ws_connect(server.ws_url, sock=sock, compression=None) as stalled,
            ws_session(server.ws_url, admin.token) as quick,
        ):
            await stalled.init(admin.token)
            await stalled.subscribe("slow", BIG_STATUS_EVENT)
            await quick.subscribe("quick", BIG_STATUS_EVENT)
            await subscribed(server, 2)
            assert server.state.shared_streams.member_counts() == [2]
            shrink_server_send_buffer(server, sock.getsockname()[1])
            stalled.ws.transport.pause_reading()
            yield server, admin, quick, stalled


async def test_a_slow_member_holds_no_one_back_and_gets_every_event_in_order(tmp_path, sqlite_url):
    # given 400 sittings, a reader that keeps up and a member of the same stream that stops reading
    async with quick_and_stalled_members(tmp_path, sqlite_url, 400) as (server, admin, quick, slow):
        # when all 400 are selected (≈ 100 KB of events for each connection)
        assert (await admin.data(SELECT_ALL))["selectSittings"]["changedCount"] == 400

        # then the quick reader gets all 400 while the slow one reads nothing
        quick_ids = [(await quick.data("quick"))["sittingStatusChanged"]["sitting"]["id"] for _ in range(400)]
        assert len(set(quick_ids)) == 400

        # when the slow client pings while its events are still queued, then reads again
        await slow.ws.send(json.dumps({"type": "ping"}))
        slow.ws.transport.resume_reading()

        # then it gets the same 400 events in the same order, then the pong: nothing lost or overtaken
        messages = []
        async with asyncio.timeout(10):
            while len(messages) < 401:
                messages.append(json.loads(await slow.ws.recv()))
        assert [m["payload"]["data"]["sittingStatusChanged"]["sitting"]["id"] for m in messages[:400]] == quick_ids
        assert {m["id"] for m in messages[:400]} == {"slow"}
        assert messages[400] == {"type": "pong"}
        await slow.nothing_for(0.2)
        await quick.nothing_for(0.1)


async def test_a_member_whose_backlog_overflows_is_dropped_and_the_stream_goes_on(tmp_path, sqlite_url):
    # given a server letting 50 frames wait per connection, and two members of one stream, one not reading
    async with quick_and_stalled_members(tmp_path, sqlite_url, 400, subscriber_queue_size=50) as (server, admin, quick, slow):
        # when 400 events are published
        await admin.data(SELECT_ALL)

        # then the slow member is dropped long before its 30 s send deadline; the quick one gets everything
        assert len({(await quick.data("quick"))["sittingStatusChanged"]["sitting"]["id"] for _ in range(400)}) == 400
        await subscribed(server, 1, timeout=5)
        assert server.state.shared_streams.member_counts() == [1]
        slow.ws.transport.resume_reading()
        received = 0
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    received += json.loads(await slow.ws.recv())["type"] == "next"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert received < 400


@pytest.mark.redis
async def test_a_stalled_member_does_not_delay_the_others_error_and_complete(tmp_path, sqlite_url, own_redis):
    # given two members of a stream through Redis, one of them stalled with events queued for it
    redis_settings = {"broadcast_url": own_redis.url, "channel_prefix": f"{uuid.uuid4().hex}:"}
    async with quick_and_stalled_members(tmp_path, sqlite_url, 400, **redis_settings) as (server, admin, quick, slow):
        await admin.data(SELECT_ALL)
        for _ in range(400):
            await quick.data("quick")

        # when Redis goes away
        own_redis.stop()
        started = time.monotonic()

        # then the reading member gets its error and complete at once, not after the stalled one's send deadline
        interrupted = await quick.next("quick")
        assert interrupted["errors"][0]["extensions"]["code"] == "STREAM_INTERRUPTED"
        assert await quick.receive() == {"id": "quick", "type": "complete"}
        assert time.monotonic() - started < 2

        # and can subscribe again under the same id at once (it fails fast while Redis is down)
        await quick.subscribe("quick", BIG_STATUS_EVENT)
        assert (await quick.next("quick"))["errors"][0]["extensions"]["code"] == "STREAM_INTERRUPTED"
