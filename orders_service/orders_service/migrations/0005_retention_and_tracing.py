from tortoise import migrations
from tortoise.migrations import operations as ops
from apikit.fields import DatetimeField
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_staff_and_authorship')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Lease',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('owner', fields.CharField(max_length=64)),
                ('expires_at', DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'leases', 'app': 'models', 'pk_attr': 'name', 'table_description': 'Named leases, so one replica at a time runs a job such as the retention purge.'},
            bases=['LeaseBase'],
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['status', 'sent_at']),
        ),
        ops.AlterField(
            model_name='WebhookReceipt',
            name='received_at',
            field=DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='traceparent',
            field=fields.CharField(null=True, description='W3C trace context of its order.', max_length=55),
        ),
    ]
