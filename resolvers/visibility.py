"""Which objects a principal may read (DESIGN.md, "Who sees what"), by type.

Objects outside these sets are NOT_FOUND / ``null``, never revealed.
"""

from __future__ import annotations

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from models import (
    Certificate,
    CreditTransaction,
    Notification,
    Organisation,
    Test,
    TestTaker,
)
from models.enums import Role
from resolvers.errors import Forbidden
from resolvers.principal import Principal
from resolvers.sittings import REVIEWER_CERTIFICATE_STATUSES, visible_sittings

CREDIT_READERS = (Role.ORG_ADMIN, Role.ANALYST, Role.PLATFORM_ADMIN)


def visible_certificates(principal: Principal) -> QuerySet[Certificate]:
    """Certificates of visible sittings; reviewers see those under review or approved and not yet issued."""
    if principal.role is Role.SECURITY_REVIEWER:
        return Certificate.filter(status__in=REVIEWER_CERTIFICATE_STATUSES)
    if principal.role is Role.PLATFORM_ADMIN:
        return Certificate.all()
    return Certificate.filter(sitting_id__in=Subquery(visible_sittings(principal).values("id")))


def visible_organisations(principal: Principal) -> QuerySet[Organisation]:
    if principal.role is Role.PLATFORM_ADMIN:
        return Organisation.all()
    if principal.organisation_id is not None:
        return Organisation.filter(id=principal.organisation_id)
    return Organisation.filter(id__in=Subquery(visible_sittings(principal).values("organisation_id")))


def visible_test_takers(principal: Principal) -> QuerySet[TestTaker]:
    if principal.role is Role.PLATFORM_ADMIN:
        return TestTaker.all()
    if principal.role is Role.TEST_TAKER:
        return TestTaker.filter(id=principal.test_taker_id)
    return TestTaker.filter(id__in=Subquery(visible_sittings(principal).values("test_taker_id")))


def visible_notifications(principal: Principal) -> QuerySet[Notification]:
    if principal.role is Role.TEST_TAKER:
        return Notification.filter(test_taker_id=principal.test_taker_id)
    return Notification.filter(id=-1)


def visible_credit_transactions(principal: Principal) -> QuerySet[CreditTransaction]:
    if principal.role is Role.PLATFORM_ADMIN:
        return CreditTransaction.all()
    if principal.role in (Role.ORG_ADMIN, Role.ANALYST):
        return CreditTransaction.filter(organisation_id=principal.organisation_id)
    return CreditTransaction.filter(id=-1)


VISIBLE = {
    "Sitting": visible_sittings,
    "Certificate": visible_certificates,
    "Organisation": visible_organisations,
    "TestTaker": visible_test_takers,
    "Notification": visible_notifications,
    "CreditTransaction": visible_credit_transactions,
    "Test": lambda principal: Test.all(),
}


async def fetch_visible(principal: Principal, type_name: str, pk: int):
    """The ``type_name`` row with ``pk`` if ``principal`` may read it, else None."""
    scope = VISIBLE.get(type_name)
    if scope is None:
        return None
    return await scope(principal).get_or_none(id=pk)


def ensure_can_read_credits(principal: Principal, organisation_id: int) -> None:
    """Credits are read by the organisation's admins and analysts and by platform admins.

    Raises:
        Forbidden: anyone else.
    """
    if principal.role not in CREDIT_READERS or (
        principal.role is not Role.PLATFORM_ADMIN and principal.organisation_id != organisation_id
    ):
        raise Forbidden("only the organisation's admins and analysts may read its credits")


def can_see_render_errors(principal: Principal) -> bool:
    """Render failures are operational detail for reviewers and platform admins (issue: "visible to reviewers")."""
    return principal.role in (Role.SECURITY_REVIEWER, Role.PLATFORM_ADMIN)
