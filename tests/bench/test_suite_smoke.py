"""The benchmark suite keeps working: ``bench/run_all.py --smoke`` runs every script and writes its report.

Smoke sizes prove only that each script runs end to end against the real
server and writes figures; the figures themselves come from ``make bench``
(BENCHMARKS.md). Runs alone (``serial``): the scripts start servers and client
processes of their own.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run_all import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.serial


def test_every_benchmark_runs_in_its_smoke_version_and_reports_figures(tmp_path):
    # given the suite's driver, writing to a scratch file
    output = tmp_path / "BENCHMARKS.md"

    # when it runs every benchmark's smoke version
    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )

    # then it succeeded and every benchmark has a section with at least one figure, and none was left out
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    report = output.read_text()
    assert report.startswith("# Benchmarks (smoke run: the figures mean nothing)\n")
    assert "Not run" not in report and "not run" not in report
    for benchmark in BENCHMARKS:
        section = re.search(rf"^## {re.escape(benchmark.name)}\b.*?(?=^## |\Z)", report, re.DOTALL | re.MULTILINE)
        assert section is not None, benchmark.name
        assert re.search(r"^- \*\*.+\*\*: ", section.group(0), re.MULTILINE), benchmark.name
