"""The lighter uvicorn websocket protocol: queue and flow-control semantics, and no handshake kept once accepted."""

from __future__ import annotations

import asyncio

from builders import PURCHASE_CREDITS, build_world
from support import admin_of
from ws_client import ws_session

from server.uvicorn_ws import ReceiveQueue, WebSocketProtocol, WritableFlag

CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"


async def test_the_receive_queue_hands_out_messages_in_order():
    # given a queue with two messages waiting
    queue = ReceiveQueue()
    queue.put_nowait("a")
    queue.put_nowait("b")

    # when they are read and the queue is read again before a third arrives
    first, second = await queue.get(), await queue.get()
    empty_before = queue.empty()
    later = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("c")

    # then they come in order and the waiting reader gets the third
    assert (first, second, empty_before, await later) == ("a", "b", True, "c")
    assert queue.empty() and queue.qsize() == 0


async def test_waiting_readers_are_served_in_turn_and_a_cancelled_one_passes_its_turn_on():
    # given three readers waiting on an empty queue
    queue = ReceiveQueue()
    readers = [asyncio.ensure_future(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)

    # when the first is cancelled after being woken for a message, then another message arrives
    queue.put_nowait("m1")
    readers[0].cancel()
    await asyncio.sleep(0)
    queue.put_nowait("m2")
    results = await asyncio.gather(*readers, return_exceptions=True)

    # then the other two readers get both messages, in order
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == ["m1", "m2"]


async def test_the_writable_flag_blocks_writers_only_while_cleared():
    # given a flag (set at first)
    flag = WritableFlag()
    assert flag.is_set() and await flag.wait() is True

    # when it is cleared, a writer waits, and it is set again
    flag.clear()
    writer = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0.01)
    waited = not writer.done()
    flag.set()

    # then the writer waited until the flag was set
    assert waited and await writer is True and flag.is_set()


async def test_an_accepted_connection_keeps_no_handshake_and_still_works(sqlite_server):
    # given an admin subscribed over a websocket
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=1)
    async with ws_session(server.ws_url, admin_of(server, world).token) as client:
        await client.subscribe("1", CREDITS_CHANGED)
        async with asyncio.timeout(5):
            while server.state.hub.subscriber_count() != 1:
                await asyncio.sleep(0.01)

        # when the server's connections are inspected, and an event is published
        connections = [c for c in server.server.server_state.connections if isinstance(c, WebSocketProtocol)]
        await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 4, "ref": "po-ws"})

        # then the one websocket holds neither handshake message nor standard asyncio queue, and the event arrives
        assert len(connections) == 1
        assert connections[0].request is None and connections[0].response is None
        assert isinstance(connections[0].queue, ReceiveQueue) and isinstance(connections[0].writable, WritableFlag)
        assert await client.data("1") == {"creditBalanceChanged": {"creditBalance": 5, "delta": 4}}

