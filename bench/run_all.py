"""Run every benchmark and write ``BENCHMARKS.md``: ``make bench`` (or ``--smoke`` for the tiny version CI runs).

Usage:
    .venv/bin/python bench/run_all.py [--smoke] [--only NAME ...] [--output BENCHMARKS.md]

Each benchmark in :data:`BENCHMARKS` runs as its own process (so one that
fails or runs out of time costs only its own figures) with ``--out`` naming
a JSON report (``bench/report.py``). The SQLite and in-process variants
always run; the PostgreSQL variants when ``CERTIFY_BENCH_POSTGRES_URL`` is set
(a server root such as ``postgres://postgres@127.0.0.1:5432``), the Redis
ones when ``CERTIFY_BENCH_REDIS_URL`` is (``redis://127.0.0.1:6379``).
Before each variant the suite waits for the machine to be quiet (the
CPU busy below :data:`QUIET_CPU_PERCENT` for :data:`QUIET_SECONDS` in a row,
at most :data:`SETTLE_LIMIT_SECONDS`): what one benchmark leaves running (a
server or browser still exiting, the database's background work) is not
counted against the next. The wait and the CPU busy at the start are in
each section. Exits 1 when a benchmark failed to run (a missed target is a
result, not a failure of the suite).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil

from bench.report import Report, load, machine

QUIET_CPU_PERCENT = 10.0
"""The whole machine's CPU busy, in percent of all cores, under which it counts as quiet."""
QUIET_SECONDS = 3
"""How many one-second samples in a row must be quiet before a benchmark starts."""
SETTLE_LIMIT_SECONDS = 180
"""The longest wait for quiet; the benchmark then starts anyway and its section says how busy it was."""


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One script of the suite: ``name``, its ``script`` under ``bench/``, and which back-ends it has variants for."""

    name: str
    script: str
    postgres: bool = False
    redis: bool = False
    timeout_seconds: int = 1200


BENCHMARKS = [
    Benchmark("page-query", "page_query_bench.py", postgres=True),
    Benchmark("bulk-certification", "certify_bench.py", postgres=True),
    Benchmark("ingest", "ingest_bench.py", postgres=True),
    Benchmark("fan-out", "realtime_bench.py", redis=True),
    Benchmark("live-queries", "live_query_bench.py"),
    Benchmark("rendering", "render_bench.py"),
    Benchmark("memory", "memory_bench.py"),
    Benchmark("analytics", "analytics_bench.py", postgres=True),
    Benchmark("export", "export_bench.py", postgres=True),
    Benchmark("mixed-load", "mixed_load_bench.py"),
]
"""The suite in the order BENCHMARKS.md lists it (the performance issue's figures 1–9)."""


@dataclass(slots=True)
class Outcome:
    """What one variant's run produced: its report, or why there is none."""

    benchmark: Benchmark
    variant: str
    report: Report | None
    problem: str = ""
    settled: Settled | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    """How the machine was before a variant started.

    ``waited_s``: seconds the suite waited; ``cpu_percent``: the whole machine's CPU busy in the last
    one-second sample, in percent of all cores; ``quiet``: whether :data:`QUIET_SECONDS` samples in a
    row were under :data:`QUIET_CPU_PERCENT` (False: the wait hit its limit).
    """

    waited_s: float
    cpu_percent: float
    quiet: bool


def settle(*, limit_s: float = SETTLE_LIMIT_SECONDS) -> Settled:
    """Wait until the machine is quiet (:data:`QUIET_SECONDS` samples under :data:`QUIET_CPU_PERCENT`).

    Each sample is ``psutil.cpu_percent`` over one second, all cores together. Returns after at most
    ``limit_s`` seconds (plus one sample) whether or not it got quiet.
    """
    started = time.monotonic()
    quiet_in_a_row, busy = 0, 100.0
    while quiet_in_a_row < QUIET_SECONDS:
        busy = psutil.cpu_percent(interval=1.0)
        quiet_in_a_row = quiet_in_a_row + 1 if busy < QUIET_CPU_PERCENT else 0
        if time.monotonic() - started > limit_s:
            break
    return Settled(round(time.monotonic() - started, 1), busy, quiet_in_a_row >= QUIET_SECONDS)


def variants(benchmark: Benchmark) -> list[tuple[str, list[str]]]:
    """``(variant, extra arguments)`` for each set-up of ``benchmark`` this environment can run."""
    found = [("sqlite" if benchmark.postgres else "", [])]
    postgres = os.environ.get("CERTIFY_BENCH_POSTGRES_URL")
    redis = os.environ.get("CERTIFY_BENCH_REDIS_URL")
    if benchmark.postgres and postgres:
        found.append(("postgres", ["--database-url", postgres]))
    if benchmark.redis and redis:
        found.append(("redis", ["--redis-url", redis]))
    return found


def run(benchmark: Benchmark, variant: str, extra: list[str], *, smoke: bool, work: Path) -> Outcome:
    """Run one variant in its own process and read its report."""
    script = ROOT / "bench" / benchmark.script
    if not script.exists():
        return Outcome(benchmark, variant, None, f"`bench/{benchmark.script}` does not exist yet")
    out = work / f"{benchmark.name}-{variant or 'default'}.json"
    command = [sys.executable, str(script), *extra, "--out", str(out), *(["--smoke"] if smoke else [])]
    settled = None if smoke else settle()
    waited = f" (after {settled.waited_s} s, CPU {settled.cpu_percent:.0f} % busy)" if settled else ""
    print(f"== {benchmark.name} {variant}: {' '.join(command[1:])}{waited}", flush=True)
    timeout = 240 if smoke else benchmark.timeout_seconds
    try:
        finished = subprocess.run(command, cwd=ROOT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(benchmark, variant, None, f"did not finish within {timeout} s", settled)
    if finished.returncode != 0 or not out.exists():
        return Outcome(benchmark, variant, None, f"exited with {finished.returncode}", settled)
    return Outcome(benchmark, variant, load(out), settled=settled)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def summary_rows(outcomes: list[Outcome]) -> list[str]:
    """The summary table: one row per figure, or one per variant that produced none."""
    rows = [
        "| benchmark | variant | figure | value | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        label = outcome.variant or "—"
        if outcome.report is None:
            rows.append(f"| {outcome.benchmark.name} | {label} | — | | | | | not run: {outcome.problem} |")
            continue
        for figure in outcome.report.figures:
            result = {True: "pass", False: "**fail**", None: ""}[figure.passed]
            ratio = f"{figure.ratio:.2f}×" if figure.ratio is not None else ""
            baseline = f"{_number(figure.baseline)} ({figure.baseline_name})" if figure.baseline is not None else ""
            rows.append(
                f"| {outcome.benchmark.name} | {label} | {figure.name} | {_number(figure.value)} {figure.unit} | "
                f"{baseline} | {ratio} | {figure.target} | {result} |"
            )
    return rows


def _settled(settled: Settled | None) -> str:
    if settled is None:
        return ""
    how = "quiet" if settled.quiet else "still busy"
    return (
        f" The suite waited {settled.waited_s:g} s for the machine to be quiet ({how}: "
        f"CPU {settled.cpu_percent:.0f} % busy in the last second before the start)."
    )


def section(outcome: Outcome) -> list[str]:
    """A benchmark variant's own section: command, load, every figure's runs and notes, its details."""
    report = outcome.report
    heading = f"## {outcome.benchmark.name}" + (f" ({outcome.variant})" if outcome.variant else "")
    if report is None:
        return [heading, "", f"Not run: {outcome.problem}.{_settled(outcome.settled)}", ""]
    lines = [heading, "", f"{report.title}", "", f"Command: `{report.command}`", ""]
    lines.append(
        f"Started {report.started_at}, took {report.seconds:g} s; load average before "
        f"{' / '.join(f'{x:.2f}' for x in report.load_before)}, after "
        f"{' / '.join(f'{x:.2f}' for x in report.load_after)} (1 / 5 / 15 min).{_settled(outcome.settled)}"
    )
    lines.append("")
    for figure in report.figures:
        runs = f" — runs: {', '.join(_number(r) for r in figure.runs)}" if figure.runs else ""
        note = f" {figure.note}" if figure.note else ""
        lines.append(f"- **{figure.name}**: {_number(figure.value)} {figure.unit}{runs}.{note}")
    if report.details:
        lines += ["", report.details.strip()]
    lines.append("")
    return lines


def markdown(outcomes: list[Outcome], *, smoke: bool) -> str:
    """BENCHMARKS.md from the outcomes, in the suite's order."""
    about = machine()
    passed = sum(1 for o in outcomes if o.report for f in o.report.figures if f.passed is True)
    failed = sum(1 for o in outcomes if o.report for f in o.report.figures if f.passed is False)
    lines = [
        "# Benchmarks" + (" (smoke run: the figures mean nothing)" if smoke else ""),
        "",
        (
            f"Written by `make bench` (`bench/run_all.py`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
            f"Machine: {about['cpu']}, {about['cores']} cores, {about['memory_gib']} GiB, {about['os']}, "
            f"Python {about['python']}. Each benchmark ran as its own process, once the machine was quiet (CPU "
            f"under {QUIET_CPU_PERCENT:g} % for {QUIET_SECONDS} s in a row, waiting at most {SETTLE_LIMIT_SECONDS} s); "
            "load came from separate client "
            "processes over loopback; values are medians of the runs listed. "
            f"Targets: {passed} met, {failed} missed."
        ),
        "",
        *summary_rows(outcomes),
        "",
    ]
    for outcome in outcomes:
        lines += section(outcome)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny versions that only prove the scripts work")
    parser.add_argument("--only", nargs="*", help="benchmark names to run (default: all)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="certify-bench-") as work:
        for benchmark in chosen:
            for variant, extra in variants(benchmark):
                outcomes.append(run(benchmark, variant, extra, smoke=args.smoke, work=Path(work)))
                # Written after each benchmark, so an interrupted run still leaves what it measured.
                args.output.write_text(markdown(outcomes, smoke=args.smoke))
    print(f"wrote {args.output}")
    return 1 if any(o.report is None for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
