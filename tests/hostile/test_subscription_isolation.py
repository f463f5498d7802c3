"""Authorisation as a property, over subscriptions: no subscriber hears another organisation's changes.

Hypothesis draws which of two organisations is the viewer's, a role (org
admin, analyst, and the roles without an organisation: security reviewer,
test taker), a subscription (``sittingStatusChanged``, ``liveSittings`` and
``creditBalanceChanged``, unfiltered or filtered by the other organisation's
test or name) and a change of the other organisation (a sitting selected or
unselected by its admin, credits bought for it). The viewer's own
organisation then changes too, as a control: once the subscriber hears it (or,
for a filter that the control does not match, after a quiet wait), no message
the subscriber received may hold the other organisation's IDs or name.
Roles without an organisation must be refused (FORBIDDEN).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from hostile_support import HOSTILE, bearer, role_tokens
from hypothesis import given, settings
from hypothesis import strategies as st
from ws_client import ws_session

EXAMPLES = 24
ROLES = ["org_admin", "analyst", "security_reviewer", "test_taker"]
SCOPED_ROLES = ("org_admin", "analyst")
STATUS_CHANGED = """
subscription($filter: SittingFilter) {
  sittingStatusChanged(filter: $filter) { status sitting { id testTaker { id name } } }
}
"""
LIVE_SITTINGS = """
subscription($filter: SittingFilter) {
  liveSittings(filter: $filter, first: 50) { totalCount edges { node { id status testTaker { id name } } } }
}
"""
"""With the status: a live page is pushed only when what it selects changes, and the control toggles a status."""
CREDITS_CHANGED = "subscription { creditBalanceChanged { organisation { id name } creditBalance delta } }"
SELECT = "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
UNSELECT = "mutation($ids: [ID!]!) { unselectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
PURCHASE = """
mutation($org: ID!, $ref: String!) {
  purchaseCredits(input: {organisationId: $org, credits: 1, reference: $ref}) { errors { code } }
}
"""
QUIET_SECONDS = 0.6
"""How long a subscriber whose filter the control does not match is listened to after the changes."""
DRAIN_SECONDS = 0.3
"""How long to keep listening after the control arrived: each subscription filters events on its own task."""


async def post(http: httpx.AsyncClient, token: str, document: str, variables: dict) -> dict:
    response = await http.post("/graphql", json={"query": document, "variables": variables}, headers=bearer(token))
    assert response.status_code == 200, response.text[:1000]
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def toggle_a_sitting(http: httpx.AsyncClient, admin: str, sitting_id: str) -> None:
    """Select the sitting, or unselect it when it was already selected: either publishes a status change."""
    selected = (await post(http, admin, SELECT, {"ids": [sitting_id]}))["selectSittings"]
    if selected["changedCount"] == 0:
        unselected = (await post(http, admin, UNSELECT, {"ids": [sitting_id]}))["unselectSittings"]
        assert unselected["changedCount"] == 1, unselected


async def buy_a_credit(http: httpx.AsyncClient, platform: str, organisation_id: str) -> None:
    result = await post(http, platform, PURCHASE, {"org": organisation_id, "ref": uuid.uuid4().hex})
    assert result["purchaseCredits"]["errors"] == [], result


async def listen(client, seconds: float) -> list[dict]:
    """Every message received within ``seconds`` of quiet."""
    messages = []
    while True:
        try:
            messages.append(await client.receive(seconds))
        except TimeoutError:
            return messages


def revealed(messages: list[dict], other) -> list[str]:
    text = json.dumps(messages, ensure_ascii=False)
    return [secret for secret in [*(f'"{gid}"' for gid in other.global_ids()), other.name] if secret in text]


@pytest.mark.slow
def test_no_subscriber_hears_another_organisations_changes(threaded_server, world):
    """Given organisations A and B, when a subscriber of one hears changes of both, then nothing of the other
    reaches it."""
    pairs = [(world.a, world.b), (world.b, world.a)]
    tokens = {org.organisation_id: role_tokens(threaded_server, org) for org in (world.a, world.b)}
    ws_url = threaded_server.url.replace("http://", "ws://") + "/graphql"
    hub = threaded_server.live.state.hub
    heard: dict[str, int] = {}

    @settings(HOSTILE, max_examples=EXAMPLES)
    @given(data=st.data())
    def attempt(data) -> None:
        own, other = data.draw(st.sampled_from(pairs), label="viewer, other")
        role = data.draw(st.sampled_from(ROLES), label="role")
        field = data.draw(st.sampled_from(["status", "live", "credits"]), label="subscription")
        filters = [None, {"testId": other.test_id}, {"search": other.name}]
        sitting_filter = data.draw(st.sampled_from(filters), label="filter") if field != "credits" else None
        change = data.draw(st.sampled_from(["sitting", "credits"]), label="other's change")
        document = {"status": STATUS_CHANGED, "live": LIVE_SITTINGS, "credits": CREDITS_CHANGED}[field]
        variables = {"filter": sitting_filter} if field != "credits" else {}
        outcome = asyncio.run(
            _watch(ws_url, hub, tokens, own, other, role, document, variables, field, change, sitting_filter is None)
        )
        heard[outcome] = heard.get(outcome, 0) + 1

    attempt()
    print(f"outcomes: {dict(sorted(heard.items()))}")
    assert sum(heard.values()) == EXAMPLES
    assert heard.get("heard the control", 0) > 0


async def _watch(ws_url, hub, tokens, own, other, role, document, variables, field, change, control_matches) -> str:
    """Subscribe as ``role`` of ``own``, change ``other`` then ``own``; what the subscriber's answer was."""
    own_tokens, other_tokens = tokens[own.organisation_id], tokens[other.organisation_id]
    async with httpx.AsyncClient(
        base_url=ws_url.replace("ws://", "http://").removesuffix("/graphql"), timeout=30
    ) as http:
        async with ws_session(ws_url, own_tokens[role]) as client:
            listening = hub.subscriber_count()
            await client.subscribe("1", document, variables)
            before = await _until_subscribed(client, hub, listening, live=field == "live")
            if role not in SCOPED_ROLES:
                assert [e["extensions"]["code"] for e in before[0]["payload"]["errors"]] == ["FORBIDDEN"], before
                return "refused"
            assert revealed(before, other) == [], before
            if change == "sitting":
                await toggle_a_sitting(http, other_tokens["org_admin"], other.sitting_ids[-1])
            else:
                await buy_a_credit(http, other_tokens["platform_admin"], other.organisation_id)
            # The control: a change of the viewer's own organisation that this subscription reports.
            if field == "credits":
                await buy_a_credit(http, own_tokens["platform_admin"], own.organisation_id)
            else:
                await toggle_a_sitting(http, own_tokens["org_admin"], own.sitting_ids[-1])
            if not control_matches:
                after = await listen(client, QUIET_SECONDS)
                assert revealed(after, other) == [], after
                return "quiet under a filter"
            after = [await client.receive(10)]
            after += await listen(client, DRAIN_SECONDS)
            assert revealed(after, other) == [], after
            assert f'"{own.organisation_id}"' in json.dumps(after) or f'"{own.sitting_ids[-1]}"' in json.dumps(after), (
                after
            )
            return "heard the control"


async def _until_subscribed(client, hub, listening: int, *, live: bool) -> list[dict]:
    """The messages received until the subscription listens (its first page, for a live query) or was refused."""
    if live:
        return [await client.receive(10)]
    async with asyncio.timeout(10):
        while hub.subscriber_count() <= listening:
            try:
                return [await client.receive(0.02)]
            except TimeoutError:
                continue
    return []
