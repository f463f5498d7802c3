"""A throw-away redis-server for tests that stop and restart their Redis (the shared one is never touched)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import free_port, unavailable
from redis import asyncio as redis


class OwnRedis:
    """A redis-server of this test alone, on a fixed free port, that can be stopped and started again."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        try:
            async with asyncio.timeout(10):
                while True:
                    try:
                        if await client.ping():
                            return
                    except (redis.ConnectionError, OSError):
                        await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
async def own_redis(tmp_path) -> AsyncIterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server")
    server = OwnRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.stop()
