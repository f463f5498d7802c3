"""Oversized request heads and bodies against ``certify serve`` as operators run it (server/uvicorn_http.py, server/limits.py, server/multipart.py).

One server process for the module; its memory is read from /proc (VmRSS)
before and after each flood. Bound: :data:`RSS_BOUND_KIB`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from harness import TEST_SECRET, free_port

from bench.serving import rss_kib
from models.enums import Role
from server.auth import TokenService
from server.settings import Settings
from server.uvicorn_http import MAX_HEAD_BYTES

ROOT = Path(__file__).resolve().parents[1]
RSS_BOUND_KIB = 8 * 1024
"""Growth allowed per flood: the 64 KiB head limit, one 256 KiB read and the allocator's slack, far below the
10–50 MB each flood would cost if it were read (a 10 MB header cost ≈ 40 MB before the limit)."""
SECONDS_BOUND = 2.0
EMPTY: Iterator[bytes] = iter(())


@dataclass
class Served:
    port: int
    pid: int


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """``certify serve`` (one worker, SQLite) on a free port."""
    port = free_port()
    data = tmp_path_factory.mktemp("limits")
    env = {**os.environ, "CERTIFY_DATA_DIR": str(data), "CERTIFY_JWT_SECRET": TEST_SECRET}
    for name in ("CERTIFY_PUBLIC_URL", "CERTIFY_DATABASE_URL"):
        env.pop(name, None)
    env |= {"CERTIFY_RENDER_ENABLED": "false", "CERTIFY_LOG_LEVEL": "WARNING"}
    command = [
        sys.executable,
        "-c",
        "from server.cli import main; raise SystemExit(main())",
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "certify serve did not start"
                time.sleep(0.2)
        yield Served(port, process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def exchange(port: int, head: bytes, body_chunks: Iterator[bytes] = EMPTY) -> bytes:
    """Write ``head`` then ``body_chunks`` on a fresh connection; what the server answered before closing.

    A server that closes while the request is still being written may reset
    the connection: the answer is what arrived before that (``b""`` if nothing).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        answer = b""
        try:
            sock.sendall(head)
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def flooded(served: Served, head: bytes, body_chunks: Iterator[bytes] = EMPTY) -> tuple[int | None, float, int]:
    """(status, seconds, RSS growth in KiB) of one oversized request."""
    before = rss_kib(served.pid)
    started = time.monotonic()
    answer = exchange(served.port, head, body_chunks)
    seconds = time.monotonic() - started
    return status_of(answer), seconds, rss_kib(served.pid) - before


def request_head(path: str, headers: dict[str, str | bytes], method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    lines += [
        name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        for name, value in headers.items()
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_request_heads_over_64_kib_get_431_before_any_work_and_no_memory(served):
    # given a 10 MB Authorization header, and 2,000 headers of 40 bytes (≈ 80 KiB together)
    huge = request_head("/graphql", {"Authorization": b"Bearer " + b"x" * 10_000_000})
    many = request_head("/healthz", {f"X-Padding-{i}": "p" * 24 for i in range(2_000)})
    assert len(many) > MAX_HEAD_BYTES

    # when each is sent
    results = {"10 MB header": flooded(served, huge), "80 KiB of headers": flooded(served, many)}

    # then each is 431 at once and the worker's memory does not grow with it
    for name, (status, seconds, growth) in results.items():
        assert (name, status) == (name, 431)
        assert seconds < SECONDS_BOUND, (name, seconds)
        assert growth < RSS_BOUND_KIB, (name, growth)
    # and the refusal is JSON in the GraphQL error shape, like every other
    answer = exchange(served.port, many)
    assert answer.split(b"\r\n\r\n", 1)[1] == (
        b'{"errors": [{"message": "the request line and headers are larger than 64 KB", '
        b'"extensions": {"code": "REQUEST_HEADER_FIELDS_TOO_LARGE"}}]}'
    )
    # and a head just under the limit, and the next request, are served
    fitting = request_head("/healthz", {"X-Padding": "p" * (MAX_HEAD_BYTES - 200)})
    assert status_of(exchange(served.port, fitting)) == 200
    assert httpx.get(f"http://127.0.0.1:{served.port}/healthz").status_code == 200


def test_oversized_bodies_are_refused_quickly_without_memory_growth(served):
    megabyte = b"x" * (1024 * 1024)
    boundary = "certifyboundary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{i}"; filename="f{i}.jpg"\r\n\r\nx\r\n'.encode()
        for i in range(5_000)
    )
    fields = b"&".join(b"f%d=v" % i for i in range(100_000))
    text_parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n'.encode() for i in range(100_000)
    )
    floods = {
        # a 50 MB JSON body, declared and chunked
        "50 MB declared": (
            request_head(
                "/graphql", {"Content-Type": "application/json", "Content-Length": str(50 * len(megabyte))}, "POST"
            ),
            (megabyte for _ in range(50)),
        ),
        "50 MB chunked": (
            request_head("/graphql", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, "POST"),
            (b"%x\r\n%s\r\n" % (len(megabyte), megabyte) for _ in range(50)),
        ),
        # 5,000 file parts in a 0.5 MB multipart body
        "5,000 parts": (
            request_head(
                "/graphql",
                {
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(len(parts) + len(boundary) + 6),
                },
                "POST",
            ),
            iter([parts, f"--{boundary}--\r\n".encode()]),
        ),
        # 100,000 text fields in a 7 MB multipart body
        "100,000 multipart fields": (
            request_head(
                "/graphql",
                {
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(len(text_parts) + len(boundary) + 6),
                },
                "POST",
            ),
            iter([text_parts, f"--{boundary}--\r\n".encode()]),
        ),
        # 100,000 URL-encoded fields: not a GraphQL content type, refused unread
        "100,000 fields": (
            request_head(
                "/graphql",
                {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(fields))},
                "POST",
            ),
            iter([fields]),
        ),
    }

    # when each is sent
    results = {name: flooded(served, head, body) for name, (head, body) in floods.items()}

    # then each is refused with its status, quickly, and the worker's memory stays put
    assert {name: status for name, (status, _, _) in results.items()} == {
        "50 MB declared": 413,
        "50 MB chunked": 413,
        "5,000 parts": 400,
        "100,000 fields": 400,
        "100,000 multipart fields": 400,
    }
    for name, (_, seconds, growth) in results.items():
        assert seconds < SECONDS_BOUND, (name, seconds)
        assert growth < RSS_BOUND_KIB, (name, growth)


def test_pipelined_requests_through_the_head_limit_each_get_their_own_answer(served):
    # given 10 requests of 10 platform admins written at once on one connection of the served process
    tokens = TokenService(Settings(jwt_secret=TEST_SECRET, data_dir=ROOT))
    subjects = [f"admin-{i}" for i in range(10)]
    body = json.dumps({"query": "{ viewer { subject } }"}).encode()
    requests = [
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Authorization: Bearer {tokens.mint(role=Role.PLATFORM_ADMIN, subject=subject)}\r\n\r\n".encode()
        + body
        for subject in subjects
    ]
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        stream = sock.makefile("rb")
        answers = []
        for _ in subjects:
            lines = []
            while (line := stream.readline()) != b"\r\n":
                lines.append(line.decode("latin-1").strip())
            length = next(int(line.split(": ")[1]) for line in lines if line.lower().startswith("content-length:"))
            answers.append((lines[0], json.loads(stream.read(length))["data"]["viewer"]["subject"]))

    # then each is answered, in order, for its own principal
    assert answers == [("HTTP/1.1 200 OK", subject) for subject in subjects]
