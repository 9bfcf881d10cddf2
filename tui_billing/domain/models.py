"""The workspace's entities as pydantic models (validated where they enter).

Stored documents are these models dumped in JSON mode; the OpenMeter-shaped JSON that
partners see is built from them by ``events.py``, never stored as the source of truth.
"""

import operator
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .durations import Duration, parse_duration
from .ids import derived_ulid, ulid_time
from .money import quantize
from .status import Status

DRAFT_SYNCED_MARKER = "openmeter.io/custominvoicing/draft-synced-at"
FINALIZED_MARKER = "openmeter.io/custominvoicing/finalized-at"
SYNC_COMPONENT = "openmeter.io/custominvoicing"
INVOICE_COMPONENT = "openmeter.io/billing"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


_edits = 0
_UNSET = object()


def edits() -> int:
    """How many times a field of a model an invoice's JSON is rendered from has been
    assigned (a ``Rendered`` model's, or an ``Invoice``'s outside ``STEP_FIELDS``): while
    it stands still, an invoice whose lists are the same objects renders as before
    (``shapes`` reuses its rendering). Models are changed on one thread only."""
    return _edits


def _count_edit(before: object, after: object) -> None:
    """Count an assignment that replaces ``before`` by ``after``, unless it is the same
    object or a list of the same objects (an invoice revalidated without new issues)."""
    if before is after or (
        type(before) is list
        and type(after) is list
        and len(before) == len(after)
        and all(map(operator.is_, before, after))
    ):
        return
    global _edits
    _edits += 1


class Rendered(Model):
    """A model an invoice's JSON is rendered from: assigning a field counts (``edits``).
    Change a list or dict it holds by assigning a new one, not in place (the invoice's
    own lines, issues and metadata may change in place: ``shapes`` compares them)."""

    def __setattr__(self, name: str, value: Any) -> None:
        _count_edit(self.__dict__.get(name, _UNSET), value)
        super().__setattr__(name, value)


class App(Rendered):
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


class Workflow(Rendered):
    """Billing workflow settings (docs/time.md), stored as canonical ISO-8601 durations."""

    collection_interval: str = "PT1H"
    auto_advance: bool = True
    draft_period: str = "P0D"
    due_after: str = "P30D"

    @field_validator("collection_interval", "draft_period", "due_after")
    @classmethod
    def _canonical_duration(cls, value: str) -> str:
        return _canonical(value)

    def duration(self, name: Literal["collection_interval", "draft_period", "due_after"]) -> Duration:
        return _duration(getattr(self, name))


_duration = lru_cache(maxsize=256)(parse_duration)
"""``parse_duration``, remembered: a workflow's few durations are read at every invoice."""


@lru_cache(maxsize=256)
def _canonical(value: str) -> str:
    """A duration's canonical text, remembered: every invoice read validates its workflow's."""
    return parse_duration(value).iso()


class Address(Rendered):
    country: str | None = None
    city: str | None = None
    postal_code: str | None = None
    line1: str | None = None


class Supplier(Rendered):
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


PaymentTerm = Literal["in_advance", "in_arrears"]


class FlatPrice(Rendered):
    """A fixed amount per billing period (OpenMeter's flat fee)."""

    type: Literal["flat"] = "flat"
    amount: Decimal
    payment_term: PaymentTerm = "in_advance"


class UnitPrice(Rendered):
    """An amount per unit of usage."""

    type: Literal["unit"] = "unit"
    amount: Decimal


Price = Annotated[FlatPrice | UnitPrice, Field(discriminator="type")]


class Totals(Rendered):
    amount: Decimal
    taxes_total: Decimal
    total: Decimal

    @classmethod
    def of(cls, parts: "Iterable[Totals]", currency: str) -> "Totals":
        """The sum of ``parts``, zero in the currency's precision when there are none."""
        amount = taxes = total = quantize(Decimal(0), currency)
        for part in parts:
            amount, taxes, total = amount + part.amount, taxes + part.taxes_total, total + part.total
        return cls.model_construct(amount=amount, taxes_total=taxes, total=total)  # sums of decimals


class DetailedLine(Rendered):
    """What a line actually bills: a quantity at a per-unit amount (OpenMeter's ``children``)."""

    id: str
    name: str
    quantity: Decimal
    per_unit_amount: Decimal
    payment_term: PaymentTerm
    category: Literal["regular", "commitment"] = "regular"
    totals: Totals
    external_id: str | None = None
    created_at: datetime
    updated_at: datetime


class SubscriptionRef(Rendered):
    """The subscription a line comes from; the simulator's plan stands for its one phase."""

    subscription_id: str
    phase_id: str
    item_id: str
    billing_period_from: datetime
    billing_period_to: datetime

    @classmethod
    def of(
        cls, subscription_id: str, phase_id: str, line_name: str, start: datetime, end: datetime
    ) -> "SubscriptionRef":
        """The reference of a line billed for ``start``–``end``: one item per line name, its
        id the same from period to period."""
        return cls(
            subscription_id=subscription_id,
            phase_id=phase_id,
            item_id=_item_id(subscription_id, line_name),
            billing_period_from=start,
            billing_period_to=end,
        )


@lru_cache(maxsize=4096)
def _item_id(subscription_id: str, line_name: str) -> str:
    """The subscription item a line of this name bills (remembered: every period asks)."""
    return derived_ulid(f"{subscription_id}:item:{line_name}", ulid_time(subscription_id))


class Line(Rendered):
    """An invoice line as OpenMeter keeps it: a priced item with its detailed lines.

    A flat price bills one detailed line of quantity 1; a unit price bills the usage
    quantity in one detailed line while it is positive (OpenMeter's flat and unit pricers).
    """

    id: str
    name: str
    description: str | None = None
    price: Price
    feature_key: str | None = None
    quantity: Decimal
    period_from: datetime
    period_to: datetime
    invoice_at: datetime
    managed_by: Literal["subscription", "manual"] = "manual"
    subscription: SubscriptionRef | None = None
    external_id: str | None = None
    children: list[DetailedLine] = []
    created_at: datetime
    updated_at: datetime

    @classmethod
    def priced(
        cls,
        *,
        price: FlatPrice | UnitPrice,
        quantity: Decimal,
        currency: str,
        tax_rate: Decimal,
        at: datetime,
        **fields: Any,
    ) -> "Line":
        """A line and its detailed lines, made ``at``; a detailed line's id is derived from
        its line's, so the same line always details into the same ids."""
        line = cls(price=price, quantity=quantity, created_at=at, updated_at=at, **fields)
        if isinstance(price, FlatPrice):
            billed = [(line.name, Decimal(1), price.payment_term)]
        else:
            billed = [(f"{line.name}: usage in period", quantity, "in_arrears")] if quantity > 0 else []
        for index, (name, count, term) in enumerate(billed, start=1):
            amount = quantize(count * price.amount, currency)
            tax = quantize(amount * tax_rate, currency)
            line.children.append(
                DetailedLine(
                    id=derived_ulid(f"{line.id}:detail:{index}", at),
                    name=name,
                    quantity=count,
                    per_unit_amount=price.amount,
                    payment_term=term,
                    totals=Totals(amount=amount, taxes_total=tax, total=amount + tax),
                    created_at=at,
                    updated_at=at,
                )
            )
        return line

    @property
    def is_usage(self) -> bool:
        return self.price.type == "unit"

    def totals(self, currency: str) -> Totals:
        """The sum of the detailed lines: never stored, so never inconsistent."""
        return Totals.of((child.totals for child in self.children), currency)


class ValidationIssue(Rendered):
    id: str
    severity: Literal["critical", "warning"]
    message: str
    code: str | None = None
    component: str
    field: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def found(
        cls,
        invoice_id: str,
        at: datetime,
        *,
        component: str,
        code: str | None,
        field: str | None = None,
        **fields: Any,
    ) -> "ValidationIssue":
        """An issue found now; its ULID comes from what it is about, so it is reproducible."""
        return cls(
            id=derived_ulid(f"{invoice_id}:{component}:{code}:{field}", at),
            component=component,
            code=code,
            field=field,
            created_at=at,
            updated_at=at,
            **fields,
        )


class HistoryEntry(Model):
    """One recorded transition: pass-through states are recorded too."""

    source: Status
    target: Status
    trigger: str
    at: datetime


class CustomerSnapshot(Rendered):
    id: str
    key: str
    name: str
    address: Address | None = None
    subject_keys: list[str] = []
    """The metered subjects attributed to the customer (OpenMeter's ``usageAttribution``)."""


STEP_FIELDS = frozenset(
    {
        "status",
        "number",
        "updated_at",
        "collection_at",
        "draft_until",
        "issued_at",
        "due_at",
        "sent_to_customer_at",
        "deleted_at",
        "history",
        "generated_status",
    }
)
"""The invoice's fields that lifecycle steps, numbering and scheduling assign: its JSON
shows them in its head, rendered afresh every time, so assigning them is no edit."""


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
    app_id: str
    """The installed app, snapshotted as the invoicing, payment and tax app."""
    billing_profile_id: str
    """The billing profile the workflow was snapshotted from (the workspace's default)."""
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

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in STEP_FIELDS:
            _count_edit(self.__dict__.get(name, _UNSET), value)
        super().__setattr__(name, value)

    @property
    def totals(self) -> Totals:
        """Always the sum of the lines: never stored, so never inconsistent. Summed over
        their detailed lines at once (the same decimals: sums of decimals are exact)."""
        details = (child.totals for line in self.lines for child in line.children)
        return Totals.of(details, self.currency)

    @property
    def has_critical_issues(self) -> bool:
        return any(issue.severity == "critical" for issue in self.validation_issues)

    def line(self, line_id: str) -> Line | DetailedLine | None:
        """A line or a detailed line by id."""
        for line in self.lines:
            if line.id == line_id:
                return line
            for child in line.children:
                if child.id == line_id:
                    return child
        return None

    def summary(self) -> "SummaryFields":
        """The fields lists, counts and the clock need, stored beside the packed document."""

        def stamp(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "number": self.number,
            "status": self.status.value,
            "currency": self.currency,
            "customer_name": self.customer.name,
            "customer_id": self.customer.id,
            "total": str(self.totals.total),
            "due_at": stamp(self.due_at),
            "collection_at": stamp(self.collection_at),
            "draft_until": stamp(self.draft_until),
            "issued_at": stamp(self.issued_at),
            "updated_at": stamp(self.updated_at),
            "created_at": stamp(self.created_at),
            "period_start": stamp(self.period_from),
            "deleted_at": stamp(self.deleted_at),
        }


class SummaryFields(TypedDict):
    """What ``Invoice.summary`` stores beside the packed invoice (times in ISO 8601)."""

    number: str
    status: str
    currency: str
    customer_name: str
    customer_id: str
    total: str
    due_at: str | None
    collection_at: str | None
    draft_until: str | None
    issued_at: str | None
    updated_at: str | None
    created_at: str | None
    period_start: str | None
    deleted_at: str | None


class InvoiceSummary(SummaryFields):
    """An invoice's list row: its summary and its id. Lists, filters, counts and the clock
    read these without unpacking the invoice (``Service.invoice_of`` reads one)."""

    id: str


EventType = Literal["invoice.created", "invoice.updated", "invoice.generated"]


class EventRow(TypedDict):
    """An event's envelope as the log lists it, without its data (``Service.event`` reads it)."""

    id: str
    seq: int
    type: EventType
    timestamp: str
    invoice_id: str


class Event(Model):
    """One entry of the ordered event log: a webhook envelope or an InvoiceGenerated payload."""

    id: str
    seq: int
    type: EventType
    timestamp: datetime
    invoice_id: str
    data: dict[str, Any]

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
    billing_profile_id: str
    """The default billing profile new invoices snapshot (see ``default_profile_id``)."""
    callback_response: Literal["invoice", "no_content"] = "invoice"
    """How the three callbacks answer success over HTTP: 200 with the invoice, as
    OpenMeter's server does, or 204 as its OpenAPI spec and official SDK expect."""
    delivery_retention: int = 1000
    """How many deliveries each webhook channel keeps (the newest; pending ones always)."""


def default_profile_id(seed: int, created_at: datetime) -> str:
    """The workspace's default billing profile id: fixed by its seed and creation time."""
    return derived_ulid(f"billing-profile:{seed}", created_at)
