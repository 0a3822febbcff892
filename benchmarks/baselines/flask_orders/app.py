"""The Flask app: minimal validation, the order stored, the user notified inline, then 201.

Configuration (all required except the timeout):
FLASK_ORDERS_DATABASE_URL (SQLAlchemy URL), FLASK_ORDERS_TOKEN (admin bearer token),
FLASK_ORDERS_EMAIL_URL / FLASK_ORDERS_EMAIL_TOKEN, FLASK_ORDERS_SMS_URL / FLASK_ORDERS_SMS_TOKEN,
FLASK_ORDERS_PROVIDER_TIMEOUT (seconds, default 10).
"""

from __future__ import annotations

import hmac
import os
import uuid
from datetime import UTC, datetime

import requests
from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event

KITS = {"whole-exome-sequencing", "whole-genome-sequencing", "targeted-sequencing", "genotyping-array"}

db = SQLAlchemy()
# One session per worker process: sync workers serve one request at a time, and reusing
# connections to the provider makes this baseline stronger than a bare `requests.post`.
provider = requests.Session()


class User(db.Model):
    __tablename__ = "flask_users"  # apart from the orders service's tables, should both share a database

    id = db.Column(db.String(40), primary_key=True)
    name = db.Column(db.String(200), nullable=False)
    email = db.Column(db.String(254), nullable=False)
    phone_number = db.Column(db.String(16))


class Order(db.Model):
    __tablename__ = "flask_orders"

    id = db.Column(db.String(40), primary_key=True, default=lambda: f"ord_{uuid.uuid4().hex}")
    user_id = db.Column(db.String(40), db.ForeignKey("flask_users.id"), nullable=False, index=True)
    sequencing_type = db.Column(db.String(40), nullable=False)
    shipping_info = db.Column(db.JSON, nullable=False)
    status = db.Column(db.String(20), nullable=False, default="placed")
    notification_channel = db.Column(db.String(32))
    notification_status = db.Column(db.String(16), nullable=False, default="pending")
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=lambda: datetime.now(UTC))


def _problem(status: int, detail: str):
    return jsonify({"status": status, "detail": detail}), status


def _notify(user: User, order: Order) -> str:
    """SMS for a whole-exome kit when the user has a phone, else e-mail; the request waits for it."""
    channel = "sms" if order.sequencing_type == "whole-exome-sequencing" and user.phone_number else "email"
    prefix = channel.upper()
    try:
        response = provider.post(
            os.environ[f"FLASK_ORDERS_{prefix}_URL"],
            json={
                "recipient": user.phone_number if channel == "sms" else user.email,
                "message": f"Hi {user.name}, your order has been successfully placed. Reference: {order.id}.",
            },
            headers={"Authorization": f"Bearer {os.environ[f'FLASK_ORDERS_{prefix}_TOKEN']}"},
            timeout=float(os.environ.get("FLASK_ORDERS_PROVIDER_TIMEOUT", "10")),
        )
        response.raise_for_status()
    except requests.RequestException:
        return channel, "failed"
    return channel, "delivered"


def place_order():
    expected = f"Bearer {os.environ['FLASK_ORDERS_TOKEN']}"
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected.encode()):
        return _problem(401, "a valid bearer token is required")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _problem(400, "the body must be a JSON object")
    user_id, kit, shipping = body.get("user_id"), body.get("sequencing_type"), body.get("shipping_info")
    if not isinstance(user_id, str) or kit not in KITS or not isinstance(shipping, dict):
        return _problem(422, "user_id, sequencing_type and shipping_info are required")
    user = db.session.get(User, user_id)
    if user is None:
        return _problem(422, "no such user")
    order = Order(user_id=user.id, sequencing_type=kit, shipping_info=shipping)
    db.session.add(order)
    db.session.commit()
    order.notification_channel, order.notification_status = _notify(user, order)
    db.session.commit()
    return (
        jsonify(
            {
                "id": order.id,
                "user_id": order.user_id,
                "status": order.status,
                "notification": {
                    "channel": order.notification_channel,
                    "status": order.notification_status,
                },
            }
        ),
        201,
        {"Location": f"/orders/{order.id}"},
    )


def healthz():
    return jsonify({"status": "ok"})


def create_app() -> Flask:
    app = Flask(__name__)
    url = os.environ["FLASK_ORDERS_DATABASE_URL"]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("sqlite"):
        # Several worker processes write one file: wait for the lock rather than fail at once.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    db.init_app(app)
    if url.startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_wal)
    app.add_url_rule("/orders", view_func=place_order, methods=["POST"])
    app.add_url_rule("/healthz", view_func=healthz)
    return app


def _sqlite_wal(connection, _record) -> None:
    """WAL with the default synchronous setting, as the orders service (tortoise) opens SQLite."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
