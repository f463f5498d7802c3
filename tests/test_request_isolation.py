"""Requests on one event loop never see each other's principal or transaction: pipelining, slow uploads among queries."""

from __future__ import annotations

import asyncio
import json
import uuid

from builders import build_world
from certificate_flow import CLAIM, certified_candidates, portrait

from models import Certificate
from models.enums import Role

VIEWER = "{ viewer { subject role organisation { id } } }"


def graphql_request(token: str) -> bytes:
    body = json.dumps({"query": VIEWER}).encode()
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def pipelined(port: int, requests: list[bytes]) -> list[dict]:
    """Write every request at once on one connection (HTTP/1.1 pipelining); the JSON answers, in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(requests))
    await writer.drain()
    answers: list[dict] = []
    try:
        async with asyncio.timeout(20):
            while len(answers) < len(requests):
                head = await reader.readuntil(b"\r\n\r\n")
                status, *lines = head.decode("latin-1").split("\r\n")
                assert status.startswith("HTTP/1.1 200 "), status
                headers = dict(line.split(": ", 1) for line in lines if line)
                length = int({name.lower(): value for name, value in headers.items()}["content-length"])
                answers.append(json.loads(await reader.readexactly(length)))
    finally:
        writer.close()
    return answers


def viewers(server, world, other, count: int) -> list[tuple[str, dict]]:
    """``count`` tokens of distinct subjects over three roles and two organisations, with the viewer each must see."""
    scopes = [(Role.ORG_ADMIN, world), (Role.ANALYST, other), (Role.PLATFORM_ADMIN, None)]
    cases = []
    for i in range(count):
        role, scoped = scopes[i % len(scopes)]
        subject = f"{role.value}-{i}"
        org = scoped.organisation_pk if scoped is not None else None
        expected = {
            "subject": subject,
            "role": role.name,
            "organisation": {"id": scoped.organisation_id} if scoped is not None else None,
        }
        cases.append((server.token(role, org=org, subject=subject), {"viewer": expected}))
    return cases


async def test_pipelined_requests_each_see_their_own_principal(sqlite_server):
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=0)
    other = await build_world(server.platform(), sittings=0, credits=0, name="Other School", prefix="other")
    cases = viewers(server, world, other, 24)

    # when 24 requests with 24 tokens are written at once on one connection
    answers = await pipelined(server.port, [graphql_request(token) for token, _ in cases])

    # then each answer is exactly its own token's viewer, in order
    assert [answer["data"] for answer in answers] == [expected for _, expected in cases]


def claim_body(sitting_id: str, name: str, boundary: str) -> bytes:
    operations = {"query": CLAIM, "variables": {"input": {"sittingId": sitting_id, "holderName": name, "photo": None}}}
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{json.dumps(operations)}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{{"0": ["variables.input.photo"]}}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        + portrait()
        + f"\r\n--{boundary}--\r\n".encode()
    )


async def slow_claim(server, candidate, name: str) -> dict:
    """A claim uploaded in 4 KiB pieces 10 ms apart (≈ 0.2 s), so queries of others run while it streams."""
    boundary = uuid.uuid4().hex
    body = claim_body(candidate.sitting_id, name, boundary)

    async def pieces():
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]
            await asyncio.sleep(0.01)

    response = await server.http.post(
        "/graphql",
        content=pieces(),
        headers={
            "Authorization": f"Bearer {candidate.client.token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(body)),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["claimCertificate"]


async def test_slow_uploads_and_queries_of_others_never_see_each_others_principal(server):
    # given four test takers with certificates to claim, and 24 other principals
    world, candidates = await certified_candidates(server, 4)
    other = await build_world(server.platform(), sittings=0, credits=0, name="Other School", prefix="other")
    cases = viewers(server, world, other, 24)

    # when the four claims stream in slowly while the others query, all at once
    async def query(token: str) -> dict:
        return (await server.client(token).post(VIEWER))["data"]

    claims = [slow_claim(server, c, f"Holder {i}") for i, c in enumerate(candidates)]
    results = await asyncio.gather(*claims, *(query(token) for token, _ in cases))

    # then each claim succeeded as its own test taker, for its own certificate
    for i, (candidate, payload) in enumerate(zip(candidates, results[:4], strict=True)):
        assert payload["errors"] == [], payload
        row = await Certificate.get(id=candidate.certificate_pk)
        assert (row.holder_name, row.status) == (f"Holder {i}", "UNDER_REVIEW")
    # and each query saw exactly its own viewer
    assert results[4:] == [expected for _, expected in cases]
