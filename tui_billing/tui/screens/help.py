"""The ``?`` help: every key, what the panes mean, and where the simulator follows
OpenMeter's code rather than its docs."""

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from ..lanes import LANES, resting_in

# One paragraph a line.
PARAGRAPHS = (
    "[b $accent]Hooks[/]  Draft hook on: invoices wait in draft.syncing for [b]draft synchronized[/]. "
    "Issuing hook on: they wait in issuing.syncing for [b]issuing synchronized[/]. Flags are read live: "
    "an invoice already waiting moves on at its next advancement ([b]n[/]).",
    "[b $accent]Clock[/]  Simulated and forward only. Advancing it releases collection and draft-period "
    "waits and bills subscription periods that ended. Overdue never happens by time: the external "
    "system reports it.",
    "[b $accent]Faithful to production[/]  Where OpenMeter's code and docs disagree the simulator "
    "follows the code: with the issuing hook on and no number in the callback, an invoice keeps its "
    "DRAFT- number.",
)
NOTES = "".join(f"{paragraph}\n" for paragraph in PARAGRAPHS)


def _panes() -> Content:
    """Each pane and the states an invoice rests in there, by their full names."""
    panes = [
        Content.assemble((lane.title, "bold"), f" ({', '.join(resting_in(lane))})")
        if resting_in(lane) != [lane.key]
        else Content.styled(lane.title, "bold")
        for lane in LANES
    ]
    return Content.assemble(("Panes", "bold $accent"), "  ", Content(" · ").join(panes))


class Help(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close")
    ]

    def __init__(self, bindings: Iterable[BindingType]) -> None:
        super().__init__()
        self.bindings = [b for b in bindings if isinstance(b, Binding)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Content.styled("Keys", "bold $accent"))
            for binding in self.bindings:
                keys = ", ".join(
                    self.app.get_key_display(Binding(k.strip(), "")) for k in binding.key.split(",")
                )
                yield Static(Content.assemble((f"{keys:<18}", "bold"), binding.description))
            yield Static(
                Content.assemble(("ctrl+p            ", "bold"), "command palette: every action by name")
            )
            yield Static(Content.assemble(("tab               ", "bold"), "move focus: list ⇄ preview tabs"))
            yield Static(Content.assemble(("↑↓ j k pgup pgdn  ", "bold"), "move in a list"))
            yield Static(
                Content.assemble(
                    ("dimmed keys       ", "bold"), "not possible for this invoice now: press one to read why"
                )
            )
            yield Static(Content("\n").join([_panes(), Content.from_markup(NOTES)]), id="help-notes")
            yield Static(Content.styled("esc, ? or q closes this help", "$text-muted"))
