"""The dashboard under test: the one place that owns the TUI's determinism.

The workspace side is already fixed (the demo scenario and ``conftest``'s fixtures carry a
fixed seed and a fixed simulated clock, in a temp workspace); here the screen side is: no
animations, no blinking cursor, nothing host- or time-dependent on screen. Used by the
pilot tests, the snapshot tests and ``export_screenshots.py`` alike.
"""

import asyncio
import functools
import inspect
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conftest import DEMO
from textual import events
from textual.notifications import SeverityLevel
from textual.widgets import Input

from tui_billing.service import Service, scenario
from tui_billing.tui.app import BillingApp, ServeOptions

if TYPE_CHECKING:
    from tui_billing.api import ApiCall

CERTIFY_REPORT = Path(__file__).with_name("data") / "certify-report.json"
"""A real certify run's report (a partner that omits line external ids: one check fails,
the opt-in payments suite is skipped), its ports and times made steady."""
STILL_WALL = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
"""The wall clock of the still app's API calls (the first one a second later)."""


@dataclass(frozen=True)
class Notice:
    """A notification the app showed."""

    title: str
    message: str
    severity: SeverityLevel


class StillApp(BillingApp):
    """BillingApp that holds still for tests: no animation, no blinking cursor, and it keeps
    the notifications it shows in ``notices`` for the tests to read."""

    CSS_PATH = Path(inspect.getfile(BillingApp)).with_name(str(BillingApp.CSS_PATH))

    def __init__(self, service: Service, **options: Any) -> None:
        super().__init__(service, **options)
        self.animation_level = "none"
        self.notices: list[Notice] = []

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Every Input (the forms' fields, the filter, the palette's) keeps a steady cursor."""
        if isinstance(event.widget, Input):
            event.widget.cursor_blink = False

    def api_status(self) -> str:
        """The app bar's API segment with the port a test's server got replaced by 8888."""
        return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:8888", super().api_status())

    def _called(self, call: "ApiCall") -> None:
        """Calls keep what the API recorded, with the wall clock, the duration and the
        request id made steady: a second apart from a fixed time, 1.5 ms, numbered."""
        number = len(self.calls) + 1
        super()._called(
            replace(
                call,
                at=STILL_WALL + timedelta(seconds=number),
                duration_ms=1.5,
                request_id=f"req-{number:03d}",
            )
        )

    def notify(
        self, message: str, *, title: str = "", severity: SeverityLevel = "information", **kwargs: Any
    ) -> None:
        self.notices.append(Notice(title, message, severity))
        super().notify(message, title=title, severity=severity, **kwargs)


def pilot_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an ``async def`` test (pilots need an event loop) without an async pytest plugin;
    its fixtures stay as they are."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


def open_demo(path: Path) -> Service:
    """A fresh demo workspace at ``path`` (same seed, clock and ids every time)."""
    return scenario.build(path, scenario.load(DEMO))


def make_app(
    service: Service,
    *,
    theme: str | None = None,
    serve: ServeOptions | None = None,
    first_start: bool = False,
    certify_report: Path = CERTIFY_REPORT,
) -> StillApp:
    """The still app; its Certify screen shows ``certify_report`` (a fixed run's by default)."""
    return StillApp(service, theme=theme, serve=serve, first_start=first_start, certify_report=certify_report)
