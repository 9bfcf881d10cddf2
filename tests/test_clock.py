"""The clock: progress while it advances, one record, nothing half-applied; the CLI's progress
line; the gate that makes the API wait for the dashboard's advance."""

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import FIXED_CLOCK

from tui_billing.api.gate import Gate
from tui_billing.cli import main
from tui_billing.domain.errors import Conflict
from tui_billing.service import ClockProgress, Service
from tui_billing.service import service as service_module
from tui_billing.service.commands import AdvanceClock, CreateInvoice


def _fingerprint(service: Service) -> tuple[object, ...]:
    return (
        service.now(),
        [(row["id"], row["status"]) for row in service.invoice_rows()],
        len(service.event_rows()),
        [(s.period_start, s.period_end) for s in service.subscriptions()],
    )


def test_progress_is_reported_as_the_clock_goes_and_the_result_is_the_same(
    service: Service, tmp_path: Path
) -> None:
    twin = Service.create(tmp_path / "twin.db", seed=7, now=FIXED_CLOCK)
    try:
        heard: list[ClockProgress] = []
        report = service.execute(AdvanceClock("1y", heard.append))
        quiet = twin.advance_clock("1y")
        assert (report.created, report.advanced) == (quiet.created, quiet.advanced)
        assert _fingerprint(service) == _fingerprint(twin)
    finally:
        twin.close()
    assert len(report.created) == 6 * 12
    assert heard[-1].reached == report.end and heard[-1].fraction == 1  # then the commit
    reached = [p.reached for p in heard]
    assert reached == sorted(reached)
    assert all(FIXED_CLOCK <= p.reached <= report.end and p.end == report.end for p in heard)
    assert (heard[-1].created, heard[-1].advanced) == (len(report.created), len(report.advanced))


def test_the_steps_yield_every_n_items_and_return_the_report(service: Service) -> None:
    steps = service.clock_steps("3mo", every=5)
    seen = []
    while True:
        try:
            seen.append(next(steps))
        except StopIteration as done:
            report = done.value
            break
    # every 5 items; the last yield (the end reached) comes just before the commit
    assert len(seen) == (len(report.created) + len(report.advanced)) // 5 + 1
    assert [p.created + p.advanced for p in seen][:2] == [5, 10]
    assert seen[-1].reached == report.end
    assert service.now() == FIXED_CLOCK + (report.end - FIXED_CLOCK)


def test_a_clock_advance_abandoned_halfway_writes_nothing(service: Service) -> None:
    before = _fingerprint(service)
    steps = service.clock_steps("1y", every=3)
    next(steps)
    next(steps)
    steps.close()
    assert _fingerprint(service) == before


def test_a_command_run_in_the_middle_makes_the_advance_refuse_and_write_nothing(service: Service) -> None:
    steps = service.clock_steps("2mo", every=2)
    next(steps)
    invoice = service.execute(CreateInvoice(service.customers()[0].key))
    after_create = _fingerprint(service)
    with pytest.raises(Conflict, match="changed while the clock advanced"):
        for _ in steps:
            pass
    assert _fingerprint(service) == after_create
    assert service.invoice(invoice.id).id == invoice.id
    assert service.now() == FIXED_CLOCK
    assert service.execute(AdvanceClock("2mo")).end == service.now() > FIXED_CLOCK + timedelta(days=58)


def _advance_by_cli(
    path: Path, tty: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert main(["--db", str(path), "clock", "advance", "3mo"]) == 0
    out, err = capsys.readouterr()
    return out, err


def test_the_cli_shows_progress_on_a_terminal_only_and_prints_the_same_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("tty.db", "pipe.db"):
        Service.create(tmp_path / name, seed=7, now=FIXED_CLOCK, customers=40).close()
    monkeypatch.setattr(service_module, "PROGRESS_EVERY", 25)
    out, err = _advance_by_cli(tmp_path / "tty.db", True, capsys, monkeypatch)
    piped_out, piped_err = _advance_by_cli(tmp_path / "pipe.db", False, capsys, monkeypatch)
    assert out == piped_out
    assert out.startswith("2026-01-01T09:00:00.000Z → 2026-04-01T09:00:00.000Z: 120 invoices created, ")
    assert piped_err == ""
    lines = err.split("\r\x1b[K")
    assert lines[0] == "" and lines[-1] == "", "each line rewrites the last; the last is wiped"
    shown = lines[1:-1]
    assert len(shown) > 2
    assert shown[0] == "clock at 2026-02-01T09:00:00.000Z ( 34%): 25 invoices created, 0 advanced"
    assert shown[-1] == "clock at 2026-04-01T09:00:00.000Z (100%): 120 invoices created, " + out.split(
        "created, "
    )[1].strip().replace(" advanced", " advanced, saving")


def test_the_gate_holds_newcomers_waits_for_those_inside_and_lets_them_in_order() -> None:
    gate = Gate()
    order: list[str] = []

    async def request(name: str, work: asyncio.Event | None = None) -> None:
        async with gate.passage():
            order.append(f"{name} in")
            if work is not None:
                await work.wait()
            order.append(f"{name} out")

    async def scenario() -> None:
        slow = asyncio.Event()
        inside = asyncio.create_task(request("inside", slow))
        await asyncio.sleep(0)
        holding = asyncio.Event()

        async def hold() -> None:
            async with gate.hold():
                order.append("held")
                holding.set()
                await asyncio.sleep(0.01)
                order.append("released")

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        assert gate.held and not holding.is_set(), "the holder waits for the one inside"
        waiting = [asyncio.create_task(request(name)) for name in ("first", "second")]
        await asyncio.sleep(0)
        slow.set()
        await asyncio.gather(inside, holder, *waiting)

    asyncio.run(scenario())
    assert order == [
        "inside in",
        "inside out",
        "held",
        "released",
        "first in",
        "first out",
        "second in",
        "second out",
    ]
    assert not gate.held
