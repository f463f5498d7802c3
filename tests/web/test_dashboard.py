"""The dashboard (``GET /dashboard``) in real Chromium against the real server: the organisation's sittings
with their status icons, filters, order and page in the URL (an impossible range said in words, never sent),
sortable columns, certify mode (a few sittings, or every sitting matching a filter, counted as the server
will select them, once however often the button is pressed), live updates, revoking with a confirmation, the
analyst's read-only view, axe-core and the page's Content-Security-Policy.

Every page load listens to the browser's console: an error there (a script failure, a resource refused, a
CSP violation) fails the test. Screenshots at 1280×800 and 390×844 go to ``docs/screenshots/`` when
``CERTIFY_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from builders import BASE_TIME, CREATE_TEST, RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import certified_candidates, issue, rendering_server
from harness import live_server, make_settings
from playwright.async_api import Page, async_playwright

from models import Certificate, CreditTransaction, Organisation, Sitting
from models.enums import CertificateStatus, CertificationStatus, CreditTransactionKind, Role
from renderer.chromium import find_chromium
from server.web_pages import content_security_policy, sign_in_links

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WATCH_POLICY = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`));
"""
"""Run in every page before its own scripts (over DevTools, so the policy does not apply to it)."""
# name, score, photo check: the newest first on the page (each taken a day before the one above it)
PEOPLE = [
    ("Zoe Nguyen", 80, "PASSED"),
    ("ليلى حداد", 90, "PASSED"),
    ("יעל כהן", 75, "PASSED"),
    ("Oluwaseun Adebayo", 40, "PASSED"),
    ("Marta Kowalska", 85, "FAILED"),
]
SITTING_IDS = (
    "{ sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id testTaker { name } } } } }"
)
SELECT = "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount errors { code message } }
}
"""

pytestmark = pytest.mark.chromium


@pytest.fixture
async def server(tmp_path, sqlite_url):
    async with live_server(make_settings(tmp_path, sqlite_url)) as srv:
        yield srv


async def organisation_with(server, people=PEOPLE, *, credits=10):
    """An organisation with ``credits`` credits and one sitting per person; its world and {name: sitting ID}."""
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=credits, name="Acme Languages")
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
        for n, (name, score, photo) in enumerate(people)
    ]
    for start in range(0, len(rows), 100):
        result = (await platform.data(RECORD_SITTINGS, {"rows": rows[start : start + 100]}))["recordSittings"]
        assert result["errors"] == [], result
    admin = server.client(admin_token(server, world))
    edges = (await admin.data(SITTING_IDS))["sittings"]["edges"]
    return world, {edge["node"]["testTaker"]["name"]: edge["node"]["id"] for edge in edges}


def admin_token(server, world) -> str:
    return server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="dashboard-admin")


def analyst_token(server, world) -> str:
    return server.token(Role.ANALYST, org=world.organisation_pk, subject="dashboard-analyst")


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


async def open_dashboard(page: Page, server, token: str, query: str = "") -> None:
    await page.goto(f"{server.url}/dashboard{query}#access_token={token}")
    await page.locator("#live-status", has_text="Live").wait_for()
    await page.locator("#sittings, #no-sittings").first.wait_for()
    await page.wait_for_function("() => /\\d/.test(document.getElementById('balance')?.textContent || '')")


async def row_names(page: Page) -> list[str]:
    return await page.locator("#sittings tbody .name").all_text_contents()


def row(page: Page, name: str):
    return page.locator("#sittings tbody tr", has=page.locator(".name", has_text=name))


async def axe_violations(page: Page) -> list[dict]:
    """Serious and critical axe-core violations of the page as it is now (axe evaluated over DevTools)."""
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


async def statuses(world) -> dict[str, CertificationStatus]:
    sittings = await Sitting.filter(organisation_id=world.organisation_pk).prefetch_related("test_taker")
    return {sitting.test_taker.name: sitting.status for sitting in sittings}


async def balance_and_spends(world) -> tuple[int, list[int]]:
    organisation = await Organisation.get(id=world.organisation_pk)
    spends = await CreditTransaction.filter(
        organisation_id=world.organisation_pk, kind=CreditTransactionKind.CERTIFICATION
    ).values_list("delta", flat=True)
    return organisation.credit_balance, sorted(spends)


async def focused_id(page: Page) -> str:
    return await page.evaluate("document.activeElement?.id || ''")


async def text_of(page: Page, selector: str) -> str:
    """The element's text as it reads: white space collapsed."""
    return " ".join((await page.text_content(selector) or "").split())


def utc_minute(instant) -> str:
    """An instant as the pages write it: "3 December 2026, 10:36 UTC"."""
    instant = instant.astimezone(UTC)
    return f"{instant.day} {instant:%B %Y, %H:%M} UTC"


async def screenshot_to_look_at(page: Page, name: str) -> None:
    """A screenshot of a state not in docs/screenshots, for a person to look at (``CERTIFY_LOOK=<dir>``)."""
    if folder := os.environ.get("CERTIFY_LOOK"):
        await page.screenshot(path=str(Path(folder) / name))


async def counted(page: Page, status: str) -> str:
    """The overview's count of ``status`` as it reads (its icon is not read out): "1 revoked"."""
    item = page.locator(f"#counts li[data-status={status}]")
    return " ".join(
        (await item.evaluate("li => li.textContent.replace(li.querySelector('.icon').textContent, '')")).split()
    )


async def enter_certify_mode(page: Page) -> None:
    await page.click("#certify-mode")
    await page.locator("#certify-bar").wait_for()


async def test_the_page_is_a_static_shell_under_a_strict_policy(server):
    response = await server.http.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == content_security_policy(f"127.0.0.1:{server.port}")
    assert response.headers["cache-control"] == "no-store"
    assert '<script type="module" src="/static/app/dashboard.js"></script>' in response.text
    assert "<script>" not in response.text and "style=" not in response.text
    modules = ("dashboard", "dashboard_url", "dashboard_sittings", "dashboard_table", "dashboard_filters")
    for module in (*modules, "dashboard_certify", "dashboard_certificate"):
        script = await server.http.get(f"/static/app/{module}.js")
        assert (script.status_code, script.headers["content-type"].split(";")[0]) == (200, "text/javascript"), module


def test_org_admins_and_analysts_sign_in_to_the_dashboard_and_a_test_taker_to_their_own_page():
    tokens = {"org_admin": "a.b.c", "analyst": "d.e.f", "test_taker_token": "t.t.t", "platform_admin": "p.p.p"}
    assert sign_in_links("http://127.0.0.1:8000/", tokens) == {
        "org_admin": "http://127.0.0.1:8000/dashboard#access_token=a.b.c",
        "analyst": "http://127.0.0.1:8000/dashboard#access_token=d.e.f",
        "test_taker": "http://127.0.0.1:8000/me#access_token=t.t.t",
    }


async def test_the_table_shows_each_status_with_its_icon_and_meaning(server):
    world, ids = await organisation_with(server)
    admin = server.client(admin_token(server, world))
    # given one sitting in process (certified over the API) and one selected
    assert (await admin.data(CERTIFY, {"ids": [ids["Zoe Nguyen"]], "key": "k-1"}))["certifySittings"]["errors"] == []
    assert (await admin.data(SELECT, {"ids": [ids["יעל כהן"]]}))["selectSittings"]["errors"] == []
    async with browser_page() as (page, problems):
        # when the admin opens the sign-in link
        await open_dashboard(page, server, admin_token(server, world))
        # then the token left the address bar; the sittings are listed newest first with their status
        assert await page.evaluate("location.hash") == ""
        assert await row_names(page) == [name for name, _, _ in PEOPLE]
        assert await page.text_content("#matching") == "5 sittings"
        assert await page.text_content("#balance") == "9"
        titles = {name: await row(page, name).locator(".state .status").get_attribute("title") for name, _, _ in PEOPLE}
        assert titles == {
            "Zoe Nguyen": "Certificate granted, in process: the test taker must complete certification",
            "ليلى حداد": "Not selected: eligible for certification",
            "יעל כהן": "Sitting selected: certified when you press Done and confirm",
            "Oluwaseun Adebayo": "Cannot be certified: low score",
            "Marta Kowalska": "Cannot be certified: photo problem",
        }
        icons = await page.locator("#sittings tbody .state .icon").all_text_contents()
        assert icons == ["◔", "", "☑", "⊘", "⊘"]
        # the meaning is read out too, not only shown on hover
        assert (
            await row(page, "Oluwaseun Adebayo").locator(".visually-hidden").text_content()
            == "Cannot be certified: low score"
        )
        # the scores and instants read as every page writes them; Arabic and Hebrew names lay out right to left
        assert await row(page, "Zoe Nguyen").locator(".score").text_content() == "80 / 100"
        assert await row(page, "Zoe Nguyen").locator(".taken").text_content() == "1 October 2026, 09:00 UTC"
        for name in ("ليلى حداد", "יעל כהן"):
            direction = (
                await row(page, name).locator(".name").evaluate("element => getComputedStyle(element).direction")
            )
            assert direction == "rtl"
        counts = await page.locator("#counts li").evaluate_all(
            "items => items.map(item => [item.dataset.status, item.querySelector('.count').textContent])"
        )
        assert counts == [
            ["CERTIFIED", "0"],
            ["REVOKED", "0"],
            ["IN_PROGRESS", "1"],
            ["SELECTED", "1"],
            ["UNSELECTED", "1"],
            ["INELIGIBLE", "2"],
        ]
        assert await page.evaluate("window.cspViolations") == []
        assert problems == []


async def test_filters_are_reflected_in_the_url_and_the_rows(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        # when the admin ticks "Cannot be certified"
        await page.get_by_label("Cannot be certified").check()
        await page.locator("#matching", has_text="2 sittings").wait_for()
        assert await row_names(page) == ["Oluwaseun Adebayo", "Marta Kowalska"]
        assert await page.evaluate("location.search") == "?status=INELIGIBLE"
        # and searches, from the keyboard
        await page.focus("#filter-q")
        await page.keyboard.type("marta")
        await page.locator("#matching", has_text="1 sitting").wait_for()
        assert await row_names(page) == ["Marta Kowalska"]
        assert await page.evaluate("location.search") == "?status=INELIGIBLE&q=marta"
        # then a reload (or a shared link) shows the same view
        await page.reload()
        await page.locator("#matching", has_text="1 sitting").wait_for()
        assert await row_names(page) == ["Marta Kowalska"]
        assert await page.input_value("#filter-q") == "marta"
        # and Back returns to the previous filter
        await page.go_back()
        await page.locator("#matching", has_text="2 sittings").wait_for()
        # a score range
        await page.click("#clear-filters")
        await page.fill("#filter-min", "76")
        await page.fill("#filter-max", "89")
        await page.keyboard.press("Tab")
        await page.locator("#matching", has_text="2 sittings").wait_for()
        assert await row_names(page) == ["Zoe Nguyen", "Marta Kowalska"]
        assert await page.evaluate("location.search") == "?min=76&max=89"
        # a date range (UTC days, both included)
        await page.click("#clear-filters")
        await page.fill("#filter-from", "2026-09-30")
        await page.locator("#matching", has_text="2 sittings").wait_for()
        await page.fill("#filter-to", "2026-09-30")
        await page.locator("#matching", has_text="1 sitting").wait_for()
        assert await row_names(page) == ["ليلى حداد"]
        assert await page.evaluate("location.search") == "?from=2026-09-30&to=2026-09-30"
        assert problems == []


async def test_the_test_filter_lists_the_organisation_s_tests(server):
    world, _ = await organisation_with(server)
    platform = server.platform()
    french = (await platform.data(CREATE_TEST, {"name": "Acme Languages French", "min": 50}))["createTest"]["test"][
        "id"
    ]
    rows = [sitting_row(world.organisation_id, french, 99, name="Jean Dupont", prefix="fr")]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        await page.select_option("#filter-test", label="Acme Languages French")
        await page.locator("#matching", has_text="1 sitting").wait_for()
        assert await row_names(page) == ["Jean Dupont"]
        assert await page.evaluate("location.search") == f"?test={french}"
        assert problems == []


async def test_an_admin_certifies_two_sittings_and_spends_two_credits(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        await enter_certify_mode(page)
        # when the admin ticks two sittings, from the keyboard
        await row(page, "Zoe Nguyen").locator(".select").focus()
        await page.keyboard.press("Space")
        await page.locator("#selection-summary", has_text="1 sitting selected").wait_for()
        await row(page, "ليلى حداد").locator(".select").check()
        summary = page.locator("#selection-summary", has_text="2 sittings selected")
        await summary.wait_for()
        assert (
            " ".join((await summary.text_content()).split())
            == "2 sittings selected · costs 2 credits · balance after: 8"
        )
        # (the ineligible have nothing to tick)
        assert await row(page, "Oluwaseun Adebayo").locator(".select").count() == 0
        # and presses Done: the confirmation says it cannot be undone
        await page.click("#done")
        await page.locator("#confirm").wait_for(state="visible")
        assert "cannot be undone" in await page.text_content("#confirm-text")
        await page.click("#confirm-certify")
        await page.locator("#outcome", has_text="2 certified; 2 credits spent.").wait_for()
        await page.locator("#balance", has_text="8").wait_for()
        assert await page.evaluate("document.activeElement.id") == "outcome"
        # then exactly those two are certified, for two credits
        assert await statuses(world) == {
            "Zoe Nguyen": CertificationStatus.IN_PROGRESS,
            "ليلى حداد": CertificationStatus.IN_PROGRESS,
            "יעל כהן": CertificationStatus.UNSELECTED,
            "Oluwaseun Adebayo": CertificationStatus.INELIGIBLE,
            "Marta Kowalska": CertificationStatus.INELIGIBLE,
        }
        assert await balance_and_spends(world) == (8, [-2])
        await row(page, "Zoe Nguyen").locator(".status[data-status=IN_PROGRESS]").wait_for()
        assert problems == []


async def test_all_matching_a_filter_selects_every_page_on_the_server(server):
    people = [(f"Candidate {n:02}", 75, "PASSED") for n in range(60)] + [(f"Other {n}", 65, "PASSED") for n in range(5)]
    world, _ = await organisation_with(server, people, credits=100)
    async with browser_page() as (page, problems):
        # given the filter "score from 70": 60 sittings, more than one page
        await open_dashboard(page, server, admin_token(server, world), "?min=70")
        await page.locator("#matching", has_text="60 sittings").wait_for()
        assert await page.locator("#sittings tbody tr").count() == 50
        await enter_certify_mode(page)
        # when the admin selects all matching
        await page.click("#select-matching")
        await page.locator("#selection-summary", has_text="60 sittings selected").wait_for()
        assert "balance after: 40" in await page.text_content("#selection-summary")
        # (the second page shows them selected too)
        await page.click("#next-page")
        await page.locator("#page-number", has_text="Page 2 of 2").wait_for()
        await page.wait_for_function("() => document.querySelectorAll('#sittings tbody tr').length === 10")
        assert await page.locator("#sittings tbody .select:checked").count() == 10
        # and confirms
        await page.click("#done")
        await page.click("#confirm-certify")
        await page.locator("#outcome", has_text="60 certified; 60 credits spent.").wait_for()
        # then every matching sitting is certified, and only those
        done = await statuses(world)
        assert sorted(name for name, status in done.items() if status == CertificationStatus.IN_PROGRESS) == [
            name for name, _, _ in people[:60]
        ]
        assert {done[name] for name, _, _ in people[60:]} == {CertificationStatus.UNSELECTED}
        assert await balance_and_spends(world) == (40, [-60])
        assert problems == []


async def test_a_double_click_or_a_lost_answer_certifies_once(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        await enter_certify_mode(page)
        await row(page, "Zoe Nguyen").locator(".select").check()
        await page.locator("#selection-summary", has_text="1 sitting selected").wait_for()
        keys: list[str] = []
        lost = {"done": False}

        async def lose_the_first_answer(route):
            body = json.loads(route.request.post_data or "{}")
            if "ConfirmCertification" not in body.get("query", ""):
                await route.continue_()
                return
            keys.append(body["variables"]["key"])
            if lost["done"]:
                await route.continue_()
                return
            # the server certifies, but the answer never reaches the page (a network error)
            lost["done"] = True
            await route.fetch()
            await route.abort("failed")

        await page.route("**/graphql", lose_the_first_answer)
        await page.click("#done")
        # when the admin double-clicks Certify and the answer is lost
        await page.dblclick("#confirm-certify")
        await page.locator("#confirm-error", has_text="Press Certify again to retry").wait_for()
        assert await balance_and_spends(world) == (9, [-1])
        # then, once the bar behind it has followed the server, the dialog still says what it was asked to do
        await page.locator("#selection-summary", has_text="0 sittings selected").wait_for()
        await page.locator("#balance", has_text="9").wait_for()
        assert await text_of(page, "#confirm-title") == "Certify 1 sitting?"
        assert await text_of(page, "#confirm-text") == (
            "This spends 1 credit (balance after: 9) and cannot be undone: each test taker is asked to claim"
            " their certificate."
        )
        assert await text_of(page, "#confirm-error") == (
            "The server could not be reached. Check your connection and try again."
            " Press Certify again to retry; nothing is certified twice."
        )
        await screenshot_to_look_at(page, "dashboard-lost-answer.png")
        # and retries
        await page.click("#confirm-certify")
        await page.locator("#outcome", has_text="1 certified; 1 credit spent.").wait_for()
        assert await text_of(page, "#outcome") == "1 certified; 1 credit spent."
        # then the one key went twice and the sitting was certified once, for one credit
        assert len(keys) == 2 and keys[0] == keys[1], keys
        assert await balance_and_spends(world) == (9, [-1])
        assert (await statuses(world))["Zoe Nguyen"] == CertificationStatus.IN_PROGRESS
        # (the aborted request is the one console error)
        assert [problem for problem in problems if "ERR_FAILED" not in problem] == []


async def test_the_balance_counts_and_rows_follow_another_client_live(server):
    world, ids = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        assert await page.text_content("#balance") == "10"
        # when someone else certifies two sittings over the API
        other = server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="colleague"))
        result = await other.data(CERTIFY, {"ids": [ids["Zoe Nguyen"], ids["יעל כהן"]], "key": "elsewhere"})
        assert result["certifySittings"]["errors"] == []
        # then the balance, the rows and the counts change without a reload
        await page.locator("#balance", has_text="8").wait_for()
        await row(page, "יעל כהן").locator(".status[data-status=IN_PROGRESS]").wait_for()
        await row(page, "Zoe Nguyen").locator(".status[data-status=IN_PROGRESS]").wait_for()
        await page.locator("#counts li[data-status=IN_PROGRESS] .count", has_text="2").wait_for()
        assert problems == []


async def test_an_analyst_reads_without_certify_controls(server):
    world, ids = await organisation_with(server)
    async with browser_page(PHONE) as (page, problems):
        await open_dashboard(page, server, analyst_token(server, world))
        assert "dashboard-analyst (analyst)" in await page.text_content("#who")
        assert await row_names(page) == [name for name, _, _ in PEOPLE]
        assert await page.locator("#certify-mode, #certify-bar, .select").count() == 0
        assert await axe_violations(page) == []
        # and the server refuses them anyway
        refused = await server.client(analyst_token(server, world)).post(SELECT, {"ids": [ids["Zoe Nguyen"]]})
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert problems == []


async def test_a_token_of_another_role_is_told_the_dashboard_is_for_the_organisation(server):
    async with browser_page() as (page, problems):
        await page.goto(f"{server.url}/dashboard#access_token={server.token(Role.SECURITY_REVIEWER)}")
        await page.locator("[role=alert]", has_text="The dashboard is for an organisation's admins").wait_for()
        assert await page.locator("#sittings").count() == 0
        assert problems == []


@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone")])
async def test_every_state_of_the_page_passes_axe_at_both_sizes(server, viewport, name):
    world, ids = await organisation_with(server)
    admin = server.client(admin_token(server, world))
    assert (await admin.data(CERTIFY, {"ids": [ids["Zoe Nguyen"]], "key": "k-1"}))["certifySittings"]["errors"] == []
    async with browser_page(viewport) as (page, problems):
        # the sign-in form
        await page.goto(f"{server.url}/dashboard")
        await page.locator("#token").wait_for()
        assert await axe_violations(page) == []
        # the table, then certify mode with a selection
        await open_dashboard(page, server, admin_token(server, world))
        assert await axe_violations(page) == []
        await enter_certify_mode(page)
        await row(page, "יעל כהן").locator(".select").check()
        await page.locator("#selection-summary", has_text="1 sitting selected").wait_for()
        await page.locator("#left-out", has_text="Of the 5 matching").wait_for()
        # sorted by score
        await page.click("#sort-score")
        await page.locator("#sittings th[aria-sort=descending] #sort-score").wait_for()
        await page.wait_for_function(
            "() => document.querySelector('#sittings tbody .name')?.textContent === 'ليلى حداد'"
        )
        assert await axe_violations(page) == []
        # (nothing wider than the screen: no sideways scrolling, even on a phone)
        assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        await page.evaluate("window.scrollTo(0, 0)")
        await screenshot(page, f"dashboard-{name}.png")
        # an impossible range, said beside its fields
        await page.fill("#filter-min", "90")
        await page.fill("#filter-max", "10")
        await page.keyboard.press("Enter")
        await page.locator("#score-problem", has_text="must not exceed").wait_for()
        assert await axe_violations(page) == []
        assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        await screenshot_to_look_at(page, f"dashboard-range-{name}.png")
        # the confirmation
        await page.click("#done")
        await page.locator("#confirm").wait_for(state="visible")
        assert await axe_violations(page) == []
        await page.keyboard.press("Escape")
        await page.locator("#confirm").wait_for(state="hidden")
        assert await page.evaluate("window.cspViolations") == []
        assert problems == [], json.dumps(problems)


async def test_a_certified_sitting_opens_its_certificate_which_the_admin_can_revoke(tmp_path, sqlite_url):
    async with rendering_server(tmp_path, sqlite_url) as server:
        # given a sitting whose certificate was claimed, approved and rendered
        world, (candidate,) = await certified_candidates(server, 1)
        issued = await issue(server, candidate, "ليلى حداد")
        async with browser_page() as (page, problems):
            await open_dashboard(page, server, admin_token(server, world))
            assert await counted(page, "CERTIFIED") == "1 certified"
            assert await counted(page, "REVOKED") == "0 revoked"
            # when the admin opens the certified sitting, from the keyboard
            opener = row(page, "Candidate 0").locator(".open-certificate")
            assert await opener.locator(".status").get_attribute("data-status") == "CERTIFIED"
            await opener.focus()
            await page.keyboard.press("Enter")
            await page.locator("#certificate").wait_for(state="visible")
            # then it shows the PNG, links the PDF, the PNG and the verification page
            await page.wait_for_function("() => document.getElementById('certificate-preview')?.naturalWidth > 0")
            assert (await page.get_attribute("#download-pdf", "href")).startswith("/files/")
            assert (await page.get_attribute("#download-png", "href")).startswith("/files/")
            assert await page.get_attribute("#verify-link", "href") == f"/verify/{issued['verificationCode']}"
            assert await axe_violations(page) == []
            # when they revoke it without a reason, then they are asked for one
            await page.click("#revoke")
            await page.locator("#revoke-error", has_text="Write the reason first").wait_for()
            assert await focused_id(page) == "revoke-reason"
            # with a reason, they are asked to confirm: it cannot be undone, and the reason is repeated
            await page.keyboard.type("Issued in error.")
            await page.keyboard.press("Enter")
            await page.locator("#revoke-confirm").wait_for()
            assert await text_of(page, "#revoke-confirm-title") == "Revoke this certificate?"
            assert await text_of(page, "#revoke-confirm-text") == (
                "This cannot be undone: its verification page will say it is revoked, and the holder reads your reason:"
            )
            assert await text_of(page, "#revoke-confirm-reason") == "Issued in error."
            # (the focus is on the way back, the harmless choice; Escape also goes back, the dialog stays open)
            await page.wait_for_function("() => document.activeElement?.id === 'revoke-back'")
            assert await axe_violations(page) == []
            await screenshot_to_look_at(page, "dashboard-revoke-confirm.png")
            await page.keyboard.press("Escape")
            await page.locator("#revoke-form").wait_for()
            assert await page.locator("#certificate").is_visible()
            assert await page.input_value("#revoke-reason") == "Issued in error."
            assert await focused_id(page) == "revoke"
            assert (await Certificate.get(id=candidate.certificate_pk)).status == CertificateStatus.ISSUED
            # and confirming from the keyboard revokes it
            await page.keyboard.press("Enter")
            await page.locator("#revoke-confirm").wait_for()
            await page.wait_for_function("() => document.activeElement?.id === 'revoke-back'")
            await page.keyboard.press("Shift+Tab")
            assert await focused_id(page) == "revoke-confirm-button"
            await page.keyboard.press("Enter")
            await page.locator("#revoked", has_text="Issued in error.").wait_for()
            certificate = await Certificate.get(id=candidate.certificate_pk)
            assert (certificate.status, certificate.revocation_reason) == (
                CertificateStatus.REVOKED,
                "Issued in error.",
            )
            # the dialog says when and why, with a space after the colon, and takes the focus there
            assert await text_of(page, "#revoked") == f"{utc_minute(certificate.revoked_at)}: Issued in error."
            assert await focused_id(page) == "revoked"
            assert await page.locator("#revoke, #revoke-confirm").count() == 0
            await page.keyboard.press("Escape")
            await page.locator("#certificate").wait_for(state="hidden")
            # and the row says so, live, and the overview counts it as revoked, not as certified
            await page.locator(".open-certificate .status.revoked").wait_for()
            await page.locator("#counts li[data-status=REVOKED] .count", has_text="1").wait_for()
            assert await counted(page, "REVOKED") == "1 revoked"
            assert await counted(page, "CERTIFIED") == "0 certified"
            assert await page.get_attribute("#counts li[data-status=REVOKED]", "title") == (
                "Certificate revoked: it no longer verifies; its row says when and why"
            )
            assert await axe_violations(page) == []
            await screenshot_to_look_at(page, "dashboard-revoked-count.png")
            assert (
                await opener.locator(".status").get_attribute("title")
                == "Certificate revoked; open it to see when and why"
            )
            assert problems == []


def documents_sent(page: Page) -> list[str]:
    """Every GraphQL document and variables the page sends from now on, over HTTP or the websocket, as text."""
    sent: list[str] = []
    page.on("request", lambda request: request.url.endswith("/graphql") and sent.append(request.post_data or ""))
    page.on("websocket", lambda socket: socket.on("framesent", lambda frame: sent.append(str(frame))))
    return sent


async def test_an_impossible_score_range_is_said_in_words_and_never_sent(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world), "?max=85")
        await page.locator("#matching", has_text="4 sittings").wait_for()
        sent = documents_sent(page)
        # when the admin types a lowest score above the highest
        await page.fill("#filter-min", "90")
        await page.keyboard.press("Tab")
        # then the filter says so beside the fields, which keep what was typed
        await page.locator("#score-problem", has_text="The lowest score").wait_for()
        assert await text_of(page, "#score-problem") == "The lowest score must not exceed the highest score."
        assert await page.get_attribute("#filter-min", "aria-invalid") == "true"
        # (a reversed range is wrong at both ends: both fields are marked)
        assert await page.get_attribute("#filter-max", "aria-invalid") == "true"
        assert await page.get_attribute("#filter-min", "aria-describedby") == "score-problem"
        assert (await page.input_value("#filter-min"), await page.input_value("#filter-max")) == ("90", "85")
        # and the table keeps the last good rows; nothing is asked of the server with that range
        await page.wait_for_timeout(500)
        assert await text_of(page, "#matching") == "4 sittings"
        assert await row_names(page) == ["Zoe Nguyen", "יעל כהן", "Oluwaseun Adebayo", "Marta Kowalska"]
        assert await page.evaluate("location.search") == "?max=85"
        assert [document for document in sent if "scoreMin" in document] == []
        assert await text_of(page, "#dashboard-error") == ""
        # when they put the highest score right, from the keyboard, then both ends apply at once
        await page.focus("#filter-max")
        await page.keyboard.press("Control+A")
        await page.keyboard.type("95")
        assert await text_of(page, "#score-problem") == ""
        await page.keyboard.press("Enter")
        await page.locator("#matching", has_text="1 sitting").wait_for()
        assert await row_names(page) == ["ليلى حداد"]
        assert await page.evaluate("location.search") == "?min=90&max=95"
        assert problems == []


async def test_a_score_typed_while_the_search_waits_is_kept(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        # when the admin types a search and, before it applies, a highest score ending with Enter
        await page.focus("#filter-q")
        await page.keyboard.type("n")
        await page.focus("#filter-max")
        await page.keyboard.type("80")
        await page.keyboard.press("Enter")
        # then both hold, in the fields, the URL and the rows (the search matches the e-mails too)
        await page.locator("#matching", has_text="3 sittings").wait_for()
        await page.wait_for_timeout(500)
        assert await page.evaluate("location.search") == "?max=80&q=n"
        assert await row_names(page) == ["Zoe Nguyen", "יעל כהן", "Oluwaseun Adebayo"]
        assert (await page.input_value("#filter-q"), await page.input_value("#filter-max")) == ("n", "80")
        assert problems == []


async def test_a_link_with_an_impossible_range_says_so_instead_of_loading(server):
    world, _ = await organisation_with(server)
    async with browser_page(PHONE) as (page, problems):
        await page.goto(
            f"{server.url}/dashboard?min=90&max=10&from=2026-10-02&to=2026-10-01#access_token={admin_token(server, world)}"
        )
        await page.locator("#matching", has_text="No sittings listed").wait_for()
        assert await text_of(page, "#matching") == "No sittings listed: correct the range above"
        assert await text_of(page, "#score-problem") == "The lowest score must not exceed the highest score."
        assert await text_of(page, "#dates-problem") == "The first day must not be after the last day."
        assert await page.locator("#sittings").count() == 0
        assert await axe_violations(page) == []
        await screenshot_to_look_at(page, "dashboard-impossible-range-phone.png")
        assert problems == []


async def test_a_link_the_server_refuses_says_so_and_stops_asking(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        sent = documents_sent(page)
        # given a link naming a test by something that is not a test ID
        await page.goto(f"{server.url}/dashboard?test=not-a-test#access_token={admin_token(server, world)}")
        # then the page says the server's refusal in words instead of loading forever
        await page.locator("#matching", has_text="could not be loaded").wait_for()
        assert await text_of(page, "#matching") == "The sittings could not be loaded"
        assert await text_of(page, "#dashboard-error") == (
            "The sittings could not be loaded: filter.testId is not a Test ID"
        )
        assert await text_of(page, "#live-status") == "Not live"
        # and does not ask again and again
        await page.wait_for_timeout(3000)
        assert len([document for document in sent if "liveSittings" in document]) == 1
        assert problems == []


async def test_a_date_in_the_link_that_is_not_a_day_is_said_and_never_sent(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        sent = documents_sent(page)
        # given a link whose first day is 30 February
        await page.goto(f"{server.url}/dashboard?from=2026-02-30#access_token={admin_token(server, world)}")
        # then the page says so beside the dates, lists nothing and asks the server nothing with it
        await page.locator("#dates-problem", has_text="is not a date").wait_for()
        assert await text_of(page, "#dates-problem") == "The first day, 2026-02-30, is not a date."
        assert await text_of(page, "#matching") == "No sittings listed: correct the range above"
        # (only the first day's field is marked: the last day is empty and nothing is wrong with it)
        assert await page.get_attribute("#filter-from", "aria-invalid") == "true"
        assert await page.get_attribute("#filter-to", "aria-invalid") == "false"
        assert await axe_violations(page) == []
        await screenshot_to_look_at(page, "dashboard-not-a-date.png")
        await page.wait_for_timeout(3000)
        assert [document for document in sent if "liveSittings" in document or "2026-02-30" in document] == []
        assert await text_of(page, "#dashboard-error") == ""
        # and a deep page of a month that does not exist neither asks nor shows the server's words
        await page.goto(f"{server.url}/dashboard?page=99999&from=2026-13-45")
        await page.locator("#dates-problem", has_text="2026-13-45").wait_for()
        assert await text_of(page, "#dates-problem") == "The first day, 2026-13-45, is not a date."
        assert await text_of(page, "#matching") == "No sittings listed: correct the range above"
        await page.wait_for_timeout(1000)
        assert [document for document in sent if re.search("2026-13-45|DashboardSkip|DashboardPage", document)] == []
        assert await text_of(page, "#dashboard-error") == ""
        assert problems == []


async def test_a_live_query_the_server_refuses_is_not_asked_again(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        sent = documents_sent(page)
        received: list[str] = []
        page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: received.append(str(frame))))
        # when a subscription the server refuses outright (a value it cannot read) is asked
        refused = await page.evaluate(
            """() => import("/static/app/live.js").then(({subscribe}) => new Promise((resolve) => subscribe(
                'subscription Refused { liveSittings(filter: {takenAfter: "2026-02-30T00:00:00Z"}) { totalCount } }',
                {onData: () => {}, onError: resolve})))"""
        )
        # then its error is handed over, and it is not asked again
        assert refused == (
            "Expected value of type 'DateTime', but encountered error 'DateTime '2026-02-30T00:00:00Z' is not"
            ' ISO 8601\'; found: "2026-02-30T00:00:00Z".'
        )
        # (the server's answer is an ``error`` message, which before ended in a new subscription every 2 s)
        assert [json.loads(frame)["type"] for frame in received if '"id"' in frame] == ["error"]
        await page.wait_for_timeout(5000)
        assert len([frame for frame in sent if "subscription Refused" in frame]) == 1
        assert problems == []


async def test_select_all_says_what_the_credits_cover_and_the_shortfall_offers_the_way_back(server):
    world, _ = await organisation_with(server, credits=2)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        await enter_certify_mode(page)
        # the button says, before it is pressed, that the credits cover fewer than it selects
        button = page.locator("#select-matching", has_text="Select all 3 matching")
        await button.wait_for()
        assert await text_of(page, "#select-matching") == "Select all 3 matching"
        assert await text_of(page, "#credits-cover") == "Your 2 credits cover 2 of them."
        # when the admin selects them all anyway
        await button.click()
        await page.locator("#selection-summary", has_text="3 sittings selected").wait_for()
        # then the shortfall is said, with the one press that undoes it right there
        assert await text_of(page, "#short-text") == "Not enough credits: unselect 1 sitting or buy more."
        assert await text_of(page, "#clear-short") == "Clear selection"
        assert await page.is_disabled("#done")
        assert await axe_violations(page) == []
        await screenshot_to_look_at(page, "dashboard-short-of-credits.png")
        await page.click("#clear-short")
        await page.locator("#selection-summary", has_text="0 sittings selected").wait_for()
        assert await page.locator("#short").count() == 0
        assert await text_of(page, "#select-matching") == "Select all 3 matching"
        assert await text_of(page, "#credits-cover") == "Your 2 credits cover 2 of them."
        # (one sitting ticked leaves one credit, which covers one)
        await row(page, "Zoe Nguyen").locator(".select").check()
        await page.locator("#select-matching", has_text="Select all 2 matching").wait_for()
        await page.locator("#credits-cover", has_text="Your 1 credit covers 1 of them.").wait_for()
        assert await text_of(page, "#select-matching") == "Select all 2 matching"
        assert problems == []


async def test_select_all_matching_counts_only_what_it_would_select(server):
    world, ids = await organisation_with(server)
    admin = server.client(admin_token(server, world))
    # given one sitting already in process: of the five, two can be selected
    assert (await admin.data(CERTIFY, {"ids": [ids["Zoe Nguyen"]], "key": "k-1"}))["certifySittings"]["errors"] == []
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        await enter_certify_mode(page)
        button = page.locator("#select-matching", has_text="Select all 2 matching")
        await button.wait_for()
        assert await text_of(page, "#left-out") == "Of the 5 matching, 1 is in process and 2 cannot be certified."
        # (the nine credits cover both: nothing more is said about them)
        assert await page.locator("#credits-cover").count() == 0
        # when the admin selects all matching
        await button.click()
        # then the bar counts, costs and subtracts exactly those two
        await page.locator("#selection-summary", has_text="2 sittings selected").wait_for()
        assert await text_of(page, "#selection-summary") == "2 sittings selected · costs 2 credits · balance after: 7"
        assert await text_of(page, "#selection-outcome") == "2 sittings selected."
        # (nothing is left to select: no button offers it)
        await page.locator("#nothing-left").wait_for()
        assert await text_of(page, "#nothing-left") == "Nothing left to select"
        assert await page.locator("#select-matching").count() == 0
        assert await text_of(page, "#left-out") == (
            "Of the 5 matching, 2 are already selected, 1 is in process and 2 cannot be certified."
        )
        # and confirming certifies the two, for two credits
        await page.click("#done")
        assert await text_of(page, "#confirm-title") == "Certify 2 sittings?"
        await page.click("#confirm-certify")
        await page.locator("#outcome", has_text="2 certified; 2 credits spent.").wait_for()
        assert await balance_and_spends(world) == (7, [-2, -1])
        # (the outcome of "select all" is not left behind)
        assert await text_of(page, "#selection-outcome") == ""
        assert problems == []


async def test_a_reload_with_sittings_selected_opens_in_certify_mode(server):
    world, ids = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        # given two sittings selected (the selection lives on the server)
        await enter_certify_mode(page)
        await row(page, "Zoe Nguyen").locator(".select").check()
        await row(page, "ليلى حداد").locator(".select").check()
        await page.locator("#selection-summary", has_text="2 sittings selected").wait_for()
        # when the admin reloads the page
        await page.reload()
        # then it opens in certify mode, the bar showing them, with the way to clear them
        await page.locator("#certify-bar").wait_for()
        await page.locator("#selection-summary", has_text="2 sittings selected").wait_for()
        assert await text_of(page, "#selection-summary") == "2 sittings selected · costs 2 credits · balance after: 8"
        assert await page.is_enabled("#clear-selection")
        assert await page.locator("#certify-mode").count() == 0
        # (and once cleared and left, a reload opens out of certify mode)
        await page.click("#clear-selection")
        await page.locator("#selection-summary", has_text="0 sittings selected").wait_for()
        await page.click("#leave-certify")
        await page.reload()
        await page.locator("#live-status", has_text="Live").wait_for()
        await page.locator("#certify-mode").wait_for()
        await page.wait_for_timeout(500)
        assert await page.locator("#certify-bar").count() == 0
        assert problems == []
    # an analyst, who cannot certify, reads the same page out of certify mode
    admin = server.client(admin_token(server, world))
    assert (await admin.data(SELECT, {"ids": [ids["Zoe Nguyen"]]}))["selectSittings"]["errors"] == []
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, analyst_token(server, world))
        assert await counted(page, "SELECTED") == "1 selected"
        await page.wait_for_timeout(500)
        assert await page.locator("#certify-bar").count() == 0
        assert problems == []


async def test_selecting_all_not_selected_says_where_they_went(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world), "?status=UNSELECTED")
        await page.locator("#matching", has_text="3 sittings").wait_for()
        await enter_certify_mode(page)
        # when the admin selects all three "not selected"
        await page.locator("#select-matching", has_text="Select all 3 matching").click()
        # then the rows leave the filter, and the page says where they are now
        await page.locator("#no-sittings").wait_for()
        await page.locator("#selection-summary", has_text="3 sittings selected").wait_for()
        assert await text_of(page, "#selection-outcome") == "3 sittings selected; they now show under “Selected”."
        assert await text_of(page, "#selection-summary") == "3 sittings selected · costs 3 credits · balance after: 7"
        assert await text_of(page, "#dashboard-error") == ""
        assert await axe_violations(page) == []
        await screenshot_to_look_at(page, "dashboard-selected-elsewhere.png")
        # and one press shows them
        await page.click("#show-selected")
        await page.locator("#matching", has_text="3 sittings").wait_for()
        assert await page.evaluate("location.search") == "?status=SELECTED"
        assert await row_names(page) == ["Zoe Nguyen", "ليلى حداد", "יעל כהן"]
        assert await page.get_by_label("Selected", exact=True).is_checked()
        # (the message was about the view they left: it goes)
        assert await text_of(page, "#selection-outcome") == ""
        assert problems == []


async def test_ticking_one_row_out_of_the_filter_says_where_it_went(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world), "?status=UNSELECTED")
        await page.locator("#matching", has_text="3 sittings").wait_for()
        await enter_certify_mode(page)
        # when the admin ticks one "not selected" sitting (a click: check() reads the box again after
        # the click, and the row may have left the filtered table by then, which is what is tested)
        await row(page, "ليلى حداد").locator("input[type=checkbox]").click()
        # then it leaves the filtered table, and the page says where it is now
        await page.locator("#selection-outcome", has_text="1 sitting selected").wait_for()
        assert await text_of(page, "#selection-outcome") == "1 sitting selected; it now shows under “Selected”."
        await page.locator("#matching", has_text="2 sittings").wait_for()
        # and under "Selected", unticking it sends it back, said the same way
        await page.click("#show-selected")
        await page.locator("#matching", has_text="1 sitting").wait_for()
        assert await page.evaluate("location.search") == "?status=SELECTED"
        await row(page, "ليلى حداد").locator("input[type=checkbox]").click()
        await page.locator("#selection-outcome", has_text="1 sitting unselected").wait_for()
        assert await text_of(page, "#selection-outcome") == "1 sitting unselected; it now shows under “Not selected”."
        assert await text_of(page, "#show-selected") == "Show the sittings not selected"
        assert problems == []


async def test_not_selected_is_blank_but_named_on_hover_and_for_screen_readers(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        status = row(page, "Zoe Nguyen").locator(".state .status")
        # the cell shows no word
        assert await status.get_attribute("data-status") == "UNSELECTED"
        label = status.locator(".label")
        assert await label.text_content() == "Not selected"
        assert await label.evaluate("element => element.getBoundingClientRect().width") <= 1
        # its meaning is on hover and read out
        assert await status.get_attribute("title") == "Not selected: eligible for certification"
        await status.locator(".icon").hover()
        assert await row(page, "Zoe Nguyen").locator(".state").aria_snapshot() == (
            "- 'cell \"Not selected: eligible for certification\"'"
        )
        assert problems == []


async def test_the_page_is_in_the_url_and_a_filter_goes_back_to_the_first(server):
    people = [(f"Candidate {n:03}", 70, "PASSED") for n in range(120)]
    world, _ = await organisation_with(server, people, credits=0)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        # when the admin moves to the second page
        await page.click("#next-page")
        await page.locator("#page-number", has_text="Page 2 of 3").wait_for()
        await page.locator("#sittings .name", has_text="Candidate 050").first.wait_for()
        assert await page.evaluate("location.search") == "?page=2"
        # then a reload shows the same page
        await page.reload()
        await page.locator("#page-number", has_text="Page 2 of 3").wait_for()
        await page.locator("#sittings .name", has_text="Candidate 050").first.wait_for()
        assert (await row_names(page))[0] == "Candidate 050"
        # and the third, then Back
        await page.click("#next-page")
        await page.locator("#sittings .name", has_text="Candidate 100").first.wait_for()
        assert (await page.evaluate("location.search"), await text_of(page, "#page-number")) == (
            "?page=3",
            "Page 3 of 3",
        )
        assert len(await row_names(page)) == 20
        await page.go_back()
        await page.locator("#sittings .name", has_text="Candidate 050").first.wait_for()
        assert await text_of(page, "#page-number") == "Page 2 of 3"
        # and Previous
        await page.click("#previous-page")
        await page.locator("#sittings .name", has_text="Candidate 000").first.wait_for()
        assert (await page.evaluate("location.search"), await text_of(page, "#page-number")) == ("", "Page 1 of 3")
        # a page past the last opens the last
        await page.goto(f"{server.url}/dashboard?page=9")
        await page.locator("#sittings .name", has_text="Candidate 100").first.wait_for()
        assert (await page.evaluate("location.search"), await text_of(page, "#page-number")) == (
            "?page=3",
            "Page 3 of 3",
        )
        # and a new filter goes back to the first page
        await page.fill("#filter-q", "Candidate 1")
        await page.wait_for_function("() => location.search === '?q=Candidate+1'")
        await page.locator("#matching", has_text=re.compile("^20 sittings$")).wait_for()
        assert (await page.evaluate("location.search"), await text_of(page, "#page-number")) == (
            "?q=Candidate+1",
            "Page 1 of 1",
        )
        assert (await row_names(page))[0] == "Candidate 100"
        assert problems == []


async def test_a_deep_page_from_the_link_opens_in_a_bounded_number_of_requests(server):
    people = [(f"Candidate {n:04}", 70, "PASSED") for n in range(1210)]
    world, _ = await organisation_with(server, people, credits=0)
    async with browser_page() as (page, problems):
        sent = documents_sent(page)
        # given a link to page 25 of 25 (the 1,201st to the 1,210th sitting)
        await open_dashboard(page, server, admin_token(server, world), "?page=25")
        await page.locator("#sittings .name", has_text="Candidate 1200").first.wait_for()
        # then it shows those rows, having asked one cursor and one page, not every cursor before them
        assert await row_names(page) == [f"Candidate {n:04}" for n in range(1200, 1210)]
        assert await text_of(page, "#page-number") == "Page 25 of 25"
        asked = [re.search("DashboardSkip|DashboardPage", document) for document in sent]
        asked = [found.group() for found in asked if found]
        # (the page is read again when the live first page arrives: at most twice)
        assert asked[:2] == ["DashboardSkip", "DashboardPage"] and asked[2:] in ([], ["DashboardPage"]), asked
        # and a page past the last opens the last in one request more
        sent.clear()
        await page.goto(f"{server.url}/dashboard?page=99999")
        await page.wait_for_function("() => location.search === '?page=25'")
        await page.locator("#sittings .name", has_text="Candidate 1200").first.wait_for()
        assert await text_of(page, "#page-number") == "Page 25 of 25"
        asked = [re.search("DashboardSkip|DashboardPage", document) for document in sent]
        asked = [found.group() for found in asked if found]
        assert asked[:3] == ["DashboardSkip", "DashboardSkip", "DashboardPage"] and asked[3:] in ([], ["DashboardPage"])
        # and Next from the page before still follows its cursor
        await page.click("#previous-page")
        await page.locator("#sittings .name", has_text="Candidate 1150").first.wait_for()
        await page.click("#next-page")
        await page.locator("#sittings .name", has_text="Candidate 1200").first.wait_for()
        assert problems == []


async def sort_state(page: Page) -> dict[str, str | None]:
    headings = page.locator("#sittings thead th.sortable")
    return dict(
        await headings.evaluate_all(
            "items => items.map(item => [item.textContent.trim(), item.getAttribute('aria-sort')])"
        )
    )


async def test_the_columns_sort_the_table_from_the_keyboard_and_in_the_url(server):
    world, _ = await organisation_with(server)
    async with browser_page() as (page, problems):
        await open_dashboard(page, server, admin_token(server, world))
        assert await sort_state(page) == {"Test taker↕": None, "Taken at▼": "descending", "Score↕": None}
        # when the admin sorts by score, from the keyboard
        await page.focus("#sort-score")
        assert await page.get_attribute("#sort-score", "title") == "Sort by score, highest first"
        await page.keyboard.press("Enter")
        await page.locator("#sittings th[aria-sort=descending] #sort-score").wait_for()
        await page.wait_for_function(
            "() => document.querySelector('#sittings tbody .name')?.textContent === 'ليلى حداد'"
        )
        # then the rows are highest first, the URL says so, and the heading keeps the focus
        assert await row_names(page) == ["ليلى حداد", "Marta Kowalska", "Zoe Nguyen", "יעל כהן", "Oluwaseun Adebayo"]
        assert await page.evaluate("location.search") == "?sort=-score"
        assert await sort_state(page) == {"Test taker↕": None, "Taken at↕": None, "Score▼": "descending"}
        assert await focused_id(page) == "sort-score"
        # and again: lowest first
        await page.keyboard.press("Space")
        await page.locator("#sittings th[aria-sort=ascending] #sort-score").wait_for()
        await page.wait_for_function(
            "() => document.querySelector('#sittings tbody .name')?.textContent === 'Oluwaseun Adebayo'"
        )
        assert await page.evaluate("location.search") == "?sort=score"
        # by name, A to Z, kept by a reload
        await page.click("#sort-name")
        await page.wait_for_function(
            "() => document.querySelector('#sittings tbody .name')?.textContent === 'Marta Kowalska'"
        )
        assert await page.evaluate("location.search") == "?sort=name"
        await page.reload()
        await page.locator("#sittings th[aria-sort=ascending] #sort-name").wait_for()
        await page.wait_for_function("() => document.querySelectorAll('#sittings tbody .name').length === 5")
        assert await row_names(page) == ["Marta Kowalska", "Oluwaseun Adebayo", "Zoe Nguyen", "יעל כהן", "ليلى حداد"]
        # (Back returns to the previous order)
        await page.go_back()
        await page.locator("#sittings th[aria-sort=ascending] #sort-score").wait_for()
        assert problems == []


async def test_a_sorted_filtered_second_page_is_one_link(server):
    people = [(f"Candidate {n:02}", 40 + n, "PASSED") for n in range(60)]
    world, _ = await organisation_with(server, people, credits=0)
    async with browser_page(PHONE) as (page, problems):
        # given a link to the second page of the scores from 45, lowest first
        await open_dashboard(page, server, admin_token(server, world), "?min=45&sort=score&page=2")
        await page.locator("#page-number", has_text="Page 2 of 2").wait_for()
        await page.locator("#sittings .name", has_text="Candidate 55").first.wait_for()
        # then it shows the 51st to the 55th lowest scores of those
        assert await row_names(page) == [f"Candidate {n:02}" for n in range(55, 60)]
        # and on a phone the sorting headings are buttons in view
        assert await page.locator("#sort-score").is_visible()
        assert await axe_violations(page) == []
        await screenshot_to_look_at(page, "dashboard-sorted-phone.png")
        assert problems == []
