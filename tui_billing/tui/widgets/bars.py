"""The app bar (app, hooks, workflow, clock) and the lane bar (panes with counts)."""

from typing import Any

from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from ...domain.models import App, Workflow
from ...domain.timefmt import rfc3339
from ..lanes import LANES


def wrap(parts: list[Content], width: int, gap: str = "  ") -> Content:
    """Join ``parts`` on lines no wider than ``width``, never breaking a part."""
    lines: list[Content] = []
    current = Content("")
    for part in parts:
        if current.cell_length and current.cell_length + len(gap) + part.cell_length > width:
            lines.append(current)
            current = Content("")
        current = current + (gap if current.cell_length else "") + part
    lines.append(current)
    return Content("\n").join(lines)


def _switch(label: str, key: str, on: bool) -> Content:
    state = ("● on", "$success") if on else ("○ off", "$text-muted")
    return Content.assemble((f"[{key}] ", "$text-muted"), f"{label} ", (state[0], f"bold {state[1]}"))


class AppBar(Widget):
    """One glance at the simulated app: name, status, hooks, workflow and clock."""

    DEFAULT_CSS = """
    AppBar { height: auto; background: $panel; padding: 0 1; }
    """

    state: reactive[tuple[App, Workflow, Any, Content] | None] = reactive(None)
    """The app, the workflow, the simulated now, and what to say of the API (may be empty)."""

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._content(width).split("\n"))  # width excludes the padding already

    def watch_state(self) -> None:
        """Lay out again when the new state wraps onto another number of lines."""
        self.refresh(layout=len(self._content(self.size.width).split("\n")) != self.size.height)

    def render(self) -> Content:
        return self._content(self.size.width)

    def _content(self, width: int) -> Content:
        if self.state is None:
            return Content("")
        app, workflow, now, extra = self.state
        status_style = "$success" if app.status == "ready" else "$error"
        auto = "auto" if workflow.auto_advance else "manual"
        key = self.app.key_for  # type: ignore[attr-defined]  # as the keymap may rebind them
        parts = [
            Content.assemble((app.name, "bold"), " ", (f"● {app.status}", status_style)),
            Content.assemble(
                (f"[{key('clock.advance')}] clock ", "$text-muted"),
                ((rfc3339(now) or "")[:16].replace("T", " ") + "Z", "bold $accent"),
            ),
            _switch("draft hook", key("hooks.draft"), app.enable_draft_sync_hook),
            _switch("issuing hook", key("hooks.issuing"), app.enable_issuing_sync_hook),
            Content.assemble(
                (f"[{key('workflow.edit')}] ", "$text-muted"),
                f"{auto} · draft {workflow.draft_period} · due {workflow.due_after}",
            ),
        ]
        if extra.cell_length:
            parts.append(extra)
        return wrap(parts, width)


class LaneBar(Widget):
    """The lifecycle panes with their counts; the active one is highlighted."""

    DEFAULT_CSS = """
    LaneBar { height: 1; background: $boost; }
    """

    active: reactive[int] = reactive(0)
    counts: reactive[dict[str, int]] = reactive(dict, always_update=True)

    def render(self) -> Content:
        cells = []
        for index, lane in enumerate(LANES):
            title = lane.title if self.size.width >= 100 or len(lane.title) < 10 else lane.title.split()[0]
            label = f" {title} {self.counts.get(lane.key, 0)} "
            style = (
                "bold reverse $accent"
                if index == self.active
                else ("$text" if self.counts.get(lane.key) else "$text-muted")
            )
            cells.append(Content.styled(label, style))
        return Content(" ").join(cells)
