"""What an operation costs, known from its document and variables before any resolver runs.

The rule (docs/RULES.md, "Query cost"), counting nodes as GitHub's GraphQL API
and Shopify's do:

- the operation itself costs 1;
- a connection (a field whose type is named ``…Connection`` and takes ``first``)
  costs its ``first`` (50 when omitted) times the number of parents it can run
  under: the product of the ``first`` of every connection above it and of the
  bound of every list above it;
- a list of objects that is not a connection's ``edges`` (e.g. ``sittingAggregates``)
  multiplies what is below it by its bound (:data:`LIST_BOUNDS`, else
  :data:`DEFAULT_LIST_BOUND`);
- a root field with a weight (:data:`FIELD_WEIGHTS`: the analytics queries scan the
  filtered sittings; every mutation and subscription field) costs that weight
  times its parents;
- every other field costs nothing: it is read from a row already loaded.

Fragments and inline fragments count wherever they are spread; ``@skip`` and
``@include`` are honoured. For ``{ sittings(first: 10) { edges { node {
testTaker { sittings(first: 5) { totalCount } } } } } }`` the cost is
1 + 10 + 10 × 5 = 61.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLList,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    get_named_type,
    get_nullable_type,
    type_from_ast,
    value_from_ast,
)

DEFAULT_PAGE_SIZE = 50  # resolvers/pagination.py, docs/RULES.md "Limits"
MAX_PAGE_SIZE = 500
DEFAULT_LIST_BOUND = 100
# The longest a list field below the root can be (its contract description, or the resolver's cap).
LIST_BOUNDS: Mapping[str, int] = {
    "Query.sittingAggregates": 10_000,
    "Query.scoreHistogram": 10_000,
    "Query.creditUsage": 1_200,
    "SittingStats.byStatus": 5,
}
ANALYTICS_WEIGHT = 1_000
"""One aggregate over up to 1,000,000 sittings takes about as long as loading 1,000 rows."""
ROOT_FIELD_WEIGHT = 10
"""Each mutation and subscription field: one write (or one stream) with its events."""
FIELD_WEIGHTS: Mapping[str, int] = {
    "Query.sittingStats": ANALYTICS_WEIGHT,
    "Query.sittingAggregates": ANALYTICS_WEIGHT,
    "Query.scoreHistogram": ANALYTICS_WEIGHT,
    "Query.certificationFunnel": ANALYTICS_WEIGHT,
    "Query.creditUsage": 100,
    "Query.exportSittings": ANALYTICS_WEIGHT,
}


class CostError(Exception):
    """A connection's ``first`` that no page can have (outside 1–500, or not an integer)."""


@dataclass(frozen=True, slots=True)
class Cost:
    """An operation's cost (``requested``) beside the budget it is held to (``limit``), both in nodes."""

    requested: int | None
    limit: int

    def as_extension(self) -> dict[str, int | None]:
        """``{"requested": n, "limit": m}``, the response's ``extensions.cost``."""
        return {"requested": self.requested, "limit": self.limit}


def find_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation to run: the one named, or the only one; None when that is ambiguous or absent."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == operation_name), None)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> int:
    """The cost of ``operation`` of a validated ``document`` by the module's rule, in nodes.

    Raises:
        CostError: a connection's ``first`` is outside 1–500 (the page sizes
            resolvers/pagination.py accepts), so the operation could only fail.
    """
    walker = _Walker(schema, document, operation, variables or {})
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 1
    weight = ROOT_FIELD_WEIGHT if operation.operation is not OperationType.QUERY else 0
    return 1 + walker.selection_set(root, operation.selection_set, multiplier=1, root_weight=weight)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ):
        self.schema = schema
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                declared = type_from_ast(schema, definition.type)  # Int for a page size, Boolean for @skip…
                if declared is not None:
                    self.variables[name] = value_from_ast(definition.default_value, declared)
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.spreading: set[str] = set()

    def selection_set(
        self, parent: GraphQLNamedType, selections: SelectionSetNode | None, *, multiplier: int, root_weight: int = 0
    ) -> int:
        if selections is None or parent is None:
            return 0
        total = 0
        for selection in selections.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, multiplier, root_weight)
            elif isinstance(selection, InlineFragmentNode):
                target = self._type_named(selection.type_condition.name.value) if selection.type_condition else parent
                total += self.selection_set(
                    target, selection.selection_set, multiplier=multiplier, root_weight=root_weight
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in self.spreading:  # a cycle: validation refuses the document
                    continue
                self.spreading.add(name)
                target = self._type_named(fragment.type_condition.name.value)
                total += self.selection_set(
                    target, fragment.selection_set, multiplier=multiplier, root_weight=root_weight
                )
                self.spreading.discard(name)
        return total

    def field(self, parent: GraphQLNamedType, node: FieldNode, multiplier: int, root_weight: int) -> int:
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(node.name.value)
        if definition is None:  # __typename, or a field validation refuses
            return 0
        key = f"{parent.name}.{node.name.value}"
        cost = (FIELD_WEIGHTS.get(key, root_weight)) * multiplier
        named = get_named_type(definition.type)
        if named.name.endswith("Connection") and "first" in definition.args:
            first = self._first(node)
            return (
                cost + first * multiplier + self.selection_set(named, node.selection_set, multiplier=multiplier * first)
            )
        if isinstance(get_nullable_type(definition.type), GraphQLList) and not key.endswith("Connection.edges"):
            bound = LIST_BOUNDS.get(key, DEFAULT_LIST_BOUND)
            return cost + self.selection_set(named, node.selection_set, multiplier=multiplier * bound)
        return cost + self.selection_set(named, node.selection_set, multiplier=multiplier)

    def _first(self, node: FieldNode) -> int:
        argument = next((a for a in node.arguments or () if a.name.value == "first"), None)
        if argument is None:
            return DEFAULT_PAGE_SIZE
        value = self._value(argument.value)
        if value is None or value is Undefined:
            return DEFAULT_PAGE_SIZE
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
            raise CostError(f"first must be between 1 and {MAX_PAGE_SIZE}, got {value!r}")
        return value

    def _value(self, node: Any) -> Any:
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        return value_from_ast(node, GraphQLInt)

    def _included(self, selection: Any) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            argument = next((a for a in directive.arguments or () if a.name.value == "if"), None)
            if argument is None:
                continue
            value = argument.value
            flag = (
                self.variables.get(value.name.value)
                if isinstance(value, VariableNode)
                else (value.value if isinstance(value, BooleanValueNode) else None)
            )
            if (name == "skip" and flag is True) or (name == "include" and flag is False):
                return False
        return True

    def _type_named(self, name: str) -> GraphQLNamedType | None:
        return self.schema.get_type(name)
