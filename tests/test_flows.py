"""End-to-end flows through the service: hooks and callbacks, numbering, the clock, events and
InvoiceGenerated emission (docs/lifecycle.md, docs/callbacks-and-hooks.md, docs/time.md,
docs/invoice-generated.md)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import FIXED_CLOCK
from workspace_support import workspace_state

from tui_billing.domain.durations import add_months
from tui_billing.domain.errors import InvalidValue, NotAllowed
from tui_billing.domain.ids import is_ulid
from tui_billing.domain.linespec import FlatFee, LineSpec, Usage
from tui_billing.domain.models import DRAFT_SYNCED_MARKER, FINALIZED_MARKER, Event, Invoice
from tui_billing.domain.numbering import customer_prefix
from tui_billing.domain.status import RESTING, PaymentTrigger, Status
from tui_billing.service import Service
from tui_billing.service.commands import (
    COMMANDS,
    Advance,
    AdvanceClock,
    Approve,
    AuthorizePayment,
    Collect,
    CreateInvoice,
    Delete,
    DraftSynchronized,
    EditInvoice,
    IssuingSynchronized,
    PaymentStatus,
    ReportFailure,
    Retry,
    SetHooks,
    SetWorkflow,
)

S = Status
NOW = FIXED_CLOCK
NOW_TEXT = "2026-01-01T09:00:00.000Z"
FEES: list[LineSpec] = [FlatFee("Platform fee", Decimal("100")), FlatFee("Support", Decimal("20"))]
USAGE: list[LineSpec] = [Usage("API calls", Decimal(1000), Decimal("0.002"))]

THROUGH_DRAFT = [S.DRAFT_WAITING_FOR_COLLECTION, S.DRAFT_COLLECTING, S.DRAFT_VALIDATING, S.DRAFT_SYNCING]
AFTER_DRAFT_SYNC = [
    S.DRAFT_WAITING_AUTO_APPROVAL,
    S.DRAFT_READY_TO_ISSUE,
    S.ISSUING_LINE_FINALIZATION,
    S.ISSUING_SYNCING,
]
AFTER_ISSUING_SYNC = [S.ISSUING_CHARGE_BOOKING, S.ISSUED, S.PP_PENDING]


def create(service: Service, lines: list[LineSpec] = FEES, customer: int = 0) -> Invoice:
    return service.execute(CreateInvoice(service.customers()[customer].key, lines))


def targets(invoice: Invoice, since: int = 0) -> list[Status]:
    return [entry.target for entry in invoice.history[since:]]


def webhooks(service: Service, invoice_id: str) -> list[Event]:
    return [e for e in service.events(invoice_id) if e.is_webhook]


def generated(service: Service, invoice_id: str) -> list[str]:
    """The statuses of the InvoiceGenerated payloads emitted for the invoice, in order."""
    return [e.data["status"] for e in service.events(invoice_id) if e.type == "invoice.generated"]


# --- the four hook combinations ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("draft_hook", "issuing_hook"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["no-hooks", "draft-hook", "issuing-hook", "both-hooks"],
)
def test_hook_combinations_end_to_end(service: Service, draft_hook: bool, issuing_hook: bool) -> None:
    """Each hook holds the invoice until its callback; callbacks merge data and set markers."""
    service.execute(SetHooks(draft=draft_hook, issuing=issuing_hook))
    invoice = create(service)
    prefix = customer_prefix(invoice.customer.name)
    line_id = invoice.lines[0].id
    path = list(THROUGH_DRAFT)
    if draft_hook:
        assert invoice.status is S.DRAFT_SYNCING
        assert targets(invoice) == path
        invoice = service.execute(
            DraftSynchronized(invoice.id, external_id="ext-42", line_external_ids={line_id: "ext-line-1"})
        )
        assert invoice.metadata[DRAFT_SYNCED_MARKER] == NOW_TEXT
        assert invoice.external_invoicing_id == "ext-42"
        assert invoice.line(line_id).external_id == "ext-line-1"  # type: ignore[union-attr]
    path += AFTER_DRAFT_SYNC
    if issuing_hook:
        assert invoice.status is S.ISSUING_SYNCING
        assert targets(invoice) == path
        assert invoice.issued_at == NOW
        assert invoice.number == f"DRAFT-{prefix}-1"
        invoice = service.execute(
            IssuingSynchronized(
                invoice.id, sent_to_customer_at="2026-01-01T10:30:00+01:00", payment_external_id="pay-7"
            )
        )
        assert invoice.metadata[FINALIZED_MARKER] == NOW_TEXT
        assert invoice.sent_to_customer_at == NOW + timedelta(minutes=30)
        assert invoice.external_payment_id == "pay-7"
    path += AFTER_ISSUING_SYNC
    assert invoice.status is S.PP_PENDING
    assert targets(invoice) == path
    assert (DRAFT_SYNCED_MARKER in invoice.metadata) is draft_hook
    assert (FINALIZED_MARKER in invoice.metadata) is issuing_hook
    # With the issuing hook and no number in its callback, the DRAFT number stays (§4).
    assert invoice.number == (f"DRAFT-{prefix}-1" if issuing_hook else f"INV-{prefix}-1")
    shown = service.invoice_v1(service.invoice(invoice.id))
    assert shown["statusDetails"]["extendedStatus"] == "payment_processing.pending"
    assert shown["number"] == invoice.number
    assert shown["issuedAt"] == NOW_TEXT
    if draft_hook:
        assert shown["externalIds"]["invoicing"] == "ext-42"
        assert shown["lines"][0]["externalIds"] == {"invoicing": "ext-line-1"}
    if issuing_hook:
        assert shown["externalIds"]["payment"] == "pay-7"
        assert shown["sentToCustomerAt"] == "2026-01-01T09:30:00.000Z"
    if not (draft_hook or issuing_hook):
        assert "externalIds" not in shown


def test_callback_numbers_replace_the_number_as_given(service: Service) -> None:
    service.execute(SetHooks(draft=True, issuing=True))
    invoice = create(service)
    invoice = service.execute(DraftSynchronized(invoice.id, invoice_number="ERP-2026-0001"))
    assert invoice.number == "ERP-2026-0001"
    assert (
        service.execute(IssuingSynchronized(invoice.id, invoice_number="ERP-FINAL-9")).number == "ERP-FINAL-9"
    )


def test_a_draft_callback_number_is_not_turned_into_an_inv_number(service: Service) -> None:
    """Only a DRAFT- number becomes INV- on finalizing without the issuing hook."""
    service.execute(SetHooks(draft=True))
    invoice = service.execute(DraftSynchronized(create(service).id, invoice_number="ERP-7"))
    assert invoice.status is S.PP_PENDING
    assert invoice.number == "ERP-7"


def test_an_unknown_line_id_rejects_the_whole_draft_callback(service: Service) -> None:
    service.execute(SetHooks(draft=True))
    invoice = create(service)
    state = workspace_state(service)
    with pytest.raises(InvalidValue, match="no-such-line"):
        service.execute(
            DraftSynchronized(
                invoice.id,
                invoice_number="ERP-1",
                external_id="ext-1",
                line_external_ids={invoice.lines[0].id: "ok", "no-such-line": "x"},
            )
        )
    assert workspace_state(service) == state
    assert service.invoice(invoice.id).status is S.DRAFT_SYNCING


# --- lines and their detailed lines (docs/wire-contract.md) ----------------------------------------------
def test_a_flat_fee_is_a_flat_price_with_one_detailed_line(service: Service) -> None:
    invoice = create(service, [FlatFee("Setup", Decimal("99.5"))], customer=1)
    line = invoice.lines[0]
    assert (line.price.type, line.price.amount, line.quantity, line.feature_key) == (
        "flat",
        Decimal("99.5"),
        Decimal(1),
        None,
    )
    [child] = line.children
    assert (child.name, child.quantity, child.per_unit_amount, child.payment_term) == (
        "Setup",
        Decimal(1),
        Decimal("99.5"),
        "in_advance",
    )
    assert is_ulid(child.id) and child.id != line.id
    assert line.totals(invoice.currency) == child.totals == invoice.totals


@pytest.mark.parametrize(("quantity", "details"), [(Decimal(1000), 1), (Decimal(0), 0)])
def test_a_usage_line_is_a_unit_price_detailing_positive_usage(
    service: Service, quantity: Decimal, details: int
) -> None:
    """OpenMeter's unit pricer: one "usage in period" detailed line while usage is positive."""
    invoice = create(service, [Usage("API calls", quantity, Decimal("0.002"))])
    line = invoice.lines[0]
    assert (line.price.type, line.quantity, line.feature_key) == ("unit", quantity, "api_calls")
    assert [(c.name, c.quantity, c.payment_term) for c in line.children] == [
        ("API calls: usage in period", quantity, "in_arrears")
    ] * details
    shown = service.invoice_v1(invoice)["lines"][0]
    assert (shown["type"], shown["price"], shown["rateCard"]["featureKey"]) == (
        "usage_based",
        {"type": "unit", "amount": "0.002"},
        "api_calls",
    )
    assert [(c["type"], c["perUnitAmount"]) for c in shown["children"]] == [("flat_fee", "0.002")] * details


def test_draft_callback_maps_line_and_detailed_line_ids(service: Service) -> None:
    """Each external id lands on the line it was given for, parent or detailed line."""
    service.execute(SetHooks(draft=True))
    invoice = service.execute(Collect(create(service, FEES + USAGE).id))
    flat, usage = invoice.lines[0], invoice.lines[2]
    detail = usage.children[0]
    invoice = service.execute(
        DraftSynchronized(invoice.id, line_external_ids={flat.id: "erp-flat", detail.id: "erp-usage-detail"})
    )
    shown = service.invoice_v1(invoice)["lines"]
    assert shown[0]["externalIds"] == {"invoicing": "erp-flat"}
    assert "externalIds" not in shown[0]["children"][0]
    assert "externalIds" not in shown[2]
    assert shown[2]["children"][0]["externalIds"] == {"invoicing": "erp-usage-detail"}
    assert shown[2]["children"][0]["updatedAt"] == NOW_TEXT


def test_an_unknown_id_beside_a_detailed_line_id_rejects_the_whole_call(service: Service) -> None:
    service.execute(SetHooks(draft=True))
    invoice = service.execute(Collect(create(service, USAGE).id))
    state = workspace_state(service)
    with pytest.raises(InvalidValue, match="has no line 01"):
        service.execute(
            DraftSynchronized(
                invoice.id,
                line_external_ids={invoice.lines[0].children[0].id: "ok", "01KDWCJ2M0ZZZZZZZZZZZZZZZZ": "x"},
            )
        )
    assert workspace_state(service) == state


def test_the_v1_invoice_names_its_app_profile_and_subjects(service: Service) -> None:
    """HTTP shows app references; webhooks carry the whole app, as OpenMeter's events do."""
    invoice = create(service)
    shown = service.invoice_v1(invoice)
    app = service.app()
    assert shown["workflow"]["apps"] == {role: {"id": app.id} for role in ("invoicing", "payment", "tax")}
    assert shown["workflow"]["sourceBillingProfileId"] == service.workspace().billing_profile_id
    assert is_ulid(shown["workflow"]["sourceBillingProfileId"])
    assert shown["customer"]["usageAttribution"] == {"subjectKeys": [invoice.customer.key]}
    assert shown["collectionAt"] == shown["createdAt"]  # flat fees only: OpenMeter's default
    assert invoice.collection_at is None
    created = next(e for e in service.events(invoice.id) if e.type == "invoice.created")
    assert created.data["workflow"]["apps"]["invoicing"]["id"] == app.id
    assert created.data["workflow"]["apps"]["invoicing"]["type"] == "custom_invoicing"
    expanded = service.invoice_v1(invoice, expand_apps=True)["workflow"]["apps"]
    assert expanded["tax"] == created.data["workflow"]["apps"]["tax"]


def test_validation_issues_have_ulids_and_keep_them_while_they_persist(service: Service) -> None:
    invoice = service.execute(Collect(create(service, [Usage("Refund", Decimal(-5), Decimal(1))]).id))
    assert invoice.status is S.DRAFT_INVALID
    [issue] = [i for i in invoice.validation_issues if i.code == "line_amount_negative"]
    assert is_ulid(issue.id) and issue.created_at == issue.updated_at == NOW
    service.execute(AdvanceClock("1h"))
    again = service.execute(Retry(invoice.id))
    [same] = [i for i in again.validation_issues if i.code == "line_amount_negative"]
    assert (same.id, same.created_at) == (issue.id, issue.created_at)
    # The retry downgraded it to a warning and validation raised it again: updated then.
    assert (same.severity, same.updated_at) == ("critical", NOW + timedelta(hours=1))
    shown = service.invoice_v1(again)["validationIssues"]
    assert {"createdAt": NOW_TEXT, "updatedAt": "2026-01-01T10:00:00.000Z"}.items() <= next(
        i for i in shown if i["id"] == issue.id
    ).items()


def test_an_empty_callback_body_is_fine(service: Service) -> None:
    service.execute(SetHooks(draft=True, issuing=True))
    invoice = service.execute(DraftSynchronized(create(service).id))
    assert invoice.status is S.ISSUING_SYNCING
    assert service.execute(IssuingSynchronized(invoice.id)).status is S.PP_PENDING


@pytest.mark.parametrize(
    "hooks", [{}, {"draft": True}, {"issuing": True}], ids=["pending", "draft-syncing", "issuing-syncing"]
)
def test_callbacks_are_refused_outside_their_one_state(service: Service, hooks: dict) -> None:
    """draft synchronized only in draft.syncing, issuing synchronized only in issuing.syncing."""
    service.execute(SetHooks(**hooks))
    invoice = create(service)
    state = workspace_state(service)
    if invoice.status is not S.DRAFT_SYNCING:
        with pytest.raises(NotAllowed):
            service.execute(DraftSynchronized(invoice.id, invoice_number="X-1"))
    if invoice.status is not S.ISSUING_SYNCING:
        with pytest.raises(NotAllowed):
            service.execute(IssuingSynchronized(invoice.id, invoice_number="X-1"))
    assert workspace_state(service) == state


def test_a_draft_waiting_for_its_hook_is_immutable(service: Service) -> None:
    service.execute(SetHooks(draft=True))
    invoice = create(service)
    state = workspace_state(service)
    with pytest.raises(NotAllowed):
        service.execute(EditInvoice(invoice.id, [FlatFee("Other", Decimal("1"))]))
    assert workspace_state(service) == state
    assert service.invoice_v1(invoice)["statusDetails"]["immutable"] is True


def test_markers_persist_so_a_later_edit_does_not_pause_at_the_hook(service: Service) -> None:
    service.execute(SetHooks(draft=True))
    service.execute(SetWorkflow(auto_advance=False))
    invoice = service.execute(DraftSynchronized(create(service).id))
    assert invoice.status is S.DRAFT_MANUAL_APPROVAL_NEEDED
    edited = service.execute(EditInvoice(invoice.id, [FlatFee("Platform fee", Decimal("150"))]))
    assert edited.status is S.DRAFT_MANUAL_APPROVAL_NEEDED
    assert targets(edited, len(invoice.history)) == [
        S.DRAFT_UPDATING,
        *THROUGH_DRAFT,
        S.DRAFT_MANUAL_APPROVAL_NEEDED,
    ]
    assert edited.metadata[DRAFT_SYNCED_MARKER] == NOW_TEXT
    assert edited.totals.amount == Decimal("150.00")


def test_hook_flags_are_read_live(service: Service) -> None:
    """Turning a hook off lets an invoice waiting for it go at its next advancement."""
    service.execute(SetHooks(draft=True))
    invoice = create(service)
    service.execute(SetHooks(draft=False))
    assert service.invoice(invoice.id).status is S.DRAFT_SYNCING
    assert service.execute(Advance(invoice.id)).status is S.PP_PENDING


def test_a_sync_failure_then_retry_waits_for_the_hook_again(service: Service) -> None:
    service.execute(SetHooks(draft=True))
    invoice = service.execute(ReportFailure(create(service).id, "ERP timed out"))
    assert invoice.status is S.DRAFT_SYNC_FAILED
    assert any(i.message == "ERP timed out" and i.severity == "critical" for i in invoice.validation_issues)
    retried = service.execute(Retry(invoice.id))
    assert retried.status is S.DRAFT_SYNCING
    assert not retried.has_critical_issues


def test_a_failed_deletion_is_deleted_again(service: Service) -> None:
    service.execute(SetWorkflow(auto_advance=False))
    invoice = create(service)
    failed = service.execute(Delete(invoice.id, simulate_failure=True))
    assert failed.status is S.DELETE_FAILED
    # The app's deletion sync is what fails; deletedAt was stamped on entering
    # delete.in_progress, before it (OpenMeter's deleteInvoice / syncDeletedInvoice).
    assert targets(failed, len(invoice.history)) == [S.DELETE_IN_PROGRESS, S.DELETE_SYNCING, S.DELETE_FAILED]
    assert failed.deleted_at == NOW
    service.execute(AdvanceClock("1h"))
    deleted = service.execute(Delete(invoice.id))
    assert deleted.status is S.DELETED
    assert deleted.deleted_at == NOW  # the first attempt's stamp stays
    assert service.invoice_v1(deleted)["status"] == "deleted"


# --- numbering -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("", "UNKN"),
        ("   ", "UNKN"),
        ("John", "JOHN"),
        ("Jo", "JO"),
        ("Peter Turi", "PETU"),
        ("P Turi", "PTU"),
        ("Péter Túri", "PETU"),
        ("Líb Hosted", "LIHO"),
        ("Ábel Őri", "ABOR"),
        ("acme corporation europe", "ACCO"),
        # A hyphenated name is one word, as in OpenMeter (words are split on spaces only).
        ("Gould-Foster", "GOUL"),
    ],
)
def test_customer_prefix(name: str, prefix: str) -> None:
    """ASCII folding; one word → 4 letters; two or more → 2 + 2; empty → UNKN (OpenMeter's own cases)."""
    assert customer_prefix(name) == prefix


def test_numbers_start_at_one_and_become_inv_on_finalizing(service: Service) -> None:
    service.execute(SetWorkflow(auto_advance=False))
    first = create(service, customer=0)
    second = create(service, customer=1)
    p0, p1 = (customer_prefix(c.name) for c in service.customers()[:2])
    assert (first.number, second.number) == (f"DRAFT-{p0}-1", f"DRAFT-{p1}-2")
    # Each kind has its own sequence: the first INV number is 1 whatever the DRAFT count.
    assert service.execute(Approve(second.id)).number == f"INV-{p1}-1"
    assert service.execute(Approve(first.id)).number == f"INV-{p0}-2"


def test_keeping_the_draft_number_uses_no_inv_number(service: Service) -> None:
    service.execute(SetHooks(issuing=True))
    kept = service.execute(IssuingSynchronized(create(service).id))
    assert kept.number.startswith("DRAFT-")
    service.execute(SetHooks(issuing=False))
    issued = create(service)
    assert issued.number == f"INV-{customer_prefix(issued.customer.name)}-1"


# --- time -----------------------------------------------------------------------------------
def test_a_flat_fee_invoice_has_no_collection_wait(service: Service) -> None:
    invoice = create(service)
    assert invoice.collection_at is None
    assert invoice.draft_until == NOW
    assert invoice.issued_at == NOW
    assert invoice.due_at == NOW + timedelta(days=30)
    assert invoice.status is S.PP_PENDING


def test_usage_waits_for_collection_until_collection_at(service: Service) -> None:
    invoice = create(service, FEES + USAGE)
    assert invoice.status is S.DRAFT_WAITING_FOR_COLLECTION
    assert invoice.collection_at == invoice.period_to + timedelta(hours=1) == NOW + timedelta(hours=1)
    assert invoice.draft_until == invoice.collection_at
    assert invoice.due_at == invoice.draft_until + timedelta(days=30)
    service.execute(AdvanceClock("59m"))
    assert service.invoice(invoice.id).status is S.DRAFT_WAITING_FOR_COLLECTION
    report = service.execute(AdvanceClock("1m"))
    released = service.invoice(invoice.id)
    assert report.advanced == [invoice.id]
    assert released.status is S.PP_PENDING
    assert released.issued_at == NOW + timedelta(hours=1)
    assert released.due_at == released.issued_at + timedelta(days=30)


def test_collect_forces_collection_before_collection_at(service: Service) -> None:
    """Collected early, the draft still waits for draft_until = collection_at + draft period."""
    invoice = create(service, USAGE)
    collected = service.execute(Collect(invoice.id))
    assert collected.status is S.DRAFT_WAITING_AUTO_APPROVAL
    assert targets(collected, len(invoice.history)) == [
        S.DRAFT_COLLECTING,
        S.DRAFT_VALIDATING,
        S.DRAFT_SYNCING,
        S.DRAFT_WAITING_AUTO_APPROVAL,
    ]
    service.execute(AdvanceClock("1h"))
    assert service.invoice(invoice.id).status is S.PP_PENDING


def test_workflow_durations_set_the_schedule(service: Service) -> None:
    service.execute(SetWorkflow(collection_interval="PT2H", draft_period="P3D", due_after="P14D"))
    invoice = create(service, USAGE)
    assert invoice.collection_at == NOW + timedelta(hours=2)
    assert invoice.draft_until == NOW + timedelta(days=3, hours=2)
    assert invoice.due_at == invoice.draft_until + timedelta(days=14)


def test_the_draft_period_is_released_by_the_clock(service: Service) -> None:
    service.execute(SetWorkflow(draft_period="P3D"))
    invoice = create(service)
    assert invoice.status is S.DRAFT_WAITING_AUTO_APPROVAL
    assert invoice.draft_until == NOW + timedelta(days=3)
    service.execute(AdvanceClock("P2D"))
    assert service.invoice(invoice.id).status is S.DRAFT_WAITING_AUTO_APPROVAL
    service.execute(AdvanceClock("P2D"))
    released = service.invoice(invoice.id)
    assert released.status is S.PP_PENDING
    assert released.issued_at == invoice.draft_until
    assert released.due_at == invoice.draft_until + timedelta(days=30)


def test_approve_skips_the_draft_period_and_due_at_stays_draft_until_plus_due_after(service: Service) -> None:
    """With auto-advance, dueAt = draftUntil + dueAfter (invoicecalc/dueat.go): issuing
    early (or late) does not move it."""
    service.execute(SetWorkflow(draft_period="P3D"))
    invoice = create(service)
    assert invoice.due_at == invoice.draft_until + timedelta(days=30)
    service.execute(AdvanceClock("1h"))
    approved = service.execute(Approve(invoice.id))
    assert approved.status is S.PP_PENDING
    assert approved.issued_at == NOW + timedelta(hours=1)
    assert approved.due_at == NOW + timedelta(days=33)


def test_without_auto_advance_there_is_no_draft_until(service: Service) -> None:
    service.execute(SetWorkflow(auto_advance=False))
    invoice = create(service)
    assert (invoice.draft_until, invoice.due_at) == (None, None)
    service.execute(AdvanceClock("P5D"))
    assert service.invoice(invoice.id).status is S.DRAFT_MANUAL_APPROVAL_NEEDED
    approved = service.execute(Approve(invoice.id))
    assert approved.issued_at == NOW + timedelta(days=5)
    assert approved.due_at == NOW + timedelta(days=35)


@pytest.mark.parametrize(
    ("auto_advance", "due_days"), [(True, 30), (False, 31)], ids=["auto-advance", "manual"]
)
def test_a_retried_issue_is_stamped_again(service: Service, auto_advance: bool, due_days: int) -> None:
    """Entering issuing.syncing sets issued_at = now and recomputes due_at, a retry too; due_at
    follows issued_at only without auto-advance."""
    service.execute(SetWorkflow(auto_advance=auto_advance))
    service.execute(SetHooks(issuing=True))
    invoice = create(service)
    if not auto_advance:
        invoice = service.execute(Approve(invoice.id))
    invoice = service.execute(ReportFailure(invoice.id))
    assert invoice.status is S.ISSUING_FAILED
    service.execute(AdvanceClock("P1D"))
    retried = service.execute(Retry(invoice.id))
    assert retried.status is S.ISSUING_SYNCING
    assert retried.issued_at == NOW + timedelta(days=1)
    assert retried.due_at == NOW + timedelta(days=due_days)


@pytest.mark.parametrize("duration", ["P0D", "0h", "-1h", "PT-1H", "soon"])
def test_the_clock_refuses_to_stand_still_or_go_backwards(service: Service, duration: str) -> None:
    create(service, USAGE)
    state = workspace_state(service)
    with pytest.raises(InvalidValue):
        service.execute(AdvanceClock(duration))
    assert workspace_state(service) == state
    assert service.now() == NOW


def test_subscriptions_bill_their_ended_period_and_roll_over(service: Service) -> None:
    subscriptions = service.subscriptions()
    report = service.execute(AdvanceClock("P1M"))
    period_end = add_months(NOW, 1)
    assert service.now() == period_end
    assert len(report.created) == len(subscriptions) == 6
    billed = {service.invoice(i).subscription_id: service.invoice(i) for i in report.created}
    assert set(billed) == {s.id for s in subscriptions}
    for subscription in subscriptions:
        invoice = billed[subscription.id]
        assert (invoice.period_from, invoice.period_to) == (NOW, period_end)
        assert invoice.plan_id == subscription.plan_id
        assert invoice.status is S.DRAFT_WAITING_FOR_COLLECTION
        assert invoice.collection_at == period_end + timedelta(hours=1)
    for subscription in service.subscriptions():
        assert (subscription.period_start, subscription.period_end) == (period_end, add_months(NOW, 2))
    service.execute(AdvanceClock("1h"))
    assert {service.invoice(i).status for i in report.created} == {S.PP_PENDING}


def test_a_long_clock_move_bills_every_ended_period_in_order(service: Service) -> None:
    report = service.execute(AdvanceClock("P2M"))
    invoices = [service.invoice(i) for i in report.created]
    assert len(invoices) == 12
    first = [i for i in invoices if i.period_from == NOW]
    second = [i for i in invoices if i.period_from == add_months(NOW, 1)]
    assert len(first) == len(second) == 6
    assert {i.status for i in first} == {S.PP_PENDING}  # released during the move
    assert {i.issued_at for i in first} == {add_months(NOW, 1) + timedelta(hours=1)}
    assert {i.status for i in second} == {S.DRAFT_WAITING_FOR_COLLECTION}


# --- events -------------------------------------------------------------------------------
def assert_updates_follow(
    service: Service, invoice: Invoice, since_history: int, since_seq: int, skip_first: bool
) -> None:
    """One invoice.updated per emitting transition, with the invoice after that transition."""
    expected = targets(invoice, since_history)[1 if skip_first else 0 :]
    new = [e for e in webhooks(service, invoice.id) if e.seq > since_seq]
    assert [e.type for e in new] == ["invoice.updated"] * len(expected)
    assert [e.data["statusDetails"]["extendedStatus"] for e in new] == [s.value for s in expected]


def last_seq(service: Service) -> int:
    return max((row["seq"] for row in service.event_rows()), default=0)


def test_creation_emits_updates_then_created_once(service: Service) -> None:
    invoice = create(service)
    events = webhooks(service, invoice.id)
    assert [e.type for e in events] == ["invoice.updated"] * len(invoice.history) + ["invoice.created"]
    assert [e.data["statusDetails"]["extendedStatus"] for e in events[:-1]] == [
        s.value for s in targets(invoice)
    ]
    assert all(is_ulid(e.id) and e.timestamp == NOW for e in events)
    created = events[-1]
    assert created.data["statusDetails"]["extendedStatus"] == "payment_processing.pending"
    assert created.data["id"] == invoice.id
    service.execute(PaymentStatus(invoice.id, "paid"))
    assert [e.type for e in service.events(invoice.id)].count("invoice.created") == 1


@pytest.mark.parametrize("action", ["approve", "delete", "edit"])
def test_a_user_actions_first_transition_emits_nothing(service: Service, action: str) -> None:
    service.execute(SetWorkflow(auto_advance=False))
    invoice = create(service)
    seq = last_seq(service)
    if action == "edit":
        after = service.execute(EditInvoice(invoice.id, [FlatFee("Fee", Decimal("5"))]))
    else:
        after = service.execute(COMMANDS[action](invoice.id))
    assert after.history[len(invoice.history)].trigger == {"edit": "updated"}.get(action, action)
    assert_updates_follow(service, after, len(invoice.history), seq, skip_first=True)


@pytest.mark.parametrize("action", ["retry", "collect"])
def test_retry_and_collect_emit_only_for_the_automatic_transitions(service: Service, action: str) -> None:
    if action == "retry":
        service.execute(SetHooks(issuing=True))
        invoice = service.execute(ReportFailure(create(service).id))
    else:
        invoice = create(service, USAGE)
    seq = last_seq(service)
    after = service.execute(COMMANDS[action](invoice.id))
    assert_updates_follow(service, after, len(invoice.history), seq, skip_first=True)


@pytest.mark.parametrize("payment", list(PaymentTrigger), ids=lambda p: p.value)
def test_a_payment_trigger_emits_for_its_own_transition(service: Service, payment: PaymentTrigger) -> None:
    invoice = create(service)
    seq = last_seq(service)
    after = service.execute(PaymentStatus(invoice.id, payment))
    assert_updates_follow(service, after, len(invoice.history), seq, skip_first=False)


def test_callbacks_and_failure_reports_emit_for_every_transition(service: Service) -> None:
    service.execute(SetHooks(draft=True, issuing=True))
    invoice = create(service)
    for command in (
        lambda i: service.execute(ReportFailure(i)),
        lambda i: service.execute(Retry(i)),
        lambda i: service.execute(DraftSynchronized(i)),
        lambda i: service.execute(IssuingSynchronized(i)),
    ):
        seq = last_seq(service)
        before = service.invoice(invoice.id)
        after = command(invoice.id)
        first_is_user_action = after.history[len(before.history)].trigger == "retry"
        assert_updates_follow(service, after, len(before.history), seq, skip_first=first_is_user_action)
    assert service.invoice(invoice.id).status is S.PP_PENDING


def test_refused_commands_emit_nothing_and_seqs_strictly_increase(demo_service: Service) -> None:
    seq = last_seq(demo_service)
    for row in demo_service.invoice_rows():
        callback = IssuingSynchronized if row["status"] == "draft.syncing" else DraftSynchronized
        with pytest.raises(NotAllowed):
            demo_service.execute(callback(row["id"], invoice_number="X-1"))
    assert last_seq(demo_service) == seq
    seqs = [row["seq"] for row in demo_service.event_rows()]
    assert seqs == sorted(set(seqs))
    assert seqs[0] == 1


# --- InvoiceGenerated ----------------------------------------------------------------------
def test_invoice_generated_follows_each_mapped_status_change(service: Service) -> None:
    invoice = create(service)
    assert generated(service, invoice.id) == ["generated"]
    for payment in ("payment_overdue", "action_required", "payment_failed"):
        service.execute(PaymentStatus(invoice.id, payment))
    assert generated(service, invoice.id) == ["generated", "overdue", "generated"]
    service.execute(Retry(invoice.id))
    service.execute(PaymentStatus(invoice.id, "paid"))
    assert generated(service, invoice.id) == ["generated", "overdue", "generated", "paid"]


def test_invoice_generated_fields_come_from_the_invoice(service: Service) -> None:
    """A subscription invoice's payload: ids, number, dates, period and amounts (§6)."""
    service.execute(AdvanceClock("P1M"))
    service.execute(AdvanceClock("1h"))
    invoice = next(i for i in service.invoices() if i.subscription_id)
    event = next(e for e in service.events(invoice.id) if e.type == "invoice.generated")
    payload = event.data
    assert (payload["invoiceId"], payload["invoiceNumber"], payload["customerId"]) == (
        invoice.id,
        invoice.number,
        invoice.customer.id,
    )
    assert (payload["subscriptionId"], payload["planId"]) == (invoice.subscription_id, invoice.plan_id)
    assert payload["invoiceNumber"].startswith("INV-")
    assert payload["invoiceDate"] == "2026-02-01T10:00:00.000Z"
    assert payload["dueDate"] == "2026-03-03T10:00:00.000Z"
    assert payload["billingPeriod"] == {"start": "2026-01-01", "end": "2026-02-01"}
    assert payload["currency"] == invoice.currency
    # One item per detailed line: what each line bills.
    assert [item["description"] for item in payload["lineItems"]] == [
        child.name for line in invoice.lines for child in line.children
    ]
    assert Decimal(str(payload["total"])) == invoice.totals.total


def test_cancelled_is_emitted_once_for_uncollectible_then_voided(service: Service) -> None:
    invoice = create(service)
    service.execute(PaymentStatus(invoice.id, "payment_uncollectible"))
    service.execute(PaymentStatus(invoice.id, "void"))
    assert generated(service, invoice.id) == ["generated", "cancelled"]


def test_an_invoice_sent_by_the_issuing_callback_is_emitted_as_sent(service: Service) -> None:
    service.execute(SetHooks(issuing=True))
    invoice = create(service)
    assert generated(service, invoice.id) == []
    service.execute(IssuingSynchronized(invoice.id, sent_to_customer_at="2026-01-01T09:00:00Z"))
    service.execute(PaymentStatus(invoice.id, "paid"))
    assert generated(service, invoice.id) == ["sent", "paid"]


def test_invoices_never_issued_emit_no_invoice_generated(demo_service: Service) -> None:
    """Only issue emits InvoiceGenerated; the preview of a never-issued invoice says so."""
    never_issued = [s for s in RESTING if s.short in ("draft", "issuing", "delete")] + [S.DELETED]
    for status in never_issued:
        row = next(r for r in demo_service.invoice_rows() if r["status"] == status.value)
        invoice = demo_service.invoice(row["id"])
        assert generated(demo_service, invoice.id) == [], status
        payload, emitted = demo_service.invoice_generated(invoice)
        assert emitted is False
        assert payload["status"] == ("cancelled" if status is S.DELETED else "generated")


def test_deleting_an_invoice_that_was_issuing_emits_no_invoice_generated(service: Service) -> None:
    service.execute(SetHooks(issuing=True))
    invoice = create(service)
    assert invoice.issued_at is not None
    assert service.execute(Delete(invoice.id)).status is S.DELETED
    assert generated(service, invoice.id) == []


@pytest.mark.parametrize(
    ("status", "sent", "expected"),
    [
        (S.PP_PENDING, False, "generated"),
        (S.PP_PENDING, True, "sent"),
        (S.PP_AUTHORIZED, True, "sent"),
        (S.PP_FAILED, False, "generated"),
        (S.PP_ACTION_REQUIRED, True, "sent"),
        (S.OVERDUE, True, "overdue"),
        (S.PAID, True, "paid"),
        (S.VOIDED, False, "cancelled"),
        (S.UNCOLLECTIBLE, True, "cancelled"),
    ],
)
def test_invoice_generated_status_mapping(
    service: Service, status: Status, sent: bool, expected: str
) -> None:
    """docs/invoice-generated.md: issued/payment_processing → sent once sent_to_customer_at,
    else generated."""
    service.execute(SetHooks(issuing=True))
    invoice = service.execute(
        IssuingSynchronized(create(service).id, sent_to_customer_at="2026-01-01T09:00:00Z" if sent else None)
    )
    payment = {
        S.PP_AUTHORIZED: None,
        S.PP_FAILED: "payment_failed",
        S.PP_ACTION_REQUIRED: "action_required",
        S.OVERDUE: "payment_overdue",
        S.PAID: "paid",
        S.VOIDED: "void",
        S.UNCOLLECTIBLE: "payment_uncollectible",
    }.get(status)
    if status is S.PP_AUTHORIZED:
        invoice = service.execute(AuthorizePayment(invoice.id))
    elif payment:
        invoice = service.execute(PaymentStatus(invoice.id, payment))
    assert invoice.status is status
    assert generated(service, invoice.id)[-1] == expected
    payload, emitted = service.invoice_generated(invoice)
    assert (payload["status"], emitted) == (expected, True)


def test_the_issuing_syncing_event_already_carries_the_invoice_number(service: Service) -> None:
    """With the issuing hook off, the INV- number is allocated while entering issuing.syncing,
    so that state's invoice.updated event names it (custominvoicing/app.go)."""
    invoice = create(service)
    numbers = {
        event.data["statusDetails"]["extendedStatus"]: event.data["number"]
        for event in service.events(invoice.id)
        if event.type == "invoice.updated"
    }
    assert numbers["issuing.line_finalization"].startswith("DRAFT-")
    assert numbers["issuing.syncing"] == invoice.number
    assert invoice.number.startswith("INV-")


def test_a_refused_payment_status_names_the_trigger_the_partner_sent(service: Service) -> None:
    """payment_failed is the lifecycle's `failed` trigger, but the refusal speaks the
    partner's word (API, CLI and the dashboard's dimmed-key reason alike)."""
    invoice = create(service)
    service.execute(PaymentStatus(invoice.id, "paid"))
    with pytest.raises(NotAllowed, match=r"^payment_failed is not allowed in paid"):
        service.execute(PaymentStatus(invoice.id, "payment_failed"))
    assert service.refusals(service.invoice(invoice.id))["payment_status:payment_failed"].startswith(
        "payment_failed is not allowed"
    )
