from tortoise import migrations
from tortoise.migrations import operations as ops
from apikit.fields import DatetimeField
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_cancellation')]

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
            model_name='Callback',
            index=Index(fields=['notification_id', 'status']),
        ),
        ops.AddField(
            model_name='Notification',
            name='callback_refusal',
            field=fields.CharField(null=True, description='Why the callback asked for will not be sent.', max_length=300),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['status', 'finished_at']),
        ),
        ops.AddField(
            model_name='Callback',
            name='traceparent',
            field=fields.CharField(null=True, description='W3C trace context of its delivery.', max_length=55),
        ),
        ops.AddField(
            model_name='Notification',
            name='traceparent',
            field=fields.CharField(null=True, description='W3C trace context of its request.', max_length=55),
        ),
    ]
