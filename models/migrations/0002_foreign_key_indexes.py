from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['certificate_id']),
        ),
        ops.AddIndex(
            model_name='OutboxEmail',
            index=Index(fields=['certificate_id']),
        ),
        ops.AddIndex(
            model_name='Sitting',
            index=Index(fields=['test_taker_id']),
        ),
    ]
