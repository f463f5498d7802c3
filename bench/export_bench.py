"""CSV export (the performance issue's figure 8): 100,000 sittings streamed from ``GET /exports/{token}``.

Usage:
    .venv/bin/python bench/export_bench.py [--sittings 100000] [--runs 3] [--role analyst] [--smoke] [--out PATH]
    .venv/bin/python bench/export_bench.py --database-url postgres://postgres@127.0.0.1:5432

Creates its own database (SQLite in a temp dir; with ``--database-url`` a fresh
PostgreSQL database on that server, dropped afterwards), bulk-inserts one
organisation's ``--sittings`` sittings (one test taker each, names in several
scripts, every status, certificates for the certified ones) plus a second
organisation of 1,000 sittings the export must leave out, runs ANALYZE, then starts the
real server (``certify serve``) on it. Each run asks ``exportSittings`` as
``--role`` (analyst: the organisation's; platform_admin: everything) and
downloads the file with httpx, streaming; the time is from the GraphQL
request to the last byte, and rows/s is the rows received over that time
(the server's CPU seconds per run are read from /proc).
The server's RSS (VmRSS in /proc, bench/serving.py) is read
before the first run, every 20 ms during the downloads, and after the last.
Targets (figure 8): at least 50,000 rows/s (the median download) with flat
memory: the server's peak RSS at most 50 MB above its RSS before the first run.

With ``--profile`` no server starts: the export's own generator
(``resolvers/exports.py``, ``export_pages`` then ``csv_chunks``) runs in this
process on the same database, ``--runs`` times for its CPU seconds (process
time, the SQLite driver's thread included) and the SHA-256 of the file (to
compare two versions of the code byte for byte), then once under cProfile,
whose 25 functions of most own time go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tortoise import Tortoise

from bench.report import Report, Timer, arguments, at_least, at_most, emit, info
from bench.serving import SECRET, RssSampler, cpu_seconds, rss_kib, scratch_database, serve
from gql.ids import to_global_id
from models import Certificate, Organisation, Sitting, Test, TestTaker
from models.db import forget_compiled_statements, migrate, tortoise_config
from models.enums import (
    CertificateStatus,
    CertificationStatus,
    IneligibilityReason,
    PhotoCheck,
    Role,
)
from resolvers.exports import ExportRequest, csv_chunks, export_pages
from resolvers.principal import Principal
from resolvers.sittings import SittingOrder
from server.auth import TokenService
from server.settings import Settings

EXPORT = "{ exportSittings { url expiresAt rowCount } }"
NAMES = (
    "Zoë Nguyễn", "محمد عبد الله", "王小明", "김민준", "Ana 🎓", "Ана-Мария Иванова", "Siobhán O’Connor",
    'Jean "JL" Picard', "Smith, John", "=cmd|' /C calc'!A0", "María Fernanda de los Santos",
)  # fmt: skip
CHUNK = 5_000


def status_of(i: int) -> tuple[CertificationStatus, IneligibilityReason | None]:
    bucket = i % 10
    if bucket < 4:
        return CertificationStatus.UNSELECTED, None
    if bucket == 4:
        return CertificationStatus.SELECTED, None
    if bucket < 7:
        return CertificationStatus.IN_PROGRESS, None
    if bucket < 9:
        return CertificationStatus.CERTIFIED, None
    return CertificationStatus.INELIGIBLE, IneligibilityReason.LOW_SCORE


async def insert(organisation: Organisation, test: Test, count: int, offset: int) -> None:
    """``count`` sittings of ``organisation`` with a test taker each, inserted in bulk, and their certificates."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    takers = [
        TestTaker.for_person(name=f"{NAMES[i % len(NAMES)]} {i}", email=f"taker{i}@example.com")
        for i in range(offset, offset + count)
    ]
    for start in range(0, count, CHUNK):
        await TestTaker.bulk_create(takers[start : start + CHUNK])
    ids = await TestTaker.filter(id__gt=offset).order_by("id").values_list("id", flat=True)
    sittings = []
    for n, i in enumerate(range(offset, offset + count)):
        status, reason = status_of(i)
        certified = status in (CertificationStatus.IN_PROGRESS, CertificationStatus.CERTIFIED)
        taken_at = base + timedelta(seconds=i // 3)
        sittings.append(Sitting(
            external_id=f"bench-{i}", organisation=organisation, test=test, test_taker_id=ids[n], taken_at=taken_at,
            score=40 + i % 60, photo_check=PhotoCheck.PASSED, status=status, ineligibility_reason=reason,
            selected_at=taken_at + timedelta(days=1) if status is CertificationStatus.SELECTED else None,
            certified_at=taken_at + timedelta(days=2) if certified else None,
        ))  # fmt: skip
    for start in range(0, count, CHUNK):
        await Sitting.bulk_create(sittings[start : start + CHUNK])
    certified = await Sitting.filter(
        organisation=organisation, status__in=[CertificationStatus.IN_PROGRESS, CertificationStatus.CERTIFIED]
    ).values_list("id", "status", "certified_at")
    certificates = [
        Certificate(
            sitting_id=pk,
            status=CertificateStatus.ISSUED
            if status == CertificationStatus.CERTIFIED
            else CertificateStatus.AWAITING_CLAIM,
            submitted_at=at + timedelta(hours=3) if status == CertificationStatus.CERTIFIED else None,
            claimed_at=at + timedelta(hours=3) if status == CertificationStatus.CERTIFIED else None,
            issued_at=at + timedelta(days=1) if status == CertificationStatus.CERTIFIED else None,
        )
        for pk, status, at in certified
    ]
    for start in range(0, len(certificates), CHUNK):
        await Certificate.bulk_create(certificates[start : start + CHUNK])


async def build_database(url: str, sittings: int) -> int:
    """Migrate ``url`` and fill it; returns the exported organisation's id."""
    forget_compiled_statements()
    await migrate(url)
    await Tortoise.init(config=tortoise_config(url))
    try:
        test = await Test.create(name="Bench English", min_certifiable_score=50)
        ours = await Organisation.create(name="Bench, Languages", credit_balance=0)
        theirs = await Organisation.create(name="Other Org", credit_balance=0)
        await insert(ours, test, sittings, 0)
        await insert(theirs, test, 1_000, sittings)
        # Fresh statistics, as autovacuum would gather after a bulk load: without them PostgreSQL
        # expects a handful of rows and sorts the whole organisation for every page.
        await Sitting._meta.db.execute_script("ANALYZE")
        return ours.id
    finally:
        await Tortoise.close_connections()


async def download(http: httpx.AsyncClient, token: str, server_pid: int) -> dict:
    """One export: ask for the URL, stream the file; rows, bytes, seconds and the server's CPU seconds."""
    cpu = cpu_seconds(server_pid)
    started = time.perf_counter()
    response = await http.post("/graphql", json={"query": EXPORT}, headers={"Authorization": f"Bearer {token}"})
    made = response.json()["data"]["exportSittings"]
    size = lines = 0
    async with http.stream("GET", made["url"]) as stream:
        assert stream.status_code == 200, stream.status_code
        async for chunk in stream.aiter_raw():
            size += len(chunk)
            lines += chunk.count(b"\r\n")  # the bench's names hold no line breaks
    seconds = time.perf_counter() - started
    rows = lines - 1
    assert rows == made["rowCount"], (rows, made["rowCount"])
    return {
        "rows": rows,
        "bytes": size,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "server_cpu_seconds": round(cpu_seconds(server_pid) - cpu, 2),
    }


async def generate(request: ExportRequest) -> tuple[int, str]:
    """One file from the export's generator, in this process: its size in bytes and its SHA-256."""
    digest, size = hashlib.sha256(), 0
    async for chunk in csv_chunks(export_pages(request)):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


async def profile_in_process(url: str, organisation_id: int, args: argparse.Namespace) -> dict:
    """``--runs`` files from the generator (CPU and wall seconds each), then one under cProfile (its top to stderr)."""
    role = Role(args.role)
    principal = Principal("bench", role, organisation_id=organisation_id if role is Role.ANALYST else None)
    request = ExportRequest(principal, None, SittingOrder())
    forget_compiled_statements()
    await Tortoise.init(config=tortoise_config(url))
    try:
        runs = []
        for _ in range(args.runs):
            cpu, started = time.process_time(), time.perf_counter()
            size, digest = await generate(request)
            runs.append((round(time.process_time() - cpu, 3), round(time.perf_counter() - started, 3)))
        profile = cProfile.Profile()
        profile.enable()
        await generate(request)
        profile.disable()
    finally:
        await Tortoise.close_connections()
    report = io.StringIO()
    pstats.Stats(profile, stream=report).sort_stats("tottime").print_stats(25)
    print(report.getvalue(), file=sys.stderr)
    return {"bytes": size, "sha256": digest, "cpu_seconds": [c for c, _ in runs], "seconds": [w for _, w in runs]}


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="certify-export-bench-"))
    try:
        async with scratch_database(args.database_url, prefix="certify_exportbench") as url:
            return await measure(args, url, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def measure(args: argparse.Namespace, url: str, workdir: Path) -> dict:
    started = time.perf_counter()
    organisation_id = await build_database(url, args.sittings)
    insert_seconds = time.perf_counter() - started
    if args.profile:
        measured = await profile_in_process(url, organisation_id, args)
        backend = "postgresql" if args.database_url else "sqlite"
        return {"backend": backend, "role": args.role, "in_process": True, **measured,
                "load_average_1m": round(os.getloadavg()[0], 2)}  # fmt: skip
    tokens = TokenService(Settings(jwt_secret=SECRET, data_dir=workdir))
    role = Role(args.role)
    gid = to_global_id("Organisation", organisation_id) if role is Role.ANALYST else None
    token = tokens.mint(role=role, subject="bench", organisation_gid=gid)
    async with (
        serve(data_dir=workdir, database_url=url) as server,
        httpx.AsyncClient(base_url=server.url, timeout=120) as http,
    ):
        rss_before = rss_kib(server.pid)
        runs = []
        with RssSampler(server.pid) as sampler:
            for _ in range(args.runs):
                runs.append(await download(http, token, server.pid))
        await asyncio.sleep(1)
        rss_after = rss_kib(server.pid)
    return {
        "backend": "postgresql" if args.database_url else "sqlite",
        "role": args.role,
        "sittings_in_database": args.sittings + 1_000,
        "rows_exported": runs[0]["rows"],
        "bytes": runs[0]["bytes"],
        "insert_seconds": round(insert_seconds, 1),
        "rows_per_second_median": round(statistics.median(r["rows_per_second"] for r in runs)),
        "rows_per_second": [r["rows_per_second"] for r in runs],
        "seconds": [r["seconds"] for r in runs],
        "server_cpu_seconds": [r["server_cpu_seconds"] for r in runs],
        "rss_mib_before": round(rss_before / 1024, 1),
        "rss_mib_peak": round(sampler.peak / 1024, 1),
        "rss_mib_after": round(rss_after / 1024, 1),
        "rss_mib_growth_peak": round((sampler.peak - rss_before) / 1024, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def report_of(args: argparse.Namespace, measured: dict) -> Report:
    """The figures of figure 8's export half from :func:`measure`'s numbers."""
    variant = "postgres" if args.database_url else "sqlite"
    report = Report("export", f"CSV export: {measured['rows_exported']:,} sittings streamed as {args.role}",
                    variant=variant, smoke=args.smoke)  # fmt: skip
    rates = measured["rows_per_second"]
    report.figures = [
        at_least("rows per second", measured["rows_per_second_median"], "rows/s", 50_000, runs=rates),
        at_most("server RSS growth at its peak", measured["rss_mib_growth_peak"], "MiB", 50,
                note=f"RSS {measured['rss_mib_before']} → peak {measured['rss_mib_peak']} → after "
                     f"{measured['rss_mib_after']} MiB over {args.runs} downloads."),
        info("seconds per download", statistics.median(measured["seconds"]), "s", runs=measured["seconds"]),
        info("server CPU per download", statistics.median(measured["server_cpu_seconds"]), "s",
             runs=measured["server_cpu_seconds"]),
    ]  # fmt: skip
    report.details = (
        f"{measured['sittings_in_database']:,} sittings in the database ({args.sittings:,} of the exported "
        f"organisation), bulk-inserted in {measured['insert_seconds']} s; each download {measured['bytes']:,} "
        "bytes, timed from the `exportSittings` request to the last byte, streamed with httpx from the "
        "benchmark's process; RSS sampled every 20 ms (VmRSS). No baseline."
    )
    return report


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--sittings", type=int, default=100_000)
    parser.add_argument("--role", choices=[Role.ANALYST.value, Role.PLATFORM_ADMIN.value], default=Role.ANALYST.value)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server root; SQLite when omitted")
    parser.add_argument("--profile", action="store_true", help="run the generator in this process, no server")
    args = parser.parse_args()
    if args.smoke:
        args.sittings, args.runs = 2_000, 1
    if args.profile:
        print(json.dumps(asyncio.run(run(args)), indent=2))
        return
    report = Report("export", "")
    with Timer(report):
        measured = asyncio.run(run(args))
    timed, report = report, report_of(args, measured)
    report.timed_as(timed)
    emit(report, args.out)


if __name__ == "__main__":
    main()
