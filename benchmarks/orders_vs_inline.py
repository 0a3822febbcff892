"""Our `POST /orders` beside the usual Flask app that calls the provider inline, as the provider slows.

For each provider latency (the sandbox answers after 0, 50 and 200 ms), two
figures from the same run, same machine, same sandbox:
- ours: the orders service writes the order and an outbox row and answers;
  the relay, the gateway and the sandbox deliver later (all running, on the
  same cores);
- Flask: `benchmarks/baselines/flask_orders` (Flask-SQLAlchemy, `requests` to
  the provider before answering, gunicorn with one sync worker per core).
The claim under test: ours does not slow down as the provider does, because
nothing the request waits for talks to the provider. After each of our runs the
benchmark waits until every notification reached the sandbox, so a backlog
cannot load the next measurement.

Load: `wrk -t1 -c16 -d8s --latency` (see benchmarks/wrk.py). Latencies are
closed-loop: the Flask baseline's are queueing behind its two workers.

Run: `python -m benchmarks.orders_vs_inline`; `BENCH_DATABASE=postgres` for
PostgreSQL (both apps); `BENCH_SECONDS` for each wrk run's length (default 8).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks import harness, stack, wrk
from orders_service.db import orders_tortoise_config
from tests.processes import ServiceProcess, free_port

SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
LATENCIES_MS = (0, 50, 200)
FLASK_TOKEN = stack.ADMIN


def sqlalchemy_url(url: str) -> str:
    """The test databases' tortoise URL as SQLAlchemy spells it (psycopg 3 for PostgreSQL)."""
    if url.startswith("sqlite://"):
        return "sqlite:///" + url.removeprefix("sqlite://")
    return "postgresql+psycopg://" + url.removeprefix("postgres://")


def flask_orders(workdir: Path, database_url: str, sandbox_url: str) -> ServiceProcess:
    port = free_port()
    env = {
        "FLASK_ORDERS_PORT": str(port),
        "FLASK_ORDERS_DATABASE_URL": sqlalchemy_url(database_url),
        "FLASK_ORDERS_TOKEN": FLASK_TOKEN,
        "FLASK_ORDERS_EMAIL_URL": sandbox_url + harness.EMAIL_PATH,
        "FLASK_ORDERS_EMAIL_TOKEN": "dev-email-token",
        "FLASK_ORDERS_SMS_URL": sandbox_url + harness.SMS_PATH,
        "FLASK_ORDERS_SMS_TOKEN": "dev-sms-token",
        "FLASK_ORDERS_PROVIDER_TIMEOUT": "10",
    }
    return ServiceProcess("benchmarks.baselines.flask_orders", env, port, workdir / "flask.log")


def _load(url: str, token: str) -> wrk.WrkResult:
    return wrk.run(f"{url}/orders", seconds=SECONDS, token=token, body=stack.ORDER_JSON)


def main() -> None:
    wrk.require_wrk()
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    workers = os.cpu_count() or 1
    memory = harness.PeakMemory()
    results: list[tuple[int, wrk.WrkResult, wrk.WrkResult, int]] = []
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        with stack.orders_stack(databases, workdir, memory) as services:
            # Its own database (on PostgreSQL it also holds the orders schema, unused: its tables differ).
            flask_db = databases.database_url("flask", orders_tortoise_config, workdir)
            flask = flask_orders(workdir, flask_db, services.sandbox.url)
            flask.run("seed")
            label = f"Flask + gunicorn ({workers} sync workers, sum over processes)"
            with harness.running(flask, memory, label):
                stack.check_order_is_placed(services.orders.url)
                stack.check_order_is_placed(flask.url)
                wrk.warm_up(f"{services.orders.url}/orders", token=stack.ADMIN, body=stack.ORDER_JSON)
                wrk.warm_up(f"{flask.url}/orders", token=FLASK_TOKEN, body=stack.ORDER_JSON)
                for latency in LATENCIES_MS:
                    stack.set_provider_latency(services.sandbox.url, latency)
                    stack.wait_until_quiet(services.sandbox.url)
                    baseline = _load(flask.url, FLASK_TOKEN)
                    stack.wait_until_quiet(services.sandbox.url)
                    stack.clear_sandbox(services.sandbox.url)
                    ours = _load(services.orders.url, stack.ADMIN)
                    stack.wait_for_messages(services.sandbox.url, ours.requests)
                    delivered = stack.wait_until_quiet(services.sandbox.url)
                    results.append((latency, ours, baseline, delivered))
    ours_at_zero = results[0][1].requests_per_second
    rows = [
        "| provider latency | ours req/s | ours p50 | ours p99 | Flask req/s | Flask p50 | Flask p99 "
        "| ours / Flask (req/s) | ours / ours at 0 ms | our notifications delivered |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for latency, ours, baseline, delivered in results:
        rows.append(
            f"| {latency} ms | {ours.requests_per_second:.0f} | {ours.p50_ms:.1f} ms | {ours.p99_ms:.1f} ms "
            f"| {baseline.requests_per_second:.1f} | {baseline.p50_ms:.1f} ms | {baseline.p99_ms:.1f} ms "
            f"| {ours.requests_per_second / baseline.requests_per_second:.1f} "
            f"| {ours.requests_per_second / ours_at_zero:.2f} | {delivered} of {ours.requests} |"
        )
    harness.write_results(
        f"orders_vs_inline_{database}",
        f"POST /orders: outbox (ours) vs provider called inline (Flask), {database}, "
        f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS} -d{SECONDS}s",
        [*rows, "", *memory.table()],
        [
            "Ours: order + outbox row in one transaction, 201; the relay, the gateway and the sandbox run "
            "alongside on the same 2 cores. Delivered: e-mails the sandbox received after the run "
            "(at least the requests wrk counted; wrk does not count requests still in flight when it stops).",
            f"Flask: Flask-SQLAlchemy, the provider called inline with requests, gunicorn {workers} sync "
            "workers; its throughput is bounded by workers / provider latency.",
            "Latencies are closed-loop at saturation (16 connections), so mostly queueing.",
            "Peak RSS: VmHWM of each process (Flask: master and workers summed), read just before it "
            "was stopped.",
        ],
    )


if __name__ == "__main__":
    main()
