from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from notification_gateway.ids import new_callback_id
from notification_gateway.status import CallbackStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Callback',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_callback_id, unique=True, db_index=True, description='webhook-id', max_length=40)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='callbacks', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2048)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=CallbackStatus.PENDING, description='PENDING: pending\nSENDING: sending\nDELIVERED: delivered\nABANDONED: abandoned', enum_type=CallbackStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=64)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=300)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'callbacks', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'A signed status callback owed to the caller, sent until the caller accepts it.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Notification',
            name='reference',
            field=fields.CharField(null=True, description="The caller's own reference.", max_length=100),
        ),
    ]
