"""A load client process: HTTP/1.1 keep-alive POSTs over loopback, timing each request.

Usage (the benchmarks start it; it runs alone too):
    .venv/bin/python bench/db_load.py --port PORT --path /graphql --token T (--repeat FILE | --each FILE)
        [--connections 8] [--start-at EPOCH] [--seconds 10]

``--repeat FILE``: every connection sends FILE's body again and again from
``--start-at`` (a wall-clock time, so several client processes start together)
for ``--seconds`` (or until ``--stop-file`` exists), at most one request per ``--interval``
seconds per connection (0: back to back). ``--each FILE``: one body per line of FILE, each sent once,
shared out among the connections, until all are sent. Prints one JSON object:
``samples`` ([wall-clock start, seconds] per request), ``errors`` (a status
other than 200 or a GraphQL ``errors`` entry) and the first error's text.

A few lines of asyncio streams rather than an HTTP library, so that the client
costs little CPU beside the server it loads (both share the machine's cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path


class Client:
    """One keep-alive connection to ``127.0.0.1:port``."""

    def __init__(self, port: int, path: str, token: str) -> None:
        self.port, self.path, self.token = port, path, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """Send one POST of ``body`` (JSON); return the status and the response body."""
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        response = await self.reader.readuntil(b"\r\n\r\n")
        status = int(response[9:12])
        length = 0
        for line in response.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)


def problem(status: int, body: bytes) -> str | None:
    """Why a response failed, or None."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    if body.startswith(b'{"errors"') or b'"errors":[{' in body[:200]:
        errors = json.loads(body).get("errors")
        if errors:
            return json.dumps(errors)[:300]
    return None


async def repeat(
    client: Client, body: bytes, stop_at: float, out: dict, stop_file: str | None, interval: float
) -> None:
    while time.time() < stop_at and not (stop_file and os.path.exists(stop_file)):
        started = time.perf_counter()
        await timed(client, body, out)
        await asyncio.sleep(interval - (time.perf_counter() - started))


async def each(client: Client, bodies: asyncio.Queue, out: dict) -> None:
    while not bodies.empty():
        await timed(client, bodies.get_nowait(), out)


async def timed(client: Client, body: bytes, out: dict) -> None:
    at, started = time.time(), time.perf_counter()
    status, answer = await client.post(body)
    out["samples"].append((at, time.perf_counter() - started))
    why = problem(status, answer)
    if why:
        out["errors"] += 1
        out["first_error"] = out["first_error"] or why


async def main(args: argparse.Namespace) -> dict:
    clients = [Client(args.port, args.path, args.token) for _ in range(args.connections)]
    for client in clients:
        await client.open()
    out = {"samples": [], "errors": 0, "first_error": ""}
    start_at = args.start_at or time.time()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    if args.repeat:
        body = Path(args.repeat).read_bytes()
        stop_at = start_at + args.seconds
        await asyncio.gather(*(repeat(c, body, stop_at, out, args.stop_file, args.interval) for c in clients))
    else:
        queue: asyncio.Queue = asyncio.Queue()
        for line in Path(args.each).read_bytes().splitlines():
            queue.put_nowait(line)
        await asyncio.gather(*(each(c, queue, out) for c in clients))
    out["finished_at"] = time.time()
    for client in clients:
        client.writer.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/graphql")
    parser.add_argument("--token", default="")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", help="a body to send again and again")
    parser.add_argument("--each", help="bodies, one a line, each sent once")
    parser.add_argument("--stop-file", help="with --repeat: stop early once this file exists")
    parser.add_argument(
        "--interval", type=float, default=0.0, help="with --repeat: seconds from one request's start to the next's"
    )
    print(json.dumps(asyncio.run(main(parser.parse_args()))))


def start(
    port: int,
    token: str,
    *,
    processes: int,
    connections: int,
    repeat: Path | None = None,
    each: list[Path] | None = None,
    start_at: float = 0.0,
    seconds: float = 10.0,
    path: str = "/graphql",
    stop_file: Path | None = None,
    interval: float = 0.0,
) -> list[subprocess.Popen]:
    """Start ``processes`` client processes (``each``: one file of bodies per process); see :func:`finish`."""
    command = [sys.executable, str(Path(__file__).resolve()), "--port", str(port), "--path", path, "--token", token,
               "--connections", str(connections), "--start-at", str(start_at), "--seconds", str(seconds),
               "--interval", str(interval)]  # fmt: skip
    started = []
    for n in range(processes):
        source = ["--repeat", str(repeat)] if repeat else ["--each", str(each[n])]
        source += ["--stop-file", str(stop_file)] if stop_file else []
        started.append(subprocess.Popen([*command, *source], stdout=subprocess.PIPE))
    return started


def finish(started: list[subprocess.Popen]) -> dict:
    """Wait for the clients; their samples together (sorted by start), errors summed, the first error's text."""
    merged = {"samples": [], "errors": 0, "first_error": "", "finished_at": 0.0}
    for process in started:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a load client exited with {process.returncode}")
        result = json.loads(out)
        merged["samples"] += result["samples"]
        merged["errors"] += result["errors"]
        merged["first_error"] = merged["first_error"] or result["first_error"]
        merged["finished_at"] = max(merged["finished_at"], result["finished_at"])
    merged["samples"].sort()
    return merged
