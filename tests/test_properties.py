"""Random command sequences never break an invariant (a Hypothesis state machine over the service).

After every step: totals are the line sums, every recorded transition is a row of the
transition table and the history is contiguous, a refused command changed nothing, and
event seqs strictly increase.
"""

import json
import tempfile
from collections.abc import Callable
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from conftest import FIXED_CLOCK, SEED
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from tui_billing.domain import lifecycle
from tui_billing.domain.errors import BillingError
from tui_billing.domain.linespec import FlatFee, LineSpec, Usage
from tui_billing.domain.shapes import invoice_v1
from tui_billing.domain.status import RESTING, PaymentTrigger, Status
from tui_billing.service import Service
from tui_billing.service.commands import (
    COMMANDS,
    AdvanceClock,
    CreateInvoice,
    Delete,
    DraftSynchronized,
    EditInvoice,
    IssuingSynchronized,
    PaymentStatus,
    ReportFailure,
    SetHooks,
    SetWorkflow,
)

ALLOWED = {(t.source, t.trigger.value, t.target) for t in lifecycle.TRANSITIONS}
TABLES = ("meta", "app", "customers", "plans", "subscriptions", "invoices", "events")

amounts = st.decimals(min_value=Decimal("-5"), max_value=Decimal("500"), places=2)
line_specs = st.lists(
    st.one_of(
        st.builds(FlatFee, st.sampled_from(["Fee", "Support"]), amounts.filter(lambda a: a >= 0)),
        st.builds(
            Usage,
            st.just("API calls"),
            st.integers(-3, 5000).map(Decimal),
            st.sampled_from([Decimal("0.002"), Decimal("1.5"), Decimal("7")]),
        ),
    ),
    max_size=3,
)
maybe = st.one_of(st.none(), st.booleans())


class BillingMachine(RuleBasedStateMachine):
    """Drives one fresh workspace per example with any command, allowed or not."""

    invoices = Bundle("invoices")

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.service = Service.create(Path(self.directory.name) / "workspace.db", seed=SEED, now=FIXED_CLOCK)
        self.customers = [customer.key for customer in self.service.customers()]

    def teardown(self) -> None:
        self.service.close()
        self.directory.cleanup()

    # --- running a command --------------------------------------------------------------
    def state(self) -> str:
        path = self.service.repository.path
        payloads = path.with_name(path.name + ".payloads")
        rows = {name: self.service.repository.rows(name) for name in TABLES}
        return (
            json.dumps(rows, sort_keys=True, default=str)
            + path.read_bytes().hex()
            + payloads.read_bytes().hex()
        )

    def attempt(self, command: Callable[[], object]) -> None:
        """Run ``command``; if it is refused, nothing may have changed."""
        before = self.state()
        try:
            command()
        except BillingError:
            assert self.state() == before

    # --- rules ------------------------------------------------------------------------------
    @rule(target=invoices, customer=st.integers(0, 5), lines=line_specs)
    def create(self, customer: int, lines: list[LineSpec]) -> str:
        return self.service.execute(CreateInvoice(self.customers[customer], lines)).id

    @rule(draft=maybe, issuing=maybe)
    def set_hooks(self, draft: bool | None, issuing: bool | None) -> None:
        self.service.execute(SetHooks(draft=draft, issuing=issuing))

    @rule(auto_advance=maybe, draft_period=st.sampled_from([None, "P0D", "P1D", "nonsense"]))
    def set_workflow(self, auto_advance: bool | None, draft_period: str | None) -> None:
        self.attempt(
            lambda: self.service.execute(SetWorkflow(auto_advance=auto_advance, draft_period=draft_period))
        )

    @rule(invoice=invoices, number=st.sampled_from([None, "ERP-1", ""]), bad_line=st.booleans())
    def draft_synchronized(self, invoice: str, number: str | None, bad_line: bool) -> None:
        lines = (
            {"unknown-line": "x"}
            if bad_line
            else {line.id: f"ext-{line.id}" for line in self.service.invoice(invoice).lines}
        )
        self.attempt(
            lambda: self.service.execute(
                DraftSynchronized(invoice, invoice_number=number, external_id="ext", line_external_ids=lines)
            )
        )

    @rule(
        invoice=invoices,
        number=st.sampled_from([None, "ERP-2"]),
        sent=st.sampled_from([None, "2026-01-01T10:00:00Z", "yesterday"]),
    )
    def issuing_synchronized(self, invoice: str, number: str | None, sent: str | None) -> None:
        self.attempt(
            lambda: self.service.execute(
                IssuingSynchronized(
                    invoice, invoice_number=number, sent_to_customer_at=sent, payment_external_id="pay"
                )
            )
        )

    @rule(invoice=invoices, trigger=st.sampled_from([*PaymentTrigger, "refund"]))
    def payment_status(self, invoice: str, trigger: str) -> None:
        self.attempt(lambda: self.service.execute(PaymentStatus(invoice, trigger)))

    @rule(
        invoice=invoices,
        action=st.sampled_from(["approve", "retry", "advance", "collect", "authorize_payment"]),
    )
    def action(self, invoice: str, action: str) -> None:
        self.attempt(lambda: self.service.execute(COMMANDS[action](invoice)))

    @rule(invoice=invoices, simulate_failure=st.booleans())
    def delete(self, invoice: str, simulate_failure: bool) -> None:
        self.attempt(lambda: self.service.execute(Delete(invoice, simulate_failure=simulate_failure)))

    @rule(invoice=invoices)
    def report_failure(self, invoice: str) -> None:
        self.attempt(lambda: self.service.execute(ReportFailure(invoice, "ERP said no")))

    @rule(invoice=invoices, lines=line_specs)
    def edit(self, invoice: str, lines: list[LineSpec]) -> None:
        self.attempt(lambda: self.service.execute(EditInvoice(invoice, lines)))

    @rule(duration=st.sampled_from(["30m", "1h", "P1D", "P3D", "P1M", "P0D"]))
    def advance_clock(self, duration: str) -> None:
        self.attempt(lambda: self.service.execute(AdvanceClock(duration)))

    # --- invariants ---------------------------------------------------------------------
    @invariant()
    def totals_are_line_sums(self) -> None:
        ctx = self.service.context()
        for invoice, row in zip(self.service.invoices(), self.service.invoice_rows(), strict=True):
            totals = invoice.totals
            details = [child.totals for line in invoice.lines for child in line.children]
            assert totals.amount == sum((d.amount for d in details), Decimal(0))
            assert totals.taxes_total == sum((d.taxes_total for d in details), Decimal(0))
            assert totals.total == totals.amount + totals.taxes_total
            for line in invoice.lines:  # a line's totals are its detailed lines' sums
                assert line.totals(invoice.currency).total == sum(
                    (child.totals.total for child in line.children), Decimal(0)
                )
            assert row["total"] == str(totals.total)
            shown = invoice_v1(invoice, ctx)["totals"]
            assert Decimal(shown["total"]) == (
                Decimal(shown["amount"])
                + Decimal(shown["chargesTotal"])
                + Decimal(shown["taxesExclusiveTotal"])
                - Decimal(shown["discountsTotal"])
                - Decimal(shown["creditsTotal"])
            )

    @invariant()
    def history_is_made_of_allowed_transitions(self) -> None:
        for invoice in self.service.invoices():
            previous = Status.DRAFT_CREATED
            for entry in invoice.history:
                assert entry.source is previous
                assert (entry.source, entry.trigger, entry.target) in ALLOWED, entry
                previous = entry.target
            assert previous is invoice.status
            assert invoice.status in RESTING

    @invariant()
    def events_are_ordered(self) -> None:
        rows = self.service.event_rows()
        seqs = [row["seq"] for row in rows]
        assert all(a < b for a, b in pairwise(seqs))
        created = [row["invoice_id"] for row in rows if row["type"] == "invoice.created"]
        assert sorted(created) == sorted(row["id"] for row in self.service.invoice_rows())


BillingMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None, derandomize=True, database=None
)
TestBillingMachine = BillingMachine.TestCase
