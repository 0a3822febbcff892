from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from notification_gateway.ids import new_notification_id
from notification_gateway.status import AttemptOutcome, NotificationStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('principal', fields.CharField(max_length=64)),
                ('key', fields.CharField(max_length=255)),
                ('fingerprint', fields.CharField(max_length=64)),
                ('state', fields.CharField(max_length=16)),
                ('locked_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('response_status', fields.IntField(null=True)),
                ('response_body', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('response_headers', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotency_records', 'app': 'models', 'unique_together': (('principal', 'key'),), 'pk_attr': 'id'},
            bases=['IdempotencyRecordBase'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_notification_id, unique=True, db_index=True, max_length=40)),
                ('caller', fields.CharField(description='The calling service that created it.', max_length=64)),
                ('recipient_id', fields.CharField(description='The id the caller gave the recipient.', max_length=40)),
                ('recipient', fields.JSONField(description='name and contact points.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('message', fields.TextField(unique=False)),
                ('title', fields.CharField(null=True, max_length=200)),
                ('attributes', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('requested_channel', fields.CharField(null=True, max_length=32)),
                ('channel', fields.CharField(description='The channel being tried now.', max_length=32)),
                ('fallback_channels', fields.JSONField(default=list, description='Channels left to try, in order.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=NotificationStatus.QUEUED, description='QUEUED: queued\nSENDING: sending\nDELIVERED: delivered\nFAILED: failed', enum_type=NotificationStatus, max_length=16)),
                ('attempt_count', fields.IntField(default=0, description='Attempts so far, on every channel.')),
                ('attempts_on_channel', fields.IntField(default=0, description='Attempts on the current channel.')),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=64)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('callback_url', fields.CharField(null=True, max_length=2048)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notifications', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['caller', 'id']), Index(fields=['caller', 'recipient_id'])], 'pk_attr': 'id', 'table_description': 'One message to one recipient, and the queue entry that delivery workers claim.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeliveryAttempt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='attempts', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField(description='1 for the first attempt of this notification.')),
                ('channel', fields.CharField(max_length=32)),
                ('outcome', fields.CharEnumField(description='DELIVERED: delivered\nRETRYABLE: retryable\nPERMANENT: permanent', enum_type=AttemptOutcome, max_length=16)),
                ('provider_status', fields.IntField(null=True)),
                ('error', fields.CharField(null=True, max_length=500)),
                ('retry_after_seconds', fields.FloatField(null=True)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('duration_ms', fields.FloatField()),
            ],
            options={'table': 'delivery_attempts', 'app': 'models', 'unique_together': (('notification', 'number'),), 'pk_attr': 'id', 'table_description': 'One call to a provider and how it ended.'},
            bases=['Model'],
        ),
    ]
