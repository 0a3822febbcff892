"""What every benchmark needs: our services as real processes on loopback, fresh databases, results."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.databases import PostgresServer, SqliteServer
from tests.processes import ServiceProcess, free_port

RESULTS = Path(__file__).with_name("results")
EMAIL_PATH = "/dev/home-test/email-delivery-service"
SMS_PATH = "/dev/home-test/sms-delivery-service"


def off_loop(function, *args):
    """Run a blocking helper that starts its own event loop (the test database servers do)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


@contextmanager
def database_server() -> Iterator[SqliteServer | PostgresServer]:
    """SQLite by default; `BENCH_DATABASE=postgres` uses the PostgreSQL at TEST_POSTGRES_URL.

    Call its `database_url` through `off_loop` from async code."""
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        if os.environ.get("BENCH_DATABASE", "sqlite") == "postgres":
            server: SqliteServer | PostgresServer = PostgresServer(
                os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
            )
        else:
            server = SqliteServer(Path(folder))
        try:
            yield server
        finally:
            off_loop(server.close)


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had, which a final VmRSS reading would miss."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ValueError(f"no VmHWM for process {pid}")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces; the fields after its closing parenthesis do not.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process, all its threads, so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_peak_rss_kib(pid: int) -> int:
    """Sum of VmHWM over a process and its descendants (gunicorn: master and workers).

    Pages the processes share are counted once per process, so this is an upper bound."""
    try:
        own = peak_rss_kib(pid)
    except (OSError, ValueError):
        return 0  # exited while we looked
    return own + sum(tree_peak_rss_kib(child) for child in _children(pid))


RSS_CEILING_MIB = 120  # what no service of ours may exceed during any benchmark
SAMPLE_SECONDS = 0.5
MEMORY_HEADER = f"| process | peak RSS (VmHWM) | ratio to the {RSS_CEILING_MIB} MiB ceiling |"
MEMORY_NOTE = (
    f"Peak RSS: VmHWM of each process (with its children), sampled every {SAMPLE_SECONDS:g} s and when "
    f"it stops; the largest of every run under one label. Ceiling: {RSS_CEILING_MIB} MiB per service."
)


@dataclass
class PeakMemory:
    """Peak RSS of each service process a benchmark started, by label."""

    peaks_kib: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, label: str, service: ServiceProcess) -> None:
        if service.process is None or service.process.poll() is not None:
            return
        peak = tree_peak_rss_kib(service.process.pid)
        with self.lock:
            self.peaks_kib[label] = max(peak, self.peaks_kib.get(label, 0))

    def table(self) -> list[str]:
        rows = [MEMORY_HEADER, "|---|---|---|"]
        return rows + [
            f"| {label} | {kib / 1024:.0f} MiB | {kib / 1024 / RSS_CEILING_MIB:.2f} |"
            for label, kib in self.peaks_kib.items()
        ]


# Every service `running` started in this interpreter: `write_results` adds their table.
EVERY_SERVICE = PeakMemory()


@contextmanager
def _sampled(service: ServiceProcess, label: str, memories: list[PeakMemory]) -> Iterator[None]:
    """Record the service's peak RSS every SAMPLE_SECONDS while the block runs, and once at its end:
    a process that dies or is killed mid-benchmark still has its peak until then."""
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            for memory in memories:
                memory.record(label, service)

    sampler = threading.Thread(target=sample, name=f"rss {label}", daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()
        for memory in memories:
            memory.record(label, service)


@contextmanager
def running(
    service: ServiceProcess, memory: PeakMemory | None = None, label: str | None = None
) -> Iterator[ServiceProcess]:
    """Start the service and sample its peak RSS, under `label`, into EVERY_SERVICE (and `memory`, if
    given) until it is stopped on the way out. A process that never becomes healthy is stopped too."""
    memories = [EVERY_SERVICE] + ([memory] if memory is not None else [])
    try:
        service.start()
        with _sampled(service, label or service.module, memories):
            yield service
    finally:
        service.stop()


def sandbox(workdir: Path) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        "provider_sandbox", {"PROVIDER_SANDBOX_PORT": str(port)}, port, workdir / "sandbox.log"
    )


def gateway(
    workdir: Path, database_url: str, sandbox_url: str, token: str, **overrides: str
) -> ServiceProcess:
    port = free_port()
    env = {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_TOKEN": token,
        "GATEWAY_SUPPRESSION_KEY": "bench-suppression-key-0123456789",
        "GATEWAY_PLUGINS": "email,sms",
        "GATEWAY_RATE_LIMIT": "1000000/second",
        "GATEWAY_RECIPIENT_LIMITS": "",  # benchmarks send many messages to one address
        "EMAIL_API_URL": sandbox_url + EMAIL_PATH,
        "EMAIL_API_TOKEN": "dev-email-token",
        "SMS_API_URL": sandbox_url + SMS_PATH,
        "SMS_API_TOKEN": "dev-sms-token",
        "LOG_LEVEL": "WARNING",
    } | overrides
    return ServiceProcess("notification_gateway", env, port, workdir / f"gateway-{port}.log")


def write_results(name: str, title: str, table: list[str], notes: list[str]) -> Path:
    """Print the Markdown table and keep it in benchmarks/results/<name>.md, with the peak RSS of
    every service the benchmark started (unless `table` already lists them)."""
    if EVERY_SERVICE.peaks_kib and MEMORY_HEADER not in table:
        table = [*table, "", *EVERY_SERVICE.table()]
        notes = [*notes, MEMORY_NOTE]
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [f"## {title}", "", f"Measured {stamp} on {os.cpu_count()} cores.", "", *table, "", *notes, ""]
    )
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    print(text)
    return path


def run(main) -> None:
    asyncio.run(main())
