"""The dashboard: lifecycle panes, the selected invoice, and every action one key away.

Which keys are possible is asked of the service (``Service.actions``, from the lifecycle
table); nothing here restates a lifecycle rule.
"""

import asyncio
import time
from contextlib import nullcontext
from dataclasses import replace
from functools import partial
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input, TabbedContent, TabPane

from ...domain import schemas
from ...domain.errors import WorkspaceUnusable
from ...domain.models import Invoice
from ...domain.shapes import envelope
from ...domain.status import Status
from ...service import ClockReport, Service
from ...service.commands import (
    COMMANDS,
    Advance,
    AdvanceClock,
    Approve,
    AuthorizePayment,
    Collect,
    Command,
    Delete,
    DraftSynchronized,
    InvoiceCommand,
    IssuingSynchronized,
    PaymentStatus,
    ReportFailure,
    Retry,
    SetHooks,
)
from ...service.notifications import Webhooks
from ..dialogs.choosers import ConfirmDelete, CustomerChooser, PaymentChooser
from ..dialogs.forms import ClockForm, DraftSyncForm, FailureForm, IssuingSyncForm, WorkflowForm
from ..dialogs.progress import CLOCK_FRAME, CLOCK_PAUSE, CLOCK_STEP, ClockProgressDialog
from ..lanes import LANES, lane_of, list_label
from ..widgets.activity import ActivityStrip
from ..widgets.bars import AppBar, LaneBar
from ..widgets.key_bar import KeyBar
from ..widgets.preview import InvoiceDetail, JsonView
from ..widgets.row_list import Column, ListHeader, Row, RowList
from .event_log import LOG_ROWS, EventLog, event_columns, show_event

# The dashboard action (its binding) that offers each invoice command. Whether one is
# possible now, and where it leads, is the lifecycle's answer (``Service.actions``).
OFFERED_BY: dict[type[InvoiceCommand], str] = {
    DraftSynchronized: "sync",
    IssuingSynchronized: "sync",
    PaymentStatus: "payment",
    AuthorizePayment: "payment",
    Approve: "approve",
    Retry: "retry",
    Advance: "advance",
    Collect: "collect",
    Delete: "delete",
    ReportFailure: "fail",
}


# The detail pane's shorter word for a command where it is not the registry name.
LABELS: dict[type[InvoiceCommand], str] = {
    PaymentStatus: "payment",
    AuthorizePayment: "authorize",
    ReportFailure: "fail",
}


def label(action_name: str) -> str:
    """``Service.actions`` name ``payment_status:paid`` as the detail pane says it: ``payment:paid``."""
    name, sep, variant = action_name.partition(":")
    kind = COMMANDS[name]
    return (LABELS.get(kind, name) if issubclass(kind, InvoiceCommand) else name) + sep + variant


def offered_by(action_name: str) -> str | None:
    """The dashboard action offering ``Service.actions`` name ``action_name`` (None: none)."""
    kind = COMMANDS[action_name.partition(":")[0]]
    return OFFERED_BY.get(kind) if issubclass(kind, InvoiceCommand) else None


PANES = Binding.Group("Pane")
SCROLL = Binding.Group("Scroll")


def _status_cell(row: Row) -> str:
    return list_label(row["status"])


def _money(row: Row) -> str:
    return f"{row['total']} {row['currency']}"


class Dashboard(Screen[None]):
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"), (140, "-wide")]  # noqa: RUF012 (a Textual instance attribute)
    VERTICAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-short"), (40, "-tall")]  # noqa: RUF012 (a Textual instance attribute)
    BINDINGS: ClassVar[list[BindingType]] = [
        # The footer shows every one, in this order: the invoice's actions, making and
        # settings, the other screens, the list, the app.
        Binding("s", "sync", "Sync", id="invoice.sync"),
        Binding("p", "payment", "Payment", id="invoice.payment"),
        Binding("a", "approve", "Approve", id="invoice.approve"),
        Binding("r", "retry", "Retry", id="invoice.retry"),
        Binding("n", "advance", "Advance", id="invoice.advance"),
        Binding("C", "collect", "Collect usage", id="invoice.collect"),
        Binding("f", "fail", "Report sync failure", id="invoice.fail"),
        Binding("x", "delete", "Delete", id="invoice.delete"),
        Binding("c", "new_invoice", "New", id="invoice.new"),
        Binding("t", "clock", "Clock", id="clock.advance"),
        Binding("w", "workflow", "Workflow", id="workflow.edit"),
        Binding("D", "toggle_hook('draft')", "Draft hook", id="hooks.draft"),
        Binding("I", "toggle_hook('issuing')", "Issuing hook", id="hooks.issuing"),
        Binding("e", "event_log", "Events", id="events.log"),
        Binding("A", "integration", "API", id="integration.open"),
        Binding("K", "certify", "Certify", id="certify.open"),
        Binding("T", "tour", "Tour", id="tour.start"),
        Binding("slash", "filter", "Filter", id="list.filter"),
        Binding("escape", "clear_filter", "Clear filter", id="list.clear"),
        Binding("y", "copy_json", "Copy JSON", id="preview.copy"),
        Binding(
            "left,h,left_square_bracket",
            "lane(-1)",
            "Previous pane",
            id="lanes.previous",
            group=PANES,
        ),
        Binding(
            "right,l,right_square_bracket",
            "lane(1)",
            "Next pane",
            id="lanes.next",
            group=PANES,
        ),
        # Tab has two stops, the list and the preview's tabs; from the tabs these scroll
        # the preview (the list's own keys move its cursor first, so the footer shows
        # them while the tabs have the focus).
        Binding(
            "down,j",
            "scroll_preview(1)",
            "Scroll the preview down (from its tabs)",
            id="preview.down",
            group=SCROLL,
        ),
        Binding(
            "up,k",
            "scroll_preview(-1)",
            "Scroll the preview up (from its tabs)",
            id="preview.up",
            group=SCROLL,
        ),
        Binding(
            "pagedown",
            "scroll_preview(1, True)",
            "Page the preview down (from its tabs)",
            id="preview.page_down",
            group=SCROLL,
        ),
        Binding(
            "pageup",
            "scroll_preview(-1, True)",
            "Page the preview up (from its tabs)",
            id="preview.page_up",
            group=SCROLL,
        ),
        Binding("R", "reset_demo", "Reset the demo workspace", id="workspace.reset"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "app.quit", "Quit", id="app.quit"),
    ]
    SHORT_LABELS: ClassVar[dict[str, str]] = {
        "Collect usage": "Collect",
        "Report sync failure": "Fail",
        "Draft hook": "Draft",
        "Issuing hook": "Issuing",
        "Clear filter": "Clear",
        "Copy JSON": "Copy",
        "Reset the demo workspace": "Reset",
    }
    """The footer's words at narrow widths (see ``KeyBar``); the help and the palette keep the full ones."""

    lane: reactive[int] = reactive(0, init=False)

    def __init__(self, service: Service) -> None:
        super().__init__()
        self.service = service
        self.selected: Invoice | None = None
        self.api_status = ""
        """The activity strip's word on the HTTP API when the dashboard serves it (``--serve``)."""
        self.api_problem = ""
        """Why the API asked for (``--serve``) is not running; shown until the app ends."""
        self.actions: dict[str, Status] = {}
        self.filter_text = ""
        self._kept: set[str] = set()
        """Invoices the filter keeps showing: it showed them when a command moved them."""
        self._shown_row: Row | None = None
        self._stale_tabs: set[str] = set()
        self._now_text = ""
        self._log_seq = -1
        self._lanes: dict[str, list[Row]] = {lane.key: [] for lane in LANES}
        """Each lane's rows, newest first, as of the last reload."""
        self._shown_as: dict[str, tuple[str, str]] = {}

    # --- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        columns = [
            Column("Number", lambda r: r["number"], 15),
            Column("Customer", lambda r: r["customer_name"]),
            Column("Total", _money, 14, right=True),
            Column("Status", _status_cell, 22),
            Column("Due", lambda r: (r["due_at"] or "-")[:10], 10, alert=self._past_due),
        ]
        yield AppBar(id="app-bar")
        yield ActivityStrip(id="activity")
        yield LaneBar(id="lanes")
        with Container(id="body"):
            with Vertical(id="list-pane"):
                yield Input(placeholder="filter by number, customer or id · esc clears", id="filter")
                yield ListHeader(columns, id="list-header")
                yield RowList(columns, empty="no invoices here", id="invoices")
            with TabbedContent(id="preview"):
                with TabPane("Detail", id="tab-detail"):
                    yield InvoiceDetail(id="detail")
                with TabPane("InvoiceGenerated", id="tab-generated"):
                    yield JsonView(id="json-generated")
                with TabPane("Invoice JSON", id="tab-v1"):
                    yield JsonView(id="json-v1")
                with TabPane("Webhooks", id="tab-events"):
                    yield JsonView(id="json-events")
        with Horizontal(id="log-panel"):
            self._numbers: dict[str, str] = {}
            log_columns = event_columns(self._numbers)
            with Vertical(id="log-list"):
                yield ListHeader(log_columns)
                yield RowList(log_columns, empty="no events yet", id="log")
            yield JsonView(id="log-payload")  # the highlighted event, beside the list
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.reload()
        self.query_one("#invoices", RowList).focus()

    # --- data flows down ---------------------------------------------------------------------
    def _past_due(self, row: Row) -> bool:
        due = row["due_at"]
        return (
            bool(due)
            and row["status"].split(".", 1)[0] in ("issued", "payment_processing", "overdue")
            and due < self._now_text
        )

    def reload(self, follow: str | None = None) -> None:
        """Re-read the workspace; ``follow`` an invoice into the pane it now rests in."""
        rows = self.service.invoice_rows()
        now = self.service.now()
        self._now_text = now.isoformat()  # read once, not for every row drawn
        self._lanes = {lane.key: [] for lane in LANES}
        # One pass over every invoice, so it stays cheap at 10k: each status's lane is
        # looked up once, and the rows are the store's live summaries, so what they said
        # is kept, to tell what changed.
        by_status: dict[str, list[Row]] = {}  # a status's lane's rows
        shown_as: dict[str, tuple[str, str]] = {}
        for row in reversed(rows):
            status = row["status"]
            shown_as[row["id"]] = (row["number"], status)
            lane_rows = by_status.get(status)
            if lane_rows is None:
                lane_rows = by_status[status] = self._lanes[lane_of(status).key]
            lane_rows.append(row)
        self._shown_as = shown_as
        if follow is not None and follow in shown_as:
            self.set_reactive(Dashboard.lane, LANES.index(lane_of(shown_as[follow][1])))
            if self.filter_text:
                self._kept.add(follow)
        self.query_one(LaneBar).active = self.lane
        app = self.service.app()
        # Where the API serves shows in the activity strip; why it does not, here.
        api = Content.styled(f"✖ {self.api_problem}", "bold $error") if self.api_problem else Content("")
        self.query_one(AppBar).state = (app, self.service.workspace().workflow, now, api)
        self._fill_list(select=follow or (self.selected.id if self.selected else None))
        self.show_activity()
        if self.is_current:  # else on_screen_resume fills it
            self.call_after_refresh(self._fill_log)  # the panes first, the docked log a frame later

    def show_activity(self) -> None:
        """The latest outside API calls (the app keeps them), in the activity strip."""
        calls = getattr(self.app, "calls", ())
        self.query_one(ActivityStrip).show(
            reversed(calls), lambda invoice_id: (self.shown_as(invoice_id) or (None,))[0], self.api_status
        )

    def shown_as(self, invoice_id: str) -> tuple[str, str] | None:
        """The invoice's number and status as of the last reload (None: not there then)."""
        return self._shown_as.get(invoice_id)

    def _fill_log(self) -> None:
        """Refill the docked event log when it is shown (large terminals) and has new events."""
        seq = self.service.workspace().event_seq
        if self.query_one("#log-panel").display and seq != self._log_seq:
            self._log_seq = seq
            self._numbers.update((row["id"], row["number"]) for row in self.service.invoice_rows())
            self.query_one("#log", RowList).set_rows(self.service.recent_event_rows(LOG_ROWS))

    def _matches(self, row: Row) -> bool:
        """Whether the filter shows ``row``: what was typed is in its number, customer or
        id, or the filter showed it when a command moved it (a new number keeps it shown)."""
        needle = self.filter_text.lower()
        return (
            not needle
            or row["id"] in self._kept
            or needle in row["number"].lower()
            or needle in row["customer_name"].lower()
            or needle in row["id"].lower()
        )

    def _fill_list(self, select: str | None = None) -> None:
        """List the active lane's invoices (as of the last reload) that match the filter;
        the panes count what the filter shows."""
        shown = {
            key: [r for r in rows if self._matches(r)] if self.filter_text else rows
            for key, rows in self._lanes.items()
        }
        self.query_one(LaneBar).counts = {key: len(rows) for key, rows in shown.items()}
        self.query_one("#invoices", RowList).set_rows(shown[LANES[self.lane].key], select=select)
        self.show(self.query_one("#invoices", RowList).current)

    def watch_lane(self, lane: int) -> None:
        self.query_one(LaneBar).active = lane
        self._fill_list()

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        # _fill_list has shown its row already; only a cursor move shows another one.
        if event.row_list.id == "invoices" and event.row != self._shown_row:
            self.show(event.row)
        elif event.row_list.id == "log":
            show_event(self.query_one("#log-payload", JsonView), self.service, event.row)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill_log)  # the breakpoints may have docked the log

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self._fill_log)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._fill_tab(event.pane.id or "")

    def show(self, row: Row | None) -> None:
        """Show the invoice of ``row`` (or nothing) in the detail and the visible JSON tab;
        the other JSON tabs are filled when they are shown."""
        invoice = self.service.invoice(row["id"]) if row else None
        self.selected = invoice
        self._shown_row = dict(row) if row else None
        self.actions = self.service.actions(invoice) if invoice else {}
        now = self.service.now()
        keyed = {
            label(name): (self._shown_key(self._key_of(action)), target)
            for name, target in self.actions.items()
            if (action := offered_by(name)) is not None
        }
        self.query_one(InvoiceDetail).show(invoice, keyed, now)
        self._stale_tabs = {"tab-generated", "tab-v1", "tab-events"}
        self._fill_tab(self.query_one(TabbedContent).active)
        self.refresh_bindings()

    def _key_of(self, action: str) -> str:
        """The default key of the binding that runs dashboard action ``action``."""
        binding = next(b for b in self.BINDINGS if isinstance(b, Binding) and b.action == action)
        return binding.key.split(",")[0]

    def _shown_key(self, key: str) -> str:
        """The key to show for a binding's default ``key``, as the keymap may rebind it."""
        binding = next((b for b in self.BINDINGS if isinstance(b, Binding) and key in b.key.split(",")), None)
        keys_of = getattr(self.app, "keys_of", None)
        return keys_of(binding).split(",")[0] if binding is not None and keys_of else key

    def _fill_tab(self, tab: str) -> None:
        """Fill JSON tab ``tab`` for the selected invoice, unless it is filled already."""
        if tab not in self._stale_tabs:
            return
        if tab != "tab-events":  # webhooks leave after the command: refilled when shown
            self._stale_tabs.discard(tab)
        view = self.query_one(f"#{tab.replace('tab-', 'json-')}", JsonView)
        invoice = self.selected
        if invoice is None:
            view.show(None, Content.styled("No invoice selected.", "$text-muted"))
        elif tab == "tab-generated":
            payload, emitted = self.service.invoice_generated(invoice)
            errors = schemas.invoice_generated_errors(payload)
            mark = (
                Content.styled("✔ schema valid", "bold $success")
                if not errors
                else Content.styled("✖ schema invalid: " + "; ".join(errors), "bold $error")
            )
            state = (
                Content.styled("emitted", "$text-muted")
                if emitted
                else Content.styled("not emitted yet: what issuing would emit", "bold $warning")
            )
            view.show(payload, Content(" · ").join([mark, state]))
        elif tab == "tab-v1":
            view.show(
                self.service.invoice_v1(invoice),
                Content.styled("GET /api/v1/billing/invoices/" + invoice.id, "$text-muted"),
            )
        else:
            try:
                hooks = Webhooks(self.service)
                sent = list(reversed(hooks.invoice_notifications(invoice.id)))
                payloads = [hooks.payload(n) for n in sent]
                if not sent:  # what a rule would send: the invoice's webhook events
                    payloads = [
                        envelope(e) for e in reversed(self.service.events(invoice.id)) if e.is_webhook
                    ]
            except WorkspaceUnusable as error:  # a damaged payload file: say so, keep the dashboard
                view.show(None, Content.styled(str(error), "bold $error"))
                return
            view.show(
                payloads,
                Content.styled(
                    f"{len(sent)} notification events sent (their ids are the webhook ids), "
                    "newest first (e: the whole event log)"
                    if sent
                    else f"none sent yet: the {len(payloads)} webhook events a rule would send, newest "
                    "first (sent while the API serves; each gets its webhook id then)",
                    "$text-muted",
                ),
            )

    # --- what is possible now --------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in OFFERED_BY.values():
            return True if any(offered_by(name) == action for name in self.actions) else None
        if action == "copy_json":
            return True if self.selected else None
        return True

    def refusal(self, action: str) -> str | None:
        """Why dashboard action ``action`` (a binding's, parameters aside) is not possible
        now, in the service's own words; None when it is possible."""
        if self.check_action(action, ()) is not None:
            return None
        if self.selected is None:
            return "no invoice selected"
        refusals = self.service.refusals(self.selected)
        reasons = list(dict.fromkeys(why for name, why in refusals.items() if offered_by(name) == action))
        shown = "\n".join(reasons[:2])
        return shown + (f"\n… and {len(reasons) - 2} more like these" if len(reasons) > 2 else "")

    def explain(self, action: str) -> None:
        """Say why a dimmed key does nothing (the key bar dims it; this is what it means)."""
        binding = next(
            (b for b in self.BINDINGS if isinstance(b, Binding) and b.action.split("(", 1)[0] == action), None
        )
        title = f"{binding.description}: not possible now" if binding else "Not possible now"
        self.notify(self.refusal(action) or "", title=title, severity="warning")

    # --- commands flow up to the service ---------------------------------------------------------
    def run_command(self, done: str, command: Command | None) -> None:
        """Run ``command`` (see ``BillingApp.run_command``; None: a form was cancelled), then
        show the workspace as it is now, following the invoice into the pane it rests in."""
        if command is None:
            return
        _, result = self.app.run_command(done, lambda: self.service.execute(command))  # type: ignore[attr-defined]
        self.reload(follow=result.id if isinstance(result, Invoice) else None)

    def _selected(self) -> Invoice:
        assert self.selected is not None  # check_action keeps invoice actions off otherwise
        return self.selected

    def action_toggle_hook(self, which: str) -> None:
        app = self.service.app()
        if which == "draft":
            on = not app.enable_draft_sync_hook
            self.run_command(f"Draft sync hook {'on' if on else 'off'}", SetHooks(draft=on))
        else:
            on = not app.enable_issuing_sync_hook
            self.run_command(f"Issuing sync hook {'on' if on else 'off'}", SetHooks(issuing=on))

    def action_sync(self) -> None:
        invoice = self._selected()
        if "draft_synchronized" in self.actions:
            form: DraftSyncForm | IssuingSyncForm = DraftSyncForm(invoice)
        else:
            form = IssuingSyncForm(invoice, self.service.now())
        self.app.push_screen(form, partial(self.run_command, form.TITLE_TEXT))

    def action_payment(self) -> None:
        def report(command: PaymentStatus | AuthorizePayment | None) -> None:
            said = command.trigger if isinstance(command, PaymentStatus) else "authorized"
            self.run_command(f"Payment {said}", command)

        self.app.push_screen(PaymentChooser(self._selected(), self.actions), report)

    def action_approve(self) -> None:
        self.run_command("Approved", Approve(self._selected().id))

    def action_retry(self) -> None:
        self.run_command("Retried", Retry(self._selected().id))

    def action_advance(self) -> None:
        self.run_command("Advanced", Advance(self._selected().id))

    def action_collect(self) -> None:
        self.run_command("Usage collected", Collect(self._selected().id))

    def action_delete(self) -> None:
        self.app.push_screen(ConfirmDelete(self._selected()), partial(self.run_command, "Deleted"))

    def action_fail(self) -> None:
        self.app.push_screen(
            FailureForm(self._selected()), partial(self.run_command, "Sync failure reported")
        )

    def action_new_invoice(self) -> None:
        plans = {p.id: p.name for p in self.service.plans()}
        chooser = CustomerChooser(self.service.customers(), plans)
        self.app.push_screen(chooser, partial(self.run_command, "Invoice created"))

    def action_clock(self) -> None:
        def advance(duration: str | None) -> None:
            if duration is not None:
                self.advance_clock(duration)

        self.app.push_screen(ClockForm(), advance)

    @work(exclusive=True, group="clock")
    async def advance_clock(self, duration: str) -> None:
        """Advance the clock as a worker on the event loop, in steps (``Service.execute_in_steps``),
        with a progress dialog redrawn between them; the dashboard reloads when it is done.

        Not a thread: the service is not thread-safe, and the API's handlers call it on the
        loop's thread. The steps are one transaction, so no other command may run before
        it ends: the dialog is modal (the dashboard's keys do not reach it), and when the
        API is served its requests and the webhook dispatcher wait at their gate
        (``Serving.hold``) until the advance has committed or stopped; should anything slip
        through, the service refuses the commit (``Conflict``). Esc stops the advance
        between two steps: nothing is committed."""
        dialog = ClockProgressDialog(duration)
        await self.app.push_screen(dialog)
        serving = self.app.serving  # type: ignore[attr-defined]
        report: ClockReport | None = None
        failure: Exception | None = None
        async with serving.hold() if serving is not None else nullcontext():
            steps = self.service.execute_in_steps(AdvanceClock(duration), every=CLOCK_STEP)
            shown = time.monotonic()
            try:
                while not dialog.stop_asked:
                    progress = next(steps)
                    if time.monotonic() - shown >= CLOCK_FRAME or progress.reached == progress.end:
                        dialog.show(progress)
                        await asyncio.sleep(CLOCK_PAUSE)  # the loop redraws and takes keys
                        shown = time.monotonic()
            except StopIteration as done:
                report = done.value
            except Exception as error:  # reported below, as any command's error is
                failure = error
            finally:
                steps.close()
        await dialog.dismiss()
        if report is None and failure is None:
            self.app.notify("Clock advance stopped: nothing was changed", title="Stopped")
            return

        def outcome() -> ClockReport | None:
            if failure is not None:
                raise failure
            return report

        self.app.run_command(f"Clock +{duration}", outcome)  # type: ignore[attr-defined]
        self.reload()

    def action_workflow(self) -> None:
        form = WorkflowForm(self.service.workspace().workflow)
        self.app.push_screen(form, partial(self.run_command, "Workflow saved for new invoices"))

    def action_event_log(self) -> None:
        self.app.push_screen(EventLog(self.service))

    def action_integration(self) -> None:
        from .api_screen import ApiScreen

        self.app.push_screen(ApiScreen(self.service))

    def action_certify(self) -> None:
        from .certify import CertifyScreen

        self.app.push_screen(CertifyScreen(self.app.certify_report))  # type: ignore[attr-defined]

    def action_tour(self) -> None:
        self.app.choose_tour()  # type: ignore[attr-defined]

    def action_reset_demo(self) -> None:
        self.app.confirm_reset()  # type: ignore[attr-defined]

    def action_help(self) -> None:
        from .help import Help

        keys_of = self.app.keys_of  # type: ignore[attr-defined]  # the keymap may rebind them
        self.app.push_screen(
            Help([replace(b, key=keys_of(b)) if isinstance(b, Binding) else b for b in self.BINDINGS])
        )

    def action_scroll_preview(self, direction: int, page: bool = False) -> None:
        pane = self.query_one(TabbedContent).active_pane
        if pane is not None:
            view = pane.query_one(VerticalScroll)
            view.scroll_relative(
                y=direction * (max(view.scrollable_content_region.height - 1, 1) if page else 1),
                animate=False,
            )

    def action_lane(self, delta: int) -> None:
        self.lane = (self.lane + delta) % len(LANES)

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        field.display = False
        self.query_one("#invoices", RowList).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value.strip()
            self._kept.clear()
            self._fill_list()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one("#invoices", RowList).focus()

    def action_copy_json(self) -> None:
        active = self.query_one(TabbedContent).active
        if active not in ("tab-generated", "tab-events"):
            active = "tab-v1"  # from the detail tab, y copies the invoice JSON
        self._fill_tab(active)
        self.app.copy_text(  # type: ignore[attr-defined]  # BillingApp's, not Textual's
            self.query_one(f"#{active.replace('tab-', 'json-')}", JsonView).text,
            "JSON",
        )
