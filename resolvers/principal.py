"""Who is calling: the authenticated principal every verb receives."""

from __future__ import annotations

from dataclasses import dataclass

from models.enums import Role
from resolvers.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, built from a verified JWT.

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

    def require(self, *roles: Role) -> None:
        """Raise :class:`Forbidden` unless the principal has one of ``roles``."""
        if self.role not in roles:
            raise Forbidden(f"role {self.role.value} may not do this")

    def require_organisation(self, *roles: Role) -> int:
        """Require one of ``roles`` with an organisation claim; return the organisation id."""
        self.require(*roles)
        if self.organisation_id is None:
            raise Forbidden("the token names no organisation")
        return self.organisation_id

    def require_test_taker(self) -> int:
        """Require a test_taker principal; return its test taker id."""
        self.require(Role.TEST_TAKER)
        if self.test_taker_id is None:
            raise Forbidden("the token names no test taker")
        return self.test_taker_id
