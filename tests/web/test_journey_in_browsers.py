"""The whole journey through the three pages at once, in one real Chromium against one real, rendering server.

Three browser contexts stay open side by side: the organisation's admin on the dashboard, the test taker on
the claim page of their sitting (opened before it is certified: the page says there is nothing to claim yet,
then shows the "ready to claim" notification and the form without a reload), and a security reviewer on the
review desk. The admin filters, ticks two sittings and selects "all matching" of a search for a third, and
confirms; the test taker claims with the real portrait and a name in Arabic; the reviewer's queue shows the
claim live and approves it; the admin's table turns the sitting "certificate granted" live, and the PDF it
links downloads as a real one-page PDF.

Every page listens to its console and to CSP violations: an error there fails the test.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from builders import BASE_TIME, RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import rendering_server
from harness import PORTRAIT
from playwright.async_api import BrowserContext, Page, async_playwright
from pypdf import PdfReader
from test_dashboard import admin_token, balance_and_spends, enter_certify_mode, open_dashboard, row, statuses
from test_review_desk import WATCH_POLICY, open_desk, policy_violations, queue_count, reviewer_token

from gql.ids import decode_id
from models import Certificate, Sitting
from models.enums import CertificateStatus, CertificationStatus, Role
from renderer.chromium import find_chromium

DESKTOP = {"width": 1280, "height": 800}
ARABIC = "ليلى حداد"
TEST = "Acme Languages English"
# registered name, score, photo check; newest first on the dashboard
PEOPLE = [
    ("Zoe Nguyen", 80, "PASSED"),
    ("Laila Haddad", 90, "PASSED"),
    ("Yael Cohen", 75, "PASSED"),
    ("Jean Dupont", 65, "PASSED"),
    ("Oluwaseun Adebayo", 40, "PASSED"),
    ("Marta Kowalska", 85, "FAILED"),
]
SITTING_IDS = "{ sittings(first: 500) { edges { node { id testTaker { name } } } } }"
SENT = "Your claim has been sent: our security team is reviewing it."
GRANTED = "Certificate granted: issued; open it to view and download"
IN_PROCESS = "Certificate granted, in process: the test taker must complete certification"
# The render waits on the queue and a Chromium of its own, on a machine that may be busy.
RENDERED = 90_000

pytestmark = [pytest.mark.chromium, pytest.mark.slow]


@asynccontextmanager
async def three_contexts() -> AsyncIterator[dict[str, tuple[Page, list[str]]]]:
    """One Chromium, three contexts open at once (admin, test taker, reviewer): a page each and its problems."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=find_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            pages = {}
            for who in ("admin", "taker", "reviewer"):
                context: BrowserContext = await browser.new_context(viewport=DESKTOP, accept_downloads=True)
                context.set_default_timeout(30_000)
                page = await context.new_page()
                await page.add_init_script(WATCH_POLICY)
                problems: list[str] = []
                page.on(
                    "console",
                    lambda message, problems=problems: message.type == "error" and problems.append(message.text),
                )
                page.on("pageerror", lambda error, problems=problems: problems.append(f"page error: {error}"))
                pages[who] = (page, problems)
            yield pages
        finally:
            await browser.close()


async def organisation(server):
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=10, name="Acme Languages")
    rows = [
        sitting_row(
            world.organisation_id,
            world.test_id,
            n,
            name=name,
            score=score,
            photo=photo,
            taken_at=BASE_TIME - timedelta(days=n),
        )
        for n, (name, score, photo) in enumerate(PEOPLE)
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    edges = (await server.client(admin_token(server, world)).data(SITTING_IDS))["sittings"]["edges"]
    return world, {edge["node"]["testTaker"]["name"]: edge["node"]["id"] for edge in edges}


async def test_admin_test_taker_and_reviewer_go_through_the_journey_live(tmp_path: Path, sqlite_url):
    async with rendering_server(tmp_path, sqlite_url) as server:
        world, ids = await organisation(server)
        sitting = await Sitting.get(id=decode_id(ids["Laila Haddad"], "Sitting"))
        taker_token = server.token(Role.TEST_TAKER, test_taker=sitting.test_taker_id, subject="laila")
        async with three_contexts() as pages:
            (admin, admin_problems), (taker, taker_problems), (desk, desk_problems) = (
                pages["admin"],
                pages["taker"],
                pages["reviewer"],
            )

            # given the three pages open at once, each signed in by its link's fragment
            await open_dashboard(admin, server, admin_token(server, world))
            await open_desk(desk, server, reviewer_token(server))
            assert await queue_count(desk) == "0 claims to review"
            # (the test taker's claim page, on their sitting not certified yet: nothing to claim, no notification)
            await taker.goto(f"{server.url}/claim/{ids['Laila Haddad']}#access_token={taker_token}")
            await taker.locator("#live-status", has_text="Live").wait_for()
            await taker.locator(
                "#message", has_text="No certificate yet: your test centre has not certified this result."
            ).wait_for()
            assert await taker.locator("#claim-form").count() == 0
            assert await taker.locator("#notifications li").count() == 0
            assert [await p.evaluate("location.hash") for p in (admin, taker, desk)] == ["", "", ""]

            # when the admin filters on "score from 70"
            await admin.fill("#filter-min", "70")
            await admin.keyboard.press("Tab")
            await admin.locator("#matching", has_text="4 sittings").wait_for()
            assert await admin.evaluate("location.search") == "?min=70"
            assert await admin.locator("#sittings tbody .name").all_text_contents() == [
                "Zoe Nguyen",
                "Laila Haddad",
                "Yael Cohen",
                "Marta Kowalska",
            ]
            # and ticks two sittings in certify mode
            await enter_certify_mode(admin)
            await row(admin, "Zoe Nguyen").locator(".select").check()
            await admin.locator("#selection-summary", has_text="1 sitting selected").wait_for()
            await row(admin, "Yael Cohen").locator(".select").check()
            await admin.locator("#selection-summary", has_text="2 sittings selected").wait_for()
            # and selects all matching a search for the third
            await admin.fill("#filter-q", "Haddad")
            await admin.locator("#matching", has_text="1 sitting").wait_for()
            assert await admin.locator("#sittings tbody .name").all_text_contents() == ["Laila Haddad"]
            await admin.locator("#select-matching", has_text="Select all 1 matching").click()
            summary = admin.locator("#selection-summary", has_text="3 sittings selected")
            await summary.wait_for()
            assert (
                " ".join((await summary.text_content()).split())
                == "3 sittings selected · costs 3 credits · balance after: 7"
            )
            assert (await statuses(world))["Laila Haddad"] == CertificationStatus.SELECTED
            # and confirms
            await admin.click("#done")
            await admin.locator("#confirm").wait_for(state="visible")
            assert await admin.text_content("#confirm-title") == "Certify 3 sittings?"
            assert "cannot be undone" in await admin.text_content("#confirm-text")
            await admin.click("#confirm-certify")
            await admin.locator("#outcome", has_text="3 certified; 3 credits spent.").wait_for()
            await admin.locator("#balance", has_text="7").wait_for()
            # then exactly those three are certified, for three credits
            assert await statuses(world) == {
                "Zoe Nguyen": CertificationStatus.IN_PROGRESS,
                "Laila Haddad": CertificationStatus.IN_PROGRESS,
                "Yael Cohen": CertificationStatus.IN_PROGRESS,
                "Jean Dupont": CertificationStatus.UNSELECTED,
                "Oluwaseun Adebayo": CertificationStatus.INELIGIBLE,
                "Marta Kowalska": CertificationStatus.INELIGIBLE,
            }
            assert await balance_and_spends(world) == (7, [-3])
            status = row(admin, "Laila Haddad").locator(".status")
            await row(admin, "Laila Haddad").locator(".status[data-status=IN_PROGRESS]").wait_for()
            assert await status.get_attribute("title") == IN_PROCESS
            certificate = await Certificate.get(sitting_id=sitting.id)
            assert certificate.status == CertificateStatus.AWAITING_CLAIM

            # then the test taker's page shows the notification and the form, without a reload
            notice = taker.locator("#notifications li.unread")
            await notice.wait_for()
            assert await notice.locator(".notification-title").text_content() == "Your certificate is ready to claim"
            assert await notice.locator(".notification-body").text_content() == (
                f"Your certificate for {TEST} (score 90 / 100) is ready. Add your name and photo to claim it."
            )
            await taker.locator("#claim-form").wait_for()
            assert await taker.text_content("#test-name") == TEST
            # when they claim with their portrait and their name in Arabic
            await taker.fill("#holder-name", ARABIC)
            assert await taker.text_content("#preview-name") == ARABIC
            assert await taker.locator("#preview-name").evaluate("e => getComputedStyle(e).direction") == "rtl"
            await taker.set_input_files("#photo", str(PORTRAIT))
            await taker.wait_for_function("() => document.getElementById('photo-preview-image')?.naturalWidth >= 300")
            await taker.click("#claim-form button[type=submit]")
            await taker.locator("#message", has_text=SENT).wait_for()
            assert await taker.text_content("#sent-name bdi") == ARABIC
            claimed = await Certificate.get(id=certificate.id)
            assert (claimed.status, claimed.holder_name) == (CertificateStatus.UNDER_REVIEW, ARABIC)

            # then the reviewer's queue shows the claim without a reload, with its name and photo
            await desk.locator("#queue-count", has_text="1 claim to review").wait_for()
            await desk.locator("#holder-name", has_text=ARABIC).wait_for()
            assert await desk.locator("#holder-name").evaluate("e => getComputedStyle(e).direction") == "rtl"
            assert await desk.text_content("#test-taker-name") == "Laila Haddad"
            assert await desk.text_content("#score") == "90 / 100"
            await desk.wait_for_function("() => document.getElementById('photo')?.naturalWidth > 0")
            # when they approve it
            await desk.click("#approve")
            await desk.locator("#outcome", has_text=f"{ARABIC}: approved.").wait_for()
            assert await queue_count(desk) == "0 claims to review"
            assert (await Certificate.get(id=certificate.id)).status in (
                CertificateStatus.APPROVED,
                CertificateStatus.ISSUED,
            )

            # then, once rendered, the admin's table turns the sitting "certificate granted", without a reload
            granted = row(admin, "Laila Haddad").locator(".open-certificate .status[data-status=CERTIFIED]")
            await granted.wait_for(timeout=RENDERED)
            assert await granted.get_attribute("title") == GRANTED
            issued = await Certificate.get(id=certificate.id)
            assert (issued.status, issued.holder_name) == (CertificateStatus.ISSUED, ARABIC)
            assert (await statuses(world))["Laila Haddad"] == CertificationStatus.CERTIFIED
            # (and the test taker's page shows the downloads, live too)
            await taker.locator("#downloads").wait_for()
            assert await taker.text_content("#message") == "Your certificate has been issued."

            # when the admin opens the certificate and downloads the PDF
            await admin.click("#leave-certify")
            await row(admin, "Laila Haddad").locator(".open-certificate").click()
            await admin.locator("#certificate").wait_for(state="visible")
            await admin.wait_for_function("() => document.getElementById('certificate-preview')?.naturalWidth > 0")
            async with admin.expect_download() as download_info:
                await admin.click("#download-pdf")
            download = await download_info.value
            assert await download.failure() is None
            pdf = Path(await download.path()).read_bytes()
            # then it is a real PDF of one page
            assert pdf.startswith(b"%PDF")
            assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
            assert download.suggested_filename.endswith(".pdf")

            # and nothing reached any console, nor broke any page's policy
            for page in (admin, taker, desk):
                assert await policy_violations(page) == []
            assert (admin_problems, taker_problems, desk_problems) == ([], [], [])
