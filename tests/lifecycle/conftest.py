"""Fixtures of the lifecycle tests: a real SMTP server and a live server whose claim window is seconds long."""

from __future__ import annotations

import pytest
from harness import free_port
from lifecycle_support import lifecycle_app
from smtp_server import SmtpServer


@pytest.fixture
def smtp_server():
    server = SmtpServer(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def lifecycle_server(tmp_path, database_url, smtp_server):
    """The real app on each database, the lifecycle job every second, e-mail to ``smtp_server``."""
    async with lifecycle_app(tmp_path, database_url, smtp_server) as server:
        yield server
