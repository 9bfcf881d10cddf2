"""Every (extended status, trigger) pair against docs/lifecycle.md, and the payment matrix end to end.

The expectations are transcribed by hand from docs/lifecycle.md and OpenMeter's
stdinvoicestate.go, never read from ``lifecycle.TRANSITIONS``: a wrong row in the table
must make these tests fail.
"""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import FIXED_CLOCK
from workspace_support import workspace_state

from tui_billing.domain import lifecycle
from tui_billing.domain.errors import BillingError, InvalidValue, NotAllowed, NotFound
from tui_billing.domain.lifecycle import Context
from tui_billing.domain.linespec import FlatFee, Usage
from tui_billing.domain.models import (
    DRAFT_SYNCED_MARKER,
    FINALIZED_MARKER,
    INVOICE_COMPONENT,
    SYNC_COMPONENT,
    Address,
    CustomerSnapshot,
    Invoice,
    Line,
    Supplier,
    UnitPrice,
    ValidationIssue,
    Workflow,
)
from tui_billing.domain.status import PASS_THROUGH, RESTING, PaymentTrigger, Status, Trigger
from tui_billing.service import Service
from tui_billing.service.commands import (
    Advance,
    Approve,
    AuthorizePayment,
    Collect,
    CreateInvoice,
    Delete,
    EditInvoice,
    PaymentStatus,
    ReportFailure,
    Retry,
    SetHooks,
    SetWorkflow,
)

S = Status
T = Trigger
P = PaymentTrigger
NOW = FIXED_CLOCK

DRAFT = tuple(s for s in Status if s.value.startswith("draft."))
ISSUING = tuple(s for s in Status if s.value.startswith("issuing."))
# (booking state, where it settles, its failure state): OpenMeter's stdinvoicestate.go
BOOKINGS = (
    (S.PP_BOOKING_AUTHORIZED, S.PP_AUTHORIZED, S.PP_BOOKING_AUTHORIZED_FAILED),
    (S.PP_BOOKING_AUTHORIZED_AND_SETTLED, S.PAID, S.PP_BOOKING_AUTHORIZED_AND_SETTLED_FAILED),
    (S.PP_BOOKING_SETTLED, S.PAID, S.PP_BOOKING_SETTLED_FAILED),
)

# --- docs/lifecycle.md, the transition table (every guard satisfied) ---------------------------
STEPS: dict[tuple[Status, Trigger], Status] = {
    (S.DRAFT_CREATED, T.NEXT): S.DRAFT_WAITING_FOR_COLLECTION,
    (S.DRAFT_WAITING_FOR_COLLECTION, T.NEXT): S.DRAFT_COLLECTING,
    (S.DRAFT_WAITING_FOR_COLLECTION, T.FORCE_COLLECT): S.DRAFT_COLLECTING,
    (S.DRAFT_COLLECTING, T.NEXT): S.DRAFT_VALIDATING,
    (S.DRAFT_UPDATING, T.NEXT): S.DRAFT_WAITING_FOR_COLLECTION,
    (S.DRAFT_VALIDATING, T.NEXT): S.DRAFT_SYNCING,
    (S.DRAFT_INVALID, T.RETRY): S.DRAFT_VALIDATING,
    (S.DRAFT_SYNC_FAILED, T.RETRY): S.DRAFT_VALIDATING,
    (S.DRAFT_SYNCING, T.NEXT): S.DRAFT_WAITING_AUTO_APPROVAL,
    (S.DRAFT_WAITING_AUTO_APPROVAL, T.NEXT): S.DRAFT_READY_TO_ISSUE,
    (S.DRAFT_WAITING_AUTO_APPROVAL, T.APPROVE): S.DRAFT_READY_TO_ISSUE,
    (S.DRAFT_MANUAL_APPROVAL_NEEDED, T.APPROVE): S.DRAFT_READY_TO_ISSUE,
    (S.DRAFT_READY_TO_ISSUE, T.NEXT): S.ISSUING_LINE_FINALIZATION,
    (S.ISSUING_LINE_FINALIZATION, T.NEXT): S.ISSUING_SYNCING,
    (S.ISSUING_SYNCING, T.NEXT): S.ISSUING_CHARGE_BOOKING,
    (S.ISSUING_FAILED, T.RETRY): S.ISSUING_SYNCING,
    (S.ISSUING_LINE_FINALIZATION_FAILED, T.RETRY): S.ISSUING_LINE_FINALIZATION,
    (S.ISSUING_CHARGE_BOOKING, T.NEXT): S.ISSUED,
    (S.ISSUING_CHARGE_BOOKING_FAILED, T.RETRY): S.ISSUING_CHARGE_BOOKING,
    (S.ISSUED, T.NEXT): S.PP_PENDING,
    (S.ISSUED, T.VOID): S.VOIDED,
    (S.DELETE_IN_PROGRESS, T.NEXT): S.DELETE_SYNCING,
    (S.DELETE_SYNCING, T.NEXT): S.DELETED,
    (S.DELETE_FAILED, T.DELETE): S.DELETE_IN_PROGRESS,
    # `paid` and `authorized` pass through a booking state; each settles on its own, can fail
    # to its own failure state, is retried from there, and can be voided from both.
    **{(booking, T.NEXT): booked for booking, booked, _ in BOOKINGS},
    **{(booking, T.FAILED): failure for booking, _, failure in BOOKINGS},
    **{(failure, T.RETRY): booking for booking, _, failure in BOOKINGS},
    **{(state, T.VOID): S.VOIDED for booking, _, failure in BOOKINGS for state in (booking, failure)},
    # `paid` from an authorized payment only settles; from anything else it authorizes and
    # settles in one booking. `authorized` is allowed wherever the payment is not authorized.
    (S.PP_AUTHORIZED, T.PAID): S.PP_BOOKING_SETTLED,
    **{
        (s, T.AUTHORIZED): S.PP_BOOKING_AUTHORIZED
        for s in (S.PP_PENDING, S.PP_FAILED, S.PP_ACTION_REQUIRED, S.OVERDUE, S.UNCOLLECTIBLE)
    },
    # `failed` moves any state that has a failure state to it.
    **{
        (s, T.FAILED): S.DRAFT_INVALID
        for s in (S.DRAFT_CREATED, S.DRAFT_COLLECTING, S.DRAFT_UPDATING, S.DRAFT_VALIDATING)
    },
    (S.DRAFT_SYNCING, T.FAILED): S.DRAFT_SYNC_FAILED,
    (S.ISSUING_LINE_FINALIZATION, T.FAILED): S.ISSUING_LINE_FINALIZATION_FAILED,
    (S.ISSUING_SYNCING, T.FAILED): S.ISSUING_FAILED,
    (S.ISSUING_CHARGE_BOOKING, T.FAILED): S.ISSUING_CHARGE_BOOKING_FAILED,
    (S.DELETE_IN_PROGRESS, T.FAILED): S.DELETE_FAILED,
    (S.DELETE_SYNCING, T.FAILED): S.DELETE_FAILED,
    # The integration's callbacks: each in its one state, which it does not leave by itself
    # (it leaves a marker; the loop moves on). A sync failure only while a sync is awaited.
    (S.DRAFT_SYNCING, T.DRAFT_SYNCHRONIZED): S.DRAFT_SYNCING,
    (S.ISSUING_SYNCING, T.ISSUING_SYNCHRONIZED): S.ISSUING_SYNCING,
    (S.DRAFT_SYNCING, T.SYNC_FAILED): S.DRAFT_SYNC_FAILED,
    (S.ISSUING_SYNCING, T.SYNC_FAILED): S.ISSUING_FAILED,
    # `updated` (an edit) is allowed in these drafts only: not in draft.syncing.
    **{
        (s, T.UPDATED): S.DRAFT_UPDATING
        for s in (
            S.DRAFT_CREATED,
            S.DRAFT_WAITING_FOR_COLLECTION,
            S.DRAFT_COLLECTING,
            S.DRAFT_VALIDATING,
            S.DRAFT_INVALID,
            S.DRAFT_SYNC_FAILED,
            S.DRAFT_WAITING_AUTO_APPROVAL,
            S.DRAFT_MANUAL_APPROVAL_NEEDED,
            S.DRAFT_READY_TO_ISSUE,
        )
    },
    # `delete` from every draft and issuing state.
    **{(s, T.DELETE): S.DELETE_IN_PROGRESS for s in DRAFT + ISSUING},
    # A retry after a payment problem returns to pending.
    **{(s, T.RETRY): S.PP_PENDING for s in (S.PP_FAILED, S.PP_ACTION_REQUIRED, S.OVERDUE)},
}

# --- docs/lifecycle.md, the payment matrix: the final state after the loop; None = 400 -------------
COLUMNS = (P.PAID, P.PAYMENT_FAILED, P.PAYMENT_OVERDUE, P.PAYMENT_UNCOLLECTIBLE, P.ACTION_REQUIRED, P.VOID)
OPEN = (S.PAID, S.PP_FAILED, S.OVERDUE, S.UNCOLLECTIBLE, S.PP_ACTION_REQUIRED, S.VOIDED)
REFUSED = (None,) * 6
MATRIX: dict[Status, tuple[Status | None, ...]] = {
    S.PP_PENDING: OPEN,
    S.PP_AUTHORIZED: OPEN,
    S.PP_FAILED: (S.PAID, None, S.OVERDUE, S.UNCOLLECTIBLE, S.PP_ACTION_REQUIRED, S.VOIDED),
    S.PP_ACTION_REQUIRED: (S.PAID, S.PP_FAILED, S.OVERDUE, S.UNCOLLECTIBLE, None, S.VOIDED),
    S.OVERDUE: (S.PAID, S.PP_FAILED, None, S.UNCOLLECTIBLE, S.PP_ACTION_REQUIRED, None),
    S.UNCOLLECTIBLE: (S.PAID, None, None, None, None, S.VOIDED),
    S.PAID: REFUSED,
    S.VOIDED: REFUSED,
    S.DELETED: REFUSED,
}
# Draft and issuing rows: payment_failed leads to the state's failure state where one exists.
FAILURE_STATES = {s: target for (s, trigger), target in STEPS.items() if trigger is T.FAILED}


def payment_result(status: Status, payment: PaymentTrigger) -> Status | None:
    """The matrix cell for ``status`` (any row, draft and issuing ones included)."""
    if status in MATRIX:
        return MATRIX[status][COLUMNS.index(payment)]
    if payment is P.PAYMENT_FAILED:
        return FAILURE_STATES.get(status)
    return None


def expected_first(status: Status, trigger: Trigger) -> Status | None:
    """The first transition ``trigger`` takes from ``status`` (None: refused)."""
    if status in MATRIX and trigger in {p.trigger for p in COLUMNS} and trigger is not T.PAID:
        payment = next(p for p in COLUMNS if p.trigger is trigger)
        return payment_result(status, payment)
    if status in MATRIX and trigger is T.PAID and MATRIX[status][0] is not None:
        return S.PP_BOOKING_SETTLED if status is S.PP_AUTHORIZED else S.PP_BOOKING_AUTHORIZED_AND_SETTLED
    return STEPS.get((status, trigger))


# --- invoices placed in a state directly (the pure lifecycle) -------------------------------
def make_invoice(
    status: Status,
    *,
    lines: bool = True,
    critical: bool = False,
    auto_advance: bool = True,
    workflow: Workflow | None = None,
    **fields: object,
) -> Invoice:
    """An invoice resting in ``status`` whose guards all pass unless told otherwise."""
    invoice = Invoice(
        id="01KDWCJ2M04DC3X4J9R8Y8V62R",
        number="DRAFT-TEST-1",
        status=status,
        currency="USD",
        customer=CustomerSnapshot(
            id="c1", key="acme", name="Acme Inc", address=Address(country="US", city="Austin")
        ),
        supplier=Supplier(name="Supplier", address=Address(country="US")),
        period_from=NOW - timedelta(days=31),
        period_to=NOW,
        workflow=workflow or Workflow(auto_advance=auto_advance),
        created_at=NOW,
        updated_at=NOW,
        app_id="01KDWCJ2M0Z6RHZX04NPVN5HX7",
        billing_profile_id="01KDWCJ2M01BDJC9KH14GER8VY",
        **fields,
    )
    if lines:
        invoice.lines = [
            Line.priced(
                currency="USD",
                tax_rate=Decimal("0.1"),
                quantity=Decimal(2),
                price=UnitPrice(amount=Decimal("5")),
                at=NOW,
                id="01KDWCJ2M03XSNQJ9B56R4K1EY",
                name="Fee",
                period_from=invoice.period_from,
                period_to=NOW,
                invoice_at=NOW,
            )
        ]
    if critical:
        invoice.validation_issues = [
            ValidationIssue(
                id="issue-1",
                severity="critical",
                message="broken",
                component=INVOICE_COMPONENT,
                created_at=NOW,
                updated_at=NOW,
            )
        ]
    return invoice


def context(*, draft_hook: bool = False, issuing_hook: bool = False) -> Context:
    return Context(now=NOW, draft_hook=draft_hook, issuing_hook=issuing_hook)


PAIRS = [(s, t) for s in Status for t in Trigger]


@pytest.mark.parametrize(("status", "trigger"), PAIRS, ids=[f"{s.value}-{t.value}" for s, t in PAIRS])
def test_every_status_trigger_pair(status: Status, trigger: Trigger) -> None:
    """find_transition and fire agree with docs/lifecycle.md for the pair."""
    invoice = make_invoice(status)
    expected = expected_first(status, trigger)
    found = lifecycle.find_transition(invoice, trigger, context())
    if expected is None:
        assert found is None
        before = invoice.model_dump()
        with pytest.raises(NotAllowed):
            lifecycle.fire(invoice, trigger, context())
        assert invoice.model_dump() == before
        return
    assert found is not None
    assert found.target is expected
    lifecycle.fire(invoice, trigger, context())
    if found.internal:  # a callback: no step of its own, only the loop's
        assert invoice.metadata and all(entry.trigger == T.NEXT.value for entry in invoice.history)
        assert_contiguous(invoice, status)
        return
    first = invoice.history[0]
    assert (first.source, first.target, first.trigger) == (status, found.target, trigger.value)
    assert_contiguous(invoice, status)
    assert invoice.status not in PASS_THROUGH
    if status in MATRIX and trigger is T.PAID:
        assert invoice.status is S.PAID
    elif status in MATRIX and trigger is T.AUTHORIZED:
        assert invoice.status is S.PP_AUTHORIZED
    elif status in MATRIX:
        assert invoice.status is expected


def assert_contiguous(invoice: Invoice, start: Status) -> None:
    """Each recorded transition starts where the previous one ended; the rest are automatic."""
    previous = start
    for index, entry in enumerate(invoice.history):
        assert entry.source is previous
        if index:
            assert entry.trigger in {T.NEXT.value, T.FAILED.value}
        previous = entry.target
    assert previous is invoice.status


LATER = NOW + timedelta(seconds=1)
EARLIER = NOW - timedelta(hours=1)
GUARDS: list[tuple[str, Status, dict, dict, Trigger, Status | None]] = [
    # (case, status, invoice fields, context flags, trigger, expected target)
    ("collection-not-due", S.DRAFT_WAITING_FOR_COLLECTION, {"collection_at": LATER}, {}, T.NEXT, None),
    (
        "collection-due-exactly",
        S.DRAFT_WAITING_FOR_COLLECTION,
        {"collection_at": NOW},
        {},
        T.NEXT,
        S.DRAFT_COLLECTING,
    ),
    (
        "collection-past",
        S.DRAFT_WAITING_FOR_COLLECTION,
        {"collection_at": EARLIER},
        {},
        T.NEXT,
        S.DRAFT_COLLECTING,
    ),
    ("collection-none-set", S.DRAFT_WAITING_FOR_COLLECTION, {}, {}, T.NEXT, S.DRAFT_COLLECTING),
    (
        "force-collect-before-due",
        S.DRAFT_WAITING_FOR_COLLECTION,
        {"collection_at": LATER},
        {},
        T.FORCE_COLLECT,
        S.DRAFT_COLLECTING,
    ),
    ("validating-critical", S.DRAFT_VALIDATING, {"critical": True}, {}, T.NEXT, None),
    ("validating-critical-fails", S.DRAFT_VALIDATING, {"critical": True}, {}, T.FAILED, S.DRAFT_INVALID),
    ("draft-hook-waits", S.DRAFT_SYNCING, {}, {"draft_hook": True}, T.NEXT, None),
    (
        "draft-hook-marker",
        S.DRAFT_SYNCING,
        {"metadata": {DRAFT_SYNCED_MARKER: "x"}},
        {"draft_hook": True},
        T.NEXT,
        S.DRAFT_WAITING_AUTO_APPROVAL,
    ),
    (
        "draft-hook-marker-manual",
        S.DRAFT_SYNCING,
        {"metadata": {DRAFT_SYNCED_MARKER: "x"}, "auto_advance": False},
        {"draft_hook": True},
        T.NEXT,
        S.DRAFT_MANUAL_APPROVAL_NEEDED,
    ),
    (
        "draft-hook-off-manual",
        S.DRAFT_SYNCING,
        {"auto_advance": False},
        {},
        T.NEXT,
        S.DRAFT_MANUAL_APPROVAL_NEEDED,
    ),
    (
        "issuing-hook-does-not-hold-draft",
        S.DRAFT_SYNCING,
        {},
        {"issuing_hook": True},
        T.NEXT,
        S.DRAFT_WAITING_AUTO_APPROVAL,
    ),
    ("draft-period-running", S.DRAFT_WAITING_AUTO_APPROVAL, {"draft_until": LATER}, {}, T.NEXT, None),
    (
        "draft-period-ends-exactly",
        S.DRAFT_WAITING_AUTO_APPROVAL,
        {"draft_until": NOW},
        {},
        T.NEXT,
        S.DRAFT_READY_TO_ISSUE,
    ),
    (
        "draft-period-needs-auto-advance",
        S.DRAFT_WAITING_AUTO_APPROVAL,
        {"draft_until": EARLIER, "auto_advance": False},
        {},
        T.NEXT,
        None,
    ),
    (
        "approve-skips-draft-period",
        S.DRAFT_WAITING_AUTO_APPROVAL,
        {"draft_until": LATER},
        {},
        T.APPROVE,
        S.DRAFT_READY_TO_ISSUE,
    ),
    ("manual-approve-critical", S.DRAFT_MANUAL_APPROVAL_NEEDED, {"critical": True}, {}, T.APPROVE, None),
    ("manual-approve", S.DRAFT_MANUAL_APPROVAL_NEEDED, {}, {}, T.APPROVE, S.DRAFT_READY_TO_ISSUE),
    ("manual-never-advances", S.DRAFT_MANUAL_APPROVAL_NEEDED, {}, {}, T.NEXT, None),
    ("ready-no-lines", S.DRAFT_READY_TO_ISSUE, {"lines": False}, {}, T.NEXT, S.DELETE_SYNCING),
    ("ready-with-lines", S.DRAFT_READY_TO_ISSUE, {}, {}, T.NEXT, S.ISSUING_LINE_FINALIZATION),
    ("issuing-hook-waits", S.ISSUING_SYNCING, {}, {"issuing_hook": True}, T.NEXT, None),
    (
        "issuing-hook-marker",
        S.ISSUING_SYNCING,
        {"metadata": {FINALIZED_MARKER: "x"}},
        {"issuing_hook": True},
        T.NEXT,
        S.ISSUING_CHARGE_BOOKING,
    ),
    (
        "draft-hook-does-not-hold-issuing",
        S.ISSUING_SYNCING,
        {},
        {"draft_hook": True},
        T.NEXT,
        S.ISSUING_CHARGE_BOOKING,
    ),
]


@pytest.mark.parametrize(
    ("status", "fields", "flags", "trigger", "expected"),
    [case[1:] for case in GUARDS],
    ids=[case[0] for case in GUARDS],
)
def test_guards(status: Status, fields: dict, flags: dict, trigger: Trigger, expected: Status | None) -> None:
    """Named guards: collection time, hooks and markers, auto_advance, draft_until, lines, issues."""
    invoice = make_invoice(status, **fields)
    found = lifecycle.find_transition(invoice, trigger, context(**flags))
    assert (found.target if found else None) is expected


def test_a_critical_issue_found_while_validating_fails_the_invoice() -> None:
    """Entering draft.validating validates; a critical issue fires `failed` → draft.invalid."""
    invoice = make_invoice(S.DRAFT_INVALID)
    invoice.lines[0].quantity = Decimal(-1)
    lifecycle.fire(invoice, T.RETRY, context())
    assert [(h.target, h.trigger) for h in invoice.history] == [
        (S.DRAFT_VALIDATING, "retry"),
        (S.DRAFT_INVALID, "failed"),
    ]
    assert invoice.has_critical_issues


def test_waiting_states_rest_until_their_guard_lets_go() -> None:
    """The loop stops in a resting state and records each pass-through state on the way."""
    invoice = make_invoice(S.DRAFT_CREATED, collection_at=LATER)
    lifecycle.advance(invoice, context())
    assert invoice.status is S.DRAFT_WAITING_FOR_COLLECTION
    lifecycle.advance(invoice, Context(now=LATER, draft_hook=True, issuing_hook=False))
    assert invoice.status is S.DRAFT_SYNCING
    assert [h.target for h in invoice.history] == [
        S.DRAFT_WAITING_FOR_COLLECTION,
        S.DRAFT_COLLECTING,
        S.DRAFT_VALIDATING,
        S.DRAFT_SYNCING,
    ]


def test_available_actions_simulate_the_loop() -> None:
    """availableActions map to the resting state the trigger and the loop would reach."""
    invoice = make_invoice(S.DRAFT_MANUAL_APPROVAL_NEEDED, auto_advance=False)
    assert lifecycle.available_actions(invoice, context()) == {"approve": S.PP_PENDING, "delete": S.DELETED}
    assert invoice.history == []
    assert lifecycle.is_immutable(make_invoice(S.DRAFT_SYNCING), context())
    assert not lifecycle.is_immutable(invoice, context())


# --- the payment matrix end to end, through the service ---------------------------------------
def _flat(service: Service) -> str:
    return service.execute(CreateInvoice(service.customers()[0].key, [FlatFee("Fee", Decimal("10"))])).id


def _then(payment: PaymentTrigger) -> Callable[[Service], str]:
    def build(service: Service) -> str:
        invoice_id = _flat(service)
        service.execute(PaymentStatus(invoice_id, payment))
        return invoice_id

    return build


def _manual(service: Service) -> str:
    service.execute(SetWorkflow(auto_advance=False))
    return _flat(service)


def _reported(hook: str) -> Callable[[Service], str]:
    def build(service: Service) -> str:
        service.execute(SetHooks(**{hook: True}))
        invoice_id = _flat(service)
        service.execute(ReportFailure(invoice_id))
        return invoice_id

    return build


def _hooked(hook: str) -> Callable[[Service], str]:
    def build(service: Service) -> str:
        service.execute(SetHooks(**{hook: True}))
        return _flat(service)

    return build


def _invalid(service: Service) -> str:
    invoice = service.execute(
        CreateInvoice(service.customers()[0].key, [Usage("Adjustment", Decimal(-1), Decimal("5"))])
    )
    service.execute(Collect(invoice.id))
    return invoice.id


def _waiting_auto(service: Service) -> str:
    service.execute(SetWorkflow(draft_period="P3D"))
    return _flat(service)


def _authorized(service: Service) -> str:
    invoice_id = _flat(service)
    service.execute(AuthorizePayment(invoice_id))
    return invoice_id


def _deleted(fail: bool) -> Callable[[Service], str]:
    def build(service: Service) -> str:
        invoice_id = _manual(service)
        service.execute(Delete(invoice_id, simulate_failure=fail))
        return invoice_id

    return build


# How to get an invoice resting in each resting state (docs/lifecycle.md).
RECIPES: dict[Status, Callable[[Service], str]] = {
    S.DRAFT_WAITING_FOR_COLLECTION: lambda s: (
        s.execute(CreateInvoice(s.customers()[0].key, [Usage("API calls", Decimal(100), Decimal("0.5"))])).id
    ),
    S.DRAFT_INVALID: _invalid,
    S.DRAFT_SYNCING: _hooked("draft"),
    S.DRAFT_SYNC_FAILED: _reported("draft"),
    S.DRAFT_MANUAL_APPROVAL_NEEDED: _manual,
    S.DRAFT_WAITING_AUTO_APPROVAL: _waiting_auto,
    S.ISSUING_SYNCING: _hooked("issuing"),
    S.ISSUING_FAILED: _reported("issuing"),
    S.PP_PENDING: _flat,
    S.PP_FAILED: _then(P.PAYMENT_FAILED),
    S.PP_ACTION_REQUIRED: _then(P.ACTION_REQUIRED),
    S.PP_AUTHORIZED: _authorized,
    S.OVERDUE: _then(P.PAYMENT_OVERDUE),
    S.PAID: _then(P.PAID),
    S.UNCOLLECTIBLE: _then(P.PAYMENT_UNCOLLECTIBLE),
    S.VOIDED: _then(P.VOID),
    S.DELETED: _deleted(False),
    S.DELETE_FAILED: _deleted(True),
}


def test_recipes_cover_every_resting_state() -> None:
    assert set(RECIPES) == set(RESTING)


MATRIX_CASES = [(s, p) for s in RESTING for p in PaymentTrigger]


@pytest.mark.parametrize(
    ("status", "payment"), MATRIX_CASES, ids=[f"{s.value}-{p.value}" for s, p in MATRIX_CASES]
)
def test_payment_matrix(service: Service, status: Status, payment: PaymentTrigger) -> None:
    """payment_status from each resting state ends where the matrix says, or changes nothing."""
    invoice_id = RECIPES[status](service)
    before = service.invoice(invoice_id)
    assert before.status is status
    expected = payment_result(status, payment)
    if expected is None:
        state = workspace_state(service)
        with pytest.raises(NotAllowed):
            service.execute(PaymentStatus(invoice_id, payment))
        assert workspace_state(service) == state
        return
    after = service.execute(PaymentStatus(invoice_id, payment.value))
    assert after.status is expected
    assert service.invoice(invoice_id).status is expected
    first = after.history[len(before.history)]
    assert (first.source, first.trigger) == (status, payment.trigger.value)


@pytest.mark.parametrize("status", [S.PP_FAILED, S.PP_ACTION_REQUIRED, S.OVERDUE], ids=lambda s: s.value)
def test_retry_after_a_payment_problem_returns_to_pending(service: Service, status: Status) -> None:
    invoice_id = RECIPES[status](service)
    assert service.execute(Retry(invoice_id)).status is S.PP_PENDING


@pytest.mark.parametrize(
    "status",
    [
        S.PP_PENDING,
        S.PP_AUTHORIZED,
        S.PAID,
        S.UNCOLLECTIBLE,
        S.VOIDED,
        S.DRAFT_MANUAL_APPROVAL_NEEDED,
        S.DELETED,
    ],
    ids=lambda s: s.value,
)
def test_retry_is_refused_where_nothing_failed(service: Service, status: Status) -> None:
    invoice_id = RECIPES[status](service)
    state = workspace_state(service)
    with pytest.raises(NotAllowed):
        service.execute(Retry(invoice_id))
    assert workspace_state(service) == state


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s, i: s.execute(PaymentStatus(i, "refunded")), InvalidValue),
        (lambda s, i: s.execute(PaymentStatus("01ARZ3NDEKTSV4RRFFQ69G5FAV", "paid")), NotFound),
        (lambda s, i: s.execute(Approve(i)), NotAllowed),
        (lambda s, i: s.execute(Collect(i)), NotAllowed),
        (lambda s, i: s.execute(Advance(i)), NotAllowed),
        (lambda s, i: s.execute(Delete(i)), NotAllowed),
        (lambda s, i: s.execute(ReportFailure(i)), NotAllowed),
        (lambda s, i: s.execute(EditInvoice(i, [FlatFee("Fee", Decimal("1"))])), NotAllowed),
    ],
    ids=[
        "unknown-trigger",
        "unknown-invoice",
        "approve",
        "collect",
        "advance",
        "delete",
        "report-failure",
        "edit",
    ],
)
def test_refused_commands_on_an_issued_invoice_change_nothing(
    service: Service, call: Callable[[Service, str], object], error: type[BillingError]
) -> None:
    invoice_id = _flat(service)
    state = workspace_state(service)
    with pytest.raises(error):
        call(service, invoice_id)
    assert workspace_state(service) == state


# --- facts of OpenMeter's code beyond the table (issue 7) -------------------------------------
# ``statusDetails.failed``, transcribed from OpenMeter's billing/stdinvoice.go failedStatuses.
FAILED = {
    S.DRAFT_SYNC_FAILED,
    S.ISSUING_LINE_FINALIZATION_FAILED,
    S.ISSUING_FAILED,
    S.ISSUING_CHARGE_BOOKING_FAILED,
    S.DELETE_FAILED,
    S.PP_BOOKING_AUTHORIZED_FAILED,
    S.PP_BOOKING_AUTHORIZED_AND_SETTLED_FAILED,
    S.PP_FAILED,
    S.PP_BOOKING_SETTLED_FAILED,
}


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.value)
def test_failed_flag(status: Status) -> None:
    """draft.invalid is not failed; the nine failure states are."""
    assert status.is_failed is (status in FAILED)


def test_a_retry_keeps_critical_issues_as_warnings() -> None:
    """RetryInvoice downgrades critical issues instead of dropping them."""
    invoice = make_invoice(S.DRAFT_SYNC_FAILED)
    invoice.validation_issues = [
        ValidationIssue(
            id="issue-1",
            severity="critical",
            message="ERP rejected it",
            component=SYNC_COMPONENT,
            created_at=NOW,
            updated_at=NOW,
        )
    ]
    lifecycle.fire(invoice, T.RETRY, context(draft_hook=True))
    assert invoice.status is S.DRAFT_SYNCING
    assert [(i.id, i.severity, i.message) for i in invoice.validation_issues] == [
        ("issue-1", "warning", "ERP rejected it")
    ]


def test_available_actions_run_no_on_enter_action_and_ignore_issues() -> None:
    """availableActions simulate the trigger with issues cleared and no state callbacks: a
    retry of an invoice that validation will send back to draft.invalid still shows where the
    loop would go."""
    invoice = make_invoice(S.DRAFT_INVALID, critical=True)
    invoice.lines[0].quantity = Decimal(-1)
    assert lifecycle.available_actions(invoice, context())["retry"] is S.PP_PENDING
    assert invoice.number == "DRAFT-TEST-1" and invoice.history == []
    lifecycle.fire(invoice, T.RETRY, context())
    assert invoice.status is S.DRAFT_INVALID


@pytest.mark.parametrize("fails", [False, True], ids=["deleted", "delete-failed"])
def test_deleted_at_is_stamped_on_entering_delete_in_progress(fails: bool) -> None:
    invoice = make_invoice(S.DRAFT_MANUAL_APPROVAL_NEEDED, critical=True)
    lifecycle.fire(
        invoice, T.DELETE, Context(now=NOW, draft_hook=False, issuing_hook=False, delete_fails=fails)
    )
    assert invoice.status is (S.DELETE_FAILED if fails else S.DELETED)
    assert invoice.deleted_at == NOW
    assert invoice.validation_issues == []  # each delete attempt starts without issues


def _allocating(kind: str, invoice: Invoice) -> str:
    return f"{kind}-ACME-7"


@pytest.mark.parametrize(
    ("issuing_hook", "marker", "number"),
    [
        (False, False, "INV-ACME-7"),
        (True, True, "INV-ACME-7"),  # a retry after the callback: the hook lets it go on
        (True, False, "DRAFT-TEST-1"),  # waits for the callback, which may give a number
    ],
    ids=["hook-off", "hook-on-marker-set", "hook-on-waiting"],
)
def test_the_invoice_number_is_allocated_on_entering_issuing_syncing(
    issuing_hook: bool, marker: bool, number: str
) -> None:
    invoice = make_invoice(S.ISSUING_LINE_FINALIZATION, metadata={FINALIZED_MARKER: "x"} if marker else {})
    seen: list[tuple[Status, str]] = []
    outcome = lifecycle.Outcome(observer=lambda inv, step: seen.append((step.target, inv.number)))
    ctx = Context(now=NOW, draft_hook=False, issuing_hook=issuing_hook, allocate_number=_allocating)
    lifecycle.fire(invoice, T.NEXT, ctx, outcome)
    assert seen[0] == (S.ISSUING_SYNCING, number)
    assert invoice.number == number
