"""The access table (resolvers/access.py) against the running app: every role × root field, and the field rules.

The expected outcome of each call is computed from ``access.RULES`` /
``access.FIELD_RULES``; the probes below only say how to call a field and
whether the answer reached its target object. A target within the caller's
scope is probed, and, where the field can name one, a target outside it
(another organisation's, or another test taker's), which a scoped field
answers with NOT_FOUND / null / absence, never FORBIDDEN. Queries and
mutations go over HTTP, subscriptions over a websocket. Further tests prove
the table names exactly the root fields of the schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import graphql
from builders import (
    BASE_TIME,
    CREATE_ORGANISATION,
    CREATE_TEST,
    PURCHASE_CREDITS,
    RECORD_SITTINGS,
    build_world,
    sitting_row,
)
from certificate_flow import APPROVE, png_bytes, portrait, post_claim
from ws_client import ws_connect, ws_session

from gql.ids import decode_id, to_global_id
from gql.schema import build_schema
from models import Certificate, CreditTransaction, Sitting
from models.enums import CertificationStatus, CreditTransactionKind, Role
from resolvers import access
from resolvers.access import FIELD_RULES, RULES, Field, FieldRule, Operation, Root, Rule
from resolvers.credentials import sign_credential
from resolvers.issuing import issuable_certificate, issue_certificate

ALLOWED, FORBIDDEN, UNAUTHENTICATED, NOT_FOUND, NULL = "ALLOWED", "FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND", "NULL"
ANONYMOUS = "anonymous"
CALLERS = [*(role.value for role in Role), ANONYMOUS]
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"

VIEWER = "{ viewer { role } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
SITTINGS = "{ sittings(first: 500) { edges { node { id } } } }"
SITTING_STATS = "query($test: ID!) { sittingStats(filter: {testId: $test}) { total } }"
EXPORT_SITTINGS = "query($test: ID!) { exportSittings(filter: {testId: $test}) { rowCount } }"
SITTING_AGGREGATES = "query($test: ID!) { sittingAggregates(filter: {testId: $test}) { count } }"
SCORE_HISTOGRAM = "query($test: ID!) { scoreHistogram(filter: {testId: $test}, bucketWidth: 10) { count } }"
CERTIFICATION_FUNNEL = "query($test: ID!) { certificationFunnel(filter: {testId: $test}) { recorded } }"
CREDIT_USAGE = "query($org: ID) { creditUsage(organisationId: $org) { purchased } }"
NOTIFICATIONS = "{ notifications(first: 100) { edges { node { id } } } }"
REVIEW_QUEUE = "{ reviewQueue(first: 100) { edges { node { id } } } }"
VERIFY_CERTIFICATE = '{ verifyCertificate(code: "0000-0000-0000-0000") { valid } }'
SELECT_SITTINGS = "mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { errors { code } } }"
UNSELECT_SITTINGS = "mutation($ids: [ID!]) { unselectSittings(input: {ids: $ids}) { errors { code } } }"
CONFIRM_CERTIFICATION = """
mutation($key: String!) { confirmCertification(input: {idempotencyKey: $key}) { errors { code } } }
"""
CERTIFY_SITTINGS = """
mutation($ids: [ID!], $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { errors { code } }
}
"""
MARK_NOTIFICATIONS_READ = "mutation($ids: [ID!]!) { markNotificationsRead(input: {ids: $ids}) { errors { code } } }"
REJECT_CERTIFICATE = """
mutation($id: ID!) { rejectCertificate(input: {certificateId: $id, reason: "Blurred photo."}) { errors { code } } }
"""
RETRY_RENDER = "mutation($id: ID!) { retryRender(input: {certificateId: $id}) { errors { code } } }"
REVOKE = 'mutation($id: ID!) { revokeCertificate(input: {certificateId: $id, reason: "Fraud."}) { errors { code } } }'
EXTEND = """
mutation($id: ID!) {
  extendClaimDeadline(input: {certificateId: $id, claimDeadline: "2999-01-01T00:00:00Z"}) { errors { code } }
}
"""
CREDIT_BALANCE = "query($id: ID!) { node(id: $id) { ... on Organisation { value: creditBalance } } }"
CREDIT_TRANSACTIONS = """
query($id: ID!) { node(id: $id) { ... on Organisation { value: creditTransactions(first: 1) { totalCount } } } }
"""
RENDER_ERROR = "query($id: ID!) { node(id: $id) { ... on Certificate { value: renderError } } }"
PHOTO_URL = "query($id: ID!) { node(id: $id) { ... on Certificate { value: photoUrl } } }"
RENDERING_DELAYED = "query($id: ID!) { node(id: $id) { ... on Certificate { value: renderingDelayed } } }"
ADD_TO_LINKEDIN = "query($id: ID!) { node(id: $id) { ... on Certificate { value: addToLinkedInUrl } } }"

STATUS_CHANGED = "subscription { sittingStatusChanged { sitting { id } } }"
LIVE_SITTINGS = "subscription { liveSittings(first: 50) { edges { node { id } } } }"
CREDITS_CHANGED = "subscription { creditBalanceChanged { organisation { id } } }"
NOTIFICATION_RECEIVED = "subscription { notificationReceived { certificate { sitting { id } } } }"
REVIEW_QUEUE_CHANGED = "subscription { reviewQueueChanged { certificate { sitting { id } } } }"


def expected(rule: Rule, caller: str, in_scope: bool) -> str:
    """What the table says ``caller`` gets from a field whose target is (or is not) within its scope."""
    if caller == ANONYMOUS:
        return ALLOWED if rule.anonymous else UNAUTHENTICATED
    role = Role(caller)
    if role not in rule.roles:
        return FORBIDDEN
    if rule.scoped and not in_scope and role not in access.UNSCOPED:
        return NOT_FOUND
    return ALLOWED


def expected_field(rule: FieldRule, caller: str, in_scope: bool) -> str:
    """What the field table says ``caller`` reads from a field of an object within its scope or outside it."""
    if caller == ANONYMOUS:
        return UNAUTHENTICATED
    role = Role(caller)
    if not in_scope and role not in access.UNSCOPED:
        return NOT_FOUND
    if role in rule.roles:
        return ALLOWED
    return FORBIDDEN if rule.refusal is not None else NULL


@dataclass
class Scene:
    """Organisation A (the callers' own: test taker T, sittings named in ``sittings``) and organisation B.

    A's a0, a-approve, a-reject are claimed by T (UNDER_REVIEW); a-failed is
    approved and its render failed for good; a-claim awaits T's claim;
    a-unselect and a-confirm are SELECTED. B's b0 is certified for test taker
    T2 (who has a notification); b-selected is SELECTED.
    """

    tokens: dict[str, str | None]
    sittings: dict[str, str]
    certificates: dict[str, str]
    organisations: dict[bool, str]
    tests: dict[bool, str]
    notifications: dict[bool, str]
    serial: itertools.count = field(default_factory=itertools.count)

    def sitting(self, in_scope: bool, own: str, foreign: str = "b-selected") -> str:
        return self.sittings[own if in_scope else foreign]

    def fresh(self) -> int:
        return next(self.serial)


A_SITTINGS = [
    "a0",
    "a-claim",
    "a-approve",
    "a-reject",
    "a-failed",
    "a-issued",
    "a-select",
    "a-unselect",
    "a-confirm",
    "a-certify",
]
CLAIMED = 6
"""The first six of A's sittings are T's and certified."""
B_SITTINGS = ["b0", "b-selected"]
T_EMAIL, T2_EMAIL = "taker@example.com", "taker2@example.com"


async def record(platform, organisation: str, test: str, names: list[str], taker_names: set[str], email: str) -> None:
    """Record one sitting per name (external id ``{name}-{n}``); those in ``taker_names`` are ``email``'s."""
    rows = [
        sitting_row(
            organisation,
            test,
            n,
            prefix=name,
            email=email if name in taker_names else None,
            taken_at=BASE_TIME + timedelta(minutes=n),
        )
        for n, name in enumerate(names)
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []


async def pk_of(name: str, n: int) -> Sitting:
    return await Sitting.get(external_id=f"{name}-{n}")


async def certify_and_select(server, organisation_pk: int, certify: list[str], select: list[str]) -> None:
    """As the organisation's admin, certify the ``certify`` sittings, then select the ``select`` ones."""
    admin = server.client(server.token(Role.ORG_ADMIN, org=organisation_pk))
    certified = await admin.data(CERTIFY_SITTINGS, {"ids": certify, "key": "scene"})
    assert certified["certifySittings"]["errors"] == [], certified
    if select:
        selected = await admin.data(SELECT_SITTINGS, {"ids": select})
        assert selected["selectSittings"]["errors"] == [], selected


async def claim_as(server, token: str, sitting: str) -> None:
    response = await post_claim(server, token=token, sitting_id=sitting, name="Zoë", photo=portrait())
    assert response.json()["data"]["claimCertificate"]["errors"] == [], response.text


async def issue_directly(server, reviewer: str, certificate_pk: int) -> None:
    """Approve and issue the certificate with small files, signing its credential as the render worker does."""
    approved = await server.client(reviewer).data(APPROVE, {"id": to_global_id("Certificate", certificate_pk)})
    assert approved["approveCertificate"]["errors"] == [], approved
    certificate, now = await issuable_certificate(certificate_id=certificate_pk), datetime.now(UTC)
    state = server.state
    await issue_certificate(
        certificate=certificate,
        pdf=b"%PDF-1.7 scene",
        png=png_bytes(4, 4),
        pdf_sha256=hashlib.sha256(b"%PDF-1.7 scene").hexdigest(),
        credential=await sign_credential(certificate, state.issuer, issued_at=now),
        issued_at=now,
        storage=state.storage,
        publisher=state.publisher,
    )


async def build_scene(server) -> Scene:
    platform = server.platform()
    a = await build_world(platform, sittings=0, credits=30, name="Acme Languages", prefix="a")
    b = await build_world(platform, sittings=0, credits=30, name="Other Org", prefix="b")
    await record(platform, a.organisation_id, a.test_id, A_SITTINGS, set(A_SITTINGS[:CLAIMED]), T_EMAIL)
    await record(platform, b.organisation_id, b.test_id, B_SITTINGS, {"b0"}, T2_EMAIL)
    rows = {name: await pk_of(name, n) for names in (A_SITTINGS, B_SITTINGS) for n, name in enumerate(names)}
    sittings = {name: to_global_id("Sitting", row.id) for name, row in rows.items()}
    claimed = [sittings[name] for name in A_SITTINGS[:CLAIMED]]
    await certify_and_select(server, a.organisation_pk, claimed, [sittings["a-unselect"], sittings["a-confirm"]])
    await certify_and_select(server, b.organisation_pk, [sittings["b0"]], [sittings["b-selected"]])
    taker = server.token(Role.TEST_TAKER, test_taker=rows["a0"].test_taker_id)
    for name in ("a0", "a-approve", "a-reject", "a-failed", "a-issued"):
        await claim_as(server, taker, sittings[name])
    certificates = {
        name: (await Certificate.get(sitting_id=rows[name].id)).id
        for name in ("a0", "a-approve", "a-reject", "a-failed", "a-issued", "b0")
    }
    certificate_ids = {name: to_global_id("Certificate", pk) for name, pk in certificates.items()}
    reviewer = server.token(Role.SECURITY_REVIEWER)
    approved = await server.client(reviewer).data(APPROVE, {"id": certificate_ids["a-failed"]})
    assert approved["approveCertificate"]["errors"] == [], approved
    await issue_directly(server, reviewer, certificates["a-issued"])
    # What the render worker leaves behind when the last retry failed.
    await Certificate.filter(id=certificates["a-failed"]).update(render_error="renderer crashed", render_next_at=None)
    other_taker = server.token(Role.TEST_TAKER, test_taker=rows["b0"].test_taker_id)
    inboxes = [await server.client(token).data(NOTIFICATIONS) for token in (taker, other_taker)]
    notifications = [inbox["notifications"]["edges"][0]["node"]["id"] for inbox in inboxes]
    tokens = {
        Role.ORG_ADMIN.value: server.token(Role.ORG_ADMIN, org=a.organisation_pk),
        Role.ANALYST.value: server.token(Role.ANALYST, org=a.organisation_pk),
        Role.TEST_TAKER.value: taker,
        Role.SECURITY_REVIEWER.value: reviewer,
        Role.PLATFORM_ADMIN.value: server.token(Role.PLATFORM_ADMIN),
        ANONYMOUS: None,
    }
    return Scene(
        tokens,
        sittings,
        certificate_ids,
        {True: a.organisation_id, False: b.organisation_id},
        {True: a.test_id, False: b.test_id},
        dict(zip((True, False), notifications, strict=True)),
    )


def payload(name: str) -> Callable:
    """Judge a mutation payload: no UserError is ALLOWED, NOT_FOUND is NOT_FOUND, anything else is shown."""

    def judge(data: dict, scene: Scene, in_scope: bool) -> str:
        codes = [error["code"] for error in data[name]["errors"]]
        if not codes:
            return ALLOWED
        return NOT_FOUND if codes == ["NOT_FOUND"] else f"USER_ERROR {codes}"

    return judge


def answered_for(name: str) -> Callable:
    """Judge a mutation that may refuse its target's state: any UserError but NOT_FOUND is ALLOWED (access passed)."""

    def judge(data: dict, scene: Scene, in_scope: bool) -> str:
        codes = [error["code"] for error in data[name]["errors"]]
        return NOT_FOUND if codes == ["NOT_FOUND"] else ALLOWED

    return judge


def listed(name: str, target: Callable[[Scene, bool], str]) -> Callable:
    """Judge a connection: ALLOWED when the target's id is among its nodes."""

    def judge(data: dict, scene: Scene, in_scope: bool) -> str:
        ids = {edge["node"]["id"] for edge in data[name]["edges"]}
        return ALLOWED if target(scene, in_scope) in ids else NOT_FOUND

    return judge


async def confirmed(data: dict, scene: Scene, in_scope: bool) -> str:
    """confirmCertification names no sitting: ALLOWED when the target SELECTED sitting got certified."""
    codes = [error["code"] for error in data["confirmCertification"]["errors"]]
    if codes not in ([], ["NOTHING_SELECTED"]):
        return f"USER_ERROR {codes}"
    row = await Sitting.get(id=decode_id(scene.sitting(in_scope, "a-confirm"), "Sitting"))
    return ALLOWED if row.status == CertificationStatus.IN_PROGRESS else NOT_FOUND


async def claim(server, token: str | None, scene: Scene, in_scope: bool) -> dict:
    sitting = scene.sitting(in_scope, "a-claim", "b0")
    response = await post_claim(server, token=token, sitting_id=sitting, name="Zoë", photo=portrait())
    return response.json()


@dataclass(frozen=True)
class Probe:
    """How to call one field: its document, variables for a target within / outside the caller's scope, the judge.

    ``outside``: the probe can name a target outside the caller's scope (else
    the field names no object of anyone else, and only the first is probed).
    """

    document: str
    variables: Callable[[Scene, bool], dict]
    judge: Callable[[dict, Scene, bool], object]
    outside: bool = False
    send: Callable | None = None
    hidden_from: frozenset[str] = frozenset()
    """Callers who cannot see the probed object at all (reviewers see no ISSUED certificate): NOT_FOUND."""


def no_variables(scene: Scene, in_scope: bool) -> dict:
    return {}


def answered(data: dict, scene: Scene, in_scope: bool) -> str:
    return ALLOWED


def node_found(data: dict, scene: Scene, in_scope: bool) -> str:
    return ALLOWED if data["node"] is not None else NOT_FOUND


def counted(data: dict, scene: Scene, in_scope: bool) -> str:
    return ALLOWED if data["sittingStats"]["total"] > 0 else NOT_FOUND


def exported(data: dict, scene: Scene, in_scope: bool) -> str:
    return ALLOWED if data["exportSittings"]["rowCount"] > 0 else NOT_FOUND


def aggregated(data: dict, scene: Scene, in_scope: bool) -> str:
    return ALLOWED if data["sittingAggregates"][0]["count"] > 0 else NOT_FOUND


def bucketed(data: dict, scene: Scene, in_scope: bool) -> str:
    return ALLOWED if sum(bucket["count"] for bucket in data["scoreHistogram"]) > 0 else NOT_FOUND


def funnelled(data: dict, scene: Scene, in_scope: bool) -> str:
    return ALLOWED if data["certificationFunnel"]["recorded"] > 0 else NOT_FOUND


def credit_usage_of(scene: Scene, in_scope: bool) -> dict:
    """Within scope: organisation A named; outside: none named, which reaches B's ledger only for platform admins."""
    return {"org": scene.organisations[True] if in_scope else None}


async def credit_usage_reached(data: dict, scene: Scene, in_scope: bool) -> str:
    """ALLOWED when the months sum A's purchases (within scope) or every organisation's (outside)."""
    purchased = sum(month["purchased"] for month in data["creditUsage"])
    ledger = CreditTransaction.filter(kind=CreditTransactionKind.PURCHASE)
    if in_scope:
        ledger = ledger.filter(organisation_id=decode_id(scene.organisations[True], "Organisation"))
    wanted = sum(await ledger.values_list("delta", flat=True))
    return ALLOWED if purchased == wanted else NOT_FOUND


def field_value(data: dict, scene: Scene, in_scope: bool) -> str:
    if data["node"] is None:
        return NOT_FOUND
    return ALLOWED if data["node"]["value"] is not None else NULL


def key(scene: Scene) -> str:
    return f"k{scene.fresh()}"


PROBES: dict[Operation, Probe] = {
    Operation.VIEWER: Probe(VIEWER, no_variables, answered),
    Operation.NODE: Probe(NODE, lambda s, mine: {"id": s.sitting(mine, "a0", "b0")}, node_found, outside=True),
    Operation.SITTINGS: Probe(
        SITTINGS, no_variables, listed("sittings", lambda s, mine: s.sitting(mine, "a0", "b0")), outside=True
    ),
    Operation.SITTING_STATS: Probe(SITTING_STATS, lambda s, mine: {"test": s.tests[mine]}, counted, outside=True),
    Operation.EXPORT_SITTINGS: Probe(EXPORT_SITTINGS, lambda s, mine: {"test": s.tests[mine]}, exported, outside=True),
    Operation.SITTING_AGGREGATES: Probe(
        SITTING_AGGREGATES, lambda s, mine: {"test": s.tests[mine]}, aggregated, outside=True
    ),
    Operation.SCORE_HISTOGRAM: Probe(SCORE_HISTOGRAM, lambda s, mine: {"test": s.tests[mine]}, bucketed, outside=True),
    Operation.CERTIFICATION_FUNNEL: Probe(
        CERTIFICATION_FUNNEL, lambda s, mine: {"test": s.tests[mine]}, funnelled, outside=True
    ),
    Operation.CREDIT_USAGE: Probe(CREDIT_USAGE, credit_usage_of, credit_usage_reached, outside=True),
    Operation.NOTIFICATIONS: Probe(
        NOTIFICATIONS, no_variables, listed("notifications", lambda s, mine: s.notifications[mine]), outside=True
    ),
    Operation.REVIEW_QUEUE: Probe(
        REVIEW_QUEUE, no_variables, listed("reviewQueue", lambda s, mine: s.certificates["a0"])
    ),
    Operation.VERIFY_CERTIFICATE: Probe(VERIFY_CERTIFICATE, no_variables, answered),
    Operation.SELECT_SITTINGS: Probe(
        SELECT_SITTINGS, lambda s, mine: {"ids": [s.sitting(mine, "a-select")]}, payload("selectSittings"), outside=True
    ),
    Operation.UNSELECT_SITTINGS: Probe(
        UNSELECT_SITTINGS,
        lambda s, mine: {"ids": [s.sitting(mine, "a-unselect")]},
        payload("unselectSittings"),
        outside=True,
    ),
    Operation.CONFIRM_CERTIFICATION: Probe(
        CONFIRM_CERTIFICATION, lambda s, mine: {"key": key(s)}, confirmed, outside=True
    ),
    Operation.CERTIFY_SITTINGS: Probe(
        CERTIFY_SITTINGS,
        lambda s, mine: {"ids": [s.sitting(mine, "a-certify")], "key": key(s)},
        payload("certifySittings"),
        outside=True,
    ),
    Operation.CREATE_ORGANISATION: Probe(
        CREATE_ORGANISATION, lambda s, mine: {"name": f"Org {s.fresh()}"}, payload("createOrganisation")
    ),
    Operation.CREATE_TEST: Probe(
        CREATE_TEST, lambda s, mine: {"name": f"Test {s.fresh()}", "min": 50}, payload("createTest")
    ),
    Operation.PURCHASE_CREDITS: Probe(
        PURCHASE_CREDITS,
        lambda s, mine: {"org": s.organisations[True], "credits": 1, "ref": key(s)},
        payload("purchaseCredits"),
    ),
    Operation.RECORD_SITTINGS: Probe(
        RECORD_SITTINGS,
        lambda s, mine: {"rows": [sitting_row(s.organisations[True], s.tests[True], 0, prefix=key(s))]},
        payload("recordSittings"),
    ),
    Operation.MARK_NOTIFICATIONS_READ: Probe(
        MARK_NOTIFICATIONS_READ,
        lambda s, mine: {"ids": [s.notifications[mine]]},
        payload("markNotificationsRead"),
        outside=True,
    ),
    Operation.CLAIM_CERTIFICATE: Probe("", no_variables, payload("claimCertificate"), outside=True, send=claim),
    Operation.APPROVE_CERTIFICATE: Probe(
        APPROVE, lambda s, mine: {"id": s.certificates["a-approve"]}, payload("approveCertificate")
    ),
    Operation.REJECT_CERTIFICATE: Probe(
        REJECT_CERTIFICATE, lambda s, mine: {"id": s.certificates["a-reject"]}, payload("rejectCertificate")
    ),
    # a0 is under review, so every caller access lets through is refused its state and nothing changes
    Operation.RETRY_RENDER: Probe(
        RETRY_RENDER, lambda s, mine: {"id": s.certificates["a0"]}, answered_for("retryRender")
    ),
    # a0 is under review and b0 awaits its claim: revoking either is refused its state; a0's deadline cannot move
    Operation.REVOKE_CERTIFICATE: Probe(
        REVOKE,
        lambda s, mine: {"id": s.certificates["a0" if mine else "b0"]},
        answered_for("revokeCertificate"),
        outside=True,
    ),
    Operation.EXTEND_CLAIM_DEADLINE: Probe(
        EXTEND,
        lambda s, mine: {"id": s.certificates["a0" if mine else "b0"]},
        answered_for("extendClaimDeadline"),
        outside=True,
    ),
}

FIELD_PROBES: dict[Field, Probe] = {
    Field.CREDIT_BALANCE: Probe(
        CREDIT_BALANCE, lambda s, mine: {"id": s.organisations[mine]}, field_value, outside=True
    ),
    Field.CREDIT_TRANSACTIONS: Probe(
        CREDIT_TRANSACTIONS, lambda s, mine: {"id": s.organisations[mine]}, field_value, outside=True
    ),
    Field.RENDER_ERROR: Probe(RENDER_ERROR, lambda s, mine: {"id": s.certificates["a-failed"]}, field_value),
    Field.PHOTO_URL: Probe(PHOTO_URL, lambda s, mine: {"id": s.certificates["a-failed"]}, field_value),
    Field.RENDERING_DELAYED: Probe(RENDERING_DELAYED, lambda s, mine: {"id": s.certificates["a-failed"]}, field_value),
    Field.ADD_TO_LINKEDIN: Probe(
        ADD_TO_LINKEDIN,
        lambda s, mine: {"id": s.certificates["a-issued"]},
        field_value,
        hidden_from=frozenset({Role.SECURITY_REVIEWER.value}),
    ),
}


def targets(probe: Probe) -> tuple[bool, ...]:
    """The scopes to probe: within the caller's, and outside it where the probe can name such a target."""
    return (True, False) if probe.outside else (True,)


def scope_name(in_scope: bool) -> str:
    return "in scope" if in_scope else "out of scope"


async def observe(server, probe: Probe, scene: Scene, caller: str, in_scope: bool) -> str:
    """Run ``probe`` as ``caller``; its access error code, or the probe's judgement of the answer."""
    token = scene.tokens[caller]
    if probe.send is not None:
        body = await probe.send(server, token, scene, in_scope)
    else:
        body = await server.client(token).post(probe.document, probe.variables(scene, in_scope))
    if "errors" in body:
        return "/".join(error["extensions"]["code"] for error in body["errors"])
    verdict = probe.judge(body["data"], scene, in_scope)
    return await verdict if inspect.isawaitable(verdict) else verdict


def refused_first(outcomes: dict[str, str]) -> list[str]:
    """Callers in an order where refusals come first, so a success cannot hide a later refusal."""
    return sorted(outcomes, key=lambda caller: outcomes[caller] in (ALLOWED, NOT_FOUND))


def test_every_root_field_of_the_schema_has_exactly_one_rule():
    # given the schema as built and as committed
    built = graphql.build_schema(build_schema().as_str())
    committed = graphql.build_schema(SCHEMA_FILE.read_text())

    # when its root fields are listed
    for schema in (built, committed):
        roots = {
            Root.QUERY: schema.query_type,
            Root.MUTATION: schema.mutation_type,
            Root.SUBSCRIPTION: schema.subscription_type,
        }
        fields = {(root, name) for root, gql_type in roots.items() for name in gql_type.fields}

        # then the table names each of them once, on the right root, and nothing else
        assert {(rule.root, operation.value) for operation, rule in RULES.items()} == fields
    assert set(RULES) == set(Operation)


def test_every_field_rule_names_a_field_of_the_schema():
    schema = graphql.build_schema(build_schema().as_str())
    for rule_field in Field:
        type_name, field_name = rule_field.value.split(".")
        assert field_name in schema.get_type(type_name).fields, rule_field
    assert set(FIELD_RULES) == set(Field)


def test_every_query_and_mutation_and_field_rule_has_a_probe():
    subscriptions = {operation for operation, rule in RULES.items() if rule.root is Root.SUBSCRIPTION}
    assert set(PROBES) == set(Operation) - subscriptions
    assert set(SUBSCRIPTION_PROBES) == subscriptions
    assert set(FIELD_PROBES) == set(Field)
    # a scoped field must be probed outside the caller's scope too
    assert all(PROBES[operation].outside for operation in PROBES if RULES[operation].scoped)


async def test_each_role_gets_what_the_table_says_from_every_query_mutation_and_field(sqlite_server):
    # given organisations A and B, the callers of A and objects within and outside their scope
    scene = await build_scene(sqlite_server)
    observed, wanted = {}, {}

    # when every caller runs every query and mutation on each target (refusals first), then reads every ruled field
    for operation, probe in PROBES.items():
        for in_scope in targets(probe):
            expectations = {caller: expected(RULES[operation], caller, in_scope) for caller in CALLERS}
            for caller in refused_first(expectations):
                wanted[operation.value, scope_name(in_scope), caller] = expectations[caller]
                outcome = await observe(sqlite_server, probe, scene, caller, in_scope)
                observed[operation.value, scope_name(in_scope), caller] = outcome
    for rule_field, probe in FIELD_PROBES.items():
        for in_scope in targets(probe):
            for caller in CALLERS:
                wanted[rule_field.value, scope_name(in_scope), caller] = (
                    NOT_FOUND
                    if caller in probe.hidden_from
                    else expected_field(FIELD_RULES[rule_field], caller, in_scope)
                )
                outcome = await observe(sqlite_server, probe, scene, caller, in_scope)
                observed[rule_field.value, scope_name(in_scope), caller] = outcome

    # then each answer is what the table says
    assert observed == wanted


@dataclass(frozen=True)
class SubscriptionProbe:
    """A subscription document and whether one of its results reached the scene's sitting."""

    document: str
    reached: Callable[[dict, dict], bool]


SUBSCRIPTION_PROBES: dict[Operation, SubscriptionProbe] = {
    Operation.SITTING_STATUS_CHANGED: SubscriptionProbe(
        STATUS_CHANGED, lambda d, s: d["sittingStatusChanged"]["sitting"]["id"] == s["sitting"]
    ),
    Operation.LIVE_SITTINGS: SubscriptionProbe(
        LIVE_SITTINGS, lambda d, s: s["sitting"] in {e["node"]["id"] for e in d["liveSittings"]["edges"]}
    ),
    Operation.CREDIT_BALANCE_CHANGED: SubscriptionProbe(
        CREDITS_CHANGED, lambda d, s: d["creditBalanceChanged"]["organisation"]["id"] == s["organisation"]
    ),
    Operation.NOTIFICATION_RECEIVED: SubscriptionProbe(
        NOTIFICATION_RECEIVED, lambda d, s: d["notificationReceived"]["certificate"]["sitting"]["id"] == s["sitting"]
    ),
    Operation.REVIEW_QUEUE_CHANGED: SubscriptionProbe(
        REVIEW_QUEUE_CHANGED, lambda d, s: d["reviewQueueChanged"]["certificate"]["sitting"]["id"] == s["sitting"]
    ),
}


async def results(client, quiet: float = 0.5, limit: float = 8.0) -> dict[str, list[dict]]:
    """Every result payload per subscription id until the connection has been quiet for ``quiet`` seconds."""
    got: dict[str, list[dict]] = defaultdict(list)
    try:
        async with asyncio.timeout(limit):
            while True:
                message = await client.receive(quiet)
                if message["type"] in ("next", "data"):
                    got[message["id"]].append(message["payload"])
    except TimeoutError:
        return got


def judged(payloads: list[dict], probe: SubscriptionProbe, target: dict) -> str:
    for item in payloads:
        if "errors" in item:
            return "/".join(error["extensions"]["code"] for error in item["errors"])
    return ALLOWED if any(probe.reached(item["data"], target) for item in payloads) else NOT_FOUND


async def subscription_scene(server) -> tuple[dict, dict[tuple[Role, bool], str]]:
    """Organisation A with test taker T's unselected sitting, organisation B with test taker T2's.

    Returns the target (A's sitting and A, as global IDs) and a token per
    (role, within A's scope): A's callers, and B's admin, analyst and T2.
    """
    platform = server.platform()
    a = await build_world(platform, sittings=0, credits=5, name="Acme Languages", prefix="a")
    b = await build_world(platform, sittings=0, credits=5, name="Other Org", prefix="b")
    await record(platform, a.organisation_id, a.test_id, ["s"], {"s"}, T_EMAIL)
    await record(platform, b.organisation_id, b.test_id, ["t"], {"t"}, T2_EMAIL)
    mine, theirs = await pk_of("s", 0), await pk_of("t", 0)
    target = {"sitting": to_global_id("Sitting", mine.id), "organisation": a.organisation_id}
    callers = {
        (Role.ORG_ADMIN, True): server.token(Role.ORG_ADMIN, org=a.organisation_pk),
        (Role.ANALYST, True): server.token(Role.ANALYST, org=a.organisation_pk),
        (Role.TEST_TAKER, True): server.token(Role.TEST_TAKER, test_taker=mine.test_taker_id),
        (Role.SECURITY_REVIEWER, True): server.token(Role.SECURITY_REVIEWER),
        (Role.PLATFORM_ADMIN, True): server.token(Role.PLATFORM_ADMIN),
        (Role.ORG_ADMIN, False): server.token(Role.ORG_ADMIN, org=b.organisation_pk),
        (Role.ANALYST, False): server.token(Role.ANALYST, org=b.organisation_pk),
        (Role.TEST_TAKER, False): server.token(Role.TEST_TAKER, test_taker=theirs.test_taker_id),
    }
    return target, callers


async def test_each_role_may_subscribe_to_what_the_table_says_and_hears_only_its_scope(sqlite_server):
    # given callers within and outside organisation A's scope, and what the table says each gets
    server = sqlite_server
    target, callers = await subscription_scene(server)
    wanted = {
        (operation.value, role.value, scope_name(in_scope)): expected(RULES[operation], role.value, in_scope)
        for operation in SUBSCRIPTION_PROBES
        for role, in_scope in callers
    }
    wanted.update(
        {(op.value, ANONYMOUS, scope_name(True)): expected(RULES[op], ANONYMOUS, True) for op in SUBSCRIPTION_PROBES}
    )
    live = sum(outcome in (ALLOWED, NOT_FOUND) for outcome in wanted.values())

    # when an anonymous caller connects, every other caller subscribes to every subscription,
    # and then A's sitting is certified and claimed
    async with ws_connect(server.ws_url) as anonymous:
        await anonymous.init(None, expect_ack=False)
        refused = await anonymous.close_code()
    async with contextlib.AsyncExitStack() as stack:
        sessions = {
            key: await stack.enter_async_context(ws_session(server.ws_url, token)) for key, token in callers.items()
        }
        for client in sessions.values():
            for operation, probe in SUBSCRIPTION_PROBES.items():
                await client.subscribe(operation.value, probe.document)
        async with asyncio.timeout(5):
            while server.state.hub.subscriber_count() != live:
                await asyncio.sleep(0.01)
        await certify_and_select(server, decode_id(target["organisation"], "Organisation"), [target["sitting"]], [])
        await claim_as(server, callers[(Role.TEST_TAKER, True)], target["sitting"])
        heard = await asyncio.gather(*(results(client) for client in sessions.values()))
        answers = dict(zip(sessions, heard, strict=True))

    # then each caller was refused, or heard the change within its scope only, exactly as the table says
    observed = {}
    for operation, probe in SUBSCRIPTION_PROBES.items():
        for role, in_scope in callers:
            heard_here = answers[role, in_scope][operation.value]
            observed[operation.value, role.value, scope_name(in_scope)] = judged(heard_here, probe, target)
    closed = UNAUTHENTICATED if refused == 4403 else f"closed {refused}"
    observed.update({(op.value, ANONYMOUS, scope_name(True)): closed for op in SUBSCRIPTION_PROBES})
    assert observed == wanted
