"""What the benchmarks share: a scratch database, the real server in a child process, readings of its CPU and memory.

:func:`scratch_database` yields a new SQLite file or PostgreSQL database and
removes it afterwards; :func:`serve` starts ``certify serve`` on a free port
with the given settings (environment variables, ``server/settings.py``),
waits for ``GET /healthz`` to answer 200 and stops the whole process group
afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
"""The JWT secret of every benchmark server (mint tokens with ``Settings(jwt_secret=SECRET, …)``)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def scratch_database(postgres_root: str | None, *, prefix: str = "certify_bench") -> AsyncIterator[str]:
    """The URL of a new, empty database, removed when the block ends.

    ``postgres_root`` (``postgres://postgres@127.0.0.1:5432``): a new database
    named ``{prefix}_<random>`` on that server, dropped WITH (FORCE) afterwards;
    None: a SQLite file in a new temporary directory, deleted afterwards.
    """
    if postgres_root is None:
        directory = tempfile.mkdtemp(prefix=f"{prefix}-")
        try:
            yield f"sqlite://{directory}/bench.sqlite3"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(f"{postgres_root}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{postgres_root}/{name}"
    finally:
        admin = await asyncpg.connect(f"{postgres_root}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def rss_kib(*pids: int) -> int:
    """Resident set size of ``pids`` together in KiB (VmRSS of /proc/<pid>/status; 0 for one that has gone)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn's workers), from /proc."""
    pids, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            pids.append(child)
            frontier.append(child)
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used, in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread while in its ``with``; ``peak`` in KiB."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def wait_until_healthy(process: subprocess.Popen, url: str, timeout_seconds: float) -> None:
    """Poll ``{url}/healthz`` every 0.2 s until it answers 200.

    Raises TimeoutError after ``timeout_seconds``, RuntimeError when ``process`` exits first.
    """
    async with httpx.AsyncClient(base_url=url, timeout=5) as http, asyncio.timeout(timeout_seconds):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode} before it was ready")
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started server: its ``url`` (``http://127.0.0.1:<port>``), ``port`` and root process ``pid``."""

    url: str
    port: int
    pid: int


@asynccontextmanager
async def serve(
    *,
    data_dir: Path,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    arguments: Sequence[str] = (),
    startup_seconds: float = 60,
) -> AsyncIterator[RunningServer]:
    """Run ``certify serve`` on a free port until the block ends; rendering off, warnings only logged.

    ``database_url`` None: the SQLite file in ``data_dir``. ``env`` adds or
    overrides settings; ``arguments`` are more ``certify serve`` options
    (``["--workers", "2"]``). Raises TimeoutError when ``/healthz`` does not
    answer 200 within ``startup_seconds``, RuntimeError when the server exits
    first; the process group gets SIGTERM on the way out, then SIGKILL after 30 s.
    """
    port = free_port()
    settings = {
        "CERTIFY_JWT_SECRET": SECRET,
        "CERTIFY_DATA_DIR": str(data_dir),
        "CERTIFY_RENDER_ENABLED": "false",
        "CERTIFY_LOG_LEVEL": "warning",
        "CERTIFY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **({"CERTIFY_DATABASE_URL": database_url} if database_url else {}),
        **(env or {}),
    }
    command = [str(ROOT / ".venv" / "bin" / "certify"), "serve", "--port", str(port), *arguments]
    process = subprocess.Popen(command, env={**os.environ, **settings}, cwd=ROOT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_until_healthy(process, url, startup_seconds)
        yield RunningServer(url=url, port=port, pid=process.pid)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
