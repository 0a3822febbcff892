from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from orders_service.ids import new_order_id, new_user_id
from orders_service.lifecycle import OrderNotificationStatus, OrderStatus, SequencingType
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
            name='User',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_user_id, unique=True, db_index=True, max_length=40)),
                ('name', fields.CharField(max_length=200)),
                ('email', fields.CharField(max_length=254)),
                ('phone_number', fields.CharField(null=True, description='E.164', max_length=16)),
                ('address', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A person who may receive kits. Created by the user domain (here: the seed command).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DNAKitOrder',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_order_id, unique=True, db_index=True, max_length=40)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.RESTRICT)),
                ('sequencing_type', fields.CharEnumField(description='WHOLE_EXOME: whole-exome-sequencing\nWHOLE_GENOME: whole-genome-sequencing\nTARGETED: targeted-sequencing\nGENOTYPING_ARRAY: genotyping-array', enum_type=SequencingType, max_length=40)),
                ('shipping_info', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=OrderStatus.PLACED, description='PLACED: placed\nSHIPPED: shipped\nDELIVERED: delivered\nSAMPLE_RECEIVED: sample_received\nCOMPLETED: completed\nCANCELLED: cancelled', enum_type=OrderStatus, max_length=20)),
                ('requested_channel', fields.CharField(null=True, max_length=32)),
                ('notification_channel', fields.CharField(null=True, max_length=32)),
                ('notification_id', fields.CharField(null=True, max_length=64)),
                ('notification_status', fields.CharEnumField(default=OrderNotificationStatus.PENDING, description='PENDING: pending\nQUEUED: queued\nDELIVERED: delivered\nFAILED: failed', enum_type=OrderNotificationStatus, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'dna_kit_orders', 'app': 'models', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A kit ordered for a user, with the state of the notification that told them.'},
            bases=['Model'],
        ),
    ]
