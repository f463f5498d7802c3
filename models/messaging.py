"""In-app notifications and the durable e-mail outbox."""

from tortoise import fields
from tortoise.models import Model

from models.enums import EmailTemplate, NotificationKind, ReminderKind


class Notification(Model):
    """An in-app message for one test taker (read_at is null while unread)."""

    id = fields.IntField(primary_key=True)
    test_taker = fields.ForeignKeyField("models.TestTaker", related_name="notifications")
    kind = fields.CharEnumField(NotificationKind, max_length=40)
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    certificate = fields.ForeignKeyField("models.Certificate", related_name="notifications", null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        indexes = (("test_taker_id", "created_at", "id"), ("certificate_id",))


class OutboxEmail(Model):
    """An e-mail waiting to be delivered.

    template and certificate say what to write; subject/body are
    filled when the message is first rendered for delivery. sent_at set
    means the SMTP server accepted it: it is never sent again.
    """

    id = fields.IntField(primary_key=True)
    to_address = fields.CharField(max_length=320)
    template = fields.CharEnumField(EmailTemplate, max_length=40)
    certificate = fields.ForeignKeyField("models.Certificate", related_name="emails", null=True)
    subject = fields.CharField(max_length=300, null=True)
    body = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox_email"
        indexes = (("sent_at", "next_attempt_at"), ("certificate_id",))


class Reminder(Model):
    """One reminder sent: a certificate, what about, how long before which moment.

    ``due_for`` is the claim deadline or expiry the reminder counted back
    from and ``lead_seconds`` how far; the unique key makes sending it an
    ``INSERT … ON CONFLICT DO NOTHING`` that only one run can win, so each
    reminder goes out once, also after a restart (docs/RULES.md,
    "The certificate's life"). A deadline moved later arms its reminders again.
    """

    id = fields.IntField(primary_key=True)
    certificate = fields.ForeignKeyField("models.Certificate", related_name="reminders")
    kind = fields.CharEnumField(ReminderKind, max_length=10)
    due_for = fields.DatetimeField()
    lead_seconds = fields.BigIntField()
    sent_at = fields.DatetimeField()

    class Meta:
        table = "reminder"
        unique_together = (("certificate_id", "kind", "due_for", "lead_seconds"),)
