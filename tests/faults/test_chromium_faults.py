"""Chromium killed, or hung past its deadline, while the live server renders 20 approved certificates.

The server runs in this process, so every Chromium process is a descendant
of it (through Playwright's driver). Killed (SIGKILL): the renderer notices
the disconnect, relaunches once and retries. Hung (SIGSTOP): the renders in
flight reach their deadline, the browser does not answer a DevTools call, so
it is killed (SIGKILL ends a stopped process too), reaped by the driver and
relaunched. Either way every certificate is issued, and once the server has
stopped no process this test started is left: running, stopped or a zombie.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from certificate_flow import approve, certified_candidates, claim_ok, rendering_server

from models import Certificate
from models.enums import CertificateStatus
from renderer.chromium import Process, process_tree

pytestmark = [pytest.mark.slow, pytest.mark.chromium]

ROOT = Path(__file__).resolve().parents[2]
CERTIFICATES = 20
RENDER_TIMEOUT_SECONDS = 5.0


def lingering(processes: set[Process]) -> set[Process]:
    """Those of ``processes`` whose ``/proc`` entry still exists, running, stopped or zombie (same pid and start)."""
    left = set()
    for process in processes:
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[19]) == process.started:
            left.add(process)
    return left


def descendants() -> set[Process]:
    """Every process below this one (the Playwright driver and Chromium's tree)."""
    return {process for process in process_tree(os.getpid()) if process.pid != os.getpid()}


def certify_check(settings) -> subprocess.CompletedProcess:
    """``certify check`` on the server's database, as an operator runs it."""
    env = {**os.environ, "CERTIFY_DATABASE_URL": settings.database_url, "CERTIFY_DATA_DIR": str(settings.data_dir)}
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "certify"), "check"],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def issued() -> int:
    return await Certificate.filter(status=CertificateStatus.ISSUED).count()


async def wait_for_issued(count: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (done := await issued()) < count:
        assert time.monotonic() < deadline, f"{done} of {count} certificates issued after {timeout} s"
        await asyncio.sleep(0.02)


async def render_twenty_and(tmp_path, sqlite_url, fault) -> dict:
    """Approve 20 claims; once 3 are issued apply ``fault`` to Chromium's processes; wait for all 20.

    Returns what the test checks: issued counts, launches, processes seen, render errors.
    """
    async with rendering_server(
        tmp_path, sqlite_url, render_timeout_seconds=RENDER_TIMEOUT_SECONDS, render_retry_seconds=0.2
    ) as server:
        renderer = server.state.renderer
        _, candidates = await certified_candidates(server, CERTIFICATES)
        for candidate in candidates:
            await claim_ok(server, candidate, name=f"Holder {candidate.sitting_pk}")
        seen = descendants()

        async def approve_all() -> None:
            for candidate in candidates:
                await approve(server, candidate)

        approving = asyncio.create_task(approve_all())
        await wait_for_issued(3, timeout=60)
        chromium = renderer.processes()
        arguments = Path(f"/proc/{renderer.browser_pid}/cmdline").read_bytes().split(b"\0")
        seen |= descendants()
        issued_at_fault = await issued()
        fault(chromium)
        started = time.monotonic()
        await approving
        await wait_for_issued(CERTIFICATES, timeout=90)
        recovered_in = time.monotonic() - started
        seen |= descendants()
        outcome = {
            "issued_at_fault": issued_at_fault,
            "launches": renderer.launches,
            "chromium": chromium,
            "arguments": arguments,
            "recovered_in": recovered_in,
            "statuses": await Certificate.all().values_list("status", flat=True),
            "render_errors": await Certificate.exclude(render_error=None).count(),
            "settings": server.settings,
        }
    outcome["left"] = lingering(seen) | descendants()
    return outcome


def sigkill(processes) -> None:
    for process in processes:
        os.kill(process.pid, signal.SIGKILL)


def sigstop(processes) -> None:
    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)


async def test_chromium_killed_during_renders_is_relaunched_and_every_certificate_is_issued(tmp_path, sqlite_url):
    # when every Chromium process is SIGKILLed while 20 certificates render
    outcome = await render_twenty_and(tmp_path, sqlite_url, sigkill)

    # then it was relaunched once and every certificate issued, no failure left on any
    assert 3 <= outcome["issued_at_fault"] < CERTIFICATES
    assert len(outcome["chromium"]) >= 2  # the browser and at least one renderer
    assert b"--disable-dev-shm-usage" in outcome["arguments"]
    assert outcome["launches"] == 2
    assert outcome["statuses"] == [CertificateStatus.ISSUED] * CERTIFICATES
    assert outcome["render_errors"] == 0
    # and no process of this test is left, killed or not
    assert outcome["left"] == set()
    check = certify_check(outcome["settings"])
    assert check.returncode == 0, check.stdout + check.stderr


async def test_chromium_hung_past_its_deadline_is_killed_and_relaunched_and_every_certificate_is_issued(
    tmp_path, sqlite_url
):
    # when every Chromium process is stopped (SIGSTOP) while 20 certificates render
    outcome = await render_twenty_and(tmp_path, sqlite_url, sigstop)

    # then the renders in flight timed out at their deadline, the browser was replaced once, every certificate issued
    assert 3 <= outcome["issued_at_fault"] < CERTIFICATES
    assert outcome["launches"] == 2
    assert outcome["statuses"] == [CertificateStatus.ISSUED] * CERTIFICATES
    assert outcome["render_errors"] == 0
    # within the deadline, the 2 s probe and a relaunch, plus the rest of the renders
    assert outcome["recovered_in"] < RENDER_TIMEOUT_SECONDS + 20
    # and the stopped processes were killed and reaped: nothing of this test is left, not even a zombie
    assert lingering(set(outcome["chromium"])) == set()
    assert outcome["left"] == set()
    check = certify_check(outcome["settings"])
    assert check.returncode == 0, check.stdout + check.stderr
