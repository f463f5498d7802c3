"""Signing in on every page that uses ``session.js`` (the review desk, the dashboard, the claim page, the downloads
page, My certificates), in real Chromium against the real server: a token the page cannot read (garbage in the
link's fragment or typed into the form, a role nobody knows, one already expired) is never shown as a session
but sends the person back to the form saying what is wrong, in words; a valid token of a role the page is not
for says so, with a way to sign in with another token and a link to the role's own page.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from playwright.async_api import Page
from test_review_desk import axe_violations, browser_page

from gql.ids import to_global_id
from models.enums import Role

PAGES = [
    "/review",
    "/dashboard",
    f"/claim/{to_global_id('Sitting', 1)}",
    f"/certificates/{to_global_id('Certificate', 1)}",
    "/me",
]
NOT_A_TOKEN = (
    "This token is not valid: it is not a sign-in token. Check that you copied all of it, or ask for a new one."
)
UNKNOWN_ROLE = "This token is not valid: it gives no role this service knows. Ask for a new one."
EXPIRED = "This token expired on 1 January 2026, 00:00 UTC. Sign in with a new one."
HOLDER_ONLY = "This page is for the person who took the test: sign in with the account you took it with."

pytestmark = pytest.mark.chromium


def unsigned(claims: dict) -> str:
    """A token of the JWT's shape with ``claims`` and a signature the server would refuse."""

    def segment(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'HS256', 'typ': 'JWT'})}.{segment(claims)}.c2lnbmF0dXJl"


async def refused_on_the_form(page: Page, message: str) -> None:
    """The sign-in form shows ``message`` as an error, and nobody is signed in."""
    said = page.locator("#sign-in-message")
    await said.wait_for()
    assert (await said.text_content(), await said.get_attribute("class")) == (message, "notice error")
    assert await page.locator("#who").count() == 0
    assert "unknown role" not in await page.inner_text("body")
    assert await page.evaluate("sessionStorage.getItem('certify.token')") is None
    assert await page.evaluate("location.hash") == ""


async def test_a_token_the_page_cannot_read_goes_back_to_the_form_saying_why_on_every_page(sqlite_server):
    server = sqlite_server
    wizard = unsigned({"sub": "merlin", "role": "wizard", "exp": int(time.time()) + 3600})
    expired = unsigned({"sub": "old", "role": "analyst", "exp": 1767225600})
    async with browser_page() as (page, problems):
        for path in PAGES:
            # when the link's fragment carries garbage, then the form says it is not a token
            await page.goto(f"{server.url}{path}#access_token=garbage")
            await refused_on_the_form(page, NOT_A_TOKEN)
            # when a malformed entry is typed into the form, the same, and the field is ready for another
            await page.fill("#token", "not-a-token")
            await page.keyboard.press("Enter")
            await page.wait_for_function("() => document.getElementById('token')?.value === ''")
            await refused_on_the_form(page, NOT_A_TOKEN)
            assert await page.evaluate("document.activeElement.id") == "token"
            # when a token names a role nobody knows, or has expired, then the form says so
            await page.fill("#token", wizard)
            await page.keyboard.press("Enter")
            await page.locator("#sign-in-message", has_text=UNKNOWN_ROLE).wait_for()
            await refused_on_the_form(page, UNKNOWN_ROLE)
            await page.goto(f"{server.url}{path}#access_token={expired}")
            await refused_on_the_form(page, EXPIRED)
            assert await axe_violations(page) == [], path
        # a valid token after all that signs in
        await page.fill("#token", server.token(Role.SECURITY_REVIEWER, subject="desk-reviewer"))
        await page.keyboard.press("Enter")
        await page.locator("#who", has_text="desk-reviewer (security reviewer)").wait_for()
        assert problems == []


@pytest.mark.parametrize(
    ("path", "role", "message", "own"),
    [
        (
            "/review",
            Role.TEST_TAKER,
            "The review desk is for the security team: sign in with a security reviewer's token to use it.",
            ("Go to your certificates", "/me"),
        ),
        (PAGES[2], Role.SECURITY_REVIEWER, HOLDER_ONLY, ("Go to the review desk", "/review")),
        (PAGES[3], Role.ORG_ADMIN, HOLDER_ONLY, ("Go to the dashboard", "/dashboard")),
        ("/me", Role.ANALYST, HOLDER_ONLY, ("Go to the dashboard", "/dashboard")),
    ],
)
async def test_a_token_of_a_role_the_page_is_not_for_offers_another_sign_in_and_its_own_page(
    sqlite_server, path, role, message, own
):
    server = sqlite_server
    token = server.token(role, org=1, test_taker=1) if role is not Role.SECURITY_REVIEWER else server.token(role)
    async with browser_page() as (page, problems):
        await page.goto(f"{server.url}{path}#access_token={token}")
        said = page.locator("#message[role=alert]")
        await said.wait_for()
        name = {
            Role.TEST_TAKER: "a test taker",
            Role.SECURITY_REVIEWER: "a security reviewer",
            Role.ORG_ADMIN: "an organisation admin",
            Role.ANALYST: "an analyst",
        }[role]
        assert await said.text_content() == f"You are signed in as {name}. {message}"
        link = page.locator("#own-page")
        assert (await link.text_content(), await link.get_attribute("href")) == own
        assert await axe_violations(page) == []
        # when they sign in with another token, the form asks for it, with nothing kept
        await page.click("#sign-in-again")
        await page.locator("#sign-in-message", has_text="Sign in with the token for this page.").wait_for()
        assert await page.get_attribute("#sign-in-message", "class") == "notice"
        assert await page.evaluate("sessionStorage.getItem('certify.token')") is None
        assert problems == []


async def test_the_dashboard_tells_a_test_taker_it_is_not_theirs(sqlite_server):
    server = sqlite_server
    async with browser_page() as (page, problems):
        await page.goto(f"{server.url}/dashboard#access_token={server.token(Role.TEST_TAKER, test_taker=1)}")
        await page.locator("#message").wait_for()
        assert await page.text_content("#message") == (
            "You are signed in as a test taker. The dashboard is for an organisation's admins and analysts: "
            "sign in with your organisation's token to use it."
        )
        assert "test taker" in await page.text_content("#who")
        assert await page.get_attribute("#own-page", "href") == "/me"
        await page.click("#sign-in-again")
        await page.locator("#sign-in-message", has_text="Sign in with the token for this page.").wait_for()
        assert problems == []


NOT_OURS = "This token is not valid: it was not issued by this service. Ask for a new one."
CUT_OFF = (
    "This token is not valid: it may be cut off or changed. Check that you copied all of it, or ask for a new one."
)
ROLE_OF_PAGE = {
    "/review": {"role": "security_reviewer"},
    "/dashboard": {"role": "org_admin", "org": to_global_id("Organisation", 1)},
    "/me": {"role": "test_taker", "test_taker": to_global_id("TestTaker", 1)},
}


async def test_a_token_the_server_refuses_is_said_in_peoples_words_on_every_page(sqlite_server):
    server = sqlite_server
    async with browser_page() as (page, problems):
        for path in PAGES:
            claims = {"sub": "someone", "exp": int(time.time()) + 3600, **ROLE_OF_PAGE.get(path, ROLE_OF_PAGE["/me"])}
            forged = unsigned(claims)
            cut = f"{forged.rsplit('.', 1)[0]}.!!"
            for token, message in ((forged, NOT_OURS), (cut, CUT_OFF)):
                # when the page signs in with a token it can read but the server refuses
                await page.goto(f"{server.url}{path}#access_token={token}")
                # then the form says why in words, as a sentence, never the server's own text; nobody was signed in
                await page.locator("#sign-in-message", has_text="This token is not valid").wait_for()
                await page.wait_for_function(
                    "text => document.getElementById('sign-in-message')?.textContent === text", arg=message
                )
                await refused_on_the_form(page, message)
                body = await page.inner_text("body")
                assert "signature" not in body and "malformed" not in body, path
        assert problems == []


async def test_a_cut_off_token_the_server_never_accepted_is_not_valid_never_a_sign_out(sqlite_server):
    server = sqlite_server
    cut = server.token(Role.ORG_ADMIN, org=1)[:-20]
    async with browser_page() as (page, problems):
        # when a valid admin token missing its last 20 characters opens the dashboard
        await page.goto(f"{server.url}/dashboard#access_token={cut}")
        # then the form says the token is not valid, as for garbage: no session had ended
        await page.locator("#sign-in-message", has_text="This token is not valid").wait_for()
        said = await page.text_content("#sign-in-message")
        # (which words depends on where the cut falls: a signature too short to check, or one that is wrong)
        assert said in (NOT_OURS, CUT_OFF)
        await refused_on_the_form(page, said)
        assert "You were signed out" not in await page.inner_text("body")
        assert problems == []


async def test_the_test_takers_form_says_where_their_sign_in_link_is(sqlite_server, tmp_path):
    server = sqlite_server
    async with browser_page() as (page, problems):
        for path in PAGES[2:]:
            # when a test taker opens their page without a token
            await page.goto(f"{server.url}{path}")
            # then the form says the link in their e-mail signs them in; the developers' hint comes last, smaller
            assert await page.text_content("#token-help") == (
                "The e-mail we sent you about your result has a link that signs you in: open this page from it. "
                "If you were given an access token instead, paste it here."
            )
            assert await page.inner_text("#dev-hint") == (
                "For developers: make run prints a sign-in link per role, and certify token makes a token."
            )
            sizes = await page.evaluate(
                """() => ['token-help', 'dev-hint'].map(id =>
                    parseFloat(getComputedStyle(document.getElementById(id)).fontSize))"""
            )
            assert sizes[1] < sizes[0]
            assert await page.evaluate("document.querySelector('#sign-in > :last-child').id") == "dev-hint"
            assert await axe_violations(page) == [], path
        await page.screenshot(path=str(tmp_path / "sign-in.png"))
        # and an organisation's staff are told their organisation's sign-in gives them a token, while the review
        # desk asks for its own
        await page.goto(f"{server.url}/dashboard")
        assert await page.text_content("#token-help") == "Your organisation's sign-in gives you one."
        await page.goto(f"{server.url}/review")
        assert await page.text_content("#token-help") == "Sign in with your security reviewer token."
        assert problems == []
