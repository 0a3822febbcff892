"""Events gain the source `gateway`: a fallback hop the gateway made after a receipt, or around an open
circuit. The column is unchanged (a VARCHAR of the same length)."""

from tortoise import migrations

from apikit.migrations import AlterEnumMembers
from notification_gateway.status import EventSource
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0008_lanes_and_scheduling')]

    initial = False

    operations = [
        AlterEnumMembers(
            model_name='NotificationEvent',
            name='source',
            field=fields.CharEnumField(description='CALLER: caller\nWORKER: worker\nPROVIDER: provider\nOPERATOR: operator\nGATEWAY: gateway', enum_type=EventSource, max_length=16),
        ),
    ]
