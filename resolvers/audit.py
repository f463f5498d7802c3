"""The audit trail: the one place that writes an audit row.

Every certification, claim, decision, issue, purchase, recording and
creation writes one row (docs/RULES.md, "Domain objects"), inside the
transaction of the change it records when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
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


async def record_audit(
    *,
    actor: Principal | SystemActor,
    action: str,
    object_type: str,
    object_id: int | str,
    detail: dict[str, Any] | None = None,
    conn: BaseDBAsyncClient | None = None,
) -> AuditEvent:
    """Write one audit row: ``actor`` did ``action`` to ``object_type`` ``object_id``.

    ``detail`` is a small JSON-able object (or None); ``conn`` is the
    caller's transaction (None: the default connection). One INSERT.
    """
    role = actor.role.value if isinstance(actor, Principal) else SYSTEM_ROLE
    return await AuditEvent.create(
        actor=actor.actor,
        actor_role=role,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        detail=detail,
        using_db=conn,
    )
