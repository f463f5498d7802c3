"""How long hostile documents hold the server's event loop: each within the 1 MiB JSON body limit, sent to the real server.

Usage:
    .venv/bin/python bench/documents_bench.py [--runs 3] [--kilobytes 1000]

Starts ``certify serve`` on a fresh SQLite database with one organisation,
then sends each document of :func:`documents` ``--runs`` times, one at a
time, as an org admin (the authenticated tier) or with no token (the
anonymous tier). Meanwhile a separate process asks ``GET /healthz`` every
5 ms over its own connection: a request that waits shows the loop busy, so
the slowest probe that overlaps a document, less the median probe when
idle, is how long that document stalled the loop. Bodies are encoded before
the clock starts. Prints one JSON object: per document its error codes, the
median response time and the worst stall over the runs (ms). The target is
that no document stalls the loop for more than ~100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import SECRET, serve  # noqa: E402
from gql.ids import to_global_id  # noqa: E402
from models import Organisation  # noqa: E402
from models.db import forget_compiled_statements, migrate, tortoise_config  # noqa: E402
from models.enums import Role  # noqa: E402
from server.auth import TokenService  # noqa: E402
from server.settings import Settings  # noqa: E402

PROBE_INTERVAL = 0.005


def documents(kilobytes: int) -> dict[str, tuple[dict, bool]]:
    """Name → (JSON body, sent with a token). Bodies of ``kilobytes`` kB stay under the 1 MiB limit."""
    size = kilobytes * 1_000
    label = f"{kilobytes:,} kB"
    bomb = "".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }} " for n in range(20))
    distinct = " ".join(
        f"fragment G{n} on Query {{ " + " ".join(f"f{n}x{m}: viewer {{ role }}" for m in range(30)) + " }"
        for n in range(20)
    )
    return {
        "one field repeated 1,200 times": ({"query": "{ " + "viewer { role } " * 1200 + "}"}, True),
        "fragment bomb (2^20 fields)": (
            {"query": "{ ...F0 } " + bomb + "fragment F20 on Query { viewer { role } }"},
            True,
        ),
        "one fragment spread 2,000 times": (
            {"query": "{ " + "...V " * 2000 + "} fragment V on Query { viewer { role } }"},
            True,
        ),
        "20 fragments of 30 aliases": (
            {"query": "{ " + " ".join(f"...G{n}" for n in range(20)) + " } " + distinct},
            True,
        ),
        "nesting 3,000 deep": ({"query": "{ " + "viewer { " * 3000 + "role" + " }" * 3000 + " }"}, True),
        "50 aliases": ({"query": "{ " + " ".join(f"a{n}: viewer {{ role }}" for n in range(50)) + " }"}, True),
        f"{label} of tokens": ({"query": "{ " + "a " * (size // 2) + "}"}, True),
        f"{label} comment": ({"query": "#" + "x" * size + "\n{ viewer { role } }"}, True),
        "a comment at the 100,000-character limit": ({"query": "#" + "x" * 99_970 + "\n{ viewer { role } }"}, True),
        "a string argument at the character limit": (
            {"query": '{ sittings(filter: {search: "' + "x" * 99_900 + '"}) { totalCount } }'},
            True,
        ),
        "4,990 tokens of aliased fields": (
            {"query": "{ " + " ".join(f"s{n}: viewer {{ role }}" for n in range(830)) + " }"},
            True,
        ),
        f"{label} of whitespace": ({"query": " " * size + "{ viewer { role } }"}, True),
        f"{label} string argument": (
            {"query": '{ sittings(filter: {search: "' + "x" * size + '"}) { totalCount } }'},
            True,
        ),
        f"{label} string variable": (
            {
                "query": "query($s: String) { sittings(filter: {search: $s}) { totalCount } }",
                "variables": {"s": "x" * size},
            },
            True,
        ),
        "40,000 IDs in a variable": (
            {
                "query": "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount } }",
                "variables": {"ids": [f"U2l0dGluZzox{n}" for n in range(40_000)]},
            },
            True,
        ),
        f"{label} of IDs in a variable": (
            {
                "query": "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount } }",
                "variables": {"ids": ["U2l0dGluZzox"] * (size // 16)},
            },
            True,
        ),
        "anonymous: 1,000 aliases": (
            {"query": "{ " + " ".join(f"a{n}: __typename" for n in range(1000)) + " }"},
            False,
        ),
        f"anonymous: {label} verification code": (
            {"query": "query($c: String!) { verifyCertificate(code: $c) { valid } }", "variables": {"c": "x" * size}},
            False,
        ),
        f"anonymous: {label} comment": ({"query": "#" + "x" * size + "\n{ __typename }"}, False),
    }


def probe(url: str, stop, results) -> None:
    """In its own process: GET /healthz every PROBE_INTERVAL until ``stop``; send [(sent, seconds), …]."""
    samples = []
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            sent = time.monotonic()
            http.get("/healthz")
            samples.append((sent, time.monotonic() - sent))
            time.sleep(PROBE_INTERVAL)
    results.send(samples)


async def build_database(url: str) -> int:
    from tortoise import Tortoise

    forget_compiled_statements()
    await migrate(url)
    await Tortoise.init(config=tortoise_config(url))
    try:
        return (await Organisation.create(name="Bench Org", credit_balance=10)).id
    finally:
        await Tortoise.close_connections()


def codes(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return [f"HTTP {response.status_code}"]
    found = [e.get("extensions", {}).get("code", "?") for e in body.get("errors", [])]
    return found or [f"HTTP {response.status_code} ok"]


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="certify-documents-bench-"))
    url = f"sqlite://{workdir / 'certify.sqlite3'}"
    try:
        organisation_id = await build_database(url)
        tokens = TokenService(Settings(jwt_secret=SECRET, data_dir=workdir))
        token = tokens.mint(
            role=Role.ORG_ADMIN, subject="bench", organisation_gid=to_global_id("Organisation", organisation_id)
        )
        bodies = {
            name: (json.dumps(body).encode(), authed) for name, (body, authed) in documents(args.kilobytes).items()
        }
        async with serve(data_dir=workdir, database_url=url) as server:
            context = multiprocessing.get_context("spawn")
            stop, (receiving, sending) = context.Event(), context.Pipe(duplex=False)
            prober = context.Process(target=probe, args=(server.url, stop, sending))
            prober.start()
            windows: dict[str, list[tuple[float, float, list[str]]]] = {}
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
                await asyncio.sleep(1)  # idle probes first
                for name, (body, authed) in bodies.items():
                    headers = {"content-type": "application/json"}
                    if authed:
                        headers["authorization"] = f"Bearer {token}"
                    for _ in range(args.runs):
                        started = time.monotonic()
                        response = await http.post("/graphql", content=body, headers=headers)
                        windows.setdefault(name, []).append((started, time.monotonic(), codes(response)))
                        await asyncio.sleep(0.2)
            stop.set()
            samples = receiving.recv()
            prober.join()
        idle = statistics.median(seconds for sent, seconds in samples if sent < min(w[0][0] for w in windows.values()))
        report = {}
        for name, runs in windows.items():
            stalls = []
            for started, ended, _ in runs:
                overlapping = [s for sent, s in samples if sent <= ended and sent + s >= started]
                stalls.append(max(overlapping, default=idle) - idle)
            report[name] = {
                "codes": sorted(set(runs[0][2])),
                "response_ms_median": round(statistics.median((e - s) * 1000 for s, e, _ in runs), 1),
                "worst_stall_ms": round(max(stalls) * 1000, 1),
            }
        return {
            "body_kilobytes": args.kilobytes,
            "runs": args.runs,
            "idle_probe_ms": round(idle * 1000, 2),
            "documents": report,
            "worst_stall_ms": max(r["worst_stall_ms"] for r in report.values()),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kilobytes", type=int, default=1000, help="size of the large documents (limit 1 MiB)")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
