"""What the test taker's pages ask of the API, over real HTTP and websocket: their own sittings in every
organisation (the "My certificates" page, ``GET /me``, reads ``sittings``), and the approval of a claim told to
them live and in-app, with no e-mail of its own (docs/RULES.md, "Claims and review").
"""

from __future__ import annotations

from builders import RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import APPROVE, certified_candidates, claim_ok, reviewer
from support import subscribed
from ws_client import ws_session

from gql.ids import to_global_id
from models import Notification, OutboxEmail, Sitting
from models.enums import Role

MINE = """
query MyCertificates {
  viewer { testTaker { name } }
  sittings(first: 500, orderBy: {field: TAKEN_AT, direction: DESC}) {
    totalCount
    edges { node { id score status test { name } organisation { name } certificate { status } } }
  }
}
"""
RECEIVED = "subscription { notificationReceived { kind title body readAt certificate { status } } }"
EMAIL = "laila@example.com"



async def test_a_test_taker_lists_their_own_sittings_in_every_organisation_and_nobody_elses(sqlite_server):
    # given Laila's sittings at two organisations (one certified), and someone else's at the first
    server = sqlite_server
    platform = server.platform()
    acme = await build_world(platform, sittings=0, credits=2, name="Acme Languages", prefix="a")
    beta = await build_world(platform, sittings=0, credits=0, name="Beta Institute", prefix="b")
    rows = [
        sitting_row(acme.organisation_id, acme.test_id, 0, prefix="a", email=EMAIL, name="ليلى حداد", score=90),
        sitting_row(acme.organisation_id, acme.test_id, 1, prefix="a", score=70),
        sitting_row(beta.organisation_id, beta.test_id, 2, prefix="b", email=EMAIL, name="ليلى حداد", score=65),
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    mine = await Sitting.get(external_id="a-0")
    admin = server.client(server.token(Role.ORG_ADMIN, org=acme.organisation_pk))
    certify = 'mutation($ids: [ID!]!) { certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "k"}) { errors { code } } }'
    assert (await admin.data(certify, {"ids": [to_global_id("Sitting", mine.id)]}))["certifySittings"]["errors"] == []

    # when Laila asks for her sittings
    laila = server.client(server.token(Role.TEST_TAKER, test_taker=mine.test_taker_id))
    data = await laila.data(MINE)

    # then she gets both of hers, newest first, with where, how well and what became of the certificate
    assert data["viewer"] == {"testTaker": {"name": "ليلى حداد"}}
    assert data["sittings"]["totalCount"] == 2
    assert [edge["node"] for edge in data["sittings"]["edges"]] == [
        {
            "id": to_global_id("Sitting", (await Sitting.get(external_id="b-2")).id),
            "score": 65,
            "status": "UNSELECTED",
            "test": {"name": "Beta Institute English"},
            "organisation": {"name": "Beta Institute"},
            "certificate": None,
        },
        {
            "id": to_global_id("Sitting", mine.id),
            "score": 90,
            "status": "IN_PROGRESS",
            "test": {"name": "Acme Languages English"},
            "organisation": {"name": "Acme Languages"},
            "certificate": {"status": "AWAITING_CLAIM"},
        },
    ]


async def test_an_approval_is_told_to_the_test_taker_live_and_in_app_without_an_email(sqlite_server):
    # given a claim under review and its test taker listening
    server = sqlite_server
    _, (candidate,) = await certified_candidates(server, 1)
    await claim_ok(server, candidate)
    async with ws_session(server.ws_url, candidate.client.token) as taker:
        await taker.subscribe("n", RECEIVED)
        await subscribed(server, 1)

        # when a reviewer approves it
        payload = (await reviewer(server).data(APPROVE, {"id": candidate.certificate_id}))["approveCertificate"]
        assert payload["errors"] == []

        # then the test taker hears at once that it is approved and being issued
        assert await taker.data("n") == {
            "notificationReceived": {
                "kind": "CERTIFICATE_APPROVED",
                "title": "Your certificate claim has been approved",
                "body": "Your claim for the Acme Languages English certificate was approved. Your certificate is being "
                "issued: we e-mail you when it is ready to download.",
                "readAt": None,
                "certificate": {"status": "APPROVED"},
            }
        }
    # and it is in their notifications, but no e-mail says it: the issue e-mail follows the render
    kinds = (
        await Notification.filter(test_taker_id=candidate.test_taker_pk).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["CERTIFICATE_READY_TO_CLAIM", "CERTIFICATE_APPROVED"]
    templates = await OutboxEmail.filter(certificate_id=candidate.certificate_pk).values_list("template", flat=True)
    assert templates == ["CERTIFICATE_READY_TO_CLAIM"]
