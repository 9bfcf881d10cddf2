"""Every emitted event, newest first; the highlighted one's payload beside it."""

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Label

from ...domain.errors import WorkspaceUnusable
from ...domain.shapes import envelope
from ...service import Service
from ..widgets.key_bar import KeyBar
from ..widgets.preview import JsonView
from ..widgets.row_list import Column, ListHeader, Row, RowList

LOG_ROWS = 200
"""Events the docked log shows (the newest)."""
SCREEN_ROWS = 2000
"""Events the event log screen shows (the newest): read without parsing the whole log."""


def event_columns(numbers: dict[str, str]) -> list[Column]:
    """Columns of the event log; ``numbers`` maps invoice ids to their numbers."""
    return [
        Column("#", lambda r: str(r["seq"]), 5, right=True),
        Column("Type", lambda r: r["type"], 17),
        Column("Time", lambda r: r["timestamp"][5:16].replace("T", " "), 11),
        Column("Invoice", lambda r: numbers.get(r["invoice_id"]) or str(r["invoice_id"])),
    ]


def show_event(view: JsonView, service: Service, row: Row | None) -> None:
    """Show the event of log row ``row`` (or nothing): a webhook event's envelope, an
    InvoiceGenerated event's payload."""
    if row is None:
        view.show(None)
        return
    try:
        full = service.event(row)
    except WorkspaceUnusable as error:  # a damaged payload file: say so, keep the log
        view.show(None, Content.styled(str(error), "bold $error"))
        return
    kind = "InvoiceGenerated domain event (payload)" if not full.is_webhook else "webhook event (envelope)"
    view.show(full.data if not full.is_webhook else envelope(full), Content.styled(kind, "$text-muted"))


class EventLog(Screen[None]):
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (a Textual instance attribute)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,e", "app.pop_screen", "Back", id="events.back"),
        Binding("y", "copy_json", "Copy JSON", id="events.copy"),
    ]

    def __init__(self, service: Service) -> None:
        super().__init__()
        self.service = service
        self._numbers = {row["id"]: row["number"] for row in service.invoice_rows()}

    def compose(self) -> ComposeResult:
        columns = event_columns(self._numbers)
        total = self.service.workspace().event_seq
        shown = f" (the newest {SCREEN_ROWS:,} of {total:,})" if total > SCREEN_ROWS else ""
        yield Label(Content.styled(f" Event log — newest first{shown}", "bold $accent"), id="event-title")
        with Container(id="event-body"):
            with Vertical(id="event-list-pane"):
                yield ListHeader(columns)
                yield RowList(columns, empty="no events yet", id="events")
            yield JsonView(id="event-payload")
        yield KeyBar()

    def on_mount(self) -> None:
        events = self.query_one("#events", RowList)
        events.set_rows(self.service.recent_event_rows(SCREEN_ROWS))
        events.focus()

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        show_event(self.query_one(JsonView), self.service, event.row)

    def action_copy_json(self) -> None:
        self.app.copy_to_clipboard(self.query_one(JsonView).text)
        self.notify("JSON copied to the clipboard", title="Copied")
