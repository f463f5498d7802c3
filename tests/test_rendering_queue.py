"""The durable render queue with real Chromium (workers/rendering.py): issue, retry, give up, survive restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from certificate_flow import (
    APPROVE,
    REVIEW_QUEUE,
    approve,
    certificate_as,
    certified_candidates,
    claim_ok,
    live_server,
    make_settings,
    path_of,
    pdf_pages,
    pdf_text,
    rendering_server,
    reviewer,
    wait_for,
    wait_for_status,
)
from support import admin_of, analyst_of

from adapters.storage import LocalFileStorage
from models import AuditEvent, Certificate, Notification, OutboxEmail, Sitting
from renderer import CertificateRenderer
from server.issuer import issuer_of
from subscriptions.events import NullPublisher
from workers.rendering import RenderSettings, RenderWorker

LONG_NAME = "María Alejandra Guadalupe de los Santos Villanueva y Rodríguez Ortega da Silva Pereira O'Neill Cruz."
NAMES = [
    ("Zoë Nguyễn", False),
    ("محمد عبد الله", False),  # pdftotext's reading order gives right-to-left text in logical order
    ("דוד כהן", False),
    ("王小明", False),
    ("김민준", False),
    ("Ana 🎓", True),  # the colour emoji is a Type 3 glyph: only drawing order keeps it on its line
    (LONG_NAME, False),
]


@pytest.mark.parametrize(("name", "raw"), NAMES)
async def test_the_issued_pdf_has_one_page_with_the_exact_name_and_code(tmp_path, sqlite_url, name, raw):
    async with rendering_server(tmp_path, sqlite_url) as server:
        # given an approved claim with the name
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate, name)
        code = (await approve(server, candidate))["verificationCode"]

        # when Chromium has rendered it
        issued = await wait_for_status(server, candidate, "ISSUED")

        # then the PDF, fetched through its signed URL, is one page with the name exactly and the code
        pdf = (await server.http.get(path_of(issued["pdfUrl"]))).content
        assert pdf_pages(pdf) == 1
        text = pdf_text(pdf, raw=raw)
        assert name in text
        assert code in text
        assert "Acme Languages" in text


async def test_an_approval_just_before_a_stop_is_rendered_after_the_next_start(tmp_path, database_url):
    # given a server without a renderer where a claim is approved, then the server stops
    async with live_server(make_settings(tmp_path, database_url)) as server:
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate, "Zoë Nguyễn")
        await approve(server, candidate)
        assert (await certificate_as(candidate.client, candidate))["status"] == "APPROVED"
        token = candidate.client.token

    # when a server with a renderer starts on the same database and data dir
    async with rendering_server(tmp_path, database_url) as server:
        candidate.client = server.client(token)

        # then the pending render is done: ISSUED, sitting CERTIFIED, test taker told in-app and by e-mail
        issued = await wait_for_status(server, candidate, "ISSUED")
        assert issued["sitting"]["status"] == "CERTIFIED"
        assert (await server.http.get(path_of(issued["pdfUrl"]))).status_code == 200
        assert await Notification.filter(test_taker_id=candidate.test_taker_pk, kind="CERTIFICATE_ISSUED").count() == 1
        assert (
            await OutboxEmail.filter(certificate_id=candidate.certificate_pk, template="CERTIFICATE_ISSUED").count()
            == 1
        )


async def test_a_render_interrupted_by_a_stop_is_handed_back_and_done_after_the_restart(tmp_path, sqlite_url):
    # given a rendering server that stops right after an approval (possibly mid-render)
    async with rendering_server(tmp_path, sqlite_url) as server:
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        await approve(server, candidate)
        token = candidate.client.token

    # when it starts again
    async with rendering_server(tmp_path, sqlite_url) as server:
        candidate.client = server.client(token)

        # then it is issued well before a 40 s lease could end, after exactly one counted attempt
        await wait_for_status(server, candidate, "ISSUED", timeout=30)
        assert (await Certificate.get(id=candidate.certificate_pk)).render_attempts == 1
        assert await AuditEvent.filter(action="issue_certificate").count() == 1


async def test_a_render_that_keeps_failing_is_given_up_visibly_and_retried_when_asked(tmp_path, database_url, caplog):
    async with rendering_server(tmp_path, database_url, render_max_attempts=2, render_retry_seconds=0.05) as server:
        # given an approved claim whose stored photo has gone missing
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        row = await Certificate.get(id=candidate.certificate_pk)
        photo = server.settings.files_dir / row.photo_key
        kept = photo.read_bytes()
        photo.unlink()
        with caplog.at_level(logging.WARNING, logger="workers.rendering"):
            await approve(server, candidate)

            # when every attempt fails
            failed = await wait_for(lambda: _given_up(candidate.certificate_pk))

        # then the certificate stays APPROVED with renderError, after exactly two attempts, and says why
        assert (failed.status, failed.render_attempts, failed.render_next_at) == ("APPROVED", 2, None)
        node = await certificate_as(reviewer(server), candidate)
        assert node["status"] == "APPROVED"
        assert node["renderError"] == f"StoredFileMissing: no file is stored under {row.photo_key}"
        assert node["pdfUrl"] is None
        # but the test taker, who cannot act on it, is not shown the operational detail
        assert (await certificate_as(candidate.client, candidate))["renderError"] is None
        # and reviewers see it in their queue, and the logs say so
        queue = (await reviewer(server).data(REVIEW_QUEUE))["reviewQueue"]
        assert [(e["node"]["id"], e["node"]["renderError"]) for e in queue["edges"]] == [
            (candidate.certificate_id, node["renderError"])
        ]
        assert any(r.levelname == "ERROR" and "given up after 2 attempts" in r.getMessage() for r in caplog.records)
        assert (await Sitting.get(id=candidate.sitting_pk)).status == "IN_PROGRESS"

        # when the photo is back and a reviewer approves again
        photo.write_bytes(kept)
        retried = (await reviewer(server).data(APPROVE, {"id": candidate.certificate_id}))["approveCertificate"]
        assert retried["errors"] == []
        assert retried["certificate"]["renderError"] is None

        # then it is rendered and issued, and leaves the queue
        issued = await wait_for_status(server, candidate, "ISSUED")
        assert issued["renderError"] is None
        assert (await reviewer(server).data(REVIEW_QUEUE))["reviewQueue"]["totalCount"] == 0


async def test_a_render_given_up_is_queued_again_on_the_next_start(tmp_path, sqlite_url):
    # given a certificate whose render timed out on every attempt
    async with rendering_server(
        tmp_path, sqlite_url, render_max_attempts=2, render_retry_seconds=0.05, render_timeout_seconds=0.001
    ) as server:
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        await approve(server, candidate)
        failed = await wait_for(lambda: _given_up(candidate.certificate_pk))
        assert failed.render_error == "RenderError: rendering took longer than 0.001 s"
        token = candidate.client.token

    # when the server starts again with a sane timeout
    async with rendering_server(tmp_path, sqlite_url) as server:
        candidate.client = server.client(token)

        # then the render is retried and succeeds
        issued = await wait_for_status(server, candidate, "ISSUED")
        assert issued["renderError"] is None
        assert (await Certificate.get(id=candidate.certificate_pk)).render_attempts == 1


async def test_many_concurrent_issues_get_unique_codes_from_one_warm_browser(tmp_path, sqlite_url):
    async with rendering_server(tmp_path, sqlite_url) as server:
        # given twelve claims
        _, candidates = await certified_candidates(server, 12)
        for n, candidate in enumerate(candidates):
            await claim_ok(server, candidate, f"Holder Number {n}")

        # when all are approved at once
        await asyncio.gather(*(approve(server, candidate) for candidate in candidates))
        issued = [await wait_for_status(server, candidate, "ISSUED") for candidate in candidates]

        # then twelve distinct codes and PDFs, each printing its own holder and code, from one Chromium launch
        codes = [c["verificationCode"] for c in issued]
        assert len(set(codes)) == 12
        hashes = await Certificate.all().values_list("pdf_sha256", flat=True)
        assert len(set(hashes)) == 12
        for n, certificate in enumerate(issued):
            text = pdf_text((await server.http.get(path_of(certificate["pdfUrl"]))).content)
            assert f"Holder Number {n}" in text and codes[n] in text
        assert server.state.renderer.launches == 1
        assert await Sitting.filter(status="CERTIFIED").count() == 12


async def test_two_workers_never_render_the_same_certificate(tmp_path, database_url):
    # given six approved certificates on a server that does not render itself
    async with live_server(make_settings(tmp_path, database_url)) as server:
        _, candidates = await certified_candidates(server, 6)
        for candidate in candidates:
            await claim_ok(server, candidate)
            await approve(server, candidate)

        # when two workers (as in two processes) pick from the queue at the same moment
        storage = LocalFileStorage(server.settings.files_dir)
        async with CertificateRenderer(max_concurrency=2) as renderer:
            workers = [
                RenderWorker(
                    renderer=renderer,
                    storage=storage,
                    publisher=NullPublisher(),
                    settings=RenderSettings(public_url=server.settings.public_url, batch_size=10),
                    issuer=issuer_of(server.settings),
                )
                for _ in range(2)
            ]
            claimed = await asyncio.gather(*(worker.render_due() for worker in workers))

        # then every certificate was rendered exactly once
        assert sum(claimed) == 6
        assert await Certificate.filter(status="ISSUED").count() == 6
        assert await AuditEvent.filter(action="issue_certificate").count() == 6
        assert await Notification.filter(kind="CERTIFICATE_ISSUED").count() == 6
        assert set(await Certificate.all().values_list("render_attempts", flat=True)) == {1}


class GatedStorage(LocalFileStorage):
    """Local storage whose reads wait until ``gate`` is set: a render that takes as long as the test wants."""

    def __init__(self, root, gate: asyncio.Event) -> None:
        super().__init__(root)
        self.gate = gate

    async def get(self, key: str) -> bytes:
        await self.gate.wait()
        return await super().get(key)


async def test_a_long_render_keeps_its_claim_past_the_lease(tmp_path, database_url):
    # given an approved certificate
    async with live_server(make_settings(tmp_path, database_url)) as server:
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        await approve(server, candidate)
        gate = asyncio.Event()
        settings = RenderSettings(public_url=server.settings.public_url, lease_seconds=0.6)
        async with CertificateRenderer(max_concurrency=1) as renderer:
            slow, other = (
                RenderWorker(
                    renderer=renderer,
                    storage=storage,
                    publisher=NullPublisher(),
                    settings=settings,
                    issuer=issuer_of(server.settings),
                )
                for storage in (
                    GatedStorage(server.settings.files_dir, gate),
                    LocalFileStorage(server.settings.files_dir),
                )
            )

            # when one worker's render lasts more than three leases
            slow_round = asyncio.create_task(slow.render_due())
            await asyncio.sleep(2.0)
            claimed_by_other = await other.render_due()
            gate.set()
            claimed_by_slow = await slow_round

        # then no other worker took it over, and it was rendered once
        assert (claimed_by_slow, claimed_by_other) == (1, 0)
        row = await Certificate.get(id=candidate.certificate_pk)
        assert (row.status, row.render_attempts, row.render_next_at) == ("ISSUED", 1, None)
        assert await AuditEvent.filter(action="issue_certificate").count() == 1


async def test_a_render_claimed_by_a_process_that_died_is_done_when_its_lease_ends(tmp_path, database_url):
    # given an approved certificate claimed by a worker that was then killed (its lease ends in 6 s)
    async with live_server(make_settings(tmp_path, database_url)) as server:
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        await approve(server, candidate)
        token = candidate.client.token
        lease_end = datetime.now(UTC) + timedelta(seconds=6)
        await Certificate.filter(id=candidate.certificate_pk).update(render_next_at=lease_end, render_attempts=1)

    # when a rendering server starts
    async with rendering_server(tmp_path, database_url) as server:
        candidate.client = server.client(token)

        # then it leaves the certificate alone until the lease ends, then issues it
        await asyncio.sleep(max(0.0, (lease_end - datetime.now(UTC)).total_seconds() - 1.0))
        assert (await certificate_as(candidate.client, candidate))["status"] == "APPROVED"
        await wait_for_status(server, candidate, "ISSUED", timeout=30)
        assert datetime.now(UTC) >= lease_end
        assert (await Certificate.get(id=candidate.certificate_pk)).render_attempts == 2


async def _given_up(certificate_pk: int) -> Certificate | None:
    row = await Certificate.get(id=certificate_pk)
    return row if row.render_error is not None and row.render_next_at is None else None


async def test_without_a_working_chromium_the_api_stays_up_and_renders_fail_visibly(tmp_path, sqlite_url):
    missing = str(tmp_path / "no-such-chromium")
    async with rendering_server(tmp_path, sqlite_url, chromium_path=missing, render_max_attempts=1) as server:
        # given a server whose configured Chromium does not exist, and an approved claim
        assert (await server.http.get("/healthz")).status_code == 200
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        await approve(server, candidate)

        # when its only render attempt fails
        failed = await wait_for(lambda: _given_up(candidate.certificate_pk))

        # then reviewers read why, in one line, and the certificate waits for a retry
        node = await certificate_as(reviewer(server), candidate)
        assert failed.status == "APPROVED"
        assert node["renderError"].startswith("RenderError: the renderer is not running (Chromium could not start: ")
        assert missing in node["renderError"]
        assert "\n" not in node["renderError"]


DELAYED = "query($id: ID!) { node(id: $id) { ... on Certificate { status renderingDelayed renderError } } }"
RETRY_RENDER = """
mutation($id: ID!) {
  retryRender(input: {certificateId: $id}) { certificate { status renderError } errors { code message field } }
}
"""


async def test_a_chromium_that_cannot_start_shows_as_rendering_delayed_and_a_platform_admin_retries(
    tmp_path, sqlite_url
):
    missing = str(tmp_path / "no-such-chromium")
    async with rendering_server(tmp_path, sqlite_url, chromium_path=missing, render_max_attempts=1) as server:
        # given an approved claim on a server whose Chromium cannot start
        world, [candidate] = await certified_candidates(server)
        admin = admin_of(server, world)
        await claim_ok(server, candidate)
        assert (await admin.data(DELAYED, {"id": candidate.certificate_id}))["node"]["renderingDelayed"] is False
        await approve(server, candidate)

        # when its render fails
        await wait_for(lambda: _given_up(candidate.certificate_pk))

        # then the organisation's admins are told it is delayed (not why), and so are platform admins
        node = (await admin.data(DELAYED, {"id": candidate.certificate_id}))["node"]
        assert node == {"status": "APPROVED", "renderingDelayed": True, "renderError": None}
        seen_by_platform = (await server.platform().data(DELAYED, {"id": candidate.certificate_id}))["node"]
        assert seen_by_platform["renderingDelayed"] is True
        assert seen_by_platform["renderError"].startswith("RenderError: the renderer is not running")
        # but not analysts, reviewers (who read renderError) or the test taker
        for client in (analyst_of(server, world), reviewer(server), candidate.client):
            assert (await client.data(DELAYED, {"id": candidate.certificate_id}))["node"]["renderingDelayed"] is None
        ready = await server.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["renderer"].startswith("Chromium is not running: ")
        tokens = (admin.token, candidate.client.token)

    # when Chromium is back and a platform admin retries the render (on an API whose queue runs elsewhere)
    async with live_server(make_settings(tmp_path, sqlite_url, in_process_workers=False)) as server:
        platform = server.platform()
        retried = (await platform.data(RETRY_RENDER, {"id": candidate.certificate_id}))["retryRender"]
        assert retried == {"certificate": {"status": "APPROVED", "renderError": None}, "errors": []}
        # a render that is queued already is not retried again, and nothing changes
        again = (await platform.data(RETRY_RENDER, {"id": candidate.certificate_id}))["retryRender"]
        assert again["certificate"] is None
        assert [(e["code"], e["field"]) for e in again["errors"]] == [
            ("INVALID_TRANSITION", ["input", "certificateId"])
        ]
        row = await Certificate.get(id=candidate.certificate_pk)
        assert (row.render_attempts, row.render_error) == (0, None)
        assert await AuditEvent.filter(action="retry_render", actor="platform_admin:platform").count() == 1
        assert (await server.client(tokens[0]).data(DELAYED, {"id": candidate.certificate_id}))["node"] == {
            "status": "APPROVED",
            "renderingDelayed": False,
            "renderError": None,
        }
        async with CertificateRenderer(max_concurrency=1) as renderer:
            worker = RenderWorker(
                renderer=renderer,
                storage=LocalFileStorage(server.settings.files_dir),
                publisher=NullPublisher(),
                settings=RenderSettings(public_url=server.settings.public_url),
                issuer=issuer_of(server.settings),
            )
            assert await worker.render_due() == 1

        # then it is issued, and no longer delayed
        candidate.client = server.client(tokens[1])
        issued = await certificate_as(candidate.client, candidate)
        assert issued["status"] == "ISSUED"
        node = (await server.client(tokens[0]).data(DELAYED, {"id": candidate.certificate_id}))["node"]
        assert node == {"status": "ISSUED", "renderingDelayed": False, "renderError": None}
