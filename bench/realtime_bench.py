"""Fan-out benchmark: one certification reaching 2,000 websocket subscribers of one organisation.

Usage:
    .venv/bin/python bench/realtime_bench.py --backend memory [--subscribers 2000] [--rounds 20]
    .venv/bin/python bench/realtime_bench.py --backend redis --workers 2 \\
        --postgres postgres://postgres@127.0.0.1:5432 --redis redis://127.0.0.1:6379

Starts the real server with ``certify serve`` (memory://: one process on a
SQLite file; redis: ``--workers N`` sharing a fresh PostgreSQL database,
dropped afterwards, and Redis under a unique channel prefix), seeds one
organisation through the API, opens ``--subscribers`` graphql-transport-ws
connections (spread over ``--client-processes`` client processes so the
client is not the bottleneck), each subscribed to ``sittingStatusChanged``,
then certifies one sitting per round. Latency of a delivery = its arrival
time at the client minus the time the client that sent the mutation had
read the mutation's response (both wall-clock on this machine; negative when
the event beat the HTTP response). Memory per idle subscriber = growth of
the server processes' RSS between before connecting and after every
subscription is registered, divided by the number of subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import SECRET, process_tree, rss_kib, scratch_database, serve  # noqa: E402
from models.enums import Role  # noqa: E402
from server.auth import TokenService  # noqa: E402
from server.settings import Settings  # noqa: E402

SUBSCRIPTION = "subscription { sittingStatusChanged { previousStatus status at sitting { id status } } }"
LIVE_SUBSCRIPTION = (
    "subscription { liveSittings(first: 50, orderBy: {field: TAKEN_AT, direction: ASC}) "
    "{ totalCount edges { node { id status } } } }"
)
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount errors { code } }
}
"""


async def graphql(http: httpx.AsyncClient, token: str, query: str, variables: dict | None = None) -> dict:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}},
                               headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def seed(http: httpx.AsyncClient, tokens: TokenService, rounds: int) -> tuple[str, list[str]]:
    """One organisation with ``rounds`` eligible sittings; returns its admin token and the sitting ids."""
    platform = tokens.mint(role=Role.PLATFORM_ADMIN, subject="bench")
    org = (await graphql(http, platform, 'mutation { createOrganisation(input: {name: "Bench School"}) { organisation { id } } }'))[
        "createOrganisation"]["organisation"]["id"]
    test = (await graphql(http, platform, 'mutation { createTest(input: {name: "Bench English", minCertifiableScore: 50}) { test { id } } }'))[
        "createTest"]["test"]["id"]
    await graphql(http, platform, "mutation($org: ID!) { purchaseCredits(input: {organisationId: $org, credits: 1000, reference: \"bench\"}) { errors { code } } }", {"org": org})
    rows = [
        {"externalId": f"bench-{n}", "organisationId": org, "testId": test, "testTakerEmail": f"bench{n}@example.com",
         "testTakerName": f"Bench {n}", "takenAt": f"2026-10-01T09:{n // 60:02d}:{n % 60:02d}+00:00", "score": 80, "photoCheck": "PASSED"}
        for n in range(rounds)
    ]
    await graphql(http, platform, "mutation($rows: [RecordSittingInput!]!) { recordSittings(input: {sittings: $rows}) { recordedCount } }", {"rows": rows})
    admin = tokens.mint(role=Role.ORG_ADMIN, subject="bench-admin", organisation_gid=org)
    page = await graphql(http, admin, "{ sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id } } } }")
    return admin, [edge["node"]["id"] for edge in page["sittings"]["edges"]]


def client_process(
    url: str, token: str, count: int, rounds: int, ready, results, go, compression: str | None = "deflate",
    client_gc: str = "on", variants: int = 1, first_subscriber: int = 0, live: bool = False,
) -> None:
    """Open ``count`` subscriptions; report ready; record arrival times (ns) of each sitting's event.

    ``variants``: subscriber ``n`` (numbered from ``first_subscriber``) sends the document with
    the comment ``# variant {n % variants}`` appended, so that ``variants`` distinct texts are
    subscribed (the server shares a stream only between identical subscriptions).
    ``live``: subscribe to ``liveSittings`` instead; a sitting's arrival is the first page
    that shows it IN_PROGRESS.

    ``client_gc="paused"``: once connected, the client freezes its objects and turns its own
    cyclic garbage collector off for the rounds, so that a collection pause in a client
    (hundreds of ms with 500 connections) is not counted as delivery latency.
    """

    async def one(n: int, arrivals: dict[str, list[int]], opened: asyncio.Event, done: asyncio.Event) -> None:
        base = LIVE_SUBSCRIPTION if live else SUBSCRIPTION
        query = base if variants == 1 else f"{base}\n# variant {n % variants}"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=60,
                                      ping_interval=None, compression=compression) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            opened.set()
            seen = 0
            shown: set[str] = set()
            while seen < rounds:
                raw = await ws.recv()
                at = time.time_ns()
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send('{"type": "pong"}')
                    continue
                if message["type"] != "next":
                    continue
                data = message["payload"]["data"]
                if live:
                    for edge in data["liveSittings"]["edges"]:
                        node = edge["node"]
                        if node["status"] == "IN_PROGRESS" and node["id"] not in shown:
                            shown.add(node["id"])
                            arrivals.setdefault(node["id"], []).append(at)
                            seen += 1
                    continue
                arrivals.setdefault(data["sittingStatusChanged"]["sitting"]["id"], []).append(at)
                seen += 1
            await done.wait()

    async def main() -> None:
        arrivals: dict[str, list[int]] = {}
        done = asyncio.Event()
        tasks, opened = [], []
        for start in range(0, count, 50):
            batch = [asyncio.Event() for _ in range(min(50, count - start))]
            tasks += [asyncio.create_task(one(first_subscriber + start + i, arrivals, event, done))
                      for i, event in enumerate(batch)]
            opened += batch
            await asyncio.gather(*(event.wait() for event in batch))
        if client_gc == "paused":
            gc.freeze()
            gc.disable()
        ready.put(count)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, go.wait)
        try:
            async with asyncio.timeout(rounds * 5 + 30):
                while sum(map(len, arrivals.values())) < count * rounds:
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pass
        done.set()
        results.put(arrivals)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="certify-rt-bench-"))
    tokens = TokenService(Settings(jwt_secret=SECRET, data_dir=workdir))
    try:
        async with contextlib.AsyncExitStack() as stack:
            database_url, env = None, {"CERTIFY_BROADCAST_URL": "memory://"}
            if args.backend == "redis":
                database_url = await stack.enter_async_context(scratch_database(args.postgres, prefix="certify_rtbench"))
                env = {"CERTIFY_BROADCAST_URL": args.redis, "CERTIFY_CHANNEL_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:"}
            server = await stack.enter_async_context(
                serve(data_dir=workdir, database_url=database_url, env=env, arguments=["--workers", str(args.workers)])
            )
            port = server.port
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=60))
            admin_token, sittings = await seed(http, tokens, args.rounds)
            await asyncio.sleep(2)
            rss_before = rss_kib(*process_tree(server.pid))

            ctx = multiprocessing.get_context("spawn")
            ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
            share = [args.subscribers // args.client_processes + (i < args.subscribers % args.client_processes)
                     for i in range(args.client_processes)]
            url = f"ws://127.0.0.1:{port}/graphql"
            compression = None if args.client_compression == "none" else args.client_compression
            firsts = [sum(share[:i]) for i in range(len(share))]
            procs = [ctx.Process(target=client_process, args=(url, admin_token, n, args.rounds, ready, results, go, compression,
                                                              args.client_gc, args.variants, first, args.subscription == "live"))
                     for n, first in zip(share, firsts)]
            started = time.monotonic()
            for proc in procs:
                proc.start()
            for _ in procs:
                await asyncio.get_running_loop().run_in_executor(None, ready.get)
            connect_seconds = time.monotonic() - started
            await asyncio.sleep(3)  # let every subscription register with the hub
            rss_idle = rss_kib(*process_tree(server.pid))
            profiler = None
            if args.py_spy:
                profiler = subprocess.Popen(
                    [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--format", "raw", "--rate", "200", "--nonblocking",
                     "--output", args.py_spy, "--subprocesses", "--pid", str(server.pid), *os.environ.get("BENCH_PY_SPY_ARGS", "").split()],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1)
            go.set()

            responded: dict[str, int] = {}
            for n, sitting in enumerate(sittings):
                result = await graphql(http, admin_token, CERTIFY, {"ids": [sitting], "key": f"bench-{n}"})
                responded[sitting] = time.time_ns()
                assert result["certifySittings"]["certifiedCount"] == 1, result
                await asyncio.sleep(args.pause)

            arrivals: dict[str, list[int]] = {}
            for _ in procs:
                part = await asyncio.get_running_loop().run_in_executor(None, results.get)
                for key, values in part.items():
                    arrivals.setdefault(key, []).extend(values)
            for proc in procs:
                proc.join(30)
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)

        latencies = [(at - responded[key]) / 1e6 for key, values in arrivals.items() for at in values]
        last_per_round = [max(arrivals[key]) - responded[key] for key in sittings if key in arrivals]
        delivered = len(latencies)
        return {
            "backend": args.backend,
            "workers": args.workers,
            "subscribers": args.subscribers,
            "rounds": args.rounds,
            "delivered": delivered,
            "expected": args.subscribers * args.rounds,
            "latency_ms_median": round(statistics.median(latencies), 1),
            "latency_ms_p99": round(percentile(latencies, 0.99), 1),
            "latency_ms_max": round(max(latencies), 1),
            "last_delivery_per_round_ms_median": round(statistics.median(last_per_round) / 1e6, 1),
            "last_delivery_per_round_ms": [round(v / 1e6) for v in last_per_round],
            "client_compression": args.client_compression,
            "client_gc": args.client_gc,
            "variants": args.variants,
            "subscription": args.subscription,
            "load_average_1m": round(os.getloadavg()[0], 1),
            "connect_seconds": round(connect_seconds, 1),
            "rss_kib_before": rss_before,
            "rss_kib_idle": rss_idle,
            "kib_per_idle_subscriber": round((rss_idle - rss_before) / args.subscribers, 1),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["memory", "redis"], default="memory")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between certifications")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--client-compression", choices=["deflate", "none"], default="deflate",
                        help="whether clients offer permessage-deflate (browsers always do); the server decides")
    parser.add_argument("--client-gc", choices=["on", "paused"], default="on",
                        help="paused: the clients turn their own garbage collector off during the rounds")
    parser.add_argument("--subscription", choices=["events", "live"], default="events",
                        help="events: sittingStatusChanged; live: liveSittings (first 50), a push per certification")
    parser.add_argument("--variants", type=int, default=1,
                        help="distinct subscription texts among the subscribers (1: all identical, as dashboards are)")
    parser.add_argument("--py-spy", metavar="FILE", help="record the server with py-spy during the rounds (collapsed stacks)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
