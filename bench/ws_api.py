"""The GraphQL calls the websocket benchmarks make over HTTP: one call, an organisation with credits, recorded sittings."""

from __future__ import annotations

import asyncio

import httpx

from models.enums import Role
from server.auth import TokenService

RECORD = "mutation($rows: [RecordSittingInput!]!) { recordSittings(input: {sittings: $rows}) { recordedCount } }"
RECORD_BATCH = 1_000  # recordSittings' limit per call (docs/RULES.md, "Recording")


async def graphql(http: httpx.AsyncClient, token: str, query: str, variables: dict | None = None) -> dict:
    """POST one operation as the holder of ``token``; its ``data``. AssertionError on any GraphQL error."""
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"Authorization": f"Bearer {token}"}
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def organisation(http: httpx.AsyncClient, tokens: TokenService, name: str, credits: int) -> tuple[str, str]:
    """A new organisation with ``credits`` credits and a test (pass mark 50): their GraphQL ids ``(org, test)``."""
    platform = tokens.mint(role=Role.PLATFORM_ADMIN, subject="bench")
    made = await graphql(
        http,
        platform,
        "mutation($n: String!) { createOrganisation(input: {name: $n}) { organisation { id } } }",
        {"n": name},
    )
    org = made["createOrganisation"]["organisation"]["id"]
    made = await graphql(
        http, platform,
        "mutation($n: String!) { createTest(input: {name: $n, minCertifiableScore: 50}) { test { id } } }",
        {"n": f"{name} English"},
    )  # fmt: skip
    test = made["createTest"]["test"]["id"]
    await graphql(
        http, platform,
        "mutation($org: ID!, $n: Int!) { purchaseCredits(input: {organisationId: $org, credits: $n, reference: \"bench\"}) "
        "{ errors { code } } }",
        {"org": org, "n": credits},
    )  # fmt: skip
    return org, test


async def record_sittings(
    http: httpx.AsyncClient,
    tokens: TokenService,
    org: str,
    test: str,
    count: int,
    *,
    prefix: str = "bench",
    score=None,
    concurrency: int = 2,
) -> None:
    """Record ``count`` eligible sittings (distinct ``takenAt`` one second apart; ``score(n)``, default 80).

    Calls of 1,000 rows, ``concurrency`` at a time.
    """
    platform = tokens.mint(role=Role.PLATFORM_ADMIN, subject="bench")
    score = score or (lambda n: 80)

    def row(n: int) -> dict:
        return {
            "externalId": f"{prefix}-{n}", "organisationId": org, "testId": test,
            "testTakerEmail": f"{prefix}{n}@example.com", "testTakerName": f"Bench {prefix} {n}",
            "takenAt": f"2026-{1 + n // 2_592_000 % 12:02d}-{1 + n // 86_400 % 28:02d}T{n // 3600 % 24:02d}:"
                       f"{n // 60 % 60:02d}:{n % 60:02d}+00:00",
            "score": score(n), "photoCheck": "PASSED",
        }  # fmt: skip

    slots = asyncio.Semaphore(concurrency)

    async def call(start: int) -> None:
        async with slots:
            rows = [row(n) for n in range(start, min(count, start + RECORD_BATCH))]
            await graphql(http, platform, RECORD, {"rows": rows})

    await asyncio.gather(*(call(start) for start in range(0, count, RECORD_BATCH)))
