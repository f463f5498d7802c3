"""Keyset (cursor) pagination for every connection.

Rows are ordered by a sort field and then by id, so the order is total and
stable even when many rows share a timestamp: a cursor names the last row's
(sort value, id) and the next page starts strictly after it — no duplicates,
no skips, whatever is inserted meanwhile. Page size: default 50, 1–500
(docs/RULES.md, "Limits").

``skip`` (of ``sittings``) passes over that many rows first, an OFFSET the
database reads through, so a page can be opened by its number; its cursors are
the same as those the walk from the start gives.

:func:`paginate` reads one connection; :func:`paginate_each` reads the same
connection of many parents at once (a nested connection), with the same pages
and cursors.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from resolvers.errors import BadArgument
from resolvers.sql import chunks, leading_rows_per_group

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_SKIP = 10_000_000
"""Rows a page may pass over (``skip``): an OFFSET, read through in the database without sending them."""


@dataclass(frozen=True, slots=True)
class SortKey:
    """Order by ``field`` (ORM path, e.g. ``"test_taker__name"``), then by id, same direction."""

    field: str
    descending: bool = False


@dataclass(slots=True)
class Page(Generic[T]):
    """One page: ``items`` with their ``cursors`` (same length), and the connection's facts.

    ``total_count`` is None only when the caller asked not to count (:func:`paginate_each`).
    """

    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int | None


def page_size(first: int | None) -> int:
    """Validate ``first``. Raises :class:`BadArgument` outside 1–500; ``None`` → 50."""
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadArgument(f"first must be between 1 and {MAX_PAGE_SIZE}, got {first}")
    return first


def encode_cursor(value: Any, pk: int) -> str:
    """Opaque cursor for a row whose sort value is ``value`` and id ``pk``."""
    tagged = ["dt", value.isoformat()] if isinstance(value, datetime) else ["v", value]
    return base64.urlsafe_b64encode(json.dumps([tagged, pk], ensure_ascii=False).encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, int]:
    """Inverse of :func:`encode_cursor`. Raises :class:`BadArgument` for anything malformed."""
    try:
        (tag, value), pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(pk, int) or not 0 < pk < 2**31 or tag not in ("dt", "v"):
            raise ValueError(cursor)
        if isinstance(value, int) and not -(2**31) <= value < 2**31:
            raise ValueError(cursor)
        if tag == "dt":
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError(cursor)
        elif value is not None and not isinstance(value, (int, float, str)):
            raise ValueError(cursor)
        return value, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArgument(f"malformed cursor {cursor!r}") from exc


def _sort_type(model: Any, path: str) -> type:
    """The Python type of the model field at ``path`` (e.g. ``"test_taker__name"`` → str)."""
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.fields_map[relation].related_model
    return model._meta.fields_map[name].field_type


def _check_sort_value(value: Any, expected: type, cursor: str) -> None:
    """A cursor made for another ordering would compare unlike values (a 500 on PostgreSQL)."""
    if isinstance(value, bool) or not isinstance(value, expected):
        raise BadArgument(f"cursor {cursor!r} does not belong to this ordering")


def _value_of(row: Any, path: str) -> Any:
    for part in path.split("__"):
        row = getattr(row, part)
    return row


def strictly_after(key: SortKey, value: Any, pk: int) -> Q:
    """The rows after the one whose sort value is ``value`` and id ``pk``, in ``key``'s order (ties by id).

    Descending, ``field <= value AND (field < value OR id < pk)`` (ascending
    ``>=``, ``>``, ``>``): the rows of ``field < value OR (field = value AND
    id < pk)``, written so that it bounds a range of an index on (field, id)
    and a page deep in a large result costs what the first one does.
    ``value`` is never null (:func:`decode_cursor` and the sort field's type
    check refuse a cursor holding one); a row whose field is null is after
    none, as SQL compares nothing with null.
    """
    strict, inclusive = ("lt", "lte") if key.descending else ("gt", "gte")
    return Q(**{f"{key.field}__{inclusive}": value}) & (
        Q(**{f"{key.field}__{strict}": value}) | Q(**{f"id__{strict}": pk})
    )


async def paginate(
    queryset: QuerySet[T], key: SortKey, *, first: int | None, after: str | None, skip: int | None = None
) -> Page[T]:
    """Fetch the page of ``queryset`` after cursor ``after``, passing over ``skip`` rows first (two queries:
    count and page; only the count when it is 0). ``skip`` opens a page by its number without reading the
    cursors before it.

    Raises:
        BadArgument: ``first`` outside 1–500, ``skip`` outside 0–10,000,000, or an ``after`` that is
            malformed or was made for another ordering.
    """
    size = page_size(first)
    if skip is not None and not 0 <= skip <= MAX_SKIP:
        raise BadArgument(f"skip must be between 0 and {MAX_SKIP}, got {skip}")
    total = await queryset.count()
    if after is not None:
        value, pk = decode_cursor(after)
        _check_sort_value(value, _sort_type(queryset.model, key.field), after)
        queryset = queryset.filter(strictly_after(key, value, pk))
    prefix = "-" if key.descending else ""
    ordered = queryset.order_by(f"{prefix}{key.field}", f"{prefix}id").limit(size + 1)
    if skip:
        ordered = ordered.offset(skip)
    if "__" in key.field:
        ordered = ordered.select_related(key.field.rsplit("__", 1)[0])
    # No row matched when counted: the page is empty without reading it (where no index orders the filtered
    # rows, reading an empty page walks every row of the ordering's index, 3 ms for 10,000 sittings).
    rows = list(await ordered) if total else []
    return _page_of(rows, key, size, after is not None or bool(skip), total)


PARENTS_PER_STATEMENT = 10_000
"""Parent ids bound in one statement: under SQLite's and PostgreSQL's limit of about 32,000 parameters."""


async def paginate_each(
    queryset: QuerySet[T],
    key: SortKey,
    *,
    parent: str,
    parent_ids: Collection[int],
    first: int | None,
    after: str | None,
    count: bool = True,
) -> dict[int, Page[T]]:
    """For every id of ``parent_ids``, the page :func:`paginate` gives for ``queryset.filter(parent=id)``.

    ``parent`` is the column naming the parent (``"test_taker_id"``); ``key.field`` must be a column of
    the model too (no ``__`` path). The same ``first`` and ``after`` apply to every parent; a parent
    without rows gets an empty page. One statement ranks the rows of all parents
    (:func:`resolvers.sql.leading_rows_per_group`) and, when ``count`` is true, one grouped count gives
    the ``total_count`` of each; with ``count`` false every ``total_count`` is None. Beyond
    :data:`PARENTS_PER_STATEMENT` parents, the statements repeat per that many.

    Raises:
        BadArgument: ``first`` outside 1–500, or an ``after`` that is malformed or was made for
            another ordering (before any statement runs).
    """
    size = page_size(first)
    if "__" in key.field:
        raise ValueError(f"paginate_each orders by a column of the model, not {key.field!r}")
    ranked = queryset
    if after is not None:
        value, pk = decode_cursor(after)
        _check_sort_value(value, _sort_type(queryset.model, key.field), after)
        ranked = queryset.filter(strictly_after(key, value, pk))
    ids = sorted(set(parent_ids))
    rows: dict[int, list[T]] = {pk: [] for pk in ids}
    totals: dict[int, int] = {}
    for batch in chunks(ids, PARENTS_PER_STATEMENT):
        of_batch = {f"{parent}__in": list(batch)}
        leading = await leading_rows_per_group(
            ranked.filter(**of_batch), group=parent, order=key.field, descending=key.descending, limit=size + 1
        )
        for row in leading:
            rows[getattr(row, parent)].append(row)
        if count:
            counted = queryset.filter(**of_batch).annotate(n=Count("id")).group_by(parent).values_list(parent, "n")
            totals.update(await counted)
    return {
        pk: _page_of(items, key, size, after is not None, totals.get(pk, 0) if count else None)
        for pk, items in rows.items()
    }


def _page_of(rows: list[T], key: SortKey, size: int, previous: bool, total: int | None) -> Page[T]:
    """The page of up to ``size + 1`` ordered ``rows`` (the extra row only tells that a next page exists);
    ``previous``: rows come before it."""
    cursors = [encode_cursor(_value_of(row, key.field), row.pk) for row in rows[:size]]
    return Page(rows[:size], cursors, len(rows) > size, previous, total)
