"""The audit trail: the one place that writes an audit row.

Every certification, claim, decision, issue, purchase, recording and
creation writes one row (docs/RULES.md, "Domain objects"), inside the
transaction of the change it records when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import AuditEvent
from resolvers.principal import Principal

SYSTEM_ROLE = "system"


@dataclass(frozen=True, slots=True)
class SystemActor:
    """A background job acting on its own behalf: audited as ``system:{name}`` with role ``system``."""

    name: str

    @property
    def actor(self) -> str:
        return f"{SYSTEM_ROLE}:{self.name}"


def audit_row(
    *,
    actor: Principal | SystemActor,
    action: str,
    object_type: str,
    object_id: int | str,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """The unsaved audit row: ``actor`` did ``action`` to ``object_type`` ``object_id``.

    ``at`` (aware) dates a row of history, such as the demo's (None: the time
    it is saved). :func:`record_audit` saves one; a bulk writer saves many.
    """
    role = actor.role.value if isinstance(actor, Principal) else SYSTEM_ROLE
    row = AuditEvent(
        actor=actor.actor,
        actor_role=role,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        detail=detail,
    )
    if at is not None:
        row.created_at = at
    return row


async def record_audit(
    *,
    actor: Principal | SystemActor,
    action: str,
    object_type: str,
    object_id: int | str,
    detail: dict[str, Any] | None = None,
    conn: BaseDBAsyncClient | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Write one audit row: ``actor`` did ``action`` to ``object_type`` ``object_id``.

    ``detail`` is a small JSON-able object (or None); ``conn`` is the
    caller's transaction (None: the default connection); ``at`` (aware) the
    time of the change when the caller works at a given time, like the
    lifecycle job (None: the time it is saved). One INSERT.
    """
    row = audit_row(actor=actor, action=action, object_type=object_type, object_id=object_id, detail=detail, at=at)
    await row.save(using_db=conn)
    return row
