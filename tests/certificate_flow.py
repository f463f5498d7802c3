"""Helpers for the claim → review → render → verify tests, all through the public API.

Multipart claims are sent over real HTTP exactly as a client following the
GraphQL multipart request spec would; PDFs are read back with poppler's
``pdftotext`` / pypdf.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from builders import build_world
from harness import PORTRAIT, live_server, make_settings
from PIL import Image
from pypdf import PdfReader

from gql.ids import decode_id, to_global_id
from models import Certificate, Sitting
from models.enums import Role

CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount errors { code message } }
}
"""
SITTINGS = "{ sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id } } } }"
CERTIFICATE_FIELDS = """
  id status holderName submittedAt reviewedAt rejectionReason issuedAt verificationCode
  pdfUrl pngUrl photoUrl renderError
"""
CLAIM = f"""
mutation($input: ClaimCertificateInput!) {{
  claimCertificate(input: $input) {{ certificate {{ {CERTIFICATE_FIELDS} }} errors {{ code message field }} }}
}}
"""
APPROVE = f"""
mutation($id: ID!) {{
  approveCertificate(input: {{certificateId: $id}}) {{ certificate {{ {CERTIFICATE_FIELDS} }} errors {{ code message field }} }}
}}
"""
REJECT = f"""
mutation($id: ID!, $reason: String!) {{
  rejectCertificate(input: {{certificateId: $id, reason: $reason}}) {{
    certificate {{ {CERTIFICATE_FIELDS} }} errors {{ code message field }}
  }}
}}
"""
CERTIFICATE = f"""
query($id: ID!) {{ node(id: $id) {{ ... on Certificate {{ {CERTIFICATE_FIELDS} sitting {{ id status }} }} }} }}
"""
REVIEW_QUEUE = f"""
query($first: Int, $after: String) {{
  reviewQueue(first: $first, after: $after) {{
    totalCount edges {{ cursor node {{ {CERTIFICATE_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
VERIFY = """
query($code: String!) {
  verifyCertificate(code: $code) { valid holderName testName score organisationName issuedAt }
}
"""
BIDI_EMBEDDINGS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e"))


@dataclass
class Candidate:
    """A certified sitting's test taker, ready to claim: ids and a client holding their token."""

    sitting_id: str
    sitting_pk: int
    test_taker_pk: int
    certificate_pk: int
    client: object

    @property
    def certificate_id(self) -> str:
        return to_global_id("Certificate", self.certificate_pk)


async def certified_candidates(server, count: int = 1, *, name: str = "Acme Languages", prefix: str = "ext"):
    """A world whose first ``count`` sittings are certified (IN_PROGRESS, certificate AWAITING_CLAIM)."""
    world = await build_world(server.platform(), sittings=count, credits=count, name=name, prefix=prefix)
    return world, await certify_all(server, world.organisation_pk, key=f"{prefix}-certify")


async def certify_all(server, organisation_pk: int, *, key: str) -> list[Candidate]:
    """Certify every sitting of the organisation as its admin; their candidates, oldest sitting first."""
    admin = server.client(server.token(Role.ORG_ADMIN, org=organisation_pk, subject="admin"))
    ids = [edge["node"]["id"] for edge in (await admin.data(SITTINGS))["sittings"]["edges"]]
    result = (await admin.data(CERTIFY, {"ids": ids, "key": key}))["certifySittings"]
    assert result["errors"] == [] and result["certifiedCount"] == len(ids), result
    candidates = []
    for gid in ids:
        pk = decode_id(gid, "Sitting")
        sitting = await Sitting.get(id=pk)
        certificate = await Certificate.get(sitting_id=pk)
        token = server.token(
            Role.TEST_TAKER, test_taker=sitting.test_taker_id, subject=f"taker-{sitting.test_taker_id}"
        )
        candidates.append(Candidate(gid, pk, sitting.test_taker_id, certificate.id, server.client(token)))
    return candidates


def reviewer(server):
    return server.client(server.token(Role.SECURITY_REVIEWER, subject="reviewer"))


def portrait() -> bytes:
    return PORTRAIT.read_bytes()


def png_bytes(width: int, height: int, colour=(40, 90, 160)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


async def post_claim(
    server,
    *,
    token: str,
    sitting_id: str,
    name: str,
    photo: bytes,
    filename: str = "portrait.jpg",
    content_type: str = "image/jpeg",
):
    """POST a spec-conformant multipart claim; return the HTTP response."""
    operations = {"query": CLAIM, "variables": {"input": {"sittingId": sitting_id, "holderName": name, "photo": None}}}
    return await server.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.photo"]})},
        files={"0": (filename, photo, content_type)},
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )


async def send_claim(
    server, candidate: Candidate, *, name: str, photo: bytes, sitting_id: str | None = None, **part
) -> dict:
    """Claim as ``candidate``'s test taker; return the ``claimCertificate`` payload (no GraphQL errors allowed)."""
    response = await post_claim(
        server,
        token=candidate.client.token,
        sitting_id=sitting_id or candidate.sitting_id,
        name=name,
        photo=photo,
        **part,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["claimCertificate"]


async def claim_ok(server, candidate: Candidate, name: str = "Zoë Nguyễn") -> dict:
    payload = await send_claim(server, candidate, name=name, photo=portrait())
    assert payload["errors"] == [], payload
    return payload["certificate"]


async def issue(server, candidate: Candidate, name: str = "Zoë Nguyễn") -> dict:
    """Claim as ``name``, approve, and wait for the render (a server that renders): the certificate, ISSUED."""
    await claim_ok(server, candidate, name)
    await approve(server, candidate)
    return await wait_for_status(server, candidate, "ISSUED")


async def approve(server, candidate: Candidate) -> dict:
    payload = (await reviewer(server).data(APPROVE, {"id": candidate.certificate_id}))["approveCertificate"]
    assert payload["errors"] == [], payload
    return payload["certificate"]


async def certificate_as(client, candidate: Candidate) -> dict:
    return (await client.data(CERTIFICATE, {"id": candidate.certificate_id}))["node"]


async def wait_for_status(server, candidate: Candidate, status: str, *, timeout: float = 30.0) -> dict:
    """Poll the certificate (as its test taker) until it has ``status``; return it."""
    deadline = time.monotonic() + timeout
    while True:
        node = await certificate_as(candidate.client, candidate)
        if node["status"] == status:
            return node
        assert time.monotonic() < deadline, f"certificate still {node['status']} (renderError={node['renderError']})"
        await asyncio.sleep(0.05)


async def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.05):
    """Await ``predicate()`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


def pdf_text(pdf: bytes, *, raw: bool = False) -> str:
    """The PDF's text (NFC, whitespace collapsed) via ``pdftotext``; ``raw`` keeps drawing order (emoji)."""
    args = ["pdftotext", "-enc", "UTF-8", *(["-raw"] if raw else []), "-", "-"]
    text = subprocess.run(args, input=pdf, capture_output=True, check=True).stdout.decode()
    return unicodedata.normalize("NFC", " ".join(text.translate(BIDI_EMBEDDINGS).split()))


def pdf_pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def path_of(url: str) -> str:
    """The path of a signed URL, absolute (the test server is not at the public URL) or already a path."""
    return url if url.startswith("/") else "/" + url.split("://", 1)[1].split("/", 1)[1]


@asynccontextmanager
async def rendering_server(tmp_path: Path, database_url: str, **overrides) -> AsyncIterator:
    """A live server with the renderer and render worker on (fast polling)."""
    values = {"render_enabled": True, "render_poll_seconds": 0.05}
    values.update(overrides)
    async with live_server(make_settings(tmp_path, database_url, **values)) as server:
        yield server
