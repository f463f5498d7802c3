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
plus its certificates and the issued one's stored files).

File URLs: each organisation also has an ISSUED certificate with a PDF, PNG
and claim photo in the storage. ``file`` asks ``node`` for the other's
``pdfUrl pngUrl photoUrl``: nothing comes back. ``file-url`` downloads URLs
derived from the other's real ones. A signed file URL is a capability
(docs/RULES.md, "Who sees what": signed file URLs need no token;
``server/files.py`` never reads the Authorization header), so the URL as
issued gives exactly the file to whoever holds it, with or without the
viewer's token; who may *receive* it is what ``file`` tests. Every variant
of it is 403 with the fixed text and none of the other's bytes: a flipped,
truncated or extended token, tokens spliced from two URLs, a token sealed
with the real secret for the viewer's own certificate id and the other's
storage key, kinds swapped (pdf ↔ photo), an expired token, one sealed with
another secret, and the viewer's own URL re-pointed at the other's
certificate.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from certificate_flow import path_of, portrait
from hostile_support import HOSTILE, bearer, role_tokens
from hypothesis import given, settings
from hypothesis import strategies as st
from support import snapshot

from gql.ids import decode_id
from models import Certificate
from models.enums import CertificateStatus, Role
from resolvers.principal import Principal
from server.files import FileUrls

EXAMPLES = 200
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


# File URLs have 13 variants to cover, so "file-url" is drawn most often.
KINDS_DRAWN = ["node", "sittings", "analytics", "credit", "export", "select", "unselect", "certify", "read",
               "purchase", "approve", "reject", "retry", "claim", "file", "file", *["file-url"] * 10]  # fmt: skip


@st.composite
def operations(draw, other) -> tuple[str, str, dict]:
    """(label, document, variables) naming ``other``'s objects."""
    any_id = st.sampled_from(other.global_ids())
    sitting = st.sampled_from(other.sitting_ids)
    kind = draw(st.sampled_from(KINDS_DRAWN))
    if kind == "file":
        return kind, FILE_URLS, {"id": other.issued_certificate_id}
    if kind == "file-url":
        return kind, "", {"file": draw(file_variants())}
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
    certificate = draw(st.sampled_from([other.certificate_id, other.issued_certificate_id]))
    return kind, {"approve": APPROVE, "reject": REJECT, "retry": RETRY}[kind], {"id": certificate}


FILE_URLS = "query($id: ID!) { node(id: $id) { id ... on Certificate { pdfUrl pngUrl photoUrl } } }"
FORBIDDEN_TEXT = "This link is invalid or has expired."
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
KINDS = ["pdf", "png", "photo"]
VARIANTS = ["as is", "as is with token", "flipped", "truncated", "extended", "prefixed", "spliced", "own id",
            "kind swapped", "expired", "other secret", "own re-pointed", "own spliced"]  # fmt: skip


@st.composite
def file_variants(draw) -> dict:
    """How to derive a URL from the other's file URLs: the variant, the file kind and the bytes that tamper."""
    return {
        "variant": draw(st.sampled_from(VARIANTS)),
        "kind": draw(st.sampled_from(KINDS)),
        "position": draw(st.integers(min_value=0, max_value=10_000)),
        "suffix": draw(st.text(TOKEN_ALPHABET + ".", min_size=1, max_size=8)),
    }


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
    """Everything of ``org`` an operation could change: its snapshot, its certificates' states, the stored files."""

    async def read():
        certificate = await Certificate.get(id=decode_id(org.certificate_id, "Certificate"))
        review = (str(certificate.status), certificate.holder_name, certificate.photo_key, certificate.reviewed_at)
        issued = await Certificate.get(id=decode_id(org.issued_certificate_id, "Certificate"))
        keys = (issued.pdf_key, issued.png_key, issued.photo_key)
        files = [await server.live.state.storage.get(key) for key in keys]
        issued_state = (str(issued.status), issued.holder_name, issued.pdf_sha256, issued.issued_at, keys, files)
        return await snapshot(org.organisation_pk), review, issued_state

    return server.run(read())


def real_urls(http, org, token: str) -> dict[str, str]:
    """``org``'s issued certificate's file URLs by kind, as its org admin (``token``) receives them now."""
    body = http.post("/graphql", json={"query": FILE_URLS, "variables": {"id": org.issued_certificate_id}},
                     headers=bearer(token)).json()  # fmt: skip
    node = body["data"]["node"]
    return {"pdf": node["pdfUrl"], "png": node["pngUrl"], "photo": node["photoUrl"]}


def token_of(url: str) -> str:
    return url.rsplit("/files/", 1)[1]


def sealed_url(urls: FileUrls, certificate_id: int, kind: str, key: str) -> str:
    """A URL sealed and signed by ``urls`` naming (``certificate_id``, ``kind``, ``key``), through its public API."""
    row = Certificate(id=certificate_id, status=CertificateStatus.ISSUED, pdf_key=None, png_key=None, photo_key=None)
    setattr(row, {"pdf": "pdf_key", "png": "png_key", "photo": "photo_key"}[kind], key)
    if kind == "photo":
        return urls.photo_url(row, Principal(subject="platform", role=Role.PLATFORM_ADMIN))
    return urls.certificate_url(row, kind)


SWAPPED = {"pdf": "photo", "png": "photo", "photo": "pdf"}


def tampered_token(variant: str, drawn: dict, theirs: dict, mine: dict, rows: dict, settings) -> str:
    """The token of ``variant`` (any but "as is"), from the other's URLs ``theirs`` and the viewer's ``mine``."""
    kind = drawn["kind"]
    token = token_of(theirs[kind])
    if variant == "flipped":
        places = [n for n, char in enumerate(token) if char != "."]
        n = places[drawn["position"] % len(places)]
        # Flipping the top bit of a base64 digit always changes the decoded bytes (low bits may be padding).
        return token[:n] + TOKEN_ALPHABET[TOKEN_ALPHABET.index(token[n]) ^ 32] + token[n + 1 :]
    if variant == "truncated":
        return token[: 1 + drawn["position"] % (len(token) - 1)]
    if variant == "extended":
        return token + drawn["suffix"]
    if variant == "prefixed":
        return drawn["suffix"] + token
    if variant in ("spliced", "own spliced"):
        donor = token_of(theirs[SWAPPED[kind]] if variant == "spliced" else mine[kind])
        return token.split(".", 1)[0] + "." + donor.split(".", 1)[1]
    theirs_row, mine_row = rows["theirs"], rows["mine"]
    keys = {"pdf": "pdf_key", "png": "png_key", "photo": "photo_key"}
    if variant == "own id":
        url = sealed_url(FileUrls(settings), mine_row.id, kind, getattr(theirs_row, keys[kind]))
    elif variant == "kind swapped":
        url = sealed_url(FileUrls(settings), theirs_row.id, SWAPPED[kind], getattr(theirs_row, keys[kind]))
    elif variant == "own re-pointed":
        url = sealed_url(FileUrls(settings), theirs_row.id, kind, getattr(mine_row, keys[kind]))
    elif variant == "expired":
        past = time.time() - settings.signed_url_ttl_seconds - 60
        url = sealed_url(FileUrls(settings, clock=lambda: past), theirs_row.id, kind, getattr(theirs_row, keys[kind]))
    else:
        other_secret = settings.model_copy(update={"file_url_secret": "another-file-url-secret-" + "x" * 16})
        url = sealed_url(FileUrls(other_secret), theirs_row.id, kind, getattr(theirs_row, keys[kind]))
    return token_of(url)


def check_file_url(http, drawn: dict, own, other, tokens, rows, settings, viewer_token) -> None:
    """Download the drawn URL derived from ``other``'s files and assert the capability rule exactly."""
    theirs = real_urls(http, other, tokens[other.organisation_id]["org_admin"])
    mine = real_urls(http, own, tokens[own.organisation_id]["org_admin"])
    variant, kind = drawn["variant"], drawn["kind"]
    if variant in ("as is", "as is with token"):
        headers = bearer(viewer_token) if variant == "as is with token" else {}
        response = http.get(path_of(theirs[kind]), headers=headers)
        assert (response.status_code, response.content) == (200, other.files[kind]), (variant, kind)
        return
    token = tampered_token(variant, drawn, theirs, mine, {"theirs": rows[other.organisation_id],
                                                          "mine": rows[own.organisation_id]}, settings)  # fmt: skip
    response = http.get(f"/files/{token}", headers=bearer(viewer_token))
    refused = {"errors": [{"message": FORBIDDEN_TEXT, "extensions": {"code": "FORBIDDEN"}}]}
    assert (response.status_code, response.json()) == (403, refused), (variant, kind, token)
    assert [k for k, data in other.files.items() if data in response.content] == [], (variant, kind)


def revealed(text: str, other) -> list[str]:
    """The IDs and names of ``other`` that appear in ``text``."""
    # A global ID counts whole: TestTaker:1's ID is a prefix of TestTaker:10's.
    ids = [gid for gid in other.global_ids() if re.search(rf"(?<![\w-]){re.escape(gid)}(?![\w-])", text)]
    return ids + ([other.name] if other.name in text else [])


@pytest.mark.slow
def test_no_role_reads_or_changes_another_organisations_data(threaded_server, world, http):
    """Given organisations A and B, when a principal scoped to one of them runs a drawn operation
    naming the other's objects, then it is refused or answers nothing of the other, which is unchanged."""
    pairs = [(world.a, world.b), (world.b, world.a)]
    tokens = {org.organisation_id: role_tokens(threaded_server, org) for org in (world.a, world.b)}
    before = {org.organisation_id: organisation_state(threaded_server, org) for org in (world.a, world.b)}
    kinds: dict[str, int] = {}
    variants: dict[str, int] = {}

    async def issued_rows():
        return {
            org.organisation_id: await Certificate.get(id=decode_id(org.issued_certificate_id, "Certificate"))
            for org in (world.a, world.b)
        }

    rows = threaded_server.run(issued_rows())

    @settings(HOSTILE, max_examples=EXAMPLES)
    @given(data=st.data())
    def attempt(data) -> None:
        own, other = data.draw(st.sampled_from(pairs), label="viewer, other")
        role = data.draw(st.sampled_from(VIEWER_ROLES), label="role")
        kind, document, variables = data.draw(operations(other), label="operation")
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "file-url":
            drawn = variables["file"]
            variants[drawn["variant"]] = variants.get(drawn["variant"], 0) + 1
            viewer = tokens[own.organisation_id][role]
            check_file_url(http, drawn, own, other, tokens, rows, threaded_server.live.settings, viewer)
            assert organisation_state(threaded_server, other) == before[other.organisation_id], (role, drawn)
            return
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
        if kind == "file":
            expected = None if role == "anonymous" else {"node": None}
            assert body["data"] == expected, body
            assert "/files/" not in text, text[:2000]
        assert revealed(text, other) == [], (role, kind, variables, text[:2000])
        assert organisation_state(threaded_server, other) == before[other.organisation_id], (role, kind, variables)

    attempt()
    print(f"operations by kind: {dict(sorted(kinds.items()))}")
    print(f"file URL variants: {dict(sorted(variants.items()))}")
    assert sum(kinds.values()) == EXAMPLES
    assert kinds.get("file", 0) > 0 and kinds.get("file-url", 0) > 0, kinds
