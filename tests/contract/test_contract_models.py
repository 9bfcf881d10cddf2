"""The contract models themselves: hand-written valid documents pass, and each known-bad
shape (the mistakes the simulator made, and a partner would trip over) is refused, so the
wire tests cannot pass vacuously."""

import copy
import json
from typing import Any

import pytest
from openmeter_contract import (
    AppPage,
    BadRequestV3,
    ChannelPage,
    CustomInvoicingApp,
    EventPage,
    ExternalInvoicingAppV3,
    Invoice,
    InvoiceCreatedPayload,
    InvoicePage,
    InvoiceRule,
    InvoiceUpdatedPayload,
    NotificationChannel,
    NotificationEvent,
    Problem,
    ProblemV3,
    RulePage,
)
from pydantic import BaseModel, ValidationError

AT = "2026-01-01T09:00:00.000Z"
PERIOD = {"from": "2025-12-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
INVOICE_ID = "01KDWCJ2M0PZWGHXA0BXTXPA12"
APP_ID = "01KDWCJ2M0Z6RHZX04NPVN5HX7"
DROP = object()
"""A mutation value: remove the key."""


def totals(amount: str) -> dict[str, str]:
    zero = "0"
    return {
        "amount": amount,
        "chargesTotal": zero,
        "discountsTotal": zero,
        "creditsTotal": zero,
        "taxesInclusiveTotal": zero,
        "taxesExclusiveTotal": zero,
        "taxesTotal": zero,
        "total": amount,
    }


def line(
    line_id: str, name: str, price: dict[str, str], quantity: str, amount: str, children: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": line_id,
        "name": name,
        "type": "usage_based",
        "status": "valid",
        "managedBy": "subscription",
        "currency": "USD",
        "createdAt": AT,
        "updatedAt": AT,
        "period": PERIOD,
        "invoiceAt": AT,
        "invoice": {"id": INVOICE_ID},
        "price": price,
        "rateCard": {"price": price},
        "quantity": quantity,
        "totals": totals(amount),
        "externalIds": {},
        "subscription": {
            "subscription": {"id": "01KDWCJ2M0JZAXDH9XYDRA4ZMH"},
            "phase": {"id": "01KDWCJ2M0JQC10DTNCXMQ4VJQ"},
            "item": {"id": "01KDWCJ2M0KJCCCJ0C14P4YSMC"},
            "billingPeriod": PERIOD,
        },
        "children": children,
    }


def detailed(line_id: str, name: str, per_unit: str, quantity: str, amount: str) -> dict[str, Any]:
    return {
        "id": line_id,
        "name": name,
        "type": "flat_fee",
        "status": "valid",
        "managedBy": "system",
        "currency": "USD",
        "createdAt": AT,
        "updatedAt": AT,
        "period": PERIOD,
        "invoiceAt": AT,
        "invoice": {"id": INVOICE_ID},
        "perUnitAmount": per_unit,
        "quantity": quantity,
        "paymentTerm": "in_arrears",
        "category": "regular",
        "totals": totals(amount),
        "rateCard": {
            "price": {"type": "flat", "amount": per_unit, "paymentTerm": "in_arrears"},
            "quantity": quantity,
        },
    }


def invoice() -> dict[str, Any]:
    """A valid v1 invoice: a flat fee and a usage line, each with one detailed line."""
    ref = {"id": APP_ID}
    return {
        "id": INVOICE_ID,
        "type": "standard",
        "number": "INV-ACME-1",
        "currency": "USD",
        "status": "draft",
        "statusDetails": {
            "immutable": False,
            "failed": True,
            "extendedStatus": "draft.invalid",
            "availableActions": {"retry": {"resultingState": "draft.validating"}},
        },
        "createdAt": AT,
        "updatedAt": AT,
        "draftUntil": AT,
        "collectionAt": AT,
        "period": PERIOD,
        "supplier": {"name": "Simulated Billing Inc.", "addresses": [{"country": "US"}]},
        "customer": {
            "id": "01KDWCJ2M0TECV4H8119MXBT2Z",
            "key": "acme",
            "name": "Acme",
            "usageAttribution": {"subjectKeys": ["acme"]},
        },
        "totals": totals("124.00"),
        "workflow": {
            "apps": {"tax": ref, "invoicing": ref, "payment": ref},
            "sourceBillingProfileId": "01KDWCJ2M0H6V3K23FFYWKF81V",
            "workflow": {
                "collection": {"interval": "PT1H"},
                "invoicing": {"autoAdvance": True, "draftPeriod": "P0D", "dueAfter": "P30D"},
                "payment": {"collectionMethod": "send_invoice"},
            },
        },
        "lines": [
            line(
                "01KDWCJ2M0KJCCCJ0C14P4YSMA",
                "Platform fee",
                {"type": "flat", "amount": "100.00", "paymentTerm": "in_advance"},
                "1",
                "100.00",
                [detailed("01KDWCJ2M0KJCCCJ0C14P4YSMB", "Platform fee", "100.00", "1", "100.00")],
            ),
            line(
                "01KDWCJ2M0KJCCCJ0C14P4YSMC",
                "API calls",
                {"type": "unit", "amount": "0.002"},
                "12000",
                "24.00",
                [detailed("01KDWCJ2M0KJCCCJ0C14P4YSMD", "API calls: usage", "0.002", "12000", "24.00")],
            ),
        ],
        "validationIssues": [
            {
                "id": "01KDWCJ2M0KJCCCJ0C14P4YSME",
                "createdAt": AT,
                "updatedAt": AT,
                "severity": "critical",
                "component": "openmeter.io/billing",
                "code": "line_amount_negative",
                "message": "a line has a negative amount",
            }
        ],
        "externalIds": {"invoicing": "erp_1"},
    }


def problem() -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "payment status is not allowed in draft.syncing",
        "instance": "urn:request:c0ffee-1",
        "extensions": {
            "severity": "critical",
            "message": "line 1 is negative",
            "component": "openmeter.io/billing",
            "code": "line_amount_negative",
            "path": "lines/0",
            "additionalIssues": [{"severity": "warning", "message": "no tax code"}],
        },
    }


def app_v1() -> dict[str, Any]:
    capability = {
        "type": "invoiceCustomers",
        "key": "invoice_customers",
        "name": "Invoice customers",
        "description": "Send invoices to customers",
    }
    return {
        "id": APP_ID,
        "name": "External Invoicing",
        "type": "custom_invoicing",
        "status": "ready",
        "createdAt": AT,
        "updatedAt": AT,
        "metadata": {"team": "billing"},
        "enableDraftSyncHook": True,
        "enableIssuingSyncHook": False,
        "listing": {
            "type": "custom_invoicing",
            "name": "Custom Invoicing",
            "description": "Your own invoicing",
            "capabilities": [capability],
            "installMethods": ["no_credentials_required"],
        },
    }


def app_v3() -> dict[str, Any]:
    capability = {
        "type": "invoice_customers",
        "key": "invoice_customers",
        "name": "Invoice customers",
        "description": "Send invoices to customers",
    }
    return {
        "id": APP_ID,
        "name": "External Invoicing",
        "type": "external_invoicing",
        "status": "ready",
        "created_at": AT,
        "updated_at": AT,
        "labels": {"env": "test"},
        "enable_draft_sync_hook": True,
        "enable_issuing_sync_hook": True,
        "definition": {
            "type": "external_invoicing",
            "name": "External Invoicing",
            "description": "Your own invoicing",
            "capabilities": [capability],
            "install_methods": ["no_credentials_required"],
        },
    }


def page() -> dict[str, Any]:
    return {"items": [invoice()], "page": 1, "pageSize": 100, "totalCount": 1}


def created() -> dict[str, Any]:
    return {"id": "01KDWCJ2M0KJCCCJ0C14P4YSMF", "type": "invoice.created", "timestamp": AT, "data": invoice()}


CHANNEL_ID = "01KDWCJ2M0ZR3W5Y4QFK6V2B8C"
RULE_ID = "01KDWCJ2M0ZR3W5Y4QFK6V2B8D"
EVENT_ID = "01KDWCJ2M0KJCCCJ0C14P4YSMF"


def channel() -> dict[str, Any]:
    return {
        "id": CHANNEL_ID,
        "type": "WEBHOOK",
        "name": "partner",
        "createdAt": AT,
        "updatedAt": AT,
        "disabled": False,
        "url": "https://partner.example/hooks",
        "customHeaders": {"X-Partner": "acme"},
        "signingSecret": "whsec_" + "A" * 32,
        "metadata": {},
    }


def rule() -> dict[str, Any]:
    return {
        "id": RULE_ID,
        "type": "invoice.created",
        "name": "invoices",
        "createdAt": AT,
        "updatedAt": AT,
        "disabled": False,
        "channels": [{"id": CHANNEL_ID, "type": "WEBHOOK"}],
    }


def notification_event() -> dict[str, Any]:
    attempt = {
        "state": "SUCCESS",
        "response": {
            "statusCode": 200,
            "body": "ok",
            "durationMs": 12,
            "url": "https://partner.example/hooks",
        },
        "timestamp": AT,
    }
    return {
        "id": EVENT_ID,
        "type": "invoice.created",
        "createdAt": AT,
        "rule": rule(),
        "deliveryStatus": [
            {
                "state": "SUCCESS",
                "reason": "delivered",
                "updatedAt": AT,
                "channel": {"id": CHANNEL_ID, "type": "WEBHOOK"},
                "attempts": [attempt],
            }
        ],
        "payload": created(),
        "annotations": {"event.invoice.id": INVOICE_ID},
    }


def paged(item: dict[str, Any]) -> dict[str, Any]:
    return {"items": [item], "page": 1, "pageSize": 100, "totalCount": 1}


def mutated(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def valid(model: type[BaseModel], doc: dict[str, Any]) -> None:
    model.model_validate_json(json.dumps(doc))


VALID = {
    "invoice": (Invoice, invoice()),
    "invoice page": (InvoicePage, page()),
    "problem with extensions": (Problem, problem()),
    "problem, plain": (Problem, mutated(problem(), ("extensions",), DROP)),
    "v3 problem": (
        ProblemV3,
        {"status": 404, "title": "Not Found", "instance": "kong:trace:1", "detail": "no app"},
    ),
    "v3 bad request": (
        BadRequestV3,
        {
            "status": 400,
            "title": "Bad Request",
            "instance": "kong:trace:1",
            "detail": "invalid",
            "invalid_parameters": [
                {
                    "field": "name",
                    "reason": "must not be empty",
                    "rule": "min_length",
                    "minimum": 1,
                    "source": "body",
                }
            ],
        },
    ),
    "app v1": (CustomInvoicingApp, app_v1()),
    "app page": (AppPage, {"items": [app_v1()], "page": 1, "pageSize": 100, "totalCount": 1}),
    "app v3": (ExternalInvoicingAppV3, app_v3()),
    "invoice.created": (InvoiceCreatedPayload, created()),
    "invoice.updated": (InvoiceUpdatedPayload, {**created(), "type": "invoice.updated"}),
    "deleted invoice keeps its short status": (
        Invoice,
        mutated(mutated(invoice(), ("status",), "deleted"), ("statusDetails", "extendedStatus"), "deleted"),
    ),
    "delete.failed invoice keeps its short status": (
        Invoice,
        mutated(
            mutated(invoice(), ("status",), "delete"), ("statusDetails", "extendedStatus"), "delete.failed"
        ),
    ),
    "delete.failed invoice shown as deleted": (
        Invoice,
        mutated(
            mutated(invoice(), ("status",), "deleted"), ("statusDetails", "extendedStatus"), "delete.failed"
        ),
    ),
    "offset date-time": (Invoice, mutated(invoice(), ("issuedAt",), "2026-01-01T10:00:00+01:00")),
    "webhook channel": (NotificationChannel, channel()),
    "deleted channel": (NotificationChannel, {**channel(), "deletedAt": AT, "disabled": True}),
    "channel page": (ChannelPage, paged(channel())),
    "invoice rule": (InvoiceRule, rule()),
    "rule page": (RulePage, paged(rule())),
    "notification event": (NotificationEvent, notification_event()),
    "pending event, no attempt yet": (
        NotificationEvent,
        mutated(
            mutated(notification_event(), ("deliveryStatus", 0, "state"), "PENDING"),
            ("deliveryStatus", 0, "attempts"),
            [],
        ),
    ),
    "event page": (EventPage, paged(notification_event())),
}


@pytest.mark.parametrize("name", VALID)
def test_valid_documents_pass(name: str) -> None:
    model, doc = VALID[name]
    valid(model, doc)


BAD = {
    # the invoice and its lines
    "a flat_fee top-level line": (Invoice, ("lines", 0, "type"), "flat_fee", "usage_based"),
    "a usage_based detailed line": (Invoice, ("lines", 0, "children", 0, "type"), "usage_based", "flat_fee"),
    "a detailed line without an id": (Invoice, ("lines", 1, "children", 0, "id"), DROP, "Field required"),
    "a detailed line id that is not a ULID": (
        Invoice,
        ("lines", 1, "children", 0, "id"),
        "LINE-1-detail",
        "pattern",
    ),
    "a price type the simulator never bills": (Invoice, ("lines", 0, "price", "type"), "tiered", "tag"),
    "a decimal with a comma": (Invoice, ("lines", 1, "price", "amount"), "0,002", "pattern"),
    "a total as a JSON number": (Invoice, ("totals", "total"), 124.0, "string"),
    "a line subscription without billingPeriod": (
        Invoice,
        ("lines", 0, "subscription", "billingPeriod"),
        DROP,
        "Field required",
    ),
    "a line invoice reference without id": (Invoice, ("lines", 0, "invoice", "id"), DROP, "Field required"),
    "a customer without usageAttribution": (
        Invoice,
        ("customer", "usageAttribution"),
        DROP,
        "Field required",
    ),
    "usageAttribution without subjectKeys": (Invoice, ("customer", "usageAttribution"), {}, "Field required"),
    "app references without ids": (
        Invoice,
        ("workflow", "apps", "invoicing"),
        {"type": "custom_invoicing"},
        "Field required",
    ),
    "a sourceBillingProfileId that is not a ULID": (
        Invoice,
        ("workflow", "sourceBillingProfileId"),
        "default",
        "pattern",
    ),
    "a validation issue without createdAt": (
        Invoice,
        ("validationIssues", 0, "createdAt"),
        DROP,
        "Field required",
    ),
    "a validation issue without updatedAt": (
        Invoice,
        ("validationIssues", 0, "updatedAt"),
        DROP,
        "Field required",
    ),
    "a validation issue id that is not a ULID": (
        Invoice,
        ("validationIssues", 0, "id"),
        "01KDWCJ2M0H6V3K23FFYWKF81V-negative",
        "pattern",
    ),
    "a severity outside the enum": (Invoice, ("validationIssues", 0, "severity"), "error", "critical"),
    "a date-time without offset": (Invoice, ("createdAt",), "2026-01-01T09:00:00", "RFC 3339"),
    "a date that is no date-time": (Invoice, ("dueAt",), "yesterday", "RFC 3339"),
    "a lower-case currency": (Invoice, ("currency",), "usd", "pattern"),
    "a status outside the enum": (Invoice, ("status",), "pending", "InvoiceStatus"),
    "'deleted' for an invoice that is not being deleted": (Invoice, ("status",), "deleted", "InvoiceStatus"),
    "statusDetails without availableActions": (
        Invoice,
        ("statusDetails", "availableActions"),
        DROP,
        "Field required",
    ),
    "a duration that is not ISO 8601": (
        Invoice,
        ("workflow", "workflow", "invoicing", "dueAfter"),
        "30 days",
        "ISO 8601",
    ),
    "two supplier addresses": (
        Invoice,
        ("supplier", "addresses"),
        [{"country": "US"}, {"country": "DE"}],
        "at most 1",
    ),
    # lists and webhook bodies
    "a page without totalCount": (InvoicePage, ("totalCount",), DROP, "Field required"),
    "a page with a bad item": (InvoicePage, ("items", 0, "lines", 0, "type"), "flat_fee", "usage_based"),
    "a webhook id that is not a ULID": (InvoiceCreatedPayload, ("id",), "evt_1", "pattern"),
    "a webhook of another type": (InvoiceCreatedPayload, ("type",), "invoice.generated", "invoice.created"),
    "a webhook body with a bad invoice": (
        InvoiceCreatedPayload,
        ("data", "customer", "usageAttribution"),
        DROP,
        "Field required",
    ),
    # problems
    "a path-style instance": (
        Problem,
        ("instance",),
        "/api/v1/billing/invoices/01KDWCJ2M0PZWGHXA0BXTXPA12",
        "absolute URI",
    ),
    "a problem without title": (Problem, ("title",), DROP, "Field required"),
    "a problem status as a string": (Problem, ("status",), "400", "integer"),
    "a relative problem type": (Problem, ("type",), "errors/bad-request", "absolute URI"),
    "extensions with an issue but no message": (Problem, ("extensions", "message"), DROP, "Field required"),
    "an additional issue without severity": (
        Problem,
        ("extensions", "additionalIssues", 0, "severity"),
        DROP,
        "Field required",
    ),
    # apps
    "a v1 app of the v3 type": (CustomInvoicingApp, ("type",), "external_invoicing", "custom_invoicing"),
    "a v1 app without its listing": (CustomInvoicingApp, ("listing",), DROP, "Field required"),
    "a v1 capability type in snake_case": (
        CustomInvoicingApp,
        ("listing", "capabilities", 0, "type"),
        "invoice_customers",
        "invoiceCustomers",
    ),
    "a v3 app with a camelCase flag": (
        ExternalInvoicingAppV3,
        ("enableDraftSyncHook",),
        True,
        "Extra inputs",
    ),
    "a v3 app without a definition": (ExternalInvoicingAppV3, ("definition",), DROP, "Field required"),
    "a v3 definition without install_methods": (
        ExternalInvoicingAppV3,
        ("definition", "install_methods"),
        DROP,
        "Field required",
    ),
    "a v3 definition without capabilities": (
        ExternalInvoicingAppV3,
        ("definition", "capabilities"),
        DROP,
        "Field required",
    ),
    "a lower-case v3 id": (ExternalInvoicingAppV3, ("id",), APP_ID.lower(), "pattern"),
    "a v3 label value with a space": (ExternalInvoicingAppV3, ("labels", "env"), "a b", "label"),
    # the notification API
    "an EMAIL channel": (NotificationChannel, ("type",), "EMAIL", "WEBHOOK"),
    "a channel without a url": (NotificationChannel, ("url",), DROP, "Field required"),
    "a short signing secret": (NotificationChannel, ("signingSecret",), "whsec_abc", "pattern"),
    "custom header values not strings": (NotificationChannel, ("customHeaders", "X-Partner"), 1, "string"),
    "a rule naming channels by id only": (InvoiceRule, ("channels", 0), CHANNEL_ID, "an object"),
    "an entitlements rule": (InvoiceRule, ("type",), "entitlements.reset", "invoice.created"),
    "a delivery state in lower case": (
        NotificationEvent,
        ("deliveryStatus", 0, "state"),
        "success",
        "SUCCESS",
    ),
    "an attempt without durationMs": (
        NotificationEvent,
        ("deliveryStatus", 0, "attempts", 0, "response", "durationMs"),
        DROP,
        "Field required",
    ),
    "a payload whose id is not the event's": (
        NotificationEvent,
        ("payload", "id"),
        RULE_ID,
        "not the event's",
    ),
    "a delivery status without a reason": (
        NotificationEvent,
        ("deliveryStatus", 0, "reason"),
        DROP,
        "Field required",
    ),
    "an event page without totalCount": (EventPage, ("totalCount",), DROP, "Field required"),
    "page 0": (ChannelPage, ("page",), 0, "greater than or equal"),
}
SAMPLES = {
    Invoice: invoice,
    InvoicePage: page,
    InvoiceCreatedPayload: created,
    Problem: problem,
    CustomInvoicingApp: app_v1,
    ExternalInvoicingAppV3: app_v3,
    NotificationChannel: channel,
    InvoiceRule: rule,
    NotificationEvent: notification_event,
    EventPage: lambda: paged(notification_event()),
    ChannelPage: lambda: paged(channel()),
}


@pytest.mark.parametrize("name", BAD)
def test_known_bad_shapes_are_refused(name: str) -> None:
    model, path, value, reason = BAD[name]
    doc = mutated(SAMPLES[model](), path, value)
    with pytest.raises(ValidationError) as refused:
        valid(model, doc)
    assert reason in str(refused.value), str(refused.value)
