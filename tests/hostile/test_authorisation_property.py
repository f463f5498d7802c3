"""Authorisation as a property: nobody scoped to one organisation reads or changes another's data.

Two organisations, each with sittings, test takers, a certificate and its
notification. Hypothesis draws which organisation is the viewer's and which
is the other, a role of the viewer's (org admin, analyst, test taker, also
security reviewer and anonymous; platform admins see everything by design),
and an operation that names the other organisation's objects: global IDs of
its sittings, certificates, test takers, notifications, organisation and
test in ``node``, filters, analytics, exports (the CSV is downloaded too)
and every mutation that takes an ID, including a multipart claim. Each answer
must be below 500, hold none of the other organisation's IDs or names, and
the other organisation's data must be exactly as before (support.snapshot
plus its certificate).
"""

from __future__ import annotations

import json

import pytest
from certificate_flow import path_of, portrait
from hostile_support import HOSTILE, bearer, role_tokens
from hypothesis import given, settings
from hypothesis import strategies as st
from support import snapshot

from gql.ids import decode_id
from models import Certificate

EXAMPLES = 150
VIEWER_ROLES = ["org_admin", "analyst", "test_taker", "security_reviewer", "anonymous"]

NODE = """
query($id: ID!) {
  node(id: $id) {
    id __typename
    ... on Sitting { score status testTaker { id name email } }
    ... on Certificate { status holderName sitting { id } }
    ... on TestTaker { name email }
    ... on Organisation { name creditBalance }
    ... on Notification { title }
  }
}
"""
SITTINGS = """
query($test: ID, $search: String) {
  sittings(filter: {testId: $test, search: $search}, first: 50) { totalCount edges { node { id testTaker { id name } } } }
  sittingStats(filter: {testId: $test, search: $search}) { total byStatus { status count } }
}
"""
ANALYTICS = """
query($test: ID) {
  sittingAggregates(filter: {testId: $test}) { count }
  certificationFunnel(filter: {testId: $test}) { recorded certified }
  scoreHistogram(filter: {testId: $test}, bucketWidth: 10) { count }
}
"""
CREDIT_USAGE = "query($org: ID) { creditUsage(organisationId: $org) { month purchased spent } }"
EXPORT = "query($test: ID) { exportSittings(filter: {testId: $test}) { url rowCount } }"
SELECT = "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount errors { code field } } }"
UNSELECT = "mutation($ids: [ID!]!) { unselectSittings(input: {ids: $ids}) { changedCount errors { code field } } }"
CERTIFY = """
mutation($ids: [ID!]!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "cross-org"}) { certifiedCount errors { code field } }
}
"""
MARK_READ = "mutation($ids: [ID!]!) { markNotificationsRead(input: {ids: $ids}) { errors { code field } } }"
PURCHASE = """
mutation($org: ID!) { purchaseCredits(input: {organisationId: $org, credits: 5, reference: "cross-org"}) { errors { code } } }
"""
APPROVE = (
    "mutation($id: ID!) { approveCertificate(input: {certificateId: $id}) { certificate { id } errors { code } } }"
)
REJECT = """
mutation($id: ID!) { rejectCertificate(input: {certificateId: $id, reason: "no"}) { certificate { id } errors { code } } }
"""
RETRY = "mutation($id: ID!) { retryRender(input: {certificateId: $id}) { certificate { id } errors { code } } }"
CLAIM = """
mutation($input: ClaimCertificateInput!) { claimCertificate(input: $input) { certificate { id } errors { code field } } }
"""


@st.composite
def operations(draw, other) -> tuple[str, str, dict]:
    """(label, document, variables) naming ``other``'s objects."""
    any_id = st.sampled_from(other.global_ids())
    sitting = st.sampled_from(other.sitting_ids)
    kind = draw(st.sampled_from(["node", "sittings", "analytics", "credit", "export", "select", "unselect", "certify",
                                 "read", "purchase", "approve", "reject", "retry", "claim"]))  # fmt: skip
    if kind == "node":
        return kind, NODE, {"id": draw(any_id)}
    if kind == "sittings":
        search = draw(st.sampled_from([None, "Candidate", other.name, f"{other.name} Candidate 1", "@example.com"]))
        return kind, SITTINGS, {"test": draw(st.sampled_from([None, other.test_id])), "search": search}
    if kind in ("analytics", "export"):
        return kind, ANALYTICS if kind == "analytics" else EXPORT, {"test": other.test_id}
    if kind in ("credit", "purchase"):
        return kind, CREDIT_USAGE if kind == "credit" else PURCHASE, {"org": other.organisation_id}
    if kind in ("select", "unselect", "certify"):
        ids = draw(st.lists(sitting, min_size=1, max_size=3, unique=True))
        return kind, {"select": SELECT, "unselect": UNSELECT, "certify": CERTIFY}[kind], {"ids": ids}
    if kind == "read":
        return kind, MARK_READ, {"ids": draw(st.lists(any_id, min_size=1, max_size=2, unique=True))}
    if kind == "claim":
        return kind, CLAIM, {"input": {"sittingId": draw(sitting), "holderName": "Mallory Example", "photo": None}}
    return kind, {"approve": APPROVE, "reject": REJECT, "retry": RETRY}[kind], {"id": other.certificate_id}


def send(http, document: str, variables: dict, token: str | None):
    """POST the operation (as a spec-conformant multipart request when it carries a photo)."""
    if "input" in variables and "photo" in variables["input"]:
        operations_part = json.dumps({"query": document, "variables": variables})
        return http.post(
            "/graphql",
            data={"operations": operations_part, "map": json.dumps({"0": ["variables.input.photo"]})},
            files={"0": ("portrait.jpg", portrait(), "image/jpeg")},
            headers=bearer(token),
        )
    return http.post("/graphql", json={"query": document, "variables": variables}, headers=bearer(token))


def organisation_state(server, org) -> tuple:
    """Everything of ``org`` an operation could change: its snapshot and its certificate's review state."""

    async def read():
        certificate = await Certificate.get(id=decode_id(org.certificate_id, "Certificate"))
        review = (str(certificate.status), certificate.holder_name, certificate.photo_key, certificate.reviewed_at)
        return await snapshot(org.organisation_pk), review

    return server.run(read())


def revealed(text: str, other) -> list[str]:
    """The IDs and names of ``other`` that appear in ``text``."""
    return [secret for secret in [*other.global_ids(), other.name] if secret in text]


@pytest.mark.slow
def test_no_role_reads_or_changes_another_organisations_data(threaded_server, world, http):
    """Given organisations A and B, when a principal scoped to one of them runs a drawn operation
    naming the other's objects, then it is refused or answers nothing of the other, which is unchanged."""
    pairs = [(world.a, world.b), (world.b, world.a)]
    tokens = {org.organisation_id: role_tokens(threaded_server, org) for org in (world.a, world.b)}
    before = {org.organisation_id: organisation_state(threaded_server, org) for org in (world.a, world.b)}
    kinds: dict[str, int] = {}

    @settings(HOSTILE, max_examples=EXAMPLES)
    @given(data=st.data())
    def attempt(data) -> None:
        own, other = data.draw(st.sampled_from(pairs), label="viewer, other")
        role = data.draw(st.sampled_from(VIEWER_ROLES), label="role")
        kind, document, variables = data.draw(operations(other), label="operation")
        kinds[kind] = kinds.get(kind, 0) + 1
        response = send(http, document, variables, tokens[own.organisation_id][role])
        assert response.status_code < 500, response.text[:2000]
        assert response.status_code in (200, 429), response.text[:2000]
        text = response.text
        body = response.json()
        if kind == "export" and (body.get("data") or {}).get("exportSittings"):
            export = body["data"]["exportSittings"]
            assert export["rowCount"] == 0, body
            download = http.get(path_of(export["url"]))
            assert download.status_code == 200, download.text[:500]
            text += download.text
        assert revealed(text, other) == [], (role, kind, variables, text[:2000])
        assert organisation_state(threaded_server, other) == before[other.organisation_id], (role, kind, variables)

    attempt()
    print(f"operations by kind: {dict(sorted(kinds.items()))}")
    assert sum(kinds.values()) == EXAMPLES
