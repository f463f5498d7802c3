"""Certificates: one per certified sitting, from claim to rendered files."""

from tortoise import fields
from tortoise.models import Model

from models.enums import CertificateStatus


class Certificate(Model):
    """The certificate of one sitting.

    Files are keys in the storage (photo_key, pdf_key, png_key);
    render_* fields drive the durable render queue: an APPROVED
    certificate with render_next_at not null is waiting to be rendered.
    submitted_at is the latest claim; claimed_at the first, kept when a
    rejected certificate is claimed again (what the certification funnel
    measures).

    A sitting has one current certificate (any status but LAPSED; a partial
    unique index keeps it so) and any number of lapsed ones
    (docs/RULES.md, "The certificate's life"). claim_deadline is when an
    AWAITING_CLAIM or REJECTED certificate lapses; revoked_* say who
    withdrew an ISSUED certificate, when and why.

    An ISSUED certificate is also a signed Open Badges 3.0 credential
    (docs/RULES.md, "Credentials"): its JSON is stored under credential_key,
    signed with the issuer key named signing_key (a Multikey, ``z6Mk…``); its
    revocation bit is entry status_list_index of status_list, unique within it.
    """

    id = fields.IntField(primary_key=True)
    sitting = fields.ForeignKeyField("models.Sitting", related_name="certificates")
    status = fields.CharEnumField(CertificateStatus, max_length=20)
    holder_name = fields.CharField(max_length=400, null=True)
    photo_key = fields.CharField(max_length=300, null=True)
    submitted_at = fields.DatetimeField(null=True)
    claimed_at = fields.DatetimeField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    reviewed_by = fields.CharField(max_length=200, null=True)
    rejection_reason = fields.TextField(null=True)
    verification_code = fields.CharField(max_length=64, null=True, unique=True)
    pdf_key = fields.CharField(max_length=300, null=True)
    png_key = fields.CharField(max_length=300, null=True)
    pdf_sha256 = fields.CharField(max_length=64, null=True)
    issued_at = fields.DatetimeField(null=True)
    render_attempts = fields.IntField(default=0)
    render_next_at = fields.DatetimeField(null=True)
    render_error = fields.TextField(null=True)
    claim_deadline = fields.DatetimeField(null=True)
    lapsed_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_by = fields.CharField(max_length=200, null=True)
    revocation_reason = fields.TextField(null=True)
    credential_key = fields.CharField(max_length=300, null=True)
    signing_key = fields.CharField(max_length=64, null=True)
    status_list = fields.ForeignKeyField("models.StatusList", related_name="certificates", null=True)
    status_list_index = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "certificate"
        unique_together = (("status_list", "status_list_index"),)
        indexes = (("status", "submitted_at"), ("render_next_at",), ("status", "claim_deadline"), ("sitting_id",))


class StatusList(Model):
    """One revocation status list of an organisation's credentials (Bitstring Status List v1.0).

    Its bits are not stored: bit i is set when the certificate holding entry
    i of the list is REVOKED. Entries are drawn at random, never reused; a
    list takes credentials until half of its entries are used, then the next
    list begins (docs/RULES.md, "Credentials").
    """

    id = fields.IntField(primary_key=True)
    organisation = fields.ForeignKeyField("models.Organisation", related_name="status_lists")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "status_list"
