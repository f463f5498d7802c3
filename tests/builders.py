"""Test data built through the public API (platform admin mutations), as the platform would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gql.ids import decode_id

CREATE_ORGANISATION = """
mutation($name: String!) { createOrganisation(input: {name: $name}) { organisation { id } errors { code message } } }
"""
CREATE_TEST = """
mutation($name: String!, $min: Int!) {
  createTest(input: {name: $name, minCertifiableScore: $min, scoreMax: 100}) { test { id } errors { code message } }
}
"""
CREATE_VALID_TEST = """
mutation($name: String!, $months: Int) {
  createTest(input: {name: $name, minCertifiableScore: 60, scoreMax: 100, validityMonths: $months}) {
    test { id validityMonths } errors { code message }
  }
}
"""
"""A test scored 0–100 (minimum 60) whose certificates stay valid ``$months`` months."""
PURCHASE_CREDITS = """
mutation($org: ID!, $credits: Int!, $ref: String!) {
  purchaseCredits(input: {organisationId: $org, credits: $credits, reference: $ref}) {
    organisation { id creditBalance } errors { code message field }
  }
}
"""
RECORD_SITTINGS = """
mutation($rows: [RecordSittingInput!]!) {
  recordSittings(input: {sittings: $rows}) { recordedCount unchangedCount errors { code message field } }
}
"""

BASE_TIME = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@dataclass
class World:
    """One organisation with a test and some sittings; ids are global IDs, pks are database ids."""

    organisation_id: str
    test_id: str
    sitting_ids: list[str] = field(default_factory=list)

    @property
    def organisation_pk(self) -> int:
        return decode_id(self.organisation_id, "Organisation")


def sitting_row(world_org: str, test: str, n: int, *, score: int = 80, photo: str = "PASSED", taken_at: datetime | None = None, prefix: str = "ext", email: str | None = None, name: str | None = None) -> dict:
    """A RecordSittingInput value for sitting number ``n``."""
    return {
        "externalId": f"{prefix}-{n}",
        "organisationId": world_org,
        "testId": test,
        "testTakerEmail": email or f"candidate{n}@example.com",
        "testTakerName": name or f"Candidate {n}",
        "takenAt": (taken_at or BASE_TIME + timedelta(minutes=n)).isoformat(),
        "score": score,
        "photoCheck": photo,
    }


async def build_world(platform, *, sittings: int = 5, credits: int = 10, min_score: int = 60, name: str = "Acme Languages", prefix: str = "ext") -> World:
    """Create an organisation, a test (scores 0–100, minimum ``min_score``), ``credits`` credits and ``sittings``
    eligible sittings."""
    org = (await platform.data(CREATE_ORGANISATION, {"name": name}))["createOrganisation"]["organisation"]["id"]
    test = (await platform.data(CREATE_TEST, {"name": f"{name} English", "min": min_score}))["createTest"]["test"]["id"]
    if credits:
        await platform.data(PURCHASE_CREDITS, {"org": org, "credits": credits, "ref": f"{prefix}-initial"})
    world = World(org, test)
    if sittings:
        rows = [sitting_row(org, test, n, prefix=prefix) for n in range(sittings)]
        result = (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
        assert result["errors"] == [], result
    return world
