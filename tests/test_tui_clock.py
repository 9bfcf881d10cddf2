"""The dashboard's clock advance (t): a worker with a progress dialog; other commands and
the API wait for it; esc stops it with nothing written. Behaviour only (Pilot)."""

import asyncio
from pathlib import Path

import aiohttp
import pytest
from conftest import FIXED_CLOCK
from textual.widgets import Label, ProgressBar
from tui_flows_def import SUBMIT
from tui_support import make_app, pilot_test

from tui_billing.api import start_serving
from tui_billing.service import ClockProgress, Service
from tui_billing.tui.app import ServeOptions
from tui_billing.tui.dialogs.progress import ClockProgressDialog
from tui_billing.tui.screens import dashboard as dashboard_module

SIZE = (80, 24)


@pytest.fixture
def busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    """Thirty subscriptions, and a progress dialog redrawn at every step of five items."""
    monkeypatch.setattr(dashboard_module, "CLOCK_STEP", 5)
    monkeypatch.setattr(dashboard_module, "CLOCK_FRAME", 0.0)
    return Service.create(tmp_path / "busy.db", seed=7, now=FIXED_CLOCK, customers=30)


def record_shown(monkeypatch: pytest.MonkeyPatch) -> list[tuple[ClockProgress, float | None, str]]:
    """What the dialog showed at each redraw: the progress, the bar's value, the label."""
    shown: list[tuple[ClockProgress, float | None, str]] = []
    original = ClockProgressDialog.show

    def show(dialog: ClockProgressDialog, progress: ClockProgress) -> None:
        original(dialog, progress)
        bar = dialog.query_one("#clock-bar", ProgressBar)
        shown.append((progress, bar.progress, str(dialog.query_one("#clock-reached", Label).content)))

    monkeypatch.setattr(ClockProgressDialog, "show", show)
    return shown


@pilot_test
async def test_the_clock_advances_with_its_progress_shown_then_the_dashboard_reloads(
    busy: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = record_shown(monkeypatch)
    app = make_app(busy)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("t", "ctrl+a", "ctrl+k", *"3mo", SUBMIT)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert not isinstance(app.screen, ClockProgressDialog)
            done = [n for n in app.notices if n.title == "Done"]
        twin = Service.create(tmp_path / "twin.db", seed=7, now=FIXED_CLOCK, customers=30)
        expected = twin.advance_clock("3mo")
        twin.close()
        assert [row["id"] for row in busy.invoice_rows()] == expected.created
        assert busy.now() == expected.end
        assert [n.message for n in done] == [
            f"Clock +3mo: {len(expected.created)} invoices created, {len(expected.advanced)} advanced"
        ]
        assert len(shown) > 5
        assert [fraction for _, fraction, _ in shown] == sorted(fraction for _, fraction, _ in shown)
        last, bar, text = shown[-1]
        assert bar == 1.0 and last.reached == expected.end
        assert text == (
            f"Clock at 2026-04-01T09:00:00.000Z: {len(expected.created)} invoices created, "
            f"{len(expected.advanced)} advanced · saving"
        )
        text = shown[0][2]
        assert text.startswith("Clock at 2026-02-01T09:00:00.000Z: 5 invoices created")
    finally:
        busy.close()


@pilot_test
async def test_esc_stops_the_advance_and_nothing_is_written(
    busy: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = record_shown(monkeypatch)
    original = ClockProgressDialog.show

    def show_then_stop(dialog: ClockProgressDialog, progress: ClockProgress) -> None:
        original(dialog, progress)
        if len(shown) == 3:
            dialog.action_cancel()  # esc, as the dialog receives it between two steps

    monkeypatch.setattr(ClockProgressDialog, "show", show_then_stop)
    events = len(busy.event_rows())
    app = make_app(busy)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("t", "ctrl+a", "ctrl+k", *"3mo", SUBMIT)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert [n.title for n in app.notices] == ["Stopped"]
        assert len(shown) == 3
        assert (busy.now(), busy.invoice_rows(), len(busy.event_rows())) == (FIXED_CLOCK, [], events)
    finally:
        busy.close()


@pilot_test
async def test_api_calls_made_during_the_advance_wait_for_it_and_see_its_result(
    busy: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = record_shown(monkeypatch)
    recorded = ClockProgressDialog.show
    answers: list[tuple[int, int]] = []
    calls: list[asyncio.Task[None]] = []
    app = make_app(busy, serve=ServeOptions(start_serving, port=0))

    async def list_invoices() -> None:
        assert app.serving is not None
        async with (
            aiohttp.ClientSession() as client,
            client.get(app.serving.url + "/api/v1/billing/invoices") as answer,
        ):
            answers.append((len(shown), len((await answer.json())["items"])))

    def show_and_call(dialog: ClockProgressDialog, progress: ClockProgress) -> None:
        recorded(dialog, progress)
        if len(shown) == 2:  # a partner's request arrives while the advance runs
            calls.append(asyncio.create_task(list_invoices()))

    monkeypatch.setattr(ClockProgressDialog, "show", show_and_call)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("t", "ctrl+a", "ctrl+k", *"3mo", SUBMIT)
            await app.workers.wait_for_complete()
            await asyncio.gather(*calls)
            created = len(busy.invoice_rows())
    finally:
        busy.close()
    assert len(shown) > 5
    assert answers == [(len(shown), created)], "the request waited for the whole advance and saw its invoices"
