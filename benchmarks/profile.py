"""A flame graph of a service under a benchmark's load: `python -m benchmarks.profile <target>`.

`make profile TARGET=orders_write` starts the orders service as the benchmark
does (API only, production log level), puts the same wrk load on it, and
samples it with py-spy meanwhile (its own process, reading the service's
memory from outside, so the profile does not slow what it measures much).
`TARGET=gateway_delivery` samples one gateway process delivering a queued
backlog to the sandbox at 0 ms, as gateway_throughput's first row. The
SVG goes to `benchmarks/results/profile_<target>_<database>.svg`: open it in a
browser; the widest frames are where the time goes.

`BENCH_DATABASE=postgres` profiles on PostgreSQL; `BENCH_SECONDS` is the
length of the sampled load (default 10); `PROFILE_FORMAT=raw` writes collapsed
stacks (text) instead, `speedscope` a speedscope.app file; `PROFILE_GIL=1` samples only
while the service holds the GIL (its Python CPU, not its waits). py-spy needs permission to read
another process's memory (ptrace): root, or CAP_SYS_PTRACE in a container.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp

from benchmarks import harness, stack, wrk
from benchmarks.gateway_throughput import CONCURRENCY, TOKEN, queue_emails
from benchmarks.orders_ceiling import api_only, fresh_database
from notification_gateway.db import gateway_tortoise_config

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
# py-spy's output formats: an SVG flame graph (default), or collapsed stacks to read as text.
FORMATS = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}
FORMAT = os.environ.get("PROFILE_FORMAT", "flamegraph")
# Only samples of the thread holding the GIL: Python's own CPU, without time spent in system
# calls or waiting to be scheduled (which on a busy machine can hide everything else).
GIL_ONLY = os.environ.get("PROFILE_GIL", "") == "1"


def orders_write(databases, workdir: Path, record: Callable[[int], subprocess.Popen]) -> None:
    """`POST /orders` as orders_write and orders_ceiling load it: API only, LOG_LEVEL=INFO."""
    service = api_only(workdir, fresh_database(databases, workdir), "INFO")
    with harness.running(service):
        stack.check_order_is_placed(service.url)
        wrk.warm_up(f"{service.url}/orders", token=stack.ADMIN, body=stack.ORDER_JSON)
        sampler = record(service.process.pid)
        wrk.run(f"{service.url}/orders", seconds=SECONDS, token=stack.ADMIN, body=stack.ORDER_JSON)
        _stop(sampler)


def gateway_delivery(databases, workdir: Path, record: Callable[[int], subprocess.Popen]) -> None:
    """One gateway process draining BENCH_NOTIFICATIONS (default 6,000) queued e-mails to the sandbox
    at 0 ms, as gateway_throughput's 0 ms row: queued through an API-only process first, then
    sampled from the moment the delivering process is ready until the sandbox has them all."""
    count = int(os.environ.get("BENCH_NOTIFICATIONS", "6000"))
    with harness.running(harness.sandbox(workdir)) as sandbox:
        stack.set_provider_latency(sandbox.url, 0)
        database_url = harness.off_loop(
            databases.database_url, "gateway_profile", gateway_tortoise_config, workdir
        )
        intake = harness.gateway(workdir, database_url, sandbox.url, TOKEN, GATEWAY_WORKERS_ENABLED="false")
        with harness.running(intake):
            asyncio.run(_queued(intake.url, count))
        concurrency = {"GATEWAY_DELIVERY_CONCURRENCY": str(CONCURRENCY)}
        with harness.running(
            harness.gateway(workdir, database_url, sandbox.url, TOKEN, **concurrency)
        ) as worker:
            sampler = record(worker.process.pid)
            stack.wait_for_messages(sandbox.url, count)
            _stop(sampler)


async def _queued(gateway_url: str, count: int) -> None:
    async with aiohttp.ClientSession() as http:
        await queue_emails(http, gateway_url, count)


def _stop(sampler: subprocess.Popen) -> None:
    sampler.send_signal(signal.SIGINT)  # py-spy writes the graph when interrupted
    if sampler.wait(60) != 0:
        raise RuntimeError(f"py-spy failed with exit status {sampler.returncode}")


TARGETS = {"orders_write": orders_write, "gateway_delivery": gateway_delivery}


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed; it is a dev dependency: make setup")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in TARGETS:
        print(f"usage: python -m benchmarks.profile {{{','.join(TARGETS)}}}", file=sys.stderr)
        return 2
    target = argv[0]
    wrk.require_wrk()
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    harness.RESULTS.mkdir(exist_ok=True)
    if FORMAT not in FORMATS:
        print(f"PROFILE_FORMAT must be one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    output = harness.RESULTS / f"profile_{target}_{database}.{FORMATS[FORMAT]}"

    def record(pid: int) -> subprocess.Popen:
        command = [py_spy(), "record", "--pid", str(pid), "--rate", "250", "--format", FORMAT]
        return subprocess.Popen([*command, *(["--gil"] if GIL_ONLY else []), "--output", str(output)])

    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        TARGETS[target](databases, Path(folder), record)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
