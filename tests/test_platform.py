"""createTest (resolvers/platform.py): the score scale, the minimum certifiable score and the months of validity,
and the expiry those months give a sitting's certificate (docs/RULES.md, "The certificate's life")."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from builders import CREATE_ORGANISATION, PURCHASE_CREDITS, RECORD_SITTINGS, sitting_row
from certificate_flow import CERTIFY
from support import sitting_gid

from gql.ids import decode_id
from models import AuditEvent, Sitting, Test
from models.enums import Role

TEST_FIELDS = "id name minCertifiableScore scoreMax validityMonths"
CREATE_TEST = f"""
mutation($input: CreateTestInput!) {{
  createTest(input: $input) {{ test {{ {TEST_FIELDS} }} errors {{ code message field }} }}
}}
"""
TEST = f"query($id: ID!) {{ node(id: $id) {{ ... on Test {{ {TEST_FIELDS} }} }} }}"
SITTING = """
query($id: ID!) { node(id: $id) { ... on Sitting { status ineligibilityReason certificate { status expiresAt } } } }
"""


async def create(platform, **fields) -> dict:
    return (await platform.data(CREATE_TEST, {"input": {"name": "Acme English", **fields}}))["createTest"]


def errors_of(payload: dict) -> list[tuple[str, str, list[str]]]:
    return [(e["code"], e["message"], e["field"]) for e in payload["errors"]]


async def assert_refused(platform, fields: dict, expected: tuple[str, str, list[str]]) -> None:
    """createTest with ``fields`` is refused with exactly ``expected``, and no test or audit row is written."""
    tests, audits = await Test.all().count(), await AuditEvent.filter(action="create_test").count()
    payload = await create(platform, **fields)
    assert (payload["test"], errors_of(payload)) == (None, [expected]), fields
    assert (await Test.all().count(), await AuditEvent.filter(action="create_test").count()) == (tests, audits)


async def test_a_minimum_without_a_maximum_is_accepted_and_the_scale_stays_open(server):
    # given a platform admin
    platform = server.platform()

    # when a test is created with a minimum of 300 and no maximum
    payload = await create(platform, minCertifiableScore=300)

    # then it is created without a maximum or a validity, and reads back so
    assert payload["errors"] == []
    created = payload["test"]
    expected = {"name": "Acme English", "minCertifiableScore": 300, "scoreMax": None, "validityMonths": None}
    assert {k: v for k, v in created.items() if k != "id"} == expected
    assert (await platform.data(TEST, {"id": created["id"]}))["node"] == created
    row = await Test.get(id=decode_id(created["id"], "Test"))
    assert (row.min_certifiable_score, row.score_max, row.validity_months) == (300, None, None)

    # and without a maximum the minimum may reach the highest score a scale may have, and no further
    assert (await create(platform, minCertifiableScore=1_000_000))["test"]["scoreMax"] is None
    await assert_refused(
        platform,
        {"minCertifiableScore": 1_000_001},
        (
            "INVALID_INPUT",
            "minCertifiableScore must be 0–1,000,000; received 1,000,001",
            ["input", "minCertifiableScore"],
        ),
    )


async def test_with_a_maximum_the_minimum_is_between_zero_and_it(server):
    # given a platform admin
    platform = server.platform()

    # when the minimum is at either end of the scale, then the test is created
    for minimum in (0, 100):
        payload = await create(platform, minCertifiableScore=minimum, scoreMax=100)
        assert payload["errors"] == []
        assert (payload["test"]["minCertifiableScore"], payload["test"]["scoreMax"]) == (minimum, 100)

    # when the minimum is above the maximum or below zero, or the maximum is off the scale
    refused = [
        (
            {"minCertifiableScore": 101, "scoreMax": 100},
            "minCertifiableScore must be 0–100; received 101",
            "minCertifiableScore",
        ),
        (
            {"minCertifiableScore": -1, "scoreMax": 100},
            "minCertifiableScore must be 0–100; received -1",
            "minCertifiableScore",
        ),
        ({"minCertifiableScore": -1}, "minCertifiableScore must be 0–1,000,000; received -1", "minCertifiableScore"),
        ({"minCertifiableScore": 0, "scoreMax": 0}, "scoreMax must be 1–1,000,000; received 0", "scoreMax"),
        (
            {"minCertifiableScore": 0, "scoreMax": 1_000_001},
            "scoreMax must be 1–1,000,000; received 1,000,001",
            "scoreMax",
        ),
    ]

    # then each is INVALID_INPUT naming the field at fault, and nothing is created
    for fields, message, field in refused:
        await assert_refused(platform, fields, ("INVALID_INPUT", message, ["input", field]))
    assert await Test.all().count() == 2


async def test_a_validity_outside_1_to_1200_months_is_refused_and_nothing_is_created(server):
    # given a platform admin
    platform = server.platform()

    # when the validity is zero, negative, or beyond a hundred years
    for months in (0, -1, -12, 1201, 2**31 - 1):
        # then it is INVALID_INPUT naming validityMonths, and no test is created
        await assert_refused(
            platform,
            {"minCertifiableScore": 60, "scoreMax": 100, "validityMonths": months},
            ("INVALID_INPUT", f"validityMonths must be 1–1,200; received {months:,}", ["input", "validityMonths"]),
        )
    assert await Test.all().count() == 0

    # and a month and a hundred years are both accepted
    for months in (1, 1200):
        payload = await create(platform, minCertifiableScore=60, scoreMax=100, validityMonths=months)
        assert (payload["errors"], payload["test"]["validityMonths"]) == ([], months)


def _last_31_january(now: datetime) -> datetime:
    """The latest 31 January at 10:00 UTC whose February is over."""
    return datetime(now.year if now >= datetime(now.year, 3, 1, tzinfo=UTC) else now.year - 1, 1, 31, 10, tzinfo=UTC)


def _years_to_february(taken_at: datetime, now: datetime, *, leap: bool) -> int:
    """The fewest whole years after ``taken_at`` whose February is still ahead of ``now`` and is (not) a leap one."""
    years = 1
    while datetime(taken_at.year + years, 2, 28, 10, tzinfo=UTC) <= now or (
        calendar.isleap(taken_at.year + years) != leap
    ):
        years += 1
    return years


async def test_validity_ends_the_same_day_months_later_clamped_to_the_months_end(server):
    # given tests valid for 1 month, and for some years and a month ending in a common and in a leap February
    platform = server.platform()
    now = datetime.now(UTC)
    taken_at = _last_31_january(now)
    common, leap = (_years_to_february(taken_at, now, leap=flag) for flag in (False, True))
    org = (await platform.data(CREATE_ORGANISATION, {"name": "Acme Languages"}))["createOrganisation"]
    org_id = org["organisation"]["id"]
    await platform.data(PURCHASE_CREDITS, {"org": org_id, "credits": 2, "ref": "initial"})
    months = [1, 12 * common + 1, 12 * leap + 1]
    tests = [(await create(platform, minCertifiableScore=60, scoreMax=100, validityMonths=m))["test"] for m in months]

    # when a sitting taken on 31 January at 10:00 UTC is recorded for each, and the two still valid are certified
    rows = [sitting_row(org_id, test["id"], n, taken_at=taken_at) for n, test in enumerate(tests)]
    recorded = (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
    assert recorded == {"recordedCount": 3, "unchangedCount": 0, "errors": []}
    sittings = [await Sitting.get(external_id=row["externalId"]) for row in rows]
    admin = server.client(server.token(Role.ORG_ADMIN, org=decode_id(org_id, "Organisation")))
    certified = await admin.data(CERTIFY, {"ids": [sitting_gid(s.id) for s in sittings[1:]], "key": "clamped"})
    assert certified["certifySittings"] == {"certifiedCount": 2, "errors": []}

    # then each expires on the last day of February at 10:00 UTC: the first long ago, so it is INELIGIBLE/EXPIRED
    february_end = taken_at.replace(month=2, day=calendar.monthrange(taken_at.year, 2)[1])
    assert sittings[0].expires_at.astimezone(UTC) == february_end
    first = (await admin.data(SITTING, {"id": sitting_gid(sittings[0].id)}))["node"]
    assert first == {"status": "INELIGIBLE", "ineligibilityReason": "EXPIRED", "certificate": None}
    # and the certificates of the others say when they expire
    expected = [datetime(taken_at.year + years, 2, day, 10, tzinfo=UTC) for years, day in ((common, 28), (leap, 29))]
    for sitting, expiry in zip(sittings[1:], expected, strict=True):
        node = (await admin.data(SITTING, {"id": sitting_gid(sitting.id)}))["node"]
        assert node == {
            "status": "IN_PROGRESS",
            "ineligibilityReason": None,
            "certificate": {"status": "AWAITING_CLAIM", "expiresAt": expiry.isoformat()},
        }
        assert sitting.expires_at.astimezone(UTC) == expiry


JOINED_NAMES = [
    "ශ්\u200dරී ලංකා භාෂා ආයතනය",  # Sinhala: the ZWJ after the virama makes the rakaaraansaya
    "श्रीमती क्\u200dषमा संस्थान",  # Devanagari: a half form
    "موسسه زبان می\u200cخواهم",  # Persian: ZWNJ between joining letters
    "ഭാഷാ കേന്ദ്രം അവന്\u200d",  # Malayalam: a chillu at the end of a word
]


async def test_organisation_test_and_test_taker_names_keep_the_joiners_their_script_needs(server):
    platform = server.platform()
    for n, name in enumerate(JOINED_NAMES):
        # when an organisation, a test and a test taker are named in a script that needs a joiner
        created = await platform.data(CREATE_ORGANISATION, {"name": name})
        assert created["createOrganisation"]["errors"] == []
        organisation = created["createOrganisation"]["organisation"]["id"]
        test = await create(platform, name=name, minCertifiableScore=1)
        assert test["errors"] == [] and test["test"]["name"] == name
        row = sitting_row(organisation, test["test"]["id"], n, name=name, prefix=f"joined{n}")
        recorded = await platform.data(RECORD_SITTINGS, {"rows": [row]})
        assert recorded["recordSittings"]["errors"] == []

    # then each is stored exactly, joiner included
    assert sorted(await Test.all().values_list("name", flat=True)) == sorted(JOINED_NAMES)
    assert sorted(await Sitting.all().values_list("test_taker__name", flat=True)) == sorted(JOINED_NAMES)


async def test_a_joiner_that_only_hides_text_is_refused_in_names_and_named(server):
    platform = server.platform()
    refused = await platform.data(CREATE_ORGANISATION, {"name": "Ac\u200dme"})
    assert refused["createOrganisation"] == {
        "organisation": None,
        "errors": [
            {"code": "INVALID_INPUT", "message": "must not contain the invisible character U+200D ZERO WIDTH JOINER"}
        ],
    }
    await assert_refused(
        platform,
        {"name": "Acme\u200b English", "minCertifiableScore": 1},
        ("INVALID_INPUT", "must not contain the invisible character U+200B ZERO WIDTH SPACE", ["input", "name"]),
    )


LEVELS_TEST = """
mutation($input: CreateTestInput!) {
  createTest(input: $input) { test { id levels { level minScore } } errors { code message field } }
}
"""
SITTING_LEVEL = "query($id: ID!) { node(id: $id) { ... on Sitting { score level } } }"


async def test_a_test_created_with_levels_gives_its_results_their_level(server):
    platform = server.platform()
    levels = [{"level": "B2", "minScore": 60}, {"level": "B1", "minScore": 40}, {"level": "C1", "minScore": 80}]
    created = await platform.data(
        LEVELS_TEST, {"input": {"name": "English", "minCertifiableScore": 40, "scoreMax": 100, "levels": levels}}
    )
    test = created["createTest"]["test"]
    assert test["levels"] == [
        {"level": "B1", "minScore": 40},
        {"level": "B2", "minScore": 60},
        {"level": "C1", "minScore": 80},
    ]
    organisation = (await platform.data(CREATE_ORGANISATION, {"name": "Acme"}))["createOrganisation"]["organisation"]
    rows = [
        sitting_row(organisation["id"], test["id"], n, score=score, prefix="lv") for n, score in enumerate([79, 80, 39])
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    sittings = await Sitting.filter(external_id__startswith="lv-").order_by("external_id").values_list("id", flat=True)
    read = [(await platform.data(SITTING_LEVEL, {"id": sitting_gid(pk)}))["node"] for pk in sittings]
    assert read == [{"score": 79, "level": "B2"}, {"score": 80, "level": "C1"}, {"score": 39, "level": None}]
    plain = await platform.data(LEVELS_TEST, {"input": {"name": "Plain", "minCertifiableScore": 1}})
    assert plain["createTest"]["test"]["levels"] is None


async def test_levels_that_cannot_be_read_one_way_are_refused(server):
    platform = server.platform()
    cases = [
        ([{"level": "B2", "minScore": 60}, {"level": "B2", "minScore": 70}], "the level B2 is given twice"),
        ([{"level": "B1", "minScore": 60}, {"level": "B2", "minScore": 60}], "two levels start at the score 60"),
        ([{"level": "C2", "minScore": 101}], "the minimum score of C2 must be 0–100; received 101"),
        ([{"level": " ", "minScore": 1}], "must be 1–40 characters; received 0 characters"),
        ([{"level": f"L{n}", "minScore": n} for n in range(21)], "give at most 20 levels; received 21"),
    ]
    for levels, message in cases:
        answer = await platform.data(
            LEVELS_TEST, {"input": {"name": "English", "minCertifiableScore": 1, "scoreMax": 100, "levels": levels}}
        )
        assert answer["createTest"] == {
            "test": None,
            "errors": [{"code": "INVALID_INPUT", "message": message, "field": ["input", "levels"]}],
        }
    assert await Test.all().count() == 0
