"""confirmCertification / certifySittings: credits, idempotency, certificates, notifications, outbox, set-based SQL."""

from __future__ import annotations

from builders import PURCHASE_CREDITS, RECORD_SITTINGS, build_world, sitting_row
from support import SqlStatements, admin_of, sitting_nodes, sitting_pk, snapshot

from gql.ids import decode_id
from models import AuditEvent, Certificate, Notification, OutboxEmail, Sitting, Test
from models.enums import Role
from resolvers.wording import score_text

SELECT_SITTINGS = "mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
CONFIRM_CERTIFICATION = """
mutation($key: String!) {
  confirmCertification(input: {idempotencyKey: $key}) {
    certifiedCount creditsSpent creditBalance errors { code message field }
  }
}
"""
CERTIFY_SITTINGS = """
mutation($selection: SittingSelectionInput!, $key: String!) {
  certifySittings(input: {selection: $selection, idempotencyKey: $key}) {
    certifiedCount creditsSpent creditBalance errors { code message field }
  }
}
"""
SITTINGS = """
{
  sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) {
    edges { node { id status certifiedAt testTaker { id email } certificate { id status holderName sitting { id } } } }
  }
}
"""
NOTIFICATIONS = """
{
  notifications {
    totalCount
    edges { node { id kind title body readAt createdAt certificate { id status } } }
  }
}
"""

U, S, P, I = "UNSELECTED", "SELECTED", "IN_PROGRESS", "INELIGIBLE"


async def scene(server, *, credits: int = 10, scores=(80, 80, 80, 80, 80)):
    """An organisation whose sittings have ``scores`` (minimum 60), and its admin."""
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=credits, min_score=60)
    rows = [sitting_row(world.organisation_id, world.test_id, n, score=s) for n, s in enumerate(scores)]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    return world, admin, ids


async def select(admin, ids: list[str]) -> None:
    assert (await admin.data(SELECT_SITTINGS, {"ids": ids}))["selectSittings"]["changedCount"] == len(ids)


async def confirm(admin, key: str) -> dict:
    return (await admin.data(CONFIRM_CERTIFICATION, {"key": key}))["confirmCertification"]


async def certify(admin, selection: dict, key: str) -> dict:
    return (await admin.data(CERTIFY_SITTINGS, {"selection": selection, "key": key}))["certifySittings"]


def ok(count: int, balance: int) -> dict:
    return {"certifiedCount": count, "creditsSpent": count, "creditBalance": balance, "errors": []}


def failed(code: str, field: list[str], balance: int) -> dict:
    """A refused call: nothing certified or spent, and the unchanged ``balance`` reported."""
    return {"certifiedCount": 0, "creditsSpent": 0, "creditBalance": balance, "errors": [(code, field)]}


def compact(payload: dict) -> dict:
    return payload | {"errors": [(e["code"], e["field"]) for e in payload["errors"]]}


async def test_confirm_certifies_every_selected_sitting(server):
    # given five sittings, three of them SELECTED, and 10 credits
    world, admin, ids = await scene(server)
    await select(admin, [ids[0], ids[2], ids[4]])

    # when the admin confirms
    result = await confirm(admin, "k1")

    # then the three are IN_PROGRESS, three credits are spent, the others are untouched
    state = await snapshot(world.organisation_pk)
    assert result == ok(3, 7)
    assert [node["status"] for node in await sitting_nodes(admin)] == [P, U, P, U, P]
    assert state.balance == 7
    assert state.ledger == [("PURCHASE", 10), ("CERTIFICATION", -3)]
    assert (state.certificates, state.notifications, state.outbox) == (3, 3, 3)


async def test_certify_sittings_certifies_exactly_its_selection(server):
    # given five sittings, 0 and 1 SELECTED
    world, admin, ids = await scene(server)
    await select(admin, [ids[0], ids[1]])

    # when the admin certifies sittings 2 (UNSELECTED) and 0 (SELECTED)
    result = await certify(admin, {"ids": [ids[2], ids[0]]}, "k1")

    # then exactly those two are certified; sitting 1 stays SELECTED
    assert result == ok(2, 8)
    assert [node["status"] for node in await sitting_nodes(admin)] == [P, S, P, U, U]


async def test_certify_by_filter_and_all_skip_what_cannot_be_certified(server):
    # given scores 80 40 90 70 85 (40 is INELIGIBLE), sitting 3 already certified
    world, admin, ids = await scene(server, scores=(80, 40, 90, 70, 85))
    assert (await certify(admin, {"ids": [ids[3]]}, "first")) == ok(1, 9)

    # when the admin certifies those scoring 85 or more, then all the rest
    by_filter = await certify(admin, {"filter": {"scoreMin": 85}}, "second")
    after_filter = [node["status"] for node in await sitting_nodes(admin)]
    everything = await certify(admin, {"all": True}, "third")

    # then each certifies only the eligible, not yet certified sittings
    assert by_filter == ok(2, 7)
    assert after_filter == [U, I, P, P, P]
    assert everything == ok(1, 6)
    assert [node["status"] for node in await sitting_nodes(admin)] == [P, I, P, P, P]


async def test_insufficient_credits_changes_nothing(server):
    # given three SELECTED sittings and two credits
    world, admin, ids = await scene(server, credits=2)
    await select(admin, ids[:3])
    before = await snapshot(world.organisation_pk)

    # when the admin confirms, or certifies all
    confirmed = await confirm(admin, "k1")
    certified = await certify(admin, {"all": True}, "k2")

    # then both fail with INSUFFICIENT_CREDITS and nothing changed anywhere
    assert compact(confirmed) == failed("INSUFFICIENT_CREDITS", ["input"], 2)
    assert confirmed["errors"][0]["message"] == "certifying 3 sittings needs 3 credits; the balance is 2 credits"
    assert compact(certified) == failed("INSUFFICIENT_CREDITS", ["input"], 2)
    assert await snapshot(world.organisation_pk) == before
    assert before.statuses == {sitting_pk(i): s for i, s in zip(ids, [S, S, S, U, U], strict=True)}
    assert await AuditEvent.filter(action="certify").count() == 0


async def test_nothing_selected(server):
    # given sittings none of which is SELECTED, one INELIGIBLE
    world, admin, ids = await scene(server, scores=(80, 40))
    before = await snapshot(world.organisation_pk)

    # when the admin confirms, or certifies a filter matching only the ineligible one
    confirmed = await confirm(admin, "k1")
    certified = await certify(admin, {"filter": {"scoreMax": 50}}, "k2")

    # then both are NOTHING_SELECTED and nothing changed
    assert compact(confirmed) == failed("NOTHING_SELECTED", ["input"], 10)
    assert compact(certified) == failed("NOTHING_SELECTED", ["input"], 10)
    assert await snapshot(world.organisation_pk) == before


async def test_bad_ids_fail_the_whole_certification(server):
    # given sittings 80 40 80 80, sitting 3 certified, and another organisation's sitting
    world, admin, ids = await scene(server, scores=(80, 40, 80, 80))
    assert (await certify(admin, {"ids": [ids[3]]}, "first")) == ok(1, 9)
    foreign = await build_world(server.platform(), sittings=1, name="Foreign Org", prefix="foreign")
    foreign_id = (await sitting_nodes(admin_of(server, foreign)))[0]["id"]
    before = await snapshot(world.organisation_pk)

    # when the admin certifies a good sitting with an ineligible, certified, foreign or malformed one
    results = {
        kind: compact(await certify(admin, {"ids": [ids[0], bad]}, f"key-{kind}"))
        for kind, bad in {"ineligible": ids[1], "certified": ids[3], "foreign": foreign_id, "malformed": "x"}.items()
    }

    # then each fails naming index 1, and nothing changed
    assert results == {
        "ineligible": failed("NOT_ELIGIBLE", ["input", "ids", "1"], 9),
        "certified": failed("INVALID_TRANSITION", ["input", "ids", "1"], 9),
        "foreign": failed("NOT_FOUND", ["input", "ids", "1"], 9),
        "malformed": failed("NOT_FOUND", ["input", "ids", "1"], 9),
    }
    assert await snapshot(world.organisation_pk) == before


async def test_an_idempotency_key_replays_the_first_result(server):
    # given two SELECTED sittings, confirmed with key K
    world, admin, ids = await scene(server)
    await select(admin, ids[:2])
    first = await confirm(admin, "K")

    # when two more are selected and the admin confirms again with K
    await select(admin, ids[2:4])
    before = await snapshot(world.organisation_pk)
    replay = await confirm(admin, "K")

    # then the first result comes back and nothing is spent or certified
    assert first == replay == ok(2, 8)
    assert await snapshot(world.organisation_pk) == before
    assert [node["status"] for node in await sitting_nodes(admin)] == [P, P, S, S, U]


async def test_an_idempotency_key_for_a_different_request_is_refused(server):
    # given a certifySittings of sitting 0 with key K
    world, admin, ids = await scene(server)
    assert await certify(admin, {"ids": [ids[0]]}, "K") == ok(1, 9)
    await select(admin, [ids[1]])
    before = await snapshot(world.organisation_pk)

    # when K is used for other sittings, for confirmCertification, and again for the same request
    other_ids = await certify(admin, {"ids": [ids[2]]}, "K")
    other_operation = await confirm(admin, "K")
    same = await certify(admin, {"ids": [ids[0], ids[0]]}, "K")

    # then the different requests are IDEMPOTENCY_KEY_REUSED, the same one is replayed, nothing changed
    assert compact(other_ids) == failed("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"], 9)
    assert compact(other_operation) == failed("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"], 9)
    assert same == ok(1, 9)
    assert await snapshot(world.organisation_pk) == before


async def test_a_failed_call_does_not_consume_its_key(server):
    # given two SELECTED sittings and one credit
    world, admin, ids = await scene(server, credits=1)
    await select(admin, ids[:2])
    refused = await confirm(admin, "K")

    # when credits are bought and the same key is retried
    await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 5, "ref": "top-up"})
    retried = await confirm(admin, "K")

    # then the retry certifies
    assert compact(refused) == failed("INSUFFICIENT_CREDITS", ["input"], 1)
    assert retried == ok(2, 4)


async def test_idempotency_keys_are_scoped_to_the_organisation(server):
    # given two organisations, each with a SELECTED sitting
    first, first_admin, first_ids = await scene(server, scores=(80,))
    platform = server.platform()
    second = await build_world(platform, sittings=1, credits=3, name="Second Org", prefix="second")
    second_admin = admin_of(server, second)
    second_ids = [node["id"] for node in await sitting_nodes(second_admin)]
    await select(first_admin, first_ids)
    await select(second_admin, second_ids)

    # when both confirm with the same key
    one = await confirm(first_admin, "shared")
    two = await confirm(second_admin, "shared")

    # then each certifies its own
    assert one == ok(1, 9)
    assert two == ok(1, 2)


async def test_blank_or_long_idempotency_key_is_invalid(sqlite_server):
    # given a SELECTED sitting
    world, admin, ids = await scene(sqlite_server, scores=(80,))
    await select(admin, ids)

    # when the key is blank or longer than 200 characters
    blank = await confirm(admin, "  ")
    long = await confirm(admin, "k" * 201)

    # then both are INVALID_INPUT
    assert compact(blank) == failed("INVALID_INPUT", ["input", "idempotencyKey"], 10)
    assert compact(long) == failed("INVALID_INPUT", ["input", "idempotencyKey"], 10)


async def test_each_certified_sitting_gets_a_certificate_a_notification_and_an_email(server):
    # given two sittings of different test takers
    world, admin, ids = await scene(server, scores=(80, 90))

    # when both are certified
    assert await certify(admin, {"all": True}, "k") == ok(2, 8)

    # then each has an AWAITING_CLAIM certificate
    nodes = [edge["node"] for edge in (await admin.data(SITTINGS))["sittings"]["edges"]]
    assert [node["certificate"]["status"] for node in nodes] == ["AWAITING_CLAIM", "AWAITING_CLAIM"]
    assert [node["certificate"]["sitting"]["id"] for node in nodes] == ids
    assert [node["certificate"]["holderName"] for node in nodes] == [None, None]
    assert all(node["certifiedAt"].endswith("+00:00") for node in nodes)
    # and each test taker has one CERTIFICATE_READY_TO_CLAIM notification linking it
    for node, score in zip(nodes, (80, 90), strict=True):
        taker = server.client(server.token(Role.TEST_TAKER, test_taker=decode_id(node["testTaker"]["id"], "TestTaker")))
        inbox = (await taker.data(NOTIFICATIONS))["notifications"]
        assert inbox["totalCount"] == 1
        notification = inbox["edges"][0]["node"]
        assert notification["kind"] == "CERTIFICATE_READY_TO_CLAIM"
        assert notification["title"] == "Your certificate is ready to claim"
        assert notification["body"] == (
            f"Your certificate for Acme Languages English (score {score} / 100) is ready. Add your name and photo to claim it."
        )
        assert notification["certificate"] == {"id": node["certificate"]["id"], "status": "AWAITING_CLAIM"}
        assert notification["readAt"] is None
        assert notification["createdAt"].endswith("+00:00")
    # and an e-mail waits in the outbox for each
    emails = await OutboxEmail.all().order_by("id").values("to_address", "template", "certificate_id")
    assert sorted((e["to_address"], e["template"]) for e in emails) == [
        ("candidate0@example.com", "CERTIFICATE_READY_TO_CLAIM"),
        ("candidate1@example.com", "CERTIFICATE_READY_TO_CLAIM"),
    ]
    assert sorted(e["certificate_id"] for e in emails) == sorted(
        decode_id(n["certificate"]["id"], "Certificate") for n in nodes
    )
    # and the certification is audited
    audit = await AuditEvent.get(action="certify")
    assert (audit.actor, audit.detail["sittings"], audit.detail["idempotency_key"]) == ("org_admin:admin", 2, "k")


async def certify_all_counting_statements(server, sittings: int, name: str) -> tuple[int, dict]:
    """Record ``sittings`` sittings through the API (batches of 1,000), certify all; count the statements."""
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=sittings, name=name, prefix=name)
    for start in range(0, sittings, 1000):
        rows = [
            sitting_row(world.organisation_id, world.test_id, n, prefix=name, email=f"{name}{n}@example.com")
            for n in range(start, min(start + 1000, sittings))
        ]
        result = (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
        assert result == {"recordedCount": len(rows), "unchangedCount": 0, "errors": []}
    with SqlStatements() as sql:
        result = await certify(admin_of(server, world), {"all": True}, "bulk")
    return sql.count, result


async def test_certifying_all_is_a_fixed_handful_of_statements(server):
    # given an organisation with 20 sittings and one with 2,000, each with just enough credits
    # when each admin certifies all
    few, few_result = await certify_all_counting_statements(server, 20, "few")
    many, many_result = await certify_all_counting_statements(server, 2000, "many")

    # then both run the same small number of SQL statements, whatever the row count
    assert few_result == ok(20, 0)
    assert many_result == ok(2000, 0)
    assert few == many
    assert many <= 15
    # and all 2,000 got their certificate, notification and e-mail
    assert await Sitting.filter(status=P).count() == 2020
    assert await Certificate.all().count() == 2020
    assert await Notification.all().count() == 2020
    assert await OutboxEmail.all().count() == 2020


async def test_the_ready_notification_writes_a_large_score_as_every_message_does(server):
    # given a sitting on a scale of a million (the API's largest) scoring 999,999
    _world, admin, ids = await scene(server, scores=(80,))
    await Test.all().update(score_max=1_000_000)
    await Sitting.filter(id=sitting_pk(ids[0])).update(score=999_999)

    # when it is certified
    assert (await certify(admin, {"ids": ids}, "big"))["certifiedCount"] == 1

    # then its notification reads the score as the e-mails and the certificate do
    notification = await Notification.get(kind="CERTIFICATE_READY_TO_CLAIM")
    assert f"(score {score_text(999_999, 1_000_000)})" == "(score 999,999 / 1,000,000)"
    assert notification.body == (
        "Your certificate for Acme Languages English (score 999,999 / 1,000,000) is ready. "
        "Add your name and photo to claim it."
    )
