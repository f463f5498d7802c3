"""Every audit row is written by record_audit: who (``role:subject``), in which role, did what to which object."""

from __future__ import annotations

from models import AuditEvent
from models.enums import Role
from resolvers.audit import SystemActor, record_audit
from resolvers.principal import Principal


async def test_a_principal_is_audited_by_its_role_and_subject(db):
    # given an org admin
    admin = Principal(subject="ada", role=Role.ORG_ADMIN, organisation_id=7)
    # when an action of theirs is audited
    await record_audit(actor=admin, action="certify", object_type="Organisation", object_id=7, detail={"sittings": 2})
    # then one row names them, their role, the object and the detail
    row = await AuditEvent.get()
    assert (row.actor, row.actor_role, row.action, row.object_type, row.object_id, row.detail) == (
        "org_admin:ada",
        "org_admin",
        "certify",
        "Organisation",
        "7",
        {"sittings": 2},
    )


async def test_a_background_job_is_audited_as_system(db):
    await record_audit(actor=SystemActor("renderer"), action="issue_certificate", object_type="Certificate", object_id=3)
    row = await AuditEvent.get()
    assert (row.actor, row.actor_role, row.object_id, row.detail) == ("system:renderer", "system", "3", None)
