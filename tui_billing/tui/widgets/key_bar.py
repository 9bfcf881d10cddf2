"""A footer that wraps: every shown key fits at 80 columns, dimmed when not possible now."""

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from .bars import wrap


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: auto; background: $footer-background; color: $footer-foreground; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_updated)

    def _bindings_updated(self, _screen: object) -> None:
        """Redraw; lay the screen out again only when the bar needs another number of lines
        (bindings change on every cursor move)."""
        lines = len(wrap(self._items(), self.size.width, gap=" ").split("\n"))
        self.refresh(layout=lines != self.size.height)

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
            items.append(
                Content.assemble(
                    (f" {key} ", f"bold $footer-key-foreground {style}"),
                    (binding.description, f"$footer-description-foreground {style}"),
                )
            )
        return items

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(wrap(self._items(), width, gap=" ").split("\n"))

    def render(self) -> Content:
        return wrap(self._items(), self.size.width, gap=" ")
