"""Two real uvicorn processes sharing PostgreSQL and Redis behave like one: events cross workers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from builders import PURCHASE_CREDITS, build_world
from harness import REDIS_URL, TEST_SECRET, GraphQLClient, free_port, postgres_database, unavailable
from ws_client import ws_session

from models.db import migrate
from models.enums import Role
from server.auth import TokenService
from server.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[1]
STATUS_CHANGED = "subscription { sittingStatusChanged { previousStatus status sitting { id } } }"
LIVE_SITTINGS = "subscription { liveSittings(first: 3, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id status } } } }"
CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"
SITTINGS = "{ sittings(first: 10, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id } } } }"
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount creditBalance errors { code } }
}
"""


class Worker:
    """One ``uvicorn --factory server.app:app_from_env`` process on its own port."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "server.app:app_from_env", "--host", "127.0.0.1",
             "--port", str(self.port), "--ws", "websockets-sansio", "--log-level", "warning"],
            cwd=ROOT,
            env=env,
        )

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def ready(self, http: httpx.AsyncClient) -> None:
        async with asyncio.timeout(30):
            while True:
                assert self.process.poll() is None, "worker exited"
                try:
                    if (await http.get(f"http://127.0.0.1:{self.port}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@asynccontextmanager
async def two_workers(tmp_path: Path) -> AsyncIterator[tuple[Worker, Worker]]:
    """Two workers on a fresh PostgreSQL database (migrated once, first) and the shared Redis."""
    if REDIS_URL is None:
        unavailable("Redis (CERTIFY_TEST_REDIS_URL)")
    async with postgres_database() as database_url:
        await migrate(database_url)
        env = {
            **os.environ,
            "CERTIFY_DATABASE_URL": database_url,
            "CERTIFY_BROADCAST_URL": REDIS_URL,
            "CERTIFY_CHANNEL_PREFIX": f"test-{uuid.uuid4().hex}:",
            "CERTIFY_JWT_SECRET": TEST_SECRET,
            "CERTIFY_MIGRATE_ON_START": "false",
            "CERTIFY_RENDER_ENABLED": "false",
        }
        workers: list[Worker] = []
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                for n in range(2):
                    workers.append(Worker({**env, "CERTIFY_DATA_DIR": str(tmp_path / f"worker{n}")}))
                for worker in workers:
                    await worker.ready(http)
            yield workers[0], workers[1]
        finally:
            for worker in workers:
                worker.stop()



async def test_a_mutation_on_one_worker_reaches_subscribers_on_every_worker(tmp_path):
    tokens = TokenService(Settings(jwt_secret=TEST_SECRET, data_dir=tmp_path))
    platform_token = tokens.mint(role=Role.PLATFORM_ADMIN, subject="platform")
    async with two_workers(tmp_path) as (first, second), AsyncExitStack() as stack:
        http_first = await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.port}", timeout=30))
        http_second = await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://127.0.0.1:{second.port}", timeout=30))
        world = await build_world(GraphQLClient(http_first, platform_token), sittings=3, credits=10)
        admin_token = tokens.mint(role=Role.ORG_ADMIN, subject="admin", organisation_gid=world.organisation_id)
        admin_on_first = GraphQLClient(http_first, admin_token)
        ids = [edge["node"]["id"] for edge in (await admin_on_first.data(SITTINGS))["sittings"]["edges"]]

        # given subscribers on the second worker and on the first
        watcher = await stack.enter_async_context(ws_session(second.ws_url, admin_token))
        await watcher.subscribe("status", STATUS_CHANGED)
        await watcher.subscribe("live", LIVE_SITTINGS)
        first_page = (await watcher.data("live"))["liveSittings"]["edges"]
        assert [e["node"] for e in first_page] == [{"id": i, "status": "UNSELECTED"} for i in ids]
        accountant = await stack.enter_async_context(ws_session(first.ws_url, admin_token))
        await accountant.subscribe("credits", CREDITS_CHANGED)
        await accountant.subscribe("live", LIVE_SITTINGS)
        await accountant.data("live")  # the first worker's channel is live too

        # when the first worker certifies a sitting
        result = (await admin_on_first.data(CERTIFY, {"ids": ids[:1], "key": "k1"}))["certifySittings"]
        assert (result["certifiedCount"], result["creditBalance"], result["errors"]) == (1, 9, [])

        # then the second worker's subscribers see the change and the fresh page (in either order)
        heard = await watcher.data_of({"status", "live"})
        assert heard["status"] == {
            "sittingStatusChanged": {"previousStatus": "UNSELECTED", "status": "IN_PROGRESS", "sitting": {"id": ids[0]}}
        }
        page = heard["live"]["liveSittings"]["edges"]
        assert [e["node"]["status"] for e in page] == ["IN_PROGRESS", "UNSELECTED", "UNSELECTED"]
        heard = await accountant.data_of({"credits", "live"})
        assert heard["credits"] == {"creditBalanceChanged": {"creditBalance": 9, "delta": -1}}
        assert [e["node"]["status"] for e in heard["live"]["liveSittings"]["edges"]] == [
            "IN_PROGRESS", "UNSELECTED", "UNSELECTED"
        ]

        # and a mutation on the second worker reaches the first worker's subscriber the same way
        await GraphQLClient(http_second, platform_token).data(
            PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 5, "ref": "po-2"}
        )
        assert await accountant.data("credits") == {"creditBalanceChanged": {"creditBalance": 14, "delta": 5}}
        await watcher.nothing_for(0.3)
