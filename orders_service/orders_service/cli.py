"""`orders-service serve | migrate | seed | purge [--dry-run] | staff add | staff disable | staff list`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from tortoise import Tortoise

from apikit.database import ensure_sqlite_directory, migrate
from apikit.logs import configure_logging
from apikit.purge_command import run_purge
from apikit.settings import Environment, load_settings
from apikit.tracing import configure_tracing
from orders_service import staff
from orders_service.app import create_app, gateway_client, gateway_link
from orders_service.db import orders_tortoise_config
from orders_service.lifecycle import StaffRole
from orders_service.retention import orders_purger
from orders_service.seed import seed_demo_staff, seed_demo_users
from orders_service.settings import OrdersSettings

log = logging.getLogger("orders_service")


async def _with_database(settings: OrdersSettings, work: Callable[[], Awaitable[None]]) -> None:
    ensure_sqlite_directory(settings.database_url)
    await Tortoise.init(config=orders_tortoise_config(settings.database_url))
    try:
        await work()
    finally:
        await Tortoise.close_connections()


async def _seed(settings: OrdersSettings) -> None:
    created = await seed_demo_users(settings.default_phone_region)
    log.info("seeded demo users", extra={"users_created": created})
    if settings.environment is Environment.DEVELOPMENT:
        accounts = await seed_demo_staff()
        log.info("seeded development staff accounts", extra={"staff_created": accounts})


async def _check_gateway_link(settings: OrdersSettings) -> None:
    """Outside development, stop with one line naming the setting when the gateway link is misconfigured.

    A gateway that is merely down does not stop start-up: `/readyz` reports it, and orders wait
    in the outbox."""
    async with aiohttp.ClientSession() as session:
        link = gateway_link(gateway_client(session, settings), settings)
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


def _read_password() -> str:
    """From a prompt on a terminal (asked twice), else the first line of standard input."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise staff.StaffError("The two passwords differ.")
        return password
    return sys.stdin.readline().rstrip("\r\n")


async def _staff(args: argparse.Namespace) -> None:
    if args.action == "add":
        member = await staff.add_staff(
            email=args.email, name=args.name, role=StaffRole(args.role), password=_read_password()
        )
        print(f"added {member.email} ({member.role})")
    elif args.action == "disable":
        member = await staff.disable_staff(args.email)
        print(f"disabled {member.email}")
    else:
        for member in await staff.list_staff():
            state = "disabled" if member.disabled else "enabled"
            print(f"{member.email}\t{member.name}\t{member.role}\t{state}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orders-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "migrate", "seed"):
        commands.add_parser(name)
    purge = commands.add_parser("purge", help="delete what the retention settings no longer keep")
    purge.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
    staff_parser = commands.add_parser(
        "staff", help="console accounts; passwords are read from a prompt or stdin"
    )
    actions = staff_parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add an account (password from a prompt, or stdin's first line)")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=[role.value for role in StaffRole])
    disable = actions.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("--email", required=True)
    actions.add_parser("list", help="list the accounts")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = load_settings(OrdersSettings, "orders-service")
    configure_logging(settings.log_level)
    if args.command == "migrate":
        asyncio.run(migrate(orders_tortoise_config(settings.database_url)))
        log.info("migrations applied")
    elif args.command == "seed":
        asyncio.run(_with_database(settings, lambda: _seed(settings)))
    elif args.command == "purge":
        config = orders_tortoise_config(settings.database_url)
        print(asyncio.run(run_purge(config, orders_purger(settings), dry_run=args.dry_run)))
    elif args.command == "staff":
        try:
            asyncio.run(_with_database(settings, lambda: _staff(args)))
        except staff.StaffError as exc:
            print(f"orders-service staff {args.action}: {exc.detail}", file=sys.stderr)
            raise SystemExit(1) from None
    else:
        configure_tracing("orders-service", settings)
        if settings.environment is not Environment.DEVELOPMENT:
            asyncio.run(_check_gateway_link(settings))
        log.info("serving", extra={"host": settings.host, "port": settings.port})
        web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
