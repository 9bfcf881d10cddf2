"""A footer that wraps: every shown key fits at 80 columns, dimmed when not possible now.

Bindings of one ``Binding.Group`` show as one entry (their keys, then the group's
description). When the full descriptions would take more than two lines, a screen's
``SHORT_LABELS`` (description → shorter word) are used instead, so at 80 columns every
key still shows without the bar crowding out the panes.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from .bars import wrap

FULL_LINES = 2
"""The most lines the bar spends on full descriptions before it shortens them."""


@dataclass
class _Entry:
    """One entry of the bar: the keys shown, what they do, whether any is possible now."""

    description: str
    compact: bool = False
    keys: list[str] = field(default_factory=list)
    enabled: bool = False


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: auto; background: $footer-background; color: $footer-foreground; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._drawn: dict[int, Content] = {}
        """The bar's text by width, as of the last change of the bindings (the layout asks
        for it as often as the drawing does)."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_updated)

    def _bindings_updated(self, _screen: object) -> None:
        """Redraw; lay the screen out again only when the bar needs another number of lines
        (bindings change on every cursor move)."""
        self._drawn.clear()
        self.refresh(layout=self._lines(self.size.width).plain.count("\n") + 1 != self.size.height)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _entries(self) -> list[_Entry]:
        """The shown bindings in order, one entry per action or per group."""
        entries: dict[object, _Entry] = {}
        seen: set[str] = set()
        for _, binding, enabled, _ in self.screen.active_bindings.values():
            if not binding.show:
                continue
            slot = binding.group or binding.action
            entry = entries.setdefault(
                slot,
                _Entry(binding.group.description, binding.group.compact)
                if binding.group
                else _Entry(binding.description),
            )
            entry.enabled = entry.enabled or enabled
            if binding.action not in seen:  # an action's other keys are in the help
                seen.add(binding.action)
                entry.keys.append(self.app.get_key_display(binding))
        return list(entries.values())

    @staticmethod
    def _item(entry: _Entry, short: Mapping[str, str]) -> Content:
        style = "" if entry.enabled else "dim"
        return Content.assemble(
            (f" {('' if entry.compact else ' ').join(entry.keys)} ", f"bold $footer-key-foreground {style}"),
            (short.get(entry.description, entry.description), f"$footer-description-foreground {style}"),
        )

    def _lines(self, width: int) -> Content:
        """The bar's text at ``width``: full descriptions if they fit in ``FULL_LINES``."""
        if width not in self._drawn:
            self._drawn[width] = self._wrapped(width)
        return self._drawn[width]

    def _wrapped(self, width: int) -> Content:
        entries = self._entries()
        full = wrap([self._item(entry, {}) for entry in entries], width, gap=" ")
        if full.plain.count("\n") < FULL_LINES:
            return full
        short: Mapping[str, str] = getattr(self.screen, "SHORT_LABELS", {})
        return wrap([self._item(entry, short) for entry in entries], width, gap=" ")

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._lines(width).plain.count("\n") + 1

    def render(self) -> Content:
        return self._lines(self.size.width)
