"""The right-hand side: the invoice detail and the JSON previews."""

import json
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.widgets import Static

from ...domain.linespec import detail_summary, line_summary
from ...domain.models import Invoice
from ...domain.status import Status
from ...domain.timefmt import rfc3339


def _ext(external_id: str | None) -> str:
    return f" · ext {external_id}" if external_id else ""


def _when(moment: datetime | None) -> str:
    return (rfc3339(moment) or "-")[:16].replace("T", " ")


class InvoiceDetail(VerticalScroll, can_focus=False):
    """Everything about one invoice, and what can be done with it now."""

    DEFAULT_CSS = "InvoiceDetail { padding: 0 1; } InvoiceDetail > Static { width: 1fr; }"

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body")

    def show(self, invoice: Invoice | None, actions: dict[str, tuple[str, Status]], now: datetime) -> None:
        """``actions``: service action name → (key, resulting state)."""
        self.query_one("#detail-body", Static).update(
            self._content(invoice, actions, now)
            if invoice
            else Content.styled("No invoice selected.", "$text-muted")
        )

    @staticmethod
    def _content(invoice: Invoice, actions: dict[str, tuple[str, Status]], now: datetime) -> Content:
        totals = invoice.totals
        lines: list[Content] = []

        def heading(text: str) -> None:
            lines.append(Content.styled(text, "bold $accent"))

        def field(label: str, value: str | Content, style: str = "") -> None:
            lines.append(
                Content.assemble(
                    (f"{label:<11}", "$text-muted"), (value, style) if isinstance(value, str) else value
                )
            )

        failed = invoice.status.is_failed
        lines.append(
            Content.assemble(
                (invoice.number, "bold"),
                "  ",
                (invoice.status.value, "bold $error" if failed else "bold $success"),
            )
        )
        lines.append(Content.styled(invoice.id, "$text-muted"))
        # What can be done comes first: it must show without scrolling, even at 80×24.
        heading("Available now")
        if actions:
            for name, (key, target) in actions.items():
                lines.append(
                    Content.assemble("  ", (f"[{key}]", "bold $accent"), f" {name} → {target.value}")
                )
        else:
            lines.append(Content.styled("  nothing: this is an end state", "$text-muted"))
        field("customer", f"{invoice.customer.name} · {invoice.currency} · tax {invoice.tax_rate * 100:.2f}%")
        field("period", f"{invoice.period_from.date()} → {invoice.period_to.date()}")
        field(
            "totals",
            f"{totals.amount} + tax {totals.taxes_total} = {totals.total} {invoice.currency}",
            "bold",
        )
        if invoice.external_invoicing_id or invoice.external_payment_id:
            field(
                "external",
                f"invoicing {invoice.external_invoicing_id or '-'} · "
                f"payment {invoice.external_payment_id or '-'}",
            )
        for label, moment in (
            ("created", invoice.created_at),
            ("collect at", invoice.collection_at),
            ("draft til", invoice.draft_until),
            ("issued", invoice.issued_at),
            ("due", invoice.due_at),
            ("sent", invoice.sent_to_customer_at),
            ("deleted", invoice.deleted_at),
        ):
            if moment is not None:
                late = (
                    label == "due"
                    and moment < now
                    and invoice.status.short in ("payment_processing", "overdue", "issued")
                )
                field(label, _when(moment) + (" (past due)" if late else ""), "bold $error" if late else "")
        heading("Lines")
        for line in invoice.lines:
            lines.append(Content(f"  {line_summary(line, invoice.currency)}{_ext(line.external_id)}"))
            lines.append(Content.styled(f"    {line.id}", "$text-muted"))
            for child in line.children:
                lines.append(Content(f"    ↳ {detail_summary(child)}{_ext(child.external_id)}"))
                lines.append(Content.styled(f"      {child.id}", "$text-muted"))
        if invoice.metadata:
            heading("Markers")
            for key, value in invoice.metadata.items():
                lines.append(Content(f"  {key.rsplit('/', 1)[-1]} {value}"))
        if invoice.validation_issues:
            heading("Validation issues")
            for issue in invoice.validation_issues:
                style = "$error" if issue.severity == "critical" else "$warning"
                lines.append(Content.assemble("  ", (f"{issue.severity}: ", f"bold {style}"), issue.message))
        heading("History")
        for entry in invoice.history:
            lines.append(
                Content.assemble(
                    (f"  {_when(entry.at)[11:]} ", "$text-muted"),
                    f"{entry.source.value} → {entry.target.value} ",
                    (f"({entry.trigger})", "$text-muted"),
                )
            )
        return Content("\n").join(lines)


def pretty_json(value: Any) -> str:
    """``value`` as the previews show JSON: indented by two, non-ASCII kept."""
    return json.dumps(value, indent=2, ensure_ascii=False)


class JsonView(VerticalScroll, can_focus=False):
    """Pretty-printed, highlighted JSON under a one-line note (e.g. "schema valid")."""

    DEFAULT_CSS = """
    JsonView { padding: 0 1; }
    JsonView > #json-note { height: auto; margin-bottom: 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = ""

    def compose(self) -> ComposeResult:
        yield Static(id="json-note")
        yield Static(id="json-body")

    def show(self, value: Any, note: Content | str = "") -> None:
        self.text = pretty_json(value) if value is not None else ""
        self.query_one("#json-note", Static).update(note)
        self.query_one("#json-body", Static).update(
            highlight(self.text, language="json") if self.text else ""
        )
