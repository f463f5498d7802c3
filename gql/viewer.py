"""``viewer`` and ``node``: who am I, and any object by global ID."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.ids import from_global_id
from gql.types.certificate import Certificate
from gql.types.common import Node, Role
from gql.types.notification import Notification
from gql.types.organisation import CreditTransaction, Organisation
from gql.types.sitting import Sitting, Test, TestTaker
from resolvers import access
from resolvers.access import Operation

TYPES = {
    "Organisation": Organisation,
    "CreditTransaction": CreditTransaction,
    "Test": Test,
    "TestTaker": TestTaker,
    "Sitting": Sitting,
    "Certificate": Certificate,
    "Notification": Notification,
}


@strawberry.type
class Viewer:
    subject: str
    role: Role
    organisation: Organisation | None
    test_taker: TestTaker | None


@strawberry.type
class ViewerQuery:
    @strawberry.field(description="The authenticated caller.")
    async def viewer(self, info: Info) -> Viewer:
        principal = info.context.require_principal()
        access.require(principal, Operation.VIEWER)
        organisation = test_taker = None
        if principal.organisation_id is not None:
            row = await info.context.loaders.organisation_by_id.load(principal.organisation_id)
            organisation = Organisation.from_model(row) if row else None
        if principal.test_taker_id is not None:
            row = await info.context.loaders.test_taker_by_id.load(principal.test_taker_id)
            test_taker = TestTaker.from_model(row) if row else None
        return Viewer(subject=principal.subject, role=principal.role, organisation=organisation, test_taker=test_taker)

    @strawberry.field(description="Any object the viewer may read, by ID; null otherwise.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        principal = info.context.require_principal()
        access.require(principal, Operation.NODE)
        decoded = from_global_id(id)
        if decoded is None or decoded[0] not in TYPES:
            return None
        row = await access.fetch_visible(principal, *decoded)
        return TYPES[decoded[0]].from_model(row) if row is not None else None
