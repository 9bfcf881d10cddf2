"""Storage benchmark: durable command latency and opening time, against TinyDB's JSONStorage.

Run from the project root (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_store.py                 # 10k invoices
    .venv/bin/python tests/benchmarks/bench_store.py --sizes 10000,50000

For each size it builds a workspace through the service: ``size // 100`` Faker customers
billed monthly by the simulated clock, so every invoice is a real service-created invoice
with all its events (one clock command bills a month for every subscription). Then it
measures, on that workspace:

* durable commands in a realistic cycle (create_invoice, draft_synchronized, approve,
  issuing_synchronized, payment_status, set_hooks), each one fsynced journal record;
* opening the workspace (``Service.open`` until it serves a command; each table is parsed
  on first use) and, separately, opening plus reading every table once (what a screen
  listing all invoices and the whole event log needs), warm page cache;
* the baseline: TinyDB's default ``JSONStorage`` holding the same tables and making the
  same document writes, replayed command by command with one read and one write per
  command (TinyDB itself reads and writes the whole file once per table operation, so
  this is the baseline's best case). It stores the same compact rows, not the larger
  plain documents, which again favours the baseline. Its opening is one read of the file
  (it has nothing lazy). It runs for ``--baseline-seconds`` at most.

Targets (issue 2): at 10k invoices, median durable command <= 10 ms and >= 10x faster
than the baseline; opening <= 0.5 s.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tinydb.storages import JSONStorage

from tui_billing.domain.linespec import FlatFee
from tui_billing.service import Service
from tui_billing.store.journal import Journal, Op
from tui_billing.store.repository import TABLES

START = datetime(2026, 1, 1, 9, tzinfo=UTC)
INVOICES_PER_CUSTOMER = 100


@dataclass
class Figures:
    size: int
    build_s: float = 0.0
    workspace_mb: float = 0.0
    payloads_mb: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    opens: list[float] = field(default_factory=list)
    full_reads: list[float] = field(default_factory=list)
    compaction_s: float = 0.0
    baseline: list[float] = field(default_factory=list)
    baseline_open: float = 0.0
    baseline_mb: float = 0.0

    @property
    def all_latencies(self) -> list[float]:
        return [t for times in self.latencies.values() for t in times]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def build(path: Path, size: int) -> Service:
    """A workspace holding ``size`` service-created invoices, billed month by month."""
    customers = max(1, size // INVOICES_PER_CUSTOMER)
    service = Service.create(path, seed=11, now=START, customers=customers)
    months, rest = divmod(size, customers)
    for month in range(months):
        service.advance_clock("1mo")
        if (month + 1) % 10 == 0:
            print(f"  building {path.name}: month {month + 1}/{months}", flush=True)
    keys = [customer.key for customer in service.customers()]
    for index in range(rest):
        service.create_invoice(keys[index % len(keys)])
    return service


class Recorder:
    """Captures the operations each durable command appends to the journal."""

    def __init__(self) -> None:
        self.commands: list[list[Op]] = []
        self._append = Journal.append

    def __enter__(self) -> "Recorder":
        recorder, original = self, self._append

        def append(journal: Journal, ops: list[Op]) -> None:
            original(journal, ops)
            recorder.commands.append(ops)

        Journal.append = append  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Journal.append = self._append  # type: ignore[method-assign]


def command_cycle(service: Service, customer: str) -> list[tuple[str, Callable[[], Any]]]:
    """One invoice's way from creation to paid with both hooks on and manual approval."""
    state: dict[str, str] = {}

    def create() -> None:
        state["id"] = service.create_invoice(customer, [FlatFee("Platform fee", Decimal("49.00"))]).id

    return [
        ("create_invoice", create),
        ("draft_synchronized", lambda: service.draft_synchronized(state["id"], external_id="ext-1")),
        ("approve", lambda: service.approve(state["id"])),
        (
            "issuing_synchronized",
            lambda: service.issuing_synchronized(state["id"], payment_external_id="pay-1"),
        ),
        ("payment_status", lambda: service.payment_status(state["id"], "paid")),
        ("set_hooks", lambda: service.set_hooks(draft=True, issuing=True)),
    ]


def measure_commands(service: Service, count: int, figures: Figures) -> list[list[Op]]:
    service.set_workflow(auto_advance=False)
    service.set_hooks(draft=True, issuing=True)
    customer = service.customers()[0].key
    with Recorder() as recorder:
        done = 0
        while done < count:
            for name, command in command_cycle(service, customer):
                started = time.perf_counter()
                command()
                figures.latencies[name].append(time.perf_counter() - started)
                done += 1
    return recorder.commands


OPEN = """
import json, sys, time
from tui_billing.service import Service
from tui_billing.store.repository import TABLES
started = time.perf_counter()
service = Service.open(sys.argv[1])
service.workspace()
opened = time.perf_counter() - started
for name in TABLES:
    service.repository.rows(name)
print(json.dumps([opened, time.perf_counter() - started]))
service.close()
"""


def measure_open(path: Path, rounds: int, figures: Figures) -> None:
    """``Service.open`` until it serves a command (tables are parsed on first use), and
    until every table has been read once, as a dashboard showing all lists would; each
    in a fresh process, as a CLI command or the dashboard starts."""
    for _ in range(rounds):
        result = subprocess.run(
            [sys.executable, "-c", OPEN, str(path)], capture_output=True, text=True, check=True
        )
        opened, read_all = json.loads(result.stdout)
        figures.opens.append(opened)
        figures.full_reads.append(read_all)


def measure_compaction(path: Path, figures: Figures) -> None:
    """One compaction in a fresh session after one command: the pause a command pays when
    the journal has outgrown the snapshot (its tables parsed, encoded and rewritten)."""
    service = Service.open(path)
    service.create_invoice(service.customers()[0].key)
    started = time.perf_counter()
    service.repository._compact()  # what commit does once the journal outgrows the snapshot
    figures.compaction_s = time.perf_counter() - started
    service.close()


def measure_baseline(
    tables: dict[str, dict[str, Any]], commands: list[list[Op]], path: Path, budget: float, figures: Figures
) -> None:
    """Replay the same document writes on TinyDB's JSONStorage, one write per command,
    for at most ``budget`` seconds (at least five commands)."""
    storage = JSONStorage(str(path))
    storage.write(tables)
    figures.baseline_mb = path.stat().st_size / 1e6
    index = {name: {row["id"]: doc_id for doc_id, row in rows.items()} for name, rows in tables.items()}
    next_id = {name: max(map(int, rows), default=0) + 1 for name, rows in tables.items()}
    deadline = time.perf_counter() + budget
    for ops in commands:
        if len(figures.baseline) >= 5 and time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        data = storage.read()
        for _, table, key, row in ops:
            doc_id = index[table].get(key)
            if doc_id is None:
                doc_id = index[table][key] = str(next_id[table])
                next_id[table] += 1
            data[table][doc_id] = row
        storage.write(data)
        figures.baseline.append(time.perf_counter() - started)
    storage.close()
    started = time.perf_counter()
    JSONStorage(str(path), access_mode="r").read()
    figures.baseline_open = time.perf_counter() - started


def run(
    size: int, directory: Path, commands: int, baseline_commands: int, baseline_seconds: float
) -> Figures:
    figures = Figures(size)
    path = directory / f"bench-{size}.db"
    started = time.perf_counter()
    service = build(path, size)
    figures.build_s = time.perf_counter() - started
    service.close()  # compacts the long build journal, as a user's session would
    service = Service.open(path)
    tables = {
        name: {str(doc_id): row for doc_id, row in enumerate(service.repository.rows(name), 1)}
        for name in TABLES
    }
    recorded = measure_commands(service, commands, figures)
    service.close()
    figures.workspace_mb = path.stat().st_size / 1e6
    figures.payloads_mb = path.with_name(path.name + ".payloads").stat().st_size / 1e6
    measure_open(path, 5, figures)
    measure_compaction(path, figures)
    measure_baseline(
        tables, recorded[:baseline_commands], directory / f"tinydb-{size}.json", baseline_seconds, figures
    )
    return figures


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def report(all_figures: list[Figures]) -> None:
    """The table of every size measured so far, then the details of the last one."""
    print()
    print(
        f"{'invoices':>9} {'store':<22} {'median ms':>9} {'p95 ms':>8} {'open s':>7} "
        f"{'read all s':>10} {'file MB':>8}  speed-up"
    )
    for f in all_figures:
        ours, base = f.all_latencies, f.baseline
        speedup = statistics.median(base) / statistics.median(ours)
        print(
            f"{f.size:>9} {'tui-billing journal':<22} {ms(statistics.median(ours)):>9} "
            f"{ms(percentile(ours, 0.95)):>8} {statistics.median(f.opens):7.3f} "
            f"{statistics.median(f.full_reads):10.3f} {f.workspace_mb:8.1f}  {speedup:6.1f}x"
        )
        print(
            f"{'':>9} {'TinyDB JSONStorage':<22} {ms(statistics.median(base)):>9} "
            f"{ms(percentile(base, 0.95)):>8} {f.baseline_open:7.3f} {f.baseline_open:10.3f} "
            f"{f.baseline_mb:8.1f}"
        )
    f = all_figures[-1]
    print(
        f"\n{f.size} invoices: built in {f.build_s:.0f} s; workspace {f.workspace_mb:.1f} MB, "
        f"payloads {f.payloads_mb:.1f} MB; opens (s): "
        + ", ".join(f"{t:.3f}" for t in f.opens)
        + "; open + read all (s): "
        + ", ".join(f"{t:.3f}" for t in f.full_reads)
    )
    print(
        f"  {len(f.all_latencies)} durable commands, {len(f.baseline)} baseline commands; "
        f"one compaction took {f.compaction_s:.2f} s"
    )
    for name, times in f.latencies.items():
        print(f"  {name:<22} median {ms(statistics.median(times))} ms   p95 {ms(percentile(times, 0.95))} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="invoice counts, comma-separated (default 10000)")
    parser.add_argument("--commands", type=int, default=600, help="durable commands to time per size")
    parser.add_argument(
        "--baseline-commands",
        type=int,
        default=30,
        help="of those, how many to replay on JSONStorage (each rewrites the file)",
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=90,
        help="stop the baseline after this long (it still runs five commands)",
    )
    parser.add_argument("--dir", type=Path, help="where to build (default: a temporary directory)")
    args = parser.parse_args(argv)
    sizes = [int(text) for text in args.sizes.split(",")]
    results: list[Figures] = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="tui-billing-bench-", dir=args.dir) as directory:
            results.append(
                run(size, Path(directory), args.commands, args.baseline_commands, args.baseline_seconds)
            )
        report(results)  # the figures so far: a long run shows the small sizes early
    return 0


if __name__ == "__main__":
    sys.exit(main())
