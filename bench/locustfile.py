"""The mixed load's users, for locust (``bench/mixed_load_bench.py`` runs ``locust -f bench/locustfile.py``).

Importing locust monkey-patches the process with gevent, so this module is
only ever loaded by the locust process, never by pytest or the benchmark
driver. It reads its plan (``bench/load_seed.py``, ``Plan``) from the JSON
file ``CERTIFY_LOAD_PLAN`` and the number of users of each kind from
``CERTIFY_LOAD_USERS`` (JSON, ``{"dashboards": 4, …}``), and writes every
request's sample to ``CERTIFY_LOAD_SAMPLES`` when locust quits:
``{"samples": [[unix time s, name, ms, failed], …], "errors": {name: [message, …]}, "pushes": n}``.

A request fails on an HTTP status other than 200, a body that is not
GraphQL's JSON, any GraphQL ``errors``, and any ``UserError`` in a payload
(the workload is planned so that none is due: no two users act on the same
sitting or certificate).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from collections import defaultdict
from pathlib import Path

from locust import HttpUser, User, between, events, task  # first: importing locust monkey-patches with gevent

# isort: split
import websocket
from gevent.queue import Empty, Queue

ROOT = Path(__file__).resolve().parents[1]
PLAN = json.loads(Path(os.environ["CERTIFY_LOAD_PLAN"]).read_text())
USERS = json.loads(os.environ.get("CERTIFY_LOAD_USERS", "{}"))
HOLD_SECONDS = json.loads(os.environ.get("CERTIFY_LOAD_HOLD", "[20, 40]"))
"""How long a live-query subscriber holds its websocket before it resubscribes: [least, most] seconds."""
PORTRAIT = (ROOT / "tests/data/portrait.jpg").read_bytes()  # a real portrait photo, as test takers send
HOLDER_NAMES = ("Zoë Nguyễn", "محمد عبد الله", "דוד כהן", "王小明", "김민준", "Siobhán O’Connor", "Ана Иванова")

SAMPLES: list[list] = []
ERRORS: dict[str, list[str]] = defaultdict(list)
PUSHES = [0]
CLAIMS = iter(PLAN["claims"])
ADMINS = iter(PLAN["admins"])
CLAIMED: Queue = Queue()
"""Certificates a claimer has put under review, for the reviewers to approve (one each)."""


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None, **_):
    SAMPLES.append([round(time.time(), 3), name, round(response_time, 2), exception is not None])
    if exception is not None and len(ERRORS[name]) < 20:
        ERRORS[name].append(str(exception)[:300])


@events.quitting.add_listener
def _write(**_):
    path = os.environ.get("CERTIFY_LOAD_SAMPLES")
    if path:
        Path(path).write_text(json.dumps({"samples": SAMPLES, "errors": ERRORS, "pushes": PUSHES[0]}))


SITTINGS = """
query($filter: SittingFilter, $orderBy: SittingOrder, $after: String) {
  sittings(filter: $filter, orderBy: $orderBy, first: 50, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id score status takenAt testTaker { name } test { name } } }
  }
}"""
STATS = "query($filter: SittingFilter) { sittingStats(filter: $filter) { total byStatus { status count } } }"
LIVE = """
subscription($filter: SittingFilter, $orderBy: SittingOrder) {
  liveSittings(filter: $filter, orderBy: $orderBy, first: 20) { totalCount edges { node { id status score } } }
}"""
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) {
    certifiedCount creditsSpent creditBalance errors { code message }
  }
}"""
CLAIM = """
mutation($input: ClaimCertificateInput!) {
  claimCertificate(input: $input) { certificate { id status } errors { code message } }
}"""
QUEUE = "query { reviewQueue(first: 20) { totalCount edges { node { id status holderName submittedAt } } } }"
APPROVE = """
mutation($id: ID!) { approveCertificate(input: {certificateId: $id}) { certificate { id status } errors { code message } } }
"""
ANALYTICS = {
    "sittingAggregates": "{ sittingAggregates(groupBy: [TEST, STATUS]) { test { name } status count medianScore } }",
    "sittingAggregates by month": """query { sittingAggregates(filter: {status: [IN_PROGRESS, CERTIFIED]},
        groupBy: [TEST, CERTIFIED_MONTH], timeZone: "Europe/Berlin") { certifiedMonth count } }""",
    "scoreHistogram": "{ scoreHistogram(bucketWidth: 10) { from to count } }",
    "certificationFunnel": "{ certificationFunnel { certified claimed issued medianSecondsToClaim } }",
    "creditUsage": '{ creditUsage(timeZone: "Europe/Berlin") { month purchased spent refunded } }',
}
ORDERS = (
    {"field": "TAKEN_AT", "direction": "DESC"},
    {"field": "SCORE", "direction": "DESC"},
    {"field": "TEST_TAKER_NAME", "direction": "ASC"},
)


def filters() -> list[dict | None]:
    """The dashboards' filters: by status, test and score, search, certificate status, none."""
    test = random.choice(PLAN["tests"])
    return [
        None,
        {"status": ["UNSELECTED"]},
        {"status": ["INELIGIBLE"], "scoreMax": 45},
        {"testId": test, "scoreMin": 70},
        {"search": random.choice(("nguyễn", "cohen", "load1", "Ivanova"))},
        {"status": ["IN_PROGRESS", "CERTIFIED"]},
        {"certificateStatus": ["UNDER_REVIEW", "APPROVED", "ISSUED"]},
        {"takenAfter": "2026-09-01T00:00:00+00:00", "status": ["UNSELECTED", "IN_PROGRESS"]},
    ]


def problem_of(response, payload: str | None) -> tuple[str | None, dict | None]:
    """Why ``response`` counts as an error (None: it does not), and its ``data``."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}", None
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}", None
    if body.get("errors"):
        first = body["errors"][0]
        return f"GraphQL error {first.get('extensions', {}).get('code')}: {first.get('message')}", body.get("data")
    data = body.get("data")
    if data is None:
        return "no data", None
    if payload is not None and data[payload].get("errors"):
        return f"payload errors {data[payload]['errors']}", data
    return None, data


class GraphQLUser(HttpUser):
    """An HTTP user with a token that sends GraphQL operations and judges their answers."""

    abstract = True
    token = ""

    def graphql(self, name: str, query: str, variables: dict | None = None, *, payload: str | None = None, **extra):
        """POST one operation (JSON, or multipart with ``files``); ``data`` or None when it failed."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if "files" in extra:
            operations = json.dumps({"query": query, "variables": variables})
            request = {"data": {"operations": operations, "map": json.dumps(extra.pop("map"))}, **extra}
        else:
            request = {"json": {"query": query, "variables": variables or {}}}
        with self.client.post("/graphql", name=name, headers=headers, catch_response=True, **request) as response:
            problem, data = problem_of(response, payload)
            if problem:
                response.failure(problem)
                return None
            response.success()
            return data


class Dashboard(GraphQLUser):
    """An admin's dashboard: a filtered, ordered first page, the counts, then up to two pages by cursor."""

    fixed_count = USERS.get("dashboards", 0)
    wait_time = between(1, 3)
    tokens = itertools.cycle(PLAN["dashboards"] or [""])

    def on_start(self) -> None:
        self.token = next(self.tokens)

    @task
    def browse(self) -> None:
        variables = {"filter": random.choice(filters()), "orderBy": random.choice(ORDERS)}
        page = self.graphql("sittings first page", SITTINGS, variables)
        self.graphql("sittingStats", STATS, {"filter": variables["filter"]})
        for _ in range(random.randint(0, 2)):
            if not page or not page["sittings"]["pageInfo"]["hasNextPage"]:
                break
            after = page["sittings"]["pageInfo"]["endCursor"]
            page = self.graphql("sittings next page", SITTINGS, {**variables, "after": after})


class Admin(GraphQLUser):
    """An admin certifying 5–20 of their own eligible sittings at a time, now and then retrying with the same key."""

    fixed_count = USERS.get("admins", 0)
    wait_time = between(2, 5)

    def on_start(self) -> None:
        mine = next(ADMINS, None)
        self.token, self.pool = (mine["token"], list(mine["sittings"])) if mine else ("", [])

    @task
    def certify(self) -> None:
        ids = [self.pool.pop() for _ in range(min(len(self.pool), random.randint(5, 20)))]
        if not ids:
            return
        variables = {"ids": ids, "key": f"load-{uuid.uuid4()}"}
        for name in ("certifySittings", "certifySittings retried, same key")[: 2 if random.random() < 0.2 else 1]:
            data = self.graphql(name, CERTIFY, variables, payload="certifySittings")
            if data and data["certifySittings"]["certifiedCount"] != len(ids):
                self._fail(name, f"certified {data['certifySittings']['certifiedCount']} of {len(ids)}")

    def _fail(self, name: str, message: str) -> None:
        self.environment.events.request.fire(
            request_type="CHECK", name=name, response_time=0, response_length=0, exception=AssertionError(message)
        )


class Claimer(GraphQLUser):
    """A test taker claiming their certificate with a name and the portrait (a multipart upload)."""

    fixed_count = USERS.get("claimers", 0)
    wait_time = between(1, 3)

    @task
    def claim(self) -> None:
        mine = next(CLAIMS, None)
        if mine is None:
            return
        self.token = mine["token"]
        variables = {"input": {"sittingId": mine["sitting"], "holderName": random.choice(HOLDER_NAMES), "photo": None}}
        data = self.graphql(
            "claimCertificate (multipart photo)", CLAIM, variables, payload="claimCertificate",
            files={"0": ("portrait.jpg", PORTRAIT, "image/jpeg")}, map={"0": ["variables.input.photo"]},
        )  # fmt: skip
        if data:
            CLAIMED.put(data["claimCertificate"]["certificate"]["id"])


class Reviewer(GraphQLUser):
    """A security reviewer reading the review queue and approving the next claim (rendered by Chromium)."""

    fixed_count = USERS.get("reviewers", 0)
    wait_time = between(1, 2)
    tokens = itertools.cycle(PLAN["reviewers"] or [""])

    def on_start(self) -> None:
        self.token = next(self.tokens)

    @task
    def review(self) -> None:
        self.graphql("reviewQueue", QUEUE)
        try:
            certificate = CLAIMED.get_nowait()
        except Empty:
            return
        self.graphql("approveCertificate", APPROVE, {"id": certificate}, payload="approveCertificate")


class Analyst(GraphQLUser):
    """An analyst running one of the analytics queries."""

    fixed_count = USERS.get("analysts", 0)
    wait_time = between(2, 5)
    tokens = itertools.cycle(PLAN["analysts"] or [""])

    def on_start(self) -> None:
        self.token = next(self.tokens)

    @task
    def aggregate(self) -> None:
        name = random.choice(list(ANALYTICS))
        self.graphql(name, ANALYTICS[name])


class LiveSubscriber(User):
    """A dashboard's live query: ``liveSittings`` over graphql-transport-ws, held 20–40 s, then resubscribed."""

    fixed_count = USERS.get("subscribers", 0)
    wait_time = between(1, 3)
    tokens = itertools.cycle(PLAN["subscribers"] or [""])

    def on_start(self) -> None:
        self.token = next(self.tokens)

    def _event(self, name: str, started: float, exception: Exception | None = None) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.environment.events.request.fire(
            request_type="WS", name=name, response_time=elapsed, response_length=0, exception=exception
        )

    @task
    def watch(self) -> None:
        url = self.host.replace("http", "ws", 1) + "/graphql"
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(
                url, subprotocols=["graphql-transport-ws"], timeout=30, suppress_origin=True
            )
        except Exception as exc:  # noqa: BLE001 - a refused connection is the load's error to count
            self._event("liveSittings connect", started, exc)
            return
        try:
            ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}))
            ack = json.loads(ws.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            self._event("liveSittings connect", started)
            self._subscribe(ws)
        except Exception as exc:  # noqa: BLE001 - counted, then the user subscribes again
            self._event("liveSittings stream", started, exc)
        finally:
            ws.close()

    def _subscribe(self, ws) -> None:
        variables = {"filter": random.choice(filters()[:4]), "orderBy": random.choice(ORDERS[:2])}
        started = time.perf_counter()
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": LIVE, "variables": variables}}))
        first = True
        until = time.monotonic() + random.uniform(*HOLD_SECONDS)
        while time.monotonic() < until:
            ws.settimeout(max(0.1, until - time.monotonic()))
            try:
                message = json.loads(ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if message["type"] == "ping":
                ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] != "next" or message["payload"].get("errors"):
                raise RuntimeError(f"live query answered {json.dumps(message)[:300]}")
            if first:
                self._event("liveSittings first page", started)
                first = False
            else:
                PUSHES[0] += 1
        if first:
            raise RuntimeError("no first page within the hold")
        ws.send(json.dumps({"id": "1", "type": "complete"}))
