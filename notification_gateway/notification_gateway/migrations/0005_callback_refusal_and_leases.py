from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_recipient_address_key')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Notification',
            name='callback_refusal',
            field=fields.CharField(null=True, description='Why the callback asked for will not be sent.', max_length=300),
        ),
    ]
