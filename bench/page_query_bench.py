"""Page query (the performance issue's figure 1): a 50-row ``sittings`` page under 32 concurrent clients.

Usage:
    .venv/bin/python bench/page_query_bench.py [--sittings 10000] [--seconds 8] [--runs 3] [--smoke]
        [--database-url postgres://postgres@127.0.0.1:5432] [--out PATH]

Seeds one organisation's ``--sittings`` sittings by raw SQL (a test taker each,
a third of them certified with an AWAITING_CLAIM certificate), then starts
``bench/db_app.py``: the product's app, built with ``create_app(settings)``
as ``certify serve`` builds it, under uvicorn in a child process, plus a
baseline endpoint mounted only there. 4 client processes × 8 keep-alive
connections (``bench/db_load.py``) then send, for ``--seconds`` each run,
either the GraphQL page (50 sittings with test taker, test and certificate,
and ``totalCount``) as the organisation's admin, or the baseline: a raw
Starlette endpoint in the same server process doing the same read with the
same ORM and answering JSON. The two alternate within each run. After the
runs, two loads of ``--seconds``/2 each measure the fixed cost of a GraphQL
request: ``{ __typename }`` over ``/graphql``, and ``/bench/nothing``, a
route that answers the same JSON with no token and no GraphQL.

Targets (figure 1): requests per second at least 0.6× the baseline's, p99
latency at most 2× the baseline's p99, and the SQL statements of one page the
same for 10 to 500 rows and at most 5 (counted by the server process for one
request, the way ``tests/support.py`` counts them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import db_load
from bench.db_seed import World, base_tables, fill, migrated, world
from bench.graphql_floor import execution_floor_ms
from bench.report import Figure, Report, Timer, against, arguments, emit, info, median, percentile
from bench.serving import SECRET, cpu_seconds, free_port, scratch_database, wait_until_healthy
from gql.ids import to_global_id
from models.enums import Role
from server.auth import TokenService
from server.settings import Settings

PAGE = """query($first: Int) { sittings(first: $first) { totalCount edges { node {
  id status score takenAt testTaker { id name email } test { id name } certificate { id status } } } } }"""
PROCESSES, CONNECTIONS = 4, 8
PROFILE = """

Where the GraphQL page's time goes (py-spy on the server during `bench/page_query_bench.py --runs 1
--seconds 16`, 2-core development machine). Fixed on the way: graphql-core's validation of the document
was a fifth of the page (a shared document now passes validation once per tier, `server/documents.py`);
each node's relations came through an awaited DataLoader call of its own, 150 awaitables per page (a
page now loads its rows' test takers, tests and certificates in one batch each before its fields
resolve, `SittingConnection.prefetched`); leaf fields that only read an attribute went through
graphql-core's resolve info and completion (`server/strawberry_internals.py`, `ExecutionContext`: about
550 of a page's fields now skip them); responses are encoded by orjson. 2026-12-04, SQLite: 14.6 ms of
server CPU per GraphQL page against the baseline's 8.7 ms.

Where the rest goes (py-spy at 250 Hz on the server, PostgreSQL, `bench/page_query_bench.py --runs 1
--seconds 12 --database-url …`, 2026-12-08), of the GraphQL request's samples: 37.5 % graphql-core
completing the 50 rows' fields, 22.9 % strawberry's resolver wrappers around the rows' `testTaker`,
`test` and `certificate` (each builds strawberry's `Info` and calls the field's resolver: 150 a
page), 20.9 % the `sittings` resolver (the same ORM reads the baseline does, and the prefetch), 18.7 %
the rest (about a third of it graphql-core outside the rows' fields, then HTTP, the view, the
document's limits and cost, the rate budget, encoding).

Two floors are measured in every run (the figures above). The first is graphql-core executing this
selection over plain dicts with the server's own executor (`bench/graphql_floor.py`). The second is
the fixed cost of any GraphQL request on this server: `{ __typename }` less a route that only answers
the same JSON (the token, the document's limits, strawberry's request path). With only those two on
top of the baseline's CPU, the ratio could reach the "that execution and the fixed
cost" figure. That ceiling lies above 0.6× on both databases, so the target is not shown to be out of
reach. The measured gap on PostgreSQL, where asyncpg makes the baseline's reads cheap (about half
SQLite's CPU per request), is the rows' relation fields: strawberry's resolver path around 150
`testTaker`, `test` and `certificate` fields a page, the resolvers making their objects and global
ids, and graphql-core completing those objects. Resolving them without strawberry's per-call wrapper
and its `Info` would save at most that wrapper's share (about half of the 22.9 % above). On SQLite the
ratio passes or misses by a few percent from run to run. The statements (5, constant in the page size) are not the bottleneck."""


@asynccontextmanager
async def bench_server(data_dir: Path, database_url: str):
    """Run ``bench/db_app.py`` on a free port until the block ends; yields (url, port)."""
    port = free_port()
    env = {
        **os.environ,
        "CERTIFY_JWT_SECRET": SECRET,
        "CERTIFY_DATA_DIR": str(data_dir),
        "CERTIFY_DATABASE_URL": database_url,
        "CERTIFY_RENDER_ENABLED": "false",
        "CERTIFY_LOG_LEVEL": "warning",
        "CERTIFY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # The limiter still counts every request's cost; its ceiling is set past what 32 clients spend.
        "CERTIFY_RATE_LIMIT_POINTS_PER_MINUTE": "1000000000",
    }
    command = [sys.executable, str(ROOT / "bench" / "db_app.py"), "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)  # noqa: ASYNC220 (before serving)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(process, url, 60)
        yield url, port, process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


async def statements_per_page(url: str, token: str, sizes: list[int]) -> dict[int, int]:
    """The SQL statements the server ran for one page of each size (after one uncounted warm-up request)."""
    counts = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for first in sizes:
            body = {"query": PAGE, "variables": {"first": first}}
            await http.post("/graphql", json=body, headers=headers)
            response = await http.post("/graphql", json=body, headers={**headers, "X-Bench-Count-Statements": "1"})
            data = response.json()
            assert "errors" not in data, data
            assert len(data["data"]["sittings"]["edges"]) == min(first, data["data"]["sittings"]["totalCount"])
            counts[first] = int(response.headers["x-bench-statements"])
    return counts


def load(port: int, token: str, path: str, body: Path, seconds: float, pid: int) -> dict:
    """32 connections in 4 client processes for ``seconds``: requests per second, latency percentiles (ms)
    and the server's CPU milliseconds per request."""
    cpu = cpu_seconds(pid)
    start_at = time.time() + 1.0  # the clients connect first, then start together
    clients = db_load.start(port, token, processes=PROCESSES, connections=CONNECTIONS, repeat=body,
                            start_at=start_at, seconds=seconds, path=path)  # fmt: skip
    result = db_load.finish(clients)
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} requests to {path} failed: {result['first_error']}")
    latencies = [seconds for _, seconds in result["samples"]]
    return {
        "rps": len(latencies) / (result["finished_at"] - start_at),
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "requests": len(latencies),
        "cpu_ms": (cpu_seconds(pid) - cpu) * 1000 / max(1, len(latencies)),
    }


async def measure(args, url: str, port: int, pid: int, token: str, work: Path) -> dict:
    """Statement counts, then ``--runs`` rounds of baseline and GraphQL load, alternating which goes first,
    then the two fixed-cost loads.

    Returns ``{"counts": {first: statements}, "graphql": [load], "baseline": [load],
    "fixed": {"typename": load, "nothing": load}}``, each load as :func:`load` returns it
    (``cpu_ms``: server CPU milliseconds per request).
    """
    counts = await statements_per_page(url, token, [10, 50, 500])
    bodies = {"graphql": work / "page.json", "baseline": work / "baseline.json"}
    bodies["graphql"].write_text(json.dumps({"query": PAGE, "variables": {"first": 50}}))
    bodies["baseline"].write_text("{}")
    bodies["nothing"] = bodies["baseline"]
    paths = {"graphql": "/graphql", "baseline": "/bench/sittings?org=1&first=50"}
    rounds: dict[str, list[dict]] = {"graphql": [], "baseline": []}
    for n in range(args.runs):
        for which in ("baseline", "graphql") if n % 2 == 0 else ("graphql", "baseline"):
            rounds[which].append(load(port, token, paths[which], bodies[which], args.seconds, pid))
            print(
                f"run {n + 1} {which}: " + ", ".join(f"{k} {v:.1f}" for k, v in rounds[which][-1].items()), flush=True
            )
    # The server's fixed cost of a GraphQL request: `{ __typename }` against a route that only answers.
    bodies["typename"] = work / "typename.json"
    bodies["typename"].write_text(json.dumps({"query": "{ __typename }"}))
    fixed = {
        which: load(port, token, path, bodies[which], args.seconds / 2, pid)
        for which, path in (("typename", "/graphql"), ("nothing", "/bench/nothing"))
    }
    print(f"fixed cost: {fixed}", flush=True)
    return {"counts": counts, **rounds, "fixed": fixed}


def report_of(args, measured: dict, seeded_seconds: float) -> Report:
    """The figures of figure 1 from :func:`measure`'s rounds."""
    report = Report("page-query", "Page query: a 50-row sittings page, 32 clients in 4 processes",
                    variant="postgres" if args.database_url else "sqlite", smoke=args.smoke)  # fmt: skip
    graphql, baseline = measured["graphql"], measured["baseline"]
    rps, base_rps = [r["rps"] for r in graphql], [r["rps"] for r in baseline]
    p99, base_p99 = [r["p99"] for r in graphql], [r["p99"] for r in baseline]
    counts = measured["counts"]
    base_cpu = median(r["cpu_ms"] for r in baseline)
    ceiling = base_cpu / (base_cpu + measured["floor_ms"])
    fixed = measured["fixed"]
    per_request = max(0.0, fixed["typename"]["cpu_ms"] - fixed["nothing"]["cpu_ms"])
    with_fixed = base_cpu / (base_cpu + measured["floor_ms"] + per_request)
    report.figures = [
        against("requests per second", median(rps), "req/s", median(base_rps), "raw Starlette endpoint",
                at_least_ratio=0.6, runs=rps),
        against("p99 latency", median(p99), "ms", median(base_p99), "raw Starlette endpoint's p99",
                at_most_ratio=2, runs=p99),
        Figure("SQL statements per page (10, 50, 500 rows)", max(counts.values()), "statements",
               "the same for every size, ≤ 5", len(set(counts.values())) == 1 and max(counts.values()) <= 5,
               runs=list(counts.values())),
        info("baseline requests per second", median(base_rps), "req/s", runs=base_rps),
        info("p50 latency", median(r["p50"] for r in graphql), "ms", runs=[r["p50"] for r in graphql]),
        info("baseline p50 latency", median(r["p50"] for r in baseline), "ms", runs=[r["p50"] for r in baseline]),
        info("server CPU per request", median(r["cpu_ms"] for r in graphql), "ms", runs=[r["cpu_ms"] for r in graphql]),
        info("baseline server CPU per request", median(r["cpu_ms"] for r in baseline), "ms",
             runs=[r["cpu_ms"] for r in baseline]),
        info("the server's graphql-core executor running the page's selection over plain dicts",
             measured["floor_ms"], "ms", note="bench/graphql_floor.py, in the benchmark's process before the load"),
        info("requests per second ratio with only that on top of the baseline's CPU", ceiling, "×",
             note="baseline CPU per request / (baseline CPU per request + the execution above)"),
        info("server CPU per `{ __typename }` request", fixed["typename"]["cpu_ms"], "ms",
             note=f"{args.seconds / 2:g} s of the same load, after the runs"),
        info("server CPU per request of a route that only answers", fixed["nothing"]["cpu_ms"], "ms",
             note="`/bench/nothing`, the same JSON as `{ __typename }`, no token, no GraphQL"),
        info("requests per second ratio with that execution and the fixed cost of a GraphQL request", with_fixed,
             "×", note="baseline CPU / (baseline CPU + the execution above + the difference of the two above; "
             "graphql-core's own per-call set-up is in both, so counted twice, tens of µs)"),
    ]  # fmt: skip
    report.details = (
        f"{args.sittings:,} sittings of one organisation (a third certified), seeded by raw SQL in "
        f"{seeded_seconds:.1f} s; each run {args.seconds:g} s of GraphQL and {args.seconds:g} s of baseline "
        f"load, {PROCESSES} client processes × {CONNECTIONS} keep-alive connections over loopback, the two "
        "alternating which goes first. Statements per page by `first`: "
        + ", ".join(f"{first}: {n}" for first, n in counts.items())
        + " (count, page, then one batch each for test takers, tests and certificates)."
        + PROFILE
    )
    return report


async def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--sittings", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="load per run and side; the two fixed-cost loads take half as long")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server root; SQLite when omitted")
    args = parser.parse_args()
    if args.smoke:
        args.sittings, args.seconds, args.runs = 600, 1.5, 1
    work = Path(tempfile.mkdtemp(prefix="certify-page-bench-"))
    report = Report("page-query", "")
    try:
        async with scratch_database(args.database_url, prefix="certify_pagebench") as url:
            started = time.perf_counter()
            await migrated(url)
            await fill(url, [*base_tables(1), *world(World(1, args.sittings, certified=3))])
            seeded = time.perf_counter() - started
            tokens = TokenService(Settings(jwt_secret=SECRET, data_dir=work))
            token = tokens.mint(role=Role.ORG_ADMIN, subject="bench", organisation_gid=to_global_id("Organisation", 1),
                                ttl_seconds=3600)  # fmt: skip
            with Timer(report):
                floor_ms = execution_floor_ms(repeats=30 if args.smoke else 300)
                async with bench_server(work, url) as (server_url, port, pid):
                    measured = {**await measure(args, server_url, port, pid, token, work), "floor_ms": floor_ms}
            timed = report
            report = report_of(args, measured, seeded)
            report.timed_as(timed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(report, args.out)


if __name__ == "__main__":
    asyncio.run(main())
