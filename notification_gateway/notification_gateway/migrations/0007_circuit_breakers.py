from tortoise import migrations
from tortoise.migrations import operations as ops
from apikit.fields import DatetimeField
from notification_gateway.status import CircuitState
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_receipts_and_suppression')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChannelState',
            fields=[
                ('channel', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('circuit', fields.CharEnumField(default=CircuitState.CLOSED, description='CLOSED: closed\nOPEN: open\nHALF_OPEN: half_open', enum_type=CircuitState, max_length=16)),
                ('failures', fields.IntField(default=0, description='Retryable failures in the current window.')),
                ('failures_since', DatetimeField(null=True, description='When the current failure window began.', auto_now=False, auto_now_add=False)),
                ('opened_at', DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('opened_by', fields.CharField(null=True, description="`failures`, or the operator's name.", max_length=64)),
                ('probe_at', DatetimeField(null=True, description='Open: when a probe may go. Half-open: when it lapses.', auto_now=False, auto_now_add=False)),
                ('paused_until', DatetimeField(null=True, description="A provider's Retry-After holds the channel.", auto_now=False, auto_now_add=False)),
                ('next_slot_at', DatetimeField(null=True, description="The next send the channel's rate allows.", auto_now=False, auto_now_add=False)),
                ('updated_at', DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'channel_states', 'app': 'models', 'pk_attr': 'channel', 'table_description': 'Flow control of one channel, shared by every gateway process.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='DeliveryAttempt',
            name='counted',
            field=fields.BooleanField(default=True, db_default=True, description="False for a probe or a provider's pause: no attempt of the channel used up."),
        ),
    ]
