"""The dashboard's Certify screen (K) over a saved certify report, driven by its keys; and the
report file itself (``service.certify_report``).

How the screen looks is ``test_tui_snapshots.py``'s job (the certify-* shots).
"""

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static
from tui_support import CERTIFY_REPORT, make_app, pilot_test

from tui_billing.domain.errors import InvalidValue
from tui_billing.service import Service
from tui_billing.service.certify_report import load, save
from tui_billing.tui.screens.certify import CertifyScreen
from tui_billing.tui.screens.dashboard import Dashboard
from tui_billing.tui.widgets.row_list import RowList


def summary(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one("#certify-summary", Static).content)


def detail(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one("#detail-text", Static).content)


def selected(pilot: Pilot[None]) -> str:
    row = pilot.app.screen.query_one(RowList).current
    assert row is not None
    return str(row["name"])


@pilot_test
async def test_k_shows_the_run_and_each_checks_evidence(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("K")
        assert isinstance(app.screen, CertifyScreen)
        assert "not certified" in summary(pilot)
        assert "12 passed · 1 failed · 2 skipped" in summary(pilot)
        assert "partner http://127.0.0.1:9000/webhooks" in summary(pilot)
        # The first failure is selected: why, what production does, why it matters, evidence.
        assert selected(pilot) == "hooks.line_external_ids"
        text = detail(pilot)
        for part in ("FAIL", "✗ ERP-1003 lines without an external id", "What production does"):
            assert part in text
        assert "Why it matters" in text and "0 of 6 lines with an external id" in text
        await pilot.press("k")
        assert selected(pilot) == "hooks.draft_synchronized"
        text = detail(pilot)
        assert "PASS" in text and "Evidence" in text and "What production does" not in text
        await pilot.press("G")
        assert selected(pilot) == "payments.void_and_uncollectible"
        assert "why skipped: opt-in: add --suite payments" in detail(pilot)
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)


@pilot_test
async def test_without_a_report_it_says_how_to_make_one(demo_service: Service, tmp_path: Path) -> None:
    path = tmp_path / "certify" / "last.json"
    app = make_app(demo_service, certify_report=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("K")
        assert "no certify run yet" in summary(pilot)
        assert app.screen.query_one(RowList).rows == []
        assert "tui-billing certify --partner-url" in detail(pilot)
        assert str(path) in detail(pilot).replace("\n", "")
        # A run finishes meanwhile: r reads it.
        save(CERTIFY_REPORT.read_text(encoding="utf-8"), path)
        await pilot.press("r")
        assert selected(pilot) == "hooks.line_external_ids"


@pilot_test
async def test_a_file_that_is_no_report_is_one_line(demo_service: Service, tmp_path: Path) -> None:
    path = tmp_path / "last.json"
    path.write_text('{"api": "x"}', encoding="utf-8")
    app = make_app(demo_service, certify_report=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("K")
        assert f"{path}: not a certify report (seed: Field required)" in summary(pilot).replace("\n", " ")


def test_save_is_private_and_replaces_whole(tmp_path: Path) -> None:
    path = tmp_path / "certify" / "last.json"
    save("{}", path)
    save(CERTIFY_REPORT.read_text(encoding="utf-8"), path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["last.json"]  # no temporary file left
    report = load(path)
    assert report is not None and report.count("failed") == 1
    assert load(tmp_path / "none.json") is None
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(InvalidValue, match="not a certify report"):
        load(path)
