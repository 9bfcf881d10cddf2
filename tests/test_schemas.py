"""The app and every InvoiceGenerated payload against the seed schemas, format checking on;
the v1 invoice shape of docs/wire-contract.md and the money rules of docs/invoice-generated.md."""

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from conftest import SEEDS
from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker

from tui_billing.domain.apps import app_v3
from tui_billing.domain.ids import is_ulid
from tui_billing.domain.linespec import FlatFee, Usage
from tui_billing.domain.models import DRAFT_SYNCED_MARKER, FINALIZED_MARKER, Invoice
from tui_billing.domain.money import minor_unit, quantize
from tui_billing.domain.status import Status
from tui_billing.service import Service
from tui_billing.service.commands import (
    AdvanceClock,
    Approve,
    Collect,
    CreateInvoice,
    DraftSynchronized,
    IssuingSynchronized,
    PaymentStatus,
    SetHooks,
    UpdateApp,
)

# The app schema's `labels` refers to "#/components/schemas/Labels", which the seed does not
# include: it is put where the reference points, as a map of string to string.
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
TOTALS = (
    "amount",
    "chargesTotal",
    "discountsTotal",
    "creditsTotal",
    "taxesInclusiveTotal",
    "taxesExclusiveTotal",
    "taxesTotal",
    "total",
)
# `delete` (delete.*) is outside the spec's enum, as OpenMeter's server sends it.
SHORT_STATUSES = {
    "delete",
    "draft",
    "issuing",
    "issued",
    "payment_processing",
    "overdue",
    "paid",
    "uncollectible",
    "voided",
    "deleted",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((SEEDS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def app_validator() -> Draft202012Validator:
    schema = load("BillingAppExternalInvoicing.schema.json")
    # Its $id is the schema's pointer inside an OpenAPI document, which 2020-12 forbids (a
    # non-empty fragment); without it, the labels reference resolves inside this document.
    del schema["$id"]
    schema["components"] = {"schemas": {"Labels": LABELS}}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture(scope="module")
def generated_validator() -> Draft7Validator:
    schema = load("InvoiceGenerated.schema.json")
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=FormatChecker())


def errors(validator: Draft7Validator | Draft202012Validator, payload: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)]


# --- the app ---------------------------------------------------------------------------------
def test_the_app_validates(service: Service, app_validator: Draft202012Validator) -> None:
    app = app_v3(service.app())
    assert errors(app_validator, app) == []
    assert app["type"] == "external_invoicing"
    assert app["definition"]["type"] == "external_invoicing"
    assert (app["enable_draft_sync_hook"], app["enable_issuing_sync_hook"]) == (False, False)


def test_the_app_validates_after_changes(service: Service, app_validator: Draft202012Validator) -> None:
    service.execute(SetHooks(draft=True, issuing=True))
    service.execute(UpdateApp(app_name="ERP bridge", description="d" * 1024, labels={"team": "billing"}))
    app = app_v3(service.app())
    assert errors(app_validator, app) == []
    assert app["labels"] == {"team": "billing"}
    assert (app["enable_draft_sync_hook"], app["enable_issuing_sync_hook"]) == (True, True)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_at", "2026-01-01 09:00"),
        ("updated_at", "2026-01-01T09:00:00"),
        ("deleted_at", "2026-02-30T09:00:00Z"),
        ("labels", {"team": 1}),
        ("id", "not-a-ulid"),
        ("type", "stripe"),
    ],
)
def test_the_app_validator_really_checks(
    service: Service, app_validator: Draft202012Validator, field: str, value: Any
) -> None:
    """Formats are checked (an invalid date-time fails), and so is the substituted Labels."""
    app = {**app_v3(service.app()), field: value}
    assert errors(app_validator, app) != []


# --- InvoiceGenerated ------------------------------------------------------------------------
@pytest.fixture
def busy_service(demo_service: Service) -> Service:
    """The demo plus a month of subscription invoices, some sent, paid and overdue."""
    demo_service.execute(AdvanceClock("P1M"))
    demo_service.execute(AdvanceClock("2h"))
    rows = [r for r in demo_service.invoice_rows() if r["status"] == "payment_processing.pending"]
    for row, trigger in zip(rows, ("paid", "payment_overdue", "void", "payment_uncollectible"), strict=False):
        demo_service.execute(PaymentStatus(row["id"], trigger))
    demo_service.execute(SetHooks(draft=False, issuing=True))
    sent = demo_service.execute(
        CreateInvoice(
            demo_service.customers()[3].key,
            [FlatFee("Setup", Decimal("1234")), Usage("Requests", Decimal("3.5"), Decimal("0.3"))],
        )
    )
    demo_service.execute(Collect(sent.id))
    demo_service.execute(Approve(sent.id))
    demo_service.execute(IssuingSynchronized(sent.id, sent_to_customer_at="2026-02-01T12:00:00Z"))
    return demo_service


def emitted_payloads(service: Service) -> Iterator[dict[str, Any]]:
    for event in service.events():
        if event.type == "invoice.generated":
            yield event.data


def test_every_emitted_payload_validates(busy_service: Service, generated_validator: Draft7Validator) -> None:
    payloads = list(emitted_payloads(busy_service))
    assert {p["status"] for p in payloads} == {"generated", "sent", "paid", "overdue", "cancelled"}
    for payload in payloads:
        assert errors(generated_validator, payload) == [], payload


def test_every_preview_validates(busy_service: Service, generated_validator: Draft7Validator) -> None:
    drafts = 0
    for invoice in busy_service.invoices():
        payload, emitted = busy_service.invoice_generated(invoice)
        assert errors(generated_validator, payload) == [], payload
        drafts += not emitted
    assert drafts > 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("invoiceDate", "2026-01-01"),
        ("dueDate", "next week"),
        ("billingPeriod", {"start": "2026-02-30", "end": "2026-03-01"}),
        ("billingPeriod", {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01"}),
        ("status", "draft"),
        ("total", "12.00"),
    ],
)
def test_the_invoice_generated_validator_really_checks(
    busy_service: Service, generated_validator: Draft7Validator, field: str, value: Any
) -> None:
    payload = {**next(emitted_payloads(busy_service)), field: value}
    assert errors(generated_validator, payload) != []


def test_invoice_generated_amounts_are_numbers_in_currency_precision(busy_service: Service) -> None:
    """lineItems total = quantity × unitPrice rounded; total = subtotal + tax (§6, §7)."""
    currencies = set()
    for invoice in busy_service.invoices():
        payload, _ = busy_service.invoice_generated(invoice)
        currency = payload["currency"]
        currencies.add(currency)
        assert currency == invoice.currency and re.fullmatch(r"[A-Z]{3}", currency)
        for item in payload["lineItems"]:
            assert all(
                isinstance(item[k], int | float) and not isinstance(item[k], bool)
                for k in ("quantity", "unitPrice", "total")
            )
            product = Decimal(str(item["quantity"])) * Decimal(str(item["unitPrice"]))
            assert Decimal(str(item["total"])) == quantize(product, currency)
        amounts = [Decimal(str(payload[k])) for k in ("subtotal", "tax", "total")]
        for amount in amounts:
            assert -amount.as_tuple().exponent <= minor_unit(currency)  # type: ignore[operator]
        assert amounts[0] + amounts[1] == amounts[2]
        assert amounts[2] == invoice.totals.total
    assert {"JPY", "BHD", "USD"} <= currencies


# --- the v1 invoice (docs/wire-contract.md) ------------------------------------------------------------
def assert_totals(totals: dict[str, str], currency: str) -> None:
    assert set(totals) == set(TOTALS)
    values = {}
    for key in TOTALS:
        assert isinstance(totals[key], str) and DECIMAL.match(totals[key]), (key, totals[key])
        values[key] = Decimal(totals[key])
    assert values["total"] == (
        values["amount"]
        + values["chargesTotal"]
        + values["taxesExclusiveTotal"]
        - values["discountsTotal"]
        - values["creditsTotal"]
    )
    places = minor_unit(currency)
    assert all(
        -v.as_tuple().exponent == places
        for v in (values["amount"], values["taxesTotal"], values["total"])  # type: ignore[operator]
    )


def check_invoice_v1(invoice: Invoice, shown: dict[str, Any]) -> None:
    for key in (
        "id",
        "createdAt",
        "updatedAt",
        "type",
        "supplier",
        "customer",
        "number",
        "currency",
        "totals",
        "status",
        "statusDetails",
        "workflow",
    ):
        assert key in shown, key
    assert shown["type"] == "standard"
    assert shown["status"] in SHORT_STATUSES
    details = shown["statusDetails"]
    assert set(details) == {"immutable", "failed", "extendedStatus", "availableActions"}
    assert details["extendedStatus"] == invoice.status.value
    assert shown["status"] == invoice.status.short
    assert set(details["availableActions"]) <= {"advance", "approve", "retry", "delete", "snapshotQuantities"}
    for action in details["availableActions"].values():
        assert Status(action["resultingState"])
    assert shown["customer"]["name"] and shown["supplier"]["name"]
    assert isinstance(shown["supplier"]["addresses"], list)
    assert set(shown["workflow"]["workflow"]) == {"collection", "invoicing", "payment"}
    assert_totals(shown["totals"], invoice.currency)
    line_sums = {
        k: sum((Decimal(line["totals"][k]) for line in shown["lines"]), Decimal(0))
        for k in ("amount", "taxesTotal", "total")
    }
    assert line_sums == {k: Decimal(shown["totals"][k]) for k in line_sums}
    assert shown["customer"]["usageAttribution"]["subjectKeys"] == [invoice.customer.key]
    assert {app["id"] for app in shown["workflow"]["apps"].values()} == {invoice.app_id}
    assert is_ulid(shown["workflow"]["sourceBillingProfileId"])
    for line in shown["lines"]:
        for key in (
            "id",
            "name",
            "type",
            "status",
            "managedBy",
            "currency",
            "period",
            "invoiceAt",
            "quantity",
            "price",
            "rateCard",
            "invoice",
            "children",
            "totals",
        ):
            assert key in line, key
        assert (line["type"], line["status"], line["invoice"]) == ("usage_based", "valid", {"id": invoice.id})
        assert line["price"]["type"] in {"flat", "unit"} and line["rateCard"]["price"] == line["price"]
        assert_totals(line["totals"], invoice.currency)
        if "subscription" in line:
            assert set(line["subscription"]) == {"subscription", "phase", "item", "billingPeriod"}
        child_sums = {
            k: sum((Decimal(c["totals"][k]) for c in line["children"]), Decimal(0))
            for k in ("amount", "taxesTotal", "total")
        }
        assert child_sums == {k: Decimal(line["totals"][k]) for k in child_sums}
        for child in line["children"]:
            assert (child["type"], child["status"], child["managedBy"]) == ("flat_fee", "detailed", "system")
            assert is_ulid(child["id"]) and child["rateCard"]["price"]["type"] == "flat"
            assert Decimal(child["totals"]["amount"]) == quantize(
                Decimal(child["quantity"]) * Decimal(child["perUnitAmount"]), invoice.currency
            )
            assert_totals(child["totals"], invoice.currency)
    if "externalIds" in shown:
        assert shown["externalIds"] and set(shown["externalIds"]) <= {"invoicing", "payment"}
    for issue in shown["validationIssues"]:
        assert issue["severity"] in {"critical", "warning"}
        assert {"id", "createdAt", "updatedAt", "severity", "message", "component"} <= set(issue)
        assert is_ulid(issue["id"])


def test_every_invoice_has_the_v1_shape(busy_service: Service) -> None:
    for invoice in busy_service.invoices():
        check_invoice_v1(invoice, busy_service.invoice_v1(invoice))


def test_every_webhook_carries_a_v1_invoice(demo_service: Service) -> None:
    invoices = {invoice.id: invoice for invoice in demo_service.invoices()}
    for event in demo_service.events():
        if event.is_webhook:
            assert event.data["id"] == event.invoice_id
            assert_totals(event.data["totals"], invoices[event.invoice_id].currency)


def test_markers_and_external_ids_show_in_v1(service: Service) -> None:
    service.execute(SetHooks(draft=True, issuing=True))
    invoice = service.execute(CreateInvoice(service.customers()[0].key, [FlatFee("Fee", Decimal("10"))]))
    service.execute(DraftSynchronized(invoice.id, external_id="ext-1"))
    shown = service.invoice_v1(service.execute(IssuingSynchronized(invoice.id, payment_external_id="pay-1")))
    assert set(shown["metadata"]) == {DRAFT_SYNCED_MARKER, FINALIZED_MARKER}
    assert shown["externalIds"] == {"invoicing": "ext-1", "payment": "pay-1"}
