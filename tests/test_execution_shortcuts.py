"""The executor's plain-leaf path and the inputs built by a plan answer exactly as strawberry's own way does.

:class:`server.strawberry_internals.ExecutionContext` reads attribute fields of
scalar and enum types without graphql-core's resolve info, and
:func:`server.strawberry_internals.inputs_built_once` builds input objects by
a plan made once. Each case here runs on a schema with them and on the same
schema without them, and the two answers (data and errors, in order) must be
equal.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from enum import Enum

import pytest
import strawberry

from server.strawberry_internals import ExecutionContext, inputs_built_once


@strawberry.enum
class Colour(Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.type
class Thing:
    name: str
    nickname: str | None
    colour: Colour
    count: int
    at: datetime
    broken: str  # non-null, but the row below holds None

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times


THING = Thing(name="box", nickname=None, colour=Colour.BLUE, count=3, at=datetime(2026, 1, 2, tzinfo=UTC), broken=None)  # type: ignore[arg-type]


@strawberry.input
class Inner:
    label: str
    colours: list[Colour] = dataclasses.field(default_factory=list)


@strawberry.input
class Outer:
    title: str
    colour: Colour | None = None
    note: str | None = strawberry.UNSET
    count: int = 7
    inner: Inner | None = None
    inners: list[Inner] | None = None
    given: strawberry.Maybe[str | None] = None


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing:
        return THING

    @strawberry.field
    def things(self) -> list[Thing | None]:
        return [THING, None]

    @strawberry.field
    def echo(self, input: Outer) -> str:
        return repr(input)


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    stock = strawberry.Schema(query=Query)
    ours = inputs_built_once(strawberry.Schema(query=Query, execution_context_class=ExecutionContext))
    return stock, ours


QUERIES = [
    "{ thing { name nickname colour count at } }",
    "{ thing { a: name b: name colour __typename shout(times: 2) } }",
    "{ things { name colour } }",
    "{ thing { name broken } }",
    "{ things { broken } }",
    '{ echo(input: {title: "t"}) }',
    '{ echo(input: {title: "t", colour: RED, note: null, count: 2, given: null}) }',
    '{ echo(input: {title: "t", note: "n", given: "g", inner: {label: "l", colours: [RED, BLUE]}}) }',
    '{ echo(input: {title: "t", inners: [{label: "a", colours: []}, {label: "b", colours: [BLUE]}]}) }',
]


@pytest.mark.parametrize("query", QUERIES)
async def test_the_shortcuts_answer_as_strawberry_does(query):
    # given the same schema with and without the shortcuts
    stock, ours = schemas()

    # when each executes the document
    expected, answered = await stock.execute(query), await ours.execute(query)

    # then data and errors are the same
    assert answered.data == expected.data
    assert [(e.message, e.path) for e in answered.errors or []] == [(e.message, e.path) for e in expected.errors or []]


async def test_a_null_in_a_non_null_leaf_is_graphql_cores_error():
    # given a row whose non-null field holds None
    _, ours = schemas()

    # when it is read
    result = await ours.execute("{ thing { name broken } }")

    # then the field's error is graphql-core's, and the parent is null
    assert result.data is None
    assert [(e.message, e.path) for e in result.errors] == [
        ("Cannot return null for non-nullable field Thing.broken.", ["thing", "broken"])
    ]


async def test_variables_reach_a_built_input_as_strawberry_builds_them():
    # given an input passed as a variable
    stock, ours = schemas()
    query = "query($input: Outer!) { echo(input: $input) }"
    variables = {"input": {"title": "t", "colour": "BLUE", "inner": {"label": "x", "colours": []}, "given": "g"}}

    # when both execute it
    expected = await stock.execute(query, variable_values=variables)
    answered = await ours.execute(query, variable_values=variables)

    # then the resolver saw the same object
    assert expected.errors is None
    assert answered.data == expected.data
