"""What one document may hold, per kind of caller: its tier of limits, and the checks that cost no more than reading it.

:class:`server.documents.DocumentLimits` applies them in order (docs/RULES.md,
"Limits"); each check returns the first error with its ``extensions.code``,
or None. Counting is linear in the document's size: fragments are measured
once each however often they are spread.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from server.strawberry_internals import alias_limit_rule, depth_limit_rule


@dataclass(frozen=True, slots=True)
class Tier:
    """The limits of one kind of caller; counts are per document, ``max_cost`` in nodes (:mod:`server.cost`)."""

    max_chars: int
    """Characters of the document text, read before the lexer walks it one character at a time (comments,
    whitespace and string literals are not tokens: 1 MB of comment took 175 ms to skip)."""
    max_tokens: int
    max_depth: int
    max_aliases: int
    max_fields: int
    """Fields of the operation after every fragment is spread where it is used."""
    max_repeats: int
    """Times one response name may appear in one selection set, fragments included."""
    max_spreads: int
    """Fragment spreads in one selection set."""
    max_cost: int
    max_variable_values: int
    """JSON values in the variables, every list item and object member counted: graphql-core coerces each at
    about 2 µs (an ID), so 66,000 IDs in a 1 MiB body would hold the loop for 150 ms."""

    @property
    def rules(self) -> tuple:
        return _rules(self.max_depth, self.max_aliases)


# Parsing costs ≈ 6–12 µs a token and validation grows with fields × spreads: these bounds keep
# both well under 100 ms for any document (bench/RESULTS-documents.md).
# The largest legitimate variables: 10,000 IDs to select, or 1,000 sittings of 9 values to record.
AUTHENTICATED = Tier(
    max_chars=100_000,
    max_tokens=5_000,
    max_depth=12,
    max_aliases=30,
    max_fields=1_000,
    max_repeats=10,
    max_spreads=20,
    max_cost=50_000,
    max_variable_values=20_000,
)
ANONYMOUS = Tier(
    max_chars=10_000,
    max_tokens=1_000,
    max_depth=6,
    max_aliases=5,
    max_fields=100,
    max_repeats=3,
    max_spreads=5,
    max_cost=50,
    max_variable_values=100,
)

# Kept for callers that read the authenticated limits by name.
MAX_TOKENS = AUTHENTICATED.max_tokens
MAX_ALIASES = AUTHENTICATED.max_aliases
MAX_DEPTH = AUTHENTICATED.max_depth


@lru_cache(maxsize=4)
def _rules(max_depth: int, max_aliases: int) -> tuple:
    # strawberry's QueryDepthLimiter / MaxAliasesLimiter build a new rule class per
    # operation; built once per tier here, they cost nothing per open subscription.
    return (depth_limit_rule(max_depth, None), alias_limit_rule(max_aliases))


def limit_error(message: str, code: str, **extensions: object) -> GraphQLError:
    """A GraphQL error refusing an operation before it runs, with ``extensions.code``."""
    return GraphQLError(message, extensions={"code": code, **extensions})


def check_variables(variables: object, tier: Tier) -> GraphQLError | None:
    """``BAD_USER_INPUT`` when ``variables`` (decoded JSON) hold more than ``tier.max_variable_values`` values.

    Every value counts once: each list item, each object member, nested ones
    too. The walk stops as soon as the count passes the limit, so it costs at
    most that many steps whatever the body holds.
    """
    limit = tier.max_variable_values
    pending, seen = [variables], 0
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            seen += len(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            seen += len(value)
            pending.extend(value)
        if seen > limit:
            return limit_error(
                f"the variables hold more than {limit:,} values (list items and object members): "
                "send fewer per request",
                "BAD_USER_INPUT",
            )
    return None


def check_shape(document: DocumentNode, operation: OperationDefinitionNode, tier: Tier) -> GraphQLError | None:
    """The first way ``document`` exceeds ``tier``'s shape limits, or None; linear in the document's size.

    Fragments are measured once each (a fragment spread twice counts twice
    without being walked twice), and a fragment cycle counts nothing more:
    validation reports it.
    """
    shape = _Shape(document, tier)
    aliases = shape.aliases()
    if aliases > tier.max_aliases:
        # strawberry's MaxAliasesLimiter wording
        return limit_error(f"{aliases} aliases found. Allowed: {tier.max_aliases}", "GRAPHQL_VALIDATION_FAILED")
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            error = shape.check_selection_sets(definition.selection_set)
            if error:
                return error
    fields = shape.fields_of(operation.selection_set)
    if fields > tier.max_fields:
        return limit_error(
            f"the operation selects {fields} fields once its fragments are spread; at most {tier.max_fields} are allowed",
            "GRAPHQL_VALIDATION_FAILED",
        )
    return None


class _Shape:
    def __init__(self, document: DocumentNode, tier: Tier):
        self.document = document
        self.tier = tier
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.field_counts: dict[str, int] = {}
        self.name_counts: dict[str, Counter] = {}
        self.in_progress: set[str] = set()

    def aliases(self) -> int:
        """Aliases written in the document (each fragment's once), whatever is spread where."""
        count = 0
        stack = [d.selection_set for d in self.fragments.values()]
        stack += [d.selection_set for d in self.document.definitions if isinstance(d, OperationDefinitionNode)]
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, FieldNode) and selection.alias is not None:
                    count += 1
                if getattr(selection, "selection_set", None) is not None:
                    stack.append(selection.selection_set)
        return count

    def check_selection_sets(self, root: SelectionSetNode) -> GraphQLError | None:
        stack = [root]
        while stack:
            selections = stack.pop()
            spreads = sum(isinstance(s, FragmentSpreadNode) for s in selections.selections)
            if spreads > self.tier.max_spreads:
                return limit_error(
                    f"a selection set spreads {spreads} fragments; at most {self.tier.max_spreads} are allowed",
                    "GRAPHQL_VALIDATION_FAILED",
                )
            names = self.names_in(selections)
            if names:
                name, times = names.most_common(1)[0]
                if times > self.tier.max_repeats:
                    return limit_error(
                        f"'{name}' is selected {times} times in one selection set; at most {self.tier.max_repeats}",
                        "GRAPHQL_VALIDATION_FAILED",
                    )
            stack.extend(s.selection_set for s in selections.selections if getattr(s, "selection_set", None))
        return None

    def names_in(self, selections: SelectionSetNode) -> Counter:
        """Response names at this level, through inline fragments and fragment spreads."""
        names: Counter = Counter()
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                names[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                names.update(self.names_in(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                names.update(self._fragment(selection.name.value, self.name_counts, self.names_in, Counter()))
        return names

    def fields_of(self, selections: SelectionSetNode | None) -> int:
        """Fields below ``selections`` with every fragment spread where it is used."""
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += 1 + self.fields_of(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += self.fields_of(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, self.field_counts, self.fields_of, 0)
        return total

    def _fragment(self, name: str, memo: dict, measure, empty):
        if name in memo:
            return memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.in_progress:
            return empty
        self.in_progress.add(name)
        try:
            memo[name] = measure(fragment.selection_set)
        finally:
            self.in_progress.discard(name)
        return memo[name]


def root_field_names(document: DocumentNode, operation: OperationDefinitionNode) -> set[str]:
    """The names (not aliases) of the root fields ``operation`` selects, through fragments."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()
    pending, seen = [operation.selection_set], set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                if selection.name.value in fragments:
                    pending.append(fragments[selection.name.value].selection_set)
    return names
