"""A footer that wraps: every shown key fits at 80 columns, dimmed when not possible now."""

from textual.content import Content
from textual.widget import Widget


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: auto; background: $footer-background; color: $footer-foreground; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh(layout=True))

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _items(self) -> list[Content]:
        seen: set[str] = set()
        items = []
        for _, binding, enabled, _ in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            key = self.app.get_key_display(binding)
            style = "" if enabled else "dim"
            items.append(Content.assemble((f" {key} ", f"bold $footer-key-foreground {style}"),
                                          (binding.description, f"$footer-description-foreground {style}")))
        return items

    def _lines(self, width: int) -> list[Content]:
        lines: list[Content] = []
        current = Content("")
        for item in self._items():
            if current.cell_length and current.cell_length + 1 + item.cell_length > width:
                lines.append(current)
                current = Content("")
            current = current + (" " if current.cell_length else "") + item
        lines.append(current)
        return lines

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[no-untyped-def]
        return len(self._lines(width))

    def render(self) -> Content:
        return Content("\n").join(self._lines(self.size.width))
