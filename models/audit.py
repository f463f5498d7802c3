"""Audit trail and stored idempotent results."""

from tortoise import fields
from tortoise.models import Model


class AuditEvent(Model):
    """Who did what to which object, when. detail is a small JSON object."""

    id = fields.IntField(primary_key=True)
    actor = fields.CharField(max_length=200)
    actor_role = fields.CharField(max_length=40)
    action = fields.CharField(max_length=60)
    object_type = fields.CharField(max_length=40)
    object_id = fields.CharField(max_length=64)
    detail = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_event"
        indexes = (("object_type", "object_id"),)


class IdempotencyRecord(Model):
    """The stored result of a successful credit-spending call, per organisation and key.

    request_hash fingerprints the request; kept at least 24 hours (docs/RULES.md, "Idempotency").
    """

    id = fields.IntField(primary_key=True)
    organisation = fields.ForeignKeyField("models.Organisation", related_name="idempotency_records")
    key = fields.CharField(max_length=200)
    request_hash = fields.CharField(max_length=64)
    result = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_record"
        unique_together = (("organisation", "key"),)
