"""The CSV export of sittings: who may make one, what a file holds, and its bytes page by page.

An export is asked for with the ``sittings`` filter and order; the URL that
delivers it (``server/exports.py``) carries an :class:`ExportRequest`: the
viewer's scope, the filter and the order, as plain JSON values. Fetching it
streams exactly the rows ``sittings`` gives that viewer for that filter, in
the same order (default takenAt descending, ties by id), read in keyset pages
of :data:`EXPORT_PAGE_SIZE` rows as tuples, never as model instances. The
columns are :data:`COLUMNS` (README.md, "CSV export").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import RawSQL
from tortoise.queryset import QuerySet

from models import Sitting
from models.enums import CertificateStatus, CertificationStatus, Role
from resolvers import access
from resolvers.access import Operation, viewer_scope, visible_sittings
from resolvers.csv_fields import GlobalIds, InstantFields, TextFields, ValueFields, field, plain_texts
from resolvers.errors import BadArgument
from resolvers.global_ids import MAX_PK
from resolvers.pagination import SortKey, strictly_after
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter, SittingOrder, SittingOrderField, apply_filter
from resolvers.sql import Statement

EXPORT_PAGE_SIZE = 2_000
"""Rows read per statement while a file streams."""

SIGNED_SUBJECT = "signed-export-url"
"""The subject of the principal a URL's scope is read back into (the subject is not part of a scope)."""


class Kind:
    """How a column's value becomes a cell."""

    VALUE = "value"
    """As it is: a number, an enum's value, or empty for null."""
    TEXT = "text"
    """Text a client wrote, guarded against formulas."""
    INSTANT = "instant"
    """A datetime in ISO 8601, UTC (``2026-10-01T09:00:00+00:00``, as the API writes it)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the file: its ``header``, the ORM ``path`` read, and its :class:`Kind` or the type of its global ID."""

    header: str
    path: str
    kind: str = Kind.VALUE


COLUMNS: tuple[Column, ...] = (
    Column("sittingId", "id", "Sitting"),
    Column("externalId", "external_id", Kind.TEXT),
    Column("organisationId", "organisation_id", "Organisation"),
    Column("organisationName", "organisation__name", Kind.TEXT),
    Column("testId", "test_id", "Test"),
    Column("testName", "test__name", Kind.TEXT),
    Column("testTakerId", "test_taker_id", "TestTaker"),
    Column("testTakerName", "test_taker__name", Kind.TEXT),
    Column("testTakerEmail", "test_taker__email", Kind.TEXT),
    Column("takenAt", "taken_at", Kind.INSTANT),
    Column("score", "score"),
    Column("status", "status"),
    Column("ineligibilityReason", "ineligibility_reason"),
    Column("photoCheck", "photo_check"),
    Column("selectedAt", "selected_at", Kind.INSTANT),
    Column("certifiedAt", "certified_at", Kind.INSTANT),
    Column("certificateStatus", "current_certificate_status"),
    Column("certificateClaimedAt", "current_certificate_claimed_at", Kind.INSTANT),
    Column("certificateIssuedAt", "current_certificate_issued_at", Kind.INSTANT),
)
"""The file's columns in order; README.md, "CSV export" says what each holds."""

CURRENT_CERTIFICATE = {
    f"current_certificate_{column}": RawSQL(
        f'(SELECT c."{column}" FROM "certificate" c WHERE c."sitting_id" = "sitting"."id" ORDER BY c."id" DESC LIMIT 1)'
    )
    for column in ("status", "claimed_at", "issued_at")
}
"""The newest certificate's columns: the current one (a sitting has at most one that is not LAPSED, always its
newest), else the last that lapsed, as ``SittingFilter.certificateStatus`` matches them (resolvers/sittings.py)."""

HEADER = tuple(column.header for column in COLUMNS)
_PAGE_COLUMNS = ", ".join(f'page."{n}"' for n in range(len(COLUMNS)))
_PATHS = tuple(column.path for column in COLUMNS)
_TEXTS = tuple(i for i, column in enumerate(COLUMNS) if column.kind == Kind.TEXT)
_INSTANTS = tuple(i for i, column in enumerate(COLUMNS) if column.kind == Kind.INSTANT)
_IDS = tuple(
    (i, column.kind) for i, column in enumerate(COLUMNS) if column.kind not in (Kind.VALUE, Kind.TEXT, Kind.INSTANT)
)
_ORDER_FIELDS = (SittingOrderField.TAKEN_AT, SittingOrderField.SCORE, SittingOrderField.TEST_TAKER_NAME)
_FILTER_KEYS = frozenset(
    {"status", "testId", "scoreMin", "scoreMax", "takenAfter", "takenBefore", "search", "certificateStatus"}
)


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What one export file holds: the rows ``sittings(filter: spec, orderBy: order)`` gives ``principal``.

    :meth:`to_payload` and :meth:`from_payload` carry it as JSON values
    (the viewer's scope, not its subject).
    """

    principal: Principal
    spec: SittingFilter | None
    order: SittingOrder

    def to_payload(self) -> list[Any]:
        """``[role, organisation id, test taker id, filter or null, order field, descending]``, all JSON."""
        role, organisation_id, test_taker_id = viewer_scope(self.principal)
        spec = _filter_payload(self.spec) if self.spec is not None else None
        return [role.value, organisation_id, test_taker_id, spec, self.order.field, self.order.descending]

    @classmethod
    def from_payload(cls, payload: Any) -> ExportRequest:
        """The request :meth:`to_payload` gave ``payload``.

        Raises:
            BadArgument: ``payload`` is not one :meth:`to_payload` makes.
        """
        try:
            role, organisation_id, test_taker_id, spec, field, descending = payload
            principal = Principal(
                subject=SIGNED_SUBJECT,
                role=Role(role),
                organisation_id=_optional_pk(organisation_id),
                test_taker_id=_optional_pk(test_taker_id),
            )
            if field not in _ORDER_FIELDS or not isinstance(descending, bool):
                raise ValueError(field)
            order = SittingOrder(field=field, descending=descending)
            return cls(principal, _filter_from_payload(spec) if spec is not None else None, order)
        except (ValueError, TypeError, KeyError) as exc:
            raise BadArgument("not an export request") from exc


def _optional_pk(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_PK:
        raise ValueError(value)
    return value


def _filter_payload(spec: SittingFilter) -> dict[str, Any]:
    """The criteria ``spec`` sets, by their GraphQL names, datetimes as ISO 8601."""
    values = {
        "status": [status.value for status in spec.status] if spec.status is not None else None,
        "testId": spec.test_id,
        "scoreMin": spec.score_min,
        "scoreMax": spec.score_max,
        "takenAfter": spec.taken_after.isoformat() if spec.taken_after is not None else None,
        "takenBefore": spec.taken_before.isoformat() if spec.taken_before is not None else None,
        "search": spec.search,
        "certificateStatus": [s.value for s in spec.certificate_status]
        if spec.certificate_status is not None
        else None,
    }
    return {key: value for key, value in values.items() if value is not None}


def _filter_from_payload(values: dict[str, Any]) -> SittingFilter:
    if not isinstance(values, dict) or not set(values) <= _FILTER_KEYS:
        raise ValueError(values)
    for key in ("testId", "scoreMin", "scoreMax"):
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], int)):
            raise ValueError(key)
    if "search" in values and not isinstance(values["search"], str):
        raise ValueError("search")
    status = values.get("status")
    return SittingFilter(
        status=tuple(CertificationStatus(s) for s in status) if status is not None else None,
        test_id=values.get("testId"),
        score_min=values.get("scoreMin"),
        score_max=values.get("scoreMax"),
        taken_after=_instant(values.get("takenAfter")),
        taken_before=_instant(values.get("takenBefore")),
        search=values.get("search"),
        certificate_status=_statuses(values.get("certificateStatus")),
    )


def _statuses(value: Any) -> tuple[CertificateStatus, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(status, str) for status in value):
        raise ValueError(value)
    return tuple(CertificateStatus(status) for status in value)


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(value)
    return parsed


def _matching(request: ExportRequest) -> QuerySet[Sitting]:
    """The sittings ``sittings`` would list for the request (raises as :func:`resolvers.sittings.apply_filter`)."""
    access.require(request.principal, Operation.EXPORT_SITTINGS)
    return apply_filter(visible_sittings(request.principal), request.spec)


async def prepare_export(
    *, principal: Principal, spec: SittingFilter | None = None, order: SittingOrder | None = None
) -> tuple[ExportRequest, int]:
    """The export of the sittings ``sittings(filter: spec, orderBy: order)`` gives ``principal``, and how many rows it holds now.

    Rule: ``exportSittings`` (ORG_ADMIN and ANALYST their organisation, PLATFORM_ADMIN all;
    docs/RULES.md, "Who sees what"). One COUNT statement.

    Raises:
        Forbidden: the rule refuses the role.
        BadArgument: a malformed filter, exactly as ``sittings`` refuses it.
    """
    request = ExportRequest(principal, spec, order or SittingOrder())
    return request, await _matching(request).count()


def export_pages(request: ExportRequest, *, page_size: int = EXPORT_PAGE_SIZE) -> AsyncIterator[list[tuple]]:
    """The request's rows, a list of up to ``page_size`` tuples (one value per :data:`COLUMNS` entry) at a time.

    Access and the filter are checked at once, before anything is read; each
    page is one statement, ordered by the sort field then id and starting
    strictly after the previous page's last row, so a row added while the
    file streams is read at most once. A row whose sort value changes while
    the file streams (a sitting re-recorded with another score or takenAt)
    can appear twice or not at all: pages are separate statements, not one
    snapshot (README.md, "CSV export"). Values are as the driver returns them: ids as primary keys,
    enums as their values, datetimes as ISO text (SQLite) or aware datetimes
    (PostgreSQL), null as None; :func:`csv_chunks` writes them.

    Raises:
        Forbidden: the ``exportSittings`` rule refuses the request's role.
        BadArgument: a malformed filter.
    """
    queryset = _matching(request)
    key = SortKey(request.order.field, request.order.descending)
    return _pages(queryset, key, _PATHS.index(key.field), page_size)


async def _pages(queryset: QuerySet[Sitting], key: SortKey, sort_index: int, size: int) -> AsyncIterator[list[tuple]]:
    prefix = "-" if key.descending else ""
    ordered = queryset.order_by(f"{prefix}{key.field}", f"{prefix}id")
    sort_field = _model_field(key.field)
    direction = "DESC" if key.descending else "ASC"
    order = f'page."{sort_index}" {direction}, page."0" {direction}'
    reading = asyncio.ensure_future(_page(ordered, size, order))
    try:
        while True:
            rows = await reading
            if len(rows) == size:
                # Read the next page while the caller writes this one.
                last = rows[-1]
                after = strictly_after(key, sort_field.to_python_value(last[sort_index]), last[0])
                reading = asyncio.ensure_future(_page(ordered.filter(after), size, order))
            if rows:
                yield rows
            if len(rows) < size:
                return
    finally:
        if not reading.done():
            reading.cancel()


async def _page(queryset: QuerySet[Sitting], size: int, order: str) -> list[tuple]:
    """The first ``size`` rows of ``queryset`` as the driver returns them: a tuple-like row per sitting, :data:`COLUMNS` order.

    The ORM writes the statement; the values are not converted through its
    fields, which would cost more than the rest of the export.
    """
    statement = Statement(Sitting._meta.db)
    # The ORM selects an annotation twice (as itself, and as the value asked for): keep the columns asked for.
    page = statement.subquery(queryset.annotate(**CURRENT_CERTIFICATE).limit(size).values_list(*_PATHS))
    sql = f"SELECT {_PAGE_COLUMNS} FROM ({page}) AS page ORDER BY {order}"
    _, rows = await statement.conn.execute_query(sql, statement.params)
    return list(rows)


def _model_field(path: str) -> Any:
    """The model field at ORM ``path`` from Sitting (e.g. ``"test_taker__name"`` → TestTaker.name)."""
    model: Any = Sitting
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.fields_map[relation].related_model
    return model._meta.fields_map[name]


_REPEATING_IDS = frozenset({"Organisation", "Test"})
"""ID types that repeat from row to row: each of their IDs is encoded once per file."""
_VALUES = tuple(i for i, column in enumerate(COLUMNS) if column.kind == Kind.VALUE)


class _PageWriter:
    """Writes pages of the driver's rows as lines of the file (by each column's kind, :data:`COLUMNS`; :mod:`resolvers.csv_fields`).

    A page is converted column by column: its rows are transposed, each
    column is mapped to its fields, and the fields are joined back into
    lines, so that the loops run in C wherever a value needs no Python (a
    global ID, time or value already written, a column of plain text).
    Global IDs of :data:`_REPEATING_IDS` are kept for the file (a handful per
    organisation); times and values for a page, so memory stays flat.
    """

    def __init__(self) -> None:
        self._ids = tuple((i, GlobalIds(type_name), type_name in _REPEATING_IDS) for i, type_name in _IDS)

    def __call__(self, rows: list[tuple]) -> bytes:
        """The lines of ``rows`` (at least one), each ending CRLF, in UTF-8."""
        columns = list(zip(*rows, strict=True))
        fields: list[Iterable[Any]] = list(columns)
        for index, global_ids, repeating in self._ids:
            pks = columns[index]
            fields[index] = map(global_ids.__getitem__, pks) if repeating else global_ids.encode_all(pks)
        instants, values, texts = InstantFields(), ValueFields(), TextFields()
        for index in _INSTANTS:
            fields[index] = map(instants.__getitem__, columns[index])
        for index in _VALUES:
            fields[index] = map(values.__getitem__, columns[index])
        for index in _TEXTS:
            if not plain_texts(columns[index]):
                fields[index] = map(texts.__getitem__, columns[index])
        # Encoding line by line keeps the ASCII lines narrow: the page as one text would be as wide as its widest character.
        return b"\r\n".join(map(str.encode, map(",".join, zip(*fields, strict=True)))) + b"\r\n"


async def csv_chunks(pages: AsyncIterator[list[tuple]]) -> AsyncIterator[bytes]:
    """The CSV file of ``pages`` (from :func:`export_pages`), one UTF-8 chunk per page after the header's.

    RFC 4180, byte for byte as Python's ``csv.writer`` writes it with its
    defaults and CRLF line ends: comma-separated, a field quoted when it
    holds a comma, quote or line break (quotes doubled); a null is an empty
    field. Free text a spreadsheet would run as a formula (starting with
    ``=``, ``+``, ``-``, ``@``, ``|``, ``%``) is written as defusedcsv's
    writer writes it (a leading ``'``, ``|`` as ``\\|``), and what it leaves
    alone but OWASP lists gets the ``'`` too (a leading tab or carriage
    return, a negative number): OWASP, "CSV Injection". No other column can
    start with those. Each page is converted column by column and sent as
    one chunk. Closing this generator closes ``pages``.
    """
    yield (",".join(map(field, HEADER)) + "\r\n").encode()
    write = _PageWriter()
    try:
        async for page in pages:
            yield write(page)
    finally:
        await pages.aclose()
