"""Clients that keep a live server busy while a test breaks what it depends on, and the checks run after each fault."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from resolvers.invariants import find_violations

DATABASE_DOWN = {"message": "the database is unavailable; retry shortly", "code": "SERVICE_UNAVAILABLE"}
"""What a client sees of an operation the database could not serve: a code to retry on, no internals."""


@dataclass
class Outcome:
    """One request sent during a fault: when it started and ended (monotonic seconds), its status and JSON body."""

    label: str
    started: float
    ended: float
    status: int
    body: dict

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def failure(self) -> dict | None:
        """``{message, code}`` of a refused operation (its only error), None when it succeeded."""
        errors = self.body.get("errors")
        if not errors:
            return None
        assert self.body.get("data") is None, self.body
        (error,) = errors
        return {"message": error["message"], "code": error["extensions"]["code"]}


@dataclass
class Traffic:
    """Requests sent by :meth:`keep_sending` loops until :meth:`stop`, every one recorded."""

    outcomes: list[Outcome] = field(default_factory=list)
    running: bool = True

    async def send(self, http, label: str, query: str, variables: dict, token: str) -> Outcome:
        started = time.monotonic()
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
        )
        outcome = Outcome(label, started, time.monotonic(), response.status_code, response.json())
        self.outcomes.append(outcome)
        return outcome

    async def keep_sending(self, make_request, pause: float = 0.01) -> None:
        """Await ``make_request(n)`` for n = 0, 1, … until stopped."""
        n = 0
        while self.running:
            await make_request(n)
            n += 1
            await asyncio.sleep(pause)

    def stop(self) -> None:
        self.running = False


async def assert_no_violations(storage) -> None:
    """``certify check`` finds nothing wrong with the data."""
    violations = await find_violations(storage=storage)
    assert violations == [], [(v.rule, v.subject, v.detail) for v in violations]
