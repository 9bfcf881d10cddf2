"""The service's clock: progress while it advances, one record, nothing half-applied."""

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import FIXED_CLOCK

from tui_billing.domain.errors import Conflict
from tui_billing.service import ClockProgress, Service


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
        report = service.advance_clock("1y", heard.append)
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
    invoice = service.create_invoice(service.customers()[0].key)
    after_create = _fingerprint(service)
    with pytest.raises(Conflict, match="changed while the clock advanced"):
        for _ in steps:
            pass
    assert _fingerprint(service) == after_create
    assert service.invoice(invoice.id).id == invoice.id
    assert service.now() == FIXED_CLOCK
    assert service.advance_clock("2mo").end == service.now() > FIXED_CLOCK + timedelta(days=58)
