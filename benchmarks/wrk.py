"""Load from `wrk`: a C load generator, so the client is never the bottleneck a Python one would be.

Every run is closed-loop: `connections` requests in flight, each connection
sending its next request when the previous answer arrives, for `duration`
seconds. At saturation the latencies are mostly queueing (about connections /
throughput), so compare them between rows measured the same way, not with an
open-loop figure such as end_to_end_latency's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

POST_JSON = Path(__file__).with_name("post_json.lua")
INSTALL = "apt-get install -y wrk"
THREADS = 1  # one load-generator thread: on 2 cores the other core is the service's
CONNECTIONS = 16
WARM_UP_SECONDS = 2
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def require_wrk() -> str:
    """The path of `wrk`, or a clear exit naming the install command."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(f"wrk is not installed; these benchmarks need it as their load generator: {INSTALL}")
    return path


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", text).groups()
    return float(number) * _UNITS_MS[unit]


def parse(output: str) -> WrkResult:
    """Requests/sec, the 50% and 99% lines of `--latency`, and the error counts."""

    def find(pattern: str) -> re.Match:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output has no {pattern!r}:\n{output}")
        return match

    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(find(r"^\s*(\d+) requests in")[1]),
        requests_per_second=float(find(r"^Requests/sec:\s*([0-9.]+)")[1]),
        p50_ms=_milliseconds(find(r"^\s*50%\s+(\S+)")[1]),
        p99_ms=_milliseconds(find(r"^\s*99%\s+(\S+)")[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
    )


def warm_up(url: str, *, token: str, body: str | None = None) -> None:
    """A short unrecorded run first, so the first measured row does not pay for cold caches."""
    run(url, seconds=WARM_UP_SECONDS, token=token, body=body)


def run(
    url: str,
    *,
    seconds: int,
    token: str,
    body: str | None = None,
    connections: int = CONNECTIONS,
) -> WrkResult:
    """GET `url` (or POST `body` as JSON) with a bearer token for `seconds`; wrk stops by itself.

    Raises if more than 1% of answers were errors: then the figure would measure
    the error path, not the one named."""
    command = [
        require_wrk(),
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "30s",  # the slowest baseline queues for seconds; a wrk timeout would drop it from the latencies
        "--latency",
    ]
    if body is None:
        command += ["-H", f"Authorization: Bearer {token}", url]
    else:
        command += ["-s", str(POST_JSON), url, "--", token, body]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    result = parse(done.stdout)
    if result.errors > result.requests / 100:
        raise RuntimeError(
            f"{result.errors} of {result.requests} answers were errors at {url}:\n{done.stdout}"
        )
    return result
