from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from models.enums import NotificationKind


class Migration(migrations.Migration):
    """CERTIFICATE_APPROVED joins the notification kinds (in-app only: no e-mail template of that name)."""

    dependencies = [('models', '0007_credentials')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='CERTIFICATE_READY_TO_CLAIM: CERTIFICATE_READY_TO_CLAIM\nCERTIFICATE_ISSUED: CERTIFICATE_ISSUED\nCERTIFICATE_REJECTED: CERTIFICATE_REJECTED\nCLAIM_REMINDER: CLAIM_REMINDER\nCLAIM_LAPSED: CLAIM_LAPSED\nCERTIFICATE_EXPIRING: CERTIFICATE_EXPIRING\nCERTIFICATE_REVOKED: CERTIFICATE_REVOKED\nCERTIFICATE_APPROVED: CERTIFICATE_APPROVED', enum_type=NotificationKind, max_length=40),
        ),
    ]
