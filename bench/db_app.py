"""The page-query benchmark's server: the product's app plus, in this process only, a baseline and statement counts.

Usage (``bench/page_query_bench.py`` starts it; settings from ``CERTIFY_*`` variables as for ``certify serve``):
    .venv/bin/python bench/db_app.py --port PORT

Builds the app with ``create_app(Settings())``, exactly as ``certify serve``
does, and adds what the product never mounts:

- ``GET /bench/sittings?org=ID&first=50``: the baseline, the same read as the
  ``sittings`` page with test taker, test and certificate (a count, the page
  in ``takenAt``-descending order, then the test takers, tests and current
  certificates of its rows), through the same ORM, answered as JSON by a plain
  Starlette endpoint: no GraphQL, no token;
- ``POST /bench/nothing``: the JSON ``{ __typename }`` answers, with no work
  behind it, so the page query can subtract what HTTP, Starlette and the
  app's middleware cost per request from a ``{ __typename }`` request's CPU;
- a request with the header ``X-Bench-Count-Statements`` is answered with
  ``X-Bench-Statements: N``, the SQL statements it ran (Tortoise logs each on
  ``tortoise.db_client``, as ``tests/support.py``'s ``SqlStatements`` counts them).

It runs under uvicorn with the product's HTTP protocol, one worker.
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextvars import ContextVar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gql.ids import to_global_id
from models import Certificate, Sitting, Test, TestTaker
from models.enums import CertificateStatus
from server.app import create_app
from server.settings import Settings
from server.uvicorn_http import HttpProtocol

COUNTED: ContextVar[list[str] | None] = ContextVar("counted", default=None)
STATEMENTS = logging.getLogger("tortoise.db_client")


async def sittings_baseline(request: Request) -> JSONResponse:
    """One page of an organisation's sittings with test taker, test and certificate, as JSON."""
    organisation_id, first = int(request.query_params["org"]), int(request.query_params.get("first", 50))
    queryset = Sitting.filter(organisation_id=organisation_id)
    total = await queryset.count()
    page = (await queryset.order_by("-taken_at", "-id").limit(first + 1))[:first]
    takers = {t.id: t for t in await TestTaker.filter(id__in={s.test_taker_id for s in page})}
    tests = {t.id: t for t in await Test.filter(id__in={s.test_id for s in page})}
    current = Certificate.filter(sitting_id__in=[s.id for s in page]).exclude(status=CertificateStatus.LAPSED)
    certificates = {c.sitting_id: c for c in await current}
    edges = []
    for s in page:
        taker, test, certificate = takers[s.test_taker_id], tests[s.test_id], certificates.get(s.id)
        edges.append({"node": {
            "id": to_global_id("Sitting", s.id), "status": s.status.value, "score": s.score,
            "takenAt": s.taken_at.isoformat(),
            "testTaker": {"id": to_global_id("TestTaker", taker.id), "name": taker.name, "email": taker.email},
            "test": {"id": to_global_id("Test", test.id), "name": test.name},
            "certificate": certificate and {"id": to_global_id("Certificate", certificate.id),
                                            "status": certificate.status.value},
        }})  # fmt: skip
    return JSONResponse({"data": {"sittings": {"totalCount": total, "edges": edges}}})


async def nothing_baseline(request: Request) -> JSONResponse:
    """The answer ``{ __typename }`` gets, with no work behind it: what HTTP, Starlette and the app's middleware
    (request ids, the body limit, the statement counting) cost per request, without a token or GraphQL."""
    return JSONResponse({"data": {"__typename": "Query"}})


class _Counter(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        found = COUNTED.get()
        if found is not None and not str(record.msg).startswith(("Created connection", "Closed connection")):
            found.append(str(record.args[0]) if record.args else str(record.msg))


class StatementCounting:
    """ASGI middleware: a request with ``X-Bench-Count-Statements`` gets ``X-Bench-Statements`` in its answer."""

    def __init__(self, app) -> None:
        self.app = app
        STATEMENTS.addHandler(_Counter(logging.DEBUG))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not any(k == b"x-bench-count-statements" for k, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        found: list[str] = []
        token = COUNTED.set(found)
        level, propagate = STATEMENTS.level, STATEMENTS.propagate
        STATEMENTS.setLevel(logging.DEBUG)
        STATEMENTS.propagate = False

        async def counted(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-bench-statements", str(len(found)).encode())]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            STATEMENTS.setLevel(level)
            STATEMENTS.propagate = propagate
            COUNTED.reset(token)


def bench_app():
    """The product's app with the two baseline routes in front of its own routes, inside the statement counting."""
    app = create_app(Settings())
    app.router.routes.insert(0, Route("/bench/sittings", sittings_baseline, methods=["GET", "POST"]))
    app.router.routes.insert(0, Route("/bench/nothing", nothing_baseline, methods=["GET", "POST"]))
    return StatementCounting(app)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(bench_app(), host="127.0.0.1", port=port, log_level="warning", http=HttpProtocol)
