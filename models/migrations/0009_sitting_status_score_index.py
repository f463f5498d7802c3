from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """A second (organisation, status) index of sittings that also holds the score: a dashboard's count of its
    filter's sittings (statuses and a minimum score) reads the index alone, without a row per sitting.

    The (organisation, status) index is then dropped and made again, so that it is the newer of the two:
    where both serve a query equally (the rows of some statuses, with no score bound), SQLite's planner
    takes the index created last, and only this one lists a status's rows in id order (the table's order).
    """

    dependencies = [('models', '0008_approval_notification')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Sitting',
            index=Index(fields=['organisation_id', 'status', 'score']),
        ),
        ops.RemoveIndex(model_name='Sitting', fields=['organisation_id', 'status']),
        ops.AddIndex(
            model_name='Sitting',
            index=Index(fields=['organisation_id', 'status']),
        ),
    ]
