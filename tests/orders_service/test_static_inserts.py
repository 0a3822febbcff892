"""The order path's inserts (`apikit.inserts.Insert`) write the rows `Model.create` writes: every
column of the table, with the model's defaults, and refuse a field they cannot fill."""

from __future__ import annotations

from datetime import datetime

import pytest
from tortoise import connections

from apikit.inserts import Insert
from orders_service.lifecycle import OrderChangeKind, SequencingType
from orders_service.models import DNAKitOrder, OrderChange, OutboxMessage
from orders_service.notifications import INSERT_OUTBOX
from orders_service.orders import INSERT_CHANGE, INSERT_ORDER
from tests.orders_service.conftest import SHIPPING

TIMESTAMPS = {"created_at", "updated_at", "at"}


async def _row(model, pk) -> dict:
    """The stored row, every column the table has, as the database gives it back."""
    db = connections.get("default")
    placeholder = "?" if db.capabilities.dialect == "sqlite" else "$1"
    _, rows = await db.execute_query(
        f'SELECT * FROM "{model._meta.db_table}" WHERE "id" = {placeholder}',  # noqa: S608 - the model's table
        [pk],
    )
    return dict(rows[0])


def _comparable(row: dict, model) -> dict:
    generated = set(model._meta.generated_db_fields)
    return {k: v for k, v in row.items() if k not in TIMESTAMPS | generated | {"id"}}


async def _same_rows(insert: Insert, values: dict, **create_values) -> None:
    model = insert.model
    ours = await insert.create(None, **values)
    theirs = await model.create(**create_values)
    ours_row, their_row = await _row(model, ours.pk), await _row(model, theirs.pk)
    assert ours_row.keys() == their_row.keys()
    assert _comparable(ours_row, model) == _comparable(their_row, model)
    for column in TIMESTAMPS & ours_row.keys():
        assert isinstance(getattr(ours, column), datetime)
        assert ours_row[column] is not None
    # every column of the table is written except those the database generates
    db = connections.get("default")
    written = {model._meta.fields_db_projection[name] for name in insert.columns(db)}
    assert written == ours_row.keys() - set(model._meta.generated_db_fields)
    # and the instance handed back is the stored row
    again = await model.get(pk=ours.pk)
    for name in model._meta.fields_db_projection:
        assert getattr(ours, name) == getattr(again, name), name


async def test_the_order_path_inserts_write_what_model_create_writes(client, ada):
    order = {
        "sequencing_type": SequencingType.WHOLE_EXOME,
        "shipping_info": SHIPPING,
        "requested_channel": "sms",
        "placed_by": "token:admin",
    }
    await _same_rows(INSERT_ORDER, {"user_id": ada.id, **order}, user=ada, **order)
    placed = await DNAKitOrder.filter(user_id=ada.id).first()
    change = {"kind": OrderChangeKind.PLACED, "actor": "token:admin"}
    await _same_rows(INSERT_CHANGE, {"order_id": placed.id, **change}, order=placed, **change)
    outbox = {
        "payload": {"recipient": {"email": "ada@example.com"}, "message": "Hi", "attributes": {}},
        "request_id": "r-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    now = datetime.now().astimezone()
    await _same_rows(
        INSERT_OUTBOX,
        {"order_id": placed.id, "next_attempt_at": now, **outbox},
        order=placed,
        next_attempt_at=now,
        **outbox,
    )


async def test_a_field_the_insert_cannot_fill_is_refused(client, ada):
    with pytest.raises(TypeError, match=r"DNAKitOrder\.sequencing_type"):
        await INSERT_ORDER.create(None, user_id=ada.id, shipping_info=SHIPPING)
    with pytest.raises(TypeError, match=r"OutboxMessage\.next_attempt_at"):
        await INSERT_OUTBOX.create(None, payload={})
    with pytest.raises(TypeError, match="no writable field user"):
        await INSERT_ORDER.create(
            None, user=ada, sequencing_type=SequencingType.WHOLE_EXOME, shipping_info={}
        )
    with pytest.raises(TypeError, match="no writable field id"):  # the database numbers changes
        await INSERT_CHANGE.create(None, id=7, order_id="o_x", kind=OrderChangeKind.PLACED, actor="a")
    assert await DNAKitOrder.all().count() == 0  # nothing was written
    assert await OutboxMessage.all().count() == 0


async def test_an_instance_the_model_made_is_saved_as_save_saves_it(client, ada):
    placed = await INSERT_ORDER.create(
        None, user_id=ada.id, sequencing_type=SequencingType.WHOLE_EXOME, shipping_info=SHIPPING
    )
    ours = OrderChange(order_id=placed.id, kind=OrderChangeKind.PLACED, actor="token:admin")
    theirs = OrderChange(order_id=placed.id, kind=OrderChangeKind.PLACED, actor="token:admin")

    await INSERT_CHANGE.save(None, ours)
    await theirs.save()

    assert ours.pk is not None  # the generated key is read back
    assert ours.pk != theirs.pk
    assert _comparable(await _row(OrderChange, ours.pk), OrderChange) == _comparable(
        await _row(OrderChange, theirs.pk), OrderChange
    )
    ours.actor = "token:support"
    await ours.save()  # known to be stored: an UPDATE, not a second row
    assert await OrderChange.filter(order_id=placed.id).count() == 2
    with pytest.raises(TypeError, match="stored already"):
        await INSERT_CHANGE.save(None, ours)
    keyed = OrderChange(id=999, order_id=placed.id, kind=OrderChangeKind.PLACED, actor="token:admin")
    with pytest.raises(TypeError, match="the database's to choose"):
        await INSERT_CHANGE.save(None, keyed)
    assert await OrderChange.filter(order_id=placed.id).count() == 2
