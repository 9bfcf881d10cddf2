"""Guided tours: every packaged tour plays to its end (each step's command allowed where
the steps before it leave the workspace), back and forward agree, bad tour files are
refused in one line, and the dashboard plays them (→ ← esc, T from the dashboard)."""

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT
from textual.widgets import Static
from tui_support import StillApp, make_app, pilot_test

from tui_billing.cli import main
from tui_billing.domain.errors import InvalidValue
from tui_billing.service import Service, scenario, tours
from tui_billing.tui.dialogs.demo import TourChooser
from tui_billing.tui.screens.dashboard import Dashboard
from tui_billing.tui.screens.tour import TourDashboard

NAMES = tours.names()


def load(name: str) -> tours.Tour:
    return tours.load(tours.find(name))


@pytest.fixture
def player(request: pytest.FixtureRequest) -> Iterator[tours.TourPlayer]:
    played = tours.TourPlayer(load(getattr(request, "param", "hooks-and-callbacks")))
    yield played
    played.close()


def state(service: Service) -> list[tuple[str, str, str]]:
    return [(row["id"], row["number"], row["status"]) for row in service.invoice_rows()]


# --- the packaged tours --------------------------------------------------------------------
def test_the_four_tours_of_the_issue_are_packaged() -> None:
    assert {"hooks-and-callbacks", "payment-outcomes", "time", "webhooks"} <= set(NAMES)
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    assert "tours/*.json" in config["tool"]["setuptools"]["package-data"]["tui_billing.fixtures"]


@pytest.mark.parametrize("name", NAMES)
def test_every_step_is_allowed_where_the_steps_before_leave_it(name: str) -> None:
    """Played step by step: each command is one the service allows at that moment (a
    refusal would raise), and each highlighted invoice exists."""
    tour = load(name)
    player = tours.TourPlayer(tour)
    try:
        while True:
            step = player.step
            if step.highlight.invoice:
                player.service.invoice(player.invoice_id(step.highlight.invoice))
            if not player.forward():
                break
        assert player.position == len(tour.steps) - 1
    finally:
        player.close()
    assert tours.check(tour) == len(tour.steps)


def test_tour_commands_are_the_scenario_vocabulary() -> None:
    """A tour names commands exactly as scenario files do, and runs them through the same
    code (``scenario.run_step``): there is no second list."""
    for name in NAMES:
        assert {s.do for s in load(name).steps if s.do} <= set(scenario.COMMANDS)


@pytest.mark.parametrize("player", ["hooks-and-callbacks", "time"], indirect=True)
def test_back_rebuilds_exactly_the_earlier_state(player: tours.TourPlayer) -> None:
    seen = [state(player.service)]
    while player.forward():
        seen.append(state(player.service))
    while player.back():
        assert state(player.service) == seen[player.position]
    assert player.position == 0 and not player.back()


def test_a_tour_workspace_is_temporary(player: tours.TourPlayer) -> None:
    directory = player.service.repository.path.parent
    assert directory.is_dir()
    player.close()
    assert not directory.exists()


# --- partners' own tour files --------------------------------------------------------------
def write(tmp_path: Path, steps: list[dict], **extra: object) -> Path:
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {"name": "mine", "title": "Mine", "clock": "2026-01-01T09:00:00Z", "steps": steps, **extra}
        )
    )
    return path


def test_an_unknown_command_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match=r"step 1: unknown command 'aprove'"):
        tours.load(write(tmp_path, [{"caption": "x", "do": "aprove", "invoice": "$a"}]))


def test_a_step_not_allowed_then_names_the_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"caption": "new", "do": "create_invoice", "customer": 0, "usage": ["Calls=10@1"], "as": "a"},
            {"caption": "paid too early", "do": "payment_status", "invoice": "$a", "trigger": "paid"},
        ],
    )
    with pytest.raises(InvalidValue, match=r"tour mine, step 2 \(payment_status\): .*not allowed"):
        tours.check(tours.load(path))


def test_a_highlight_must_name_a_saved_invoice(tmp_path: Path) -> None:
    path = write(tmp_path, [{"caption": "x", "highlight": {"invoice": "$nope"}}])
    with pytest.raises(InvalidValue, match=r"step 1: highlight invoice '\$nope'"):
        tours.check(tours.load(path))


def test_a_tour_without_steps_or_with_an_unknown_highlight_is_not_a_tour(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="is not a tour"):
        tours.load(write(tmp_path, []))
    with pytest.raises(InvalidValue, match="is not a tour"):
        tours.load(write(tmp_path, [{"caption": "x", "highlight": {"colour": "red"}}]))


def test_setup_steps_build_the_start_unseen(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [{"caption": "look", "highlight": {"invoice": "$a"}}],
        setup=[{"do": "create_invoice", "customer": 1, "flat": ["Fee=10"], "as": "a"}],
    )
    player = tours.TourPlayer(tours.load(path))
    try:
        assert len(player.service.invoice_rows()) == 1 and player.results == [None]
    finally:
        player.close()


def test_the_example_in_docs_plays_to_its_end(tmp_path: Path) -> None:
    """docs/tours.md's example tour file is a tour, every step allowed."""
    text = (PROJECT / "docs" / "tours.md").read_text(encoding="utf-8")
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "my-tour.json"
    path.write_text(example)
    assert tours.check(tours.load(path)) == 3


def test_cli_lists_checks_and_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tour", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in NAMES) and "Payment outcomes" in listed
    assert main(["tour", "time", "--check"]) == 0
    assert "7 steps" in capsys.readouterr().out
    assert main(["tour", "--file", str(write(tmp_path, [{"caption": "x", "do": "retry"}])), "--check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "step 1 (retry)" in err
    assert main(["tour", "nope"]) == 1
    assert "no tour 'nope'" in capsys.readouterr().err


# --- in the dashboard ----------------------------------------------------------------------
def panel(app: StillApp) -> str:
    return str(app.screen.query_one("#tour-panel", Static).content)


@pytest.mark.parametrize("name", NAMES)
@pilot_test
async def test_each_tour_plays_to_its_end_in_the_dashboard(name: str) -> None:
    player = tours.TourPlayer(load(name))
    total = len(player.tour.steps)
    try:
        app = StillApp(player.service, tour=player)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert f"step 1/{total}" in panel(app)
            for number in range(2, total + 1):
                await pilot.press("right")
                await pilot.pause()
                step = player.tour.steps[number - 1]
                assert f"step {number}/{total}" in panel(app) and step.caption[:40] in panel(app)
                if step.highlight.invoice:  # the dashboard shows the highlighted invoice
                    shown = app.screen.selected
                    assert shown is not None and shown.id == player.invoice_id(step.highlight.invoice)
            await pilot.press("right")
            assert app.notices[-1].message.startswith("the last step")
            await pilot.press("left")
            await pilot.pause()
            assert f"step {total - 1}/{total}" in panel(app)
            await pilot.press("escape")
            await pilot.pause()
        assert app._exit
    finally:
        player.close()


@pilot_test
async def test_t_plays_a_tour_over_the_dashboard_and_esc_returns(demo_service: Service) -> None:
    before = demo_service.invoice_rows()
    app = make_app(demo_service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("T")
        assert isinstance(app.screen, TourChooser)
        await pilot.press("enter")
        await pilot.pause()
        tour = app.screen
        assert isinstance(tour, TourDashboard) and tour.service is not demo_service
        await pilot.press("right", "right", "right")
        await pilot.press("R")  # the user's workspace is not reset from inside a tour
        assert app.notices[-1].message == "not during a tour: esc ends it"
        directory = tour.player.service.repository.path.parent
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, Dashboard) and not isinstance(app.screen, TourDashboard)
        assert not directory.exists()
    assert demo_service.invoice_rows() == before


@pilot_test
async def test_quitting_during_a_tour_removes_its_workspace(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("T", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TourDashboard)
        directory = app.screen.player.service.repository.path.parent
        await app.action_quit()
    assert not directory.exists()
