"""A new invoice as creation and period billing make it, before the lifecycle moves it.

* ``plan_lines``: what a plan bills for one period (its flat fee and its usage).
* ``draft``: the invoice in ``draft.created`` for a customer, a plan and a period, its
  lines priced and its dates scheduled. The service then advances it and emits its
  events; ids and numbers come from the service's counters, handed in, in the order the
  simulator has always drawn them (the invoice's id, its draft number, one id per line),
  so a workspace replayed from its seed gets the same ids.
"""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from .linespec import FlatFee, LineSpec, Usage, priced_line
from .models import Customer, CustomerSnapshot, Invoice, Plan, Supplier, Workflow
from .numbering import DRAFT
from .schedule import schedule
from .status import Status


def plan_lines(plan: Plan, quantity: Decimal) -> list[LineSpec]:
    """The plan's lines for one period: its flat fee, and its usage at ``quantity``."""
    return [FlatFee(plan.flat_fee_name, plan.flat_fee), Usage(plan.usage_name, quantity, plan.unit_price)]


def draft(
    *,
    customer: Customer,
    plan: Plan,
    specs: list[LineSpec],
    start: datetime,
    end: datetime,
    subscription_id: str | None,
    supplier: Supplier,
    workflow: Workflow,
    app_id: str,
    billing_profile_id: str,
    now: datetime,
    new_id: Callable[[], str],
    allocate_number: Callable[[str, Invoice], str],
) -> Invoice:
    """The new invoice in ``draft.created`` for ``start``–``end``, its lines priced
    (``new_id`` gives each its id) and its dates scheduled; ``allocate_number`` gives its
    draft number."""
    invoice = Invoice(
        id=new_id(),
        number="",
        status=Status.DRAFT_CREATED,
        currency=customer.currency,
        customer=CustomerSnapshot(
            id=customer.id,
            key=customer.key,
            name=customer.name,
            address=customer.address,
            subject_keys=[customer.key],
        ),
        supplier=supplier,
        subscription_id=subscription_id,
        plan_id=plan.id,
        description=f"{plan.name} — {start.date().isoformat()} to {end.date().isoformat()}",
        tax_rate=customer.tax_rate,
        period_from=start,
        period_to=end,
        workflow=workflow.model_copy(),
        app_id=app_id,
        billing_profile_id=billing_profile_id,
        created_at=now,
        updated_at=now,
    )
    invoice.number = allocate_number(DRAFT, invoice)
    # A copy with its lines rather than an assignment, which would count as an edit of a
    # rendered model and make every invoice's next rendering prove itself the slow way.
    lines = [priced_line(spec, invoice, new_id(), now) for spec in specs]
    invoice = invoice.model_copy(update={"lines": lines})
    schedule(invoice)
    return invoice
