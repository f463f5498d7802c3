from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """A second (organisation, status) index of sittings that also holds the score: a dashboard's count of its
    filter's sittings (statuses and a minimum score) reads the index alone, without a row per sitting."""

    dependencies = [('models', '0008_approval_notification')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Sitting',
            index=Index(fields=['organisation_id', 'status', 'score']),
        ),
    ]
