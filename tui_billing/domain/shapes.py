"""Pure functions from the workspace's models to the JSON partners see.

* ``invoice_v1``: an invoice in OpenMeter's v1 camelCase shape (``show --json``, the API,
  webhooks): every line ``usage_based`` with a price, its detailed lines as ``children``;
  ``invoice_v1_json`` the same as JSON text (every event and callback answer is one).
* ``webhook_envelope``: ``{id, type, timestamp, data}``.
* ``invoice_generated``: the InvoiceGenerated domain event (docs/invoice-generated.md).
"""

import hashlib
import json
import operator
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import lifecycle
from .apps import app_v1
from .lifecycle import Context
from .models import (
    Address,
    App,
    CustomerSnapshot,
    DetailedLine,
    Event,
    FlatPrice,
    Invoice,
    Line,
    Supplier,
    Totals,
    UnitPrice,
    Workflow,
    edits,
)
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
    return [
        _drop_none(
            {
                "country": address.country,
                "city": address.city,
                "postalCode": address.postal_code,
                "line1": address.line1,
            }
        )
    ]


def _totals(totals: Totals, zero: Decimal) -> dict[str, str]:
    return {
        "amount": _money(totals.amount),
        "chargesTotal": _money(zero),
        "discountsTotal": _money(zero),
        "creditsTotal": _money(zero),
        "taxesInclusiveTotal": _money(zero),
        "taxesExclusiveTotal": _money(totals.taxes_total),
        "taxesTotal": _money(totals.taxes_total),
        "total": _money(totals.total),
    }


def _period(start: datetime, end: datetime) -> dict[str, str | None]:
    return {"from": rfc3339(start), "to": rfc3339(end)}


def _external_ids(external_id: str | None) -> dict[str, str] | None:
    return {"invoicing": external_id} if external_id else None


def _flat_price(amount: Decimal, payment_term: str) -> dict[str, str]:
    return {"type": "flat", "amount": str(amount), "paymentTerm": payment_term}


def _price(price: FlatPrice | UnitPrice) -> dict[str, str]:
    if isinstance(price, FlatPrice):
        return _flat_price(price.amount, price.payment_term)
    return {"type": "unit", "amount": str(price.amount)}


def _detailed_line_v1(
    child: DetailedLine,
    line: Line,
    invoice_id: str,
    currency: str,
    tax_config: dict[str, Any] | None,
    zero: Decimal,
) -> dict[str, Any]:
    """A detailed line as OpenMeter's ``mapDetailedLineToAPI`` shows it (type ``flat_fee``)."""
    flat = _flat_price(child.per_unit_amount, child.payment_term)
    return _drop_none(
        {
            "id": child.id,
            "name": child.name,
            "type": "flat_fee",
            "status": "detailed",
            "managedBy": "system",
            "currency": currency,
            "createdAt": rfc3339(child.created_at),
            "updatedAt": rfc3339(child.updated_at),
            "invoice": {"id": invoice_id},
            "period": _period(line.period_from, line.period_to),
            "invoiceAt": rfc3339(line.invoice_at),
            "perUnitAmount": str(child.per_unit_amount),
            "quantity": str(child.quantity),
            "paymentTerm": child.payment_term,
            "category": child.category,
            "taxConfig": tax_config,
            "rateCard": _drop_none({"taxConfig": tax_config, "price": flat, "quantity": str(child.quantity)}),
            "totals": _totals(child.totals, zero),
            "externalIds": _external_ids(child.external_id),
        }
    )


def _line_v1(line: Line, invoice_id: str, currency: str, taxed: bool, zero: Decimal) -> dict[str, Any]:
    """A line as OpenMeter's ``mapInvoiceLineToAPI`` shows it: every line is ``usage_based``."""
    price = _price(line.price)
    tax_config = {"behavior": "exclusive"} if taxed else None
    subscription = line.subscription
    return _drop_none(
        {
            "id": line.id,
            "name": line.name,
            "description": line.description,
            "type": "usage_based",
            "status": "valid",
            "managedBy": line.managed_by,
            "currency": currency,
            "createdAt": rfc3339(line.created_at),
            "updatedAt": rfc3339(line.updated_at),
            "invoice": {"id": invoice_id},
            "period": _period(line.period_from, line.period_to),
            "invoiceAt": rfc3339(line.invoice_at),
            "taxConfig": tax_config,
            "featureKey": line.feature_key,
            "quantity": str(line.quantity),
            "price": price,
            "rateCard": _drop_none({"taxConfig": tax_config, "price": price, "featureKey": line.feature_key}),
            "children": [
                _detailed_line_v1(child, line, invoice_id, currency, tax_config, zero)
                for child in line.children
            ],
            "totals": _totals(line.totals(currency), zero),
            "externalIds": _external_ids(line.external_id),
            "subscription": None
            if subscription is None
            else {
                "subscription": {"id": subscription.subscription_id},
                "phase": {"id": subscription.phase_id},
                "item": {"id": subscription.item_id},
                "billingPeriod": _period(subscription.billing_period_from, subscription.billing_period_to),
            },
        }
    )


def _supplier(supplier: Supplier) -> dict[str, Any]:
    return {"name": supplier.name, "addresses": _address(supplier.address) or []}


def _frame(
    period_from: datetime,
    period_to: datetime,
    supplier: Supplier,
    customer: CustomerSnapshot,
    totals: Totals,
    zero: Decimal,
) -> dict[str, Any]:
    """What an invoice's steps leave as it is, up to its workflow: its period, parties and
    totals."""
    return {
        "period": _period(period_from, period_to),
        "supplier": _supplier(supplier),
        "customer": _drop_none(
            {
                "id": customer.id,
                "key": customer.key,
                "name": customer.name,
                "addresses": _address(customer.address),
                "usageAttribution": {"subjectKeys": list(customer.subject_keys)},
            }
        ),
        "totals": _totals(totals, zero),
    }


def _workflow(app_id: str, app: App | None, billing_profile_id: str, workflow: Workflow) -> dict[str, Any]:
    """The invoice's workflow: its invoicing, payment and tax app (one installed app plays
    all three) shown as a reference, or whole (webhooks, ``expand=workflow.apps``) when
    ``app`` is given; its billing profile and settings."""
    shown = {"id": app_id} if app is None else app_v1(app)
    return {
        "apps": {"invoicing": shown, "payment": shown, "tax": shown},
        "sourceBillingProfileId": billing_profile_id,
        "workflow": {
            "collection": {"interval": workflow.collection_interval},
            "invoicing": {
                "autoAdvance": workflow.auto_advance,
                "draftPeriod": workflow.draft_period,
                "dueAfter": workflow.due_after,
            },
            "payment": {"collectionMethod": "send_invoice"},
        },
    }


def _status_details(invoice: Invoice, ctx: Context) -> dict[str, Any]:
    """The invoice's ``statusDetails``, remembered with its available actions: those are
    remembered by the status and every guard's value (one mapping per such key), which
    decide every transition, ``is_immutable``'s too."""
    actions = lifecycle.available_actions(invoice, ctx)
    remembered = _DETAILS.get(id(actions))
    if remembered is not None and remembered[0] is actions:
        return remembered[1]
    if len(_DETAILS) >= DETAILS_KEPT:
        _DETAILS.clear()
    details = {
        "immutable": lifecycle.is_immutable(invoice, ctx),
        "failed": invoice.status.is_failed,
        "extendedStatus": invoice.status.value,
        "availableActions": {name: {"resultingState": target.value} for name, target in actions.items()},
    }
    _DETAILS[id(actions)] = (actions, details)
    return details


_DETAILS: dict[int, tuple[Mapping[str, Status], dict[str, Any]]] = {}
"""Rendered status details by the identity of their available actions (held: the
identity of a live object is its own)."""
DETAILS_KEPT = 4096


def _head(invoice: Invoice, ctx: Context) -> dict[str, Any]:
    """What a step changes, up to the frame (fields without a value left out)."""
    return _drop_none(
        {
            "id": invoice.id,
            "type": "standard",
            "number": invoice.number,
            "description": invoice.description,
            "currency": invoice.currency,
            "status": v1_status(invoice.status.value),
            "statusDetails": _status_details(invoice, ctx),
            "createdAt": rfc3339(invoice.created_at),
            "updatedAt": rfc3339(invoice.updated_at),
            "deletedAt": rfc3339(invoice.deleted_at),
            "issuedAt": rfc3339(invoice.issued_at),
            "draftUntil": rfc3339(invoice.draft_until),
            "dueAt": rfc3339(invoice.due_at),
            # OpenMeter shows createdAt when the invoice has no collection time (flat fees only).
            "collectionAt": rfc3339(invoice.collection_at or invoice.created_at),
            "sentToCustomerAt": rfc3339(invoice.sent_to_customer_at),
        }
    )


def _tail(invoice: Invoice) -> dict[str, Any]:
    """The validation issues and external ids (after the lines)."""
    tail: dict[str, Any] = {
        "validationIssues": [
            _drop_none(
                {
                    "id": i.id,
                    "createdAt": rfc3339(i.created_at),
                    "updatedAt": rfc3339(i.updated_at),
                    "severity": i.severity,
                    "message": i.message,
                    "code": i.code,
                    "component": i.component,
                    "field": i.field,
                }
            )
            for i in invoice.validation_issues
        ]
    }
    external_ids = _drop_none(
        {"invoicing": invoice.external_invoicing_id, "payment": invoice.external_payment_id}
    )
    if external_ids:
        tail["externalIds"] = external_ids
    return tail


def _rest(invoice: Invoice, apps: App | None, workflow: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything after the head: the frame, workflow (``workflow`` if rendered already),
    metadata, lines and tail (see ``_REST_READS``)."""
    totals = invoice.totals
    zero = totals.amount - totals.amount
    frame = _frame(invoice.period_from, invoice.period_to, invoice.supplier, invoice.customer, totals, zero)
    if workflow is None:
        workflow = _workflow(invoice.app_id, apps, invoice.billing_profile_id, invoice.workflow)
    body = {**frame, "workflow": workflow, "metadata": dict(invoice.metadata)}
    if invoice.lines:
        taxed = bool(invoice.tax_rate)
        body["lines"] = [_line_v1(line, invoice.id, invoice.currency, taxed, zero) for line in invoice.lines]
    body.update(_tail(invoice))
    return body


def invoice_v1(invoice: Invoice, ctx: Context, *, apps: App | None = None) -> dict[str, Any]:
    """The invoice as OpenMeter's v1 API and webhooks show it; ``apps``: the installed app,
    to show ``workflow.apps`` whole as OpenMeter's webhooks do."""
    return {**_head(invoice, ctx), **_rest(invoice, apps)}


def invoice_v1_json(invoice: Invoice, ctx: Context, *, apps: App | None = None) -> str:
    """``invoice_v1`` as compact JSON (``compact_json``), the same text byte for byte."""
    return invoice_v1_with_json(invoice, ctx, apps=apps)[1]


def invoice_v1_with_json(
    invoice: Invoice, ctx: Context, *, apps: App | None = None
) -> tuple[dict[str, Any], str]:
    """``invoice_v1`` and its ``compact_json`` text, made faster than the two apart (see
    ``invoice_v1_in_parts``). The JSON shares its rest with other renderings: read it,
    never change it."""
    body, head, rest = invoice_v1_in_parts(invoice, ctx, apps=apps)
    return body, (head + rest).decode()


def invoice_v1_in_parts(
    invoice: Invoice, ctx: Context, *, apps: App | None = None
) -> tuple[dict[str, Any], bytes, bytes]:
    """``invoice_v1`` and its ``compact_json`` text as UTF-8 in two parts (what an event
    stores, joined): the head (status, its details and times: what a step changes),
    rendered afresh, and the rest, the same bytes object as the invoice's previous
    rendering while what it reads is unchanged (``_remembered_rest``)."""
    head = _head(invoice, ctx)
    rest = _remembered_rest(invoice, apps)
    return {**head, **rest.json}, compact_json(head)[:-1].encode(), rest.utf8


compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""JSON as the API answers and the store keeps it: compact, UTF-8 text unescaped."""

_REST_READS: set[str] = {
    "id",
    "currency",
    "tax_rate",
    "period_from",
    "period_to",
    "supplier",
    "customer",
    "lines",
    "workflow",
    "app_id",
    "billing_profile_id",
    "metadata",
    "validation_issues",
    "external_invoicing_id",
    "external_payment_id",
}
"""The invoice fields ``_rest`` reads (and nothing else of the invoice), none of
``STEP_FIELDS`` (assigning those counts as no edit)."""
_INVOICE_JSON = Invoice.__pydantic_serializer__
_APP_JSON = App.__pydantic_serializer__


@dataclass(frozen=True)
class _Rest:
    """An invoice's rendered rest, and what proves it still holds."""

    json: dict[str, Any]
    utf8: bytes
    """``compact_json(json)`` encoded, a comma instead of its opening brace (what follows
    the head's members)."""
    fingerprint: bytes
    """A digest of pydantic's JSON of what ``_rest`` read (``_REST_READS``, the app)."""
    invoice: "weakref.ref[Invoice]"
    apps: "weakref.ref[App] | None"
    """The invoice and app rendered (not kept alive for this)."""
    edits: int
    """``edits()`` when the fingerprint was taken."""
    lists: tuple[object, ...]
    """The invoice's lines, issues and its metadata's keys and values (the objects), then."""


_FRAME_KEYS = ("period", "supplier", "customer", "totals")
"""The rest's members before its workflow (``_frame``'s, in order)."""
_ENCODED_APART = frozenset({*_FRAME_KEYS, "workflow"})
"""The rest's members encoded before what follows its workflow."""
_WORKFLOW_JSON = Workflow.__pydantic_serializer__
_WORKFLOWS: dict[tuple[object, ...], tuple[dict[str, Any], str]] = {}
WORKFLOWS_KEPT = 64
"""Workflows remembered rendered (a workspace's invoices share one or a few), apps whole
and all some 3 KB of text each."""


def _remembered_workflow(invoice: Invoice, apps: App | None) -> tuple[dict[str, Any], str]:
    """``_workflow`` of the invoice and its ``compact_json`` text, remembered by the
    fingerprint of what it reads (pydantic's JSON of the models: see ``_remembered_rest``)."""
    key = (
        invoice.app_id,
        invoice.billing_profile_id,
        _WORKFLOW_JSON.to_json(invoice.workflow, warnings=False),
        None if apps is None else _APP_JSON.to_json(apps, warnings=False),
    )
    rendered = _WORKFLOWS.get(key)
    if rendered is None:
        if len(_WORKFLOWS) >= WORKFLOWS_KEPT:
            _WORKFLOWS.clear()
        json = _workflow(invoice.app_id, apps, invoice.billing_profile_id, invoice.workflow)
        rendered = _WORKFLOWS[key] = (json, compact_json(json))
    return rendered


_RESTS: dict[tuple[str, bool], _Rest] = {}
RESTS_KEPT = 2048
"""Invoices whose last rendered rest is remembered (the oldest go first), some 20 KB
each with their lines: a command renders its invoice at every step, a clock advance
each invoice it bills again an hour later (after billing every other subscription), an
API client a few at a time."""


def _remembered_rest(invoice: Invoice, apps: App | None) -> _Rest:
    """``_rest`` rendered, or reused from this invoice's last rendering if nothing it reads
    changed since. Proven either way:

    * at once, if no model has been edited since (``edits``: assigning a field of any
      model an invoice is rendered from counts) and it is the same invoice and app with
      the same lines and issues (the objects themselves) and metadata;
    * else by the fingerprint: a digest of pydantic's JSON of what ``_rest`` reads, every
      field, nested models and lists included, a decimal by its text (``1`` and ``1.0``
      print differently), so equal fingerprints render equal rests; it costs a fraction
      of rendering them (no Python code runs per field)."""
    slot = (invoice.id, apps is not None)
    last = _RESTS.get(slot)
    metadata = invoice.metadata
    lists = (*invoice.lines, None, *invoice.validation_issues, None, *metadata, None, *metadata.values())
    if (
        last is not None
        and last.invoice() is invoice
        and (None if last.apps is None else last.apps()) is apps
        and last.edits == edits()
        and len(last.lists) == len(lists)
        and all(map(operator.is_, last.lists, lists))
    ):
        return last
    digest = hashlib.blake2b(_INVOICE_JSON.to_json(invoice, include=_REST_READS, warnings=False))
    if apps is not None:
        digest.update(_APP_JSON.to_json(apps, warnings=False))
    fingerprint = digest.digest()
    _RESTS.pop(slot, None)
    if last is not None and last.fingerprint == fingerprint:
        json, utf8 = last.json, last.utf8
    else:
        if len(_RESTS) >= RESTS_KEPT:
            del _RESTS[next(iter(_RESTS))]
        workflow, workflow_text = _remembered_workflow(invoice, apps)
        json = _rest(invoice, apps, workflow)
        frame = compact_json({key: json[key] for key in _FRAME_KEYS})[1:-1]
        after = compact_json({key: value for key, value in json.items() if key not in _ENCODED_APART})[1:]
        utf8 = f',{frame},"workflow":{workflow_text},{after}'.encode()
    held = None if apps is None else weakref.ref(apps)
    rest = _RESTS[slot] = _Rest(json, utf8, fingerprint, weakref.ref(invoice), held, edits(), lists)
    return rest


def webhook_envelope(event_id: str, event_type: str, timestamp: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "timestamp": timestamp, "data": data}


def envelope(event: Event) -> dict[str, Any]:
    """An event of the log as delivered: ``{id, type, timestamp, data}``."""
    return webhook_envelope(event.id, event.type, rfc3339(event.timestamp) or "", event.data)


# --- InvoiceGenerated (docs/invoice-generated.md) --------------------------------------------------------
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
        # The detailed lines: what each line bills (quantity × per-unit amount = amount).
        "lineItems": [
            {
                "description": child.name,
                "quantity": to_json_number(child.quantity),
                "unitPrice": to_json_number(child.per_unit_amount),
                "total": to_json_number(child.totals.amount),
            }
            for line in invoice.lines
            for child in line.children
        ],
        "subtotal": to_json_number(totals.amount),
        "tax": to_json_number(totals.taxes_total),
        "total": to_json_number(totals.total),
        "currency": invoice.currency,
        "billingPeriod": {
            "start": invoice.period_from.date().isoformat(),
            "end": invoice.period_to.date().isoformat(),
        },
        "planId": invoice.plan_id or "",
    }
