"""`orders-service serve | migrate | seed | staff add | staff disable | staff list`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from tortoise import Tortoise

from apikit.database import ensure_sqlite_directory, migrate
from apikit.logs import configure_logging
from apikit.settings import Environment, load_settings
from orders_service import staff
from orders_service.app import create_app
from orders_service.db import orders_tortoise_config
from orders_service.lifecycle import StaffRole
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
    elif args.command == "staff":
        try:
            asyncio.run(_with_database(settings, lambda: _staff(args)))
        except staff.StaffError as exc:
            print(f"orders-service staff {args.action}: {exc.detail}", file=sys.stderr)
            raise SystemExit(1) from None
    else:
        log.info("serving", extra={"host": settings.host, "port": settings.port})
        web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
