"""What every dialog shares: a framed box, a title, an error line, esc to cancel."""

from typing import Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

T = TypeVar("T")


class Dialog(ModalScreen[T], Generic[T]):
    """Subclasses yield their fields from ``fields()`` and implement ``submit()``."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="dialog.submit"),
    ]
    TITLE_TEXT = ""
    HINT = "enter: next field / submit · ctrl+s: submit · esc: cancel"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.TITLE_TEXT, id="dialog-title")
            with VerticalScroll(id="dialog-fields", can_focus=False):
                yield from self.fields()
            yield Static("", id="dialog-error")
            yield Static(self.HINT, id="dialog-hint")

    def fields(self) -> ComposeResult:
        yield from ()

    def fail(self, message: str) -> None:
        """Show why the values cannot be submitted; the dialog stays open."""
        self.query_one("#dialog-error", Static).update(message)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        raise NotImplementedError

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_submit()

    def value(self, input_id: str) -> str | None:
        """An input's stripped text, None when left empty (an optional field not given)."""
        text = self.query_one(f"#{input_id}", Input).value.strip()
        return text or None
