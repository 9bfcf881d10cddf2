"""The integration surface live: API calls, webhook channels and rules, every delivery attempt."""

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Label, Static

from ...domain.timefmt import rfc3339
from ...service import Service
from ...service.webhooks import Webhooks
from ..dialogs.forms import EndpointForm
from ..widgets.key_bar import KeyBar
from ..widgets.preview import JsonView
from ..widgets.row_list import Column, ListHeader, Row, RowList


def _call_row(call: Any) -> Row:
    return {
        "id": f"{call.at.isoformat()}{call.path}",
        "time": rfc3339(call.at)[11:19],  # type: ignore[index]
        "call": f"{call.method} {call.path}",
        "status": str(call.status),
        "ms": f"{call.duration_ms:.1f}",
        "refused": call.status >= 400,
        "detail": call.detail,
    }


class Integration(Screen[None]):
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (a Textual instance attribute)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,A", "app.pop_screen", "Back", id="integration.back"),
        Binding("plus", "add_endpoint", "Add channel", id="integration.add"),
        Binding("minus", "remove_endpoint", "Remove channel", id="integration.remove"),
        Binding("R", "replay", "Resend event", id="integration.replay"),
        Binding("m", "toggle_mode", "Callback answer", id="integration.mode"),
    ]

    def __init__(self, service: Service) -> None:
        super().__init__()
        self.service = service
        self.webhooks = Webhooks(service)

    def compose(self) -> ComposeResult:
        calls = [
            Column("Time", lambda r: r["time"], 8),
            Column("Call", lambda r: r["call"]),
            Column("Code", lambda r: r["status"], 4, right=True, alert=lambda r: r["refused"]),
            Column("ms", lambda r: r["ms"], 6, right=True),
        ]
        deliveries = [
            Column("Event", lambda r: r["event_type"], 17),
            Column("Invoice", lambda r: r["number"], 15),
            Column("Status", lambda r: r["status"], 9, alert=lambda r: r["status"] == "failed"),
            Column("Tries", lambda r: str(len(r["attempts"])), 5, right=True),
            Column("Last", lambda r: r["last"], 4, right=True),
            Column("Endpoint", lambda r: r["url"]),
        ]
        yield Static(id="integration-status")
        with Container(id="integration-body"):
            with Vertical(id="integration-lists"):
                yield Label(Content.styled(" API calls, newest first", "bold $accent"))
                yield ListHeader(calls)
                yield RowList(calls, empty="no calls yet", id="calls")
                yield Label(Content.styled(" Webhook deliveries, newest first", "bold $accent"))
                yield ListHeader(deliveries)
                yield RowList(deliveries, empty="no deliveries yet", id="deliveries")
            yield JsonView(id="integration-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#deliveries", RowList).focus()

    def reload(self) -> None:
        integration = getattr(self.app, "integration", None)
        channels, rules = self.webhooks.channels(), self.webhooks.rules()
        mode = self.service.workspace().callback_response
        if integration is not None:
            status = Content.assemble(("● ", "$success"), (self.app.api_status(), "bold"))  # type: ignore[attr-defined]
        else:
            status = Content.assemble(
                ("○ ", "$text-muted"),
                "API not running: start the dashboard with "
                "--serve, or run `tui-billing serve`. Workspace callback answer: ",
                ("200 + invoice" if mode == "invoice" else "204", "bold"),
            )
        lines = [status] + [
            Content(
                f"  channel {c.id}  {c.url}{'  (disabled)' if c.disabled else ''}  rules: "
                f"{', '.join(r.type for r in rules if c.id in r.channels and r.active) or 'none'}"
            )
            for c in channels
        ]
        if not channels:
            lines.append(Content.styled("  no webhook channels: + adds one", "$text-muted"))
        self.query_one("#integration-status", Static).update(Content("\n").join(lines))
        calls = [_call_row(c) for c in reversed(getattr(self.app, "calls", []))]
        self.query_one("#calls", RowList).set_rows(calls)
        urls = {c.id: c.url for c in self.webhooks.channels(include_deleted=True)}
        numbers = {row["id"]: row["number"] for row in self.service.invoice_rows()}
        rows = []
        for delivery in reversed(self.webhooks.deliveries()):
            last = delivery.attempts[-1] if delivery.attempts else None
            rows.append(
                {
                    **delivery.model_dump(mode="json"),
                    "url": urls.get(delivery.channel_id, "?"),
                    "number": numbers.get(delivery.invoice_id, delivery.invoice_id),
                    "last": str(last.status_code or "—") if last else "",
                }
            )
        table = self.query_one("#deliveries", RowList)
        table.set_rows(rows, select=table.current["id"] if table.current else None)

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        detail = self.query_one(JsonView)
        if event.row is None:
            detail.show(None)
        elif event.row_list.id == "calls":
            detail.show(
                {k: event.row[k] for k in ("call", "status", "ms", "detail")},
                Content.styled("API call", "$text-muted"),
            )
        else:
            detail.show(
                {
                    k: event.row[k]
                    for k in (
                        "id",
                        "notification_id",
                        "event_type",
                        "status",
                        "url",
                        "next_attempt_at",
                        "attempts",
                    )
                },
                Content.styled("delivery and its attempts (R resends the event)", "$text-muted"),
            )

    def _run(self, done: str, command: Any) -> None:
        ok, _ = self.app.run_command(done, command)  # type: ignore[attr-defined]
        if ok:
            self.reload()

    def action_add_endpoint(self) -> None:
        def add(values: dict[str, Any] | None) -> None:
            if values is not None:
                self._run(
                    f"Channel added: {values['url']}",
                    lambda: self.webhooks.add(values["url"], event_types=values["event_types"]),
                )

        self.app.push_screen(EndpointForm(), add)

    def action_remove_endpoint(self) -> None:
        row = self.query_one("#deliveries", RowList).current
        channels = self.webhooks.channels()
        target = next(
            (c for c in channels if row and c.id == row["channel_id"]), channels[-1] if channels else None
        )
        if target is None:
            self.notify("There is no webhook channel to remove.", title="Refused", severity="error")
            return
        self._run(f"Channel removed: {target.url}", lambda: self.webhooks.remove(target.id))

    def action_replay(self) -> None:
        row = self.query_one("#deliveries", RowList).current
        if row is None:
            self.notify("Select a delivery to resend its event.", title="Refused", severity="error")
            return
        self._run(
            "Event queued again (same webhook id)", lambda: self.webhooks.resend(row["notification_id"])
        )

    def action_toggle_mode(self) -> None:
        integration = getattr(self.app, "integration", None)
        current = (
            integration.api.callback_response if integration else self.service.workspace().callback_response
        )
        mode = "no_content" if current == "invoice" else "invoice"
        if integration is not None:
            integration.api.callback_override = None  # the workspace setting rules from now on
        self._run(
            f"Callbacks now answer {'204' if mode == 'no_content' else '200 with the invoice'}",
            lambda: self.service.set_callback_response(mode),
        )
        self.app.dashboard.api_status = self.app.api_status()  # type: ignore[attr-defined]
