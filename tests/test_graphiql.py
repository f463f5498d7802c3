"""GraphiQL is served whole by this server (no CDN) and runs a live query in a real browser."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from urllib.parse import quote, urlencode, urlsplit

import pytest
from builders import build_world
from playwright.async_api import async_playwright
from support import admin_of, sitting_nodes

from renderer import find_chromium

ASSET = re.compile(r'(?:src|href)="(/static/graphiql/[^"]+)"\s+integrity="(sha384-[^"]+)"')


async def test_the_graphiql_page_loads_every_asset_from_this_server_unchanged(sqlite_server):
    page = await sqlite_server.http.get("/graphql", headers={"Accept": "text/html"})

    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert "unpkg.com" not in page.text and "https://" not in re.sub(r"<script>.*?</script>", "", page.text, flags=re.S)
    assets = ASSET.findall(page.text)
    assert len(assets) == 7
    for path, integrity in assets:
        response = await sqlite_server.http.get(path)
        assert response.status_code == 200, path
        digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert f"sha384-{digest}" == integrity, path


LIVE_QUERY = """subscription {
  liveSittings(first: 3, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id status } } }
}"""
CERTIFY = """
mutation($ids: [ID!]!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "graphiql"}) { certifiedCount }
}
"""


@pytest.mark.chromium
async def test_graphiql_watches_live_sittings_move_when_another_client_certifies(sqlite_server):
    # given an organisation with three sittings, and its admin's token typed into GraphiQL's headers
    world = await build_world(sqlite_server.platform(), sittings=3, credits=3)
    admin = admin_of(sqlite_server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    address = f"{sqlite_server.url}/graphql?" + urlencode(
        {"q": LIVE_QUERY, "headers": json.dumps({"Authorization": f"Bearer {admin.token}"})},
        quote_via=quote,  # the page decodes with decodeURIComponent, which leaves "+" as it is
    )
    hosts, errors = set(), []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=find_chromium(), headless=True, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(address)
            await page.wait_for_selector(".graphiql-container .graphiql-editors", timeout=20_000)

            # when the subscription is started in GraphiQL and another client certifies the first sitting
            await page.click(".graphiql-execute-button")
            result = page.locator(".result-window")
            await expect_text(result, '"status": "UNSELECTED"', count=3)
            await admin.data(CERTIFY, {"ids": ids[:1]})

            # then GraphiQL shows it in progress
            await expect_text(result, '"status": "IN_PROGRESS"', count=1)
            await expect_text(result, '"status": "UNSELECTED"', count=2)
        finally:
            await browser.close()

    # and nothing was asked of any other host, nor did a script fail
    assert hosts == {f"127.0.0.1:{sqlite_server.port}"}
    assert errors == []


async def expect_text(locator, text: str, *, count: int, timeout: float = 10.0) -> None:
    """Wait until ``locator``'s text shows ``text`` exactly ``count`` times."""
    async with asyncio.timeout(timeout):
        while (await locator.inner_text()).count(text) != count:
            await asyncio.sleep(0.05)
