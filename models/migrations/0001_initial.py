import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.enums import (
    CertificateStatus,
    CertificationStatus,
    CreditTransactionKind,
    EmailTemplate,
    IneligibilityReason,
    NotificationKind,
    PhotoCheck,
)


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('actor', fields.CharField(max_length=200)),
                ('actor_role', fields.CharField(max_length=40)),
                ('action', fields.CharField(max_length=60)),
                ('object_type', fields.CharField(max_length=40)),
                ('object_id', fields.CharField(max_length=64)),
                ('detail', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_event', 'app': 'models', 'indexes': [Index(fields=['object_type', 'object_id'])], 'pk_attr': 'id', 'table_description': 'Who did what to which object, when. detail is a small JSON object.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Organisation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('credit_balance', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'organisation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A customer organisation. credit_balance ≥ 0 and equals the sum of its ledger.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditTransaction',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='credit_transactions', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='PURCHASE: PURCHASE\nCERTIFICATION: CERTIFICATION', enum_type=CreditTransactionKind, max_length=20)),
                ('delta', fields.IntField()),
                ('balance_after', fields.IntField()),
                ('reference', fields.CharField(null=True, max_length=200)),
                ('actor', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'credit_transaction', 'app': 'models', 'unique_together': (('organisation', 'kind', 'reference'),), 'pk_attr': 'id', 'table_description': 'One ledger row: delta credits (+purchase, −certification), never updated.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='idempotency_records', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=200)),
                ('request_hash', fields.CharField(max_length=64)),
                ('result', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotency_record', 'app': 'models', 'unique_together': (('organisation', 'key'),), 'pk_attr': 'id', 'table_description': 'The stored result of a successful credit-spending call, per organisation and key.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Test',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('score_max', fields.IntField(default=100)),
                ('min_certifiable_score', fields.IntField()),
                ('cefr_mapping', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'test', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A test product: its score scale and the minimum certifiable score (inclusive).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TestTaker',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('email', fields.CharField(max_length=320)),
                ('email_key', fields.CharField(unique=True, max_length=320)),
                ('locale', fields.CharField(default='en', max_length=20)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'test_taker', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A candidate, one per e-mail address (email_key is the case-folded address).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Sitting',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('external_id', fields.CharField(unique=True, max_length=200)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='sittings', on_delete=OnDelete.CASCADE)),
                ('test_taker', fields.ForeignKeyField('models.TestTaker', source_field='test_taker_id', db_constraint=True, to_field='id', related_name='sittings', on_delete=OnDelete.CASCADE)),
                ('test', fields.ForeignKeyField('models.Test', source_field='test_id', db_constraint=True, to_field='id', related_name='sittings', on_delete=OnDelete.CASCADE)),
                ('taken_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('score', fields.IntField()),
                ('photo_check', fields.CharEnumField(description='PASSED: PASSED\nFAILED: FAILED', enum_type=PhotoCheck, max_length=10)),
                ('status', fields.CharEnumField(description='UNSELECTED: UNSELECTED\nSELECTED: SELECTED\nIN_PROGRESS: IN_PROGRESS\nCERTIFIED: CERTIFIED\nINELIGIBLE: INELIGIBLE', enum_type=CertificationStatus, max_length=20)),
                ('ineligibility_reason', fields.CharEnumField(null=True, description='LOW_SCORE: LOW_SCORE\nPHOTO_PROBLEM: PHOTO_PROBLEM', enum_type=IneligibilityReason, max_length=20)),
                ('selected_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('selected_by', fields.CharField(null=True, max_length=200)),
                ('certified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('certified_by', fields.CharField(null=True, max_length=200)),
                ('certification_batch', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'sitting', 'app': 'models', 'indexes': [Index(fields=['organisation_id', 'status']), Index(fields=['organisation_id', 'taken_at', 'id']), Index(fields=['organisation_id', 'score', 'id']), Index(fields=['certification_batch'])], 'pk_attr': 'id', 'table_description': 'One test sitting recorded by the delivery platform, and its certification state.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Certificate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sitting', fields.OneToOneField('models.Sitting', source_field='sitting_id', db_constraint=True, to_field='id', related_name='certificate', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(description='AWAITING_CLAIM: AWAITING_CLAIM\nUNDER_REVIEW: UNDER_REVIEW\nREJECTED: REJECTED\nAPPROVED: APPROVED\nISSUED: ISSUED', enum_type=CertificateStatus, max_length=20)),
                ('holder_name', fields.CharField(null=True, max_length=400)),
                ('photo_key', fields.CharField(null=True, max_length=300)),
                ('submitted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reviewed_by', fields.CharField(null=True, max_length=200)),
                ('rejection_reason', fields.TextField(null=True, unique=False)),
                ('verification_code', fields.CharField(null=True, unique=True, max_length=64)),
                ('pdf_key', fields.CharField(null=True, max_length=300)),
                ('png_key', fields.CharField(null=True, max_length=300)),
                ('pdf_sha256', fields.CharField(null=True, max_length=64)),
                ('issued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('render_attempts', fields.IntField(default=0)),
                ('render_next_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('render_error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'certificate', 'app': 'models', 'indexes': [Index(fields=['status', 'submitted_at']), Index(fields=['render_next_at'])], 'pk_attr': 'id', 'table_description': 'The certificate of one sitting.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('test_taker', fields.ForeignKeyField('models.TestTaker', source_field='test_taker_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='CERTIFICATE_READY_TO_CLAIM: CERTIFICATE_READY_TO_CLAIM\nCERTIFICATE_ISSUED: CERTIFICATE_ISSUED\nCERTIFICATE_REJECTED: CERTIFICATE_REJECTED', enum_type=NotificationKind, max_length=40)),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('certificate', fields.ForeignKeyField('models.Certificate', source_field='certificate_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification', 'app': 'models', 'indexes': [Index(fields=['test_taker_id', 'created_at', 'id'])], 'pk_attr': 'id', 'table_description': 'An in-app message for one test taker (read_at is null while unread).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxEmail',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('to_address', fields.CharField(max_length=320)),
                ('template', fields.CharEnumField(description='CERTIFICATE_READY_TO_CLAIM: CERTIFICATE_READY_TO_CLAIM\nCERTIFICATE_ISSUED: CERTIFICATE_ISSUED\nCERTIFICATE_REJECTED: CERTIFICATE_REJECTED', enum_type=EmailTemplate, max_length=40)),
                ('certificate', fields.ForeignKeyField('models.Certificate', source_field='certificate_id', null=True, db_constraint=True, to_field='id', related_name='emails', on_delete=OnDelete.CASCADE)),
                ('subject', fields.CharField(null=True, max_length=300)),
                ('body', fields.TextField(null=True, unique=False)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'outbox_email', 'app': 'models', 'indexes': [Index(fields=['sent_at', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'An e-mail waiting to be delivered.'},
            bases=['Model'],
        ),
    ]
