"""`provider-sandbox serve`: the provider stand-in on loopback, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from aiohttp import web

from provider_sandbox.app import create_app
from provider_sandbox.settings import load_settings

log = logging.getLogger("provider_sandbox")

# In-flight requests may be sleeping on injected latency; do not let them hold up a stop for long.
SHUTDOWN_TIMEOUT_SECONDS = 2.0


def configure_logging() -> None:
    """Plain lines on stderr; the sandbox logs routes and statuses only, never bodies or tokens."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="provider-sandbox", description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.parse_args(argv)
    settings = load_settings("provider-sandbox")
    configure_logging()
    if not _is_loopback(settings.host):
        log.warning(
            "listening on %s: the control API has no auth; keep it off shared networks", settings.host
        )
    log.info(
        "serving on http://%s:%s (push %s a token)",
        settings.host,
        settings.port,
        "needs" if settings.push_token else "does not need",
    )
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    log.info("stopped")


if __name__ == "__main__":
    main()
