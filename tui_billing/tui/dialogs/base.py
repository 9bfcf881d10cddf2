"""What every dialog shares: a framed box, a title, an error line, esc to cancel."""

from typing import Any, ClassVar, Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, Static

T = TypeVar("T")


class Dialog(ModalScreen[T], Generic[T]):
    """Subclasses yield their fields from ``fields()`` and implement ``submit()``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        # Before the fields' own ctrl+c (copy): people press it to get out of a form.
        Binding("ctrl+c", "cancel", "Cancel", id="dialog.interrupt", priority=True),
        Binding("ctrl+s", "submit", "Submit", id="dialog.submit"),
    ]
    TITLE_TEXT = ""
    HINT = "enter: next field / submit · ctrl+s: submit · esc or ctrl+c: cancel"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.TITLE_TEXT, id="dialog-title")
            with VerticalScroll(id="dialog-fields", can_focus=False):
                yield from self.fields()
            yield Static("", id="dialog-error")
            yield Static(self.HINT, id="dialog-hint")

    def fields(self) -> ComposeResult:
        yield from ()

    def scroll_to_center(self, widget: Widget, *args: Any, **kwargs: Any) -> None:
        """Focus centres a field that is not wholly in view: centre its label instead, so
        the label stays in view too (a long form's first label hid above it at 80×24)."""
        siblings = list(widget.parent.children) if widget.parent else []
        index = siblings.index(widget) if widget in siblings else 0
        if index and siblings[index - 1].has_class("field-label"):
            widget = siblings[index - 1]
        super().scroll_to_center(widget, *args, **kwargs)

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
