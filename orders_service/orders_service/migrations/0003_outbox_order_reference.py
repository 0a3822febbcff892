from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# Rows written before this migration named their order in `subject` ("order:<id>").
SUBJECT_TO_ORDER = (
    "UPDATE outbox_messages SET order_id = substr(subject, 7) "
    "WHERE subject LIKE 'order:%' AND substr(subject, 7) IN (SELECT id FROM dna_kit_orders)"
)
ORDER_TO_SUBJECT = "UPDATE outbox_messages SET subject = 'order:' || order_id WHERE order_id IS NOT NULL"

class Migration(migrations.Migration):
    dependencies = [('models', '0002_outbox_and_contacts')]

    initial = False

    operations = [
        ops.RenameField(model_name='OutboxMessage', old_name='gateway_id', new_name='notification_id'),
        ops.AddField(
            model_name='OutboxMessage',
            name='order',
            field=fields.ForeignKeyField('models.DNAKitOrder', source_field='order_id', null=True, description='The order it tells the user about, if any.', db_constraint=True, to_field='id', related_name='outbox_messages', on_delete=OnDelete.RESTRICT),
        ),
        ops.RunSQL(SUBJECT_TO_ORDER, reverse_sql=ORDER_TO_SUBJECT),
        ops.RemoveField(model_name='OutboxMessage', name='subject'),
    ]
