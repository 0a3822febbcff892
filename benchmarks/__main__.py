"""`python -m benchmarks [module ...]`: run the benchmarks in order, then write results/README.md.

Each module runs in its own interpreter (`python -m benchmarks.<name>`), as it
would alone, so one benchmark's ORM state or leftover processes cannot colour
the next. BENCH_DATABASE and the other BENCH_* knobs pass through. A module
that fails does not stop the others; the exit status says one did.

results/README.md concatenates every result file in module order, this run's
and earlier ones (each says when it was measured): the Makefile can run
`BENCH_DATABASE=postgres python -m benchmarks orders_write` and keep both
databases' tables side by side.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.harness import RESULTS

MODULES = (
    "query_count",
    "orders_write",
    "orders_ceiling",
    "orders_vs_inline",
    "users_read",
    "users_search",
    "gateway_throughput",
    "end_to_end_latency",
    "purge_under_load",
    "priority_lanes",
    "batch_intake",
    "receipts_throughput",
)


def _rank(path: Path) -> int:
    """Position of the benchmark that wrote the file (`orders_write_postgres` is orders_write's)."""
    for index, module in enumerate(MODULES):
        if path.stem == module or path.stem.startswith(f"{module}_"):
            return index
    return len(MODULES)


def write_readme() -> None:
    files = [path for path in RESULTS.glob("*.md") if path.name != "README.md"]
    ordered = sorted(files, key=lambda path: (_rank(path), path.name))
    parts = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks` from the files beside it; each table says when it was measured.",
        "",
    ]
    parts += [path.read_text().rstrip() + "\n" for path in ordered]
    (RESULTS / "README.md").write_text("\n".join(parts))


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in MODULES]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 2
    failed = []
    for module in argv or MODULES:
        print(f"\n# benchmarks.{module}\n", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{module}"], check=False).returncode != 0:
            failed.append(module)
    write_readme()
    print(f"\nwrote {RESULTS / 'README.md'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
