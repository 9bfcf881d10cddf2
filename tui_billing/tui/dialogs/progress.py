"""The progress of a long command (the clock advancing) while the dashboard runs it."""

from textual.app import ComposeResult
from textual.widgets import Label, ProgressBar

from ...domain.timefmt import rfc3339
from ...service import ClockProgress
from .base import Dialog

CLOCK_STEP = 10
"""Items (an invoice released, a period billed) between two looks at the time."""
CLOCK_FRAME = 0.1
"""Seconds of clock work between two redraws of the progress dialog."""
CLOCK_PAUSE = 0.01
"""Seconds given to the loop at each redraw (painting, keys): a tenth of the work's time."""


class ClockProgressDialog(Dialog[None]):
    """Shows how far the simulated clock has got; esc stops it (nothing is saved then).
    The dashboard's worker feeds it (``show``) and closes it when the advance ends."""

    DEFAULT_CSS = """
    ClockProgressDialog #clock-bar, ClockProgressDialog #clock-reached {
        width: 100%;
    }
    ClockProgressDialog #clock-bar Bar {
        width: 1fr;
    }
    """
    HINT = "other keys and API calls wait until it is done · esc or ctrl+c: stop (nothing is saved)"

    def __init__(self, duration: str) -> None:
        super().__init__()
        self.TITLE_TEXT = f"Advancing the simulated clock by {duration}"
        self.stop_asked = False

    def fields(self) -> ComposeResult:
        yield ProgressBar(total=1.0, show_eta=False, id="clock-bar")
        yield Label("Reading the workspace…", id="clock-reached", classes="field-label")

    def show(self, progress: ClockProgress) -> None:
        self.query_one("#clock-bar", ProgressBar).update(progress=progress.fraction)
        saving = " · saving" if progress.reached == progress.end else ""
        self.query_one("#clock-reached", Label).update(
            f"Clock at {rfc3339(progress.reached)}: {progress.created} invoices created, "
            f"{progress.advanced} advanced{saving}"
        )

    def action_cancel(self) -> None:
        """Ask the worker to stop at its next step; it closes this dialog."""
        self.stop_asked = True
        self.fail("Stopping…")

    def action_submit(self) -> None:
        """Nothing to submit: the advance is already running."""
