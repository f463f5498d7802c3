"""Security review: the queue, approve and reject (resolvers/review.py), on each database."""

from __future__ import annotations

import asyncio
import re

import pytest
from certificate_flow import (
    APPROVE,
    REJECT,
    REVIEW_QUEUE,
    approve,
    certified_candidates,
    claim_ok,
    portrait,
    reviewer,
    send_claim,
    wait_for,
)
from support import SqlStatements

from models import AuditEvent, Certificate, Notification, OutboxEmail, TestTaker
from models.enums import Role

CODE = re.compile(r"^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}(-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}){3}$")


def codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def test_the_queue_lists_claims_oldest_first_for_reviewers_and_platform_admins(server):
    # given three certified sittings, two of them claimed (the second first)
    _, [first, second, unclaimed] = await certified_candidates(server, 3)
    await claim_ok(server, second, "Second Claim")
    await claim_ok(server, first, "First Claim")

    # when a reviewer and a platform admin read the queue
    for client in (reviewer(server), server.platform()):
        queue = (await client.data(REVIEW_QUEUE, {"first": 10}))["reviewQueue"]

        # then both claims, oldest submission first, with their photo URLs; the unclaimed one is not there
        assert queue["totalCount"] == 2
        assert [e["node"]["holderName"] for e in queue["edges"]] == ["Second Claim", "First Claim"]
        assert [e["node"]["id"] for e in queue["edges"]] == [second.certificate_id, first.certificate_id]
        assert all(e["node"]["photoUrl"] for e in queue["edges"])
        assert unclaimed.certificate_id not in [e["node"]["id"] for e in queue["edges"]]


async def test_the_queue_pages_with_cursors(server):
    _, candidates = await certified_candidates(server, 3)
    for n, candidate in enumerate(candidates):
        await claim_ok(server, candidate, f"Holder {n}")
    page1 = (await reviewer(server).data(REVIEW_QUEUE, {"first": 2}))["reviewQueue"]
    page2 = (await reviewer(server).data(REVIEW_QUEUE, {"first": 2, "after": page1["pageInfo"]["endCursor"]}))[
        "reviewQueue"
    ]
    assert [e["node"]["holderName"] for e in page1["edges"]] == ["Holder 0", "Holder 1"]
    assert page1["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["holderName"] for e in page2["edges"]] == ["Holder 2"]
    assert page2["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("role", [Role.ORG_ADMIN, Role.ANALYST, Role.TEST_TAKER])
async def test_anyone_else_is_forbidden_the_queue(server, role):
    world, [candidate] = await certified_candidates(server)
    token = server.token(
        role,
        org=world.organisation_pk if role is not Role.TEST_TAKER else None,
        test_taker=candidate.test_taker_pk if role is Role.TEST_TAKER else None,
    )
    body = await server.client(token).post(REVIEW_QUEUE)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_the_queue_needs_a_token(server):
    body = await server.client().post(REVIEW_QUEUE)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_approving_gives_a_code_queues_the_render_and_leaves_the_queue(server):
    # given a claim under review (this server does not render)
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate)

    # when the reviewer approves it
    certificate = await approve(server, candidate)

    # then it is APPROVED with an unguessable code, waiting for its render, out of the queue
    assert certificate["status"] == "APPROVED"
    assert CODE.fullmatch(certificate["verificationCode"])
    assert certificate["reviewedAt"] is not None
    assert certificate["pdfUrl"] is None and certificate["renderError"] is None
    row = await Certificate.get(id=candidate.certificate_pk)
    assert (row.render_attempts, row.render_next_at is not None, row.reviewed_by) == (
        0,
        True,
        "security_reviewer:reviewer",
    )
    assert (await reviewer(server).data(REVIEW_QUEUE))["reviewQueue"]["totalCount"] == 0
    assert await AuditEvent.filter(action="approve_certificate", object_id=str(candidate.certificate_pk)).count() == 1


async def test_rejecting_records_the_reason_notifies_and_allows_a_new_claim(server):
    # given a claim under review
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate, "Zoe")

    # when the reviewer rejects it with a reason
    payload = (
        await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": "  Face not visible.  "})
    )["rejectCertificate"]

    # then it is REJECTED with the trimmed reason, out of the queue
    assert payload["errors"] == []
    assert (payload["certificate"]["status"], payload["certificate"]["rejectionReason"]) == (
        "REJECTED",
        "Face not visible.",
    )
    assert (await reviewer(server).data(REVIEW_QUEUE))["reviewQueue"]["totalCount"] == 0
    # and the test taker has a CERTIFICATE_REJECTED notification and e-mail waiting
    notification = await Notification.get(test_taker_id=candidate.test_taker_pk, kind="CERTIFICATE_REJECTED")
    assert notification.certificate_id == candidate.certificate_pk
    assert "Face not visible." in notification.body
    taker = await TestTaker.get(id=candidate.test_taker_pk)
    email = await wait_for(
        lambda: OutboxEmail.get_or_none(
            certificate_id=candidate.certificate_pk, template="CERTIFICATE_REJECTED", sent_at__isnull=False
        )
    )
    assert email.to_address == taker.email
    assert "Face not visible." in email.body

    # and the test taker may claim again, which puts it back in the queue
    again = await send_claim(server, candidate, name="Zoë Nguyễn", photo=portrait())
    assert again["errors"] == []
    assert again["certificate"]["status"] == "UNDER_REVIEW"
    assert (await reviewer(server).data(REVIEW_QUEUE))["reviewQueue"]["totalCount"] == 1


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001, "\u200b\u200b", "bad\u0000reason"])
async def test_a_rejection_needs_a_reason_of_1_to_1000_characters(server, reason):
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate)
    payload = (await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": reason}))[
        "rejectCertificate"
    ]
    assert payload["certificate"] is None
    assert codes(payload) == [("INVALID_INPUT", ["input", "reason"])]
    assert (await Certificate.get(id=candidate.certificate_pk)).status == "UNDER_REVIEW"
    assert await Notification.filter(kind="CERTIFICATE_REJECTED").count() == 0


async def test_every_other_transition_is_invalid(server):
    # given one rejected and one approved claim
    _, [rejected, approved] = await certified_candidates(server, 2)
    for candidate in (rejected, approved):
        await claim_ok(server, candidate)
    await reviewer(server).data(REJECT, {"id": rejected.certificate_id, "reason": "Blurred."})
    await approve(server, approved)
    client = reviewer(server)

    # when the reviewer approves the rejected one, rejects or approves the approved one, rejects the rejected one
    results = [
        (await client.data(APPROVE, {"id": rejected.certificate_id}))["approveCertificate"],
        (await client.data(REJECT, {"id": rejected.certificate_id, "reason": "Again."}))["rejectCertificate"],
        (await client.data(APPROVE, {"id": approved.certificate_id}))["approveCertificate"],
        (await client.data(REJECT, {"id": approved.certificate_id, "reason": "Too late."}))["rejectCertificate"],
    ]

    # then the rejected one, out of the reviewer's sight, is NOT_FOUND, the approved one INVALID_TRANSITION, and nothing changed
    assert [codes(r) for r in results] == [[("NOT_FOUND", ["input", "certificateId"])]] * 2 + [
        [("INVALID_TRANSITION", ["input", "certificateId"])]
    ] * 2
    assert (await Certificate.get(id=rejected.certificate_pk)).status == "REJECTED"
    assert (await Certificate.get(id=approved.certificate_pk)).status == "APPROVED"
    # and an approved certificate cannot be claimed again either
    claim = await send_claim(server, approved, name="Other", photo=portrait())
    assert codes(claim) == [("INVALID_TRANSITION", ["input", "sittingId"])]


async def test_a_certificate_outside_the_queue_is_not_found_like_an_unknown_one(server):
    # given certificates awaiting their claim, rejected, and approved (visible to reviewers)
    _, [unclaimed, rejected, approved] = await certified_candidates(server, 3)
    for candidate in (rejected, approved):
        await claim_ok(server, candidate)
    await reviewer(server).data(REJECT, {"id": rejected.certificate_id, "reason": "Blurred."})
    await approve(server, approved)
    client = reviewer(server)

    # when the reviewer approves or rejects each, or IDs that name no certificate
    hidden = [
        codes((await client.data(APPROVE, {"id": c.certificate_id}))["approveCertificate"])
        for c in (unclaimed, rejected)
    ] + [
        codes((await client.data(REJECT, {"id": c.certificate_id, "reason": "No."}))["rejectCertificate"])
        for c in (unclaimed, rejected)
    ]
    unknown = [
        codes((await client.data(APPROVE, {"id": certificate_id}))["approveCertificate"])
        for certificate_id in ("Q2VydGlmaWNhdGU6OTk5OTk", "not-an-id", unclaimed.sitting_id)
    ]
    visible = [
        codes((await client.data(APPROVE, {"id": approved.certificate_id}))["approveCertificate"]),
        codes((await client.data(REJECT, {"id": approved.certificate_id, "reason": "No."}))["rejectCertificate"]),
    ]

    # then those outside the queue answer exactly as unknown IDs do, telling no status
    assert hidden == [[("NOT_FOUND", ["input", "certificateId"])]] * 4
    assert unknown == [[("NOT_FOUND", ["input", "certificateId"])]] * 3
    # and a certificate the reviewer may read keeps its invalid transition
    assert visible == [[("INVALID_TRANSITION", ["input", "certificateId"])]] * 2
    # and nothing changed
    statuses = [(await Certificate.get(id=c.certificate_pk)).status for c in (unclaimed, rejected, approved)]
    assert statuses == ["AWAITING_CLAIM", "REJECTED", "APPROVED"]


NODE_CERTIFICATE = "query($id: ID!) { node(id: $id) { ... on Certificate { status } } }"


async def test_reviewers_see_the_queue_and_approved_certificates_only(server):
    # given one claim approved, one rejected, one under review and one never claimed
    _, [approved, rejected, waiting, unclaimed] = await certified_candidates(server, 4)
    for candidate in (approved, rejected, waiting):
        await claim_ok(server, candidate)
    await approve(server, approved)
    await reviewer(server).data(REJECT, {"id": rejected.certificate_id, "reason": "Blurred."})

    # when the reviewer reads each certificate by ID
    seen = {
        name: (await reviewer(server).data(NODE_CERTIFICATE, {"id": c.certificate_id}))["node"]
        for name, c in {"approved": approved, "rejected": rejected, "waiting": waiting, "unclaimed": unclaimed}.items()
    }

    # then only the queue and the approved one are visible
    assert seen == {
        "approved": {"status": "APPROVED"},
        "rejected": None,
        "waiting": {"status": "UNDER_REVIEW"},
        "unclaimed": None,
    }


@pytest.mark.parametrize("role", [Role.ORG_ADMIN, Role.ANALYST, Role.TEST_TAKER, Role.PLATFORM_ADMIN])
async def test_only_security_reviewers_decide(server, role):
    world, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate)
    token = server.token(
        role,
        org=world.organisation_pk if role in (Role.ORG_ADMIN, Role.ANALYST) else None,
        test_taker=candidate.test_taker_pk if role is Role.TEST_TAKER else None,
    )
    for document, variables in (
        (APPROVE, {"id": candidate.certificate_id}),
        (REJECT, {"id": candidate.certificate_id, "reason": "No."}),
    ):
        body = await server.client(token).post(document, variables)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert (await Certificate.get(id=candidate.certificate_pk)).status == "UNDER_REVIEW"


async def test_concurrent_approve_and_reject_of_one_claim_let_exactly_one_win(server):
    # given a claim under review
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate)
    client = reviewer(server)

    # when two reviewers decide at the same moment
    approved, rejected = await asyncio.gather(
        client.data(APPROVE, {"id": candidate.certificate_id}),
        client.data(REJECT, {"id": candidate.certificate_id, "reason": "Blurred."}),
    )

    # then exactly one decision stands
    outcomes = sorted([codes(approved["approveCertificate"]) == [], codes(rejected["rejectCertificate"]) == []])
    assert outcomes == [False, True]
    status = (await Certificate.get(id=candidate.certificate_pk)).status
    assert status == ("APPROVED" if codes(approved["approveCertificate"]) == [] else "REJECTED")


async def test_verification_codes_are_unique_under_many_concurrent_approvals(server):
    # given 40 claims under review
    _, candidates = await certified_candidates(server, 40)
    for candidate in candidates:
        await claim_ok(server, candidate, "Holder")

    # when they are all approved at once
    results = await asyncio.gather(*(approve(server, candidate) for candidate in candidates))

    # then 40 distinct well-formed codes, as stored
    issued = [r["verificationCode"] for r in results]
    assert len(set(issued)) == 40
    assert all(CODE.fullmatch(code) for code in issued)
    stored = await Certificate.filter(verification_code__isnull=False).values_list("verification_code", flat=True)
    assert sorted(stored) == sorted(issued)


SEARCHED_QUEUE = """
query($search: String, $newestFirst: Boolean, $first: Int, $after: String) {
  reviewQueue(search: $search, newestFirst: $newestFirst, first: $first, after: $after) {
    totalCount edges { node { holderName sitting { testTaker { name } } } } pageInfo { hasNextPage endCursor }
  }
}
"""


async def searched(server, **variables) -> dict:
    return (await reviewer(server).data(SEARCHED_QUEUE, variables))["reviewQueue"]


def holders(queue: dict) -> list[str]:
    return [edge["node"]["holderName"] for edge in queue["edges"]]


async def test_the_queue_searches_names_and_reads_newest_first(server):
    # given four claims, submitted in this order (test takers "Candidate 0" … "Candidate 3")
    _, candidates = await certified_candidates(server, 4)
    for candidate, name in zip(candidates, ["Zoë Nguyễn", "İhsan Öztürk", "ليلى حداد", "Zoe Adams"], strict=True):
        await claim_ok(server, candidate, name)

    # when the reviewer searches a test taker's name, any case, then that claim alone is listed
    assert holders(await searched(server, search="  CANDIDATE 1 ")) == ["İhsan Öztürk"]
    # a submitted holder name, any case, matches too; blank is no search
    assert holders(await searched(server, search="zoe")) == ["Zoe Adams"]
    assert holders(await searched(server, search="ليلى")) == ["ليلى حداد"]
    assert (await searched(server, search="   "))["totalCount"] == 4
    nobody = await searched(server, search="nobody")
    assert (nobody["totalCount"], nobody["edges"]) == (0, [])

    # when they ask for newest first, the last submission leads and the cursor pages on in that order
    page1 = await searched(server, newestFirst=True, first=3)
    assert (page1["totalCount"], holders(page1)) == (4, ["Zoe Adams", "ليلى حداد", "İhsan Öztürk"])
    page2 = await searched(server, newestFirst=True, first=3, after=page1["pageInfo"]["endCursor"])
    assert (holders(page2), page2["pageInfo"]["hasNextPage"]) == (["Zoë Nguyễn"], False)
    # and newestFirst false, the default, is the contract's oldest first
    oldest_first = ["Zoë Nguyễn", "İhsan Öztürk", "ليلى حداد", "Zoe Adams"]
    assert holders(await searched(server, newestFirst=False)) == holders(await searched(server)) == oldest_first


async def test_a_search_too_long_or_with_control_characters_is_refused(server):
    for search in ("x" * 201, "a\u0000b"):
        body = await reviewer(server).post(SEARCHED_QUEUE, {"search": search})
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
        assert "search must be at most 200 printable characters" in body["errors"][0]["message"]


async def test_a_searched_newest_first_queue_is_two_statements(server):
    _, candidates = await certified_candidates(server, 3)
    for n, candidate in enumerate(candidates):
        await claim_ok(server, candidate, f"Holder {n}")
    client = reviewer(server)
    await client.data("{ viewer { role } }")
    with SqlStatements() as sql:
        data = await client.data(SEARCHED_QUEUE, {"search": "holder", "newestFirst": True})
    # then four: the count and the page (the test taker's name joined into both for the search), one
    # sitting batch and one test taker batch
    assert holders(data["reviewQueue"]) == ["Holder 2", "Holder 1", "Holder 0"]
    assert sql.count == 4


NOTIFICATIONS = "query { notifications(first: 5) { edges { node { kind body } } } }"


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("Photo is of someone else — שלום", "“Photo is of someone else — שלום.”"),
        ("התמונה אינה ברורה", "“התמונה אינה ברורה.”"),
        ("Is this really you?", "“Is this really you?”"),
        ("لماذا؟", "“لماذا؟”"),
    ],
)
async def test_the_rejection_notification_quotes_the_reason_as_a_sentence_of_its_own(server, reason, said):
    # given a claim under review
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate, "Yael Cohen")
    # when the reviewer rejects it with a reason, ended or not, in either direction of script
    payload = (await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": reason}))[
        "rejectCertificate"
    ]
    assert payload["errors"] == []
    # then the test taker's notification quotes it, ended by a full stop when it had no end of its own
    edges = (await candidate.client.data(NOTIFICATIONS))["notifications"]["edges"]
    bodies = [edge["node"]["body"] for edge in edges if edge["node"]["kind"] == "CERTIFICATE_REJECTED"]
    assert bodies == [
        (
            f"Your claim for the Acme Languages English certificate was not approved. The reason given: {said} "
            "You can correct your name or photo and submit it again."
        )
    ]
