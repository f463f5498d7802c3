"""Certificate rendering throughput with a warm Chromium, with injected failures.

For each level (a concurrency and a number of renders per browser context;
one render per context is the baseline): one warm ``CertificateRenderer``,
then ``--runs`` runs of ``--n`` certificates (the real portrait, names in many
scripts), the levels' runs interleaved. Every ``--fail-every``-th render is a
forced failure (0: none), alternately a render with a 5 ms time limit (must
raise ``RenderError``) and a render that starts by SIGKILLing the browser
(must succeed after one relaunch). Throughput is successful renders per
wall-clock second; the table shows the median of the runs. After the runs no
context may still be busy, and after ``close()`` no Chromium process seen
during the runs may survive; otherwise the script exits with status 1.

    .venv/bin/python bench/render_bench.py --n 200 --runs 3 --concurrency 2 3 --fail-every 0
    .venv/bin/python bench/render_bench.py --n 200 --runs 3 --concurrency 3
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from renderer import CertificateData, CertificateRenderer, RenderError
from renderer.chromium import Process, still_running

PORTRAIT = Path(__file__).resolve().parents[1] / "tests" / "data" / "portrait.jpg"
NAMES = (
    "Zoë Nguyễn", "محمد عبد الله", "דוד כהן", "王小明", "김민준", "Ana 🎓",
    "Ана-Мария Иванова", "मीरा शर्मा", "Siobhán O’Connor", "Jean-Luc Picard",
    "María Fernanda Alejandra Guadalupe de los Santos Villanueva y Rodríguez-Ortega",
    "Nguyễn Thị Minh Khai",
)  # fmt: skip


@dataclass
class Run:
    """Counts and timings of one run of ``n`` renders."""

    seconds: float = 0.0
    ok: int = 0
    timeouts: int = 0
    recovered_kills: int = 0
    unexpected: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds


def certificate(index: int, photo: bytes) -> CertificateData:
    code = f"BENCH-{index:05d}"
    return CertificateData(
        holder_name=NAMES[index % len(NAMES)],
        photo=photo,
        test_name="GraphQL API Design — Professional",
        score=60 + index % 40,
        level=("B1", "B2", "C1", None)[index % 4],
        taken_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
        issued_at=datetime(2026, 4, 2, 16, 5, tzinfo=UTC),
        organisation_name="Northwind Language Centre",
        verification_code=code,
        verification_url=f"https://certify.example.test/verify/{code}",
    )


async def one(renderer: CertificateRenderer, index: int, photo: bytes, fail_every: int, run: Run) -> None:
    data = certificate(index, photo)
    fault = None
    if fail_every and index % fail_every == fail_every - 1:
        fault = "timeout" if (index // fail_every) % 2 == 0 else "kill"
    started = time.perf_counter()
    try:
        if fault == "kill" and renderer.browser_pid:
            os.kill(renderer.browser_pid, signal.SIGKILL)
        await renderer.render(data, timeout_s=0.005 if fault == "timeout" else None)
    except RenderError as exc:
        if fault == "timeout":
            run.timeouts += 1
        else:
            run.unexpected.append(f"{index}: {exc}")
        return
    if fault == "timeout":
        run.unexpected.append(f"{index}: a 5 ms render succeeded")
        return
    run.ok += 1
    run.recovered_kills += fault == "kill"
    run.latencies.append(time.perf_counter() - started)


async def measure(renderer: CertificateRenderer, n: int, fail_every: int, photo: bytes, seen: set[Process]) -> Run:
    run = Run()
    slots = asyncio.Semaphore(renderer.max_concurrency)  # start renders in order, as slots free up

    async def slotted(index: int) -> None:
        try:
            if index % 10 == 0:  # a /proc scan costs the CPU renders need; a survivor is seen later anyway
                seen.update(renderer.processes())
            await one(renderer, index, photo, fail_every, run)
        finally:
            slots.release()

    started = time.perf_counter()
    tasks = []
    for index in range(n):
        await slots.acquire()
        tasks.append(asyncio.create_task(slotted(index)))
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - started
    return run


@dataclass
class Level:
    """One configuration under test: a warm renderer and the runs measured on it."""

    concurrency: int
    renders_per_context: int
    renderer: CertificateRenderer
    runs: list[Run] = field(default_factory=list)
    busy_cpu: float = 0.0  # machine-wide busy CPU seconds during the runs
    seen: set[Process] = field(default_factory=set)


async def bench(args: argparse.Namespace, photo: bytes) -> list[dict[str, object]]:
    """Measure every (concurrency, renders per context) pair, runs interleaved round-robin.

    All renderers are started and warmed first; run 1 of every level, then
    run 2 of every level... so that a change in the machine's load hits all
    levels alike.
    """
    levels = [
        Level(c, r, CertificateRenderer(max_concurrency=c, timeout_s=20.0, renders_per_context=r))
        for r in args.renders_per_context
        for c in args.concurrency
    ]
    load_before = os.getloadavg()[0]
    try:
        for level in levels:
            await level.renderer.start()
            await level.renderer.render(certificate(0, photo))  # warm-up, not timed
        for _ in range(args.runs):
            for level in levels:
                busy = _busy_cpu_seconds()
                level.runs.append(await measure(level.renderer, args.n, args.fail_every, photo, level.seen))
                level.busy_cpu += _busy_cpu_seconds() - busy
        state = [
            (level.renderer.open_contexts(), level.renderer.idle_contexts(), level.renderer.contexts_opened)
            for level in levels
        ]
        for level in levels:
            level.seen.update(level.renderer.processes())
    finally:
        for level in levels:
            await level.renderer.close()
    load_after = os.getloadavg()[0]
    rows = []
    for level, (open_contexts, idle_contexts, opened) in zip(levels, state, strict=True):
        runs = level.runs
        latencies = sorted(t for run in runs for t in run.latencies)
        rows.append({
            "concurrency": level.concurrency,
            "renders_per_context": level.renders_per_context,
            "executable": level.renderer.executable,
            "throughputs": [run.throughput for run in runs],
            "median": statistics.median(run.throughput for run in runs),
            "ok": sum(run.ok for run in runs),
            "timeouts": sum(run.timeouts for run in runs),
            "kills": sum(run.recovered_kills for run in runs),
            "unexpected": [u for run in runs for u in run.unexpected],
            "launches": level.renderer.launches,
            "contexts_opened": opened,
            "p50": latencies[len(latencies) // 2],
            "p95": latencies[int(len(latencies) * 0.95)],
            "busy_contexts": open_contexts - idle_contexts,
            "open_contexts": open_contexts,
            "leftover": len(still_running(level.seen)),
            "seen": len(level.seen),
            "load": (load_before, load_after),
            "cpu_per_render": level.busy_cpu / sum(run.ok + run.timeouts for run in runs),
        })
    return rows


def _busy_cpu_seconds() -> float:
    """Machine-wide non-idle CPU seconds since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def print_table(rows: list[dict[str, object]], args: argparse.Namespace) -> None:
    print(f"\nN={args.n} per run, {args.runs} runs, every {args.fail_every}th render a forced failure")
    print(f"Chromium: {rows[0]['executable']}; 1-minute load average {rows[0]['load'][0]:.1f} before, "
          f"{rows[0]['load'][1]:.1f} after\n")
    print("| concurrency | renders per context | runs (renders/s) | median renders/s | ok "
          "| forced timeouts → RenderError | kills → recovered | unexpected | launches | contexts opened "
          "| p50 / p95 latency s | contexts open at the end (busy) "
          "| Chromium pids seen / left after close | machine CPU s per render |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        runs = ", ".join(f"{t:.1f}" for t in row["throughputs"])
        print(
            f"| {row['concurrency']} | {row['renders_per_context']} | {runs} | **{row['median']:.1f}** "
            f"| {row['ok']} | {row['timeouts']} | {row['kills']} | {len(row['unexpected'])} | {row['launches']} "
            f"| {row['contexts_opened']} | {row['p50']:.2f} / {row['p95']:.2f} "
            f"| {row['open_contexts']} ({row['busy_contexts']}) "
            f"| {row['seen']} / {row['leftover']} | {row['cpu_per_render']:.3f} |"
        )
    for row in rows:
        for problem in row["unexpected"]:
            print(f"unexpected at concurrency {row['concurrency']}: {problem}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--renders-per-context", type=int, nargs="+", default=[100, 1])
    parser.add_argument("--fail-every", type=int, default=20)
    parser.add_argument(
        "--photo-side", type=int, default=0,
        help="scale the portrait to this many pixels square first (0: as it is, 512 px), e.g. 1200, "
             "the largest side a claim stores",
    )
    args = parser.parse_args()
    photo = PORTRAIT.read_bytes()
    if args.photo_side:
        scaled = io.BytesIO()
        Image.open(PORTRAIT).resize((args.photo_side,) * 2).save(scaled, format="JPEG", quality=90)
        photo = scaled.getvalue()
    print(f"{os.cpu_count()} CPUs; photo {len(photo)} bytes")
    rows = await bench(args, photo)
    print_table(rows, args)
    if any(row["leftover"] or row["unexpected"] or row["busy_contexts"] for row in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
