"""The certification workflow as a state machine, driven over real HTTP.

Hypothesis's ``RuleBasedStateMachine`` runs random sequences of record,
select, unselect, certify (by ids, and confirm), purchase, claim, reject,
approve, issue, revoke and lapse across two fresh organisations per example,
on SQLite and on PostgreSQL. A model predicts each answer (the counts
changed, or the first error's code) and the state after it.

Some steps send two requests at once over two HTTP connections: two admins
of one organisation selecting, unselecting, confirming or certifying (the
same sittings, or any), and a purchase racing a certification. The
organisation's lock runs them one after the other, so the answers must be
exactly those the model predicts for one of the two serial orders, and the
model takes that order's state. After every step:

- ``resolvers.invariants.find_violations`` finds nothing;
- each organisation's sittings per status (``sittings(filter: {status})
  { totalCount }``), ``sittingStats`` and its credit balance equal the model;
- the review queue's ``totalCount`` equals the model's claims under review;
- each sitting's current certificate has the model's status, its lapsed
  certificates are as many as the model's, and each organisation has as many
  REFUND ledger rows as the model.

Rendering is off, so an approved certificate stays APPROVED until the issue
rule hands the issuing verb small files and a signed credential, as the
render worker would (the render itself has its own tests). Revoke is the
organisation admin's ``revokeCertificate`` over GraphQL. Lapse runs the
lifecycle job with ``now`` moved past the claim deadline of some or all open
(AWAITING_CLAIM or REJECTED) certificates: exactly those lapse, each sitting
becomes UNSELECTED with one REFUND of +1, and it may be certified again.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from builders import CREATE_ORGANISATION, CREATE_TEST, PURCHASE_CREDITS, RECORD_SITTINGS, sitting_row
from certificate_flow import portrait
from hostile_support import HOSTILE, bearer, issue_approved
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from gql.ids import decode_id, to_global_id
from models import Certificate, CreditTransaction, Sitting
from models.enums import CertificateStatus, CreditTransactionKind, Role
from resolvers.invariants import find_violations
from resolvers.lifecycle import run_lifecycle

STATUSES = ["UNSELECTED", "SELECTED", "IN_PROGRESS", "CERTIFIED", "INELIGIBLE"]
MIN_SCORE = 60
SELECT = "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount errors { code field } } }"
UNSELECT = "mutation($ids: [ID!]!) { unselectSittings(input: {ids: $ids}) { changedCount errors { code field } } }"
CERTIFY = """
mutation($ids: [ID!]!, $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) { certifiedCount errors { code field } }
}
"""
CONFIRM = """
mutation($key: String!) { confirmCertification(input: {idempotencyKey: $key}) { certifiedCount errors { code field } } }
"""
CLAIM = """
mutation($input: ClaimCertificateInput!) { claimCertificate(input: $input) { certificate { status } errors { code field } } }
"""
APPROVE = (
    "mutation($id: ID!) { approveCertificate(input: {certificateId: $id}) { certificate { status } errors { code } } }"
)
REJECT = """
mutation($id: ID!) { rejectCertificate(input: {certificateId: $id, reason: "Photo unclear"}) { certificate { status } errors { code } } }
"""
DASHBOARD = (
    "{ viewer { organisation { creditBalance } } sittingStats { total byStatus { status count } } "
    + " ".join(
        f"{status.lower()}: sittings(filter: {{status: [{status}]}}, first: 1) {{ totalCount }}" for status in STATUSES
    )
    + " }"
)
REVOKE = """
mutation($id: ID!) { revokeCertificate(input: {certificateId: $id, reason: "Issued in error"}) { certificate { status } errors { code } } }
"""
REVIEW_QUEUE = "{ reviewQueue(first: 1) { totalCount } }"
OPEN = ("AWAITING_CLAIM", "REJECTED")
"""Certificate statuses that lapse once their claim deadline has passed."""
PICKS = st.lists(st.integers(0, 50), min_size=1, max_size=3)
ADMIN_ACTIONS = st.one_of(st.tuples(st.sampled_from(["select", "unselect", "certify"]), PICKS), st.just(("confirm",)))


@dataclass
class ModelSitting:
    gid: str
    test_taker_pk: int
    status: str
    certificate: str | None = None
    """The current (not lapsed) certificate's status; None without one."""
    certificate_gid: str | None = None
    """The current certificate's global ID once a rule has read it."""
    lapsed: list[str] = field(default_factory=list)
    """The global IDs of its lapsed certificates, oldest first."""

    @property
    def pk(self) -> int:
        return decode_id(self.gid, "Sitting")


@dataclass
class ModelOrganisation:
    gid: str
    pk: int
    test_id: str
    admin: str
    second_admin: str
    balance: int
    sittings: list[ModelSitting] = field(default_factory=list)
    refunds: int = 0


class Workflow(RuleBasedStateMachine):
    """Two organisations' workflow against the running server.

    ``server``, ``http`` and ``second_http`` (a second connection, for racing requests) are set by the test.
    """

    server = None
    http = None
    second_http = None
    examples = 0

    def __init__(self) -> None:
        super().__init__()
        Workflow.examples += 1
        self.prefix = f"sm{Workflow.examples}"
        self.platform = self.server.token(Role.PLATFORM_ADMIN, subject="platform")
        self.reviewer = self.server.token(Role.SECURITY_REVIEWER, subject="reviewer")
        self.recorded = 0
        # next() on a count is atomic, so two racing clients never share a key.
        self.keys = itertools.count(1)
        self.orgs = [self._organisation(n) for n in range(2)]
        self.review_baseline = self._review_queue() - self._under_review()

    # -- plumbing -------------------------------------------------------

    def _post(
        self, document: str, variables: dict | None = None, token: str | None = None, http: httpx.Client | None = None
    ) -> dict:
        response = (http or self.http).post(
            "/graphql", json={"query": document, "variables": variables or {}}, headers=bearer(token)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def _organisation(self, n: int) -> ModelOrganisation:
        name = f"{self.prefix} Organisation {n}"
        gid = self._post(CREATE_ORGANISATION, {"name": name}, self.platform)["createOrganisation"]["organisation"]["id"]
        test = self._post(CREATE_TEST, {"name": f"{name} test", "min": MIN_SCORE}, self.platform)["createTest"]["test"][
            "id"
        ]
        pk = decode_id(gid, "Organisation")
        admins = [self.server.token(Role.ORG_ADMIN, org=pk, subject=f"{self.prefix}-{n}-{a}") for a in range(2)]
        org = ModelOrganisation(gid, pk, test, *admins, 0)
        self._purchase(org, 1)
        for score in (80, 70, 40):
            self._record(org, score)
        return org

    def _purchase(self, org: ModelOrganisation, credits: int) -> None:
        variables = {"org": org.gid, "credits": credits, "ref": f"{self.prefix}-{next(self.keys)}"}
        result = self._post(PURCHASE_CREDITS, variables, self.platform)["purchaseCredits"]
        assert result["errors"] == [], result
        org.balance += credits
        assert result["organisation"]["creditBalance"] == org.balance

    def _record(self, org: ModelOrganisation, score: int) -> None:
        self.recorded += 1
        n = self.recorded
        row = sitting_row(
            org.gid, org.test_id, n, score=score, prefix=self.prefix, email=f"{self.prefix}-{n}@example.com"
        )
        result = self._post(RECORD_SITTINGS, {"rows": [row]}, self.platform)["recordSittings"]
        assert result["errors"] == [] and result["recordedCount"] == 1, result

        async def created():
            sitting = await Sitting.get(external_id=row["externalId"])
            return sitting.id, sitting.test_taker_id

        pk, taker = self.server.run(created())
        status = "UNSELECTED" if score >= MIN_SCORE else "INELIGIBLE"
        org.sittings.append(ModelSitting(to_global_id("Sitting", pk), taker, status))

    def _picked(self, org: ModelOrganisation, picks: list[int]) -> list[ModelSitting]:
        chosen: list[ModelSitting] = []
        for pick in picks:
            sitting = org.sittings[pick % len(org.sittings)]
            if sitting not in chosen:
                chosen.append(sitting)
        return chosen

    def _under_review(self) -> int:
        return sum(s.certificate == "UNDER_REVIEW" for org in getattr(self, "orgs", []) for s in org.sittings)

    def _review_queue(self) -> int:
        return self._post(REVIEW_QUEUE, token=self.reviewer)["reviewQueue"]["totalCount"]

    def _certify_expectation(self, org: ModelOrganisation, chosen: list[ModelSitting]) -> str | None:
        """The first error's code certifying ``chosen`` would give, or None."""
        for sitting in chosen:
            if sitting.status == "INELIGIBLE":
                return "NOT_ELIGIBLE"
            if sitting.status not in ("UNSELECTED", "SELECTED"):
                return "INVALID_TRANSITION"
        return "INSUFFICIENT_CREDITS" if org.balance < len(chosen) else None

    def _certified(self, org: ModelOrganisation, chosen: list[ModelSitting]) -> None:
        org.balance -= len(chosen)
        for sitting in chosen:
            sitting.status, sitting.certificate = "IN_PROGRESS", "AWAITING_CLAIM"

    # -- rules ----------------------------------------------------------

    def _expect(self, org: ModelOrganisation, action: tuple) -> tuple[tuple[str, ...], int | None]:
        """Apply ``action`` to the model ``org`` as the rules say; the answer it predicts.

        The answer is (error codes, count): for a failure the first error's
        code (every code for ``confirm``) and no count, and ``org`` is left as
        it was; for a success no codes and the changed or certified count (the
        new balance for ``purchase``).
        """
        kind = action[0]
        if kind == "purchase":
            org.balance += action[1]
            return (), org.balance
        if kind == "confirm":
            chosen = [s for s in org.sittings if s.status == "SELECTED"]
            if not chosen:
                return ("NOTHING_SELECTED",), None
        else:
            chosen = self._picked(org, action[1])
        if kind in ("select", "unselect"):
            source, target = ("UNSELECTED", "SELECTED") if kind == "select" else ("SELECTED", "UNSELECTED")
            for sitting in chosen:
                if sitting.status == "INELIGIBLE":
                    return ("NOT_ELIGIBLE",), None
                if sitting.status not in (source, target):
                    return ("INVALID_TRANSITION",), None
            changed = sum(s.status == source for s in chosen)
            for sitting in chosen:
                sitting.status = target
            return (), changed
        expected = self._certify_expectation(org, chosen)
        if expected:
            return (expected,), None
        self._certified(org, chosen)
        return (), len(chosen)

    def _send(self, org: ModelOrganisation, action: tuple, admin: str, http: httpx.Client) -> tuple:
        """Send ``action`` for ``org`` over ``http`` (as ``admin``, or the platform for ``purchase``); its answer."""
        kind = action[0]
        key = f"{self.prefix}-{next(self.keys)}"
        if kind == "purchase":
            variables = {"org": org.gid, "credits": action[1], "ref": key}
            result = self._post(PURCHASE_CREDITS, variables, self.platform, http)["purchaseCredits"]
            return tuple(e["code"] for e in result["errors"]), result["organisation"]["creditBalance"]
        if kind == "confirm":
            result = self._post(CONFIRM, {"key": key}, admin, http)["confirmCertification"]
            codes = tuple(e["code"] for e in result["errors"])
            return (codes, None) if codes else ((), result["certifiedCount"])
        ids = [s.gid for s in self._picked(org, action[1])]
        if kind == "certify":
            result = self._post(CERTIFY, {"ids": ids, "key": key}, admin, http)["certifySittings"]
            count = result["certifiedCount"]
        else:
            name = f"{kind}Sittings"
            result = self._post(SELECT if kind == "select" else UNSELECT, {"ids": ids}, admin, http)[name]
            count = result["changedCount"]
        codes = tuple(e["code"] for e in result["errors"])
        return (codes[:1], None) if codes else ((), count)

    def _step(self, org: int, action: tuple) -> None:
        """Send one action and require exactly the model's answer; the model then takes its new state."""
        model = copy.deepcopy(self.orgs[org])
        expected = self._expect(model, action)
        answer = self._send(self.orgs[org], action, self.orgs[org].admin, self.http)
        assert answer == expected, (action, answer, expected, [s.status for s in self.orgs[org].sittings])
        self.orgs[org] = model

    def _race(self, org: int, actions: list[tuple], admins: list[str]) -> None:
        """Send two actions at once over two HTTP connections; the answers must be those of one serial order.

        Both calls take the organisation's lock, so the server runs them one
        after the other in some order: the model tries both orders and
        accepts the one whose answers were seen (both, if they agree and
        leave the same state).
        """
        current = self.orgs[org]
        clients = [self.http, self.second_http]
        answers: list[tuple | None] = [None, None]
        barrier = threading.Barrier(2)

        def send(n: int) -> None:
            barrier.wait(30)
            answers[n] = self._send(current, actions[n], admins[n], clients[n])

        threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert None not in answers, answers
        seen = []
        predicted = []
        for order in ((0, 1), (1, 0)):
            model = copy.deepcopy(current)
            expected: list[tuple | None] = [None, None]
            for n in order:
                expected[n] = self._expect(model, actions[n])
            predicted.append(expected)
            if expected == answers:
                seen.append(model)
        assert seen, (actions, answers, predicted, [s.status for s in current.sittings], current.balance)
        assert all(model == seen[0] for model in seen), (actions, answers)
        self.orgs[org] = seen[0]

    # -- rules ----------------------------------------------------------

    @rule(org=st.integers(0, 1), score=st.integers(0, 100))
    def record(self, org, score):
        self._record(self.orgs[org], score)

    @rule(org=st.integers(0, 1), credits=st.integers(1, 3))
    def purchase(self, org, credits):
        self._purchase(self.orgs[org], credits)

    @rule(org=st.integers(0, 1), picks=PICKS, select=st.booleans())
    def select_or_unselect(self, org, picks, select):
        self._step(org, ("select" if select else "unselect", picks))

    @rule(org=st.integers(0, 1), picks=PICKS)
    def certify(self, org, picks):
        self._step(org, ("certify", picks))

    @rule(org=st.integers(0, 1))
    def confirm(self, org):
        self._step(org, ("confirm",))

    def _aimed(self, org: int, picks: list[int]) -> list[int]:
        """``picks`` moved onto sittings that can still be certified, if any, so races reach the credit check."""
        open_ = [n for n, s in enumerate(self.orgs[org].sittings) if s.status in ("UNSELECTED", "SELECTED")]
        return [open_[pick % len(open_)] for pick in picks] if open_ else picks

    @rule(org=st.integers(0, 1), picks=st.lists(st.integers(0, 50), min_size=1, max_size=2), aim=st.booleans())
    def certify_concurrently(self, org, picks, aim):
        """Two admins of one organisation certify the same sittings at once: one wins, the other changes nothing."""
        model, picks = self.orgs[org], self._aimed(org, picks) if aim else picks
        self._race(org, [("certify", picks), ("certify", picks)], [model.admin, model.second_admin])

    @rule(org=st.integers(0, 1), first=ADMIN_ACTIONS, second=ADMIN_ACTIONS, aim=st.booleans())
    def two_admins_at_once(self, org, first, second, aim):
        """Two admins of one organisation select, unselect, confirm or certify at once over separate connections."""
        if aim:
            first, second = ((a[0], self._aimed(org, a[1])) if len(a) > 1 else a for a in (first, second))
        model = self.orgs[org]
        self._race(org, [first, second], [model.admin, model.second_admin])

    @rule(org=st.integers(0, 1), credits=st.integers(1, 3), picks=PICKS)
    def purchase_races_certification(self, org, credits, picks):
        """A purchase and a certification of one organisation at once: the certification sees the credits or not."""
        model = self.orgs[org]
        self._race(org, [("purchase", credits), ("certify", self._aimed(org, picks))], [model.admin, model.admin])

    def _sitting(self, org: int, pick: int, aim: bool, statuses: tuple[str, ...]) -> ModelSitting:
        """The ``pick``-th sitting of ``org``; with ``aim``, among those whose certificate is in ``statuses`` if any."""
        sittings = self.orgs[org].sittings
        aimed = [s for s in sittings if s.certificate in statuses] if aim else []
        return (aimed or sittings)[pick % len(aimed or sittings)]

    def _certified_any(self) -> bool:
        return any(s.certificate or s.lapsed for org in self.orgs for s in org.sittings)

    @precondition(_certified_any)
    @rule(org=st.integers(0, 1), pick=st.integers(0, 50), aim=st.booleans())
    def claim(self, org, pick, aim):
        self._claim(self._sitting(org, pick, aim, OPEN))

    def _claim(self, sitting: ModelSitting) -> None:
        """The test taker claims ``sitting``'s certificate over HTTP: UNDER_REVIEW, or INVALID_TRANSITION."""
        token = self.server.token(
            Role.TEST_TAKER, test_taker=sitting.test_taker_pk, subject=f"taker-{sitting.test_taker_pk}"
        )
        operations = {
            "query": CLAIM,
            "variables": {"input": {"sittingId": sitting.gid, "holderName": "Zoë Nguyễn", "photo": None}},
        }
        response = self.http.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.photo"]})},
            files={"0": ("portrait.jpg", portrait(), "image/jpeg")},
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text
        result = response.json()["data"]["claimCertificate"]
        if sitting.certificate in ("AWAITING_CLAIM", "REJECTED"):
            assert result["errors"] == [] and result["certificate"]["status"] == "UNDER_REVIEW", result
            sitting.certificate = "UNDER_REVIEW"
            self._certificate_gid(sitting)
        else:
            assert [e["code"] for e in result["errors"]] == ["INVALID_TRANSITION"], (result, sitting)

    def _certificate_gid(self, sitting: ModelSitting) -> str:
        """The global ID of ``sitting``'s current certificate, read once and kept in the model."""
        if sitting.certificate_gid is None:

            async def read():
                current = Certificate.filter(sitting_id=sitting.pk).exclude(status=CertificateStatus.LAPSED)
                return (await current.get()).id

            sitting.certificate_gid = to_global_id("Certificate", self.server.run(read()))
        return sitting.certificate_gid

    @precondition(lambda self: any(s.certificate_gid or s.lapsed for org in self.orgs for s in org.sittings))
    @rule(org=st.integers(0, 1), pick=st.integers(0, 50), approve=st.booleans(), aim=st.booleans())
    def review(self, org, pick, approve, aim):
        """A reviewer approves or rejects a claim.

        An APPROVED certificate is INVALID_TRANSITION; one outside the review
        queue (awaiting its claim, rejected, issued, revoked, lapsed) is
        NOT_FOUND, like an ID that names nothing.
        """
        sitting = self._sitting(org, pick, aim, ("UNDER_REVIEW",))
        gid = sitting.certificate_gid or (sitting.lapsed[-1] if sitting.lapsed else None)
        if gid is not None:
            self._review(sitting, gid, approve)

    def _review(self, sitting: ModelSitting, gid: str, approve: bool) -> None:
        name = "approveCertificate" if approve else "rejectCertificate"
        result = self._post(APPROVE if approve else REJECT, {"id": gid}, self.reviewer)[name]
        if gid == sitting.certificate_gid and sitting.certificate == "UNDER_REVIEW":
            target = "APPROVED" if approve else "REJECTED"
            assert result["errors"] == [] and result["certificate"]["status"] == target, result
            sitting.certificate = target
        else:
            status = sitting.certificate if gid == sitting.certificate_gid else "LAPSED"
            code = "INVALID_TRANSITION" if status == "APPROVED" else "NOT_FOUND"
            assert [e["code"] for e in result["errors"]] == [code], (result, sitting)

    def _approved(self) -> list[ModelSitting]:
        return [s for org in self.orgs for s in org.sittings if s.certificate == "APPROVED"]

    @precondition(lambda self: self._approved())
    @rule(pick=st.integers(0, 50))
    def issue(self, pick):
        """The render worker's last step for an APPROVED certificate: ISSUED, its sitting CERTIFIED."""
        approved = self._approved()
        self._issue(approved[pick % len(approved)])

    def _issue(self, sitting: ModelSitting) -> None:
        certificate = decode_id(self._certificate_gid(sitting), "Certificate")
        self.server.run(issue_approved(self.server.live, certificate, f"{self.prefix}-{certificate}", baked=True))
        sitting.status, sitting.certificate = "CERTIFIED", "ISSUED"

    @precondition(_certified_any)
    @rule(org=st.integers(0, 1), pick=st.integers(0, 50), aim=st.booleans(), lapsed=st.booleans())
    def revoke(self, org, pick, aim, lapsed):
        """``org``'s admin revokes one of its certificates (current or, with ``lapsed``, a lapsed one); see ``_revokes``."""
        candidates = [s for s in self.orgs[org].sittings if s.certificate or s.lapsed]
        if aim:
            candidates = [s for s in candidates if s.certificate == "ISSUED"] or candidates
        if not candidates:
            return
        sitting = candidates[pick % len(candidates)]
        if sitting.lapsed and (lapsed or sitting.certificate is None):
            gid, status = sitting.lapsed[-1], "LAPSED"
        else:
            gid, status = self._certificate_gid(sitting), sitting.certificate
        self._revokes(org, sitting, gid, status)

    def _revokes(self, org: int, sitting: ModelSitting, gid: str, status: str | None) -> None:
        """The other organisation's admin, then ``org``'s, revoke ``gid``; after a success, ``org``'s admin again.

        For the other organisation the certificate is NOT_FOUND whatever its
        status; for its own, ISSUED becomes REVOKED (the sitting stays
        CERTIFIED, nothing is refunded) and any other status, a lapsed or
        just revoked certificate too, is INVALID_TRANSITION. A refusal changes
        nothing: the invariants compare every status, balance and count.
        """
        self._revoke(1 - org, sitting, gid, status, other=True)
        self._revoke(org, sitting, gid, status, other=False)
        if status == "ISSUED":
            self._revoke(org, sitting, gid, "REVOKED", other=False)

    def _revoke(self, org: int, sitting: ModelSitting, gid: str, status: str | None, other: bool) -> None:
        """``org``'s admin revokes ``gid`` (``sitting``'s certificate, of ``status``; ``other``: another organisation's)."""
        result = self._post(REVOKE, {"id": gid}, self.orgs[org].admin)["revokeCertificate"]
        if other:
            assert [e["code"] for e in result["errors"]] == ["NOT_FOUND"], (result, sitting)
        elif status == "ISSUED":
            assert result["errors"] == [] and result["certificate"]["status"] == "REVOKED", result
            sitting.certificate = "REVOKED"
        else:
            assert [e["code"] for e in result["errors"]] == ["INVALID_TRANSITION"], (result, sitting, status)

    @rule(org=st.integers(0, 1), pick=st.integers(0, 50), short=st.integers(0, 3), reject=st.booleans())
    def advance(self, org, pick, short, reject):
        """One certificate of ``org`` up to ``4 - short`` steps along its life: claimed, approved (or, with
        ``reject``, rejected), issued, revoked.

        Each step goes through the same path as its own rule and is checked
        as exactly. Without a certificate to move, one open sitting is
        certified first (or refused for want of credits, as the model
        predicts). The other rules pick sittings at random to reach the
        refusals; this one keeps ten-step runs reaching issued and revoked
        certificates.
        """
        sittings = self.orgs[org].sittings
        movable = [s for s in sittings if s.certificate not in (None, "REVOKED")]
        if not movable:
            open_ = [n for n, s in enumerate(sittings) if s.status in ("UNSELECTED", "SELECTED")]
            if open_:
                self._step(org, ("certify", [open_[pick % len(open_)]]))
            movable = [s for s in self.orgs[org].sittings if s.certificate == "AWAITING_CLAIM"]
            if not movable:
                return
        sitting = movable[pick % len(movable)]
        approve = not reject
        for _ in range(4 - short):
            if sitting.certificate in OPEN:
                self._claim(sitting)
            elif sitting.certificate == "UNDER_REVIEW":
                self._review(sitting, self._certificate_gid(sitting), approve)
            elif sitting.certificate == "APPROVED":
                self._issue(sitting)
            elif sitting.certificate == "ISSUED":
                self._revokes(org, sitting, self._certificate_gid(sitting), "ISSUED")

    @precondition(lambda self: any(s.certificate in OPEN for org in self.orgs for s in org.sittings))
    @rule(cut=st.integers(0, 50), everything=st.booleans())
    def lapse(self, cut, everything):
        """The lifecycle job runs with ``now`` just past the claim deadline of one open certificate, or of the last.

        Exactly the open certificates whose deadline has passed lapse (across
        the whole database: earlier examples' too); each one's sitting goes
        back to UNSELECTED with a REFUND of +1, and the certificate is kept as
        a lapsed one of its sitting.
        """
        owners = {s.pk: (org, s) for org in self.orgs for s in org.sittings}

        async def open_certificates():
            rows = Certificate.filter(sitting_id__in=list(owners), status__in=list(OPEN))
            return await rows.order_by("claim_deadline", "id").values_list("id", "sitting_id", "claim_deadline")

        rows = self.server.run(open_certificates())
        assert sorted(row[1] for row in rows) == sorted(pk for pk, (_, s) in owners.items() if s.certificate in OPEN)
        now = rows[-1 if everything else cut % len(rows)][2] + timedelta(seconds=1)

        async def due():
            return await Certificate.filter(status__in=list(OPEN), claim_deadline__lte=now).count()

        lapsing = self.server.run(due())
        state = self.server.live.state
        report = self.server.run(
            run_lifecycle(policy=state.settings.lifecycle_policy, publisher=state.publisher, now=now)
        )
        assert (report.lapsed, report.refunded, report.unselected, report.expired) == (lapsing,) * 3 + (0,), report
        for certificate, sitting_pk, deadline in rows:
            if deadline <= now:
                org, sitting = owners[sitting_pk]
                sitting.status, sitting.certificate, sitting.certificate_gid = "UNSELECTED", None, None
                sitting.lapsed.append(to_global_id("Certificate", certificate))
                org.balance += 1
                org.refunds += 1

    # -- invariants -----------------------------------------------------

    @invariant()
    def data_is_sound(self):
        violations = self.server.run(find_violations(storage=self.server.live.state.storage))
        assert violations == [], [str(v) for v in violations]

    @invariant()
    def dashboards_equal_fresh_counts(self):
        for org in self.orgs:
            board = self._post(DASHBOARD, token=org.admin)
            expected = {status: sum(s.status == status for s in org.sittings) for status in STATUSES}
            assert {status: board[status.lower()]["totalCount"] for status in STATUSES} == expected
            assert board["sittingStats"]["total"] == len(org.sittings)
            stats = {entry["status"]: entry["count"] for entry in board["sittingStats"]["byStatus"]}
            assert {status: stats.get(status, 0) for status in STATUSES} == expected, board
            assert board["viewer"]["organisation"]["creditBalance"] == org.balance

    @invariant()
    def certificates_and_refunds_equal_model(self):
        """Each sitting's certificates, current and lapsed, and each organisation's REFUND rows are the model's."""
        sittings = [s for org in self.orgs for s in org.sittings]

        async def read():
            rows = await Certificate.filter(sitting_id__in=[s.pk for s in sittings]).values_list(
                "id", "sitting_id", "status"
            )
            refunds = [
                await CreditTransaction.filter(organisation_id=org.pk, kind=CreditTransactionKind.REFUND).count()
                for org in self.orgs
            ]
            return rows, refunds

        rows, refunds = self.server.run(read())
        actual = {s.pk: (None, []) for s in sittings}
        for certificate, sitting_pk, status in sorted(rows):
            if CertificateStatus(status) == CertificateStatus.LAPSED:
                actual[sitting_pk][1].append(certificate)
            else:
                assert actual[sitting_pk][0] is None, (sitting_pk, rows)
                actual[sitting_pk] = (CertificateStatus(status).value, actual[sitting_pk][1])
        expected = {s.pk: (s.certificate, [decode_id(gid, "Certificate") for gid in s.lapsed]) for s in sittings}
        assert actual == expected
        for s in sittings:
            if s.certificate_gid is not None:
                assert any(row[0] == decode_id(s.certificate_gid, "Certificate") and row[1] == s.pk for row in rows)
        assert refunds == [org.refunds for org in self.orgs]

    @invariant()
    def review_queue_counts_claims(self):
        assert self._review_queue() == self.review_baseline + self._under_review()


@pytest.mark.slow
def test_workflow_keeps_its_invariants(server_on_each_backend, http_on_each_backend):
    """Given two fresh organisations per example, on SQLite and on PostgreSQL, when hypothesis runs random
    workflow steps, some sent by two clients at once, then after every step the invariants hold and every
    dashboard count equals a fresh count."""
    Workflow.examples = 0
    Workflow.server, Workflow.http = server_on_each_backend, http_on_each_backend
    with httpx.Client(base_url=server_on_each_backend.url, timeout=30) as second_http:
        Workflow.second_http = second_http
        run_state_machine_as_test(Workflow, settings=settings(HOSTILE, max_examples=8, stateful_step_count=10))
    assert Workflow.examples >= 8
