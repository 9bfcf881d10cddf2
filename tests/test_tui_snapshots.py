"""How the dashboard looks: every shot of ``tui_flows_def.SHOTS`` against its SVG baseline in
``tests/__snapshots__/``.

Each shot runs on a fresh demo workspace (the ``demo_service`` fixture: fixed seed, clock and
ids) in ``tui_support``'s still app. After a deliberate change, review ``snapshot_report.html``
and then regenerate with ``.venv/bin/python -m pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from collections.abc import Callable

import pytest
from tui_flows_def import SHOTS, Shot
from tui_support import make_app

from tui_billing.service import Service


@pytest.mark.parametrize("shot", SHOTS, ids=[shot.name for shot in SHOTS])
def test_screen(shot: Shot, demo_service: Service, snap_compare: Callable[..., bool]) -> None:
    """The screen of each shot; the shot's title says what it should show."""
    app = make_app(demo_service, theme=shot.theme, serve=shot.serve)
    assert snap_compare(app, terminal_size=shot.size, run_before=shot.drive), shot.title
