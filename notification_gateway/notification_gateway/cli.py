"""`notification-gateway serve | migrate | purge [--dry-run]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from apikit.database import migrate
from apikit.logs import configure_logging
from apikit.purge_command import run_purge
from apikit.settings import load_settings
from apikit.tracing import configure_tracing
from notification_gateway.app import create_app
from notification_gateway.channels import ChannelConfigurationError
from notification_gateway.db import gateway_tortoise_config
from notification_gateway.retention import gateway_purger
from notification_gateway.routing import RoutingFileError
from notification_gateway.settings import GatewaySettings

log = logging.getLogger("notification_gateway")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="notification-gateway", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate", "purge"])
    parser.add_argument("--dry-run", action="store_true", help="purge: count what would go, delete nothing")
    arguments = parser.parse_args(argv)
    command = arguments.command
    settings = load_settings(GatewaySettings, "notification-gateway")
    configure_logging(settings.log_level)
    if command == "migrate":
        asyncio.run(migrate(gateway_tortoise_config(settings.database_url)))
        log.info("migrations applied")
        return
    if command == "purge":
        config = gateway_tortoise_config(settings.database_url)
        print(asyncio.run(run_purge(config, gateway_purger(settings), dry_run=arguments.dry_run)))
        return
    configure_tracing("notification-gateway", settings)
    try:
        app = create_app(settings)
    except (ChannelConfigurationError, RoutingFileError) as exc:
        print(f"notification-gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    log.info("serving", extra={"host": settings.host, "port": settings.port})
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
