"""Resetting the demo: ``init --demo`` from any directory, scenarios found by name, and
the dashboard's confirmed R."""

from pathlib import Path

import pytest
from conftest import DEMO
from tui_flows_def import dashboard
from tui_support import make_app, open_demo, pilot_test

from tui_billing.cli import main
from tui_billing.service import Service, scenario
from tui_billing.service.commands import CreateInvoice, SetHooks
from tui_billing.tui.dialogs.demo import ConfirmReset


def rows(path: Path) -> list[tuple[str, str, str]]:
    service = Service.open(path)
    try:
        hooks = service.app()
        return [(r["id"], r["number"], r["status"]) for r in service.invoice_rows()] + [
            ("hooks", str(hooks.enable_draft_sync_hook), str(hooks.enable_issuing_sync_hook))
        ]
    finally:
        service.close()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no fixtures/ in sight."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_demo_rebuilds_the_demo_from_any_directory(
    elsewhere: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "w.db")
    reference = tmp_path / "reference.db"
    open_demo(reference).close()
    assert main(["--db", db, "init", "--demo"]) == 0
    assert main(["--db", db, "hooks", "--draft", "off"]) == 0
    assert main(["--db", db, "init", "--demo"]) == 0  # replaces it: a reset needs no --force
    assert rows(Path(db)) == rows(reference)
    assert "created workspace" in capsys.readouterr().out


def test_scenarios_are_found_by_name_or_path(
    elsewhere: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scenario.find("demo") == scenario.bundled("demo")
    assert scenario.find(str(DEMO)) == DEMO
    assert main(["--db", str(tmp_path / "a.db"), "init", "--scenario", "demo"]) == 0
    assert main(["--db", str(tmp_path / "b.db"), "init", "--scenario", str(DEMO)]) == 0
    assert rows(tmp_path / "a.db") == rows(tmp_path / "b.db")
    capsys.readouterr()
    assert main(["--db", str(tmp_path / "c.db"), "init", "--scenario", "nope"]) == 1
    assert capsys.readouterr().err == "tui-billing: no scenario 'nope': give a file or one of demo\n"


def test_demo_and_scenario_together_are_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--db", str(tmp_path / "w.db"), "init", "--demo", "--scenario", "demo"])
    assert exit_.value.code == 2


@pilot_test
async def test_r_resets_the_workspace_after_a_confirmation(demo_service: Service, tmp_path: Path) -> None:
    path = demo_service.repository.path
    fresh = [(r["id"], r["status"]) for r in demo_service.invoice_rows()]
    demo_service.execute(SetHooks(draft=False))
    demo_service.execute(CreateInvoice(demo_service.customers()[0].key))
    app = make_app(demo_service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmReset)
        await pilot.press("n")  # keeps it
        assert len(app.service.invoice_rows()) == len(fresh) + 1
        await pilot.press("R", "y")
        await pilot.pause()
        assert app.service is not demo_service and app.service.repository.path == path
        assert [(r["id"], r["status"]) for r in app.service.invoice_rows()] == fresh
        assert app.service.app().enable_draft_sync_hook
        assert dashboard(pilot).service is app.service
        assert app.notices[-1].title == "Demo reset"
        await pilot.press("c", "enter")  # the dashboard works on the rebuilt workspace
        assert len(app.service.invoice_rows()) == len(fresh) + 1
    app.service.close()
