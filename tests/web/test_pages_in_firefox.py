"""The four web pages in stock Firefox ESR against one real, rendering server, at 1280×800 and at 390×844.

Playwright's Firefox is a patched build that cannot be installed here, and Playwright cannot drive a stock
Firefox; Firefox speaks WebDriver BiDi itself, which puppeteer-core (vendored in ``tests/web/firefox/``)
drives. ``tests/web/firefox/driver.mjs`` runs in node and takes one JSON command a line from this test.

At each size, three tabs stay open side by side, each signed in by its link's fragment: the organisation's
admin on the dashboard (the sittings table, row by row; a sitting certified by another client over the API
turns "in progress" live), the test taker on the claim page of that sitting (a name in Arabic, laid out right
to left, and the real portrait; "under review"), the security reviewer on the review desk (the claim arrives
live, right to left; approved). Once rendered, the test taker's downloads page (``/certificates/{id}``) shows
PDF and PNG links that answer. No page may log a console error, fail a request or break its
Content-Security-Policy. Each page is photographed at each size into the test's ``tmp_path``.

Under ``CI=true`` a missing Firefox or node fails the test; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest
from certificate_flow import path_of, rendering_server
from harness import IN_CI, PORTRAIT
from test_dashboard import CERTIFY, DESKTOP, PHONE, admin_token
from test_journey_in_browsers import ARABIC, SENT, TEST, organisation
from test_review_desk import reviewer_token

from gql.ids import decode_id, to_global_id
from models import Certificate, Sitting
from models.enums import CertificateStatus, Role

DRIVER_DIR = Path(__file__).resolve().parent / "firefox"
DRIVER = DRIVER_DIR / "driver.mjs"
FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
NODE = shutil.which("node")
SIZES = {"1280x800": DESKTOP, "390x844": PHONE}
# Newest first: name, score, status as the table shows them before anything is certified.
ROWS = [
    ("Zoe Nguyen", "80 / 100", "UNSELECTED"),
    ("Laila Haddad", "90 / 100", "UNSELECTED"),
    ("Yael Cohen", "75 / 100", "UNSELECTED"),
    ("Jean Dupont", "65 / 100", "UNSELECTED"),
    ("Oluwaseun Adebayo", "40 / 100", "INELIGIBLE"),
    ("Marta Kowalska", "85 / 100", "INELIGIBLE"),
]
ROWS_JS = """[...document.querySelectorAll('#sittings tbody tr')].map(tr =>
  [tr.querySelector('.name').textContent, tr.querySelector('.score').textContent, tr.dataset.status])"""
# The render waits on the queue and a Chromium of its own, on a machine that may be busy.
RENDERED = 90_000
# Whatever the page may do, one command never takes longer than this (the driver's own waits are shorter).
COMMAND_SECONDS = 120

pytestmark = [pytest.mark.chromium, pytest.mark.slow]


def required(what: str) -> None:
    """Fail under CI=true, where Firefox must be tested; skip elsewhere, saying what is missing."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} is not installed")


class Firefox:
    """The driver process: one JSON command a line on its stdin, one answer a line on its stdout."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, version: str):
        self.process, self.log, self.version = process, log, version
        self.last_id = 0

    async def call(self, cmd: str, **args):
        self.last_id += 1
        self.process.stdin.write((json.dumps({"id": self.last_id, "cmd": cmd, **args}) + "\n").encode())
        await self.process.stdin.drain()
        answer = await read_answer(self.process, self.log)
        assert answer["id"] == self.last_id, answer
        if not answer["ok"]:
            raise AssertionError(f"Firefox: {answer['error']}")
        return answer["value"]

    async def open(self, name: str, viewport: dict) -> FirefoxPage:
        await self.call("open", page=name, **viewport)
        return FirefoxPage(self, name)


async def read_answer(process: asyncio.subprocess.Process, log: Path) -> dict:
    line = await asyncio.wait_for(process.stdout.readline(), COMMAND_SECONDS)
    if not line:
        stderr = log.read_text(errors="replace")[-4000:]
        raise AssertionError(f"the Firefox driver exited ({await process.wait()}): {stderr}")
    return json.loads(line)


class FirefoxPage:
    """One tab, in a browser context of its own."""

    def __init__(self, firefox: Firefox, name: str):
        self.firefox, self.name = firefox, name

    async def _call(self, cmd: str, **args):
        return await self.firefox.call(cmd, page=self.name, **args)

    async def goto(self, url: str) -> None:
        await self._call("goto", url=url)

    async def evaluate(self, expression: str):
        return await self._call("evaluate", expression=expression)

    async def wait_for(self, expression: str, timeout: int | None = None) -> None:
        await self._call("waitFor", expression=expression, timeout=timeout)

    async def wait_for_text(self, selector: str, text: str, timeout: int | None = None) -> None:
        await self.wait_for(
            f"[...document.querySelectorAll({json.dumps(selector)})].some(e => e.textContent.includes({json.dumps(text)}))",
            timeout,
        )

    async def wait_for_selector(self, selector: str, timeout: int | None = None) -> None:
        await self.wait_for(f"document.querySelector({json.dumps(selector)}) !== null", timeout)

    async def text(self, selector: str) -> str | None:
        return await self.evaluate(f"document.querySelector({json.dumps(selector)})?.textContent ?? null")

    async def attribute(self, selector: str, name: str) -> str | None:
        return await self.evaluate(
            f"document.querySelector({json.dumps(selector)})?.getAttribute({json.dumps(name)}) ?? null"
        )

    async def direction(self, selector: str) -> str:
        return await self.evaluate(f"getComputedStyle(document.querySelector({json.dumps(selector)})).direction")

    async def fill(self, selector: str, value: str) -> None:
        await self._call("fill", selector=selector, value=value)

    async def click(self, selector: str) -> None:
        await self._call("click", selector=selector)

    async def upload(self, selector: str, path: Path) -> None:
        await self._call("upload", selector=selector, path=str(path))

    async def screenshot(self, path: Path) -> None:
        await self.evaluate("window.scrollTo(0, 0)")
        await self._call("screenshot", path=str(path))

    async def fits_without_sideways_scroll(self) -> bool:
        return await self.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    async def problems(self) -> dict:
        return await self._call("problems")


@asynccontextmanager
async def firefox(log: Path) -> AsyncIterator[Firefox]:
    """Firefox, driven by ``driver.mjs``, which writes what it has to say (and Firefox's own output) to ``log``."""
    if FIREFOX is None:
        required("Firefox ESR (apt-get install firefox-esr; make system-deps)")
    if NODE is None:
        required("node")
    if not (DRIVER_DIR / "node_modules" / "puppeteer-core").is_dir():
        pytest.fail("tests/web/firefox/node_modules is missing (it is committed: see tests/web/firefox/README.md)")
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            NODE,
            str(DRIVER),
            FIREFOX,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            limit=2**22,
        )
    try:
        ready = await read_answer(process, log)  # the driver says the browser's version once it has started
        yield Firefox(process, log, ready["value"])
    finally:
        # the end of its input closes Firefox; a driver still busy gets SIGTERM, on which puppeteer closes Firefox
        with suppress(Exception):
            process.stdin.close()
            await asyncio.wait_for(process.wait(), 10)
        if process.returncode is None:
            process.terminate()
            with suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("size", SIZES)
async def test_the_pages_work_in_firefox(tmp_path: Path, sqlite_url, size: str):
    viewport = SIZES[size]
    async with firefox(tmp_path / "firefox-driver.log") as browser, rendering_server(tmp_path, sqlite_url) as server:
        assert browser.version.startswith("firefox/"), browser.version
        world, ids = await organisation(server)
        sitting_id = ids["Laila Haddad"]
        sitting = await Sitting.get(id=decode_id(sitting_id, "Sitting"))
        taker_token = server.token(Role.TEST_TAKER, test_taker=sitting.test_taker_id, subject="laila")

        # given a tab whose page breaks its policy on purpose, the watcher sees it (so an empty list means something)
        probe = await browser.open("probe", viewport)
        await probe.goto(f"{server.url}/review")
        await probe.evaluate(
            "(() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
            " document.head.append(s); })()"
        )
        await probe.wait_for("window.cspViolations.length > 0")
        assert await probe.evaluate("[window.ran ?? null, window.cspViolations]") == [None, ["script-src-elem inline"]]
        await browser.call("close", page="probe")

        # given the dashboard and the review desk, each signed in by its link's fragment
        admin = await browser.open("admin", viewport)
        await admin.goto(f"{server.url}/dashboard#access_token={admin_token(server, world)}")
        await admin.wait_for_text("#live-status", "Live")
        await admin.wait_for_selector("#sittings tbody tr")
        await admin.wait_for("/\\d/.test(document.getElementById('balance')?.textContent || '')")
        desk = await browser.open("desk", viewport)
        await desk.goto(f"{server.url}/review#access_token={reviewer_token(server)}")
        await desk.wait_for_text("#live-status", "Live")
        await desk.wait_for_text("#queue-count", "0 claims to review")
        # then the dashboard lists the organisation's sittings, newest first, with their scores and statuses
        assert await admin.evaluate(ROWS_JS) == [list(r) for r in ROWS]
        assert (await admin.text("#balance")).strip() == "10"
        assert await admin.evaluate("location.hash") == ""
        await admin.screenshot(tmp_path / f"dashboard-{size}.png")

        # when another client, the admin's script over the API, certifies Laila Haddad's sitting
        await admin.evaluate("window.notReloaded = true")
        payload = await server.client(admin_token(server, world)).data(CERTIFY, {"ids": [sitting_id], "key": "ff-1"})
        assert payload["certifySittings"] == {"certifiedCount": 1, "errors": []}
        # then her row turns "in progress" and the balance drops, over the websocket, without a reload
        await admin.wait_for(
            f"document.querySelector('#sittings tbody tr[data-id={json.dumps(sitting_id)}]')?.dataset.status === 'IN_PROGRESS'"
        )
        await admin.wait_for_text("#balance", "9")
        assert await admin.evaluate("window.notReloaded") is True
        expected = [list(r) for r in ROWS]
        expected[1][2] = "IN_PROGRESS"
        assert await admin.evaluate(ROWS_JS) == expected
        assert await admin.attribute(f"#sittings tbody tr[data-id='{sitting_id}'] .status", "title") == (
            "Certificate granted, in process: the test taker must complete certification"
        )
        certificate = await Certificate.get(sitting_id=sitting.id)
        certificate_id = to_global_id("Certificate", certificate.id)

        # when the test taker opens the claim page from the e-mail's link
        taker = await browser.open("taker", viewport)
        await taker.goto(f"{server.url}/claim/{sitting_id}#access_token={taker_token}")
        await taker.wait_for_text("#live-status", "Live")
        await taker.wait_for_selector("#claim-form")
        assert await taker.evaluate("location.hash") == ""
        assert await taker.text("#test-name") == TEST
        # and types her name in Arabic
        await taker.fill("#holder-name", ARABIC)
        # then the field and the certificate's preview lay it out right to left
        assert await taker.evaluate("document.getElementById('holder-name').value") == ARABIC
        assert await taker.text("#preview-name") == ARABIC
        assert await taker.attribute("#preview-name", "dir") == "auto"
        assert await taker.direction("#preview-name") == "rtl"
        assert await taker.direction("#holder-name") == "rtl"
        # when she chooses her portrait
        await taker.upload("#photo", PORTRAIT)
        await taker.wait_for("document.getElementById('photo-preview-image')?.naturalWidth >= 300")
        assert (await taker.attribute("#photo-preview-image", "src")).startswith("blob:")
        assert await taker.fits_without_sideways_scroll()
        await taker.screenshot(tmp_path / f"claim-{size}.png")
        # and sends the claim
        await taker.click("#claim-form button[type=submit]")
        # then the page says it is under review, with the Arabic name
        await taker.wait_for_text("#message", SENT)
        assert await taker.text("#progress li[aria-current=step]") == "Under review"
        assert await taker.text("#sent-name bdi") == ARABIC
        assert await taker.evaluate("document.getElementById('claim-form')") is None
        claimed = await Certificate.get(id=certificate.id)
        assert (claimed.status, claimed.holder_name) == (CertificateStatus.UNDER_REVIEW, ARABIC)
        await taker.screenshot(tmp_path / f"claim-under-review-{size}.png")

        # then the review desk shows the claim live, the name right to left, with the sitting's facts and the photo
        await desk.wait_for_text("#queue-count", "1 claim to review")
        await desk.wait_for_text("#holder-name", ARABIC)
        assert await desk.direction("#holder-name") == "rtl"
        assert await desk.text("#test-taker-name") == "Laila Haddad"
        assert await desk.text("#score") == "90 / 100"
        await desk.wait_for("document.getElementById('photo')?.naturalWidth > 0")
        assert await desk.fits_without_sideways_scroll()
        await desk.screenshot(tmp_path / f"review-desk-{size}.png")
        # when the reviewer approves it
        await desk.click("#approve")
        # then the desk says so and the queue is empty
        await desk.wait_for_text("#outcome", f"{ARABIC}: approved.")
        await desk.wait_for_text("#queue-count", "0 claims to review")
        assert (await Certificate.get(id=certificate.id)).status in (
            CertificateStatus.APPROVED,
            CertificateStatus.ISSUED,
        )

        # then, once rendered, the claim page shows the downloads and the dashboard "certificate granted", live
        await taker.wait_for_selector("#downloads", timeout=RENDERED)
        assert await taker.text("#message") == "Your certificate has been issued."
        await admin.wait_for(
            f"document.querySelector('#sittings tbody tr[data-id={json.dumps(sitting_id)}]')?.dataset.status === 'CERTIFIED'"
        )
        assert await admin.evaluate("window.notReloaded") is True
        assert await admin.fits_without_sideways_scroll()

        # when the test taker opens the downloads page (the issued e-mail's link), still signed in in this tab
        await taker.goto(f"{server.url}/certificates/{certificate_id}")
        await taker.wait_for_selector("#downloads #pdf-link")
        # then it shows her certificate and fresh links to the PDF and the PNG, which answer
        assert (await taker.text("#holder-name"), await taker.text("#test-name")) == (ARABIC, TEST)
        assert await taker.direction("#holder-name") == "rtl"
        assert "These download links work for 15 minutes" in await taker.text("#downloads")
        links = await taker.evaluate("[...document.querySelectorAll('#downloads a')].map(a => [a.id, a.textContent])")
        assert links[:2] == [["pdf-link", "Download the PDF"], ["png-link", "Download the image (PNG)"]]
        pdf = await server.http.get(path_of(await taker.attribute("#pdf-link", "href")))
        png = await server.http.get(path_of(await taker.attribute("#png-link", "href")))
        assert (pdf.status_code, pdf.headers["content-type"], pdf.content[:4]) == (200, "application/pdf", b"%PDF")
        assert (png.status_code, png.headers["content-type"]) == (200, "image/png")
        assert await taker.fits_without_sideways_scroll()
        await taker.screenshot(tmp_path / f"downloads-{size}.png")
        await admin.screenshot(tmp_path / f"dashboard-certified-{size}.png")

        # and no page logged an error, failed a request or broke its policy
        for page in (admin, taker, desk):
            assert await page.problems() == {"console": [], "csp": []}, page.name
