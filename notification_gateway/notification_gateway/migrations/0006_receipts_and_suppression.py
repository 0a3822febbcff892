"""Receipts, events, suppressions and confirmation timers.

Old rows: `delivered` used to mean that the provider accepted the message, which
is now `sent`; so delivered notifications become `sent`, and delivered attempts
`sent`. `failed` keeps its meaning.
"""

from tortoise import migrations

from apikit.migrations import AlterEnumMembers
from tortoise.migrations import operations as ops
from apikit.fields import DatetimeField
from notification_gateway.ids import new_suppression_id
from notification_gateway.status import AttemptOutcome, EventSource, NotificationStatus, TimerStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_callback_refusal_and_leases')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConfirmationTimer',
            fields=[
                ('next_attempt_at', DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=64)),
                ('lease_expires_at', DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='timers', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(description='The channel whose receipt is awaited.', max_length=32)),
                ('status', fields.CharEnumField(default=TimerStatus.WAITING, description='WAITING: waiting\nCHECKING: checking\nDONE: done', enum_type=TimerStatus, max_length=16)),
            ],
            options={'table': 'confirmation_timers', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'Due when a sent notification should have been confirmed delivered (a row, so restarts keep it).'},
            bases=['LeasedRow'],
        ),
        ops.CreateModel(
            name='NotificationEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('sequence', fields.IntField(description="1 for the notification's first event.")),
                ('status', fields.CharEnumField(description='QUEUED: queued\nSENDING: sending\nSENT: sent\nDELIVERED: delivered\nUNDELIVERED: undelivered\nBOUNCED: bounced\nFAILED: failed\nCANCELLED: cancelled\nSUPPRESSED: suppressed', enum_type=NotificationStatus, max_length=16)),
                ('channel', fields.CharField(max_length=32)),
                ('source', fields.CharEnumField(description='CALLER: caller\nWORKER: worker\nPROVIDER: provider\nOPERATOR: operator', enum_type=EventSource, max_length=16)),
                ('reason', fields.CharField(null=True, max_length=200)),
                ('occurred_at', DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification_events', 'app': 'models', 'unique_together': (('notification', 'sequence'),), 'pk_attr': 'id', 'table_description': "One change in a notification's life: what it became, when, who moved it, and why."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProviderReceiptRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=32)),
                ('event_id', fields.CharField(description="The provider's id of the receipt event.", max_length=128)),
                ('provider_reference', fields.CharField(max_length=128)),
                ('status', fields.CharField(max_length=16)),
                ('reason', fields.CharField(null=True, max_length=100)),
                ('occurred_at', DatetimeField(auto_now=False, auto_now_add=False)),
                ('received_at', DatetimeField(auto_now=False, auto_now_add=True)),
                ('notification_id', fields.CharField(null=True, description='Set once applied.', max_length=40)),
            ],
            options={'table': 'provider_receipts', 'app': 'models', 'unique_together': (('channel', 'event_id'),), 'indexes': [Index(fields=['channel', 'provider_reference'])], 'pk_attr': 'id', 'table_description': 'A receipt as a provider sent it: kept to spot duplicates, and to apply one that came before'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Suppression',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_suppression_id, unique=True, db_index=True, max_length=40)),
                ('channel', fields.CharField(max_length=32)),
                ('address_hash', fields.CharField(max_length=64)),
                ('reason', fields.CharField(null=True, description='bounced, undelivered, opted_out', max_length=32)),
                ('undelivered_in_a_row', fields.IntField(default=0)),
                ('suppressed_at', DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'suppressions', 'app': 'models', 'unique_together': (('channel', 'address_hash'),), 'pk_attr': 'id', 'table_description': 'An address a channel must not send to: it bounced, went undelivered N times running, or opted out.'},
            bases=['Model'],
        ),
        AlterEnumMembers(
            model_name='DeliveryAttempt',
            name='outcome',
            field=fields.CharEnumField(description='SENT: sent\nRETRYABLE: retryable\nPERMANENT: permanent\nSUPPRESSED: suppressed', enum_type=AttemptOutcome, max_length=16),
        ),
        ops.AddField(
            model_name='DeliveryAttempt',
            name='provider_reference',
            field=fields.CharField(null=True, description="The provider's id for the message, which receipts name.", max_length=128),
        ),
        ops.AddIndex(
            model_name='DeliveryAttempt',
            index=Index(fields=['channel', 'provider_reference']),
        ),
        AlterEnumMembers(
            model_name='Notification',
            name='status',
            field=fields.CharEnumField(default=NotificationStatus.QUEUED, description='QUEUED: queued\nSENDING: sending\nSENT: sent\nDELIVERED: delivered\nUNDELIVERED: undelivered\nBOUNCED: bounced\nFAILED: failed\nCANCELLED: cancelled\nSUPPRESSED: suppressed', enum_type=NotificationStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Notification',
            name='confirm_within_seconds',
            field=fields.FloatField(null=True, description='Fall back unless a `delivered` receipt comes this soon after `sent`.'),
        ),
        ops.AddField(
            model_name='Notification',
            name='event_count',
            field=fields.IntField(default=0, db_default=0, description='Events so far, numbering each status callback.'),
        ),
        ops.RunSQL(
            [
                "UPDATE notifications SET status = 'sent' WHERE status = 'delivered'",
                "UPDATE delivery_attempts SET outcome = 'sent' WHERE outcome = 'delivered'",
            ],
            reverse_sql=[
                "UPDATE notifications SET status = 'delivered' WHERE status = 'sent'",
                "UPDATE delivery_attempts SET outcome = 'delivered' WHERE outcome = 'sent'",
            ],
        ),
    ]
