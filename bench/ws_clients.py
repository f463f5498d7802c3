"""Websocket subscriber clients in separate processes, driven from the benchmark's own process.

:class:`ClientPool` starts ``processes`` client processes (spawned, so they
share nothing with the benchmark). Connections are opened in named groups
(``pool.open("identical", url, specs)``), spread round-robin over the
processes; each connection records the wall-clock arrival time
(``time.time_ns()``) of every message it counts and keeps the last one.
A round is ``arm`` (forget earlier arrivals), the trigger (a mutation, a
broadcast), then ``collect`` (wait until every connection of the group has
counted ``expected`` messages, or until the group has been quiet for
``quiet`` seconds, and return what arrived).

What counts as a message: on ``graphql-transport-ws`` the ``next`` messages
(``ping`` is answered with ``pong``); on a plain websocket, every message.
Each client process runs with its cyclic garbage collector off, so that a
collection pause in a client (hundreds of ms with thousands of connections)
is not counted as delivery latency.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import time
from dataclasses import dataclass

import websockets

GRAPHQL_WS = "graphql-transport-ws"


@dataclass(frozen=True, slots=True)
class Spec:
    """One connection: ``init`` sent first (its ack awaited on graphql-transport-ws), then ``subscribe``, if given."""

    init: str | None = None
    subscribe: str | None = None


def graphql_spec(token: str, query: str, variables: dict | None = None) -> Spec:
    """A graphql-transport-ws subscription of ``query`` as the holder of ``token``, operation id ``"1"``."""
    init = json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    payload = {"query": query, **({"variables": variables} if variables else {})}
    return Spec(init, json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


@dataclass(slots=True)
class Arrivals:
    """What one connection counted since the last arm: arrival times (ns, wall clock) and the last message."""

    times: list[int]
    last: str | None


class _Connection:
    __slots__ = ("last", "task", "times", "ws")

    def __init__(self) -> None:
        self.ws = None
        self.times: list[int] = []
        self.last: str | None = None
        self.task: asyncio.Task | None = None


async def _open(url: str, subprotocol: str | None, spec: Spec) -> _Connection:
    connection = _Connection()
    ws = await websockets.connect(
        url,
        subprotocols=[subprotocol] if subprotocol else None,
        open_timeout=120,
        ping_interval=None,
        close_timeout=2,
        max_size=None,
        compression="deflate",  # offered, as every browser does; the server decides
    )
    connection.ws = ws
    if spec.init is not None:
        await ws.send(spec.init)
        if subprotocol == GRAPHQL_WS:
            ack = json.loads(await ws.recv())
            if ack["type"] != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
    if spec.subscribe is not None:
        await ws.send(spec.subscribe)
    connection.task = asyncio.create_task(_read(connection, subprotocol == GRAPHQL_WS))
    return connection


async def _read(connection: _Connection, graphql: bool) -> None:
    ws = connection.ws
    try:
        async for raw in ws:
            at = time.time_ns()
            if graphql:
                kind = json.loads(raw).get("type")
                if kind == "ping":
                    await ws.send('{"type":"pong"}')
                    continue
                if kind != "next":
                    connection.last = raw if kind in ("error", "complete") else connection.last
                    continue
            connection.times.append(at)
            connection.last = raw
    except websockets.ConnectionClosed:
        pass


async def _open_all(url: str, subprotocol: str | None, specs: list[Spec], batch: int = 50) -> list[_Connection]:
    connections: list[_Connection] = []
    for start in range(0, len(specs), batch):
        chunk = specs[start : start + batch]
        connections += await asyncio.gather(*(_open(url, subprotocol, spec) for spec in chunk))
    return connections


async def _collect(
    connections: list[_Connection], expected: int | None, timeout: float, quiet: float
) -> list[Arrivals]:
    deadline = time.monotonic() + timeout
    last_total, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        counts = [len(c.times) for c in connections]
        if expected is not None and min(counts, default=expected) >= expected:
            break
        total = sum(counts)
        if total != last_total:
            last_total, last_change = total, time.monotonic()
        elif expected is None and time.monotonic() - last_change >= quiet:
            break
        await asyncio.sleep(0.02)
    return [Arrivals(list(c.times), c.last) for c in connections]


def _client_main(commands, replies) -> None:
    gc.disable()

    async def main() -> None:
        groups: dict[str, list[_Connection]] = {}
        loop = asyncio.get_running_loop()
        while True:
            command, *args = await loop.run_in_executor(None, commands.get)
            try:
                if command == "open":
                    name, url, subprotocol, specs = args
                    groups[name] = await _open_all(url, subprotocol, specs)
                    gc.freeze()
                    replies.put(("ok", len(groups[name])))
                elif command == "arm":
                    for connection in groups[args[0]]:
                        connection.times = []
                    replies.put(("ok", None))
                elif command == "collect":
                    name, expected, timeout, quiet, with_last = args
                    found = await _collect(groups[name], expected, timeout, quiet)
                    if not with_last:
                        found = [Arrivals(a.times, None) for a in found]
                    replies.put(("ok", found))
                elif command == "close":
                    connections = groups.pop(args[0], [])
                    await asyncio.gather(*(c.ws.close() for c in connections), return_exceptions=True)
                    for connection in connections:
                        connection.task.cancel()
                    await asyncio.gather(*(c.task for c in connections), return_exceptions=True)
                    gc.unfreeze()
                    gc.collect()
                    replies.put(("ok", None))
                elif command == "exit":
                    for name in list(groups):
                        await asyncio.gather(*(c.ws.close() for c in groups.pop(name)), return_exceptions=True)
                    replies.put(("ok", None))
                    return
            except Exception as error:  # noqa: BLE001 - reported to the benchmark, which stops
                replies.put(("error", f"{type(error).__name__}: {error}"))

    asyncio.run(main())


class ClientPool:
    """``processes`` client processes holding websocket connections in named groups.

    Every method blocks until each process has answered; use it from a
    thread (``asyncio.to_thread``) inside an event loop. Raises RuntimeError
    with a client's error when one fails.
    """

    def __init__(self, processes: int = 4) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes = [(context.Queue(), context.Queue()) for _ in range(processes)]
        self._procs = [
            context.Process(target=_client_main, args=pipe, daemon=True, name=f"ws-client-{n}")
            for n, pipe in enumerate(self._pipes)
        ]
        for proc in self._procs:
            proc.start()
        self._shares: dict[str, list[int]] = {}

    @property
    def pids(self) -> list[int]:
        """The client processes' pids."""
        return [proc.pid for proc in self._procs]

    def _all(self, commands: list[tuple], timeout: float = 600) -> list:
        for (queue, _), command in zip(self._pipes, commands):
            queue.put(command)
        answers = []
        for _, replies in self._pipes[: len(commands)]:
            status, value = replies.get(timeout=timeout)
            if status != "ok":
                raise RuntimeError(f"a websocket client failed: {value}")
            answers.append(value)
        return answers

    def open(self, name: str, url: str, specs: list[Spec], subprotocol: str | None = GRAPHQL_WS) -> float:
        """Open one connection per spec in group ``name`` (connection ``i`` in process ``i % processes``); seconds taken."""
        started = time.monotonic()
        n = len(self._pipes)
        parts = [specs[i::n] for i in range(n)]
        self._shares[name] = [len(part) for part in parts]
        self._all([("open", name, url, subprotocol, part) for part in parts])
        return time.monotonic() - started

    def arm(self, name: str) -> None:
        """Forget what group ``name`` has counted so far."""
        self._all([("arm", name)] * len(self._pipes))

    def collect(
        self, name: str, *, expected: int | None = 1, timeout: float = 30, quiet: float = 1.0, with_last: bool = False
    ) -> list[Arrivals]:
        """What group ``name`` counted since :meth:`arm`, one entry per connection in ``open``'s order.

        Waits until every connection has ``expected`` messages, or (``expected``
        None) until no message has arrived for ``quiet`` seconds, at most
        ``timeout`` seconds. ``with_last``: include each connection's last message.
        """
        parts = self._all([("collect", name, expected, timeout, quiet, with_last)] * len(self._pipes), timeout + 60)
        ordered: list[Arrivals] = []
        longest = max(map(len, parts), default=0)
        for i in range(longest):  # undo the round-robin of open()
            ordered += [part[i] for part in parts if i < len(part)]
        return ordered

    def close(self, name: str) -> None:
        """Close every connection of group ``name``."""
        self._all([("close", name)] * len(self._pipes))

    def stop(self) -> None:
        """Close everything and end the client processes."""
        try:
            self._all([("exit",)] * len(self._pipes), timeout=60)
        except Exception:  # noqa: BLE001, S110 - the processes are ended below either way
            pass
        for proc in self._procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
