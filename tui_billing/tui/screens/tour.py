"""A guided tour: the dashboard on the tour's own workspace, with a panel that says what
each step does; → plays the next step, ← goes back one, esc ends the tour.

The steps are played by ``service.tours.TourPlayer`` (the scenario commands, through the
scenario code); this screen only shows them and points at what each step highlights.
"""

import json
from dataclasses import replace
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Static, TabbedContent

from ...domain.errors import BillingError
from ...domain.models import Invoice
from ...domain.shapes import envelope
from ...service import ClockReport
from ...service.signing import signed_headers
from ...service.tours import TourPlayer
from .dashboard import Dashboard


def progress(position: int, total: int) -> str:
    """``step 3/9 ●●●○○○○○○``."""
    return f"step {position + 1}/{total} " + "●" * (position + 1) + "○" * (total - position - 1)


def outcome(result: Any) -> str:
    """What a step's command did, in a few words."""
    if isinstance(result, Invoice):
        return f"{result.number} → {result.status.value}"
    if isinstance(result, ClockReport):
        return f"clock {str(result.end)[:16]}, {len(result.advanced)} invoices advanced"
    return "done"


def _without(bindings: list[Any], keys: set[str]) -> list[Binding]:
    """``bindings`` with ``keys`` taken off (a binding left with no key is dropped)."""
    kept = []
    for binding in bindings:
        rest = [k for k in binding.key.split(",") if k.strip() not in keys]
        if rest:
            kept.append(replace(binding, key=",".join(rest)))
    return kept


class TourDashboard(Dashboard):
    """The dashboard over a ``TourPlayer``'s workspace; the player's ``service`` changes
    when ← rebuilds the workspace, and this screen follows it."""

    TOUR_BINDINGS: ClassVar[list[Binding]] = [
        Binding("right", "tour_step(1)", "Tour: next step", id="tour.next", show=False),
        Binding("left", "tour_step(-1)", "Tour: back one step", id="tour.back", show=False),
        Binding("escape", "end_tour", "End the tour", id="tour.end", show=False),
    ]
    # The help and the palette list a screen's BINDINGS: the tour's keys, then the
    # dashboard's without the keys the tour takes over (the panel names them).
    BINDINGS: ClassVar[list[BindingType]] = [
        *TOUR_BINDINGS,
        *_without(Dashboard.BINDINGS, {b.key for b in TOUR_BINDINGS}),
    ]

    DEFAULT_CSS = """
    #tour-panel { height: auto; max-height: 50%; padding: 0 1; background: $boost;
                  border-top: thick $accent; }
    """
    NOT_IN_TOUR = ("tour", "reset_demo")
    """Dashboard actions on the user's own workspace: not from inside a tour."""

    def __init__(self, player: TourPlayer) -> None:
        super().__init__(player.service)
        self.player = player

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(id="tour-panel")

    def on_mount(self) -> None:
        self.show_step()

    def show_step(self) -> None:
        """Show the step the player is at: its caption, what it ran, what it highlights."""
        self.service = self.player.service
        step = self.player.step
        highlight = step.highlight
        invoice_id = self.player.invoice_id(highlight.invoice) if highlight.invoice else None
        self.reload(follow=invoice_id)
        if highlight.tab:
            self.query_one("#preview", TabbedContent).active = f"tab-{highlight.tab}"
        tour = self.player.tour
        lines = [
            Content.assemble(
                ("Tour ", "bold $accent"),
                (tour.title, "bold"),
                "  ",
                (progress(self.player.position, len(tour.steps)), "$accent"),
                ("  → next · ← back · esc ends", "$text-muted"),
            ),
            Content(step.caption),
        ]
        if step.do is not None:
            lines.append(
                Content.assemble(
                    ("ran ", "$text-muted"), (step.do, "bold"), " ", outcome(self.player.results[-1])
                )
            )
        if highlight.keys:  # named by their default keys; shown as the keymap binds them
            described = {
                key: b.description
                for b in Dashboard.BINDINGS
                if isinstance(b, Binding)
                for key in b.key.split(",")
            }
            lines.append(
                Content.assemble(
                    ("keys ", "$text-muted"),
                    *[
                        Content.assemble(
                            (f" {self._shown_key(key)} ", "bold reverse"), f" {described.get(key, '')}  "
                        )
                        for key in highlight.keys
                    ],
                )
            )
        if highlight.signature and invoice_id:
            lines.extend(self._signature(invoice_id))
        self.query_one("#tour-panel", Static).update(Content("\n").join(lines))

    def _signature(self, invoice_id: str) -> list[Content]:
        """How the invoice's newest webhook event is signed with the tour's example secret:
        the headers a receiver gets (the timestamp is the event's, in Unix seconds)."""
        sent = [e for e in self.service.events(invoice_id) if e.is_webhook]
        if not sent:
            return []
        event = sent[-1]
        body = json.dumps(envelope(event), separators=(",", ":"), ensure_ascii=False).encode()
        headers = signed_headers(
            self.player.tour.webhook_secret, event.id, int(event.timestamp.timestamp()), body
        )
        return [
            Content.assemble(
                ("signed ", "$text-muted"),
                (event.type, "bold"),
                (f" with {self.player.tour.webhook_secret}", "$text-muted"),
            ),
            Content.assemble(
                ("  webhook-id ", "$text-muted"),
                headers["webhook-id"],
                ("  webhook-timestamp ", "$text-muted"),
                headers["webhook-timestamp"],
            ),
            Content.assemble(("  webhook-signature ", "$text-muted"), headers["webhook-signature"]),
        ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action in self.NOT_IN_TOUR else super().check_action(action, parameters)

    def refusal(self, action: str) -> str | None:
        if action in self.NOT_IN_TOUR:
            return "not during a tour: esc ends it"
        return super().refusal(action)

    def action_tour_step(self, delta: int) -> None:
        try:
            moved = self.player.forward() if delta > 0 else self.player.back()
        except BillingError as error:
            self.notify(f"{error} (← rebuilds the tour's workspace)", title="Refused", severity="error")
            return
        if not moved:
            self.notify("the last step: esc ends the tour" if delta > 0 else "the first step", title="Tour")
            return
        self.show_step()

    def action_end_tour(self) -> None:
        self.app.end_tour(self)  # type: ignore[attr-defined]
