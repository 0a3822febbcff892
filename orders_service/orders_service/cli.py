"""`orders-service serve | migrate | seed | purge [--dry-run]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import aiohttp
from aiohttp import web
from tortoise import Tortoise

from apikit.database import ensure_sqlite_directory, migrate
from apikit.logs import configure_logging
from apikit.purge_command import run_purge
from apikit.settings import Environment, load_settings
from apikit.tracing import configure_tracing
from orders_service.app import create_app, gateway_link
from orders_service.db import orders_tortoise_config
from orders_service.retention import orders_purger
from orders_service.seed import seed_demo_users
from orders_service.settings import OrdersSettings

log = logging.getLogger("orders_service")


async def _seed(settings: OrdersSettings) -> None:
    ensure_sqlite_directory(settings.database_url)
    await Tortoise.init(config=orders_tortoise_config(settings.database_url))
    try:
        created = await seed_demo_users(settings.default_phone_region)
    finally:
        await Tortoise.close_connections()
    log.info("seeded demo users", extra={"users_created": created})


async def _check_gateway_link(settings: OrdersSettings) -> None:
    """Outside development, stop with one line naming the setting when the gateway link is misconfigured.

    A gateway that is merely down does not stop start-up: `/readyz` reports it, and orders wait
    in the outbox."""
    async with aiohttp.ClientSession() as session:
        link = gateway_link(session, settings)
        state = await link.probe()
    if state.misconfiguration is not None:
        print(f"orders-service: {state.misconfiguration.line()}", file=sys.stderr)
        raise SystemExit(2)
    if not state.reachable:
        log.warning(
            "gateway not reached at start-up; orders wait in the outbox", extra={"reason": state.reason}
        )
    else:
        log.info("gateway link checked", extra={"reason": state.reason})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="orders-service", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate", "seed", "purge"])
    parser.add_argument("--dry-run", action="store_true", help="purge: count what would go, delete nothing")
    arguments = parser.parse_args(argv)
    command = arguments.command
    settings = load_settings(OrdersSettings, "orders-service")
    configure_logging(settings.log_level)
    if command == "migrate":
        asyncio.run(migrate(orders_tortoise_config(settings.database_url)))
        log.info("migrations applied")
    elif command == "seed":
        asyncio.run(_seed(settings))
    elif command == "purge":
        config = orders_tortoise_config(settings.database_url)
        print(asyncio.run(run_purge(config, orders_purger(settings), dry_run=arguments.dry_run)))
    else:
        configure_tracing("orders-service", settings)
        if settings.environment is not Environment.DEVELOPMENT:
            asyncio.run(_check_gateway_link(settings))
        log.info("serving", extra={"host": settings.host, "port": settings.port})
        web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
