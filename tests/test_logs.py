"""Structured logs of a real ``certify serve``: every line JSON, each carrying its request's id and operation, no secrets."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from builders import build_world
from harness import PORTRAIT, TEST_FILE_URL_SECRET, TEST_SECRET, GraphQLClient, free_port
from ws_client import ws_connect

from models.enums import Role
from server.auth import TokenService
from server.logs import safe_path
from server.request_ids import request_id_from
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SITTINGS = "query LogsSittings { sittings(first: 10) { edges { node { id testTaker { id } } } } }"
CERTIFY = """
mutation LogsCertify($ids: [ID!]!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "logs-1"}) { certifiedCount errors { code } }
}
"""
CLAIM = """
mutation LogsClaim($input: ClaimCertificateInput!) {
  claimCertificate(input: $input) { certificate { status } errors { code } }
}
"""
WATCH = "subscription LogsWatch { sittingStatusChanged { status } }"
FIELDS = {"time", "level", "logger", "message", "request_id", "operation"}


async def _ready(http: httpx.AsyncClient, process: subprocess.Popen) -> None:
    async with asyncio.timeout(60):
        while True:
            assert process.poll() is None, "the server exited"
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def _eml_body(outbox: Path) -> str:
    async with asyncio.timeout(20):
        while not list(outbox.glob("*.eml")):
            await asyncio.sleep(0.1)
    message = email.message_from_bytes(next(outbox.glob("*.eml")).read_bytes(), policy=email.policy.default)
    return message.get_body(("plain",)).get_content()


async def _session(base: str, ws_url: str, tokens: TokenService) -> dict:
    """Certify a sitting, claim it with a photo and watch over a websocket; what was sent and answered."""
    platform_token = tokens.mint(role=Role.PLATFORM_ADMIN, subject="platform")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        world = await build_world(GraphQLClient(http, platform_token), sittings=1, credits=1)
        admin = tokens.mint(role=Role.ORG_ADMIN, subject="admin", organisation_gid=world.organisation_id)
        bearer = {"Authorization": f"Bearer {admin}"}
        listed = await http.post(
            "/graphql", json={"query": SITTINGS}, headers={**bearer, "X-Request-ID": "logs-http-1"}
        )
        node = listed.json()["data"]["sittings"]["edges"][0]["node"]
        certified = await http.post(
            "/graphql", json={"query": CERTIFY, "variables": {"ids": [node["id"]]}}, headers=bearer
        )
        taker = tokens.mint(role=Role.TEST_TAKER, subject="taker", test_taker_gid=node["testTaker"]["id"])
        operations = {
            "query": CLAIM,
            "variables": {"input": {"sittingId": node["id"], "holderName": "Zoë Log", "photo": None}},
        }
        claimed = await http.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.photo"]})},
            files={"0": ("portrait.jpg", PORTRAIT.read_bytes(), "image/jpeg")},
            headers={"Authorization": f"Bearer {taker}", "X-Request-ID": "logs-claim-1"},
        )
        forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged-signature-0123456789"
        refused = await http.post(
            "/graphql",
            json={"query": SITTINGS},
            headers={"Authorization": f"Bearer {forged}", "X-Request-ID": "not sane!"},
        )
        unnamed = {"query": "{ viewer { role } }"}
        await http.post("/graphql", json=unnamed, headers={**bearer, "X-Request-ID": "logs-anonymous-1"})
    async with ws_connect(ws_url, additional_headers={"X-Request-ID": "logs-ws-1"}) as client:
        await client.init(admin)
        await client.subscribe("watch", WATCH)
        await asyncio.sleep(0.3)
        await client.complete("watch")
        await asyncio.sleep(0.3)
        ws_id = client.ws.response.headers["X-Request-ID"]
    return {
        "tokens": [platform_token, admin, taker, forged],
        "ids": [
            listed.headers["X-Request-ID"],
            claimed.headers["X-Request-ID"],
            refused.headers["X-Request-ID"],
            ws_id,
        ],
        "answers": [certified.json()["data"]["certifySittings"], claimed.json()["data"]["claimCertificate"]],
    }


async def test_every_line_is_json_with_its_request_and_no_secret(tmp_path):
    # given `certify serve` with JSON logs at INFO, its output in files
    port, data = free_port(), tmp_path / "data"
    env = {**os.environ, "CERTIFY_DATA_DIR": str(data), "CERTIFY_JWT_SECRET": TEST_SECRET}
    for name in ("CERTIFY_DATABASE_URL", "CERTIFY_PUBLIC_URL", "CERTIFY_SMTP_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    env |= {"CERTIFY_RENDER_ENABLED": "false", "CERTIFY_LOG_FORMAT": "json", "CERTIFY_LOG_LEVEL": "INFO"}
    env |= {"CERTIFY_FILE_URL_SECRET": TEST_FILE_URL_SECRET, "CERTIFY_OUTBOX_POLL_SECONDS": "0.1"}
    out, err = (tmp_path / "stdout").open("wb"), (tmp_path / "stderr").open("wb")
    command = [
        sys.executable,
        "-c",
        "from server.cli import main; raise SystemExit(main())",
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, stdout=out, stderr=err)
    tokens = TokenService(Settings(jwt_secret=TEST_SECRET, data_dir=tmp_path))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await _ready(http, process)
        # when a sitting is listed, certified and claimed with a photo, a forged token is refused and a websocket watches
        sent = await _session(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql", tokens)
        body = await _eml_body(data / "outbox")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        out.close(), err.close()
    text = (tmp_path / "stdout").read_text() + (tmp_path / "stderr").read_text()
    lines = [json.loads(line) for line in text.splitlines()]

    # then every line is a JSON object with the same fields
    assert sent["answers"] == [
        {"certifiedCount": 1, "errors": []},
        {"certificate": {"status": "UNDER_REVIEW"}, "errors": []},
    ]
    assert lines and all(FIELDS <= line.keys() for line in lines), [line for line in lines if not FIELDS <= line.keys()]
    # the sane incoming ids are kept and answered, the other replaced by a fresh one
    assert sent["ids"][0] == "logs-http-1" and sent["ids"][1] == "logs-claim-1" and sent["ids"][3] == "logs-ws-1"
    assert re.fullmatch(r"[0-9a-f]{32}", sent["ids"][2])
    # each line of a request carries its id and operation; the access line is JSON with its fields
    listed = [line for line in lines if line["request_id"] == "logs-http-1"]
    assert {line["operation"] for line in listed} == {"LogsSittings"}
    access = [line for line in listed if line["logger"] == "uvicorn.access"]
    assert [(a["method"], a["path"], a["status"]) for a in access] == [("POST", "/graphql", 200)]
    claim = [line for line in lines if line["request_id"] == "logs-claim-1"]
    assert [(line["logger"], line["operation"]) for line in claim] == [("uvicorn.access", "LogsClaim")]
    refused = [line for line in lines if line["request_id"] == sent["ids"][2]]
    assert [line["operation"] for line in refused] == ["LogsSittings"]
    # an unnamed operation's lines say so, as its metrics' label does; lines of no operation say "-"
    unnamed = [line for line in lines if line["request_id"] == "logs-anonymous-1"]
    assert [(line["logger"], line["operation"]) for line in unnamed] == [("uvicorn.access", "(anonymous)")]
    assert {line["operation"] for line in lines if line["request_id"] == "-"} == {"-"}
    # the websocket's lines carry its id, and its operation's lines the operation's name
    socket = [line for line in lines if line["request_id"] == "logs-ws-1"]
    assert any("WebSocket /graphql" in line["message"] and "accepted" in line["message"] for line in socket), socket
    started = [
        line for line in socket if line["message"] in ("websocket operation started", "websocket operation ended")
    ]
    assert [(line["message"], line["operation"]) for line in started] == [
        ("websocket operation started", "LogsWatch"),
        ("websocket operation ended", "LogsWatch"),
    ]
    # no token, no photo bytes and no e-mail body in any line
    photo = PORTRAIT.read_bytes()
    for secret in [*sent["tokens"], base64.b64encode(photo[100:160]).decode(), repr(photo[100:130])[2:-1]]:
        assert secret not in text
    for body_line in (line.strip() for line in body.splitlines()):
        if len(body_line) > 20:
            assert body_line not in text, body_line


def test_request_ids_and_paths_are_made_safe():
    assert request_id_from(b"4bf92f3577b34da6a3ce929d0e0e4736") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert request_id_from(b"00-4bf92f35-00f067aa-01") == "00-4bf92f35-00f067aa-01"
    for bad in (b"", b"a" * 129, b"has space", b"new\nline", "é".encode(), b"<script>"):
        assert re.fullmatch(r"[0-9a-f]{32}", request_id_from(bad)), bad
    assert re.fullmatch(r"[0-9a-f]{32}", request_id_from(None))
    assert safe_path("/files/eyJhbGci.secret.sig?download=1") == "/files/…"
    assert safe_path("/exports/WyJhbmFseXN0Iiw") == "/exports/…"
    assert safe_path("/graphql?query=%7Bviewer%7D") == "/graphql"
    assert safe_path("/verify/ABCD-1234") == "/verify/ABCD-1234"
