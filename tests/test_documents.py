"""Document limits and shared parsed documents: the same answers and error codes, one tree per text."""

from __future__ import annotations

from models.enums import Role
from server.documents import MAX_CACHED_CHARS, shared_document

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
    admin = sqlite_server.client(sqlite_server.token(Role.ORG_ADMIN, org=1))

    # when a document of 5,002 tokens and one of exactly 5,000 are sent
    too_long = await admin.post("{ " + "viewer { subject } " * 1250 + "}")
    at_limit = await admin.post("{ sittings(filter: {status: [" + "CERTIFIED " * 4984 + "]}) { totalCount } }")

    # then the first is refused before running, the second runs
    assert [(e["message"], e["extensions"]["code"]) for e in too_long["errors"]] == [
        ("Syntax Error: Document contains more than 5000 tokens. Parsing aborted.", "GRAPHQL_PARSE_FAILED")
    ]
    assert at_limit == {"data": {"sittings": {"totalCount": 0}}, "extensions": {"cost": {"requested": 51, "limit": 50_000}}}
