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
* SQLite (WAL, ``synchronous=FULL``) and our store alone (journal append, fsync, apply)
  making the document writes of each timed command, the two taking turns command by
  command so that both meet the disk in the same state (it varies by the minute);
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
import os
import shutil
import sqlite3
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
from tui_billing.service.commands import (
    AdvanceClock,
    Approve,
    CreateInvoice,
    DraftSynchronized,
    IssuingSynchronized,
    PaymentStatus,
    SetHooks,
    SetWorkflow,
)
from tui_billing.store import repository as repository_module
from tui_billing.store.journal import Journal, Op
from tui_billing.store.repository import TABLES, Repository

START = datetime(2026, 1, 1, 9, tzinfo=UTC)
INVOICES_PER_CUSTOMER = 100
TINYDB_UP_TO = 10_000
"""Larger sizes skip TinyDB (each of its writes rewrites the whole file: minutes at 100k)."""


@dataclass
class Figures:
    size: int
    build_s: float = 0.0
    workspace_mb: float = 0.0
    payloads_mb: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    own: list[float] = field(default_factory=list)
    """Per durable command: its latency less the time its own fsyncs took."""
    disk: list[float] = field(default_factory=list)
    """The disk alone, timed between the commands: one small append and its fsync."""
    opens: list[float] = field(default_factory=list)
    full_reads: list[float] = field(default_factory=list)
    compaction_s: float = 0.0
    freezes: list[float] = field(default_factory=list)
    """What starting a compaction costs the command that starts it: freezing the tables."""
    during_compaction: list[float] = field(default_factory=list)
    events: int = 0
    one_invoice: list[float] = field(default_factory=list)
    sqlite: list[float] = field(default_factory=list)
    replay: list[float] = field(default_factory=list)
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
        service.execute(AdvanceClock("1mo"))
        if (month + 1) % 10 == 0:
            print(f"  building {path.name}: month {month + 1}/{months}", flush=True)
    keys = [customer.key for customer in service.customers()]
    for index in range(rest):
        service.execute(CreateInvoice(keys[index % len(keys)]))
    return service


class Recorder:
    """Captures the operations each durable command appends to the journal."""

    def __init__(self) -> None:
        self.commands: list[list[Op]] = []
        self._append = Journal.append_lines

    def __enter__(self) -> "Recorder":
        recorder, original = self, self._append

        def append_lines(journal: Journal, lines: list[bytes]) -> None:
            original(journal, lines)
            recorder.commands += [json.loads(line[9:]) for line in lines]  # after "<crc32> "

        Journal.append_lines = append_lines  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Journal.append_lines = self._append  # type: ignore[method-assign]


def command_cycle(service: Service, customer: str) -> list[tuple[str, Callable[[], Any]]]:
    """One invoice's way from creation to paid with both hooks on and manual approval."""
    state: dict[str, str] = {}

    def create() -> None:
        state["id"] = service.execute(CreateInvoice(customer, [FlatFee("Platform fee", Decimal("49.00"))])).id

    return [
        ("create_invoice", create),
        ("draft_synchronized", lambda: service.execute(DraftSynchronized(state["id"], external_id="ext-1"))),
        ("approve", lambda: service.execute(Approve(state["id"]))),
        (
            "issuing_synchronized",
            lambda: service.execute(IssuingSynchronized(state["id"], payment_external_id="pay-1")),
        ),
        ("payment_status", lambda: service.execute(PaymentStatus(state["id"], "paid"))),
        ("set_hooks", lambda: service.execute(SetHooks(draft=True, issuing=True))),
    ]


def measure_commands(service: Service, count: int, figures: Figures, directory: Path) -> list[list[Op]]:
    """Time ``count`` durable commands, the fsyncs each made, and between two commands the
    disk alone (a 400-byte append and its fsync beside the workspace): the floor under
    a command's latency, measured under the same load."""
    service.execute(SetWorkflow(auto_advance=False))
    service.execute(SetHooks(draft=True, issuing=True))
    customer = service.customers()[0].key
    synced: list[tuple[float, float]] = []
    real_fsync = os.fsync

    def timed_fsync(fd: int) -> None:
        begun = time.perf_counter()
        real_fsync(fd)
        synced.append((begun, time.perf_counter()))

    probe = os.open(directory / "fsync-probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fsync = timed_fsync
    try:
        with Recorder() as recorder:
            done = 0
            while done < count:
                for name, command in command_cycle(service, customer):
                    synced.clear()
                    started = time.perf_counter()
                    command()
                    elapsed = time.perf_counter() - started
                    figures.latencies[name].append(elapsed)
                    figures.own.append(elapsed - _covered(synced))
                    begun = time.perf_counter()
                    os.write(probe, b"x" * 399 + b"\n")
                    real_fsync(probe)
                    figures.disk.append(time.perf_counter() - begun)
                    done += 1
    finally:
        os.fsync = real_fsync
        os.close(probe)
    return recorder.commands


def _covered(intervals: list[tuple[float, float]]) -> float:
    """The time some of ``intervals`` covered (fsyncs of two files may overlap)."""
    total, reached = 0.0, float("-inf")
    for begun, ended in sorted(intervals):
        total += max(0.0, ended - max(begun, reached))
        reached = max(reached, ended)
    return total


OPEN = """
import json, sys, time
from tui_billing.service import Service
from tui_billing.store.repository import TABLES, Repository
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
    """Commands while a compaction runs: it starts after a command once the journal
    outgrows the snapshot (forced here) and runs in the background; every command timed
    until it has renamed the new file, and the compaction's own duration."""
    service = Service.open(path)
    customer = service.customers()[0].key
    for _, command in command_cycle(service, customer):  # warm: the tables a command reads parsed
        command()
    for name in TABLES:  # and every other one (a screen showed them): the most to freeze and write
        service.repository.rows(name)
    repository = service.repository
    for _ in range(5):
        begun = time.perf_counter()
        with repository._io:
            repository._frozen()
        figures.freezes.append(time.perf_counter() - begun)
        repository._before = {}  # nothing to record: no compaction reads these
    service.repository._journal.snapshot_bytes = 0  # the next command starts a compaction
    threshold, repository_module.COMPACT_MIN_BYTES = repository_module.COMPACT_MIN_BYTES, 0
    started = time.perf_counter()
    service.execute(CreateInvoice(customer))
    repository_module.COMPACT_MIN_BYTES = threshold
    figures.during_compaction.append(time.perf_counter() - started)
    compactor = service.repository._compactor
    while compactor is not None and compactor.is_alive():
        for _, command in command_cycle(service, customer):
            begun = time.perf_counter()
            command()
            figures.during_compaction.append(time.perf_counter() - begun)
    figures.compaction_s = time.perf_counter() - started
    service.close()


def measure_events_of_one_invoice(path: Path, figures: Figures) -> None:
    """``Service.events(invoice_id)``: one invoice's whole events (envelopes and data),
    for 200 invoices spread over the workspace, the events table already parsed."""
    service = Service.open(path)
    rows = service.invoice_rows()
    figures.events = service.repository.count("events")
    for row in rows[:: max(1, len(rows) // 200)]:
        started = time.perf_counter()
        service.events(row["id"])
        figures.one_invoice.append(time.perf_counter() - started)
    service.close()


def measure_writes(commands: list[list[Op]], path: Path, sqlite_path: Path, figures: Figures) -> None:
    """Each recorded command's document writes done by our store alone (its rows appended
    as one fsynced journal record and applied to the tables: no service, no encoding) and
    by SQLite (WAL, ``synchronous=FULL``: one transaction per command, each row stored as
    JSON text under its table and key), command by command in turn, the first of the two
    alternating, so both meet the disk in the same state. SQLite stores the rows as the
    journal does (event data lives beside, in both stores); its tables start empty, which
    favours it."""
    repository = Repository.open(path)
    db = sqlite3.connect(sqlite_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE docs (tab TEXT, key TEXT, doc TEXT, PRIMARY KEY (tab, key))")

    def ours(ops: list[Op]) -> None:
        started = time.perf_counter()
        repository._journal.append(ops)
        repository._apply(ops)
        figures.replay.append(time.perf_counter() - started)

    def sqlite(ops: list[Op]) -> None:
        started = time.perf_counter()
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR REPLACE INTO docs VALUES (?, ?, ?)",
            [(table, key, json.dumps(row, separators=(",", ":"))) for _, table, key, row in ops],
        )
        db.execute("COMMIT")
        figures.sqlite.append(time.perf_counter() - started)

    for index, ops in enumerate(commands):
        for write in (ours, sqlite) if index % 2 else (sqlite, ours):
            write(ops)
    db.close()
    repository.close()


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
    size: int,
    directory: Path,
    commands: int,
    baseline_commands: int,
    baseline_seconds: float,
    cache: Path | None = None,
) -> Figures:
    figures = Figures(size)
    path = directory / f"bench-{size}.db"
    cached = cache / path.name if cache is not None else None
    started = time.perf_counter()
    if cached is not None and cached.exists():
        for name in (path.name, path.name + ".payloads"):
            shutil.copyfile(cached.with_name(name), path.with_name(name))
    else:
        service = build(path, size)
        service.close()  # compacts the long build journal, as a user's session would
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            for name in (path.name, path.name + ".payloads"):
                shutil.copyfile(path.with_name(name), cached.with_name(name))
    figures.build_s = time.perf_counter() - started
    service = Service.open(path)
    tables = {
        name: {str(doc_id): row for doc_id, row in enumerate(service.repository.rows(name), 1)}
        for name in TABLES
    }
    recorded = measure_commands(service, commands, figures, directory)
    service.close()
    figures.workspace_mb = path.stat().st_size / 1e6
    figures.payloads_mb = path.with_name(path.name + ".payloads").stat().st_size / 1e6
    measure_open(path, 5, figures)
    measure_events_of_one_invoice(path, figures)
    measure_compaction(path, figures)
    measure_writes(recorded, path, directory / f"sqlite-{size}.db", figures)
    if size <= TINYDB_UP_TO:
        measure_baseline(
            tables, recorded[:baseline_commands], directory / f"tinydb-{size}.json", baseline_seconds, figures
        )
    return figures


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


BASELINE_10K = {
    "durable command median ms": "1.67",
    "durable command p99 ms": "(p95 3.0)",
    "  its fsyncs excluded, p99 ms": "not measured",
    "  disk alone: fsync p99 ms": "not measured",
    "compaction start on the command path ms": "not measured",
    "longest command ms (compaction)": "1,320",
    "  longest without compaction ms": "not measured",
    "SQLite median / ours": "not measured",
    "SQLite median / our store alone": "not measured",
    "TinyDB JSONStorage median / ours": "719x",
    "open to first command s": "0.06",
    "event payload bytes per event": "~1,100",
    "events of one invoice ms": "full scan",
}
"""The figures issue 11 starts from (10k invoices, before this work)."""
GOALS = {
    "durable command median ms": "<= 2",
    "durable command p99 ms": "<= 10",
    "  its fsyncs excluded, p99 ms": "",
    "  disk alone: fsync p99 ms": "floor",
    "compaction start on the command path ms": "~0",
    "longest command ms (compaction)": "no spike",
    "  longest without compaction ms": "",
    "SQLite median / ours": ">= 1.0",
    "SQLite median / our store alone": ">= 1.0",
    "TinyDB JSONStorage median / ours": "report",
    "open to first command s": "<= 0.5",
    "event payload bytes per event": "<= 250",
    "events of one invoice ms": "<= 5",
}


def report(all_figures: list[Figures]) -> None:
    """Issue 11's table for every size measured so far beside its baseline and goal, then
    the details of the last size."""
    print()
    header = f"{'figure':<34} {'10k before':>13} {'goal':>9}"
    print(header + "".join(f" {f.size:>10,}" for f in all_figures))
    rows: dict[str, list[str]] = {name: [] for name in BASELINE_10K}
    for f in all_figures:
        ours = f.all_latencies
        rows["durable command median ms"].append(f"{statistics.median(ours) * 1000:.2f}")
        rows["durable command p99 ms"].append(f"{percentile(ours, 0.99) * 1000:.2f}")
        rows["  its fsyncs excluded, p99 ms"].append(f"{percentile(f.own, 0.99) * 1000:.2f}")
        rows["  disk alone: fsync p99 ms"].append(f"{percentile(f.disk, 0.99) * 1000:.2f}")
        rows["compaction start on the command path ms"].append(f"{statistics.median(f.freezes) * 1000:.3f}")
        rows["longest command ms (compaction)"].append(f"{max(f.during_compaction) * 1000:.1f}")
        rows["  longest without compaction ms"].append(f"{max(ours) * 1000:.1f}")
        rows["SQLite median / ours"].append(f"{statistics.median(f.sqlite) / statistics.median(ours):.2f}")
        rows["SQLite median / our store alone"].append(
            f"{statistics.median(f.sqlite) / statistics.median(f.replay):.2f}"
        )
        rows["TinyDB JSONStorage median / ours"].append(
            f"{statistics.median(f.baseline) / statistics.median(ours):.0f}x" if f.baseline else "-"
        )
        rows["open to first command s"].append(f"{statistics.median(f.opens):.3f}")
        rows["event payload bytes per event"].append(f"{f.payloads_mb * 1e6 / max(f.events, 1):.0f}")
        rows["events of one invoice ms"].append(
            f"{statistics.median(f.one_invoice) * 1000:.2f} (max {max(f.one_invoice) * 1000:.1f})"
        )
    for name, values in rows.items():
        print(f"{name:<34} {BASELINE_10K[name]:>13} {GOALS[name]:>9}" + "".join(f" {v:>10}" for v in values))
    f = all_figures[-1]
    print(
        f"\n{f.size} invoices ({f.events} events): built in {f.build_s:.0f} s; workspace "
        f"{f.workspace_mb:.1f} MB, payloads {f.payloads_mb:.1f} MB; opens (s): "
        + ", ".join(f"{t:.3f}" for t in f.opens)
        + "; open + read all (s): "
        + ", ".join(f"{t:.3f}" for t in f.full_reads)
    )
    print(
        f"  {len(f.all_latencies)} durable commands, {len(f.baseline)} TinyDB commands (median "
        f"{statistics.median(f.baseline) * 1000 if f.baseline else 0:.1f} ms, "
        f"its file {f.baseline_mb:.1f} MB), SQLite median {statistics.median(f.sqlite) * 1000:.2f} ms "
        f"p99 {percentile(f.sqlite, 0.99) * 1000:.2f} ms, our store alone median "
        f"{statistics.median(f.replay) * 1000:.2f} ms p99 {percentile(f.replay, 0.99) * 1000:.2f} ms; "
        f"a background compaction took {f.compaction_s:.2f} s, {len(f.during_compaction)} commands ran "
        f"meanwhile (p99 {percentile(f.during_compaction, 0.99) * 1000:.1f} ms)"
    )
    for name, times in f.latencies.items():
        print(f"  {name:<22} median {ms(statistics.median(times))} ms   p99 {ms(percentile(times, 0.99))} ms")


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
    parser.add_argument(
        "--cache",
        type=Path,
        help="keep each built workspace here and copy it instead of building it again "
        "(the build is deterministic; delete the directory after changing the service)",
    )
    args = parser.parse_args(argv)
    sizes = [int(text) for text in args.sizes.split(",")]
    results: list[Figures] = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="tui-billing-bench-", dir=args.dir) as directory:
            results.append(
                run(
                    size,
                    Path(directory),
                    args.commands,
                    args.baseline_commands,
                    args.baseline_seconds,
                    args.cache,
                )
            )
        report(results)  # the figures so far: a long run shows the small sizes early
    return 0


if __name__ == "__main__":
    sys.exit(main())
