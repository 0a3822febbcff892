from tortoise import migrations

from apikit.migrations import AlterEnumMembers
from tortoise.migrations import operations as ops
from orders_service.lifecycle import OrderNotificationStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_retention_and_tracing')]

    initial = False

    operations = [
        AlterEnumMembers(
            model_name='DNAKitOrder',
            name='notification_status',
            field=fields.CharEnumField(default=OrderNotificationStatus.PENDING, description='PENDING: pending\nQUEUED: queued\nSENT: sent\nDELIVERED: delivered\nUNDELIVERED: undelivered\nBOUNCED: bounced\nFAILED: failed\nCANCELLED: cancelled\nSUPPRESSED: suppressed', enum_type=OrderNotificationStatus, max_length=16),
        ),
        ops.AddField(
            model_name='DNAKitOrder',
            name='notification_reason',
            field=fields.CharField(null=True, description="Why the notification has its status, in the gateway's words.", max_length=200),
        ),
        ops.AddField(
            model_name='DNAKitOrder',
            name='notification_sequence',
            field=fields.IntField(default=0, db_default=0, description="The gateway's number of the last change applied (older ones are ignored)."),
        ),
    ]
