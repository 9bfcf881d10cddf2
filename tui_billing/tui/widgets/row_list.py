"""A virtual list: renders only the rows on screen, so 10k invoices cost nothing to show.

Textual's DataTable took 1.6 s just to add 10k rows; this list keeps plain row dicts and
draws the visible lines on demand (the Line API).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[Row], str]
    width: int = 0
    """Fixed width; 0 shares what is left among the flexible columns."""
    right: bool = False
    alert: Callable[[Row], bool] | None = None
    """Rows for which this returns True show this cell in the alert colour."""
    tone: Callable[[Row], str] | None = None
    """This cell's colour for a row: one of ``TONES`` ("" leaves it plain)."""


TONES = ("good", "muted", "alert")
"""The cell colours a column may pick (``row-list--good`` …, theme variables in the CSS)."""


def layout(columns: Sequence[Column], width: int) -> list[int]:
    """Cell widths for ``width`` cells, one space between columns."""
    gaps = max(len(columns) - 1, 0)
    fixed = sum(c.width for c in columns)
    flexible = [c for c in columns if not c.width]
    spare = max(width - fixed - gaps, len(flexible) * 4)
    share = spare // max(len(flexible), 1)
    return [c.width or share for c in columns]


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        text = text[: max(width - 1, 0)] + "…" if width > 1 else text[:width]
    return text.rjust(width) if right else text.ljust(width)


class RowList(ScrollView, can_focus=True):
    """Rows of dicts under fixed columns, with a cursor; posts ``Highlighted`` on moves."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"row-list--cursor", *(f"row-list--{tone}" for tone in TONES)}
    DEFAULT_CSS = """
    RowList { height: 1fr; background: $surface; overflow-x: hidden; }
    RowList > .row-list--cursor { background: $block-cursor-blurred-background; text-style: bold; }
    RowList:focus > .row-list--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    RowList > .row-list--alert { color: $error; text-style: bold; }
    RowList > .row-list--good { color: $success; text-style: bold; }
    RowList > .row-list--muted { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)  # no Highlighted(None) on mount

    class Highlighted(Message):
        def __init__(self, row_list: "RowList", row: Row | None) -> None:
            super().__init__()
            self.row_list = row_list
            self.row = row

        @property
        def control(self) -> "RowList":
            return self.row_list

    def __init__(self, columns: Sequence[Column], *, empty: str = "nothing here", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = list(columns)
        self.rows: Sequence[Row] = []
        self.empty = empty

    @property
    def current(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def set_rows(self, rows: Sequence[Row], *, select: str | None = None) -> None:
        """Replace the rows; keep the cursor on the row whose ``id`` is ``select``."""
        self.rows = rows
        self.virtual_size = Size(self.size.width, len(rows))
        index = next((i for i, r in enumerate(rows) if r["id"] == select), None) if select else None
        self.cursor = index if index is not None else min(self.cursor, max(len(rows) - 1, 0))
        self.refresh()

    def watch_cursor(self, previous: int, cursor: int) -> None:
        height = self.scrollable_content_region.height
        top = self.scroll_offset.y
        if cursor < top or (height and cursor >= top + height):
            self.scroll_to(y=cursor if cursor < top else cursor - height + 1, animate=False, immediate=True)
            self.refresh()
        else:  # only the two lines the cursor left and reached change
            self.refresh_line(previous)
            self.refresh_line(cursor)
        self.post_message(self.Highlighted(self, self.current))

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows))

    def action_move(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(self.scrollable_content_region.height - 1, 1))

    def action_jump(self, index: int) -> None:
        if self.rows:
            self.cursor = index % len(self.rows)

    def on_click(self, event: Click) -> None:
        index = event.y + self.scroll_offset.y
        if 0 <= index < len(self.rows):
            self.cursor = index

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = self.scroll_offset.y + y
        if not self.rows:
            text = _fit(f" {self.empty}" if y == 0 else "", width, False)
            return Strip([Segment(text, base + Style(dim=True))], width)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        style = base + self.get_component_rich_style("row-list--cursor") if index == self.cursor else base
        segments: list[Segment] = []
        for i, (column, cell_width) in enumerate(zip(self.columns, layout(self.columns, width), strict=True)):
            if i:
                segments.append(Segment(" ", style))
            tone = column.tone(row) if column.tone else ""
            if column.alert and column.alert(row):
                tone = "alert"
            cell_style = (
                style + self.get_component_rich_style(f"row-list--{tone}", partial=True) if tone else style
            )
            segments.append(Segment(_fit(column.value(row), cell_width, column.right), cell_style))
        return Strip(segments).adjust_cell_length(width, style)


class ListHeader(Widget):
    """The column titles of a RowList, laid out with the same widths."""

    DEFAULT_CSS = "ListHeader { height: 1; color: $text-muted; text-style: bold; background: $surface; }"

    def __init__(self, columns: Sequence[Column], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = list(columns)

    def render(self) -> Content:
        widths = layout(self.columns, self.size.width)
        return Content(" ".join(_fit(c.title, w, c.right) for c, w in zip(self.columns, widths, strict=True)))
