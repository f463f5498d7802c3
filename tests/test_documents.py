"""Document limits and shared parsed documents: the same answers and error codes, one tree per text."""

from __future__ import annotations

from builders import build_world
from support import admin_of
from ws_client import ws_session

from models.enums import Role
from server.documents import MAX_CACHED_CHARS, shared_document
from server.tiers import ANONYMOUS, AUTHENTICATED, check_variables

VIEWER = "{ viewer { subject } }"
BROKEN = "{ sittings { "


def test_one_parsed_document_per_text():
    # when the same text is parsed twice, and texts that cannot or should not be cached
    first, second = shared_document(VIEWER), shared_document(VIEWER)
    long_text = "{ viewer { subject } }" + " " * MAX_CACHED_CHARS

    # then both get the same tree; broken, empty and long texts are left to strawberry's parser
    assert first is not None and first is second
    assert shared_document(BROKEN) is None
    assert shared_document("") is None and shared_document(None) is None
    assert shared_document(long_text) is None


async def test_repeated_documents_keep_their_answers_and_error_codes(sqlite_server):
    # given a client
    client = sqlite_server.client(sqlite_server.token(Role.PLATFORM_ADMIN, subject="root"))

    # when a document and a broken one are each sent twice
    answers = [await client.post(VIEWER) for _ in range(2)]
    broken = [await client.post(BROKEN) for _ in range(2)]

    # then the answers are equal and the broken one fails to parse both times
    cost = {"cost": {"requested": 1, "limit": 50_000}}
    assert answers[0] == answers[1] == {"data": {"viewer": {"subject": "root"}}, "extensions": cost}
    for body in broken:
        assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_PARSE_FAILED"]


async def test_documents_over_the_token_limit_are_refused(sqlite_server):
    # given an admin
    admin = admin_of(sqlite_server, await build_world(sqlite_server.platform(), sittings=0, credits=0))

    # when a document of 5,002 tokens and one of exactly 5,000 are sent
    too_long = await admin.post("{ " + "viewer { subject } " * 1250 + "}")
    at_limit = await admin.post("{ sittings(filter: {status: [" + "CERTIFIED " * 4984 + "]}) { totalCount } }")

    # then the first is refused before running, the second runs
    assert [(e["message"], e["extensions"]["code"]) for e in too_long["errors"]] == [
        ("Syntax Error: Document contains more than 5000 tokens. Parsing aborted.", "GRAPHQL_PARSE_FAILED")
    ]
    assert at_limit == {
        "data": {"sittings": {"totalCount": 0}},
        "extensions": {"cost": {"requested": 51, "limit": 50_000}},
    }


def test_variables_count_every_list_item_and_object_member_up_to_the_tier_limit():
    at_limit = {"ids": ["x"] * (AUTHENTICATED.max_variable_values - 1)}  # the key counts too
    rows = {"input": {"sittings": [{"a": 1, "b": [2, 3]}] * 3_999}}  # 1 + 1 + 3,999 × (1 + 2 + 2) = 19,997 values

    assert check_variables(at_limit, AUTHENTICATED) is None
    assert check_variables({"ids": ["x"] * AUTHENTICATED.max_variable_values}, AUTHENTICATED).extensions == {
        "code": "BAD_USER_INPUT"
    }
    assert check_variables(rows, AUTHENTICATED) is None
    assert check_variables({**rows, "more": [0]}, AUTHENTICATED) is None  # 19,999
    assert check_variables({**rows, "more": [0, 1, 2]}, AUTHENTICATED) is not None  # 20,001
    assert check_variables({"input": {"sittings": [{"a": 1, "b": [2, 3]}] * 4_001}}, AUTHENTICATED) is not None
    assert check_variables(None, ANONYMOUS) is None and check_variables({}, ANONYMOUS) is None
    assert check_variables({"code": "x" * 1_000_000}, ANONYMOUS) is None
    assert check_variables({"codes": ["x"] * 100}, ANONYMOUS) is not None


async def test_documents_over_the_character_limit_are_not_parsed_over_http_and_websockets(sqlite_server):
    # given an admin, and an anonymous caller
    world = await build_world(sqlite_server.platform(), sittings=0, credits=0)
    token = sqlite_server.token(Role.ORG_ADMIN, org=world.organisation_pk)
    admin, anonymous = sqlite_server.client(token), sqlite_server.client(None)
    comment = "#" + "x" * 100_000 + "\n"

    # when documents one character over each tier's limit are sent, and one at the limit
    over = await admin.post(comment + "{ viewer { role } }")
    at_limit = await admin.post("#" + "x" * (100_000 - len("#\n{ viewer { role } }")) + "\n{ viewer { role } }")
    anonymous_over = await anonymous.post("#" + "x" * 10_000 + "\n{ __typename }")
    async with ws_session(sqlite_server.ws_url, token) as client:
        await client.subscribe("1", comment + "subscription { creditBalanceChanged { creditBalance } }")
        refused = await client.receive()

    # then those over are refused unparsed with a code, and the one at the limit runs
    assert [(e["message"], e["extensions"]["code"]) for e in over["errors"]] == [
        ("the document is longer than 100,000 characters: send large values as variables", "GRAPHQL_PARSE_FAILED")
    ]
    assert over["data"] is None
    assert at_limit["data"] == {"viewer": {"role": "ORG_ADMIN"}}
    assert [e["extensions"]["code"] for e in anonymous_over["errors"]] == ["GRAPHQL_PARSE_FAILED"]
    assert "longer than 10,000 characters" in anonymous_over["errors"][0]["message"]
    assert refused["id"] == "1" and refused["type"] == "error", refused
    assert [e["extensions"]["code"] for e in refused["payload"]] == ["GRAPHQL_PARSE_FAILED"]
