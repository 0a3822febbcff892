from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from orders_service.ids import new_outbox_id
from orders_service.lifecycle import OutboxStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_outbox_id, unique=True, db_index=True, max_length=40)),
                ('subject', fields.CharField(null=True, description='What it is about, e.g. order:ord_1.', max_length=64)),
                ('payload', fields.JSONField(description='The POST /notify body.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('request_id', fields.CharField(null=True, max_length=128)),
                ('status', fields.CharEnumField(default=OutboxStatus.PENDING, description='PENDING: pending\nSENT: sent\nFAILED: failed', enum_type=OutboxStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=64)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=300)),
                ('gateway_id', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_messages', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'A notification to hand to the gateway, written in the same transaction as what it is about.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookReceipt',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'webhook_receipts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A status callback already applied: its `webhook-id` makes a replay a no-op.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='contacts',
            field=fields.JSONField(default=dict, description='Other contact points, e.g. push_topic.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
