"""Clock benchmark: ``advance_clock("1y")`` on workspaces of 100 and 1,000 subscriptions.

Run from the project root (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_clock.py                    # 100 and 1,000 customers
    .venv/bin/python tests/benchmarks/bench_clock.py --customers 100,300 --profile

For each size it creates a fresh workspace (``init --customers N``: each customer has a
monthly subscription) and times one ``advance_clock("1y")`` — twelve periods billed per
subscription, every invoice advanced through its waits, one journal record — with its
progress callback on (as the CLI and the dashboard run it). The baseline, measured in the
same run on a twin workspace, is the same year advanced month by month (twelve commands,
twelve records): the year in one command should cost no more than the months one by one,
and the cost per invoice should not grow with the workspace. It also prints the time the
garbage collector took (its pauses grow with the objects one long transaction holds) and
the process's peak memory once the year is committed (the peak so far: give the sizes
smallest first, as the default does).
Compare the CPU times: on a shared machine the wall clock counts other processes too.

Target (issue 11): ``clock advance 1y`` on 1k subscriptions <= 5 s, with progress shown.
``--profile`` prints the functions that took the most time in the one-year advance.
"""

import argparse
import cProfile
import gc
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tui_billing.service import ClockProgress, ClockReport, Service
from tui_billing.service.commands import AdvanceClock

START = datetime(2026, 1, 1, 9, tzinfo=UTC)


@contextmanager
def gc_timer() -> Iterator[list[float]]:
    """Yields a one-item list that ends up holding the seconds spent in collections."""
    spent = [0.0]
    began = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - began[0]

    gc.callbacks.append(callback)
    try:
        yield spent
    finally:
        gc.callbacks.remove(callback)


@dataclass
class Timing:
    """CPU and wall seconds, and the wall seconds the garbage collector took. Compare CPU
    times: on a shared machine the wall clock counts other processes' turns too."""

    cpu: float = 0.0
    wall: float = 0.0
    gc: float = 0.0

    def __iadd__(self, other: "Timing") -> "Timing":
        self.cpu, self.wall, self.gc = self.cpu + other.cpu, self.wall + other.wall, self.gc + other.gc
        return self

    def per(self, invoices: int) -> str:
        return (
            f"{self.cpu:7.2f} s CPU ({self.cpu / invoices * 1000:5.2f} ms/invoice; "
            f"wall {self.wall:7.2f} s, gc {self.gc:5.2f} s)"
        )


def timed(command: Callable[[], ClockReport]) -> tuple[Timing, ClockReport]:
    """The timing and the report of one command."""
    with gc_timer() as collecting:
        cpu, wall = time.process_time(), time.perf_counter()
        report = command()
        timing = Timing(time.process_time() - cpu, time.perf_counter() - wall)
    timing.gc = collecting[0]
    return timing, report


def year(service: Service, profile: bool) -> tuple[Timing, ClockReport, int]:
    """The one-year advance: (timing, report, progress reports heard)."""
    heard: list[ClockProgress] = []
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    timing, report = timed(lambda: service.execute(AdvanceClock("1y", heard.append)))
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(20)
    return timing, report, len(heard)


def month_by_month(service: Service) -> tuple[Timing, int]:
    """The baseline: the same year as twelve one-month advances (timing, invoices created)."""
    total, created = Timing(), 0
    for _ in range(12):
        timing, report = timed(lambda: service.execute(AdvanceClock("1mo")))
        total += timing
        created += len(report.created)
    return total, created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", default="100,1000", help="comma-separated sizes (default 100,1000)")
    parser.add_argument("--profile", action="store_true", help="profile the one-year advance")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.customers.split(",")]
    print("advance_clock('1y') in one command, against the same year month by month (a twin workspace):")
    for size in sizes:
        with tempfile.TemporaryDirectory() as directory:
            one = Service.create(Path(directory) / "year.db", seed=11, now=START, customers=size)
            twin = Service.create(Path(directory) / "months.db", seed=11, now=START, customers=size)
            try:
                timing, report, heard = year(one, args.profile)
                peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB"  # KB on Linux
                base, base_created = month_by_month(twin)
                assert base_created == len(report.created), "the twin billed another number of invoices"
                invoices = len(report.created)
                print(f"  {size} customers, {invoices} invoices, {heard} progress reports:")
                print(f"    1y in one command {timing.per(invoices)}; peak memory {peak}")
                print(f"    12 × 1mo          {base.per(invoices)}  (CPU ratio {base.cpu / timing.cpu:4.2f})")
            finally:
                one.close()
                twin.close()
    print("target (issue 11): 1,000 customers in <= 5 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
