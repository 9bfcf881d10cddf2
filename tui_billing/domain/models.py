"""The workspace's entities as pydantic models (validated where they enter).

Stored documents are these models dumped in JSON mode; the OpenMeter-shaped JSON that
partners see is built from them by ``events.py``, never stored as the source of truth.
"""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .durations import Duration, parse_duration
from .money import quantize
from .status import Status

DRAFT_SYNCED_MARKER = "openmeter.io/custominvoicing/draft-synced-at"
FINALIZED_MARKER = "openmeter.io/custominvoicing/finalized-at"
SYNC_COMPONENT = "openmeter.io/custominvoicing"
INVOICE_COMPONENT = "openmeter.io/billing"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class App(Model):
    """The installed External Invoicing app (one per workspace)."""

    id: str
    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=1024)
    labels: dict[str, str] = {}
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    status: Literal["ready", "unauthorized"] = "ready"
    enable_draft_sync_hook: bool = False
    enable_issuing_sync_hook: bool = False


class Workflow(Model):
    """Billing workflow settings (DOMAIN.md §5), stored as canonical ISO-8601 durations."""

    collection_interval: str = "PT1H"
    auto_advance: bool = True
    draft_period: str = "P0D"
    due_after: str = "P30D"

    @field_validator("collection_interval", "draft_period", "due_after")
    @classmethod
    def _canonical_duration(cls, value: str) -> str:
        return parse_duration(value).iso()

    def duration(self, name: Literal["collection_interval", "draft_period", "due_after"]) -> Duration:
        return parse_duration(getattr(self, name))


class Address(Model):
    country: str | None = None
    city: str | None = None
    postal_code: str | None = None
    line1: str | None = None


class Supplier(Model):
    name: str
    address: Address


class Customer(Model):
    id: str
    key: str
    name: str
    email: str | None = None
    address: Address | None = None
    currency: str
    tax_rate: Decimal = Decimal("0")
    plan_id: str
    created_at: datetime


class Plan(Model):
    """A flat fee per billing period plus a usage price per unit."""

    id: str
    key: str
    name: str
    currency: str
    flat_fee_name: str
    flat_fee: Decimal
    usage_name: str
    usage_unit: str
    unit_price: Decimal


class Subscription(Model):
    """A customer's plan, billed monthly; ``period_*`` is the current, unbilled period."""

    id: str
    customer_id: str
    plan_id: str
    started_at: datetime
    period_start: datetime
    period_end: datetime


class Line(Model):
    id: str
    name: str
    description: str | None = None
    type: Literal["flat_fee", "usage_based"]
    period_from: datetime
    period_to: datetime
    invoice_at: datetime
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    taxes_total: Decimal
    total: Decimal
    external_id: str | None = None

    @classmethod
    def priced(cls, *, currency: str, tax_rate: Decimal, quantity: Decimal, unit_price: Decimal,
               **fields: object) -> "Line":
        """A line whose amounts are computed from quantity, unit price and tax rate."""
        amount = quantize(quantity * unit_price, currency)
        tax = quantize(amount * tax_rate, currency)
        return cls(quantity=quantity, unit_price=unit_price, amount=amount, taxes_total=tax,
                   total=amount + tax, **fields)


class ValidationIssue(Model):
    id: str
    severity: Literal["critical", "warning"]
    message: str
    code: str | None = None
    component: str
    field: str | None = None


class HistoryEntry(Model):
    """One recorded transition: pass-through states are recorded too."""

    source: Status
    target: Status
    trigger: str
    at: datetime


class CustomerSnapshot(Model):
    id: str
    key: str
    name: str
    address: Address | None = None


class Totals(Model):
    amount: Decimal
    taxes_total: Decimal
    total: Decimal


class Invoice(Model):
    id: str
    number: str
    status: Status
    currency: str
    customer: CustomerSnapshot
    supplier: Supplier
    subscription_id: str | None = None
    plan_id: str | None = None
    description: str | None = None
    tax_rate: Decimal = Decimal("0")
    period_from: datetime
    period_to: datetime
    lines: list[Line] = []
    workflow: Workflow
    created_at: datetime
    updated_at: datetime
    collection_at: datetime | None = None
    draft_until: datetime | None = None
    issued_at: datetime | None = None
    due_at: datetime | None = None
    sent_to_customer_at: datetime | None = None
    deleted_at: datetime | None = None
    external_invoicing_id: str | None = None
    external_payment_id: str | None = None
    metadata: dict[str, str] = {}
    validation_issues: list[ValidationIssue] = []
    history: list[HistoryEntry] = []
    generated_status: str | None = None
    """The status of the last InvoiceGenerated payload emitted; None before the first."""

    @property
    def totals(self) -> Totals:
        """Always the sum of the lines: never stored, so never inconsistent."""
        zero = quantize(Decimal(0), self.currency)
        return Totals(
            amount=sum((line.amount for line in self.lines), zero),
            taxes_total=sum((line.taxes_total for line in self.lines), zero),
            total=sum((line.total for line in self.lines), zero),
        )

    @property
    def has_critical_issues(self) -> bool:
        return any(issue.severity == "critical" for issue in self.validation_issues)

    def line(self, line_id: str) -> Line | None:
        return next((line for line in self.lines if line.id == line_id), None)

    def summary(self) -> dict[str, str | None]:
        """The fields lists, counts and the clock need, stored beside the packed document."""
        def stamp(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "number": self.number, "status": self.status.value, "currency": self.currency,
            "customer_name": self.customer.name, "customer_id": self.customer.id,
            "total": str(self.totals.total), "due_at": stamp(self.due_at),
            "collection_at": stamp(self.collection_at), "draft_until": stamp(self.draft_until),
            "issued_at": stamp(self.issued_at), "updated_at": stamp(self.updated_at),
            "created_at": stamp(self.created_at), "period_start": stamp(self.period_from),
            "deleted_at": stamp(self.deleted_at),
        }


class Event(Model):
    """One entry of the ordered event log: a webhook envelope or an InvoiceGenerated payload."""

    id: str
    seq: int
    type: Literal["invoice.created", "invoice.updated", "invoice.generated"]
    timestamp: datetime
    invoice_id: str
    data: dict

    @property
    def is_webhook(self) -> bool:
        return self.type != "invoice.generated"


class Workspace(Model):
    """The workspace's own state: clock, seed, counters and defaults for new invoices."""

    id: Literal["workspace"] = "workspace"
    seed: int
    now: datetime
    id_counter: int = 0
    event_seq: int = 0
    sequences: dict[str, int] = {}
    workflow: Workflow = Workflow()
    supplier: Supplier
    callback_response: Literal["invoice", "no_content"] = "invoice"
    """How the three callbacks answer success over HTTP: 200 with the invoice, as
    OpenMeter's server does, or 204 as its OpenAPI spec and official SDK expect."""
