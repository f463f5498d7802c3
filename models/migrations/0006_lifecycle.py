from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.enums import (
    CertificateStatus,
    CreditTransactionKind,
    EmailTemplate,
    IneligibilityReason,
    NotificationKind,
    ReminderKind,
)

# One current certificate per sitting: any number of LAPSED ones stay beside it (docs/RULES.md,
# "The certificate's life"). Both databases take a partial unique index in the same words.
CURRENT_CERTIFICATE = (
    'CREATE UNIQUE INDEX IF NOT EXISTS "certificate_current_sitting" ON "certificate" ("sitting_id") '
    "WHERE status <> 'LAPSED'"
)
DROP_CURRENT_CERTIFICATE = 'DROP INDEX IF EXISTS "certificate_current_sitting"'
# SQLite alters a column by copying its table, and the copy leaves the table's indexes behind (those
# of the models and 0005's expression indexes): put every one back under its name, once every table
# has been copied. PostgreSQL alters in place and keeps them.
SQLITE_INDEXES = (
    'CREATE INDEX IF NOT EXISTS "idx_certificate_render__a815c8" ON "certificate" ("render_next_at")',
    'CREATE INDEX IF NOT EXISTS "idx_certificate_status_47a330" ON "certificate" ("status", "submitted_at")',
    'CREATE INDEX IF NOT EXISTS "idx_notificatio_certifi_4b1f92" ON "notification" ("certificate_id")',
    'CREATE INDEX IF NOT EXISTS "idx_notificatio_test_ta_2f84b6" ON "notification" ("test_taker_id", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "idx_outbox_emai_certifi_09df1d" ON "outbox_email" ("certificate_id")',
    'CREATE INDEX IF NOT EXISTS "idx_outbox_emai_sent_at_a62d34" ON "outbox_email" ("sent_at", "next_attempt_at")',
    'CREATE INDEX IF NOT EXISTS "idx_sitting_certifi_84fa49" ON "sitting" ("certified_at")',
    'CREATE INDEX IF NOT EXISTS "idx_sitting_certifi_b2f8cd" ON "sitting" ("certification_batch")',
    'CREATE INDEX IF NOT EXISTS "idx_sitting_organis_2777c2" ON "sitting" ("organisation_id", "score", "id")',
    'CREATE INDEX IF NOT EXISTS "idx_sitting_organis_d1392e" ON "sitting" ("organisation_id", "taken_at", "id")',
    'CREATE INDEX IF NOT EXISTS "idx_sitting_organis_d5cfb3" ON "sitting" ("organisation_id", "status")',
    'CREATE INDEX IF NOT EXISTS "idx_sitting_taken_a_104ad4" ON "sitting" ("taken_at")',
    'CREATE INDEX IF NOT EXISTS "idx_sitting_test_ta_1a3e68" ON "sitting" ("test_taker_id")',
    'CREATE INDEX IF NOT EXISTS "sitting_analytics_certified" ON "sitting" ("organisation_id", "test_id", "status", strftime(\'%Y-%m\', "certified_at"), "score", "certified_at", "taken_at", "test_taker_id")',
    'CREATE INDEX IF NOT EXISTS "sitting_analytics_taken" ON "sitting" ("organisation_id", "test_id", "status", strftime(\'%Y-%m\', "taken_at"), "score", "taken_at", "certified_at", "test_taker_id")',
)


async def restore_sqlite_indexes(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "sqlite":
        return
    for sql in SQLITE_INDEXES:
        await client.execute_script(sql)


async def keep_indexes(apps, schema_editor) -> None:
    """Nothing to undo: the indexes belong to the model before and after."""


class Migration(migrations.Migration):
    dependencies = [('models', '0005_sqlite_analytics_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Reminder',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('certificate', fields.ForeignKeyField('models.Certificate', source_field='certificate_id', db_constraint=True, to_field='id', related_name='reminders', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='CLAIM: CLAIM\nEXPIRY: EXPIRY', enum_type=ReminderKind, max_length=10)),
                ('due_for', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lead_seconds', fields.BigIntField()),
                ('sent_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reminder', 'app': 'models', 'unique_together': (('certificate_id', 'kind', 'due_for', 'lead_seconds'),), 'pk_attr': 'id', 'table_description': 'One reminder sent: a certificate, what about, how long before which moment.'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Certificate',
            name='sitting',
            field=fields.ForeignKeyField('models.Sitting', source_field='sitting_id', db_constraint=True, to_field='id', related_name='certificates', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Certificate',
            name='status',
            field=fields.CharEnumField(description='AWAITING_CLAIM: AWAITING_CLAIM\nUNDER_REVIEW: UNDER_REVIEW\nREJECTED: REJECTED\nAPPROVED: APPROVED\nISSUED: ISSUED\nLAPSED: LAPSED\nREVOKED: REVOKED', enum_type=CertificateStatus, max_length=20),
        ),
        ops.AddField(
            model_name='Certificate',
            name='claim_deadline',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Certificate',
            name='lapsed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Certificate',
            name='revocation_reason',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Certificate',
            name='revoked_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Certificate',
            name='revoked_by',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddIndex(
            model_name='Certificate',
            index=Index(fields=['status', 'claim_deadline']),
        ),
        ops.RunSQL(CURRENT_CERTIFICATE, DROP_CURRENT_CERTIFICATE),
        ops.AddIndex(
            model_name='Certificate',
            index=Index(fields=['sitting_id']),
        ),
        ops.AlterField(
            model_name='CreditTransaction',
            name='kind',
            field=fields.CharEnumField(description='PURCHASE: PURCHASE\nCERTIFICATION: CERTIFICATION\nREFUND: REFUND', enum_type=CreditTransactionKind, max_length=20),
        ),
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='CERTIFICATE_READY_TO_CLAIM: CERTIFICATE_READY_TO_CLAIM\nCERTIFICATE_ISSUED: CERTIFICATE_ISSUED\nCERTIFICATE_REJECTED: CERTIFICATE_REJECTED\nCLAIM_REMINDER: CLAIM_REMINDER\nCLAIM_LAPSED: CLAIM_LAPSED\nCERTIFICATE_EXPIRING: CERTIFICATE_EXPIRING\nCERTIFICATE_REVOKED: CERTIFICATE_REVOKED', enum_type=NotificationKind, max_length=40),
        ),
        ops.AlterField(
            model_name='OutboxEmail',
            name='template',
            field=fields.CharEnumField(description='CERTIFICATE_READY_TO_CLAIM: CERTIFICATE_READY_TO_CLAIM\nCERTIFICATE_ISSUED: CERTIFICATE_ISSUED\nCERTIFICATE_REJECTED: CERTIFICATE_REJECTED\nCLAIM_REMINDER: CLAIM_REMINDER\nCLAIM_LAPSED: CLAIM_LAPSED\nCERTIFICATE_EXPIRING: CERTIFICATE_EXPIRING\nCERTIFICATE_REVOKED: CERTIFICATE_REVOKED', enum_type=EmailTemplate, max_length=40),
        ),
        # No AlterField for Sitting.ineligibility_reason: EXPIRED fits its VARCHAR(20), and altering it would make
        # SQLite copy the sitting table with its columns in another order, which changes the analytics' query plans
        # (tests/resolvers/test_analytics_plans.py). A later makemigrations proposes it again: leave it out there too.
        ops.AddField(
            model_name='Sitting',
            name='expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Sitting',
            index=Index(fields=['status', 'expires_at']),
        ),
        ops.AlterField(
            model_name='Test',
            name='score_max',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Test',
            name='validity_months',
            field=fields.IntField(null=True),
        ),
        ops.RunPython(restore_sqlite_indexes, keep_indexes),
    ]
