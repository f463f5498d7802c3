"""The CSV export of sittings (resolvers/exports.py, server/exports.py): signed URLs, scope, rows, order and quoting."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from builders import BASE_TIME, CREATE_TEST, RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import certified_candidates, claim_ok, path_of
from defusedcsv import csv as defused_csv
from support import analyst_of, shrink_server_send_buffer, slow_socket

from models import Sitting, TestTaker
from models.enums import Role
from resolvers.csv_fields import GlobalIds
from resolvers.exports import HEADER, ExportRequest
from resolvers.global_ids import MAX_PK, to_global_id
from resolvers.principal import Principal
from resolvers.sittings import SittingOrder
from server.exports import REFUSAL, SittingExports
from server.settings import Settings

EXPORT = """
query($filter: SittingFilter, $orderBy: SittingOrder) {
  exportSittings(filter: $filter, orderBy: $orderBy) { url expiresAt rowCount }
}
"""
SITTINGS = """
query($filter: SittingFilter, $orderBy: SittingOrder, $after: String) {
  sittings(filter: $filter, orderBy: $orderBy, first: 500, after: $after) {
    totalCount
    edges { node {
      id takenAt score status ineligibilityReason photoCheck selectedAt certifiedAt
      organisation { id name } test { id name } testTaker { id name email }
      certificate { status submittedAt issuedAt }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
SITTINGS_PAGE = """
query($orderBy: SittingOrder, $after: String) {
  sittings(orderBy: $orderBy, first: 2, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } }
}
"""
SELECT = "mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"

EXPECTED_HEADER = [
    "sittingId", "externalId", "organisationId", "organisationName", "testId", "testName", "testTakerId",
    "testTakerName", "testTakerEmail", "takenAt", "score", "status", "ineligibilityReason", "photoCheck",
    "selectedAt", "certifiedAt", "certificateStatus", "certificateClaimedAt", "certificateIssuedAt",
]  # fmt: skip
FILENAME = re.compile(r'attachment; filename="sittings-\d{8}T\d{6}Z\.csv"')

REFUSED = {"errors": [{"message": REFUSAL, "extensions": {"code": "FORBIDDEN"}}]}


async def sitting_nodes(client, variables: dict | None = None) -> list[dict]:
    """Every node ``sittings`` gives ``client`` for ``variables``, page after page."""
    nodes, after = [], None
    while True:
        page = (await client.data(SITTINGS, {**(variables or {}), "after": after}))["sittings"]
        nodes.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def expected_row(node: dict, external_id: str) -> list[str]:
    """The CSV row of a ``sittings`` node: the same values, empty cells for nulls (one claim: claimed when submitted)."""
    certificate = node["certificate"] or {}
    values = [
        node["id"], external_id, node["organisation"]["id"], node["organisation"]["name"], node["test"]["id"],
        node["test"]["name"], node["testTaker"]["id"], node["testTaker"]["name"], node["testTaker"]["email"],
        node["takenAt"], str(node["score"]), node["status"], node["ineligibilityReason"], node["photoCheck"],
        node["selectedAt"], node["certifiedAt"], certificate.get("status"), certificate.get("submittedAt"),
        certificate.get("issuedAt"),
    ]  # fmt: skip
    return ["" if value is None else value for value in values]


async def export(client, variables: dict | None = None) -> dict:
    return (await client.data(EXPORT, variables))["exportSittings"]


async def download(server, url: str) -> list[list[str]]:
    """Fetch an export URL without any token; its rows as Python's csv reader reads them (header first)."""
    response = await server.http.get(path_of(url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


async def exported_ids(server, client, variables: dict | None = None) -> list[str]:
    rows = await download(server, (await export(client, variables))["url"])
    assert rows[0] == EXPECTED_HEADER
    return [row[0] for row in rows[1:]]


@contextmanager
def error_logs():
    """ERROR records of the server's loggers (uvicorn's do not propagate to the root logger) while the block runs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error"), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def test_the_file_holds_the_viewers_sittings_as_sittings_shows_them(server):
    # given three certified sittings, one of them claimed, and an unselected one selected by the admin
    world, candidates = await certified_candidates(server, 3)
    await claim_ok(server, candidates[0])
    platform = server.platform()
    late = [
        sitting_row(world.organisation_id, world.test_id, n, prefix="late", score=s) for n, s in ((10, 75), (11, 20))
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": late}))["recordSittings"]["errors"] == []
    analyst = analyst_of(server, world)
    admin = server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk))
    nodes = await sitting_nodes(analyst)
    unselected = next(node["id"] for node in nodes if node["status"] == "UNSELECTED")
    assert (await admin.data(SELECT, {"ids": [unselected]}))["selectSittings"]["changedCount"] == 1
    nodes = await sitting_nodes(analyst)
    external = {candidate.sitting_id: f"ext-{n}" for n, candidate in enumerate(candidates)}

    # when the analyst asks for the export and fetches it without a token
    asked_at = datetime.now(UTC).replace(microsecond=0)
    made = await export(analyst)
    response = await server.http.get(path_of(made["url"]))

    # then the URL is signed for the time to live and the file is a CSV attachment
    ttl = server.settings.signed_url_ttl_seconds
    expires_at = datetime.fromisoformat(made["expiresAt"])
    assert made["url"].startswith(f"{server.settings.public_url}/exports/")
    assert asked_at + timedelta(seconds=ttl) <= expires_at <= asked_at + timedelta(seconds=ttl + 2)
    assert made["rowCount"] == 5
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert FILENAME.fullmatch(response.headers["content-disposition"])
    assert response.headers["cache-control"] == "private, no-store"
    # and it holds a header and one row per sitting, in the order of sittings, with the values sittings gives
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert list(HEADER) == EXPECTED_HEADER
    assert rows[0] == EXPECTED_HEADER
    late_ids = {node["id"]: f"late-{n}" for node, n in zip(nodes[:2], (11, 10), strict=True)}
    assert rows[1:] == [expected_row(node, {**external, **late_ids}[node["id"]]) for node in nodes]
    # and lines end CRLF
    assert response.content.count(b"\r\n") == 6
    statuses = [(row[11], row[12], row[16], bool(row[17])) for row in rows[1:]]
    assert sorted(statuses) == [
        ("INELIGIBLE", "LOW_SCORE", "", False),
        ("IN_PROGRESS", "", "AWAITING_CLAIM", False),
        ("IN_PROGRESS", "", "AWAITING_CLAIM", False),
        ("IN_PROGRESS", "", "UNDER_REVIEW", True),
        ("SELECTED", "", "", False),
    ]


async def test_analysts_and_admins_get_their_organisation_platform_admins_all_and_others_are_forbidden(server):
    # given two organisations
    platform = server.platform()
    ours = await build_world(platform, sittings=3)
    theirs = await build_world(platform, sittings=2, name="Other Org", prefix="other")
    our_ids = [node["id"] for node in await sitting_nodes(analyst_of(server, ours))]
    their_ids = [node["id"] for node in await sitting_nodes(analyst_of(server, theirs))]
    taker = (await TestTaker.filter(email="candidate0@example.com").first()).id

    # when each role asks for the export
    analyst = await exported_ids(server, analyst_of(server, ours))
    admin = await exported_ids(server, server.client(server.token(Role.ORG_ADMIN, org=ours.organisation_pk)))
    everything = await exported_ids(server, platform)
    refused = {
        role: await server.client(token).post(EXPORT)
        for role, token in {
            "test taker": server.token(Role.TEST_TAKER, test_taker=taker),
            "reviewer": server.token(Role.SECURITY_REVIEWER),
        }.items()
    }

    # then the organisation's readers get its rows only, the platform admin every row
    assert analyst == admin == our_ids
    assert sorted(everything) == sorted(our_ids + their_ids)
    # and the others FORBIDDEN, with no URL
    for role, body in refused.items():
        assert (role, body["data"], [e["extensions"]["code"] for e in body["errors"]]) == (role, None, ["FORBIDDEN"])


async def build_ordering_scene(server):
    """Two tests, names, scores and times with many ties, in every status but CERTIFIED; and another organisation."""
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=5)
    other_test = (await platform.data(CREATE_TEST, {"name": "Second test", "min": 50}))["createTest"]["test"]["id"]
    names = ["Ana", "Bea", "Ana", "Cem", "Bea", "Ana", "Dov", "Eve", "Cem", "Ana", "Bea", "Fay"]
    rows = [
        sitting_row(
            world.organisation_id, world.test_id if n % 3 else other_test, n, score=(55, 70, 70, 90)[n % 4],
            photo="FAILED" if n == 7 else "PASSED", taken_at=BASE_TIME + timedelta(hours=n // 4),
            name=names[n], email=f"person{n}@example.com",
        )
        for n in range(len(names))
    ]  # fmt: skip
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    await build_world(platform, sittings=3, credits=0, name="Foreign Org", prefix="foreign")
    admin = server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk))
    eligible = [node["id"] for node in await sitting_nodes(admin) if node["status"] == "UNSELECTED"]
    assert (await admin.data(SELECT, {"ids": eligible[:2]}))["selectSittings"]["changedCount"] == 2
    return world, other_test


async def test_every_filter_and_order_gives_the_rows_of_sittings_in_the_same_order(server):
    # given sittings with ties on every sort key, and an export read three rows per statement
    world, other_test = await build_ordering_scene(server)
    server.state.exports = SittingExports(server.settings, page_size=3)
    analyst = analyst_of(server, world)
    cases = [
        {},
        {"orderBy": {"field": "TAKEN_AT", "direction": "ASC"}},
        {"orderBy": {"field": "SCORE", "direction": "DESC"}},
        {"orderBy": {"field": "SCORE", "direction": "ASC"}},
        {"orderBy": {"field": "TEST_TAKER_NAME", "direction": "ASC"}},
        {"orderBy": {"field": "TEST_TAKER_NAME", "direction": "DESC"}},
        {"filter": {"status": ["UNSELECTED", "SELECTED"]}, "orderBy": {"field": "SCORE", "direction": "ASC"}},
        {"filter": {"testId": other_test, "scoreMin": 60, "scoreMax": 90}},
        {"filter": {"search": "ANA"}, "orderBy": {"field": "TEST_TAKER_NAME", "direction": "DESC"}},
        {"filter": {"takenAfter": (BASE_TIME + timedelta(hours=1)).isoformat(), "takenBefore": "2026-10-01T11:00:00Z"}},
        {"filter": {"status": ["CERTIFIED"]}},
    ]

    for variables in cases:
        # when the same filter and order go to sittings and to the export
        listed = [node["id"] for node in await sitting_nodes(analyst, variables)]
        made = await export(analyst, variables)
        exported = [row[0] for row in (await download(server, made["url"]))[1:]]

        # then the export holds the same rows in the same order, and counted them
        assert (variables, exported) == (variables, listed)
        assert (variables, made["rowCount"]) == (variables, len(listed))
    assert len(await sitting_nodes(analyst)) == 12


async def test_a_bad_filter_is_bad_user_input_and_gives_no_url(server):
    # given an analyst
    world = await build_world(server.platform(), sittings=1)
    analyst = analyst_of(server, world)

    # when the filter is one sittings refuses
    bad = [
        {"status": []},
        {"scoreMin": 80, "scoreMax": 10},
        {"takenAfter": "2026-10-02T00:00:00Z", "takenBefore": "2026-10-01T00:00:00Z"},
        {"testId": world.organisation_id},
        {"search": "x" * 201},
    ]
    for spec in bad:
        body = await analyst.post(EXPORT, {"filter": spec})

        # then BAD_USER_INPUT and no URL
        assert (spec, body["data"], [e["extensions"]["code"] for e in body["errors"]]) == (
            spec, None, ["BAD_USER_INPUT"],
        )  # fmt: skip


async def test_cells_a_spreadsheet_would_run_are_neutralised_and_any_text_round_trips(server):
    # given test takers whose names start like formulas, hold commas, quotes or line breaks, or are in other scripts
    platform = server.platform()
    world = await build_world(platform, sittings=0, name='Acme, "Lingua" & Co')
    names = [
        '=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "-1+1", "Smith, John", 'Jo "JJ" Jones',
        "محمد عبد الله", "王小明", "Zoë 🎓👩🏽‍🎓", "Line one\nLine two", "\tTabbed", "\rReturned",
    ]  # fmt: skip
    rows = [
        sitting_row(
            world.organisation_id, world.test_id, n, name=f"placeholder {n}", taken_at=BASE_TIME + timedelta(minutes=n)
        )
        for n in range(len(names))
    ]
    rows[0]["externalId"] = "=1+1"
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    # the API refuses control characters in names: these rows stand for data written before it did
    for n, name in enumerate(names):
        await TestTaker.filter(email=f"candidate{n}@example.com").update(name=name)

    # when the file is fetched, oldest first
    made = await export(analyst_of(server, world), {"orderBy": {"field": "TAKEN_AT", "direction": "ASC"}})
    response = await server.http.get(path_of(made["url"]))
    parsed = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))

    # then cells starting with = + - @ tab or CR carry a leading quote; the rest come back as they were
    assert [row[7] for row in parsed[1:]] == [
        '\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "'-1+1", "Smith, John", 'Jo "JJ" Jones',
        "محمد عبد الله", "王小明", "Zoë 🎓👩🏽‍🎓", "Line one\nLine two", "'\tTabbed", "'\rReturned",
    ]  # fmt: skip
    assert parsed[1][1] == "'=1+1"
    assert {row[3] for row in parsed[1:]} == {'Acme, "Lingua" & Co'}
    # and quoting is RFC 4180's: fields with a comma, quote or line break quoted, quotes doubled
    text = response.content.decode("utf-8")
    assert '"\'=HYPERLINK(""http://x"")"' in text
    assert '"Acme, ""Lingua"" & Co"' in text
    assert '"Line one\nLine two"' in text
    assert len(parsed) == len(names) + 1


async def test_a_tampered_url_gets_403(server):
    # given an export URL
    world = await build_world(server.platform(), sittings=2)
    url = path_of((await export(analyst_of(server, world)))["url"])
    token = url.rsplit("/", 1)[1]
    payload, timestamp, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    # when the token is altered in any part, or made up
    tampered = [
        f"{payload}.{timestamp}.{flipped}",
        f"{payload}x.{timestamp}.{signature}",
        f"{payload}.{timestamp}",
        "x",
    ]

    # then 403 with the message as a GraphQL error each time, and the genuine URL still works
    for bad in tampered:
        response = await server.http.get(f"/exports/{bad}")
        assert (bad, response.status_code, response.json()) == (bad, 403, REFUSED)
        assert response.headers["content-type"] == "application/json"
    assert (await server.http.get(url)).status_code == 200


async def test_an_expired_url_or_one_signed_with_another_secret_or_for_a_refused_role_gets_403(server):
    # given URLs of an analyst's export signed by the server's key, one dated beyond the time to live
    world = await build_world(server.platform(), sittings=2)
    request = ExportRequest(
        Principal("analyst", Role.ANALYST, organisation_id=world.organisation_pk), None, SittingOrder()
    )
    ttl = server.settings.signed_url_ttl_seconds
    expired, _ = SittingExports(server.settings, clock=lambda: time.time() - ttl - 5).url_for(request)
    fresh, _ = SittingExports(server.settings, clock=lambda: time.time() - ttl + 5).url_for(request)
    other = Settings(data_dir=server.settings.data_dir, jwt_secret="another-secret-0123456789abcdef0123456789")
    forged, _ = SittingExports(other).url_for(request)
    taker = ExportRequest(Principal("taker", Role.TEST_TAKER, test_taker_id=1), None, SittingOrder())
    refused_role, _ = SittingExports(server.settings).url_for(taker)

    # when they are followed
    answers = {name: await server.http.get(path_of(url)) for name, url in
               {"expired": expired, "fresh": fresh, "forged": forged, "refused role": refused_role}.items()}  # fmt: skip

    # then only the one still inside its time to live is served
    assert {name: (r.status_code, r.json() if r.status_code == 403 else "") for name, r in answers.items()} == {
        "expired": (403, REFUSED),
        "fresh": (200, ""),
        "forged": (403, REFUSED),
        "refused role": (403, REFUSED),
    }
    assert len(list(csv.reader(io.StringIO(answers["fresh"].text, newline="")))) == 3


async def record_many(server, world, count: int, *, prefix: str) -> None:
    """``count`` sittings, ten per minute and scores in seven values: ties on every sort key."""
    platform = server.platform()
    for start in range(0, count, 1000):
        rows = [
            sitting_row(world.organisation_id, world.test_id, n, prefix=prefix, score=60 + n % 7,
                        taken_at=BASE_TIME + timedelta(minutes=n // 10), name=f"Candidate {n % 50}")
            for n in range(start, min(start + 1000, count))
        ]  # fmt: skip
        assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []


async def test_an_export_of_many_pages_has_every_row_once_in_order(server):
    # given 2,500 sittings (more than one page of 2,000), with ties on every sort key
    world = await build_world(server.platform(), sittings=0)
    await record_many(server, world, 2_500, prefix="many")
    analyst = analyst_of(server, world)
    by_score = {"orderBy": {"field": "SCORE", "direction": "ASC"}}
    listed = [node["id"] for node in await sitting_nodes(analyst)]
    listed_by_score = [node["id"] for node in await sitting_nodes(analyst, by_score)]

    # when it is exported with the default page size, and by score with pages of 7 rows
    default = await exported_ids(server, analyst)
    server.state.exports = SittingExports(server.settings, page_size=7)
    small = await exported_ids(server, analyst, by_score)

    # then each holds every sitting once, in the order of sittings
    assert len(listed) == len(set(listed)) == 2_500
    assert default == listed
    assert small == listed_by_score
    assert sorted(small) == sorted(listed)


TEXT_COLUMNS = (1, 3, 5, 7, 8)  # externalId, organisationName, testName, testTakerName, testTakerEmail
LEFT_BY_DEFUSEDCSV = re.compile(r"[\t\r]|-[0-9,.]+$")  # what OWASP lists and defusedcsv 3 leaves


def written_by_csv_and_defusedcsv(rows: list[list[str]]) -> bytes:
    """The file of ``rows`` as Python's csv writer writes it (CRLF), a row whose free text starts otherwise than with
    a letter or a digit through defusedcsv's writer, with a ``'`` before the free text defusedcsv leaves but OWASP lists."""
    buffer = io.StringIO()
    plain = csv.writer(buffer, lineterminator="\r\n")
    defused = defused_csv.writer(buffer, lineterminator="\r\n")
    plain.writerow(EXPECTED_HEADER)
    for row in rows:
        suspect = any(row[i] and not row[i][0].isalnum() for i in TEXT_COLUMNS)
        cells = ["'" + v if i in TEXT_COLUMNS and LEFT_BY_DEFUSEDCSV.match(v) else v for i, v in enumerate(row)]
        (defused if suspect else plain).writerow(cells)
    return buffer.getvalue().encode()


async def test_the_file_is_byte_for_byte_what_the_csv_module_and_defusedcsv_write(server):
    # given free text to quote, to defuse, both or neither, in every text column, and two tests, one named like a formula
    platform = server.platform()
    world = await build_world(platform, sittings=0, name='Acme, "Lingua" | Co')
    formula_test = (await platform.data(CREATE_TEST, {"name": '@Spoken, "B2"', "min": 50}))["createTest"]["test"]["id"]
    names = [
        "Ana", "=cmd|' /C calc'!A0", "a|b", "|pipe|", "%x", "-", "-1,5", "-2\n", "- 2", "+", "@x|y", "\t=x|y", "\r\n",
        '"quoted"', "x,y", " =x", "'=x", "_x", "(x)", "١٢٣", "Zoë 🎓", "", "Line one\nLine two", "=1+1,\"2\"",
        "Smith, John", "Jones, Ann", "Brown", "Green",  # pages of four whose one special character is a comma,
        'Jo "JJ" Jones', "Plain", "Names", "Here",  # a quote,
        "Line\nbreak", "Plain", "Names", "Here",  # a line feed,
        "Carriage\rreturn", "Plain", "Names", "Here",  # a carriage return,
        "=first", "Only", "The", "First",  # or a formula in the first row only
    ]  # fmt: skip
    externals = ["plain-{}", "=1|{}", "-{}", "a,{}", "\t{}"]
    emails = ["person{}@example.com", "+{}@example.com", "a,b{}@example.com"]
    rows = [
        sitting_row(world.organisation_id, formula_test if n % 3 == 0 else world.test_id, n, taken_at=BASE_TIME + timedelta(minutes=n))
        for n in range(len(names))
    ]  # fmt: skip
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    # the API refuses control characters: these rows stand for data written before it did
    for n, name in enumerate(names):
        await TestTaker.filter(email=f"candidate{n}@example.com").update(name=name, email=emails[n % 3].format(n))
        await Sitting.filter(external_id=f"ext-{n}").update(external_id=externals[n % 5].format(n))
    external_ids = {
        to_global_id("Sitting", pk): ext for pk, ext in await Sitting.all().values_list("id", "external_id")
    }
    analyst = analyst_of(server, world)
    oldest_first = {"orderBy": {"field": "TAKEN_AT", "direction": "ASC"}}
    nodes = await sitting_nodes(analyst, oldest_first)

    # when the file is fetched oldest first, read four rows per statement
    server.state.exports = SittingExports(server.settings, page_size=4)
    response = await server.http.get(path_of((await export(analyst, oldest_first))["url"]))

    # then its bytes are those the csv module and defusedcsv write of the values sittings gives
    assert response.status_code == 200
    assert len(nodes) == len(names)
    assert response.content == written_by_csv_and_defusedcsv(
        [expected_row(node, external_ids[node["id"]]) for node in nodes]
    )


def test_global_ids_in_the_file_are_those_of_the_api():
    # given every ID type of the file and one of each prefix length modulo three, and keys of every digit count
    types = ["Sitting", "Organisation", "Test", "TestTaker", "A", "AB", "ABC"]
    keys = [*range(1, 2_000), *(10**n + d for n in range(3, 10) for d in (-1, 0, 1)), MAX_PK - 1, MAX_PK]
    columns = [(7,), tuple(range(1, 10)), tuple(range(98_000, 96_000, -1)), tuple(range(995, 1_005)), (MAX_PK, 10**9)]

    for type_name in types:
        # when each key is written once through encode and twice through the memo, and columns of keys at once
        global_ids = GlobalIds(type_name)
        written = [(global_ids.encode(pk), global_ids[pk], global_ids[pk]) for pk in keys]
        written_columns = [list(global_ids.encode_all(column)) for column in columns]

        # then each is the API's global ID
        assert written == [(to_global_id(type_name, pk),) * 3 for pk in keys]
        assert written_columns == [[to_global_id(type_name, pk) for pk in column] for column in columns]


async def test_a_connection_and_the_export_page_alike_through_ties(server):
    # given sittings with ties on every sort key
    world, _ = await build_ordering_scene(server)
    analyst = analyst_of(server, world)
    server.state.exports = SittingExports(server.settings, page_size=2)
    orders = [
        {"field": field, "direction": direction}
        for field in ("TAKEN_AT", "SCORE", "TEST_TAKER_NAME") for direction in ("ASC", "DESC")
    ]  # fmt: skip

    for order in orders:
        # when sittings is read two at a time through its cursors, and the export two rows per statement
        paged, after = [], None
        while True:
            page = (await analyst.data(SITTINGS_PAGE, {"orderBy": order, "after": after}))["sittings"]
            paged.extend(edge["node"]["id"] for edge in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        exported = await exported_ids(server, analyst, {"orderBy": order})

        # then both hold every sitting once, in the same order
        assert (order, exported) == (order, paged)
        assert len(set(paged)) == len(paged) == 12


class ExportReads(logging.Handler):
    """Counts the statements reading a page of sittings (``SELECT … FROM "sitting" … LIMIT``) while installed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self._logger = logging.getLogger("tortoise.db_client")
        self._level = self._logger.level

    def __enter__(self) -> ExportReads:
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)

    def emit(self, record: logging.LogRecord) -> None:
        sql = str(record.args[0]) if record.args else str(record.msg)
        self.count += sql.startswith("SELECT") and 'FROM "sitting"' in sql and "LIMIT" in sql


async def test_a_client_that_leaves_mid_stream_stops_the_export(server):
    # given 2,000 sittings exported 20 rows per statement (100 statements), and a client whose buffers fill fast
    world = await build_world(server.platform(), sittings=0)
    await record_many(server, world, 2_000, prefix="leave")
    url = path_of((await export(analyst_of(server, world)))["url"])
    server.state.exports = SittingExports(server.settings, page_size=20)

    with ExportReads() as reads, error_logs() as errors:
        # when the client asks for the file, reads a little and leaves
        sock = slow_socket(server.port)
        await asyncio.sleep(0.1)
        shrink_server_send_buffer(server, sock.getsockname()[1])
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await asyncio.sleep(0.5)
        first = sock.recv(4096)
        read_while_connected = reads.count
        sock.close()
        await asyncio.sleep(0.5)
        after_leaving = reads.count
        await asyncio.sleep(0.5)
        later = reads.count

    # then the file had started, the reads stopped long before the 100 pages, and nothing was logged as an error
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert 0 < read_while_connected < 50
    assert after_leaving <= read_while_connected + 1
    assert later == after_leaving
    assert errors == []
    # and the server goes on serving exports
    assert len(await exported_ids(server, analyst_of(server, world))) == 2_000
