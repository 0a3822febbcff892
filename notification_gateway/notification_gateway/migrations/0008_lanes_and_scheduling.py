from tortoise import migrations
from tortoise.migrations import operations as ops
from apikit.fields import DatetimeField
from notification_gateway.lanes import DueIndex, Priority
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0007_circuit_breakers')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Notification',
            name='critical',
            field=fields.BooleanField(default=False, db_default=False, description='Sent even within quiet hours.'),
        ),
        ops.AddField(
            model_name='Notification',
            name='item_key',
            field=fields.CharField(null=True, description='Hash of batch key and recipient id: one notification each.', max_length=64),
        ),
        ops.AddField(
            model_name='Notification',
            name='priority',
            field=fields.CharEnumField(default=Priority.TRANSACTIONAL, db_default='transactional', description='TRANSACTIONAL: transactional\nBULK: bulk', enum_type=Priority, max_length=16),
        ),
        ops.AddField(
            model_name='Notification',
            name='send_at',
            field=DatetimeField(null=True, description='The time the caller asked for, if any.', auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=DueIndex(fields=['priority', 'next_attempt_at'], name='notifications_due_by_priority'),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['caller', 'reference']),
        ),
        ops.AddConstraint(
            model_name='Notification',
            constraint=UniqueConstraint(fields=('caller', 'item_key'), name=None),
        ),
    ]
