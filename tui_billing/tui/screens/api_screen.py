"""The integration surface live: API calls (what each did, its bodies, both clocks), webhook
channels with their signing secrets, and every delivery attempt."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.screen import Screen
from textual.widgets import Label, Static

from ...domain.notifications import Channel, channel_json, rule_json
from ...service import Service
from ...service.commands import RemoveChannel, Resend, SetCallbackResponse
from ...service.notifications import Webhooks
from ..dialogs.choosers import Confirm
from ..dialogs.forms import EndpointForm
from ..widgets.activity import body_json, invoice_number, operation
from ..widgets.bars import wrap
from ..widgets.key_bar import KeyBar
from ..widgets.preview import pretty_json
from ..widgets.row_list import Column, ListHeader, Row, RowList


def _clock(moment: datetime | None) -> str:
    """A time as the screen shows it, in UTC: ``2026-01-05 09:00:00Z``."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z" if moment else "-"


class Detail(VerticalScroll, can_focus=False):
    """What the highlighted row is, in full; ``text`` is what ``y`` copies."""

    DEFAULT_CSS = "Detail { padding: 0 1; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = ""
        self.what = "JSON"

    def compose(self) -> ComposeResult:
        yield Static(id="detail-text")

    def show(self, content: Content, text: str = "", what: str = "JSON") -> None:
        self.text, self.what = text, what
        self.query_one("#detail-text", Static).update(content)
        self.scroll_home(animate=False)


def _body(title: str, body: bytes) -> Content:
    """A request or response body under its title: pretty, highlighted JSON when it is
    JSON, else its text as sent."""
    heading = Content.styled(title, "bold $accent")
    value = body_json(body)
    if value is not None:
        return Content("\n").join([heading, highlight(pretty_json(value), language="json")])
    text = body.decode(errors="replace") if body else "(none)"
    return Content("\n").join([heading, Content.styled(text, "$text-muted" if not body else "")])


class ApiScreen(Screen[None]):
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (a Textual instance attribute)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,A", "app.pop_screen", "Back", id="integration.back"),
        Binding("plus", "add_endpoint", "Add channel", id="integration.add"),
        Binding("minus", "remove_endpoint", "Remove channel", id="integration.remove"),
        Binding("y", "copy", "Copy secret/JSON", id="integration.copy"),
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
            Column("Operation", lambda r: r["operation"]),
            Column("Invoice", lambda r: r["number"], 15),
            Column("Code", lambda r: r["status"], 4, right=True, alert=lambda r: r["refused"]),
        ]
        channels = [
            Column("Channel URL", lambda r: r["url"]),
            Column("Rules", lambda r: r["rules"], 16),
            Column("Signing secret", lambda r: r["secret"], 16),
        ]
        deliveries = [
            Column("Event", lambda r: r["event_type"], 15),
            Column("Invoice", lambda r: r["number"], 15),
            Column("Status", lambda r: r["status"], 9, alert=lambda r: r["status"] == "failed"),
            Column("Tries", lambda r: str(len(r["attempts"])), 5, right=True),
            Column("Last", lambda r: r["last"], 4, right=True),
            Column("Channel", lambda r: r["url"]),
        ]
        yield Static(id="integration-status")
        with Container(id="integration-body"):
            with Vertical(id="integration-lists"):
                yield Label(Content.styled(" API calls, newest first", "bold $accent"))
                yield ListHeader(calls)
                yield RowList(calls, empty="no calls yet", id="calls")
                yield Label(Content.styled(" Webhook channels (+ adds one)", "bold $accent"))
                yield ListHeader(channels)
                yield RowList(channels, empty="no webhook channels: + adds one", id="channels")
                yield Label(Content.styled(" Webhook deliveries, newest first", "bold $accent"))
                yield ListHeader(deliveries)
                yield RowList(deliveries, empty="no deliveries yet", id="deliveries")
            yield Detail(id="integration-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#calls", RowList).focus()

    def on_resize(self) -> None:
        self._show_status()

    def _show_status(self) -> None:
        """One line saying whether the API runs and how callbacks are answered; parts move
        to a second line only when the screen is too narrow for them."""
        serving = getattr(self.app, "serving", None)
        mode = self.service.workspace().callback_response
        answer = "200 + invoice" if mode == "invoice" else "204"
        if serving is not None:
            parts = [Content.assemble(("● ", "$success"), (self.app.api_status(), "bold"))]  # type: ignore[attr-defined]
        else:
            parts = [
                Content.assemble(("○ ", "$text-muted"), ("API not running", "bold")),
                Content.styled("(the dashboard's --serve, or tui-billing serve)", "$text-muted"),
                Content.assemble("callbacks → ", (answer, "bold")),
            ]
        status = self.query_one("#integration-status", Static)
        status.update(wrap(parts, max(status.content_size.width, 40)))

    def reload(self) -> None:
        self._show_status()
        numbers = {row["id"]: row["number"] for row in self.service.invoice_rows()}
        calls = []
        for index, call in enumerate(reversed(getattr(self.app, "calls", []))):
            calls.append(
                {
                    "id": f"{call.request_id or index}",
                    "time": _clock(call.at)[11:19],
                    "operation": operation(call),
                    "number": invoice_number(call, numbers.get),
                    "status": str(call.status),
                    "refused": call.status >= 400,
                    "call": call,
                }
            )
        self._set_rows("#calls", calls)
        rules = self.webhooks.rules()
        self._set_rows(
            "#channels",
            [
                {
                    "id": c.id,
                    "url": c.url + ("  (disabled)" if c.disabled else ""),
                    "rules": ", ".join(
                        r.type.removeprefix("invoice.") for r in rules if c.id in r.channels and r.active
                    )
                    or "none",
                    "secret": c.signing_secret,
                    "channel": c,
                }
                for c in self.webhooks.channels()
            ],
        )
        urls = {c.id: c.url for c in self.webhooks.channels(include_deleted=True)}
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
        self._set_rows("#deliveries", rows)
        self._show_detail()

    def _set_rows(self, selector: str, rows: Sequence[Row]) -> None:
        table = self.query_one(selector, RowList)
        table.set_rows(rows, select=table.current["id"] if table.current else None)

    # --- the detail of the highlighted row of the focused list ----------------------------------
    def _focused_list(self) -> RowList:
        focused = self.focused
        return focused if isinstance(focused, RowList) else self.query_one("#calls", RowList)

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        if event.row_list is self._focused_list():
            self._show_detail()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        table = self._focused_list()
        row, detail = table.current, self.query_one(Detail)
        if row is None:
            detail.show(Content.styled(table.empty, "$text-muted"))
        elif table.id == "calls":
            self._show_call(detail, row)
        elif table.id == "channels":
            self._show_channel(detail, row["channel"])
        else:
            record = {
                k: row[k]
                for k in (
                    "id",
                    "notification_id",
                    "event_type",
                    "status",
                    "url",
                    "next_attempt_at",
                    "attempts",
                )
            }
            note = Content.styled("delivery and its attempts (R resends the event)", "$text-muted")
            text = pretty_json(record)
            detail.show(Content("\n\n").join([note, highlight(text, language="json")]), text)

    def _show_call(self, detail: Detail, row: Row) -> None:
        call = row["call"]
        title = Content.assemble((row["operation"], "bold"), (f"  {row['number']}", "bold $accent"))
        outcome = Content.assemble(
            (str(call.status), "bold $error" if call.status >= 400 else "bold $success"),
            f" in {call.duration_ms:.1f} ms · {call.method} {call.path}",
        )
        lines = [
            title,
            outcome,
            Content.assemble(("simulated ", "$text-muted"), (_clock(call.simulated_at), "bold")),
            Content.assemble(("wall      ", "$text-muted"), _clock(call.at)),
        ]
        if call.request_id:
            lines.append(Content.styled(f"request id {call.request_id}", "$text-muted"))
        if call.detail:
            lines.append(Content.styled(call.detail, "$error"))
        lines += [Content(""), _body("Request body", call.request_body)]
        lines += [Content(""), _body("Response body", call.response_body)]
        answer = body_json(call.response_body)
        detail.show(
            Content("\n").join(lines),
            pretty_json(answer) if answer is not None else call.response_body.decode(errors="replace"),
            "the response body",
        )

    def _show_channel(self, detail: Detail, channel: Channel) -> None:
        rules = [rule_json(r) for r in self.webhooks.rules() if channel.id in r.channels]
        text = pretty_json({**channel_json(channel), "rules": rules})
        detail.show(
            Content("\n").join(
                [
                    Content.assemble(("webhook channel ", "$text-muted"), (channel.url, "bold")),
                    Content.assemble(
                        ("signing secret ", "$text-muted"),
                        (channel.signing_secret, "bold $accent"),
                        ("  (y copies it)", "$text-muted"),
                    ),
                    Content(""),
                    highlight(text, language="json"),
                ]
            ),
            channel.signing_secret,
            "signing secret",
        )

    # --- commands ------------------------------------------------------------------------------
    def _run(self, done: str, command: Any) -> None:
        ok, _ = self.app.run_command(done, command)  # type: ignore[attr-defined]
        if ok:
            self.reload()

    def action_add_endpoint(self) -> None:
        def added(channel: Channel | None) -> None:
            if channel is not None:
                self.reload()
                channels = self.query_one("#channels", RowList)
                channels.set_rows(channels.rows, select=channel.id)
                channels.focus()

        self.app.push_screen(EndpointForm(self.service), added)

    def action_remove_endpoint(self) -> None:
        row = self.query_one("#channels", RowList).current
        if row is None:
            self.notify("There is no webhook channel to remove.", title="Refused", severity="error")
            return
        channel: Channel = row["channel"]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._run(
                    f"Channel removed: {channel.url}", lambda: self.service.execute(RemoveChannel(channel.id))
                )

        self.app.push_screen(
            Confirm(
                "Remove webhook channel?",
                f"{channel.url} ({channel.id}) and its rules go; pending deliveries are cancelled.",
                "remove",
            ),
            confirmed,
        )

    def action_copy(self) -> None:
        detail = self.query_one(Detail)
        if not detail.text:
            self.notify("Nothing selected to copy.", title="Refused", severity="error")
            return
        self.app.copy_text(detail.text, detail.what)  # type: ignore[attr-defined]

    def action_replay(self) -> None:
        row = self.query_one("#deliveries", RowList).current
        if row is None:
            self.notify("Select a delivery to resend its event.", title="Refused", severity="error")
            return
        self._run(
            "Event queued again (same webhook id)",
            lambda: self.service.execute(Resend(row["notification_id"])),
        )

    def action_toggle_mode(self) -> None:
        serving = getattr(self.app, "serving", None)
        current = serving.api.callback_response if serving else self.service.workspace().callback_response
        mode = "no_content" if current == "invoice" else "invoice"
        if serving is not None:
            serving.api.callback_override = None  # the workspace setting rules from now on
        self._run(
            f"Callbacks now answer {'204' if mode == 'no_content' else '200 with the invoice'}",
            lambda: self.service.execute(SetCallbackResponse(mode)),
        )
        self.app.dashboard.api_status = self.app.api_status()  # type: ignore[attr-defined]
