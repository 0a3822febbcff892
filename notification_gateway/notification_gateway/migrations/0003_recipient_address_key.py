from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_callbacks_and_references')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Notification',
            name='reference',
            field=fields.CharField(null=True, description='The own reference of the caller.', max_length=100),
        ),
        ops.AddField(
            model_name='Notification',
            name='address_key',
            field=fields.CharField(null=True, description='Hash of channel and address, for caps.', max_length=40),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['address_key', 'created_at']),
        ),
    ]
