"""Document limits (tokens, depth, aliases) and parsed documents shared across requests.

Every open subscription keeps its parsed document for as long as it lives (≈ 5.5 KiB
for a dashboard's ``sittingStatusChanged``), so 2,000 dashboards sending the same
text would keep 2,000 equal syntax trees. :class:`DocumentLimits` parses each
distinct text once and hands every request the same tree (graphql-core never
mutates a parsed document), as strawberry's ``ParserCache`` does, but a text that
does not parse is left to strawberry's own parsing, so its error keeps its usual
``GRAPHQL_PARSE_FAILED`` code.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension

from server.strawberry_internals import alias_limit_rule, depth_limit_rule

MAX_TOKENS = 20_000
MAX_ALIASES = 30  # bounds one request's cost: 30 × a 500-row page
MAX_DEPTH = 12
# strawberry's QueryDepthLimiter / MaxAliasesLimiter build a new rule class per
# operation; built once here, they cost nothing per open subscription.
LIMIT_RULES = (depth_limit_rule(MAX_DEPTH, None), alias_limit_rule(MAX_ALIASES))

CACHED_DOCUMENTS = 128
# Only short texts are cached, so distinct documents sent to fill the cache hold at most
# ≈ 128 × 4,096 characters' worth of syntax trees (≈ 60 bytes of tree per character).
MAX_CACHED_CHARS = 4096


@lru_cache(maxsize=CACHED_DOCUMENTS)
def _parse_shared(query: str) -> DocumentNode:
    return parse(query, max_tokens=MAX_TOKENS)


def shared_document(query: str | None) -> DocumentNode | None:
    """The one parsed document of ``query``, or None when it is not cached (too long, empty, or not parsable)."""
    if not query or len(query) > MAX_CACHED_CHARS:
        return None
    try:
        return _parse_shared(query)
    except GraphQLError:  # not cached: strawberry parses it again and reports the error
        return None


class DocumentLimits(SchemaExtension):
    """Parse with at most :data:`MAX_TOKENS` tokens, reuse parsed documents, validate depth and aliases.

    Replaces strawberry's ``MaxTokensLimiter`` and ``AddValidationRules``: its hooks
    end with parsing and validation, so nothing of it stays open for a
    subscription's lifetime (an ``on_operation`` hook would).
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = MAX_TOKENS
        if context.graphql_document is None:
            context.graphql_document = shared_document(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = context.validation_rules + LIMIT_RULES
        yield
