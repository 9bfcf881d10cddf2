"""The Textual application: wires the service, the dashboard and the command palette."""

from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

from ..service import Service
from .screens.dashboard import Dashboard


class BillingApp(App[None]):
    """tui-billing's dashboard over one open workspace (the caller opens and closes it)."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-billing"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, service: Service, *, theme: str | None = None) -> None:
        super().__init__()
        self.service = service
        if theme:
            self.theme = theme

    def on_mount(self) -> None:
        self.push_screen(Dashboard(self.service))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette reaches every dashboard action that is possible now."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, Dashboard):
            for binding in screen.BINDINGS:
                if not hasattr(binding, "action") or binding.action.startswith("app."):
                    continue
                action = binding.action.split("(", 1)[0]
                if screen.check_action(action, ()):
                    yield SystemCommand(binding.description, f"key {binding.key.split(',')[0]}",
                                        lambda a=binding.action: screen.run_action(a))
