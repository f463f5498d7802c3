"""What every benchmark reports: figures against a baseline from the same run, a target, pass or fail.

A benchmark script measures, builds a :class:`Report` and calls :func:`emit`,
which prints it and, with ``--out PATH``, writes it as JSON for
``bench/run_all.py`` to gather into ``BENCHMARKS.md``. Every script takes the
arguments :func:`arguments` defines (``--smoke`` for the tiny version CI runs,
``--out``, ``--runs``), so each runs alone the same way it runs in the suite.

A figure's ``passed`` is None when it has no target (a breakdown, a baseline
shown for reference). Medians are of the runs listed in ``runs``; ratios are
value ÷ baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(slots=True)
class Figure:
    """One measured figure: ``value`` in ``unit``, its same-run ``baseline`` (if any) and ``ratio``, the target.

    ``target``: the target in words (``"≥ 0.6× baseline"``, ``"≤ 5 s"``); ``passed``
    True/False against it, None when the figure has no target. ``runs``: the
    individual measurements whose median ``value`` is.
    """

    name: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None
    baseline: float | None = None
    baseline_name: str = ""
    ratio: float | None = None
    runs: list[float] = field(default_factory=list)
    note: str = ""


@dataclass(slots=True)
class Report:
    """One benchmark's outcome: its figures, the command that reproduces it, the machine and its load.

    ``details``: Markdown added under the benchmark's section of BENCHMARKS.md
    (a breakdown table, a profile's finding). ``variant``: ``"sqlite"``,
    ``"postgres"``, ``"redis"``… when one script measures several set-ups.
    """

    benchmark: str
    title: str
    variant: str = ""
    command: str = ""
    figures: list[Figure] = field(default_factory=list)
    details: str = ""
    smoke: bool = False
    machine: dict = field(default_factory=dict)
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    started_at: str = ""
    seconds: float = 0.0

    def timed_as(self, timed: Report) -> Report:
        """This report with ``timed``'s machine, load, start and duration (a :class:`Timer` stamped ``timed``)."""
        self.machine, self.load_before, self.load_after = timed.machine, timed.load_before, timed.load_after
        self.started_at, self.seconds = timed.started_at, timed.seconds
        return self


def arguments(description: str) -> argparse.ArgumentParser:
    """The parser every benchmark starts from: ``--smoke``, ``--out PATH``, ``--runs N`` (default 3)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="a tiny version that only proves the script works")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    parser.add_argument("--runs", type=int, default=3, help="measurements per figure (the median is reported)")
    return parser


def median(values: list[float]) -> float:
    """The median of ``values`` (at least one)."""
    return float(statistics.median(values))


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values`` by the nearest-rank method; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return float(ordered[rank - 1])


def at_most(name: str, value: float, unit: str, limit: float, *, runs=(), note: str = "") -> Figure:
    """A figure whose target is an absolute ceiling: passes when ``value ≤ limit``."""
    return Figure(name, value, unit, f"≤ {limit:g} {unit}", value <= limit, runs=list(runs), note=note)


def at_least(name: str, value: float, unit: str, floor: float, *, runs=(), note: str = "") -> Figure:
    """A figure whose target is an absolute floor: passes when ``value ≥ floor``."""
    return Figure(name, value, unit, f"≥ {floor:g} {unit}", value >= floor, runs=list(runs), note=note)


def against(
    name: str,
    value: float,
    unit: str,
    baseline: float,
    baseline_name: str,
    *,
    at_most_ratio: float | None = None,
    at_least_ratio: float | None = None,
    runs=(),
    note: str = "",
) -> Figure:
    """A figure judged by its ratio to a baseline from the same run (``value ÷ baseline``).

    Exactly one of ``at_most_ratio`` (latencies: ``ratio ≤ x``) and
    ``at_least_ratio`` (throughputs: ``ratio ≥ x``) gives the target.
    """
    ratio = value / baseline if baseline else float("inf")
    if at_most_ratio is not None:
        target, passed = f"≤ {at_most_ratio:g}× baseline", ratio <= at_most_ratio
    else:
        target, passed = f"≥ {at_least_ratio:g}× baseline", ratio >= at_least_ratio
    return Figure(name, value, unit, target, passed, baseline, baseline_name, ratio, list(runs), note)


def info(name: str, value: float, unit: str, *, runs=(), note: str = "") -> Figure:
    """A figure without a target (a breakdown or a reference value)."""
    return Figure(name, value, unit, runs=list(runs), note=note)


def machine() -> dict:
    """The machine the figures come from: CPU model and count, memory, OS, Python."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


class Timer:
    """Stamps a report with its start, its duration and the load average before and after."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def __enter__(self) -> Report:
        self.report.machine = machine()
        self.report.load_before = list(os.getloadavg())
        self.report.started_at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        self._start = time.monotonic()
        return self.report

    def __exit__(self, *exc) -> None:
        self.report.seconds = round(time.monotonic() - self._start, 1)
        self.report.load_after = list(os.getloadavg())


def command_line() -> str:
    """The command that reproduces this run, as typed from the repository root (without ``--out``)."""
    argv, kept, skip = sys.argv[1:], [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--out":
            skip = True
            continue
        if not arg.startswith("--out="):
            kept.append(arg)
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return shlex.join([".venv/bin/python", str(script), *kept])


def emit(report: Report, out: Path | None) -> None:
    """Print ``report``'s figures and write it as JSON to ``out`` when given."""
    report.command = report.command or command_line()
    for figure in report.figures:
        verdict = {True: "pass", False: "FAIL", None: ""}[figure.passed]
        baseline = f" (baseline {figure.baseline:g}, ratio {figure.ratio:.2f})" if figure.baseline is not None else ""
        print(
            f"{report.benchmark} {report.variant}: {figure.name} = {figure.value:g} {figure.unit}{baseline} "
            f"{figure.target} {verdict}".rstrip()
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")


def load(path: Path) -> Report:
    """Read a report :func:`emit` wrote."""
    data = json.loads(path.read_text())
    data["figures"] = [Figure(**f) for f in data.get("figures", [])]
    return Report(**data)
