"""recordSittings: upsert by externalId, eligibility, all-or-nothing batches, frozen facts, test takers."""

from __future__ import annotations

from builders import RECORD_SITTINGS, build_world, sitting_row
from support import admin_of, sitting_nodes

from models import Sitting, TestTaker

SITTINGS = """
{
  sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) {
    totalCount
    edges { node { id score photoCheck status ineligibilityReason selectedAt takenAt testTaker { id name email } } }
  }
}
"""
SELECT_SITTINGS = "mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
CERTIFY_SITTINGS = """
mutation($ids: [ID!]) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "recording"}) { certifiedCount errors { code } }
}
"""


async def record(platform, rows: list[dict]) -> dict:
    return (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]


def facts(node: dict) -> tuple:
    return node["score"], node["photoCheck"], node["status"], node["ineligibilityReason"]


async def test_recording_again_with_identical_facts_is_unchanged(server):
    # given three recorded sittings
    platform = server.platform()
    world = await build_world(platform, sittings=0)
    rows = [sitting_row(world.organisation_id, world.test_id, n) for n in range(3)]
    first = await record(platform, rows)

    # when the platform records the same batch again
    again = await record(platform, rows)

    # then the first call recorded three and the second changed nothing
    assert first == {"recordedCount": 3, "unchangedCount": 0, "errors": []}
    assert again == {"recordedCount": 0, "unchangedCount": 3, "errors": []}
    assert await Sitting.all().count() == 3


async def test_eligibility_is_decided_on_recording(server):
    # given a test whose minimum is 60
    platform = server.platform()
    world = await build_world(platform, sittings=0, min_score=60)
    cases = [(59, "PASSED"), (60, "PASSED"), (85, "FAILED"), (10, "FAILED"), (100, "PASSED"), (0, "PASSED")]

    # when the platform records a sitting per case
    rows = [sitting_row(world.organisation_id, world.test_id, n, score=s, photo=p) for n, (s, p) in enumerate(cases)]
    result = await record(platform, rows)

    # then a low score is LOW_SCORE, a failed photo PHOTO_PROBLEM, both LOW_SCORE, the minimum certifiable
    nodes = (await admin_of(server, world).data(SITTINGS))["sittings"]["edges"]
    assert result == {"recordedCount": 6, "unchangedCount": 0, "errors": []}
    assert [facts(edge["node"]) for edge in nodes] == [
        (59, "PASSED", "INELIGIBLE", "LOW_SCORE"),
        (60, "PASSED", "UNSELECTED", None),
        (85, "FAILED", "INELIGIBLE", "PHOTO_PROBLEM"),
        (10, "FAILED", "INELIGIBLE", "LOW_SCORE"),
        (100, "PASSED", "UNSELECTED", None),
        (0, "PASSED", "INELIGIBLE", "LOW_SCORE"),
    ]


BAD_ROWS = [
    ({"score": 101}, "INVALID_INPUT", "score"),
    ({"score": -1}, "INVALID_INPUT", "score"),
    ({"testId": "VGVzdDo5OTk"}, "NOT_FOUND", "testId"),
    ({"testId": "garbage"}, "NOT_FOUND", "testId"),
    ({"organisationId": "T3JnYW5pc2F0aW9uOjk5OQ"}, "NOT_FOUND", "organisationId"),
    ({"testTakerEmail": "not-an-email"}, "INVALID_INPUT", "testTakerEmail"),
    ({"testTakerName": "   "}, "INVALID_INPUT", "testTakerName"),
    ({"externalId": ""}, "INVALID_INPUT", "externalId"),
    ({"takenAt": "2099-01-01T00:00:00+00:00"}, "INVALID_INPUT", "takenAt"),
    ({"externalId": "ext-0"}, "INVALID_INPUT", "externalId"),
]


async def test_one_bad_row_fails_the_whole_batch(server):
    # given an organisation with no sittings
    platform = server.platform()
    world = await build_world(platform, sittings=0)

    # when the platform records five rows of which row 3 is bad, for each kind of bad row
    results = []
    for change, _, _ in BAD_ROWS:
        rows = [sitting_row(world.organisation_id, world.test_id, n) for n in range(5)]
        rows[3] |= change
        result = await record(platform, rows)
        results.append((result["recordedCount"], [(e["code"], e["field"]) for e in result["errors"]]))

    # then the error names row 3 and its field, and nothing at all was recorded
    assert results == [(0, [(code, ["sittings", "3", field])]) for _, code, field in BAD_ROWS]
    assert await Sitting.all().count() == 0
    assert await TestTaker.all().count() == 0


async def test_batch_size_is_1_to_1000(sqlite_server):
    # given an organisation
    platform = sqlite_server.platform()
    world = await build_world(platform, sittings=0)

    # when the platform records no row, or 1001 rows
    empty = await record(platform, [])
    too_many = await record(platform, [sitting_row(world.organisation_id, world.test_id, n) for n in range(1001)])

    # then both are refused and nothing is recorded
    assert empty["errors"] == [
        {
            "code": "INVALID_INPUT",
            "message": "give 1–1,000 sittings per call; received 0 sittings",
            "field": ["sittings"],
        }
    ]
    assert too_many["errors"] == [
        {
            "code": "INVALID_INPUT",
            "message": "give 1–1,000 sittings per call; received 1,001 sittings",
            "field": ["sittings"],
        }
    ]
    assert await Sitting.all().count() == 0


async def test_changed_score_decides_eligibility_again(server):
    # given UNSELECTED, SELECTED, INELIGIBLE and SELECTED-but-staying-eligible sittings (minimum 60)
    platform = server.platform()
    world = await build_world(platform, sittings=0, min_score=60)
    rows = [sitting_row(world.organisation_id, world.test_id, n, score=s) for n, s in enumerate([80, 80, 40, 80])]
    await record(platform, rows)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    assert (await admin.data(SELECT_SITTINGS, {"ids": [ids[1], ids[3]]}))["selectSittings"]["changedCount"] == 2

    # when the platform re-records them with new scores
    for row, score in zip(rows, [50, 55, 75, 90], strict=True):
        row["score"] = score
    result = await record(platform, rows)

    # then each status is decided again; the SELECTED one that became ineligible is unselected
    nodes = [edge["node"] for edge in (await admin.data(SITTINGS))["sittings"]["edges"]]
    assert result == {"recordedCount": 4, "unchangedCount": 0, "errors": []}
    assert [facts(node) for node in nodes] == [
        (50, "PASSED", "INELIGIBLE", "LOW_SCORE"),
        (55, "PASSED", "INELIGIBLE", "LOW_SCORE"),
        (75, "PASSED", "UNSELECTED", None),
        (90, "PASSED", "SELECTED", None),
    ]
    assert [node["selectedAt"] is not None for node in nodes] == [False, False, False, True]


async def test_changed_photo_check_decides_eligibility_again(server):
    # given an eligible sitting
    platform = server.platform()
    world = await build_world(platform, sittings=0)
    row = sitting_row(world.organisation_id, world.test_id, 0)
    await record(platform, [row])
    admin = admin_of(server, world)

    # when its photo check fails, then passes again
    failed = await record(platform, [row | {"photoCheck": "FAILED"}])
    after_failure = (await admin.data(SITTINGS))["sittings"]["edges"][0]["node"]
    passed = await record(platform, [row])
    after_pass = (await admin.data(SITTINGS))["sittings"]["edges"][0]["node"]

    # then it goes INELIGIBLE (PHOTO_PROBLEM) and back to UNSELECTED
    assert failed["recordedCount"] == passed["recordedCount"] == 1
    assert facts(after_failure) == (80, "FAILED", "INELIGIBLE", "PHOTO_PROBLEM")
    assert facts(after_pass) == (80, "PASSED", "UNSELECTED", None)


async def test_facts_of_a_certified_sitting_are_frozen(server):
    # given a sitting certified (IN_PROGRESS) and another one eligible
    platform = server.platform()
    world = await build_world(platform, sittings=0)
    rows = [sitting_row(world.organisation_id, world.test_id, n) for n in range(2)]
    await record(platform, rows)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    assert (await admin.data(CERTIFY_SITTINGS, {"ids": [ids[0]]}))["certifySittings"]["certifiedCount"] == 1

    # when the platform re-records the certified one with identical facts, then with a new score or photo check
    identical = await record(platform, rows)
    new_score = await record(platform, [rows[1] | {"score": 90}, rows[0] | {"score": 70}])
    new_photo = await record(platform, [rows[0] | {"photoCheck": "FAILED"}])

    # then identical facts are unchanged, and a change is INVALID_TRANSITION naming the row; nothing changed
    nodes = [edge["node"] for edge in (await admin.data(SITTINGS))["sittings"]["edges"]]
    assert identical == {"recordedCount": 0, "unchangedCount": 2, "errors": []}
    assert [(e["code"], e["field"]) for e in new_score["errors"]] == [
        ("INVALID_TRANSITION", ["sittings", "1", "score"])
    ]
    assert [(e["code"], e["field"]) for e in new_photo["errors"]] == [
        ("INVALID_TRANSITION", ["sittings", "0", "photoCheck"])
    ]
    assert [facts(node) for node in nodes] == [(80, "PASSED", "IN_PROGRESS", None), (80, "PASSED", "UNSELECTED", None)]


async def test_taken_at_without_offset_is_bad_user_input(sqlite_server):
    # given an organisation
    platform = sqlite_server.platform()
    world = await build_world(platform, sittings=0)

    # when the platform records a sitting whose takenAt has no offset
    row = sitting_row(world.organisation_id, world.test_id, 0) | {"takenAt": "2026-10-01T09:00:00"}
    body = await platform.post(RECORD_SITTINGS, {"rows": [row]})

    # then it is a BAD_USER_INPUT GraphQL error and nothing is recorded
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert await Sitting.all().count() == 0


async def test_taken_at_is_stored_and_returned_in_utc(sqlite_server):
    # given a sitting taken at 14:30 in India (+05:30)
    platform = sqlite_server.platform()
    world = await build_world(platform, sittings=0)
    row = sitting_row(world.organisation_id, world.test_id, 0) | {"takenAt": "2026-10-01T14:30:00+05:30"}
    await record(platform, [row])

    # when it is read back, and recorded again with the same instant in UTC
    node = (await admin_of(sqlite_server, world).data(SITTINGS))["sittings"]["edges"][0]["node"]
    again = await record(platform, [row | {"takenAt": "2026-10-01T09:00:00Z"}])

    # then it is the same instant, returned with +00:00, and the re-recording is unchanged
    assert node["takenAt"] == "2026-10-01T09:00:00+00:00"
    assert again == {"recordedCount": 0, "unchangedCount": 1, "errors": []}


async def test_one_test_taker_per_email_across_organisations(server):
    # given two organisations
    platform = server.platform()
    first = await build_world(platform, sittings=0)
    second = await build_world(platform, sittings=0, name="Second Org", prefix="second")

    # when the platform records sittings for the same address in different cases, in both organisations
    await record(
        platform, [sitting_row(first.organisation_id, first.test_id, 0, email="Sam.Lee@Example.com", name="Sam Lee")]
    )
    await record(
        platform,
        [
            sitting_row(second.organisation_id, second.test_id, 1, email="sam.lee@EXAMPLE.COM", name="Samuel Lee"),
            sitting_row(second.organisation_id, second.test_id, 2, email="SAM.LEE@example.com", name="S. Lee"),
        ],
    )

    # then all three sittings belong to one test taker, as first registered
    edges = (await platform.data(SITTINGS))["sittings"]["edges"]
    takers = [edge["node"]["testTaker"] for edge in edges]
    assert len({taker["id"] for taker in takers}) == 1
    assert takers[0]["name"] == "Sam Lee"
    assert takers[0]["email"] == "Sam.Lee@example.com"
    assert await TestTaker.all().count() == 1


async def test_names_are_nfc_normalised(sqlite_server):
    # given an organisation
    platform = sqlite_server.platform()
    world = await build_world(platform, sittings=0)

    # when the platform records a decomposed name (e + combining diaeresis)
    await record(platform, [sitting_row(world.organisation_id, world.test_id, 0, name="Zoe\u0308  Quinn")])

    # then it is stored and returned composed, with one space
    node = (await admin_of(sqlite_server, world).data(SITTINGS))["sittings"]["edges"][0]["node"]
    assert node["testTaker"]["name"] == "Zo\u00eb Quinn"
    assert (await TestTaker.get()).name == "Zoë Quinn"


async def test_an_external_id_cannot_move_to_another_organisation(sqlite_server):
    # given a sitting of organisation A and organisation B
    platform = sqlite_server.platform()
    first = await build_world(platform, sittings=1)
    second = await build_world(platform, sittings=0, name="Second Org", prefix="second")

    # when the platform records the same externalId for B
    result = await record(platform, [sitting_row(second.organisation_id, second.test_id, 0)])

    # then the row is refused and the sitting stays with A
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", ["sittings", "0", "externalId"])]
    assert await Sitting.filter(organisation_id=first.organisation_pk).count() == 1
