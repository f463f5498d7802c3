"""SQLite under 20 concurrent writers while 50 other requests are cut off mid-mutation.

A client that closes its connection right after sending (or a few ms later)
makes uvicorn cancel the request's task wherever it is, possibly inside a
transaction. Afterwards nothing may be left half-done or locked: every
answered request got the right answer, later requests all succeed, the log
has no "database is locked" nor nested-transaction error, and ``certify
check`` finds nothing wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import struct

import pytest
from builders import PURCHASE_CREDITS, RECORD_SITTINGS, build_world, sitting_row
from harness import live_server, make_settings
from support import admin_of, sitting_nodes
from traffic import assert_no_violations

from models import CreditTransaction

pytestmark = pytest.mark.slow

ROUNDS = 6
CUT_OFF = 0.1
ABORTED = 50
TOGGLE = """
mutation($ids: [ID!]!, $select: Boolean!) {
  selectSittings(input: {ids: $ids}) @include(if: $select) { changedCount errors { code } }
  unselectSittings(input: {ids: $ids}) @skip(if: $select) { changedCount errors { code } }
}
"""
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount creditsSpent errors { code } }
}
"""
LOCK_ERRORS = ("database is locked", "cannot start a transaction within a transaction", "within a transaction")


async def abort_mid_flight(port: int, token: str, query: str, variables: dict, after: float, reset: bool) -> None:
    """Send one mutation over a raw HTTP/1.1 connection and close it ``after`` seconds later, unanswered."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    await asyncio.sleep(after)
    if reset:  # RST instead of FIN: the connection is simply gone
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def test_twenty_writers_and_fifty_aborted_mutations_leave_sqlite_consistent_and_unlocked(
    tmp_path, sqlite_url, caplog
):
    caplog.set_level(logging.WARNING)
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        # given an organisation with 80 eligible sittings and 100 credits
        platform = server.platform()
        world = await build_world(platform, sittings=80, credits=100)
        admin = admin_of(server, world)
        ids = [node["id"] for node in await sitting_nodes(admin)]
        toggled, certified, aborted_certify = ids[:8], ids[8:44], ids[44:69]
        rng = random.Random(7)

        async def toggler(n: int):
            for round in range(ROUNDS):
                select = round % 2 == 0
                data = await admin.data(TOGGLE, {"ids": [toggled[n]], "select": select})
                assert data == {("selectSittings" if select else "unselectSittings"): {"changedCount": 1, "errors": []}}

        async def certifier(n: int):
            for round in range(ROUNDS):
                variables = {"ids": [certified[n * ROUNDS + round]], "key": f"certify-{n}-{round}"}
                data = await admin.data(CERTIFY, variables)
                assert data == {"certifySittings": {"certifiedCount": 1, "creditsSpent": 1, "errors": []}}

        async def recorder(n: int):
            for round in range(ROUNDS):
                row = sitting_row(world.organisation_id, world.test_id, 1000 * (n + 1) + round, prefix="late")
                data = await platform.data(RECORD_SITTINGS, {"rows": [row]})
                assert data["recordSittings"] == {"recordedCount": 1, "unchangedCount": 0, "errors": []}

        async def buyer(n: int):
            for round in range(ROUNDS):
                variables = {"org": world.organisation_id, "credits": 1, "ref": f"po-{n}-{round}"}
                data = await platform.data(PURCHASE_CREDITS, variables)
                assert data["purchaseCredits"]["errors"] == []

        async def aborter(n: int):
            await asyncio.sleep(rng.uniform(0, 0.5))
            if n % 2:
                query, variables = CERTIFY, {"ids": [aborted_certify[n // 2]], "key": f"aborted-{n}"}
                token = admin.token
            else:
                query, variables = PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 1, "ref": f"aborted-{n}"}
                token = platform.token
            await abort_mid_flight(server.port, token, query, variables, rng.uniform(0, 0.02), reset=n % 3 == 0)

        # when 20 clients write at once while 50 requests are cut off mid-flight
        await asyncio.gather(
            *(toggler(n) for n in range(8)),
            *(certifier(n) for n in range(6)),
            *(recorder(n) for n in range(3)),
            *(buyer(n) for n in range(3)),
            *(aborter(n) for n in range(ABORTED)),
        )
        await asyncio.sleep(0.5)  # let the cut-off requests' tasks finish or unwind

        # then later requests all succeed
        for n in range(8):
            data = await admin.data(TOGGLE, {"ids": [toggled[n]], "select": True})
            assert data == {"selectSittings": {"changedCount": 1, "errors": []}}
        data = await admin.data(CERTIFY, {"ids": [ids[69]], "key": "after"})
        assert data == {"certifySittings": {"certifiedCount": 1, "creditsSpent": 1, "errors": []}}
        totals = await admin.data("{ sittings(first: 1) { totalCount } }")
        assert totals == {"sittings": {"totalCount": 80 + 3 * ROUNDS}}

        # and nothing was locked, nested or half-done
        logged = "\n".join(
            f"{record.getMessage()}\n{logging.Formatter().formatException(record.exc_info) if record.exc_info else ''}"
            for record in caplog.records
        )
        assert not [error for error in LOCK_ERRORS if error in logged], logged
        await assert_no_violations(server.state.storage)


async def test_mutations_cut_off_by_the_request_timeout_roll_back_and_leave_sqlite_usable(tmp_path, sqlite_url, caplog):
    # given a world made by a server with the usual timeout
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        platform = server.platform()
        world = await build_world(platform, sittings=40, credits=100)
        admin = admin_of(server, world)
        ids = [node["id"] for node in await sitting_nodes(admin)]
    caplog.set_level(logging.WARNING)

    # when a server on the same database cuts every operation off after 0.1 s, with 40 mutations queued on SQLite
    async with live_server(make_settings(tmp_path, sqlite_url, request_timeout_seconds=CUT_OFF)) as server:
        platform, admin = server.client(platform.token), server.client(admin.token)

        async def mutate(n: int) -> tuple[str, dict]:
            if n % 2:
                return f"certify {n}", await admin.post(CERTIFY, {"ids": [ids[n]], "key": f"cut-{n}"})
            variables = {"org": world.organisation_id, "credits": 1, "ref": f"cut-{n}"}
            return f"cut-{n}", await platform.post(PURCHASE_CREDITS, variables)

        answers = await asyncio.gather(*(mutate(n) for n in range(40)))

        # then each got its result or TIMEOUT
        timed_out = {label for label, body in answers if "errors" in body}
        done = {label for label, body in answers if "errors" not in body}
        assert timed_out, "no operation was cut off"
        for label, body in answers:
            if label in timed_out:
                assert body["data"] is None and [error["extensions"]["code"] for error in body["errors"]] == ["TIMEOUT"]
            elif label.startswith("certify"):
                assert body["data"]["certifySittings"] == {"certifiedCount": 1, "creditsSpent": 1, "errors": []}
            else:
                assert body["data"]["purchaseCredits"]["errors"] == []

    # and a server with the usual timeout finds the database unlocked and consistent
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        platform = server.client(platform.token)
        data = await platform.data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 1, "ref": "after"})
        assert data["purchaseCredits"]["errors"] == []
        purchases = set(
            await CreditTransaction.filter(reference__startswith="cut-").values_list("reference", flat=True)
        )
        # A cut-off that lands after its COMMIT (while the events are published) answers TIMEOUT for a done change.
        assert {label for label in done if label.startswith("cut-")} <= purchases
        assert purchases <= {label for label, _ in answers if label.startswith("cut-")}
        logged = "\n".join(
            f"{record.getMessage()}\n{logging.Formatter().formatException(record.exc_info) if record.exc_info else ''}"
            for record in caplog.records
        )
        assert not [error for error in LOCK_ERRORS if error in logged], logged
        await assert_no_violations(server.state.storage)
