"""``GET /metrics``: GraphQL operations, websockets and the queues, scraped from the real server and parsed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from builders import build_world
from harness import TEST_SECRET, free_port, live_server, make_settings
from prometheus_client.parser import text_string_to_metric_families
from support import admin_of, sitting_nodes
from ws_client import ws_session

from adapters.metrics import error_code_label, exposition, operation_label, scheduled_job_run
from models import OutboxEmail
from models.enums import Role
from server.auth import TokenService
from server.metrics import operation_name_of
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
VIEWER = "query MetricsViewer { viewer { role } }"
ANONYMOUS_SITTINGS = "query MetricsAnonymousSittings { sittings { totalCount } }"
WATCH = "subscription MetricsWatch { sittingStatusChanged { status } }"
CERTIFY = """
mutation MetricsCertify($ids: [ID!]!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "metrics-1"}) { certifiedCount errors { code } }
}
"""


async def scrape(http: httpx.AsyncClient, headers: dict | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample of ``/metrics`` as ``(name, sorted labels) -> value``."""
    response = await http.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_operations_are_counted_by_name_with_their_errors_and_latency(sqlite_server):
    # given a platform admin and an anonymous caller
    platform = sqlite_server.platform()
    before = await scrape(sqlite_server.http)

    # when the admin asks three times, the anonymous caller once, and one body is not JSON
    for _ in range(3):
        await platform.data(VIEWER)
    refused = await sqlite_server.client().post(ANONYMOUS_SITTINGS)
    bad = await sqlite_server.http.post("/graphql", content=b"{not json", headers={"Content-Type": "application/json"})
    after = await scrape(sqlite_server.http)

    # then each is counted under its operation name, the errors under their codes
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert bad.status_code == 400
    assert value(after, "certify_graphql_requests_total", operation="MetricsViewer") == 3
    assert value(after, "certify_graphql_request_duration_seconds_count", operation="MetricsViewer") == 3
    assert value(after, "certify_graphql_errors_total", operation="MetricsViewer", code="UNAUTHENTICATED") == 0
    assert value(after, "certify_graphql_requests_total", operation="MetricsAnonymousSittings") == 1
    assert (
        value(after, "certify_graphql_errors_total", operation="MetricsAnonymousSittings", code="UNAUTHENTICATED") == 1
    )
    none_before = value(before, "certify_graphql_errors_total", operation="(none)", code="BAD_REQUEST")
    assert value(after, "certify_graphql_errors_total", operation="(none)", code="BAD_REQUEST") == none_before + 1
    assert value(after, "certify_graphql_request_duration_seconds_sum", operation="MetricsViewer") > 0


async def test_the_websocket_gauges_go_up_and_down(sqlite_server):
    # given an org admin
    world = await build_world(sqlite_server.platform(), sittings=1, credits=1)
    token = sqlite_server.token(Role.ORG_ADMIN, org=world.organisation_pk)
    before = await scrape(sqlite_server.http)
    connections = value(before, "certify_websocket_connections")

    # when a websocket opens and subscribes, then the subscription completes, then the socket closes
    async with ws_session(sqlite_server.ws_url, token) as client:
        await client.subscribe("watch", WATCH)
        for _ in range(100):
            during = await scrape(sqlite_server.http)
            if value(during, "certify_subscriptions", operation="MetricsWatch") == 1:
                break
            await asyncio.sleep(0.02)
        await client.complete("watch")
        for _ in range(100):
            completed = await scrape(sqlite_server.http)
            if value(completed, "certify_subscriptions", operation="MetricsWatch") == 0:
                break
            await asyncio.sleep(0.02)
    for _ in range(100):
        closed = await scrape(sqlite_server.http)
        if value(closed, "certify_websocket_connections") == connections:
            break
        await asyncio.sleep(0.02)

    # then the gauges count the open connection and the running subscription, and nothing after
    assert value(during, "certify_websocket_connections") == connections + 1
    assert value(during, "certify_subscriptions", operation="MetricsWatch") == 1
    assert value(during, "certify_subscriptions_started_total", operation="MetricsWatch") == 1
    assert value(completed, "certify_subscriptions", operation="MetricsWatch") == 0
    assert value(closed, "certify_websocket_connections") == connections


async def test_the_outbox_backlog_is_the_unsent_rows(tmp_path, database_url):
    # given a server that runs no delivery (a separate worker would), and three certified sittings
    settings = make_settings(tmp_path, database_url, in_process_workers=False)
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=3, credits=5)
        empty = await scrape(server.http)
        admin = admin_of(server, world)
        ids = [node["id"] for node in await sitting_nodes(admin)]
        answer = await admin.data(CERTIFY, {"ids": ids})
        assert answer["certifySittings"] == {"certifiedCount": 3, "errors": []}

        # when one of the three e-mails is sent and Prometheus scrapes
        first = await OutboxEmail.all().order_by("id").first()
        await OutboxEmail.filter(id=first.id).update(sent_at=first.created_at)
        samples = await scrape(server.http)
        unsent = await OutboxEmail.filter(sent_at=None).count()

    # then the backlog is the unsent rows, and the oldest one's age is counted
    assert value(empty, "certify_outbox_backlog") == 0
    assert value(empty, "certify_outbox_oldest_age_seconds") == 0
    assert unsent == 2
    assert value(samples, "certify_outbox_backlog") == 2
    assert 0 < value(samples, "certify_outbox_oldest_age_seconds") < 60
    assert value(samples, "certify_outbox_given_up") == 0
    assert value(samples, "certify_render_queue_depth") == 0
    assert value(samples, "certify_backlog_up") == 1


async def test_the_metrics_token_guards_the_route_and_disabling_removes_it(tmp_path, sqlite_url):
    # given a server with a metrics token and one with metrics off
    guarded = make_settings(tmp_path / "a", sqlite_url, metrics_token="scrape-me-0123456789")
    async with live_server(guarded) as server:
        # when Prometheus scrapes without the token, with a wrong one and with it
        missing = await server.http.get("/metrics")
        wrong = await server.http.get("/metrics", headers={"Authorization": "Bearer nope"})
        samples = await scrape(server.http, {"Authorization": "Bearer scrape-me-0123456789"})
    async with live_server(make_settings(tmp_path / "b", sqlite_url, metrics_enabled=False)) as server:
        disabled = await server.http.get("/metrics")

    # then only the token is let in, and a server with metrics off has no such route
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert value(samples, "certify_backlog_up") == 1
    assert disabled.status_code == 404


async def test_two_workers_answer_the_sum_of_both(tmp_path):
    # given `certify serve --workers 2` on one port, with a metrics directory a previous run left a file in
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")
    env = {**os.environ, "CERTIFY_DATA_DIR": str(tmp_path / "data"), "CERTIFY_JWT_SECRET": TEST_SECRET}
    for name in ("CERTIFY_DATABASE_URL", "CERTIFY_PUBLIC_URL"):
        env.pop(name, None)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    env |= {"CERTIFY_RENDER_ENABLED": "false", "CERTIFY_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-c", "from server.cli import main; raise SystemExit(main())"]
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    token = TokenService(Settings(jwt_secret=TEST_SECRET, data_dir=tmp_path)).mint(
        role=Role.PLATFORM_ADMIN, subject="p"
    )
    try:
        # when 20 requests, each on a new connection, spread over both workers
        async with asyncio.timeout(60):
            while True:
                try:
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
        for _ in range(20):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                response = await http.post(
                    "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
                )
                assert response.json() == {
                    "data": {"viewer": {"role": "PLATFORM_ADMIN"}},
                    "extensions": response.json()["extensions"],
                }
        scrapes = []
        for _ in range(4):  # a new connection each: the kernel hands them to either worker
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                scrapes.append(await scrape(http))
        writers = {path.stem.rpartition("_")[2] for path in metrics_dir.glob("counter_*.db")}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)

    # then both workers wrote counters, the stale file is gone, and every scrape counts all 20
    assert len(writers) == 2 and "999999" not in writers, writers
    assert [value(samples, "certify_graphql_requests_total", operation="MetricsViewer") for samples in scrapes] == [
        20
    ] * 4
    assert all(
        value(samples, "certify_graphql_request_duration_seconds_count", operation="MetricsViewer") == 20
        for samples in scrapes
    )


def test_scheduled_job_runs_are_counted_by_job_and_result():
    # given a job that succeeds twice and fails once
    for fails in (False, False, True):
        try:
            with scheduled_job_run("metrics-test-job"):
                if fails:
                    raise RuntimeError("the job failed")
        except RuntimeError:
            pass

    # then the runs are counted by result, timed, and the last success is set
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition().decode())
        for sample in family.samples
    }
    assert value(samples, "certify_scheduled_job_runs_total", job="metrics-test-job", result="ok") == 2
    assert value(samples, "certify_scheduled_job_runs_total", job="metrics-test-job", result="error") == 1
    assert value(samples, "certify_scheduled_job_duration_seconds_count", job="metrics-test-job") == 3
    assert value(samples, "certify_scheduled_job_last_success_timestamp_seconds", job="metrics-test-job") > 1.7e9


def test_operation_names_and_labels_are_bounded():
    assert operation_name_of("query A { x }", None) == "A"
    assert operation_name_of("# query Z\nfragment F on T { a { b } } mutation M { x }", None) == "M"
    assert operation_name_of("{ x }", None) is None
    assert operation_name_of('"""unterminated', None) is None
    assert operation_name_of("query A { x }", "B") == "B"
    assert operation_label(None) == "(anonymous)"
    assert operation_label("not a name") == "(invalid)"
    assert operation_label("x" * 101) == "(invalid)"
    assert error_code_label("BAD_USER_INPUT") == "BAD_USER_INPUT"
    assert error_code_label("lower") == "(other)"


async def test_the_render_queue_depth_failures_and_given_up_renders(tmp_path, sqlite_url):
    from certificate_flow import approve, certified_candidates, claim_ok, wait_for

    from models import Certificate

    # given an approved claim while no process renders (a separate worker would)
    async with live_server(make_settings(tmp_path, sqlite_url, in_process_workers=False)) as server:
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        await approve(server, candidate)
        queued = await scrape(server.http)

    # when a server whose Chromium cannot start tries it twice
    broken = make_settings(
        tmp_path,
        sqlite_url,
        render_enabled=True,
        chromium_path=str(tmp_path / "no-chromium"),
        render_max_attempts=2,
        render_retry_seconds=0.05,
        render_poll_seconds=0.05,
    )
    async with live_server(broken) as server:
        await wait_for(lambda: Certificate.filter(id=candidate.certificate_pk, render_error__isnull=False).exists())
        after = await scrape(server.http)

    # then the queue showed it waiting, each failed attempt was counted, and it is given up
    assert value(queued, "certify_render_queue_depth") == 1
    assert value(queued, "certify_render_given_up") == 0
    # (both servers run in this process, whose counter the first scrape read)
    assert value(after, "certify_render_failures_total") - value(queued, "certify_render_failures_total") == 2
    assert value(after, "certify_render_queue_depth") == 0
    assert value(after, "certify_render_given_up") == 1
