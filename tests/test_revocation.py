"""Revoking issued certificates and moving claim deadlines (resolvers/revocation.py), and what verification
then says (resolvers/verification.py, server/verify_page.py), on each database."""

from __future__ import annotations

import email
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from email import policy

import pytest
from builders import CREATE_VALID_TEST, PURCHASE_CREDITS, RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import (
    REJECT,
    Candidate,
    approve,
    certified_candidates,
    claim_ok,
    issue,
    path_of,
    rendering_server,
    reviewer,
    wait_for,
    wait_for_status,
)
from harness import free_port
from playwright.async_api import async_playwright
from smtp_server import SmtpServer
from ws_client import ws_session

from gql.ids import to_global_id
from models import AuditEvent, Certificate, CreditTransaction, Notification, Organisation, OutboxEmail, Sitting
from models.enums import Role
from renderer import find_chromium
from resolvers.lifecycle_policy import add_months

PAYLOAD = "certificate { id status claimDeadline expiresAt revokedAt revocationReason } errors { code message field }"
REVOKE = f"""
mutation($id: ID!, $reason: String!) {{
  revokeCertificate(input: {{certificateId: $id, reason: $reason}}) {{ {PAYLOAD} }}
}}
"""
EXTEND = f"""
mutation($id: ID!, $deadline: DateTime!) {{
  extendClaimDeadline(input: {{certificateId: $id, claimDeadline: $deadline}}) {{ {PAYLOAD} }}
}}
"""
LIFE = """
query($id: ID!) {
  node(id: $id) {
    ... on Certificate {
      status claimDeadline expiresAt revokedAt revocationReason pdfUrl pngUrl sitting { status }
    }
  }
}
"""
VERIFY = """
query($code: String!) {
  verifyCertificate(code: $code) {
    valid status expiresAt revokedAt holderName testName score organisationName issuedAt
  }
}
"""
CREATE_ORGANISATION = 'mutation { createOrganisation(input: {name: "Borealis Tests"}) { organisation { id } } }'
CERTIFY = """
mutation($ids: [ID!]!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "expiring"}) { certifiedCount errors { code } }
}
"""
LIVE_SITTINGS = """
subscription { liveSittings(first: 2, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { certificate { status } } } } }
"""
REASON = "The score was obtained by impersonation.\nSee case 2026-114."
REVOKED_BODY = "Your certificate for Acme Languages English has been revoked and is no longer valid: " + REASON
SHOTS = "verify-shots"


def codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


def certificate_statuses(data: dict) -> list[str]:
    return [edge["node"]["certificate"]["status"] for edge in data["liveSittings"]["edges"]]


def graphql_codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body["errors"]]


@pytest.fixture
def smtp_server():
    server = SmtpServer(port=free_port())
    server.start()
    yield server
    server.stop()


async def issued_candidates(server, count: int = 1, **world):
    """A world whose first ``count`` certificates were claimed, approved and rendered (ISSUED)."""
    found, candidates = await certified_candidates(server, count, **world)
    issued = [await issue(server, candidate) for candidate in candidates]
    return found, candidates, issued


async def ledger_of(organisation_pk: int) -> tuple[int, list[tuple[str, int]]]:
    balance = (await Organisation.get(id=organisation_pk)).credit_balance
    rows = await CreditTransaction.filter(organisation_id=organisation_pk).order_by("id").values_list("kind", "delta")
    return balance, [(kind, delta) for kind, delta in rows]


async def screenshot(server, code: str, path) -> dict:
    """Open ``/verify/{code}`` in real Chromium, save a PNG at ``path``; return the banner's text and colours."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=find_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page(viewport={"width": 800, "height": 600})
            await page.goto(f"{server.url}/verify/{code}")
            path.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(path), full_page=True)
            return await page.eval_on_selector(
                "#status",
                "e => ({text: e.innerText, background: getComputedStyle(e).backgroundColor,"
                " visible: e.getBoundingClientRect().height > 0})",
            )
        finally:
            await browser.close()


@pytest.mark.chromium
async def test_an_org_admin_or_platform_admin_revokes_an_issued_certificate_for_good(
    tmp_path, database_url, smtp_server
):
    async with rendering_server(tmp_path, database_url, smtp_url=smtp_server.url) as server:
        # given two issued certificates of one organisation, each verifying as VALID
        world, [first, second], [issued, _] = await issued_candidates(server, 2)
        org = world.organisation_pk
        admin = server.client(server.token(Role.ORG_ADMIN, org=org, subject="admin"))
        code = issued["verificationCode"]
        before = await ledger_of(org)
        valid = (await server.client().data(VERIFY, {"code": code}))["verifyCertificate"]
        assert (valid["valid"], valid["status"], valid["expiresAt"], valid["revokedAt"]) == (True, "VALID", None, None)
        assert (await screenshot(server, code, tmp_path / SHOTS / "valid.png"))["text"] == "This certificate is valid"

        # when the organisation's admin revokes the first with a reason (spaces around it are trimmed),
        # while its dashboard watches the live sittings
        async with ws_session(server.ws_url, admin.token) as dashboard:
            await dashboard.subscribe("live", LIVE_SITTINGS)
            assert certificate_statuses(await dashboard.data("live")) == ["ISSUED", "ISSUED"]
            payload = (await admin.data(REVOKE, {"id": first.certificate_id, "reason": f"  {REASON}  "}))[
                "revokeCertificate"
            ]

            # then the dashboard's page is refreshed at once
            assert certificate_statuses(await dashboard.data("live")) == ["REVOKED", "ISSUED"]

        # and it is REVOKED, for good, with who, when and why
        row = await Certificate.get(id=first.certificate_pk)
        revoked_at = row.revoked_at.astimezone(UTC).isoformat()
        assert payload == {
            "certificate": {
                "id": first.certificate_id,
                "status": "REVOKED",
                "claimDeadline": row.claim_deadline.astimezone(UTC).isoformat(),
                "expiresAt": None,
                "revokedAt": revoked_at,
                "revocationReason": REASON,
            },
            "errors": [],
        }
        assert (row.status, row.revoked_by, row.revocation_reason) == ("REVOKED", "org_admin:admin", REASON)
        audit = await AuditEvent.get(action="revoke_certificate", object_id=str(first.certificate_pk))
        assert (audit.actor, audit.actor_role, audit.object_type, audit.detail) == (
            "org_admin:admin",
            "org_admin",
            "Certificate",
            {"reason": REASON},
        )

        # and the holder is told in the app and by e-mail, reason included
        notification = await Notification.get(test_taker_id=first.test_taker_pk, kind="CERTIFICATE_REVOKED")
        assert (notification.certificate_id, notification.title, notification.body) == (
            first.certificate_pk,
            "Your certificate has been revoked",
            REVOKED_BODY,
        )
        sent = await wait_for(
            lambda: OutboxEmail.get_or_none(
                certificate_id=first.certificate_pk, template="CERTIFICATE_REVOKED", sent_at__isnull=False
            )
        )
        assert sent.subject == "Zoë Nguyễn, your Acme Languages English certificate has been revoked"
        assert "Acme Languages has revoked your certificate for Acme Languages English" in sent.body
        assert f"Reason given:\n{REASON}\n" in sent.body
        # (sent_at is set once the SMTP server accepted it)
        delivered = _delivered(smtp_server, sent.to_address, "revoked")
        assert delivered["Subject"] == sent.subject

        # and the holder, the organisation's admins and analysts read the reason
        analyst = server.client(server.token(Role.ANALYST, org=org))
        for client in (first.client, admin, analyst, server.platform()):
            node = (await client.data(LIFE, {"id": first.certificate_id}))["node"]
            assert (node["status"], node["revokedAt"], node["revocationReason"]) == ("REVOKED", revoked_at, REASON)

        # and the sitting stays CERTIFIED, no credit comes back, and the files still download for the organisation
        node = (await admin.data(LIFE, {"id": first.certificate_id}))["node"]
        assert node["sitting"] == {"status": "CERTIFIED"}
        pdf = await server.http.get(path_of(node["pdfUrl"]))
        png = await server.http.get(path_of(node["pngUrl"]))
        assert (pdf.status_code, png.status_code) == (200, 200)
        assert hashlib.sha256(pdf.content).hexdigest() == row.pdf_sha256
        assert png.content.startswith(b"\x89PNG")
        assert await ledger_of(org) == before

        # and anyone verifying its code learns it was revoked, and when, never why
        answer = await server.client().post(VERIFY, {"code": code})
        assert answer["data"]["verifyCertificate"] == {
            "valid": False,
            "status": "REVOKED",
            "expiresAt": None,
            "revokedAt": revoked_at,
            "holderName": "Zoë Nguyễn",
            "testName": "Acme Languages English",
            "score": 80,
            "organisationName": "Acme Languages",
            "issuedAt": issued["issuedAt"],
        }
        assert "impersonation" not in str(answer)
        page = await server.http.get(f"/verify/{code}")
        assert page.status_code == 200
        assert f"Revoked on {row.revoked_at.astimezone(UTC).day} " in page.text
        assert "This certificate was revoked" in page.text and "impersonation" not in page.text
        banner = await screenshot(server, code, tmp_path / SHOTS / "revoked.png")
        assert banner["visible"] and banner["background"] == "rgb(160, 28, 28)"
        assert banner["text"].startswith("Revoked on ") and "impersonation" not in banner["text"]

        # when it is revoked again
        again = (await admin.data(REVOKE, {"id": first.certificate_id, "reason": "Twice."}))["revokeCertificate"]

        # then that is INVALID_TRANSITION and nothing changed
        assert (again["certificate"], codes(again)) == (None, [("INVALID_TRANSITION", ["input", "certificateId"])])
        assert (await Certificate.get(id=first.certificate_pk)).revocation_reason == REASON
        assert await AuditEvent.filter(action="revoke_certificate").count() == 1
        assert await Notification.filter(kind="CERTIFICATE_REVOKED").count() == 1

        # when a platform admin revokes the second
        platform = server.client(server.token(Role.PLATFORM_ADMIN, subject="ops"))
        by_platform = (await platform.data(REVOKE, {"id": second.certificate_id, "reason": "Fraud."}))[
            "revokeCertificate"
        ]

        # then it is REVOKED in the platform admin's name
        assert (by_platform["certificate"]["status"], by_platform["errors"]) == ("REVOKED", [])
        assert (await Certificate.get(id=second.certificate_pk)).revoked_by == "platform_admin:ops"
        audit = await AuditEvent.get(action="revoke_certificate", object_id=str(second.certificate_pk))
        assert (audit.actor, audit.detail) == ("platform_admin:ops", {"reason": "Fraud."})
        assert await ledger_of(org) == before


def _delivered(smtp_server: SmtpServer, address: str, word: str):
    for envelope in list(smtp_server.messages):
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        if address in envelope.rcpt_tos and word in str(message["Subject"]):
            return message
    return None


async def test_only_the_organisation_and_platform_admins_revoke_and_only_issued_certificates(tmp_path, database_url):
    async with rendering_server(tmp_path, database_url) as server:
        # given an issued certificate and one still awaiting its claim, and another organisation's admin
        world, [issued, waiting] = await certified_candidates(server, 2)
        await claim_ok(server, issued)
        await approve(server, issued)
        await wait_for_status(server, issued, "ISSUED")
        other = await build_world(server.platform(), sittings=0, credits=0, name="Borealis Tests", prefix="bor")
        org = world.organisation_pk
        admin = server.client(server.token(Role.ORG_ADMIN, org=org))
        before = await ledger_of(org)

        # when roles that may not revoke try
        refused = {
            role: graphql_codes(await server.client(token).post(REVOKE, {"id": issued.certificate_id, "reason": "No."}))
            for role, token in {
                "test taker": issued.client.token,
                "analyst": server.token(Role.ANALYST, org=org),
                "reviewer": reviewer(server).token,
            }.items()
        }

        # then each is FORBIDDEN
        assert refused == {"test taker": ["FORBIDDEN"], "analyst": ["FORBIDDEN"], "reviewer": ["FORBIDDEN"]}

        # when another organisation's admin names it, or an ID names no certificate
        outsider = server.client(server.token(Role.ORG_ADMIN, org=other.organisation_pk))
        for client, certificate_id in ((outsider, issued.certificate_id), (admin, to_global_id("Certificate", 99_999))):
            payload = (await client.data(REVOKE, {"id": certificate_id, "reason": "No."}))["revokeCertificate"]

            # then it is NOT_FOUND
            assert (payload["certificate"], codes(payload)) == (None, [("NOT_FOUND", ["input", "certificateId"])])

        # when the reason is blank, too long, or not printable
        for reason in ("", "   ", "x" * 1001, "\u200b\u200b", "bad\u0000reason"):
            payload = (await admin.data(REVOKE, {"id": issued.certificate_id, "reason": reason}))["revokeCertificate"]

            # then it is INVALID_INPUT naming the reason
            assert (payload["certificate"], codes(payload)) == (None, [("INVALID_INPUT", ["input", "reason"])])

        # when a certificate awaiting its claim is revoked, or an issued one given a new claim deadline
        awaiting = (await admin.data(REVOKE, {"id": waiting.certificate_id, "reason": "No."}))["revokeCertificate"]
        later = (datetime.now(UTC) + timedelta(days=400)).isoformat()
        extended = (await admin.data(EXTEND, {"id": issued.certificate_id, "deadline": later}))["extendClaimDeadline"]

        # then each is INVALID_TRANSITION
        assert codes(awaiting) == codes(extended) == [("INVALID_TRANSITION", ["input", "certificateId"])]

        # and nothing of any of it changed anything
        statuses = {row.id: (row.status, row.revoked_at) for row in await Certificate.all()}
        assert statuses[issued.certificate_pk] == ("ISSUED", None)
        assert statuses[waiting.certificate_pk][0] == "AWAITING_CLAIM"
        assert await AuditEvent.filter(action__in=["revoke_certificate", "extend_claim_deadline"]).count() == 0
        assert await Notification.filter(kind="CERTIFICATE_REVOKED").count() == 0
        assert await ledger_of(org) == before


async def test_a_claim_deadline_only_moves_later(server):
    # given a certificate awaiting its claim and one rejected
    world, [waiting, rejected, reviewing] = await certified_candidates(server, 3)
    for candidate in (rejected, reviewing):
        await claim_ok(server, candidate)
    await reviewer(server).data(REJECT, {"id": rejected.certificate_id, "reason": "Blurred."})
    org = world.organisation_pk
    admin = server.client(server.token(Role.ORG_ADMIN, org=org, subject="admin"))
    current = (await Certificate.get(id=waiting.certificate_pk)).claim_deadline.astimezone(UTC)

    # when the deadline is moved to an earlier time, the same time, a past time, or over ten years away
    eleven_years = datetime.now(UTC) + timedelta(days=3651)
    for moment in (current - timedelta(seconds=1), current, datetime.now(UTC) - timedelta(days=1), eleven_years):
        payload = (await admin.data(EXTEND, {"id": waiting.certificate_id, "deadline": moment.isoformat()}))[
            "extendClaimDeadline"
        ]

        # then it is INVALID_INPUT naming the deadline, and nothing changed
        assert (payload["certificate"], codes(payload)) == (None, [("INVALID_INPUT", ["input", "claimDeadline"])])
    assert (await Certificate.get(id=waiting.certificate_pk)).claim_deadline.astimezone(UTC) == current

    # when the organisation's admin moves it later, given with another offset
    later_utc = current + timedelta(days=30)
    later = later_utc.astimezone(timezone(timedelta(hours=2)))
    payload = (await admin.data(EXTEND, {"id": waiting.certificate_id, "deadline": later.isoformat()}))[
        "extendClaimDeadline"
    ]

    # then the certificate has the new deadline, and the audit says who moved it from when to when
    assert payload["errors"] == []
    assert (payload["certificate"]["status"], payload["certificate"]["claimDeadline"]) == (
        "AWAITING_CLAIM",
        later_utc.isoformat(),
    )
    assert (await Certificate.get(id=waiting.certificate_pk)).claim_deadline.astimezone(UTC) == later_utc
    audit = await AuditEvent.get(action="extend_claim_deadline", object_id=str(waiting.certificate_pk))
    assert (audit.actor, audit.object_type, audit.detail) == (
        "org_admin:admin",
        "Certificate",
        {"from": current.isoformat(), "to": later_utc.isoformat()},
    )

    # and a platform admin may move a rejected claim's deadline too
    rejected_deadline = (await Certificate.get(id=rejected.certificate_pk)).claim_deadline.astimezone(UTC)
    moved = rejected_deadline + timedelta(days=7)
    payload = (await server.platform().data(EXTEND, {"id": rejected.certificate_id, "deadline": moved.isoformat()}))[
        "extendClaimDeadline"
    ]
    assert (payload["certificate"]["status"], payload["certificate"]["claimDeadline"]) == (
        "REJECTED",
        moved.isoformat(),
    )

    # when a claim under review, or another organisation's certificate, is given more time
    other = await build_world(server.platform(), sittings=0, credits=0, name="Borealis Tests", prefix="bor")
    outsider = server.client(server.token(Role.ORG_ADMIN, org=other.organisation_pk))
    further = (later_utc + timedelta(days=1)).isoformat()
    under_review = (await admin.data(EXTEND, {"id": reviewing.certificate_id, "deadline": further}))[
        "extendClaimDeadline"
    ]
    foreign = (await outsider.data(EXTEND, {"id": waiting.certificate_id, "deadline": further}))["extendClaimDeadline"]

    # then UNDER_REVIEW is INVALID_TRANSITION and another organisation's is NOT_FOUND
    assert codes(under_review) == [("INVALID_TRANSITION", ["input", "certificateId"])]
    assert codes(foreign) == [("NOT_FOUND", ["input", "certificateId"])]

    # and nobody else may move deadlines
    for token in (waiting.client.token, server.token(Role.ANALYST, org=org), reviewer(server).token):
        body = await server.client(token).post(EXTEND, {"id": waiting.certificate_id, "deadline": further})
        assert graphql_codes(body) == ["FORBIDDEN"]
    assert (await Certificate.get(id=waiting.certificate_pk)).claim_deadline.astimezone(UTC) == later_utc
    assert await AuditEvent.filter(action="extend_claim_deadline").count() == 2


@pytest.mark.chromium
async def test_an_issued_certificate_past_its_expiry_verifies_as_expired(tmp_path, database_url):
    async with rendering_server(tmp_path, database_url) as server:
        # given a test valid for 12 months and an issued certificate of a sitting of it
        platform = server.platform()
        org = (await platform.data(CREATE_ORGANISATION))["createOrganisation"]["organisation"]["id"]
        created = await platform.data(CREATE_VALID_TEST, {"name": "Borealis Speaking", "months": 12})
        test = created["createTest"]["test"]
        assert test["validityMonths"] == 12
        await platform.data(PURCHASE_CREDITS, {"org": org, "credits": 1, "ref": "expiring"})
        taken_at = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
        recorded = await platform.data(RECORD_SITTINGS, {"rows": [sitting_row(org, test["id"], 1, taken_at=taken_at)]})
        assert recorded["recordSittings"]["errors"] == []
        sitting = await Sitting.get(external_id="ext-1")
        assert sitting.expires_at.astimezone(UTC) == datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
        admin = server.client(server.token(Role.ORG_ADMIN, org=sitting.organisation_id))
        sitting_gid = (await admin.data("{ sittings(first: 1) { edges { node { id } } } }"))["sittings"]["edges"]
        certified = await admin.data(CERTIFY, {"ids": [sitting_gid[0]["node"]["id"]]})
        assert certified["certifySittings"] == {"certifiedCount": 1, "errors": []}
        candidate = await _candidates_of(server, sitting)
        await claim_ok(server, candidate)
        await approve(server, candidate)
        issued = await wait_for_status(server, candidate, "ISSUED")
        code = issued["verificationCode"]
        node = (await admin.data(LIFE, {"id": candidate.certificate_id}))["node"]
        assert node["expiresAt"] == "2027-01-31T09:30:00+00:00"

        # when its validity has ended: recordSittings refuses sittings already expired (INELIGIBLE), so the
        # test moves this issued certificate's sitting expiry into the past in the database directly
        expired_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        await Sitting.filter(id=sitting.id).update(expires_at=expired_at)

        # then verifying its code says EXPIRED, with the expiry, and not valid
        answer = (await server.client().data(VERIFY, {"code": code}))["verifyCertificate"]
        assert answer == {
            "valid": False,
            "status": "EXPIRED",
            "expiresAt": expired_at.isoformat(),
            "revokedAt": None,
            "holderName": "Zoë Nguyễn",
            "testName": "Borealis Speaking",
            "score": 80,
            "organisationName": "Borealis Tests",
            "issuedAt": issued["issuedAt"],
        }
        page = await server.http.get(f"/verify/{code}")
        assert page.status_code == 200
        assert "This certificate has expired" in page.text
        banner = await screenshot(server, code, tmp_path / SHOTS / "expired.png")
        assert banner["visible"] and banner["background"] == "rgb(242, 193, 78)"
        assert banner["text"].startswith(f"Expired on {expired_at.day} ")

        # and the organisation still downloads its files
        node = (await admin.data(LIFE, {"id": candidate.certificate_id}))["node"]
        assert node["expiresAt"] == expired_at.isoformat()
        assert (await server.http.get(path_of(node["pdfUrl"]))).status_code == 200


async def _candidates_of(server, sitting: Sitting) -> Candidate:
    certificate = await Certificate.get(sitting_id=sitting.id)
    token = server.token(Role.TEST_TAKER, test_taker=sitting.test_taker_id)
    return Candidate(
        to_global_id("Sitting", sitting.id), sitting.id, sitting.test_taker_id, certificate.id, server.client(token)
    )


async def test_a_claim_deadline_ends_with_the_results_validity_and_never_moves_past_it(server):
    # given a test valid for 12 months and a sitting taken 11 months ago, so its result expires
    # in about a month, sooner than the 90-day claim window
    platform = server.platform()
    org = (await platform.data(CREATE_ORGANISATION))["createOrganisation"]["organisation"]["id"]
    test = (await platform.data(CREATE_VALID_TEST, {"name": "Borealis Speaking", "months": 12}))["createTest"]["test"]
    await platform.data(PURCHASE_CREDITS, {"org": org, "credits": 1, "ref": "soon"})
    taken_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=335)
    await platform.data(RECORD_SITTINGS, {"rows": [sitting_row(org, test["id"], 1, taken_at=taken_at)]})
    sitting = await Sitting.get(external_id="ext-1")
    admin = server.client(server.token(Role.ORG_ADMIN, org=sitting.organisation_id))

    # when it is certified
    certified = await admin.data(CERTIFY, {"ids": [to_global_id("Sitting", sitting.id)]})
    assert certified["certifySittings"] == {"certifiedCount": 1, "errors": []}
    candidate = await _candidates_of(server, sitting)

    # then the claim deadline is the expiry, not a window later
    expires = add_months(taken_at, 12)
    node = (await admin.data(LIFE, {"id": candidate.certificate_id}))["node"]
    assert (node["claimDeadline"], node["expiresAt"]) == (expires.isoformat(), expires.isoformat())
    assert expires < datetime.now(UTC) + timedelta(days=90)

    # when an admin moves the deadline past the expiry
    later = (expires + timedelta(days=1)).isoformat()
    payload = (await admin.data(EXTEND, {"id": candidate.certificate_id, "deadline": later}))["extendClaimDeadline"]

    # then it is INVALID_INPUT saying why, and nothing changed
    at = expires.astimezone(UTC)
    shown = f"{at.day} {at:%B} {at.year}, {at:%H:%M} UTC"
    assert payload == {
        "certificate": None,
        "errors": [
            {
                "code": "INVALID_INPUT",
                "message": f"the new claim deadline must not be after the result expires ({shown})",
                "field": ["input", "claimDeadline"],
            }
        ],
    }
    assert (await Certificate.get(id=candidate.certificate_pk)).claim_deadline.astimezone(UTC) == expires


async def test_a_code_of_no_issued_or_revoked_certificate_is_not_found(server):
    # given a certificate approved (it has a code) but not issued: this server does not render
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate)
    approved_code = (await approve(server, candidate))["verificationCode"]

    # when it, or a code of nothing, is verified
    for code in (approved_code, "AAAA-BBBB-CCCC-DDDD"):
        answer = (await server.client().data(VERIFY, {"code": code}))["verifyCertificate"]

        # then the status is NOT_FOUND and nothing else is said
        assert answer == {
            "valid": False,
            "status": "NOT_FOUND",
            "expiresAt": None,
            "revokedAt": None,
            "holderName": None,
            "testName": None,
            "score": None,
            "organisationName": None,
            "issuedAt": None,
        }
