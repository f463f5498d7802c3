from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# Certificates claimed before the column existed: their latest submission is the best record of the first.
BACKFILL_CLAIMED_AT = (
    "UPDATE certificate SET claimed_at = submitted_at WHERE claimed_at IS NULL AND submitted_at IS NOT NULL"
)


class Migration(migrations.Migration):
    dependencies = [('models', '0003_test_taker_search_key')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Certificate',
            name='claimed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunSQL(BACKFILL_CLAIMED_AT, ops.RunSQL.noop),
        # The whole table's time range, which the analytics read to find a time zone's offsets, is then two look-ups.
        ops.AddIndex(
            model_name='Sitting',
            index=Index(fields=['taken_at']),
        ),
        ops.AddIndex(
            model_name='Sitting',
            index=Index(fields=['certified_at']),
        ),
    ]
