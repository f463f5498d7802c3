"""schemathesis against the running server: generated queries and mutations as every role.

schemathesis (its GraphQL support, built on hypothesis-graphql) reads the
schema by introspection and generates documents for every query and mutation
field; each role sends 1,000 of them over real HTTP. Every answer must be a
JSON GraphQL response below 500, and no error may carry what only the
server's insides know: a stack trace, SQL, a file path, an exception's class
or an unexpected failure masked as ``INTERNAL_SERVER_ERROR``. schemathesis
does not generate subscriptions; the multipart uploads it cannot generate
are fuzzed in test_upload_fuzz.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hostile_support import HOSTILE, ServedProcess, bearer, leaks_in, organisation_over_http, role_tokens
from hypothesis import given, settings
from hypothesis import strategies as st

from models.enums import Role

OPERATIONS_PER_ROLE = 1_000
ROLES = ["platform_admin", "org_admin", "analyst", "security_reviewer", "test_taker", "anonymous"]


def check_answer(role: str, response: requests.Response) -> None:
    """A hostile document gets a clear GraphQL answer: under 500, JSON, no internals."""
    assert response.status_code < 500, (role, response.status_code, response.text[:2000])
    body = response.json()
    assert isinstance(body, dict) and ("data" in body or "errors" in body), (role, response.text[:2000])
    assert leaks_in(body) == [], (role, leaks_in(body))


# A file reaches the server only as a multipart part; in a JSON body an
# Upload argument can only be a literal, which the server must refuse clearly.
schemathesis.graphql.scalar(
    "Upload",
    st.one_of(st.just(schemathesis.graphql.nodes.Null), st.text(max_size=20).map(schemathesis.graphql.nodes.String)),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServedProcess]:
    """``certify serve`` in its own process (rate limits off so that fuzzing is not throttled)."""
    with ServedProcess(tmp_path_factory.mktemp("schemathesis"), CERTIFY_RATE_LIMIT_ENABLED="false") as server:
        yield server


@pytest.fixture(scope="module")
def graphql_schema(served):
    """The schema as introspection shows it (as a platform admin: anonymous documents are limited to 100 fields)."""
    headers = bearer(served.token(Role.PLATFORM_ADMIN, subject="platform"))
    return schemathesis.graphql.from_url(f"{served.url}/graphql", headers=headers)


@pytest.mark.slow
def test_generated_operations_get_clear_answers_as_every_role(served, graphql_schema):
    """Given a principal of each role (platform_admin, org_admin, analyst, security_reviewer,
    test_taker of organisation A, anonymous), when schemathesis generates 1,000 queries and
    mutations and each is sent as every role, then none gets a 5xx, a non-GraphQL answer or an
    error showing internals."""
    tokens = role_tokens(served, asyncio.run(organisation_over_http(served, "Acme Languages", "a")))
    operations = [result.ok() for result in graphql_schema.get_all_operations()]
    cases = st.one_of([operation.as_strategy() for operation in operations])
    session = requests.Session()
    sent = dict.fromkeys(ROLES, 0)
    fields: set[str] = set()

    # Generating a document costs far more than sending it, so each generated
    # operation is sent once per role: every role gets the same 1,000.
    @settings(HOSTILE, max_examples=OPERATIONS_PER_ROLE)
    @given(case=cases)
    def send(case) -> None:
        fields.add(case.operation.label)
        for role in ROLES:
            response = case.call(base_url=served.url, session=session, headers=bearer(tokens[role]), timeout=30)
            sent[role] += 1
            check_answer(role, response)

    send()
    print(f"operations sent per role: {sent}, over {len(fields)} of {len(operations)} fields")
    assert sent == dict.fromkeys(ROLES, OPERATIONS_PER_ROLE)
    assert len(fields) == len(operations)
