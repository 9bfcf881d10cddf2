"""Pure functions from the workspace's models to the JSON partners see.

* ``invoice_v1``: an invoice in OpenMeter's v1 camelCase shape (``show --json``, webhooks).
* ``webhook_envelope``: ``{id, type, timestamp, data}``.
* ``invoice_generated``: the InvoiceGenerated domain event (DOMAIN.md §6).
"""

from decimal import Decimal
from typing import Any

from . import lifecycle
from .lifecycle import Context
from .models import Address, Event, Invoice, Line, Supplier
from .money import to_json_number
from .status import Status, v1_status
from .timefmt import rfc3339


def _money(amount: Decimal) -> str:
    return str(amount)


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _address(address: Address | None) -> list[dict[str, str]] | None:
    if address is None:
        return None
    return [_drop_none({"country": address.country, "city": address.city,
                        "postalCode": address.postal_code, "line1": address.line1})]


def _totals(amount: Decimal, taxes: Decimal, total: Decimal, zero: Decimal) -> dict[str, str]:
    return {
        "amount": _money(amount), "chargesTotal": _money(zero), "discountsTotal": _money(zero),
        "creditsTotal": _money(zero), "taxesInclusiveTotal": _money(zero),
        "taxesExclusiveTotal": _money(taxes), "taxesTotal": _money(taxes), "total": _money(total),
    }


def _line_v1(line: Line, invoice: Invoice, zero: Decimal) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": line.id,
        "name": line.name,
        "description": line.description,
        "type": "usage_based" if line.type == "usage_based" else "flat_fee",
        "status": "valid",
        "managedBy": "subscription" if invoice.subscription_id else "manual",
        "currency": invoice.currency,
        "createdAt": rfc3339(invoice.created_at),
        "updatedAt": rfc3339(invoice.updated_at),
        "period": {"from": rfc3339(line.period_from), "to": rfc3339(line.period_to)},
        "invoiceAt": rfc3339(line.invoice_at),
        "quantity": str(line.quantity),
        "totals": _totals(line.amount, line.taxes_total, line.total, zero),
    }
    if line.type == "usage_based":
        body["price"] = {"type": "unit", "amount": str(line.unit_price)}
    else:
        body["perUnitAmount"] = str(line.unit_price)
        body["paymentTerm"] = "in_advance"
    if line.external_id:
        body["externalIds"] = {"invoicing": line.external_id}
    if invoice.subscription_id:
        body["subscription"] = {"subscription": {"id": invoice.subscription_id},
                                "phase": {"id": invoice.plan_id}, "item": {"id": line.id}}
    return _drop_none(body)


def _supplier(supplier: Supplier) -> dict[str, Any]:
    return {"name": supplier.name, "addresses": _address(supplier.address) or []}


def invoice_v1(invoice: Invoice, ctx: Context) -> dict[str, Any]:
    """The invoice as OpenMeter's v1 API and webhooks show it."""
    totals = invoice.totals
    zero = totals.amount - totals.amount
    external_ids = _drop_none({"invoicing": invoice.external_invoicing_id,
                               "payment": invoice.external_payment_id})
    workflow = invoice.workflow
    body: dict[str, Any] = {
        "id": invoice.id,
        "type": "standard",
        "number": invoice.number,
        "description": invoice.description,
        "currency": invoice.currency,
        "status": v1_status(invoice.status.value),
        "statusDetails": {
            "immutable": lifecycle.is_immutable(invoice, ctx),
            "failed": invoice.status.is_failed,
            "extendedStatus": invoice.status.value,
            "availableActions": {
                name: {"resultingState": target.value}
                for name, target in lifecycle.available_actions(invoice, ctx).items()
            },
        },
        "createdAt": rfc3339(invoice.created_at),
        "updatedAt": rfc3339(invoice.updated_at),
        "deletedAt": rfc3339(invoice.deleted_at),
        "issuedAt": rfc3339(invoice.issued_at),
        "draftUntil": rfc3339(invoice.draft_until),
        "dueAt": rfc3339(invoice.due_at),
        "collectionAt": rfc3339(invoice.collection_at),
        "sentToCustomerAt": rfc3339(invoice.sent_to_customer_at),
        "period": {"from": rfc3339(invoice.period_from), "to": rfc3339(invoice.period_to)},
        "supplier": _supplier(invoice.supplier),
        "customer": _drop_none({
            "id": invoice.customer.id, "key": invoice.customer.key, "name": invoice.customer.name,
            "addresses": _address(invoice.customer.address),
        }),
        "totals": _totals(totals.amount, totals.taxes_total, totals.total, zero),
        "workflow": {
            "apps": {"invoicing": {"type": "custom_invoicing"}, "payment": {"type": "custom_invoicing"},
                     "tax": {"type": "custom_invoicing"}},
            "sourceBillingProfileId": "default",
            "workflow": {
                "collection": {"interval": workflow.collection_interval},
                "invoicing": {"autoAdvance": workflow.auto_advance,
                              "draftPeriod": workflow.draft_period, "dueAfter": workflow.due_after},
                "payment": {"collectionMethod": "send_invoice"},
            },
        },
        "metadata": dict(invoice.metadata),
        "lines": [_line_v1(line, invoice, zero) for line in invoice.lines],
        "validationIssues": [
            _drop_none({"id": i.id, "severity": i.severity, "message": i.message, "code": i.code,
                        "component": i.component, "field": i.field})
            for i in invoice.validation_issues
        ],
    }
    if external_ids:
        body["externalIds"] = external_ids
    return _drop_none(body)


def webhook_envelope(event_id: str, event_type: str, timestamp: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "timestamp": timestamp, "data": data}


def envelope(event: Event) -> dict[str, Any]:
    """An event of the log as delivered: ``{id, type, timestamp, data}``."""
    return webhook_envelope(event.id, event.type, rfc3339(event.timestamp) or "", event.data)


# --- InvoiceGenerated (DOMAIN.md §6) --------------------------------------------------------
_ISSUED_FAMILY = {Status.ISSUED} | {s for s in Status if s.short == "payment_processing"}
_FIXED_STATUS = {
    Status.OVERDUE: "overdue",
    Status.PAID: "paid",
    Status.VOIDED: "cancelled",
    Status.UNCOLLECTIBLE: "cancelled",
    Status.DELETED: "cancelled",
}
# States only an issued invoice can be in. ``deleted`` is not one: only drafts and invoices
# still issuing can be deleted, so a deleted invoice was never issued and never emitted
# (``issued_at`` alone does not tell: it is stamped on entering issuing.syncing).
_AFTER_ISSUE = _ISSUED_FAMILY | {Status.OVERDUE, Status.PAID, Status.VOIDED, Status.UNCOLLECTIBLE}


def _mapped_status(invoice: Invoice) -> str:
    """The §6 status mapping; an invoice not issued yet previews as ``generated``."""
    if invoice.status in _FIXED_STATUS:
        return _FIXED_STATUS[invoice.status]
    return "sent" if invoice.sent_to_customer_at is not None else "generated"


def generated_status(invoice: Invoice) -> str | None:
    """The InvoiceGenerated status this invoice maps to, or None while it has not been issued."""
    return _mapped_status(invoice) if invoice.status in _AFTER_ISSUE else None


def invoice_generated(invoice: Invoice, status: str | None = None) -> dict[str, Any]:
    """The InvoiceGenerated payload; for a draft, what would be emitted on issue.

    Dates not known yet (a draft has no ``issued_at``) are previewed from the workflow.
    """
    totals = invoice.totals
    issued_at = invoice.issued_at or invoice.draft_until or invoice.created_at
    due_at = invoice.due_at or invoice.workflow.duration("due_after").after(issued_at)
    return {
        "invoiceId": invoice.id,
        "invoiceNumber": invoice.number,
        "subscriptionId": invoice.subscription_id or "",
        "customerId": invoice.customer.id,
        "invoiceDate": rfc3339(issued_at),
        "dueDate": rfc3339(due_at),
        "status": status or _mapped_status(invoice),
        "lineItems": [
            {"description": line.description or line.name, "quantity": to_json_number(line.quantity),
             "unitPrice": to_json_number(line.unit_price), "total": to_json_number(line.amount)}
            for line in invoice.lines
        ],
        "subtotal": to_json_number(totals.amount),
        "tax": to_json_number(totals.taxes_total),
        "total": to_json_number(totals.total),
        "currency": invoice.currency,
        "billingPeriod": {"start": invoice.period_from.date().isoformat(),
                          "end": invoice.period_to.date().isoformat()},
        "planId": invoice.plan_id or "",
    }
