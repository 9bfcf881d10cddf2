"""A new invoice before the lifecycle moves it (``domain/invoice_creation.py``)."""

from datetime import UTC, datetime
from decimal import Decimal

from tui_billing.domain.durations import add_months
from tui_billing.domain.invoice_creation import draft, plan_lines
from tui_billing.domain.linespec import FlatFee, Usage
from tui_billing.domain.models import Address, Customer, Invoice, Plan, Supplier, Workflow
from tui_billing.domain.status import Status

NOW = datetime(2026, 2, 1, 9, tzinfo=UTC)
PLAN = Plan(
    id="plan-1",
    key="starter-usd",
    name="Starter (USD)",
    currency="USD",
    flat_fee_name="Starter platform fee",
    flat_fee=Decimal("49.00"),
    usage_name="API requests",
    usage_unit="request",
    unit_price=Decimal("0.002"),
)
CUSTOMER = Customer(
    id="customer-1",
    key="acme",
    name="Acme",
    currency="USD",
    tax_rate=Decimal("0.0725"),
    plan_id=PLAN.id,
    created_at=NOW,
)
SUPPLIER = Supplier(name="Supplier", address=Address(country="US"))


def test_a_plan_bills_its_flat_fee_and_its_usage() -> None:
    assert plan_lines(PLAN, Decimal(1200)) == [
        FlatFee("Starter platform fee", Decimal("49.00")),
        Usage("API requests", Decimal(1200), Decimal("0.002")),
    ]


def test_a_draft_takes_its_id_then_its_number_then_one_id_per_line() -> None:
    drawn: list[str] = []

    def new_id() -> str:
        drawn.append(f"id-{sum(name.startswith('id-') for name in drawn) + 1}")
        return drawn[-1]

    def allocate_number(kind: str, invoice: Invoice) -> str:
        drawn.append(f"{kind}-number")
        return f"{kind}-ACME-1"

    start = add_months(NOW, -1)
    invoice = draft(
        customer=CUSTOMER,
        plan=PLAN,
        specs=plan_lines(PLAN, Decimal(1200)),
        start=start,
        end=NOW,
        subscription_id=None,
        supplier=SUPPLIER,
        workflow=Workflow(),
        app_id="app-1",
        billing_profile_id="profile-1",
        now=NOW,
        new_id=new_id,
        allocate_number=allocate_number,
    )
    assert drawn == ["id-1", "DRAFT-number", "id-2", "id-3"]
    assert (invoice.id, invoice.number, invoice.status) == ("id-1", "DRAFT-ACME-1", Status.DRAFT_CREATED)
    assert [line.id for line in invoice.lines] == ["id-2", "id-3"]
    assert invoice.totals.amount == Decimal("51.40")  # 49.00 + 1,200 × 0.002
    assert (invoice.period_from, invoice.period_to, invoice.created_at) == (start, NOW, NOW)
    assert invoice.collection_at is not None  # scheduled
