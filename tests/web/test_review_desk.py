"""The review desk (``GET /review``) in real Chromium against the real server: sign-in, the live queue,
keyboard decisions, expiry, accessibility (axe-core) and the page's Content-Security-Policy.

Every page load listens to the browser's console: an error there (a script
failure, a resource refused, a CSP violation) fails the test. Screenshots of
the desk at 1280×800 and 390×844 are written to ``docs/screenshots/`` when
``CERTIFY_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from builders import BASE_TIME, RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import approve, certified_candidates, certify_all, claim_ok
from harness import live_server, make_settings
from playwright.async_api import Page, async_playwright

from models import Certificate
from models.enums import CertificateStatus, Role
from renderer.chromium import find_chromium
from server.uvicorn_ws import WebSocketProtocol
from server.web_pages import content_security_policy, sign_in_links

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# (name as registered by the organisation, name the test taker asks to print)
PEOPLE = [
    ("Zoe Nguyen", "Zoë Nguyễn"),
    ("Laila Haddad", "ليلى حداد"),
    ("Yael Cohen", "יעל כהן"),
    ("Oluwaseun Adebayo", "Oluwaseun Adébáyọ̀"),
]
REASON = "The photo does not show the face clearly."
WATCH_POLICY = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`));
"""
"""Run in every page before its own scripts (over DevTools, so the policy does not apply to it)."""

pytestmark = pytest.mark.chromium


@pytest.fixture
async def server(tmp_path, sqlite_url):
    async with live_server(make_settings(tmp_path, sqlite_url)) as srv:
        yield srv


async def candidates_of(server, people=PEOPLE):
    """Certify one sitting per person (scored 80 of 100); their candidates, in that order."""
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=len(people), name="Acme Languages")
    rows = [
        sitting_row(world.organisation_id, world.test_id, n, name=registered, taken_at=BASE_TIME + timedelta(hours=n))
        for n, (registered, _) in enumerate(people)
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    return await certify_all(server, world.organisation_pk, key="desk-certify")


def reviewer_token(server, **options) -> str:
    return server.token(Role.SECURITY_REVIEWER, subject="desk-reviewer", **options)


@asynccontextmanager
async def browser_page(viewport=DESKTOP) -> AsyncIterator[tuple[Page, list[str]]]:
    """A fresh Chromium page and the list its console errors and page errors are collected in."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=find_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page(viewport=viewport)
            await page.add_init_script(WATCH_POLICY)
            problems: list[str] = []
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            yield page, problems
        finally:
            await browser.close()


async def open_desk(page: Page, server, token: str) -> None:
    await page.goto(f"{server.url}/review#access_token={token}")
    await page.locator("#live-status", has_text="Live").wait_for()


async def view_in_url(page: Page) -> str:
    """The address's query without the selected claim (``?claim=``), which the desk keeps there too."""
    return await page.evaluate(
        "(() => { const p = new URLSearchParams(location.search); p.delete('claim'); const q = p.toString(); return q ? `?${q}` : ''; })()"
    )


async def queue_count(page: Page) -> str:
    return await page.text_content("#queue-count")


async def policy_violations(page: Page) -> list[str]:
    return await page.evaluate("window.cspViolations")


async def claimed_candidates(server, count: int) -> list:
    """The first ``count`` of PEOPLE certified, each with their claim sent under their printed name."""
    candidates = await candidates_of(server, PEOPLE[:count])
    for candidate, (_, printed) in zip(candidates, PEOPLE, strict=False):
        await claim_ok(server, candidate, printed)
    return candidates


async def claim_settled(page: Page) -> None:
    """Wait until the selected claim has been on screen long enough for "a" to approve it."""
    await page.locator("#claim[data-settled=true]").wait_for()


async def reason_focused(page: Page) -> None:
    await page.wait_for_function("() => document.activeElement?.id === 'reason'")


async def axe_violations(page: Page) -> list[dict]:
    """Serious and critical axe-core violations of the page as it is now.

    axe is evaluated over DevTools rather than added as a ``<script>``: the page's policy rightly refuses
    an inline script, and Playwright's ``add_script_tag`` adds one.
    """
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def screenshot(page: Page, name: str) -> None:
    if os.environ.get("CERTIFY_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / name))


async def screenshot_to_look_at(page: Page, name: str) -> None:
    """A screenshot of a state not in docs/screenshots, for a person to look at (``CERTIFY_LOOK=<dir>``)."""
    if folder := os.environ.get("CERTIFY_LOOK"):
        await page.screenshot(path=str(Path(folder) / name))


async def test_the_page_is_a_static_shell_under_a_strict_policy(server):
    response = await server.http.get("/review")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == content_security_policy(f"127.0.0.1:{server.port}")
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert '<script type="module" src="/static/app/review.js"></script>' in response.text
    assert "<script>" not in response.text and "style=" not in response.text
    for path in ("/static/app/review.js", "/static/vendor/preact/preact.js", "/static/vendor/graphql-ws/client.js"):
        script = await server.http.get(path)
        assert (script.status_code, script.headers["content-type"].split(";")[0]) == (200, "text/javascript"), path


async def test_the_browser_enforces_the_policy(server):
    async with browser_page() as (page, problems):
        await page.goto(f"{server.url}/review")
        await page.locator("#token").wait_for()
        assert await policy_violations(page) == []
        # when something slipped an inline script, an inline style and a foreign image into the page
        await page.evaluate(
            """() => {
              const script = document.createElement("script");
              script.textContent = "window.injected = true";
              document.body.append(script);
              const image = document.createElement("img");
              image.src = "http://example.invalid/pixel.png";
              document.body.append(image);
              document.body.setAttribute("style", "color: red");
            }"""
        )
        # then the browser refused each of them
        await page.wait_for_function("() => window.cspViolations.length >= 3")
        refused = sorted(violation.split()[0] for violation in await policy_violations(page))
        assert refused == ["img-src", "script-src-elem", "style-src-attr"]
        assert await page.evaluate("window.injected") is None
        assert len(problems) == 3  # each refusal is also a console error, which the other tests would catch


def test_sign_in_links_carry_the_token_in_the_fragment():
    tokens = {"org_admin": "a.b.c", "security_reviewer": "x.y-_z", "test_taker_token": "t.t.t"}
    assert sign_in_links("http://127.0.0.1:8000/", tokens) == {
        "org_admin": "http://127.0.0.1:8000/dashboard#access_token=a.b.c",
        "security_reviewer": "http://127.0.0.1:8000/review#access_token=x.y-_z",
        "test_taker": "http://127.0.0.1:8000/me#access_token=t.t.t",
    }
    # (a page of the caller's own choosing replaces the role's)
    assert sign_in_links("http://127.0.0.1:8000", tokens, {"test_taker": "/claim/U2l0dGluZzox"})["test_taker"] == (
        "http://127.0.0.1:8000/claim/U2l0dGluZzox#access_token=t.t.t"
    )


async def test_a_reviewer_works_through_the_live_queue_with_the_keyboard(server):
    first, second, *_ = await candidates_of(server, PEOPLE[:2])
    # given a claim in the queue
    await claim_ok(server, first, PEOPLE[0][1])
    async with browser_page() as (page, problems):
        # when the reviewer opens the sign-in link
        token = reviewer_token(server)
        await open_desk(page, server, token)
        # then the token left the address bar for this tab's storage, and the claim is shown beside its sitting
        assert await page.evaluate("location.hash") == ""
        assert await page.evaluate("sessionStorage.getItem('certify.token')") == token
        assert "desk-reviewer (security reviewer)" in await page.text_content("#who")
        assert await queue_count(page) == "1 claim to review"
        assert await page.text_content("#holder-name") == "Zoë Nguyễn"
        assert await page.text_content("#test-taker-name") == "Zoe Nguyen"
        assert await page.text_content("#test-name") == "Acme Languages English"
        assert await page.text_content("#score") == "80 / 100"
        assert await page.text_content("#taken-at") != "—"
        await page.wait_for_function("() => document.getElementById('photo')?.naturalWidth > 0")

        # when a second claim, in Arabic, is submitted over the API
        await claim_ok(server, second, PEOPLE[1][1])
        # then it appears without a reload, laid out right to left
        await page.locator("#queue-count", has_text="2 claims to review").wait_for()
        row = page.locator(".claim-row .row-name bdi", has_text=PEOPLE[1][1])
        assert await row.evaluate("element => getComputedStyle(element).direction") == "rtl"

        # when the reviewer approves the first with "a"
        await page.keyboard.press("k")
        await claim_settled(page)
        await page.keyboard.press("a")
        await page.locator("#outcome", has_text="Zoë Nguyễn: approved.").wait_for()
        assert await queue_count(page) == "1 claim to review"
        assert (await Certificate.get(id=first.certificate_pk)).status == CertificateStatus.APPROVED

        # and rejects the second with "r", a reason and Enter
        assert await page.text_content("#holder-name") == PEOPLE[1][1]
        await page.keyboard.press("r")
        await reason_focused(page)
        await page.keyboard.type(REASON)
        await page.keyboard.press("Enter")
        await page.locator("#outcome", has_text=f"{PEOPLE[1][1]}: rejected.").wait_for()
        assert await queue_count(page) == "0 claims to review"
        rejected = await Certificate.get(id=second.certificate_pk)
        assert (rejected.status, rejected.rejection_reason) == (CertificateStatus.REJECTED, REASON)

        # and "?" lists the shortcuts
        await page.keyboard.press("?")
        await page.locator("#help").wait_for(state="visible")
        await page.keyboard.press("Escape")
        await page.locator("#help").wait_for(state="hidden")
        # and the token was never a cookie; nothing was refused by the policy or logged as an error
        assert await page.context.cookies() == []
        assert await policy_violations(page) == []
        assert problems == []


async def test_a_decision_that_fails_is_said_in_words(server):
    (candidate,) = await candidates_of(server, PEOPLE[:1])
    await claim_ok(server, candidate, PEOPLE[0][1])
    async with browser_page() as (page, problems):
        # given a platform admin, who may read the queue but not decide
        await open_desk(page, server, server.token(Role.PLATFORM_ADMIN, subject="platform"))
        await page.locator("#holder-name", has_text=PEOPLE[0][1]).wait_for()
        # when they send an empty reason, then the page asks for one
        await page.keyboard.press("r")
        await reason_focused(page)
        await page.keyboard.press("Enter")
        assert await page.text_content("#claim-error") == "Write the reason first: the test taker reads it."
        # when they approve, then the server's refusal is shown in words and the claim stays
        await page.keyboard.press("Escape")
        await claim_settled(page)
        await page.keyboard.press("a")
        error = page.locator("#claim-error", has_text="Not approved:")
        await error.wait_for()
        assert "platform_admin" in await error.text_content()
        assert await queue_count(page) == "1 claim to review"
        # when a reviewer approves it elsewhere, then it leaves this queue live
        await server.client(reviewer_token(server)).data(
            "mutation($id: ID!) { approveCertificate(input: {certificateId: $id}) { errors { code } } }",
            {"id": candidate.certificate_id},
        )
        await page.locator("#queue-count", has_text="0 claims to review").wait_for()
        assert problems == []


async def test_an_expired_token_returns_to_sign_in_with_a_message(server):
    (candidate,) = await candidates_of(server, PEOPLE[:1])
    await claim_ok(server, candidate, PEOPLE[0][1])
    async with browser_page() as (page, problems):
        # given a session whose token lasts two seconds
        await open_desk(page, server, reviewer_token(server, ttl=2))
        # then the server ends the websocket (4401) and the page asks to sign in again, saying why
        await page.locator("#sign-in-message", has_text="Your session has expired. Sign in again.").wait_for(
            timeout=10000
        )
        assert await page.evaluate("document.documentElement.dataset.signedOutBy") == "websocket"
        assert await page.evaluate("sessionStorage.getItem('certify.token')") is None

        # when a token the server refuses is typed into the form, the request (HTTP) says it is not valid
        await page.fill("#token", reviewer_token(server) + "x")
        await page.keyboard.press("Enter")
        await page.locator("#sign-in-message", has_text="This token is not valid:").wait_for()
        assert await page.evaluate("document.documentElement.dataset.signedOutBy") in ("http", "websocket")

        # when a good token is typed, the desk opens
        await page.fill("#token", reviewer_token(server))
        await page.keyboard.press("Enter")
        await page.locator("#queue-count", has_text="1 claim to review").wait_for()
        # (Chromium logs the refused request's status; nothing else may reach the console)
        assert [problem for problem in problems if "status of 401" not in problem] == []


async def test_a_token_of_another_role_is_told_the_desk_is_for_the_security_team(server):
    (candidate,) = await candidates_of(server, PEOPLE[:1])
    await claim_ok(server, candidate, PEOPLE[0][1])
    async with browser_page(PHONE) as (page, problems):
        await page.goto(
            f"{server.url}/review#access_token={server.token(Role.TEST_TAKER, test_taker=candidate.test_taker_pk)}"
        )
        notice = page.locator("[role=alert]", has_text="The review desk is for the security team")
        await notice.wait_for()
        assert await notice.text_content() == (
            "You are signed in as a test taker. The review desk is for the security team: "
            "sign in with a security reviewer's token to use it."
        )
        assert await page.locator("#claims").count() == 0
        # and is offered another sign-in, or their own page
        assert await page.text_content("#sign-in-again") == "Sign in with another token"
        own = page.locator("#own-page")
        assert (await own.text_content(), await own.get_attribute("href")) == ("Go to your certificates", "/me")
        assert await axe_violations(page) == []
        # when they sign out, the form says so without alarm
        await page.click("text=Sign out")
        await page.locator("#sign-in-message", has_text="You signed out.").wait_for()
        assert problems == []


async def focused(page: Page) -> dict:
    return await page.evaluate(
        "({id: document.activeElement.dataset.id || document.activeElement.id, text: document.activeElement.textContent})"
    )


async def test_after_each_decision_the_keyboard_goes_on_to_the_next_claim(server):
    candidates = await claimed_candidates(server, 3)
    async with browser_page() as (page, problems):
        await open_desk(page, server, reviewer_token(server))
        await page.locator("#holder-name", has_text=PEOPLE[0][1]).wait_for()
        # when the reviewer approves the first claim with "a", the keyboard alone
        await claim_settled(page)
        await page.keyboard.press("a")
        await page.locator("#outcome", has_text=f"{PEOPLE[0][1]}: approved.").wait_for()
        # then focus is on the next claim in the queue, which is the one shown
        await page.wait_for_function("() => document.activeElement?.classList.contains('claim-row')")
        now = await focused(page)
        assert now["id"] == candidates[1].certificate_id and PEOPLE[1][1] in now["text"]
        assert await page.text_content("#holder-name") == PEOPLE[1][1]
        # when they reject it with "r", a reason and Enter
        await page.keyboard.press("r")
        await reason_focused(page)
        await page.keyboard.type(REASON)
        await page.keyboard.press("Enter")
        await page.locator("#outcome", has_text=f"{PEOPLE[1][1]}: rejected.").wait_for()
        # then focus goes on to the next claim again, not to the page's body
        await page.wait_for_function(f"() => document.activeElement?.dataset.id === {candidates[2].certificate_id!r}")
        assert PEOPLE[2][1] in (await focused(page))["text"]
        assert await page.text_content("#holder-name") == PEOPLE[2][1]
        # when the last one is approved, focus rests on the words of the empty queue
        await claim_settled(page)
        await page.keyboard.press("a")
        await page.locator("#outcome", has_text=f"{PEOPLE[2][1]}: approved.").wait_for()
        await page.wait_for_function("() => document.activeElement?.id === 'queue-empty'")
        assert (await focused(page))["text"] == "Nothing to review: the queue is empty."
        assert await queue_count(page) == "0 claims to review"
        assert [
            c.status for c in await Certificate.filter(id__in=[c.certificate_pk for c in candidates]).order_by("id")
        ] == [
            CertificateStatus.APPROVED,
            CertificateStatus.REJECTED,
            CertificateStatus.APPROVED,
        ]
        assert problems == []


@pytest.mark.slow
async def test_a_photo_whose_signed_url_expired_is_fetched_afresh(tmp_path, sqlite_url):
    async with live_server(make_settings(tmp_path, sqlite_url, signed_url_ttl_seconds=10)) as server:
        first, second = await candidates_of(server, PEOPLE[:2])
        await claim_ok(server, first, PEOPLE[0][1])
        await claim_ok(server, second, PEOPLE[1][1])
        async with browser_page() as (page, problems):
            await open_desk(page, server, reviewer_token(server))
            await page.wait_for_function("() => document.getElementById('photo')?.naturalWidth > 0")
            # when the reviewer moves on after the queue's photo URLs expired
            await page.wait_for_timeout(11_000)
            await page.keyboard.press("j")
            await page.locator("#holder-name", has_text=PEOPLE[1][1]).wait_for()
            # then the page asks for fresh ones and shows the photo
            await page.wait_for_function("() => document.getElementById('photo')?.naturalWidth > 0")
            expired = [problem for problem in problems if "status of 403" in problem]
            assert len(expired) == 1 and problems == expired, problems  # the expired URL, refused once


async def test_a_dropped_websocket_reconnects_and_catches_up(server):
    first, second = await candidates_of(server, PEOPLE[:2])
    await claim_ok(server, first, PEOPLE[0][1])
    async with browser_page() as (page, problems):
        await open_desk(page, server, reviewer_token(server))
        # when the network drops the page's websocket and a claim arrives meanwhile
        for connection in list(server.server.server_state.connections):
            if isinstance(connection, WebSocketProtocol):
                connection.transport.abort()
        await page.locator("#live-status", has_text="Reconnecting…").wait_for()
        await claim_ok(server, second, PEOPLE[1][1])
        # then the page reconnects by itself and the queue catches up
        await page.locator("#live-status", has_text="Live").wait_for()
        await page.locator("#queue-count", has_text="2 claims to review").wait_for()
        assert problems == []


@pytest.mark.slow
async def test_a_long_queue_pages_and_counts_claims_beyond_the_first_page(server):
    people = [(f"Candidate {n}", f"Holder {n:02}") for n in range(52)]
    candidates = await candidates_of(server, people)
    for candidate, (_, printed) in zip(candidates[:51], people, strict=False):
        await claim_ok(server, candidate, printed)
    async with browser_page() as (page, problems):
        # given 51 claims: the first page holds 50
        await open_desk(page, server, reviewer_token(server))
        await page.locator("#queue-count", has_text="51 claims to review").wait_for()
        assert await page.locator(".claim-row").count() == 50
        # when one more is submitted, it is counted (it belongs on a later page) and offered
        await claim_ok(server, candidates[51], people[51][1])
        await page.locator("#queue-count", has_text="52 claims to review").wait_for()
        assert await page.locator(".claim-row").count() == 50
        assert " ".join((await page.text_content("#show-new")).split()) == "1 new claim not shown — show newest first"
        # when the reviewer asks to see it, the queue turns newest first with it on top
        await page.click("#show-new")
        await page.locator(".claim-row .row-name").first.filter(has_text="Holder 51").wait_for()
        assert (await page.is_checked("#newest-first"), await view_in_url(page)) == (
            True,
            "?order=newest",
        )
        assert await page.locator("#show-new").count() == 0
        await page.uncheck("#newest-first")
        await page.locator(".claim-row .row-name").first.filter(has_text="Holder 00").wait_for()
        # when the reviewer loads more, the rest follow in submission order
        await page.click("text=Load more claims")
        await page.locator(".claim-row").nth(51).wait_for()
        names = await page.locator(".claim-row .row-name").all_text_contents()
        assert names == [printed for _, printed in people]
        assert await page.locator("text=Load more claims").count() == 0
        assert problems == []


@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone")])
async def test_every_state_of_the_page_passes_axe_at_both_sizes(server, viewport, name):
    candidates = await candidates_of(server)
    for candidate, (_, printed) in zip(candidates, PEOPLE, strict=True):
        await claim_ok(server, candidate, printed)
    async with browser_page(viewport) as (page, problems):
        # the sign-in form
        await page.goto(f"{server.url}/review")
        await page.locator("#token").wait_for()
        assert await axe_violations(page) == []
        # the desk with a queue, an Arabic claim selected
        await open_desk(page, server, reviewer_token(server))
        await page.wait_for_function("() => document.getElementById('photo')?.naturalWidth > 0")
        await page.keyboard.press("j")
        await page.locator("#holder-name", has_text=PEOPLE[1][1]).wait_for()
        await page.wait_for_function("() => document.getElementById('photo')?.naturalWidth > 0")
        assert await axe_violations(page) == []
        await screenshot(page, f"review-desk-{name}.png")
        # the reject form and the shortcuts
        await page.keyboard.press("r")
        await reason_focused(page)
        assert await axe_violations(page) == []
        await page.keyboard.press("Escape")
        await page.locator("#reject").wait_for()
        await page.keyboard.press("?")
        await page.locator("#help").wait_for(state="visible")
        assert await axe_violations(page) == []
        # (behind the open dialog the shortcuts rest: "a" approves nothing)
        await page.keyboard.press("a")
        await page.keyboard.press("Escape")
        await page.wait_for_timeout(500)
        assert (await page.text_content("#outcome"), await queue_count(page)) == ("", "4 claims to review")
        assert await policy_violations(page) == []
        assert problems == [], json.dumps(problems)


async def statuses(candidates) -> list[CertificateStatus]:
    return [c.status for c in await Certificate.filter(id__in=[c.certificate_pk for c in candidates]).order_by("id")]


async def test_pressing_a_twice_fast_approves_exactly_the_claim_the_reviewer_saw(server):
    candidates = await claimed_candidates(server, 3)
    async with browser_page() as (page, problems):
        await open_desk(page, server, reviewer_token(server))
        await page.locator("#holder-name", has_text=PEOPLE[0][1]).wait_for()
        await claim_settled(page)
        # when the reviewer presses "a" twice within half a second
        await page.keyboard.press("a")
        await page.keyboard.press("a")
        await page.locator("#outcome", has_text=f"{PEOPLE[0][1]}: approved.").wait_for()
        await page.locator("#holder-name", has_text=PEOPLE[1][1]).wait_for()
        await page.keyboard.press("a")
        # then the first claim alone is approved; the next one, just shown, is not, and the page says why
        ignored = page.locator("#ignored")
        await ignored.wait_for()
        assert await ignored.text_content() == (
            f"Not approved: {PEOPLE[1][1]}'s claim had only just been shown. Look at it, then press a again."
        )
        await page.wait_for_timeout(300)
        assert await statuses(candidates) == [
            CertificateStatus.APPROVED,
            CertificateStatus.UNDER_REVIEW,
            CertificateStatus.UNDER_REVIEW,
        ]
        assert await queue_count(page) == "2 claims to review"
        assert await axe_violations(page) == []
        await screenshot_to_look_at(page, "review-desk-press-ignored.png")
        # when "a" arrives as the key's auto-repeat, even on a claim shown long enough, it decides nothing
        await claim_settled(page)
        await page.evaluate(
            "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'a', repeat: true, bubbles: true}))"
        )
        await page.locator("#ignored", has_text="Holding a down").wait_for()
        assert await ignored.text_content() == "Holding a down approves nothing: press it once for each claim."
        # and a double click on Approve approves one claim
        await page.dblclick("#approve")
        await page.locator("#outcome", has_text=f"{PEOPLE[1][1]}: approved.").wait_for()
        await page.locator("#holder-name", has_text=PEOPLE[2][1]).wait_for()
        await page.wait_for_timeout(300)
        assert (await statuses(candidates))[1:] == [CertificateStatus.APPROVED, CertificateStatus.UNDER_REVIEW]
        # once it has been shown for a moment, a single press approves it
        await claim_settled(page)
        await page.keyboard.press("a")
        await page.locator("#outcome", has_text=f"{PEOPLE[2][1]}: approved.").wait_for()
        assert await page.text_content("#ignored") == ""
        assert await statuses(candidates) == [CertificateStatus.APPROVED] * 3
        assert problems == []


async def long_queue(server, count: int) -> list:
    """``count`` claims under review, "Holder 000" first, in two organisations (one real claim's photo each)."""
    half = count // 2
    _, first = await certified_candidates(server, half, name="Acme A", prefix="a")
    _, second = await certified_candidates(server, count - half, name="Acme B", prefix="b")
    candidates = first + second
    await claim_ok(server, candidates[0], "Holder 000")
    photo = (await Certificate.get(id=candidates[0].certificate_pk)).photo_key
    start = BASE_TIME + timedelta(days=30)
    for n, candidate in enumerate(candidates[1:], start=1):
        await Certificate.filter(id=candidate.certificate_pk).update(
            status=CertificateStatus.UNDER_REVIEW,
            holder_name=f"Holder {n:03}",
            photo_key=photo,
            submitted_at=start + timedelta(seconds=n),
            claimed_at=start + timedelta(seconds=n),
        )
    return candidates


async def load_all(page: Page, rows: int) -> None:
    while await page.locator("text=Load more claims").count():
        shown = await page.locator(".claim-row").count()
        await page.click("text=Load more claims")
        await page.locator(".claim-row").nth(min(shown, rows - 1)).wait_for()
    assert await page.locator(".claim-row").count() == rows


@pytest.mark.slow
async def test_refresh_keeps_the_selected_claim_deep_in_a_long_queue(server):
    candidates = await long_queue(server, 560)
    async with browser_page() as (page, problems):
        # given every one of 560 claims loaded, and the 541st selected
        await open_desk(page, server, reviewer_token(server))
        await page.locator("#queue-count", has_text="560 claims to review").wait_for()
        await load_all(page, 560)
        await page.click(f'.claim-row[data-id="{candidates[540].certificate_id}"]')
        await page.locator("#holder-name", has_text="Holder 540").wait_for()
        # when someone decides an earlier claim unseen by this page (no live event) and the reviewer refreshes
        await Certificate.filter(id=candidates[3].certificate_pk).update(status=CertificateStatus.REJECTED)
        await page.click("text=Refresh")
        await page.locator("#queue-count", has_text="559 claims to review").wait_for()
        # then every loaded claim is still there and the selection is still the same claim
        assert await page.locator(".claim-row").count() == 559
        assert await page.get_attribute("#claim", "data-id") == candidates[540].certificate_id
        assert await page.text_content("#holder-name") == "Holder 540"
        assert await page.text_content('.claim-row[aria-current="true"] .row-name') == "Holder 540"

        # when the selected claim is decided elsewhere, unseen, and the page reloads
        await Certificate.filter(id=candidates[540].certificate_pk).update(status=CertificateStatus.REJECTED)
        await page.click("text=Refresh")
        await page.locator("#queue-count", has_text="558 claims to review").wait_for()
        # then the page says so and selects nothing; "a" approves no other claim
        gone = "Holder 540's claim left the queue: someone else decided it. Nothing is selected: choose the next claim yourself."
        assert " ".join((await page.text_content("#claim-gone")).split()) == gone
        assert await page.locator("#claim").count() == 0
        assert await page.locator('.claim-row[aria-current="true"]').count() == 0
        await page.keyboard.press("a")
        await page.locator("#ignored", has_text="Nothing is selected").wait_for()
        assert await page.text_content("#ignored") == "Nothing is selected: choose a claim first."
        assert await Certificate.filter(status=CertificateStatus.APPROVED).count() == 0
        assert await axe_violations(page) == []
        # when they choose with "j", the claim now at that place is shown
        await page.keyboard.press("j")
        await page.locator("#holder-name", has_text="Holder 541").wait_for()
        assert problems == []


async def test_a_claim_decided_elsewhere_live_is_named_and_nothing_else_selected(server):
    candidates = await claimed_candidates(server, 2)
    async with browser_page() as (page, problems):
        await open_desk(page, server, reviewer_token(server))
        await page.locator("#holder-name", has_text=PEOPLE[0][1]).wait_for()
        # when another reviewer approves the selected claim
        await approve(server, candidates[0])
        # then this page names it and does not put the next claim under the reviewer's "a"
        await page.locator("#claim-gone").wait_for()
        assert " ".join((await page.text_content("#claim-gone")).split()) == (
            f"{PEOPLE[0][1]}'s claim left the queue: someone else decided it. "
            "Nothing is selected: choose the next claim yourself."
        )
        assert await queue_count(page) == "1 claim to review"
        await page.keyboard.press("a")
        await page.locator("#ignored", has_text="Nothing is selected").wait_for()
        assert (await Certificate.get(id=candidates[1].certificate_pk)).status == CertificateStatus.UNDER_REVIEW
        assert await axe_violations(page) == []
        await screenshot_to_look_at(page, "review-desk-claim-gone.png")
        assert problems == []


async def row_names(page: Page) -> list[str]:
    return await page.locator(".claim-row .row-name").all_text_contents()


async def test_the_reviewer_finds_a_claim_by_name_and_reads_newest_first(server):
    candidates = await candidates_of(server)
    for candidate, (_, printed) in zip(candidates, PEOPLE, strict=True):
        await claim_ok(server, candidate, printed)
    async with browser_page() as (page, problems):
        await open_desk(page, server, reviewer_token(server))
        await page.locator("#queue-count", has_text="4 claims to review").wait_for()
        # when the reviewer presses "/" and types part of a registered name, in another case
        await page.keyboard.press("/")
        await page.wait_for_function("() => document.activeElement?.id === 'queue-search'")
        await page.keyboard.type("COHEN")
        # then, once they stop typing, the queue holds that claim alone, selected, and the address says so
        await page.locator("#queue-count", has_text="1 claim matches “COHEN”").wait_for()
        assert await row_names(page) == [PEOPLE[2][1]]
        await page.locator("#holder-name", has_text=PEOPLE[2][1]).wait_for()
        assert await view_in_url(page) == "?q=COHEN"
        assert await axe_violations(page) == []
        # a name nobody has is said in words
        await page.fill("#queue-search", "nobody")
        await page.locator("#queue-count", has_text="0 claims match “nobody”").wait_for()
        assert await page.text_content("#queue-empty") == "No claim in the queue matches this name."
        # when they clear it and tick "Newest first", the last submission leads
        await page.fill("#queue-search", "")
        await page.locator("#queue-count", has_text="4 claims to review").wait_for()
        await page.locator("#holder-name", has_text=PEOPLE[0][1]).wait_for()
        await page.check("#newest-first")
        await page.locator(".claim-row .row-name").first.filter(has_text=PEOPLE[3][1]).wait_for()
        assert await row_names(page) == [printed for _, printed in reversed(PEOPLE)]
        assert await view_in_url(page) == "?order=newest"
        # (the selected claim stays selected in the other order)
        assert await page.text_content("#holder-name") == PEOPLE[0][1]
        await screenshot_to_look_at(page, "review-desk-newest-first.png")
        # and the address opens the same view again
        await page.goto(f"{server.url}/review?q=haddad&order=newest")
        await page.locator("#queue-count", has_text="1 claim matches “haddad”").wait_for()
        assert (await page.input_value("#queue-search"), await page.is_checked("#newest-first")) == ("haddad", True)
        assert await row_names(page) == [PEOPLE[1][1]]
        await page.locator("#holder-name", has_text=PEOPLE[1][1]).wait_for()
        await screenshot_to_look_at(page, "review-desk-search.png")
        assert problems == []


async def test_on_a_phone_the_queue_shows_several_claims_above_the_detail(server):
    candidates = await candidates_of(server)
    for candidate, (_, printed) in zip(candidates, PEOPLE, strict=True):
        await claim_ok(server, candidate, printed)
    async with browser_page(PHONE) as (page, problems):
        await open_desk(page, server, reviewer_token(server))
        await page.locator("#queue-count", has_text="4 claims to review").wait_for()
        await page.wait_for_function("() => document.getElementById('photo')?.naturalWidth > 0")
        # then at least three claim rows are wholly on screen, inside the list's own box, and above the detail
        boxes = await page.evaluate(
            """() => {
              const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
              return {rows: [...document.querySelectorAll('.claim-row')].map(box),
                      list: box(document.getElementById('claims')),
                      detail: box(document.querySelector('.detail'))};
            }"""
        )
        visible = [
            row
            for row in boxes["rows"]
            if row["top"] >= max(0, boxes["list"]["top"])
            and row["bottom"] <= min(PHONE["height"], boxes["list"]["bottom"])
            and row["left"] >= 0
            and row["right"] <= PHONE["width"]
        ]
        assert len(visible) >= 3, boxes
        assert all(row["bottom"] <= boxes["detail"]["top"] for row in visible), boxes
        assert boxes["list"]["bottom"] <= boxes["detail"]["top"], boxes
        await screenshot_to_look_at(page, "review-desk-phone-queue.png")
        assert problems == []


async def test_reloading_the_page_keeps_the_selected_claim(server):
    candidates = await claimed_candidates(server, 3)
    async with browser_page() as (page, problems):
        await open_desk(page, server, reviewer_token(server))
        await page.uncheck("#newest-first")
        await page.locator("#holder-name", has_text=PEOPLE[0][1]).wait_for()
        # when the reviewer selects the second claim and reloads the page
        await page.click(f'.claim-row[data-id="{candidates[1].certificate_id}"]')
        await page.locator("#holder-name", has_text=PEOPLE[1][1]).wait_for()
        assert await page.evaluate("new URLSearchParams(location.search).get('claim')") == candidates[1].certificate_id
        await page.reload()
        await page.locator("#live-status", has_text="Live").wait_for()
        await page.locator("#queue-count", has_text="3 claims to review").wait_for()
        # then the same claim is selected
        await page.locator("#claim").wait_for()
        assert await page.get_attribute("#claim", "data-id") == candidates[1].certificate_id
        assert await page.text_content("#holder-name") == PEOPLE[1][1]
        assert await page.text_content('.claim-row[aria-current="true"] .row-name') == PEOPLE[1][1]
        # when it is decided elsewhere, unseen, and the page is reloaded, the page says so and selects nothing
        await Certificate.filter(id=candidates[1].certificate_pk).update(status=CertificateStatus.REJECTED)
        await page.reload()
        await page.locator("#claim-gone").wait_for()
        assert " ".join((await page.text_content("#claim-gone")).split()) == (
            "The claim this page showed before it was reloaded has left the queue: it has been decided. "
            "Nothing is selected: choose a claim."
        )
        assert await page.locator("#claim").count() == 0
        assert await page.locator('.claim-row[aria-current="true"]').count() == 0
        assert await page.evaluate("new URLSearchParams(location.search).get('claim')") is None
        assert await axe_violations(page) == []
        assert problems == []


async def test_a_second_a_before_the_next_claim_is_shown_is_said_to_come_too_soon(server):
    candidates = await claimed_candidates(server, 3)
    async with browser_page() as (page, problems):
        await open_desk(page, server, reviewer_token(server))
        await page.uncheck("#newest-first")
        await page.locator("#holder-name", has_text=PEOPLE[0][1]).wait_for()
        await claim_settled(page)
        # when a second "a" arrives the moment the first approval is answered, before the next claim is shown
        await page.evaluate(
            """() => new MutationObserver((_, observer) => {
                 if (!document.getElementById('outcome').textContent.includes('approved')) return;
                 observer.disconnect();
                 window.selectedAtSecondPress = document.getElementById('claim')?.dataset.id || null;
                 document.dispatchEvent(new KeyboardEvent('keydown', {key: 'a', bubbles: true}));
               }).observe(document.getElementById('outcome'), {childList: true, subtree: true, characterData: true})"""
        )
        # (the first decision by one deliberate click, which decides at once wherever the focus is)
        await page.click("#approve")
        await page.locator("#outcome", has_text=f"{PEOPLE[0][1]}: approved.").wait_for()
        await page.locator("#holder-name", has_text=PEOPLE[1][1]).wait_for()
        # then the page says the press came too soon, and approves nothing more: whether the next claim was
        # already drawn in the frame that said "approved" depends on whether the queue's event or the mutation's
        # answer came first; either way it had only just been shown
        assert await page.evaluate("window.selectedAtSecondPress") in (None, candidates[1].certificate_id)
        ignored = page.locator("#ignored")
        await ignored.filter(has_text="Not approved").wait_for()
        assert await ignored.text_content() == (
            f"Not approved: {PEOPLE[1][1]}'s claim had only just been shown. Look at it, then press a again."
        )
        await page.wait_for_timeout(300)
        assert await statuses(candidates) == [
            CertificateStatus.APPROVED,
            CertificateStatus.UNDER_REVIEW,
            CertificateStatus.UNDER_REVIEW,
        ]
        assert await page.get_attribute("#claim", "data-id") == candidates[1].certificate_id
        assert problems == []


async def test_the_sign_in_form_asks_for_a_security_reviewer_token(server):
    async with browser_page() as (page, problems):
        await page.goto(f"{server.url}/review")
        await page.locator("#token").wait_for()
        assert await page.text_content("#sign-in p:not(.hint):not(.notice)") == (
            "The security team's queue of claims to review."
        )
        assert await page.text_content("#token-help") == "Sign in with your security reviewer token."
        assert problems == []
