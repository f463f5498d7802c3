"""graphql-core's own cost of a sittings page: the page query's selection executed over plain dicts.

Usage:
    .venv/bin/python bench/graphql_floor.py [--rows 50] [--repeats 300]

No strawberry, no database, no HTTP: graphql-core (the executor under
strawberry) resolving the fields of ``bench/page_query_bench.py``'s page over
dicts that already hold every value, with the server's own executor
(``server/strawberry_internals.py``, ``ExecutionContext``: its leaf fields are
read and serialized without resolve info or value completion, every other
field takes graphql-core's path). So it measures what that executor spends
on that page when nothing has to be read.
The page query's report sets it beside the raw endpoint's CPU per request:
with nothing else on top of the baseline, requests per second could reach at
most baseline CPU / (baseline CPU + this).

:func:`variables_floor_ms` is the same kind of floor for a mutation's input:
graphql-core coercing a request's variables against the server's own schema
(``bench/ingest_bench.py``: one ``recordSittings`` batch of 1,000 rows), which
the server does before the first resolver runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

from graphql import GraphQLObjectType, build_schema, execute, parse, validate
from graphql.execution.values import get_variable_values

from server.strawberry_internals import ExecutionContext

SDL = """
type Query { sittings(first: Int): SittingConnection! }
type SittingConnection { totalCount: Int! edges: [SittingEdge!]! }
type SittingEdge { node: Sitting! }
enum CertificationStatus { UNSELECTED IN_PROGRESS }
enum CertificateStatus { AWAITING_CLAIM }
type Sitting {
  id: ID! status: CertificationStatus! score: Int! takenAt: String!
  testTaker: TestTaker! test: Test! certificate: Certificate
}
type TestTaker { id: ID! name: String! email: String! }
type Test { id: ID! name: String! }
type Certificate { id: ID! status: CertificateStatus! }
"""
"""The page's types as the contract names them, with ``DateTime`` as a String (already serialized)."""
PAGE = """query($first: Int) { sittings(first: $first) { totalCount edges { node {
  id status score takenAt testTaker { id name email } test { id name } certificate { id status } } } } }"""
"""The same document as ``bench/page_query_bench.py``'s page."""


def dict_reader(name: str):
    """A resolver that reads ``name`` from a dict source, marked as strawberry marks its attribute readers
    (``_is_default``), so the server's executor takes its leaf shortcut for it as it does in the server."""

    def read(source: dict, info, **_arguments):
        return source.get(name)

    read._is_default = True
    return read


def floor_schema():
    """The page's types (:data:`SDL`) with every field read from dict sources by :func:`dict_reader`."""
    schema = build_schema(SDL)
    for graphql_type in schema.type_map.values():
        if isinstance(graphql_type, GraphQLObjectType) and not graphql_type.name.startswith("__"):
            for name, field in graphql_type.fields.items():
                field.resolve = dict_reader(name)
    return schema


def page_source(rows: int) -> dict:
    """The root value: ``rows`` sittings, every third with a certificate (as the benchmark's seed)."""
    edges = [
        {
            "node": {
                "id": f"U2l0dGluZzo{n}",
                "status": "IN_PROGRESS" if n % 3 == 0 else "UNSELECTED",
                "score": 50 + n % 50,
                "takenAt": "2026-01-01T00:00:00+00:00",
                "testTaker": {"id": f"VGVzdFRha2VyOj{n}", "name": f"Taker {n}", "email": f"taker{n}@example.com"},
                "test": {"id": "VGVzdDox", "name": "Bench test"},
                "certificate": {"id": f"Q2VydGlmaWNhdGU6{n}", "status": "AWAITING_CLAIM"} if n % 3 == 0 else None,
            }
        }
        for n in range(rows)
    ]
    return {"sittings": {"totalCount": 10_000, "edges": edges}}


def execution_floor_ms(rows: int = 50, repeats: int = 300) -> float:
    """Median milliseconds of one graphql-core execution of the page over ``rows`` rows (after 50 warm-ups).

    Raises:
        AssertionError: the document does not validate or the execution has errors.
    """
    schema, document = floor_schema(), parse(PAGE)
    assert not validate(schema, document)
    root = page_source(rows)
    times = []
    for _ in range(repeats + 50):
        started = time.perf_counter()
        result = execute(schema, document, root, variable_values={"first": rows}, executor_class=ExecutionContext)
        times.append(time.perf_counter() - started)
        assert not result.errors, result.errors
    return statistics.median(times[50:]) * 1000


def variables_floor_ms(schema, document: str, variables: dict, repeats: int = 20) -> float:
    """Median milliseconds of graphql-core coercing ``variables`` for ``document``'s operation (after 3 warm-ups).

    ``schema``: a graphql-core ``GraphQLSchema`` (``server.strawberry_internals.graphql_schema_of``);
    ``variables``: the request's JSON variables, already decoded.

    Raises:
        AssertionError: the variables do not coerce (graphql-core returned errors).
    """
    operation = parse(document).definitions[0]
    times = []
    for _ in range(repeats + 3):
        started = time.perf_counter()
        coerced = get_variable_values(schema, operation.variable_definitions, variables)
        times.append(time.perf_counter() - started)
        assert not isinstance(coerced, list), "the variables did not coerce"
    return statistics.median(times[3:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    print(f"graphql-core, {args.rows} rows over dicts: {execution_floor_ms(args.rows, args.repeats):.3f} ms")


if __name__ == "__main__":
    main()
