"""Streams whose filters differ share one execution of each event they all receive (server/event_sharing.py)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from builders import build_world
from support import SqlStatements, admin_of, sitting_nodes, subscribed
from ws_client import ws_session

from server.event_sharing import event_key_of

FILTERED = """
subscription($filter: SittingFilter, $withEmail: Boolean!) {
  sittingStatusChanged(filter: $filter) { status sitting { id testTaker { name email @include(if: $withEmail) } } }
}
"""
SELECT = "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount } }"



async def test_an_event_reaching_streams_with_different_filters_is_executed_once_per_selection(sqlite_server):
    # given an organisation's three sittings (score 80) and an admin
    server = sqlite_server
    world = await build_world(server.platform(), sittings=3, credits=5)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    variants = {
        "low": ({"scoreMin": 10}, False),
        "higher": ({"scoreMin": 20}, False),
        "selected": ({"status": ["SELECTED"]}, False),
        "with-email": ({"scoreMin": 10}, True),  # a variable of the selection differs: an execution of its own
        "excluded": ({"scoreMin": 90}, False),
    }
    async with AsyncExitStack() as stack:
        # when a dashboard for each of five filters subscribes to one document, then a sitting is selected
        dashboards = {}
        for name, (filter_, with_email) in variants.items():
            dashboards[name] = await stack.enter_async_context(ws_session(server.ws_url, admin.token))
            await dashboards[name].subscribe("1", FILTERED, {"filter": filter_, "withEmail": with_email})
        await subscribed(server, 5)
        assert server.state.shared_streams.member_counts() == [1, 1, 1, 1, 1]
        with SqlStatements() as sql:
            await admin.data(SELECT, {"ids": ids[:1]})
            received = {name: await dashboards[name].data("1") for name in ("low", "higher", "selected", "with-email")}
        await dashboards["excluded"].nothing_for(0.3)

    # then each matching stream got the event as its own selection reads it, the excluded one nothing
    plain = received["low"]["sittingStatusChanged"]
    assert plain["status"] == "SELECTED" and plain["sitting"]["id"] == ids[0]
    assert set(plain["sitting"]["testTaker"]) == {"name"}
    assert received["higher"] == received["selected"] == received["low"]
    emailed = received["with-email"]["sittingStatusChanged"]["sitting"]["testTaker"]
    assert emailed == {**plain["sitting"]["testTaker"], "email": emailed["email"]}
    assert emailed["email"].endswith("@example.com")
    # and the test taker was read once for the three that share a selection, once for the other
    assert sum('FROM "test_taker"' in statement for statement in sql.statements) == 2


class _Operation:
    """Just what event_key_of reads of graphql-core's executor."""

    def __init__(self, document: str, variables: dict, principal) -> None:
        import graphql

        from gql.context import Context

        parsed = graphql.parse(document)
        self.operation = parsed.definitions[0]
        self.fragment_definitions = {d.name.value: d for d in parsed.definitions[1:]}
        self.variable_values = graphql.execution.values.VariableValues(sources={}, coerced=variables)
        self.context_value = Context.__new__(Context)
        self.context_value.principal = principal


def test_the_key_names_the_variables_of_the_selection_and_fragments_not_those_of_the_root_arguments():
    from models.enums import Role
    from resolvers.principal import Principal

    admin = Principal(subject="a", role=Role.ORG_ADMIN, organisation_id=1)
    document = (
        "subscription($f: SittingFilter, $x: Boolean!, $y: Boolean!) { sittingStatusChanged(filter: $f) "
        "{ status @include(if: $x) ...S } } fragment S on SittingStatusEvent { at @skip(if: $y) }"
    )
    key = event_key_of(_Operation(document, {"f": {"scoreMin": 1}, "x": True, "y": False}, admin))
    assert key == event_key_of(_Operation(document, {"f": {"scoreMin": 2}, "x": True, "y": False}, admin))
    assert key != event_key_of(_Operation(document, {"f": {"scoreMin": 1}, "x": False, "y": False}, admin))
    assert key != event_key_of(_Operation(document, {"f": {"scoreMin": 1}, "x": True, "y": True}, admin))
    analyst = Principal(subject="a", role=Role.ANALYST, organisation_id=1)
    assert key != event_key_of(_Operation(document, {"f": {"scoreMin": 1}, "x": True, "y": False}, analyst))
    assert event_key_of(_Operation(document, {"f": None, "x": True, "y": False}, None)) is None
