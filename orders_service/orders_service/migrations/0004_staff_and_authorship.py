from tortoise import migrations
from tortoise.migrations import operations as ops
from apikit.migrations import AlterEnumMembers
from apikit.fields import DatetimeField
from orders_service.ids import new_staff_id
from orders_service.lifecycle import OrderNotificationStatus, OrderChangeKind, OutboxStatus, StaffRole
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index
from orders_service.contacts import search_text


async def index_user_search(apps, schema_editor):
    """Fill `search_text` for existing users; on PostgreSQL, index it by trigrams for `LIKE '%q%'`."""
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    update = "UPDATE users SET search_text = $1 WHERE id = $2" if postgres else "UPDATE users SET search_text = ? WHERE id = ?"
    for row in await client.execute_query_dict("SELECT id, name, email, phone_number FROM users"):
        await client.execute_query(update, [search_text(row["name"], row["email"], row["phone_number"]), row["id"]])
    if postgres:
        await client.execute_script("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        await client.execute_script(
            "CREATE INDEX IF NOT EXISTS users_search_text_trgm ON users USING gin (search_text gin_trgm_ops)"
        )

class Migration(migrations.Migration):
    dependencies = [('models', '0003_outbox_order_reference')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OrderChange',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('models.DNAKitOrder', source_field='order_id', db_constraint=True, to_field='id', related_name='changes', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='PLACED: placed\nSTATUS: status\nNOTIFICATION_RESENT: notification_resent\nNOTIFICATION_CANCELLED: notification_cancelled', enum_type=OrderChangeKind, max_length=32)),
                ('value', fields.CharField(null=True, description='The new status, or the channel.', max_length=64)),
                ('actor', fields.CharField(description='staff:<e-mail> or token:<principal>.', max_length=300)),
                ('at', DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'order_changes', 'app': 'models', 'indexes': [Index(fields=['order_id', 'at'])], 'pk_attr': 'id', 'table_description': 'Who did what to an order, and when: placing it, each status move, each notification action.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SignInFailure',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(description='address:<ip> or account:<e-mail>.', max_length=300)),
                ('failed_at', DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sign_in_failures', 'app': 'models', 'indexes': [Index(fields=['key', 'failed_at'])], 'pk_attr': 'id', 'table_description': 'One failed sign-in, counted per client address and per account to slow password guessing.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Staff',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_staff_id, unique=True, db_index=True, max_length=40)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('name', fields.CharField(max_length=200)),
                ('role', fields.CharEnumField(description='ADMIN: admin\nSUPPORT: support', enum_type=StaffRole, max_length=16)),
                ('password_hash', fields.CharField(description='argon2id, encoded with its parameters.', max_length=200)),
                ('disabled', fields.BooleanField(default=False)),
                ('created_at', DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_sign_in_at', DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A member of staff who signs in to the console. Never deleted: orders name them.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffSession',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, description="SHA-256 of the cookie's token.", max_length=64)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('data', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen_at', DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_sessions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A signed-in browser. The cookie holds a random token, and only its SHA-256 is stored here.'},
            bases=['Model'],
        ),
        AlterEnumMembers(
            model_name='DNAKitOrder',
            name='notification_status',
            field=fields.CharEnumField(default=OrderNotificationStatus.PENDING, description='PENDING: pending\nQUEUED: queued\nDELIVERED: delivered\nFAILED: failed\nCANCELLED: cancelled', enum_type=OrderNotificationStatus, max_length=16),
        ),
        ops.AddField(
            model_name='DNAKitOrder',
            name='placed_by',
            field=fields.CharField(null=True, description='staff:<e-mail> or token:<principal>, null before it was kept.', max_length=300),
        ),
        ops.AddIndex(
            model_name='DNAKitOrder',
            index=Index(fields=['notification_status', 'id']),
        ),
        ops.AddIndex(
            model_name='DNAKitOrder',
            index=Index(fields=['placed_by', 'id']),
        ),
        AlterEnumMembers(
            model_name='OutboxMessage',
            name='status',
            field=fields.CharEnumField(default=OutboxStatus.PENDING, description='PENDING: pending\nSENT: sent\nFAILED: failed\nCANCELLED: cancelled', enum_type=OutboxStatus, max_length=16),
        ),
        ops.AddField(
            model_name='User',
            name='search_text',
            field=fields.CharField(default='', db_default='', description='Lower-case name, e-mail and phone digits, for search.', max_length=600),
        ),
        ops.RunPython(index_user_search),
    ]
