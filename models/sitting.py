"""Tests, test takers and their sittings."""

from tortoise import fields
from tortoise.models import Model

from models.enums import CertificationStatus, IneligibilityReason, PhotoCheck


class Test(Model):
    """A test product: its score scale and the minimum certifiable score (inclusive)."""

    __test__ = False  # not a pytest test class

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    score_max = fields.IntField(default=100)
    min_certifiable_score = fields.IntField()
    cefr_mapping = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "test"


class TestTaker(Model):
    """A candidate, one per e-mail address (email_key is the case-folded address)."""

    __test__ = False  # not a pytest test class

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=320)
    email_key = fields.CharField(max_length=320, unique=True)
    locale = fields.CharField(max_length=20, default="en")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "test_taker"


class Sitting(Model):
    """One test sitting recorded by the delivery platform, and its certification state.

    certification_batch groups the sittings certified by one call; it is the
    reference of that call's ledger row, so every certification is
    traceable to its actor and its credits.
    """

    id = fields.IntField(primary_key=True)
    external_id = fields.CharField(max_length=200, unique=True)
    organisation = fields.ForeignKeyField("models.Organisation", related_name="sittings")
    test_taker = fields.ForeignKeyField("models.TestTaker", related_name="sittings")
    test = fields.ForeignKeyField("models.Test", related_name="sittings")
    taken_at = fields.DatetimeField()
    score = fields.IntField()
    photo_check = fields.CharEnumField(PhotoCheck, max_length=10)
    status = fields.CharEnumField(CertificationStatus, max_length=20)
    ineligibility_reason = fields.CharEnumField(IneligibilityReason, max_length=20, null=True)
    selected_at = fields.DatetimeField(null=True)
    selected_by = fields.CharField(max_length=200, null=True)
    certified_at = fields.DatetimeField(null=True)
    certified_by = fields.CharField(max_length=200, null=True)
    certification_batch = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "sitting"
        indexes = (
            ("organisation_id", "status"),
            ("organisation_id", "taken_at", "id"),
            ("organisation_id", "score", "id"),
            ("certification_batch",),
            ("test_taker_id",),
        )
