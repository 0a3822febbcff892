from tortoise import migrations
from tortoise.migrations import operations as ops

# PostgreSQL only: every statement that adds outbox rows sends `NOTIFY outbox_messages` from inside
# its own transaction, so a relay in any process hears of the rows at the commit, not at its next
# poll. It fires once per statement and costs no round trip. SQLite has no NOTIFY; relays poll.
CREATE = """
CREATE OR REPLACE FUNCTION outbox_messages_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_messages', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_messages_notify AFTER INSERT ON outbox_messages
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_messages_notify();
"""
DROP = """
DROP TRIGGER IF EXISTS outbox_messages_notify ON outbox_messages;
DROP FUNCTION IF EXISTS outbox_messages_notify();
"""


def _on_postgres(script: str):
    async def run(apps, schema_editor) -> None:
        if schema_editor.client.capabilities.dialect == "postgres":
            await schema_editor.client.execute_script(script)

    return run


class Migration(migrations.Migration):
    dependencies = [('models', '0006_notification_receipts')]

    initial = False

    operations = [
        ops.RunPython(_on_postgres(CREATE), _on_postgres(DROP)),
    ]
