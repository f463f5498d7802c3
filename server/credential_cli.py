"""``certify verify-credential`` and ``certify rotate-issuer-key``.

``verify-credential PATH_OR_URL [--did-document FILE]`` reads a credential
(JSON, or a PNG that carries one, from a file or over HTTP), runs every check
of :func:`credentials.verifier.verify_credential` (the DID document and the
status list fetched over HTTP, each within 10 s in all, or read from the files
``--did-document`` and ``--status-list`` give: offline)
and prints one line per check. Exit 0: verified; 1: any check failed
(changed bytes, unknown context or key, revoked, expired, status list
unreachable); 2: the credential itself could not be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from credentials.baking import BakingError, read_credential
from credentials.did import DidError, did_document_url
from credentials.keys import KeyFileError, rotate
from credentials.verifier import Verification, reason, verify_credential
from server.settings import Settings

FETCH_TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 5_000_000


class SourceError(Exception):
    """The credential to verify cannot be read; the message says why."""


def _parse(data: bytes, where: str) -> dict:
    """A credential from JSON bytes or a baked PNG; :class:`SourceError` naming ``where`` otherwise."""
    try:
        return read_credential(data)
    except BakingError as error:
        raise SourceError(f"{where}: {error}") from None


async def _get(client: httpx.AsyncClient, url: str) -> bytes:
    """The body at ``url`` within :data:`FETCH_TIMEOUT_SECONDS` in all (a server dripping bytes cannot hold it).

    Raises:
        httpx.HTTPError, ValueError: a failed or oversized answer; TimeoutError: past the deadline.
    """
    try:
        return await asyncio.wait_for(_read(client, url), FETCH_TIMEOUT_SECONDS)
    except TimeoutError:
        raise TimeoutError(f"no whole answer within {FETCH_TIMEOUT_SECONDS:g} s") from None


async def _read(client: httpx.AsyncClient, url: str) -> bytes:
    async with client.stream("GET", url, headers={"Accept": "application/vc+ld+json, application/json"}) as answer:
        answer.raise_for_status()
        body = bytearray()
        async for chunk in answer.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"more than {MAX_DOCUMENT_BYTES:,} bytes")
        return bytes(body)


def _pinned(did_document: Path | None, status_list: Path | None) -> dict[str, object]:
    """The documents given as files, by the URL they stand for: the DID document's and the status list's."""
    pinned: dict[str, object] = {}
    if did_document is not None:
        document = json.loads(did_document.read_text(encoding="utf-8"))
        pinned[did_document_url(document.get("id", "") if isinstance(document, dict) else "")] = document
    if status_list is not None:
        document = json.loads(status_list.read_text(encoding="utf-8"))
        pinned[document.get("id", "") if isinstance(document, dict) else ""] = document
    return pinned


async def _verify(source: str, did_document: Path | None, status_list: Path | None) -> tuple[dict, Verification]:
    try:
        pinned = _pinned(did_document, status_list)
    except (OSError, ValueError, DidError) as error:
        raise SourceError(f"--did-document / --status-list: {error}") from None
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=True) as client:

        async def fetch_json(url: str) -> object:
            if url in pinned:
                return pinned[url]
            return json.loads(await _get(client, url))

        if source.startswith(("http://", "https://")):
            try:
                data = await _get(client, source)
            except (httpx.HTTPError, ValueError, TimeoutError) as error:
                raise SourceError(f"{source}: {reason(error)}") from None
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as error:
                raise SourceError(f"{source}: {error.strerror or error}") from None
        credential = _parse(data, source)
        return credential, await verify_credential(credential, fetch_json=fetch_json, now=datetime.now(UTC))


def verify_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``certify verify-credential``; print the checks; the exit status above."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        credential, report = asyncio.run(_verify(args.source, args.did_document, args.status_list))
    except (SourceError, OSError, ValueError) as error:
        print(f"certify verify-credential: {error}", file=sys.stderr)
        return 2
    print(f"credential: {credential.get('id', '(no id)')}")
    for check in report.checks:
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<7} {check.detail}")
    if report.verified:
        print("verified")
        return 0
    reasons = [check.name for check in report.checks if not check.ok]
    print(
        "NOT verified: "
        + ", ".join(reasons)
        + (" (revoked)" if report.revoked else "")
        + (" (expired)" if report.expired else "")
    )
    return 1


def rotate_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``certify rotate-issuer-key``: add a new signing key to the key ring; older keys stay listed while in use."""
    try:
        ring = rotate(settings.issuer_key_path)
    except FileNotFoundError:
        print(
            f"certify rotate-issuer-key: no issuer key ring at {settings.issuer_key_path} (the server makes one on "
            "its first start; check CERTIFY_ISSUER_KEY_FILE and CERTIFY_DATA_DIR)",
            file=sys.stderr,
        )
        return 2
    except (KeyFileError, OSError) as error:
        print(f"certify rotate-issuer-key: {error}", file=sys.stderr)
        return 2
    print(
        f"issuer key ring {settings.issuer_key_path}: {len(ring.keys)} keys; new signing key {ring.current.public_multibase}"
    )
    print("Restart the server and workers so that they sign with it.")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The two commands' parsers, on ``certify``'s subcommands."""
    verify = commands.add_parser(
        "verify-credential", help="verify a signed credential (file, PNG or URL); exit 1 if it fails"
    )
    verify.add_argument("source", metavar="PATH_OR_URL")
    verify.add_argument("--did-document", dest="did_document", type=Path, help="the issuer's DID document as a file")
    verify.add_argument(
        "--status-list", dest="status_list", type=Path, help="the status list credential as a file (offline)"
    )
    verify.set_defaults(run=verify_command)
    rotate_parser = commands.add_parser("rotate-issuer-key", help="add a new issuer signing key to the key ring")
    rotate_parser.set_defaults(run=rotate_command)
