"""Events gain the source `gateway` (a fallback hop the gateway made after a receipt, or around an
open circuit; the column is unchanged, a VARCHAR of the same length), and provider receipts an index
for the retention purge: a purged notification's receipts, and old ones that never matched a send."""

from tortoise import migrations

from apikit.migrations import AlterEnumMembers
from notification_gateway.status import EventSource
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0008_lanes_and_scheduling')]

    initial = False

    operations = [
        AlterEnumMembers(
            model_name='NotificationEvent',
            name='source',
            field=fields.CharEnumField(description='CALLER: caller\nWORKER: worker\nPROVIDER: provider\nOPERATOR: operator\nGATEWAY: gateway', enum_type=EventSource, max_length=16),
        ),
        ops.AddIndex(
            model_name='ProviderReceiptRecord',
            index=Index(fields=['notification_id', 'received_at']),
        ),
    ]
