"""The ``certify`` console script: serve, worker, token, seed-demo, export-schema, check.

Commands and options: README.md, "Operating". Settings come from ``CERTIFY_*``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from models.enums import CertificateStatus, Role
from server.logs import configure_logging, log_config
from server.settings import Settings


def served_url(host: str, port: int) -> str:
    """The base URL of ``certify serve --host host --port port`` (a wildcard host is named 127.0.0.1)."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _fresh_metrics_dir(workers: int) -> None:
    """Multiprocess metrics for this run: ``PROMETHEUS_MULTIPROC_DIR`` wiped, or with several workers a new one.

    A directory made here is removed at exit.

    Set before any worker imports prometheus_client, which picks its storage at import.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink(missing_ok=True)
    elif workers > 1:
        made = tempfile.mkdtemp(prefix="certify-metrics-")
        atexit.register(shutil.rmtree, made, True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from models.db import migrate
    from server.uvicorn_http import HttpProtocol
    from server.uvicorn_ws import WebSocketProtocol

    # uvicorn handles SIGTERM (a graceful stop), then raises it again once it has stopped: with this
    # handler that second one ends the process with status 0 instead of "killed by SIGTERM".
    signal.signal(signal.SIGTERM, _stopped)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(migrate(settings.database_url))
    # Migrated once here, so workers need not race to do it again.
    os.environ["CERTIFY_MIGRATE_ON_START"] = "false"
    os.environ.setdefault("CERTIFY_DATA_DIR", str(settings.data_dir))
    # Links in e-mails, QR codes and signed URLs follow the address served, unless CERTIFY_PUBLIC_URL says otherwise.
    os.environ.setdefault("CERTIFY_PUBLIC_URL", served_url(args.host, args.port))
    settings.warn_if_insecure()
    # The issuer key ring is read (made on the first start) once here, so a broken file stops the start
    # with its reason and workers never race to make it.
    from credentials.keys import KeyFileError
    from server.issuer import issuer_of

    try:
        issuer_of(settings)
    except (KeyFileError, OSError) as error:
        print(f"certify serve: {error}", file=sys.stderr)
        return 2
    _fresh_metrics_dir(args.workers)
    logging.getLogger(__name__).info("serving GraphiQL at http://%s:%d/graphql", args.host, args.port)
    uvicorn.run(
        "server.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        log_config=log_config(level=settings.log_level, log_format=settings.log_format),
        http=HttpProtocol,  # uvicorn's httptools, answering 431 to request heads over 64 KiB
        ws=WebSocketProtocol,  # uvicorn's websockets-sansio, keeping less per open connection
        # No permessage-deflate (optional, RFC 7692): its zlib contexts cost ≈ 45 KiB per connection
        # that negotiates it (every browser offers it), more than the rest of an idle subscriber.
        ws_per_message_deflate=False,
        proxy_headers=True,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        # On SIGTERM: stop accepting, close websockets with 1012, then give in-flight requests this
        # long to finish before they are cancelled (docs/RULES.md, "Realtime"); uvicorn would wait forever.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from gql.ids import decode_id
    from resolvers.access import Claim, token_claim
    from server.auth import TokenService

    role = Role(args.role)
    problem = None
    if args.ttl <= 0:
        problem = "--ttl must be a positive number of seconds"
    elif token_claim(role) is Claim.ORGANISATION and args.org is None:
        problem = f"--org GLOBAL_ID (an Organisation ID) is required for {role.value}"
    elif args.org is not None and decode_id(args.org, "Organisation") is None:
        problem = f"--org {args.org!r} is not an Organisation ID"
    elif token_claim(role) is Claim.TEST_TAKER and args.test_taker is None:
        problem = "--test-taker GLOBAL_ID (a TestTaker ID) is required for test_taker"
    elif args.test_taker is not None and decode_id(args.test_taker, "TestTaker") is None:
        problem = f"--test-taker {args.test_taker!r} is not a TestTaker ID"
    if problem:
        print(f"certify token: {problem}", file=sys.stderr)
        return 2
    token = TokenService(settings).mint(
        role=role,
        subject=args.subject or role.value,
        organisation_gid=args.org,
        test_taker_gid=args.test_taker,
        ttl_seconds=args.ttl,
    )
    print(token)
    return 0


async def _seed(settings: Settings, sittings: int) -> dict[str, str | None]:
    from tortoise import Tortoise

    from adapters.storage import LocalFileStorage
    from demo.sample import sample_holder
    from demo.seed import demo_summary, seed_demo
    from gql.ids import to_global_id
    from models.db import forget_compiled_statements, migrate, tortoise_config
    from server.auth import TokenService

    forget_compiled_statements()
    await migrate(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    try:
        storage = LocalFileStorage(settings.files_dir)
        summary = await seed_demo(storage=storage, sittings=sittings, policy=settings.lifecycle_policy)
        issued = "none issued now (rendering is off): the render queue issues the APPROVED ones"
        if not summary.created:
            issued = "as seeded before"
        elif settings.render_enabled:
            issued = await _issue_demo(settings, storage)
            summary = await demo_summary(created=True)
        taker_id, taker_name, to_certify = await sample_holder(
            summary.sample_test_taker_ids, summary.main_organisation_id
        )
    finally:
        await Tortoise.close_connections()
    tokens = TokenService(settings)
    day = 24 * 3600
    org = to_global_id("Organisation", summary.main_organisation_id)
    taker = to_global_id("TestTaker", taker_id)
    return {
        "organisation": org,
        "test_taker": taker,
        "test_taker_name": taker_name,
        "test_taker_to_certify": to_certify,
        "org_admin": tokens.mint(role=Role.ORG_ADMIN, subject="demo-admin", organisation_gid=org, ttl_seconds=day),
        "analyst": tokens.mint(role=Role.ANALYST, subject="demo-analyst", organisation_gid=org, ttl_seconds=day),
        "test_taker_token": tokens.mint(
            role=Role.TEST_TAKER, subject="demo-test-taker", test_taker_gid=taker, ttl_seconds=day
        ),
        "security_reviewer": tokens.mint(role=Role.SECURITY_REVIEWER, subject="demo-reviewer", ttl_seconds=day),
        "platform_admin": tokens.mint(role=Role.PLATFORM_ADMIN, subject="demo-platform", ttl_seconds=day),
        "created": "yes" if summary.created else "no (already seeded)",
        "issued": issued,
        "certificates": ", ".join(
            f"{summary.certificate_counts[status]} {status}"
            for status in CertificateStatus
            if status in summary.certificate_counts
        ),
    }


async def _issue_demo(settings: Settings, storage) -> str:
    """Issue the demo's approved certificates with Chromium (:mod:`demo.issuing`); what happened, in a line."""
    from demo.issuing import issue_demo
    from demo.seed import MAIN_ORGANISATION
    from server.issuer import issuer_of
    from server.worker_process import render_settings_of, renderer_of

    renderer = renderer_of(settings)
    try:
        await renderer.start()
    except Exception as error:  # noqa: BLE001 - without Chromium the server's render queue issues them later
        return f"not issued now (Chromium: {error}); the server issues the APPROVED ones when it starts"
    try:
        done = await issue_demo(
            renderer=renderer,
            storage=storage,
            render=render_settings_of(settings),
            issuer=issuer_of(settings),
            organisation_name=MAIN_ORGANISATION,
            policy=settings.lifecycle_policy,
        )
    finally:
        await renderer.close()
    return f"{len(done.issued)} issued, {len(done.revoked)} of them revoked, {done.expiry_reminders} reminded of expiry"


ROLE_TOKENS = ("org_admin", "analyst", "test_taker_token", "security_reviewer", "platform_admin")


def _seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(_seed(settings, args.sittings))
    print(f"Demo data created: {result['created']}")
    print(f"Organisation: {result['organisation']}   sample test taker: {result['test_taker']}")
    if result["test_taker_to_certify"]:
        print(
            f"The test taker link signs in as {result['test_taker_name']}: certify their sitting on the "
            "dashboard (search their name) and it arrives on their page to claim."
        )
    print(f"Certificates: {result['certificates'] or 'none'}")
    print(f"Issued by the seed: {result['issued']}")
    print("Tokens (24 h; send as 'Authorization: Bearer <token>' in GraphiQL's headers):")
    for role in ROLE_TOKENS:
        print(f"  {role.removesuffix('_token'):<18} {result[role]}")
    from server.web_pages import sign_in_links

    tokens = {key: value for key, value in result.items() if key in ROLE_TOKENS}
    links = sign_in_links(settings.public_url, tokens)
    if links:
        print("Pages, signed in (development links: the token stays in the URL fragment, which no server sees):")
        for role, link in links.items():
            print(f"  {role:<18} {link}")
    return 0


def _export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from gql.schema import export_sdl

    sys.stdout.write(export_sdl())
    return 0


CHECK_CONNECT_SECONDS = 10
"""How long ``certify check`` waits for the database to answer before giving up (exit 2)."""


async def _run_check(settings: Settings) -> tuple[list[str], str] | str:
    """The violation lines and the summary line, or why the database could not be read."""
    from tortoise import Tortoise, connections

    from adapters.storage import LocalFileStorage
    from models.db import forget_compiled_statements, tortoise_config
    from resolvers.invariants import check_invariants

    url = urlsplit(settings.database_url)
    hidden = url.netloc.replace(f":{url.password}@", ":***@") if url.password else url.netloc
    where = url._replace(netloc=hidden).geturl()
    # Opening a missing SQLite file would create it.
    if url.scheme == "sqlite" and not os.path.isfile(settings.database_url.removeprefix("sqlite://").split("?")[0]):
        return f"no database at {where} (set CERTIFY_DATABASE_URL or CERTIFY_DATA_DIR)"
    forget_compiled_statements()
    try:
        # Not migrated on purpose: a check must not change the database it inspects.
        await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
        await asyncio.wait_for(connections.get("default").execute_query("SELECT 1"), CHECK_CONNECT_SECONDS)
        report = await check_invariants(storage=LocalFileStorage(settings.files_dir))
    except TimeoutError:
        return f"the database at {where} did not answer within {CHECK_CONNECT_SECONDS} s"
    except Exception as exc:  # noqa: BLE001 - any driver error means the database cannot be read; say which
        reason = str(exc).splitlines()[0] if str(exc) else "no message"
        return f"cannot read the database at {where}: {type(exc).__name__}: {reason}"
    finally:
        await Tortoise.close_connections()
    counts = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in report.checked.items())
    return [str(v) for v in report.violations], f"checked {counts}: {len(report.violations)} violations"


def _check(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    outcome = asyncio.run(_run_check(settings))
    if isinstance(outcome, str):
        print(f"certify check: {outcome}", file=sys.stderr)
        return 2
    lines, summary = outcome
    for line in lines:
        print(line)
    print(summary)
    return 1 if lines else 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from server.worker_process import main as run_worker

    return run_worker(settings, metrics_port=args.metrics_port, metrics_host=args.metrics_host)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certify", description="Certification service back end.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve HTTP + websockets")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=_serve)

    token = commands.add_parser("token", help="print a signed JWT for the configured secret")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--org", help="Organisation global ID (org_admin, analyst)")
    token.add_argument("--test-taker", dest="test_taker", help="TestTaker global ID (test_taker)")
    token.add_argument("--subject", help="the sub claim (default: the role)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(run=_token)

    seed = commands.add_parser("seed-demo", help="fill the database with a realistic demo; print a token per role")
    seed.add_argument("--sittings", type=int, default=6000, help="sittings for the main organisation (default 6000)")
    seed.set_defaults(run=_seed_demo)

    export = commands.add_parser("export-schema", help="print the GraphQL SDL (equals schema.graphql)")
    export.set_defaults(run=_export_schema)

    worker = commands.add_parser("worker", help="run the outbox and the render queue without serving HTTP")
    worker.add_argument("--metrics-port", dest="metrics_port", type=int, help="serve this process's metrics there")
    worker.add_argument("--metrics-host", dest="metrics_host", default="127.0.0.1")
    worker.set_defaults(run=_worker)

    check = commands.add_parser("check", help="check the data's invariants; exit 1 when any is broken")
    check.set_defaults(run=_check)

    from server.credential_cli import add_commands

    add_commands(commands)
    return parser


def settings_problems(error: ValidationError) -> list[str]:
    """One line per invalid setting: ``CERTIFY_NAME: what is wrong (got 'value')``."""
    lines = []
    for problem in error.errors():
        name = "CERTIFY_" + "_".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        given = problem.get("input")
        lines.append(f"{name}: {message}" + (f" (got {given!r})" if isinstance(given, str) else ""))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``certify`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        for line in settings_problems(error):
            print(f"certify: {line}", file=sys.stderr)
        return 2
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    return args.run(args, settings)


if __name__ == "__main__":
    sys.exit(main())
