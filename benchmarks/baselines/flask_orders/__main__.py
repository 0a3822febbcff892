"""`python -m benchmarks.baselines.flask_orders seed | serve`.

`seed` creates the tables and the same demo users as `orders-service seed`;
`serve` becomes gunicorn (exec, so stopping this process stops gunicorn) with
one sync worker per core on 127.0.0.1:FLASK_ORDERS_PORT.
"""

from __future__ import annotations

import os
import sys

from benchmarks.baselines.flask_orders.app import User, create_app, db
from orders_service.seed import DEMO_USERS


def seed() -> None:
    app = create_app()
    with app.app_context():
        db.create_all()
        for entry in DEMO_USERS:
            if db.session.get(User, entry["id"]) is None:
                db.session.add(
                    User(
                        id=entry["id"],
                        name=entry["name"],
                        email=entry["email"],
                        phone_number=(entry["phone_number"] or "").replace(" ", "") or None,
                    )
                )
        db.session.commit()


def serve() -> None:
    port = os.environ.get("FLASK_ORDERS_PORT", "8091")
    workers = str(os.cpu_count() or 1)
    os.execv(  # noqa: S606 - a fixed argument list, no shell
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            workers,
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "benchmarks.baselines.flask_orders.app:create_app()",
        ],
    )


def main(argv: list[str]) -> None:
    commands = {"seed": seed, "serve": serve}
    if len(argv) != 1 or argv[0] not in commands:
        raise SystemExit("usage: python -m benchmarks.baselines.flask_orders seed | serve")
    commands[argv[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])
