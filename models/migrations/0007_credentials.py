from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0006_lifecycle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StatusList',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='status_lists', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'status_list', 'app': 'models', 'pk_attr': 'id', 'table_description': "One revocation status list of an organisation's credentials (Bitstring Status List v1.0)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Certificate',
            name='credential_key',
            field=fields.CharField(null=True, max_length=300),
        ),
        ops.AddField(
            model_name='Certificate',
            name='signing_key',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Certificate',
            name='status_list',
            field=fields.ForeignKeyField('models.StatusList', source_field='status_list_id', null=True, db_constraint=True, to_field='id', related_name='certificates', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Certificate',
            name='status_list_index',
            field=fields.IntField(null=True),
        ),
        ops.AddConstraint(
            model_name='Certificate',
            constraint=UniqueConstraint(fields=('status_list', 'status_list_index'), name=None),
        ),
    ]
