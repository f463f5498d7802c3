"""Fan-out (the performance issue's figure 4): one certification reaching thousands of websocket subscribers.

Usage:
    .venv/bin/python bench/realtime_bench.py [--smoke] [--runs 3] [--rounds 5] [--subscribers 2000]
    .venv/bin/python bench/realtime_bench.py --redis-url redis://127.0.0.1:6379 [--subscribers 10000]

Default variant: ``certify serve`` (one process, SQLite, ``memory://``) and,
beside it, the baseline: a minimal Starlette app (``bench/ws_bare.py``) in its
own server process that sends the same bytes to every connected client when
triggered. Four client processes (``bench/ws_clients.py``) hold
``--subscribers`` connections to each. A round certifies one sitting
(``certifySittings``) and measures, for each subscriber, its event's arrival
minus the moment the mutation was sent (wall clock, same machine); the bare
round that follows it broadcasts the very bytes the certify round delivered
(captured in a warm-up round) and is measured from the moment the trigger
was sent. Three cases, each with its own connections:

- identical: every subscriber sends the same ``sittingStatusChanged``
  document; target p99 ≤ 1.3× the bare broadcast's p99;
- filters: one document with a ``$filter`` variable, 200 distinct filters
  (``scoreMax`` 80…279: every one matches); target p99 ≤ 1.5× identical's;
- different: every subscriber's document is its own (the field under its own
  alias, so nothing can be shared); target p99 ≤ 500 ms.

Redis variant (``--redis-url``): ``certify serve --workers 2`` on a fresh
PostgreSQL database (``--postgres``; dropped afterwards) and Redis under a
unique channel prefix, 10,000 identical subscribers; targets: every event
delivered, p99 ≤ 1 s.

Each figure is the median of ``--runs`` runs' p99 (each run: ``--rounds``
rounds, p99 over every delivery of those rounds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import Report, Timer, against, arguments, at_least, at_most, emit, info, median, percentile
from bench.serving import SECRET, free_port, process_tree, rss_kib, scratch_database, serve
from bench.ws_api import graphql, organisation, record_sittings
from bench.ws_bare import serve_bare
from bench.ws_clients import ClientPool, Spec, graphql_spec
from models.enums import Role
from server.auth import TokenService
from server.settings import Settings

FIELDS = "previousStatus status at sitting { id status }"
IDENTICAL = f"subscription {{ sittingStatusChanged {{ {FIELDS} }} }}"
FILTERED = f"subscription($filter: SittingFilter) {{ sittingStatusChanged(filter: $filter) {{ {FIELDS} }} }}"
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount errors { code } }
}
"""
CASES = ("identical", "filters", "different")
SUBSCRIBERS_PER_TOKEN = 20  # dashboards of many admins of one organisation: one viewer scope, several subjects


def different(n: int) -> str:
    """Subscriber ``n``'s own document: the same field under its own alias (so its payload is its own too)."""
    return f"subscription {{ e{n}: sittingStatusChanged {{ {FIELDS} }} }}"


async def seed(http: httpx.AsyncClient, tokens: TokenService, count: int) -> tuple[str, list[str]]:
    """One organisation with ``count`` eligible sittings (score 80); returns its GraphQL id and the sitting ids."""
    org, test = await organisation(http, tokens, "Bench School", 10_000)
    await record_sittings(http, tokens, org, test, count)
    admin = tokens.mint(role=Role.ORG_ADMIN, subject="bench-admin", organisation_gid=org)
    page = await graphql(
        http, admin, "{ sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id } } } }"
    )
    return org, [edge["node"]["id"] for edge in page["sittings"]["edges"]]


@dataclass
class Bench:
    """What every round needs: the API client, the pool, tokens, the sittings still to certify."""

    http: httpx.AsyncClient
    pool: ClientPool
    tokens: TokenService
    org: str
    sittings: list[str]
    ws_url: str
    rounds: int
    runs: int
    pause: float
    admin: str = ""
    py_spy: str | None = None
    certified: int = 0
    notes: list[str] = field(default_factory=list)

    def token(self, n: int) -> str:
        return self.tokens.mint(role=Role.ORG_ADMIN, subject=f"bench-admin-{n}", organisation_gid=self.org)

    async def certify_round(self, group: str, *, timeout: float = 30) -> tuple[list[float], int, str | None]:
        """Certify the next sitting; ``(latencies in ms, subscribers that got nothing, one delivered message)``."""
        sitting = self.sittings[self.certified]
        self.certified += 1
        await asyncio.to_thread(self.pool.arm, group)
        sent = time.time_ns()
        result = await graphql(self.http, self.admin, CERTIFY, {"ids": [sitting], "key": f"bench-{self.certified}"})
        assert result["certifySittings"]["certifiedCount"] == 1, result
        arrivals = await asyncio.to_thread(self.pool.collect, group, expected=1, timeout=timeout, with_last=True)
        latencies = [(a.times[0] - sent) / 1e6 for a in arrivals if a.times]
        sample = next((a.last for a in arrivals if a.last), None)
        return latencies, sum(1 for a in arrivals if not a.times), sample


async def bare_round(bench: Bench, bare: httpx.AsyncClient, payload: str) -> list[float]:
    """Broadcast ``payload`` from the bare app; latencies in ms from the moment the trigger was sent."""
    await asyncio.to_thread(bench.pool.arm, "bare")
    sent = time.time_ns()
    await bare.post("/broadcast", content=payload.encode())
    arrivals = await asyncio.to_thread(bench.pool.collect, "bare", expected=1, timeout=30)
    return [(a.times[0] - sent) / 1e6 for a in arrivals if a.times]


@dataclass
class Case:
    """One case's runs: p99 and median of each run (ms), deliveries missed, and the bare rounds' p99 alongside."""

    p99: list[float] = field(default_factory=list)
    medians: list[float] = field(default_factory=list)
    bare_p99: list[float] = field(default_factory=list)
    missed: int = 0
    expected: int = 0
    connect_seconds: float = 0.0
    kib_per_subscriber: float = 0.0


async def run_case(
    bench: Bench, name: str, specs: list[Spec], *, server_pid: int, bare: httpx.AsyncClient | None
) -> Case:
    """Open ``specs`` as group ``name``, a warm-up round, then ``runs`` × ``rounds`` measured rounds; closed after."""
    case = Case()
    before = rss_kib(*process_tree(server_pid))
    case.connect_seconds = await asyncio.to_thread(bench.pool.open, name, bench.ws_url, specs)
    await asyncio.sleep(2)  # every subscription registered with the hub
    case.kib_per_subscriber = (rss_kib(*process_tree(server_pid)) - before) / len(specs)
    _, missed, payload = await bench.certify_round(name, timeout=60)
    if missed:
        bench.notes.append(f"{name}: {missed} subscribers got nothing in the warm-up round")
    profiler = profile(bench.py_spy, name, server_pid)
    for _ in range(bench.runs):
        certify_ms: list[float] = []
        bare_ms: list[float] = []
        for _ in range(bench.rounds):
            latencies, missed, _ = await bench.certify_round(name)
            certify_ms += latencies
            case.missed += missed
            case.expected += len(specs)
            await asyncio.sleep(bench.pause)
            if bare is not None and payload is not None:
                bare_ms += await bare_round(bench, bare, payload)
                await asyncio.sleep(bench.pause)
        case.p99.append(percentile(certify_ms, 99))
        case.medians.append(median(certify_ms))
        if bare_ms:
            case.bare_p99.append(percentile(bare_ms, 99))
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(30)
    await asyncio.to_thread(bench.pool.close, name)
    await asyncio.sleep(1)
    return case


def profile(prefix: str | None, case: str, pid: int) -> subprocess.Popen | None:
    """py-spy recording the server's processes during a case's rounds (collapsed stacks in ``{prefix}-{case}.txt``)."""
    if prefix is None:
        return None
    command = [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--format", "raw", "--rate", "200", "--nonblocking",
               "--subprocesses", "--pid", str(pid), "--output", f"{prefix}-{case}.txt"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def case_note(case: Case, subscribers: int) -> str:
    return (
        f"median latency {median(case.medians):.1f} ms; delivered {case.expected - case.missed:,} / {case.expected:,}; "
        f"{subscribers:,} connected in {case.connect_seconds:.1f} s; {case.kib_per_subscriber:.1f} KiB of server RSS "
        "per idle subscriber."
    )


async def memory_variant(args, bench: Bench, server_pid: int, report: Report) -> None:
    """The three 2,000-subscriber cases (those of ``--cases``), the identical one against the bare Starlette broadcast."""
    n = args.subscribers
    tokens = [bench.token(i // SUBSCRIBERS_PER_TOKEN) for i in range(n)]
    identical = filtered = distinct = None
    if "identical" in args.cases:
        async with serve_bare(free_port()) as (bare_url, _), httpx.AsyncClient(base_url=bare_url, timeout=30) as bare:
            await asyncio.to_thread(
                bench.pool.open, "bare", bare_url.replace("http", "ws", 1) + "/ws", [Spec()] * n, None
            )
            specs = [graphql_spec(tokens[i], IDENTICAL) for i in range(n)]
            identical = await run_case(bench, "identical", specs, server_pid=server_pid, bare=bare)
            await asyncio.to_thread(bench.pool.close, "bare")
    if "filters" in args.cases:
        specs = [graphql_spec(tokens[i], FILTERED, {"filter": {"scoreMax": 80 + i % 200}}) for i in range(n)]
        filtered = await run_case(bench, "filters", specs, server_pid=server_pid, bare=None)
    if "different" in args.cases:
        specs = [graphql_spec(tokens[i], different(i)) for i in range(n)]
        distinct = await run_case(bench, "different", specs, server_pid=server_pid, bare=None)
    if identical is not None:
        bare, same = median(identical.bare_p99), median(identical.p99)
        report.figures += [
            against(f"{n:,} identical subscriptions, p99", same, "ms", bare, "bare Starlette broadcast p99",
                    at_most_ratio=1.3, runs=identical.p99, note=case_note(identical, n)),
            info("bare Starlette broadcast, p99", bare, "ms", runs=identical.bare_p99,
                 note="the same bytes to the same client processes, measured from the trigger's send, "
                 "alternated with the rounds above."),
        ]  # fmt: skip
        if filtered is not None:
            report.figures.append(
                against(f"{n:,} subscribers, 200 distinct filter variables, p99", median(filtered.p99), "ms", same,
                        "identical subscriptions p99", at_most_ratio=1.5, runs=filtered.p99,
                        note=case_note(filtered, n))
            )  # fmt: skip
    elif filtered is not None:
        report.figures.append(info(f"{n:,} subscribers, 200 distinct filter variables, p99", median(filtered.p99), "ms",
                                   runs=filtered.p99, note=case_note(filtered, n)))  # fmt: skip
    if distinct is not None:
        report.figures.append(
            at_most(f"{n:,} all-different documents, p99", median(distinct.p99), "ms", 500, runs=distinct.p99,
                    note=case_note(distinct, n))
        )  # fmt: skip


async def redis_variant(args, bench: Bench, server_pid: int, report: Report) -> None:
    """10,000 identical subscribers over two workers sharing events through Redis."""
    n = args.subscribers
    specs = [graphql_spec(bench.token(i // SUBSCRIBERS_PER_TOKEN), IDENTICAL) for i in range(n)]
    case = await run_case(bench, "identical", specs, server_pid=server_pid, bare=None)
    delivered = 100.0 * (case.expected - case.missed) / case.expected
    report.figures += [
        at_least(f"{n:,} subscribers over two workers through Redis, events delivered", delivered, "%", 100,
                 note=f"{case.expected - case.missed:,} of {case.expected:,} deliveries."),
        at_most(f"{n:,} subscribers over two workers through Redis, p99", median(case.p99), "ms", 1000,
                runs=case.p99, note=case_note(case, n)),
    ]  # fmt: skip


async def measure(args, report: Report) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="certify-fanout-bench-"))
    tokens = TokenService(Settings(jwt_secret=SECRET, data_dir=workdir))
    pool = ClientPool(args.client_processes)
    try:
        async with contextlib.AsyncExitStack() as stack:
            database_url, env, serve_args = None, {"CERTIFY_BROADCAST_URL": "memory://"}, []
            if args.redis_url:
                database_url = await stack.enter_async_context(scratch_database(args.postgres, prefix="certify_fanout"))
                env = {
                    "CERTIFY_BROADCAST_URL": args.redis_url,
                    "CERTIFY_CHANNEL_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
                }
                serve_args = ["--workers", "2"]
            server = await stack.enter_async_context(
                serve(data_dir=workdir, database_url=database_url, env=env, arguments=serve_args)
            )
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=60))
            cases = 1 if args.redis_url else len(args.cases)
            org, sittings = await seed(http, tokens, cases * (1 + args.runs * args.rounds))
            bench = Bench(http, pool, tokens, org, sittings, f"ws://127.0.0.1:{server.port}/graphql",
                          args.rounds, args.runs, args.pause)  # fmt: skip
            bench.admin, bench.py_spy = bench.token(0), args.py_spy
            variant = redis_variant if args.redis_url else memory_variant
            await variant(args, bench, server.pid, report)
            report.details = details(args, bench)
    finally:
        pool.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def details(args, bench: Bench) -> str:
    setup = (
        f"`certify serve --workers 2`, PostgreSQL, Redis ({args.redis_url})" if args.redis_url
        else "`certify serve` (one process, SQLite, `memory://`)"
    )  # fmt: skip
    lines = [
        (
            f"Server: {setup}. Clients: {args.client_processes} processes (`bench/ws_clients.py`, graphql-transport-ws, "
            f"cyclic GC off in the clients), {args.subscribers:,} connections per case, {args.runs} runs × "
            f"{args.rounds} rounds of one `certifySittings` of one sitting, {args.pause:g} s apart. Latency: the event's "
            "arrival at the client − the moment the mutation was sent (for the bare baseline: the moment its trigger was sent)."
        )
    ]
    lines += [f"- {note}" for note in bench.notes]
    lines += ["", FINDINGS.strip()]
    return "\n".join(lines)


FINDINGS = """
Where the time goes (py-spy on the server, `--py-spy PREFIX`, 2026-12-03 on the shared 2-core machine,
load average 5–11). Identical subscriptions share one stream (`server/multiplex.py`): one execution,
one encoding and one frame write per subscriber, so they track the bare broadcast (1.1–1.3× here). Every
*distinct* subscription (document, variables, viewer scope) runs its own stream, and each event is
executed once per stream: in a profile of 2,000 all-different documents about half of the server's
samples are graphql-core's execution of the selection (≈ 1–1.3 ms per stream and event on this loaded
machine), a fifth the frame writes, the rest the hub's wake-ups and our generators. Fixed here: the 200
filters no longer cost 200 SQL reads per event (criteria a row can answer are checked on one shared read:
p99 1.8 s → 0.6 s on the same machine); graphql-core's sub-field memo is keyed by field nodes, so a
stream's events stop missing it and growing it (all-different p99 4.7 s → 2.8 s at similar load); and
streams whose filters differ but whose selection, selection variables and viewer scope are the same
execute each event they all receive once (`server/event_sharing.py`; the root field's arguments only
choose which events reach a stream). Its effect here is small, since this benchmark's document selects
only the event's own fields: four runs of this script alternating without and with it on a quiet
machine (2026-12-03, 17:28–17:31) gave the 200 filters' p99 110 and 96 ms without, 102 and 94 ms with
(1.55–1.59× the identical case), and the all-different case 418 and 437 ms without, 429 and 441 ms with
(sharing only keys that another live subscription also has; looking up and keeping every stream's
result had doubled it). It saves more where the selection reads related rows (`sitting { testTaker }`:
one test-taker read per event for every filter, `tests/test_shared_executions.py`). What remains per
distinct stream and event is the hub's wake-up of its generator, its filter check, its encoding of the
result and one frame write per member; for documents that differ, graphql-core's execution too. How fan-out works and what earlier
measurements found: docs/ARCHITECTURE.md, "Fan-out".
"""


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, help="connections per case (default 2,000; 10,000 with --redis-url)")
    parser.add_argument("--rounds", type=int, default=5, help="certifications per run")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between rounds")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="cases of the default variant")
    parser.add_argument("--py-spy", metavar="PREFIX", help="record the server with py-spy in each case's rounds")
    parser.add_argument("--redis-url", help="the Redis variant: two workers sharing events through this Redis")
    parser.add_argument("--postgres", default=os.environ.get("CERTIFY_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
                        help="PostgreSQL server root for the Redis variant (a scratch database is made and dropped)")  # fmt: skip
    args = parser.parse_args()
    if args.subscribers is None:
        args.subscribers = 20 if args.smoke else (10_000 if args.redis_url else 2_000)
    if args.smoke:
        args.runs, args.rounds = 1, 2
    title = "Fan-out: one certification reaching every websocket subscriber of an organisation (figure 4)"
    report = Report("fan-out", title, variant="redis" if args.redis_url else "", smoke=args.smoke)
    with Timer(report):
        asyncio.run(measure(args, report))
    emit(report, args.out)
    print(json.dumps({"seconds": report.seconds}))


if __name__ == "__main__":
    main()
