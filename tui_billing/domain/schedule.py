"""When an invoice is collected, leaves draft and falls due (docs/time.md).

Pure functions of the invoice and its workflow snapshot, as OpenMeter's ``invoicecalc``
(``collectionat.go``, ``draftuntil.go``, ``dueat.go``) computes them.
"""

from datetime import datetime

from .models import Invoice


def collection_at(invoice: Invoice) -> datetime | None:
    """The latest usage line's period end plus the collection interval; None without usage."""
    usage_ends = [line.period_to for line in invoice.lines if line.is_usage]
    if not usage_ends:
        return None
    return invoice.workflow.duration("collection_interval").after(max(usage_ends))


def draft_until(invoice: Invoice) -> datetime | None:
    """Collection (never before creation) plus the draft period; None without auto-advance."""
    if not invoice.workflow.auto_advance:
        return None
    start = max(invoice.collection_at or invoice.created_at, invoice.created_at)
    return invoice.workflow.duration("draft_period").after(start)


def due_at(invoice: Invoice) -> datetime | None:
    """``draft_until + due_after`` with auto-advance; ``issued_at + due_after`` without it (so
    a manually approved invoice is never overdue on issue). None while its start is unknown."""
    start = invoice.draft_until if invoice.workflow.auto_advance else invoice.issued_at
    return None if start is None else invoice.workflow.duration("due_after").after(start)


def schedule(invoice: Invoice) -> None:
    """Recompute all three from the lines and the workflow (on creation and after an edit)."""
    invoice.collection_at = collection_at(invoice)
    invoice.draft_until = draft_until(invoice)
    invoice.due_at = due_at(invoice)
