"""Dashboard benchmark: first frame, a key action and memory on a 10k-invoice workspace.

Run from the project root (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_tui.py                                # temp workspace
    .venv/bin/python tests/benchmarks/bench_tui.py --workspace /tmp/bench-10k.db  # build once, reuse

The workspace is built through the service (``create_invoice`` in a loop, hooks off): most
invoices have flat lines only and go straight to awaiting payment, some then get a payment
trigger (paid, overdue, void, failed, uncollectible) and some keep the plan's usage line and
wait for collection, so every lane but Issuing holds invoices (about 125k events in all).

Each terminal size (80×24; 160×48, where the event log is docked) is measured in fresh
child processes, so the peak memory is the dashboard's alone:

* first frame: until the dashboard's first frame (lanes, list and detail) is drawn, from
  ``Service.open``, from creating the App, and from spawning the process (interpreter and
  imports included); "settled" is when it has nothing left to do (``pilot.pause()``);
* a key action: with an invoice of the Awaiting payment lane selected, ``p`` then ``enter``
  (report "paid") until the screen has been drawn with the invoice in the Paid lane; the
  median and p90 of ``--repeat`` rounds, wall clock and CPU time (the machine's other load
  shows as their difference); lane switches and cursor moves likewise;
* peak memory: the child's maximum resident set size.

Targets (issue 3): first frame <= 1.0 s, key action <= 100 ms median, memory <= 250 MB.
"""

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tui_billing.domain.linespec import FlatFee
from tui_billing.service import Service
from tui_billing.service.commands import CreateInvoice, PaymentStatus

START = datetime(2026, 1, 1, 9, tzinfo=UTC)
SEED = 7
CUSTOMERS = 100
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
TARGETS = {"first_frame_s": 1.0, "key_action_ms": 100.0, "peak_rss_mb": 250.0}
# Of every 20 invoices: which payment trigger each gets (None: stays awaiting payment, "plan":
# created with the plan's usage line, so it waits for collection in the Draft lane).
PATTERN: tuple[str | None, ...] = (
    None,
    None,
    None,
    None,
    None,
    None,
    "paid",
    "paid",
    "paid",
    "paid",
    "paid",
    "payment_overdue",
    "payment_overdue",
    "void",
    "payment_failed",
    "payment_uncollectible",
    "plan",
    "plan",
    "plan",
    None,
)


def build(path: Path, size: int) -> None:
    """A workspace of ``size`` service-created invoices in mixed states (hooks off)."""
    service = Service.create(path, seed=SEED, now=START, customers=CUSTOMERS)
    keys = [customer.key for customer in service.customers()]
    flat = [FlatFee("Platform fee", Decimal("49.00"))]
    try:
        for index in range(size):
            kind = PATTERN[index % len(PATTERN)]
            key = keys[index % len(keys)]
            if kind == "plan":
                service.execute(CreateInvoice(key))
            else:
                invoice = service.execute(CreateInvoice(key, flat))
                if kind is not None:
                    service.execute(PaymentStatus(invoice.id, kind))
            if index % 500 == 499:
                print(f"\r  building {path.name}: {index + 1}/{size}", end="", flush=True)
        print()
    finally:
        service.close()


async def keystroke(pilot: Any, key: str, ready: Callable[[], bool]) -> tuple[float, float]:
    """Send ``key`` as the terminal would; return the wall and CPU seconds until ``ready()``
    holds and the updated screen has been drawn.

    ``pilot.press`` is no stopwatch: it sleeps in 20 ms steps until the process looks idle
    (at least 40 ms a key), so the key is posted directly and the loop only yields."""
    from textual import events

    started, cpu = time.perf_counter(), time.process_time()
    pilot.app.post_message(events.Key(key, {"enter": "\r"}.get(key, key if len(key) == 1 else None)))
    while not ready():
        await asyncio.sleep(0)
    # Draw the frame now instead of at the next tick of the screen's update timer, as
    # Pilot.pause does.
    pilot.app.screen._on_timer_update()
    return time.perf_counter() - started, time.process_time() - cpu


async def measure(path: Path, spawned_at: float, repeat: int, size: tuple[int, int]) -> dict[str, Any]:
    """Everything timed inside the child process; returns the figures."""
    from textual.widgets import OptionList

    from tui_billing.tui.app import BillingApp
    from tui_billing.tui.dialogs.choosers import PaymentChooser
    from tui_billing.tui.lanes import LANES
    from tui_billing.tui.screens.dashboard import Dashboard
    from tui_billing.tui.widgets.row_list import RowList

    figures: dict[str, Any] = {}
    opened = time.perf_counter()
    service = Service.open(path)
    created = time.perf_counter()
    app = BillingApp(service)
    first_frame: list[tuple[float, float]] = []
    display = app._display

    def timed_display(screen: Any, update: Any) -> None:
        """The moment the first frame of the dashboard goes to the terminal (headless: nowhere).
        App._display is where every frame is written; it is wrapped for this timestamp only."""
        if not first_frame and update is not None and isinstance(screen, Dashboard) and screen.selected:
            first_frame.append((time.perf_counter(), time.time()))
        display(screen, update)

    app._display = timed_display  # type: ignore[method-assign]
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.pause()
        figures["settled_open_s"] = time.perf_counter() - opened
        painted, painted_epoch = first_frame[0]
        figures["first_frame_process_s"] = painted_epoch - spawned_at
        figures["first_frame_open_s"] = painted - opened
        figures["first_frame_app_s"] = painted - created
        dashboard = app.screen
        assert isinstance(dashboard, Dashboard)
        awaiting = next(i for i, lane in enumerate(LANES) if lane.key == "awaiting")
        invoices = dashboard.query_one("#invoices", RowList)

        def chooser_ready() -> bool:
            screen = app.screen
            return (
                isinstance(screen, PaymentChooser)
                and bool(screen.query(OptionList))
                and screen.query_one(OptionList).highlighted is not None
            )

        def paid(invoice_id: str) -> bool:
            selected = dashboard.selected
            return (
                app.screen is dashboard
                and selected is not None
                and selected.id == invoice_id
                and selected.status.value == "paid"
            )

        timings: dict[str, list[tuple[float, float]]] = {"action": [], "switch": [], "move": []}
        for _ in range(repeat):
            steps = (awaiting - dashboard.lane) % len(LANES)
            keys = ["right"] * steps if steps <= len(LANES) // 2 else ["left"] * (len(LANES) - steps)
            for key in keys:
                target = (dashboard.lane + (1 if key == "right" else -1)) % len(LANES)
                timings["switch"].append(await keystroke(pilot, key, lambda t=target: dashboard.lane == t))
                await pilot.pause()
            cursor = invoices.cursor
            timings["move"].append(
                await keystroke(
                    pilot,
                    "j",
                    lambda c=cursor: (
                        invoices.cursor == c + 1
                        and (
                            dashboard.selected is not None and dashboard.selected.id == invoices.current["id"]
                        )
                    ),
                )
            )
            await pilot.pause()
            invoice_id = dashboard.selected.id if dashboard.selected else ""
            wall, cpu = await keystroke(pilot, "p", chooser_ready)
            await pilot.pause()
            more_wall, more_cpu = await keystroke(pilot, "enter", lambda i=invoice_id: paid(i))
            timings["action"].append((wall + more_wall, cpu + more_cpu))
            await pilot.pause()
        for name, pairs in timings.items():
            walls = sorted(wall for wall, _ in pairs)
            figures[f"{name}_ms"] = statistics.median(walls) * 1000
            figures[f"{name}_p90_ms"] = walls[int(0.9 * (len(walls) - 1))] * 1000
            figures[f"{name}_cpu_ms"] = statistics.median(cpu for _, cpu in pairs) * 1000
        figures["invoices"] = len(service.invoice_rows())
    service.close()
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def child(path: Path, spawned_at: float, repeat: int, size: str) -> int:
    print(json.dumps(asyncio.run(measure(path, spawned_at, repeat, SIZES[size]))))
    return 0


def run(path: Path, repeat: int, rounds: int, size: str) -> list[dict[str, Any]]:
    """``rounds`` child processes measuring the workspace at ``path`` at ``size``."""
    results = []
    for _ in range(rounds):
        spawned_at = time.time()
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(path),
                str(spawned_at),
                "--repeat",
                str(repeat),
                "--sizes",
                size,
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(f"the measuring process failed:\n{out.stderr}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def report(size: str, results: list[dict[str, Any]]) -> None:
    def median(name: str) -> float:
        return statistics.median(r[name] for r in results)

    print(
        f"\n{results[0]['invoices']} invoices, {size} headless, {len(results)} processes "
        f"(medians across them)"
    )
    rows = [
        ("first frame, Service.open → rendered", median("first_frame_open_s"), "s", "first_frame_s"),
        ("first frame, App() → rendered", median("first_frame_app_s"), "s", None),
        ("first frame, process spawn → rendered", median("first_frame_process_s"), "s", None),
        ("settled (docked log filled), Service.open →", median("settled_open_s"), "s", None),
        ("key action p, enter (paid), median", median("action_ms"), "ms", "key_action_ms"),
        ("key action p, enter (paid), p90", median("action_p90_ms"), "ms", None),
        ("key action p, enter (paid), CPU median", median("action_cpu_ms"), "ms", None),
        ("lane switch (→ or ←), median", median("switch_ms"), "ms", None),
        ("lane switch (→ or ←), CPU median", median("switch_cpu_ms"), "ms", None),
        ("cursor move (j), median", median("move_ms"), "ms", None),
        ("cursor move (j), CPU median", median("move_cpu_ms"), "ms", None),
        ("peak memory (max RSS)", max(r["peak_rss_mb"] for r in results), "MB", "peak_rss_mb"),
    ]
    for label, value, unit, target in rows:
        goal = TARGETS.get(target or "")
        verdict = "" if goal is None else f"  target ≤ {goal:g} {unit}: {'ok' if value <= goal else 'MISSED'}"
        print(f"  {label:<46} {value:9.3f} {unit:<2}{verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workspace",
        type=Path,
        help="workspace file to reuse; built there first when missing (default: a temp dir)",
    )
    parser.add_argument("--size", type=int, default=10_000, help="invoices to build (default 10000)")
    parser.add_argument(
        "--sizes",
        default=",".join(SIZES),
        help=f"terminal sizes to measure, comma-separated (default {','.join(SIZES)})",
    )
    parser.add_argument("--repeat", type=int, default=30, help="key actions to time per process (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="measuring processes per size (default 3)")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "SPAWNED_AT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.sizes.split(",")
    if args.child:
        return child(Path(args.child[0]), float(args.child[1]), args.repeat, sizes[0])
    with tempfile.TemporaryDirectory(prefix="tui-billing-bench-") as directory:
        path = args.workspace or Path(directory) / f"bench-{args.size}.db"
        if not path.exists():
            started = time.perf_counter()
            build(path, args.size)
            print(f"  built {args.size} invoices in {time.perf_counter() - started:.0f} s: {path}")
        for size in sizes:
            report(size, run(path, args.repeat, args.rounds, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
