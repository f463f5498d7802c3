from tortoise import migrations
from tortoise.migrations import operations as ops

# SQLite has no hash aggregation: a GROUP BY that no index orders sorts every row. These covering
# indexes hold each sitting's analytics key in the order resolvers/analytics.py groups by
# (organisation, test, status, UTC month, score) and the columns the sittings filter reads, so the
# grouping streams one index. The month is the expression resolvers/analytics_sql.py `utc_month_key`
# writes (the same expression, or SQLite would not match it). PostgreSQL hashes and needs neither.
SQLITE_INDEXES = (
    (
        'CREATE INDEX IF NOT EXISTS "sitting_analytics_taken" ON "sitting" ("organisation_id", "test_id", "status", '
        """strftime('%Y-%m', "taken_at"), "score", "taken_at", "certified_at", "test_taker_id")"""
    ),
    (
        'CREATE INDEX IF NOT EXISTS "sitting_analytics_certified" ON "sitting" ("organisation_id", "test_id", "status", '
        """strftime('%Y-%m', "certified_at"), "score", "certified_at", "taken_at", "test_taker_id")"""
    ),
)
DROP_SQLITE_INDEXES = (
    'DROP INDEX IF EXISTS "sitting_analytics_taken"',
    'DROP INDEX IF EXISTS "sitting_analytics_certified"',
)


async def _on_sqlite(schema_editor, statements) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "sqlite":
        return
    for sql in statements:
        await client.execute_script(sql)


async def create_sqlite_indexes(apps, schema_editor) -> None:
    await _on_sqlite(schema_editor, SQLITE_INDEXES)


async def drop_sqlite_indexes(apps, schema_editor) -> None:
    await _on_sqlite(schema_editor, DROP_SQLITE_INDEXES)


class Migration(migrations.Migration):
    dependencies = [("models", "0004_certificate_claimed_at")]

    initial = False

    operations = [
        ops.RunPython(create_sqlite_indexes, drop_sqlite_indexes),
    ]
