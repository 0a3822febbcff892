from tortoise import migrations
from tortoise.migrations import operations as ops
from apikit.migrations import AlterEnumMembers
from notification_gateway.status import NotificationStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_recipient_address_key')]

    initial = False

    operations = [
        AlterEnumMembers(
            model_name='Notification',
            name='status',
            field=fields.CharEnumField(default=NotificationStatus.QUEUED, description='QUEUED: queued\nSENDING: sending\nDELIVERED: delivered\nFAILED: failed\nCANCELLED: cancelled', enum_type=NotificationStatus, max_length=16),
        ),
    ]
