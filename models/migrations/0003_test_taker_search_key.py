from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def fill_search_keys(apps, schema_editor) -> None:
    """Backfill search_key for test takers recorded before the column existed."""
    from models.sitting import test_taker_search_key

    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    rows = await client.execute_query_dict("SELECT id, name, email FROM test_taker WHERE search_key IS NULL")
    update = (
        "UPDATE test_taker SET search_key = $1 WHERE id = $2"
        if postgres
        else "UPDATE test_taker SET search_key = ? WHERE id = ?"
    )
    for row in rows:
        await client.execute_query(update, [test_taker_search_key(row["name"], row["email"]), row["id"]])

class Migration(migrations.Migration):
    dependencies = [('models', '0002_foreign_key_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='TestTaker',
            name='search_key',
            field=fields.CharField(null=True, max_length=600),
        ),
        ops.RunPython(fill_search_keys, ops.RunPython.noop),
    ]
