"""Who is calling: the authenticated principal every verb receives."""

from __future__ import annotations

from dataclasses import dataclass

from models.enums import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, built from a verified JWT.

    What it may see and do is decided in :mod:`resolvers.access`.
    ``organisation_id`` is set for org_admin and analyst, ``test_taker_id``
    for test_taker (database primary keys, not global IDs).
    """

    subject: str
    role: Role
    organisation_id: int | None = None
    test_taker_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller: ``role:subject``."""
        return f"{self.role.value}:{self.subject}"


async def missing_scope(principal: Principal) -> str | None:
    """What the principal's token names that does not exist ("organisation" or "test taker"), or None.

    One primary-key look-up per scope claim; a token of a platform-wide role
    names none.
    """
    from models import Organisation, TestTaker

    if principal.organisation_id is not None and not await Organisation.exists(id=principal.organisation_id):
        return "organisation"
    if principal.test_taker_id is not None and not await TestTaker.exists(id=principal.test_taker_id):
        return "test taker"
    return None
