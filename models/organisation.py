"""Organisations and their append-only credit ledger."""

from tortoise import fields
from tortoise.models import Model

from models.enums import CreditTransactionKind


class Organisation(Model):
    """A customer organisation. credit_balance ≥ 0 and equals the sum of its ledger."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    credit_balance = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "organisation"


class CreditTransaction(Model):
    """One ledger row: delta credits (+purchase, −certification), never updated.

    reference is the payment reference of a purchase, or the certification
    batch id; it is unique per organisation and kind, which makes a repeated
    purchase reference add nothing.
    """

    id = fields.IntField(primary_key=True)
    organisation = fields.ForeignKeyField("models.Organisation", related_name="credit_transactions")
    kind = fields.CharEnumField(CreditTransactionKind, max_length=20)
    delta = fields.IntField()
    balance_after = fields.IntField()
    reference = fields.CharField(max_length=200, null=True)
    actor = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "credit_transaction"
        unique_together = (("organisation", "kind", "reference"),)
