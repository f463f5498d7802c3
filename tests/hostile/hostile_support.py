"""Hostile-input tests' support: a real server in a thread, driven by synchronous clients from hypothesis.

Hypothesis tests are synchronous, while the harness serves the app with
uvicorn inside an event loop. ``ThreadedServer`` runs ``live_server`` in its
own loop on a background thread; tests talk to it over real HTTP with
``httpx.Client`` and run database reads or builders on the server's loop
with :meth:`ThreadedServer.run`. One server and one SQLite database serve a
whole test module, so examples build on a shared world instead of paying for
a fresh database each.

``HOSTILE`` is the fixed hypothesis profile of these tests: derandomised (the
same cases on every run, in CI and locally), no deadline (the server shares
two cores with the rest of the suite) and no example database written into
the repository.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import httpx
from builders import RECORD_SITTINGS, build_world, sitting_row
from harness import PORTRAIT, TEST_SECRET, GraphQLClient, LiveServer, free_port, live_server
from hypothesis import HealthCheck, settings
from PIL import Image
from pypdf import PdfWriter

from credentials.baking import bake
from gql.ids import decode_id, to_global_id
from models import Certificate, Notification, Sitting
from models.enums import Role
from resolvers.credentials import sign_credential
from resolvers.issuing import issuable_certificate, issue_certificate
from server.auth import TokenService
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

HOSTILE = settings(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

SITTING_IDS = "{ sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id } } } }"
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount errors { code message } }
}
"""


class ThreadedServer:
    """``live_server(settings)`` on a background thread with its own event loop.

    ``live`` is the harness's :class:`LiveServer` (tokens, URL, app state);
    ``run(coroutine)`` awaits a coroutine on the server's loop and returns its
    result, which is how tests read the database through the ORM the server
    registered and build data with the async builders.
    """

    def __init__(self, server_settings) -> None:
        self._settings = server_settings
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.live: LiveServer | None = None
        self._thread = threading.Thread(target=self._main, name="certify-hostile-server", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(60)
        if self._failure is not None:
            raise self._failure
        assert self.live is not None, "server did not start within 60 s"
        return self

    def __exit__(self, *exc) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as failure:  # noqa: BLE001 - handed to the test thread, which re-raises it
            self._failure = failure
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with live_server(self._settings) as live:
            self.live = live
            self._ready.set()
            await self._stop.wait()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        """Await ``coroutine`` on the server's loop; its result (or exception)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    @property
    def url(self) -> str:
        assert self.live is not None
        return self.live.url

    def token(self, role: Role, **scope) -> str:
        assert self.live is not None
        return self.live.token(role, **scope)


@dataclass
class Organisation:
    """One organisation of the shared world: its ids, an admin token, a test taker and their certificate."""

    name: str
    organisation_id: str
    organisation_pk: int
    test_id: str
    sitting_ids: list[str]
    certified_sitting_id: str
    certificate_id: str
    test_taker_pk: int
    test_taker_ids: list[str]
    notification_ids: list[str]
    issued_certificate_id: str = ""
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    """The issued certificate's stored files by kind (``pdf``, ``png``, ``photo``)."""

    def global_ids(self) -> list[str]:
        """Every global ID of this organisation's data."""
        return [
            self.organisation_id,
            self.test_id,
            *self.sitting_ids,
            self.certificate_id,
            *([self.issued_certificate_id] if self.issued_certificate_id else []),
            *self.test_taker_ids,
            *self.notification_ids,
        ]


@dataclass
class World:
    """Two organisations, A and B, each with sittings, one of them certified (certificate AWAITING_CLAIM)."""

    a: Organisation
    b: Organisation


async def _organisation(live: LiveServer, name: str, prefix: str) -> Organisation:
    # Test takers are one per e-mail address across organisations, so each
    # organisation gets its own addresses (and names carrying its name).
    world = await build_world(live.platform(), sittings=0, credits=20, name=name, prefix=prefix)
    rows = [
        sitting_row(
            world.organisation_id,
            world.test_id,
            n,
            prefix=prefix,
            email=f"{prefix}{n}@example.com",
            name=f"{name} Candidate {n}",
        )
        for n in range(6)
    ]
    recorded = (await live.platform().data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
    assert recorded["errors"] == [], recorded
    admin = live.client(live.token(Role.ORG_ADMIN, org=world.organisation_pk, subject=f"{prefix}-admin"))
    ids = [edge["node"]["id"] for edge in (await admin.data(SITTING_IDS))["sittings"]["edges"]]
    result = (await admin.data(CERTIFY, {"ids": ids[:1], "key": f"{prefix}-certify"}))["certifySittings"]
    assert result["errors"] == [] and result["certifiedCount"] == 1, result
    pk = decode_id(ids[0], "Sitting")
    sitting = await Sitting.get(id=pk)
    certificate = await Certificate.get(sitting_id=pk)
    pks = [decode_id(gid, "Sitting") for gid in ids]
    taker_pks = await Sitting.filter(id__in=pks).values_list("test_taker_id", flat=True)
    issued_pk, files = await _issued_certificate(live, admin, ids[1], prefix)
    notification_pks = await Notification.filter(certificate_id__in=[certificate.id, issued_pk]).values_list(
        "id", flat=True
    )
    return Organisation(
        name=name,
        organisation_id=world.organisation_id,
        organisation_pk=world.organisation_pk,
        test_id=world.test_id,
        sitting_ids=ids,
        certified_sitting_id=ids[0],
        certificate_id=to_global_id("Certificate", certificate.id),
        test_taker_pk=sitting.test_taker_id,
        test_taker_ids=[to_global_id("TestTaker", pk) for pk in sorted(set(taker_pks))],
        notification_ids=[to_global_id("Notification", pk) for pk in notification_pks],
        issued_certificate_id=to_global_id("Certificate", issued_pk),
        files=files,
    )


CLAIM = """
mutation($input: ClaimCertificateInput!) { claimCertificate(input: $input) { errors { code message } } }
"""
APPROVE = "mutation($id: ID!) { approveCertificate(input: {certificateId: $id}) { errors { code message } } }"


async def _issued_certificate(live: LiveServer, admin, sitting_id: str, prefix: str) -> tuple[int, dict[str, bytes]]:
    """Certify, claim (the portrait, over HTTP), approve and issue ``sitting_id``'s certificate; (pk, files).

    The render worker is off in these servers, so the files are small valid
    PDF and PNG bytes handed to the issuing verb exactly as the worker would.
    """
    result = (await admin.data(CERTIFY, {"ids": [sitting_id], "key": f"{prefix}-certify-issued"}))["certifySittings"]
    assert result["errors"] == [] and result["certifiedCount"] == 1, result
    pk = decode_id(sitting_id, "Sitting")
    sitting = await Sitting.get(id=pk)
    certificate = await Certificate.get(sitting_id=pk)
    taker = live.token(Role.TEST_TAKER, test_taker=sitting.test_taker_id, subject=f"{prefix}-issued-taker")
    operations = {"query": CLAIM, "variables": {"input": {"sittingId": sitting_id, "holderName": "Ada Example"}}}
    operations["variables"]["input"]["photo"] = None
    claimed = await live.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.photo"]})},
        files={"0": ("portrait.jpg", PORTRAIT.read_bytes(), "image/jpeg")},
        headers=bearer(taker),
    )
    assert claimed.json()["data"] == {"claimCertificate": {"errors": []}}, claimed.text
    reviewer = live.client(live.token(Role.SECURITY_REVIEWER, subject=f"{prefix}-reviewer"))
    approved = (await reviewer.data(APPROVE, {"id": to_global_id("Certificate", certificate.id)}))["approveCertificate"]
    assert approved["errors"] == [], approved
    pdf, png = await issue_approved(live, certificate.id, prefix)
    issued = await Certificate.get(id=certificate.id)
    assert str(issued.status) == "ISSUED", issued.status
    photo = await live.state.storage.get(issued.photo_key)
    return certificate.id, {"pdf": pdf, "png": png, "photo": photo}


async def issue_approved(
    live: LiveServer, certificate_id: int, text: str, *, baked: bool = False
) -> tuple[bytes, bytes]:
    """Issue the APPROVED certificate ``certificate_id`` through the render worker's verb; the stored (pdf, png).

    The files are small valid PDF and PNG bytes (``text`` in the PDF's title,
    its first letter in the PNG's colour), the credential is signed by the
    server's issuer, and the issuing verb stores them and marks the
    certificate ISSUED and its sitting CERTIFIED. With ``baked`` the PNG
    carries the credential, as the worker bakes it, so ``credential-baked``
    holds; without it the PNG is plain (what ``_issued_certificate`` stores).
    """
    pdf, png = _pdf_bytes(text), _png_bytes(text)
    issuable, now = await issuable_certificate(certificate_id=certificate_id), datetime.now(UTC)
    credential = await sign_credential(issuable, live.state.issuer, issued_at=now)
    if baked:
        png = bake(png, credential.json)
    await issue_certificate(
        certificate=issuable,
        pdf=pdf,
        png=png,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        credential=credential,
        issued_at=now,
        storage=live.state.storage,
        publisher=live.state.publisher,
    )
    return pdf, png


def _pdf_bytes(text: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=842, height=595)
    writer.add_metadata({"/Title": f"certificate {text}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _png_bytes(text: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (ord(text[0]) % 256, 90, 160)).save(out, format="PNG")
    return out.getvalue()


def build_two_organisations(server: ThreadedServer) -> World:
    """Organisations A and B, built through the public API on ``server``."""
    assert server.live is not None
    a = server.run(_organisation(server.live, "Acme Languages", "a"))
    b = server.run(_organisation(server.live, "Borealis Institute", "b"))
    return World(a, b)


def role_tokens(server: ThreadedServer | ServedProcess, org: Organisation) -> dict[str, str | None]:
    """A token per role scoped to ``org`` where the role has a scope; ``anonymous`` has none."""
    return {
        "platform_admin": server.token(Role.PLATFORM_ADMIN, subject="platform"),
        "org_admin": server.token(Role.ORG_ADMIN, org=org.organisation_pk, subject="admin"),
        "analyst": server.token(Role.ANALYST, org=org.organisation_pk, subject="analyst"),
        "security_reviewer": server.token(Role.SECURITY_REVIEWER, subject="reviewer"),
        "test_taker": server.token(Role.TEST_TAKER, test_taker=org.test_taker_pk, subject="taker"),
        "anonymous": None,
    }


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# What an error may never show: traces, SQL and drivers, paths of the
# installation, Python exception names and reprs.
LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|/work/|/tmp/|site-packages|"
    r"\b(SELECT|INSERT|UPDATE|DELETE)\b.+\b(FROM|INTO|SET|WHERE)\b|sqlite|asyncpg|psycopg|tortoise|pypika|"
    r"\b\w+(Error|Exception)\b(?<!GraphQLError)|NoneType|object has no attribute|<\w+ object at 0x",
    re.IGNORECASE,
)
# GraphQL's own validation messages name the schema's types, which may end in
# "Error" (UserError); those are schema names, not internals.
SCHEMA_NAMES = re.compile(r"\bUserError\b")


def leaks_in(body: dict) -> list[str]:
    """The error messages and extensions of ``body`` that show internals or an unexpected failure."""
    found = []
    for error in body.get("errors") or []:
        text = SCHEMA_NAMES.sub("", json.dumps(error, ensure_ascii=False))
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR" or LEAKS.search(text):
            found.append(text)
    return found


class ServedProcess:
    """``certify serve`` in its own process on a free port, for tests whose client side is busy.

    Generating documents and serving them then run on two cores instead of
    sharing one interpreter. Everything is reached over HTTP; ``tokens``
    mints tokens with the server's secret.
    """

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self._env = {
            **os.environ,
            "CERTIFY_DATA_DIR": str(data_dir),
            "CERTIFY_JWT_SECRET": TEST_SECRET,
            "CERTIFY_RENDER_ENABLED": "false",
            **env,
        }
        for name in ("CERTIFY_PUBLIC_URL", "CERTIFY_DATABASE_URL", "CERTIFY_BROADCAST_URL"):
            self._env.pop(name, None)
        self._env.update(env)
        self.tokens = TokenService(Settings(jwt_secret=TEST_SECRET, data_dir=data_dir))
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        command = [
            sys.executable,
            "-c",
            "from server.cli import main; raise SystemExit(main())",
            "serve",
            "--port",
            str(self.port),
        ]
        self._process = subprocess.Popen(
            command, env=self._env, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("certify serve did not answer /healthz within 60 s")

    def __exit__(self, *exc) -> None:
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGTERM)
        self._process.wait(30)

    def token(
        self, role: Role, *, org: int | None = None, test_taker: int | None = None, subject: str | None = None
    ) -> str:
        return self.tokens.mint(
            role=role,
            subject=subject or f"{role.value}-user",
            organisation_gid=to_global_id("Organisation", org) if org is not None else None,
            test_taker_gid=to_global_id("TestTaker", test_taker) if test_taker is not None else None,
            ttl_seconds=3600,
        )


TEST_TAKER_OF = "query($id: ID!) { node(id: $id) { ... on Sitting { testTaker { id } } } }"


async def organisation_over_http(server: ServedProcess, name: str, prefix: str) -> Organisation:
    """One organisation with a certified sitting, built through the public API of ``server`` only."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        platform = GraphQLClient(http, server.token(Role.PLATFORM_ADMIN, subject="platform"))
        world = await build_world(platform, sittings=0, credits=20, name=name, prefix=prefix)
        rows = [
            sitting_row(
                world.organisation_id,
                world.test_id,
                n,
                prefix=prefix,
                email=f"{prefix}{n}@example.com",
                name=f"{name} Candidate {n}",
            )
            for n in range(6)
        ]
        recorded = (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
        assert recorded["errors"] == [], recorded
        admin = platform.as_(server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject=f"{prefix}-admin"))
        ids = [edge["node"]["id"] for edge in (await admin.data(SITTING_IDS))["sittings"]["edges"]]
        result = (await admin.data(CERTIFY, {"ids": ids[:1], "key": f"{prefix}-certify"}))["certifySittings"]
        assert result["errors"] == [] and result["certifiedCount"] == 1, result
        taker = (await platform.data(TEST_TAKER_OF, {"id": ids[0]}))["node"]["testTaker"]["id"]
    return Organisation(
        name=name,
        organisation_id=world.organisation_id,
        organisation_pk=world.organisation_pk,
        test_id=world.test_id,
        sitting_ids=ids,
        certified_sitting_id=ids[0],
        certificate_id="",
        test_taker_pk=decode_id(taker, "TestTaker"),
        test_taker_ids=[taker],
        notification_ids=[],
    )
