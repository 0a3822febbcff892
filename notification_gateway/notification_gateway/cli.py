"""`notification-gateway serve | migrate | plugins | purge [--dry-run]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import warnings

from aiohttp import web

from apikit.database import migrate
from apikit.logs import configure_logging
from apikit.purge_command import run_purge
from apikit.settings import load_settings
from apikit.tracing import configure_tracing
from notification_gateway.app import create_app
from notification_gateway.contract import ChannelConfigurationError
from notification_gateway.db import gateway_tortoise_config
from notification_gateway.plugins import (
    PluginContractDeprecationWarning,
    PluginReport,
    inspect_plugins,
    parse_allow_list,
)
from notification_gateway.retention import gateway_purger
from notification_gateway.routing import RoutingFileError
from notification_gateway.settings import GatewaySettings

log = logging.getLogger("notification_gateway")

COMMANDS = {
    "serve": "run the API and the delivery workers",
    "migrate": "apply pending database migrations",
    "plugins": "list installed channel plugins and whether each channel's settings are complete",
    "purge": "delete what the retention settings no longer keep (--dry-run: only count it)",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="notification-gateway",
        description="; ".join(f"{name}: {text}" for name, text in COMMANDS.items()),
    )
    parser.add_argument("command", choices=list(COMMANDS))
    parser.add_argument("--dry-run", action="store_true", help="purge: count what would go, delete nothing")
    arguments = parser.parse_args(argv)
    command = arguments.command
    if command == "plugins":
        reports = inspect_plugins(parse_allow_list(os.environ.get("GATEWAY_PLUGINS")))
        print(describe(reports))
        blocking = [r for r in reports if r.enabled and (r.problem or any(c.problem for c in r.channels))]
        raise SystemExit(1 if blocking else 0)
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
    # A plugin on the version 1 contract is announced once, as a log line operators see.
    warnings.simplefilter("default", PluginContractDeprecationWarning)
    logging.captureWarnings(True)
    try:
        app = create_app(settings)
    except (ChannelConfigurationError, RoutingFileError) as exc:
        print(f"notification-gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    log.info("serving", extra={"host": settings.host, "port": settings.port})
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None)


def describe(reports: list[PluginReport]) -> str:
    """One line per plugin, one per channel below it; settings are named, never shown."""
    if not reports:
        return "no channel plugins are installed"
    lines = []
    for report in reports:
        state = "" if report.enabled else "  (not loaded: not in GATEWAY_PLUGINS)"
        lines.append(f"{report.name}: {report.distribution} {report.version}{state}")
        if report.problem:
            lines.append(f"  settings incomplete: {report.problem}")
        for channel in report.channels:
            settings = f"incomplete: {channel.problem}" if channel.problem else "complete"
            variables = f" ({', '.join(channel.variables)})" if channel.variables else ""
            lines.append(f"  channel {channel.name}: settings {settings}{variables}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
