"""Settings an operator gets wrong are named on one line each and the command exits 2 (server/cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_a_lifecycle_duration_is_positive_and_at_most_ten_years():
    assert Settings(claim_window="P3650D", expiry_reminder="PT1S").claim_window == timedelta(days=3650)
    for setting in ({"claim_window": "P3651D"}, {"expiry_reminder": "P9000Y"}, {"claim_reminders": "P14D,P3651D"}):
        with pytest.raises(ValidationError, match=r"at most ten years \(P3650D\)"):
            Settings(**setting)


def test_wrong_settings_are_listed_one_a_line_and_the_command_exits_2(tmp_path):
    env = {**os.environ, "CERTIFY_DATA_DIR": str(tmp_path), "CERTIFY_CLAIM_WINDOW": "P99999999D"}
    env["CERTIFY_EXPIRY_REMINDER"] = "-P1D"
    command = [str(Path(sys.executable).parent / "certify"), "check"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "certify: CERTIFY_CLAIM_WINDOW: must be a positive duration of at most ten years (P3650D) (got 'P99999999D')",
        "certify: CERTIFY_EXPIRY_REMINDER: must be a positive duration of at most ten years (P3650D) (got '-P1D')",
    ]


def test_chromium_closes_after_a_minute_idle_unless_set_otherwise(monkeypatch):
    from server.worker_process import renderer_of

    monkeypatch.delenv("CERTIFY_RENDER_BROWSER_IDLE_SECONDS", raising=False)
    assert renderer_of(Settings()).browser_idle_close_s == 60.0
    for value, seconds in (("5", 5.0), ("0.5", 0.5), ("never", None), ("Never", None)):
        monkeypatch.setenv("CERTIFY_RENDER_BROWSER_IDLE_SECONDS", value)
        settings = Settings()
        assert (settings.render_browser_idle_seconds, renderer_of(settings).browser_idle_close_s) == (seconds, seconds)
    for value in ("0", "-1", ""):
        monkeypatch.setenv("CERTIFY_RENDER_BROWSER_IDLE_SECONDS", value)
        with pytest.raises(ValidationError, match="render_browser_idle_seconds"):
            Settings()
