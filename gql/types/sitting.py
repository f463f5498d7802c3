"""Tests, test takers, sittings, their connections, filter and order inputs."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from gql.context import Info
from gql.ids import decode_id, to_global_id
from gql.loaders import PageKey, loaded, prefetch
from gql.types.common import (
    CertificateStatus,
    CertificationStatus,
    IneligibilityReason,
    Node,
    PageInfo,
    PhotoCheck,
    edges_of,
    selects,
)
from gql.types.organisation import Organisation
from models import Sitting as SittingRow
from models import Test as TestRow
from models import TestTaker as TestTakerRow
from resolvers import sittings as sitting_rules
from resolvers.pagination import Page
from resolvers.verification import level_for

if TYPE_CHECKING:
    from gql.types.certificate import Certificate


@strawberry.type
class Test(Node):
    row: strawberry.Private[TestRow]
    id: strawberry.ID
    name: str
    min_certifiable_score: int
    score_max: int | None = strawberry.field(description="The highest possible score; null: the scale has no maximum.")
    validity_months: int | None = strawberry.field(
        description="Months a certificate stays valid, counted from the sitting's takenAt; null: it never expires."
    )

    @classmethod
    def from_model(cls, row: TestRow) -> Test:
        return cls(
            row=row,
            id=strawberry.ID(to_global_id("Test", row.id)),
            name=row.name,
            min_certifiable_score=row.min_certifiable_score,
            score_max=row.score_max,
            validity_months=row.validity_months,
        )

    @strawberry.field(description="The test's own level mapping, lowest first; null: its results have no level.")
    def levels(self) -> list[Level] | None:
        mapping = self.row.cefr_mapping
        if not mapping:
            return None
        return [Level(level=name, min_score=minimum) for name, minimum in sorted(mapping.items(), key=lambda i: i[1])]


@strawberry.type(description="One level of a test's mapping: a score of at least minScore reaches it.")
class Level:
    level: str
    min_score: int


@strawberry.type
class TestTaker(Node):
    row: strawberry.Private[TestTakerRow]
    id: strawberry.ID
    name: str
    email: str

    @classmethod
    def from_model(cls, row: TestTakerRow) -> TestTaker:
        return cls(row=row, id=strawberry.ID(to_global_id("TestTaker", row.id)), name=row.name, email=row.email)

    @strawberry.field(description="This test taker's sittings that the viewer may read.")
    async def sittings(self, info: Info, first: int | None = None, after: str | None = None) -> SittingConnection:
        key = PageKey(info.context.require_principal(), self.row.id, first, after, selects(info, "totalCount"))
        return SittingConnection.from_page(await info.context.loaders.sitting_page_by_test_taker.load(key))


@strawberry.type
class Sitting(Node):
    row: strawberry.Private[SittingRow]
    id: strawberry.ID
    taken_at: datetime
    score: int
    photo_check: PhotoCheck
    status: CertificationStatus
    ineligibility_reason: IneligibilityReason | None
    selected_at: datetime | None
    certified_at: datetime | None

    @classmethod
    def from_model(cls, row: SittingRow) -> Sitting:
        return cls(
            row=row,
            id=strawberry.ID(to_global_id("Sitting", row.id)),
            taken_at=row.taken_at,
            score=row.score,
            photo_check=row.photo_check,
            status=row.status,
            ineligibility_reason=row.ineligibility_reason,
            selected_at=row.selected_at,
            certified_at=row.certified_at,
        )

    @strawberry.field
    async def organisation(self, info: Info) -> Organisation:
        return Organisation.from_model(await info.context.loaders.organisation_by_id.load(self.row.organisation_id))

    @strawberry.field
    def test_taker(self, info: Info) -> TestTaker:
        return loaded(info.context.loaders.test_taker_by_id, self.row.test_taker_id, TestTaker.from_model)

    @strawberry.field
    def test(self, info: Info) -> Test:
        return loaded(info.context.loaders.test_by_id, self.row.test_id, Test.from_model)

    @strawberry.field(
        description="The level the test's own mapping gives the score (e.g. B2); null: the test has none."
    )
    def level(self, info: Info) -> str | None:
        return loaded(
            info.context.loaders.test_by_id, self.row.test_id, lambda test: level_for(self.row.score, test.cefr_mapping)
        )

    @strawberry.field
    def certificate(self, info: Info) -> Annotated[Certificate, strawberry.lazy("gql.types.certificate")] | None:
        from gql.types.certificate import Certificate

        return loaded(
            info.context.loaders.certificate_by_sitting_id,
            self.row.id,
            lambda row: Certificate.from_model(row) if row is not None else None,
        )

    @strawberry.field(
        description="Every certificate this sitting has had, newest first (a lapsed claim leaves one behind)."
    )
    async def certificates(self, info: Info) -> list[Annotated[Certificate, strawberry.lazy("gql.types.certificate")]]:
        from gql.types.certificate import Certificate

        return [
            Certificate.from_model(row)
            for row in await info.context.loaders.certificates_by_sitting_id.load(self.row.id)
        ]


@strawberry.type
class SittingEdge:
    cursor: str
    node: Sitting


@strawberry.type
class SittingConnection:
    edges: list[SittingEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    async def prefetched(cls, info: Info, page: Page[SittingRow]) -> SittingConnection:
        """The connection of ``page``, its rows' test takers, tests and current certificates loaded first
        where the selection reads them (``edges.node.testTaker`` …), one batch each, so that the nodes'
        fields resolve without awaiting (:func:`gql.loaders.loaded`)."""
        loaders = info.context.loaders
        wanted = (
            (("testTaker",), loaders.test_taker_by_id, "test_taker_id"),
            (("test", "level"), loaders.test_by_id, "test_id"),
            (("certificate",), loaders.certificate_by_sitting_id, "id"),
        )
        loads = [
            prefetch(loader, {getattr(row, column) for row in page.items})
            for names, loader, column in wanted
            if page.items and any(selects(info, "edges", "node", name) for name in names)
        ]
        if loads:
            await asyncio.gather(*loads)
        return cls.from_page(page)

    @classmethod
    def from_page(cls, page: Page[SittingRow]) -> SittingConnection:
        return cls(
            edges=edges_of(page, SittingEdge, Sitting.from_model),
            page_info=PageInfo.from_page(page),
            total_count=page.total_count,
        )


@strawberry.type
class StatusCount:
    status: CertificationStatus
    count: int


@strawberry.type
class SittingStats:
    total: int
    by_status: list[StatusCount]
    average_score: float | None


@strawberry.input
class SittingFilter:
    status: list[CertificationStatus] | None = None
    test_id: strawberry.ID | None = None
    score_min: int | None = None
    score_max: int | None = None
    taken_after: datetime | None = None
    taken_before: datetime | None = None
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive match on the test taker's name or email."
    )
    certificate_status: list[CertificateStatus] | None = strawberry.field(
        default=None, description="Sittings whose current certificate has one of these statuses."
    )

    def to_spec(self) -> sitting_rules.SittingFilter:
        """Decode IDs; an ID that is not a Test ID becomes MALFORMED_ID (refused by the filter rules)."""
        test_id = None
        if self.test_id is not None:
            test_id = decode_id(self.test_id, "Test") or sitting_rules.MALFORMED_ID
        return sitting_rules.SittingFilter(
            status=tuple(self.status) if self.status is not None else None,
            test_id=test_id,
            score_min=self.score_min,
            score_max=self.score_max,
            taken_after=self.taken_after,
            taken_before=self.taken_before,
            search=self.search,
            certificate_status=(
                tuple(s.value for s in self.certificate_status) if self.certificate_status is not None else None
            ),
        )


@strawberry.enum
class SittingOrderField(Enum):
    TAKEN_AT = sitting_rules.SittingOrderField.TAKEN_AT
    SCORE = sitting_rules.SittingOrderField.SCORE
    TEST_TAKER_NAME = sitting_rules.SittingOrderField.TEST_TAKER_NAME


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input
class SittingOrder:
    field: SittingOrderField
    direction: OrderDirection

    def to_spec(self) -> sitting_rules.SittingOrder:
        return sitting_rules.SittingOrder(field=self.field.value, descending=self.direction is OrderDirection.DESC)


@strawberry.type
class SittingStatusEvent:
    sitting: Sitting
    previous_status: CertificationStatus
    status: CertificationStatus
    at: datetime
    # Where streams reached by the same change and row share one execution of it (server/event_sharing.py).
    shared_executions: strawberry.Private[dict | None] = None
    source_key: strawberry.Private[tuple] = ()
