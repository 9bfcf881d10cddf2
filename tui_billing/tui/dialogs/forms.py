"""Forms for the integration's callbacks and the billing side's settings."""

from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Switch

from ...domain.durations import parse_duration
from ...domain.errors import InvalidValue
from ...domain.models import DetailedLine, Invoice, Line, Workflow
from ...domain.notifications import Channel
from ...domain.timefmt import parse_rfc3339, rfc3339
from ...service import Service
from ...service.commands import AddChannel, DraftSynchronized, IssuingSynchronized, ReportFailure, SetWorkflow
from .base import Dialog


def _field(label: str, value: str, input_id: str, placeholder: str = "") -> ComposeResult:
    yield Label(label, classes="field-label")
    yield Input(value=value, id=input_id, placeholder=placeholder)


class DraftSyncForm(Dialog[DraftSynchronized]):
    """The draft synchronized callback, prefilled with plausible external-system values."""

    TITLE_TEXT = "Draft synchronized"

    def __init__(self, invoice: Invoice) -> None:
        super().__init__()
        self.invoice = invoice
        # The callback may name each line and each of its detailed lines.
        self.lines: list[tuple[str, Line | DetailedLine]] = []
        for line in invoice.lines:
            self.lines.append((line.name, line))
            self.lines.extend((f"{line.name} › {child.name}", child) for child in line.children)  # noqa: RUF001

    def fields(self) -> ComposeResult:
        suffix = self.invoice.id[-6:].lower()
        yield from _field(
            "Invoice number (empty: keep " + self.invoice.number + ")",
            f"ERP-{self.invoice.period_to:%Y}-{suffix.upper()}",
            "number",
        )
        yield from _field("External invoicing id", f"erp_inv_{suffix}", "external-id")
        for index, (name, line) in enumerate(self.lines):
            yield from _field(
                f"External id of line “{name}”", f"erp_line_{line.id[-6:].lower()}", f"line-{index}"
            )

    def action_submit(self) -> None:
        lines = {
            line.id: ext for index, (_, line) in enumerate(self.lines) if (ext := self.value(f"line-{index}"))
        }
        self.dismiss(
            DraftSynchronized(
                self.invoice.id,
                invoice_number=self.value("number"),
                external_id=self.value("external-id"),
                line_external_ids=lines,
            )
        )


class IssuingSyncForm(Dialog[IssuingSynchronized]):
    """The issuing synchronized callback: number, sent-to-customer time, payment id."""

    TITLE_TEXT = "Issuing synchronized"

    def __init__(self, invoice: Invoice, now: datetime) -> None:
        super().__init__()
        self.invoice = invoice
        self.now = now

    def fields(self) -> ComposeResult:
        number = self.invoice.number.replace("DRAFT-", "INV-", 1)
        yield from _field("Invoice number (empty: keep " + self.invoice.number + ")", number, "number")
        yield from _field(
            "Sent to customer at (RFC 3339, empty: not sent)", rfc3339(self.now) or "", "sent-at"
        )
        yield from _field("Payment external id", f"pi_{self.invoice.id[-10:].lower()}", "payment-id")

    def action_submit(self) -> None:
        sent = self.value("sent-at")
        try:
            sent_at = parse_rfc3339(sent, "sent to customer at") if sent else None
        except InvalidValue as error:
            self.fail(str(error))
            return
        self.dismiss(
            IssuingSynchronized(
                self.invoice.id,
                invoice_number=self.value("number"),
                sent_to_customer_at=sent_at,
                payment_external_id=self.value("payment-id"),
            )
        )


class FailureForm(Dialog[ReportFailure]):
    """Report that the external system failed to sync the invoice."""

    TITLE_TEXT = "Report a sync failure"

    def __init__(self, invoice: Invoice) -> None:
        super().__init__()
        self.invoice = invoice

    def fields(self) -> ComposeResult:
        yield from _field("What the external system reported", "ERP rejected the invoice", "message")

    def action_submit(self) -> None:
        message = self.value("message")
        if not message:
            self.fail("Describe the failure (it becomes the invoice's validation issue).")
            return
        self.dismiss(ReportFailure(self.invoice.id, message))


class ClockForm(Dialog[str]):
    """Advance the simulated clock; waits due in between are released in order."""

    TITLE_TEXT = "Advance the simulated clock"

    def fields(self) -> ComposeResult:
        yield from _field(
            "Duration: 1h, 3d, 1w, 1mo, 1y or ISO-8601 (PT30M, P1D, P1M, P1Y)", "1h", "duration"
        )

    def action_submit(self) -> None:
        text = self.value("duration") or ""
        if text.startswith("-"):
            self.fail("The clock only moves forward: give a positive duration (no minus sign).")
            return
        try:
            duration = parse_duration(text)
        except InvalidValue as error:
            self.fail(str(error))
            return
        if duration.is_zero:
            self.fail("The clock only moves forward: give a positive duration.")
            return
        self.dismiss(text)


class WorkflowForm(Dialog[SetWorkflow]):
    """Workflow settings for invoices created from now on (each keeps a snapshot)."""

    TITLE_TEXT = "Workflow for new invoices"

    def __init__(self, workflow: Workflow) -> None:
        super().__init__()
        self.workflow = workflow

    def fields(self) -> ComposeResult:
        with Horizontal(classes="switch-row"):
            yield Switch(value=self.workflow.auto_advance, id="auto-advance")
            yield Label("auto-advance (off: drafts wait for approval)")
        yield from _field("Draft period (ISO-8601)", self.workflow.draft_period, "draft-period")
        yield from _field("Due after (ISO-8601)", self.workflow.due_after, "due-after")
        yield from _field(
            "Collection interval (ISO-8601)", self.workflow.collection_interval, "collection-interval"
        )

    def action_submit(self) -> None:
        durations: dict[str, str] = {}
        for name in ("draft-period", "due-after", "collection-interval"):
            text = self.value(name) or ""
            try:
                durations[name.replace("-", "_")] = parse_duration(text).iso()
            except InvalidValue as error:
                self.fail(f"{name.replace('-', ' ')}: {error}")
                return
        self.dismiss(SetWorkflow(auto_advance=self.query_one("#auto-advance", Switch).value, **durations))


class EndpointForm(Dialog[Channel]):
    """A webhook channel: where to send events, and the event types it gets a rule for.
    Submitting adds it; a refusal (a bad URL, a duplicate) shows under the fields and
    keeps the form open with what was typed."""

    TITLE_TEXT = "Add a webhook channel"

    def __init__(self, service: Service) -> None:
        super().__init__()
        self.service = service

    def fields(self) -> ComposeResult:
        yield from _field("URL", "http://127.0.0.1:9000/webhooks", "url")
        yield from _field(
            "Rules for event types, comma-separated (empty: both)",
            "",
            "events",
            placeholder="e.g. invoice.created",
        )

    def action_submit(self) -> None:
        url = self.value("url")
        if not url:
            self.fail("Give the URL the events are sent to.")
            return
        events = [t.strip() for t in (self.value("events") or "").split(",") if t.strip()]
        ok, added = self.app.run_command(  # type: ignore[attr-defined]
            f"Channel added: {url}",
            lambda: self.service.execute(AddChannel(url, event_types=events)),
            refused=self.fail,
        )
        if ok:
            self.dismiss(added[0])
