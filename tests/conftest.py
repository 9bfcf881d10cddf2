"""Shared fixtures: one place owns determinism (fixed clock, fixed seed, temp workspace)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tui_billing import workspace
from tui_billing.service import Service, scenario

FIXED_CLOCK = datetime(2026, 1, 1, 9, tzinfo=UTC)
SEED = 7
PROJECT = Path(__file__).resolve().parents[1]
# Kong's two schemas the project validates against, as packaged (tui_billing/domain/schemas/).
SEEDS = PROJECT / "tui_billing" / "domain" / "schemas"
DEMO = PROJECT / "fixtures" / "demo.json"


@pytest.fixture(autouse=True)
def no_user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own settings file (theme, workspace, keymap…) never reaches a test, nor
    their data dir (the default workspace, the last certify report)."""
    monkeypatch.setenv("TUI_BILLING_CONFIG", str(tmp_path / "no-settings.toml"))
    monkeypatch.setattr(workspace, "data_dir", lambda: tmp_path / "user-data")


@pytest.fixture
def workspace_path(tmp_path: Path) -> Path:
    return tmp_path / "workspace.db"


@pytest.fixture
def service(workspace_path: Path) -> Iterator[Service]:
    """A fresh workspace: six Faker customers, hooks off, default workflow, fixed clock."""
    svc = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    yield svc
    svc.close()


@pytest.fixture
def demo_service(workspace_path: Path) -> Iterator[Service]:
    """The demo scenario: invoices resting in every resting state."""
    svc = scenario.build(workspace_path, scenario.load(DEMO))
    yield svc
    svc.close()
