"""The invoice lifecycle: one declarative transition table and one advancement loop.

Everything docs/lifecycle.md says about which trigger moves an invoice where lives in
``TRANSITIONS`` (with named guards) and ``ON_ENTER`` (what entering a state does). The
CLI, the dashboard and the API ask ``preview``/``available_actions`` (through
``Service.actions``) instead of repeating a rule.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from . import schedule
from .errors import NotAllowed
from .models import (
    DRAFT_SYNCED_MARKER,
    FINALIZED_MARKER,
    INVOICE_COMPONENT,
    SYNC_COMPONENT,
    HistoryEntry,
    Invoice,
    ValidationIssue,
)
from .numbering import INVOICE, is_draft_number
from .status import USER_ACTIONS, Status, Trigger
from .timefmt import rfc3339

S = Status
T = Trigger

MAX_STEPS = 64  # an advancement longer than this means the table has a cycle


@dataclass(frozen=True)
class Context:
    """What the rules read besides the invoice: the clock and the app's live hook flags."""

    now: datetime
    draft_hook: bool
    issuing_hook: bool
    allocate_number: Callable[[str, Invoice], str] = lambda kind, invoice: f"{kind}-UNALLOCATED"
    delete_fails: bool = False
    """Simulates the invoicing app failing to delete the invoice (→ ``delete.failed``)."""
    simulating: bool = False
    """Only asking where a trigger leads: entering a state runs no ON_ENTER action, as
    OpenMeter computes ``availableActions`` without running its state callbacks."""


# --- guards ------------------------------------------------------------------------------
Guard = Callable[[Invoice, Context], bool]


def collection_due(invoice: Invoice, ctx: Context) -> bool:
    return invoice.collection_at is None or ctx.now >= invoice.collection_at


def no_critical_issues(invoice: Invoice, ctx: Context) -> bool:
    return not invoice.has_critical_issues


def draft_synced(invoice: Invoice, ctx: Context) -> bool:
    return not ctx.draft_hook or DRAFT_SYNCED_MARKER in invoice.metadata


def issuing_synced(invoice: Invoice, ctx: Context) -> bool:
    return not ctx.issuing_hook or FINALIZED_MARKER in invoice.metadata


def auto_advance(invoice: Invoice, ctx: Context) -> bool:
    return invoice.workflow.auto_advance


def manual_approval(invoice: Invoice, ctx: Context) -> bool:
    return not invoice.workflow.auto_advance


def draft_period_over(invoice: Invoice, ctx: Context) -> bool:
    return invoice.workflow.auto_advance and (invoice.draft_until is None or ctx.now >= invoice.draft_until)


def has_lines(invoice: Invoice, ctx: Context) -> bool:
    return bool(invoice.lines)


def has_no_lines(invoice: Invoice, ctx: Context) -> bool:
    return not invoice.lines


# Why a guard holds an invoice back, in words for the detail pane and refusals.
GUARD_REASONS: dict[Guard, str] = {
    collection_due: "waiting for usage collection",
    no_critical_issues: "has critical validation issues",
    draft_synced: "waiting for the draft synchronized callback",
    issuing_synced: "waiting for the issuing synchronized callback",
    auto_advance: "workflow needs manual approval",
    manual_approval: "workflow auto-advances",
    draft_period_over: "waiting for the draft period to end",
    has_lines: "invoice has no lines",
    has_no_lines: "invoice has lines",
}


@dataclass(frozen=True)
class Transition:
    source: Status
    trigger: Trigger
    target: Status
    guards: tuple[Guard, ...] = ()

    def allows(self, invoice: Invoice, ctx: Context) -> bool:
        return all(guard(invoice, ctx) for guard in self.guards)

    @property
    def internal(self) -> bool:
        """The trigger acts (``ON_FIRE``) without leaving the state: no step is recorded."""
        return self.source is self.target


DRAFTS = tuple(s for s in Status if s.short == "draft")
ISSUING = tuple(s for s in Status if s.short == "issuing")
EDITABLE = (
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
OPEN_PAYMENT = (S.PP_PENDING, S.PP_AUTHORIZED, S.PP_FAILED, S.PP_ACTION_REQUIRED)
UNAUTHORIZED_PAYMENT = (S.PP_PENDING, S.PP_FAILED, S.PP_ACTION_REQUIRED, S.OVERDUE, S.UNCOLLECTIBLE)
# (booking state, where it settles, its failure state)
BOOKINGS = (
    (S.PP_BOOKING_AUTHORIZED, S.PP_AUTHORIZED, S.PP_BOOKING_AUTHORIZED_FAILED),
    (S.PP_BOOKING_AUTHORIZED_AND_SETTLED, S.PAID, S.PP_BOOKING_AUTHORIZED_AND_SETTLED_FAILED),
    (S.PP_BOOKING_SETTLED, S.PAID, S.PP_BOOKING_SETTLED_FAILED),
)


def _each(sources: Iterable[Status], trigger: Trigger, target: Status) -> list[Transition]:
    return [Transition(source, trigger, target) for source in sources]


# The first transition whose source, trigger and guards match is taken: order matters
# only where one source has two targets for one trigger.
TRANSITIONS: tuple[Transition, ...] = (
    # draft
    Transition(S.DRAFT_CREATED, T.NEXT, S.DRAFT_WAITING_FOR_COLLECTION),
    Transition(S.DRAFT_WAITING_FOR_COLLECTION, T.NEXT, S.DRAFT_COLLECTING, (collection_due,)),
    Transition(S.DRAFT_WAITING_FOR_COLLECTION, T.FORCE_COLLECT, S.DRAFT_COLLECTING),
    Transition(S.DRAFT_COLLECTING, T.NEXT, S.DRAFT_VALIDATING),
    Transition(S.DRAFT_UPDATING, T.NEXT, S.DRAFT_WAITING_FOR_COLLECTION),
    Transition(S.DRAFT_VALIDATING, T.NEXT, S.DRAFT_SYNCING, (no_critical_issues,)),
    Transition(S.DRAFT_INVALID, T.RETRY, S.DRAFT_VALIDATING),
    Transition(S.DRAFT_SYNC_FAILED, T.RETRY, S.DRAFT_VALIDATING),
    Transition(
        S.DRAFT_SYNCING,
        T.NEXT,
        S.DRAFT_WAITING_AUTO_APPROVAL,
        (draft_synced, auto_advance, no_critical_issues),
    ),
    Transition(
        S.DRAFT_SYNCING,
        T.NEXT,
        S.DRAFT_MANUAL_APPROVAL_NEEDED,
        (draft_synced, manual_approval, no_critical_issues),
    ),
    Transition(
        S.DRAFT_WAITING_AUTO_APPROVAL, T.NEXT, S.DRAFT_READY_TO_ISSUE, (draft_period_over, no_critical_issues)
    ),
    Transition(S.DRAFT_WAITING_AUTO_APPROVAL, T.APPROVE, S.DRAFT_READY_TO_ISSUE),
    Transition(S.DRAFT_MANUAL_APPROVAL_NEEDED, T.APPROVE, S.DRAFT_READY_TO_ISSUE, (no_critical_issues,)),
    Transition(S.DRAFT_READY_TO_ISSUE, T.NEXT, S.DELETE_SYNCING, (has_no_lines,)),
    Transition(S.DRAFT_READY_TO_ISSUE, T.NEXT, S.ISSUING_LINE_FINALIZATION, (has_lines,)),
    # issuing
    Transition(S.ISSUING_LINE_FINALIZATION, T.NEXT, S.ISSUING_SYNCING),
    Transition(S.ISSUING_LINE_FINALIZATION_FAILED, T.RETRY, S.ISSUING_LINE_FINALIZATION),
    Transition(S.ISSUING_SYNCING, T.NEXT, S.ISSUING_CHARGE_BOOKING, (issuing_synced,)),
    Transition(S.ISSUING_FAILED, T.RETRY, S.ISSUING_SYNCING),
    Transition(S.ISSUING_CHARGE_BOOKING, T.NEXT, S.ISSUED),
    Transition(S.ISSUING_CHARGE_BOOKING_FAILED, T.RETRY, S.ISSUING_CHARGE_BOOKING),
    Transition(S.ISSUED, T.NEXT, S.PP_PENDING),
    Transition(S.ISSUED, T.VOID, S.VOIDED),
    # deletion
    Transition(S.DELETE_IN_PROGRESS, T.NEXT, S.DELETE_SYNCING),
    Transition(S.DELETE_SYNCING, T.NEXT, S.DELETED),
    Transition(S.DELETE_FAILED, T.DELETE, S.DELETE_IN_PROGRESS),
    *_each(DRAFTS + ISSUING, T.DELETE, S.DELETE_IN_PROGRESS),
    # failures and edits
    *_each(
        (S.DRAFT_CREATED, S.DRAFT_COLLECTING, S.DRAFT_UPDATING, S.DRAFT_VALIDATING), T.FAILED, S.DRAFT_INVALID
    ),
    Transition(S.DRAFT_SYNCING, T.FAILED, S.DRAFT_SYNC_FAILED),
    Transition(S.ISSUING_LINE_FINALIZATION, T.FAILED, S.ISSUING_LINE_FINALIZATION_FAILED),
    Transition(S.ISSUING_SYNCING, T.FAILED, S.ISSUING_FAILED),
    Transition(S.ISSUING_CHARGE_BOOKING, T.FAILED, S.ISSUING_CHARGE_BOOKING_FAILED),
    *_each((S.DELETE_IN_PROGRESS, S.DELETE_SYNCING), T.FAILED, S.DELETE_FAILED),
    *_each(EDITABLE, T.UPDATED, S.DRAFT_UPDATING),
    # the integration's callbacks, each accepted in one state: an internal transition (the
    # state stays; ON_FIRE leaves the callback's marker) after which the loop goes on
    Transition(S.DRAFT_SYNCING, T.DRAFT_SYNCHRONIZED, S.DRAFT_SYNCING),
    Transition(S.ISSUING_SYNCING, T.ISSUING_SYNCHRONIZED, S.ISSUING_SYNCING),
    # the integration reports a sync failure: only while a sync is awaited
    Transition(S.DRAFT_SYNCING, T.SYNC_FAILED, S.DRAFT_SYNC_FAILED),
    Transition(S.ISSUING_SYNCING, T.SYNC_FAILED, S.ISSUING_FAILED),
    # payment (docs/lifecycle.md, payment matrix); paid and authorized book the charge first:
    # an authorized payment only settles, any other is authorized and settled in one step
    Transition(S.PP_AUTHORIZED, T.PAID, S.PP_BOOKING_SETTLED),
    *_each(UNAUTHORIZED_PAYMENT, T.PAID, S.PP_BOOKING_AUTHORIZED_AND_SETTLED),
    *_each(UNAUTHORIZED_PAYMENT, T.AUTHORIZED, S.PP_BOOKING_AUTHORIZED),
    *[
        transition
        for booking, booked, failure in BOOKINGS
        for transition in (
            Transition(booking, T.NEXT, booked),
            Transition(booking, T.FAILED, failure),
            Transition(failure, T.RETRY, booking),
        )
    ],
    *[
        Transition(state, T.VOID, S.VOIDED)
        for booking, _, failure in BOOKINGS
        for state in (booking, failure)
    ],
    *_each((S.PP_PENDING, S.PP_AUTHORIZED, S.PP_ACTION_REQUIRED, S.OVERDUE), T.FAILED, S.PP_FAILED),
    *_each((S.PP_PENDING, S.PP_AUTHORIZED, S.PP_FAILED, S.PP_ACTION_REQUIRED), T.PAYMENT_OVERDUE, S.OVERDUE),
    *_each((*OPEN_PAYMENT, S.OVERDUE), T.PAYMENT_UNCOLLECTIBLE, S.UNCOLLECTIBLE),
    *_each((S.PP_PENDING, S.PP_AUTHORIZED, S.PP_FAILED, S.OVERDUE), T.ACTION_REQUIRED, S.PP_ACTION_REQUIRED),
    *_each((*OPEN_PAYMENT, S.UNCOLLECTIBLE), T.VOID, S.VOIDED),
    *_each((S.PP_FAILED, S.PP_ACTION_REQUIRED, S.OVERDUE), T.RETRY, S.PP_PENDING),
)

_BY_SOURCE: dict[tuple[Status, Trigger], tuple[Transition, ...]] = {}
for _t in TRANSITIONS:
    _BY_SOURCE[(_t.source, _t.trigger)] = (*_BY_SOURCE.get((_t.source, _t.trigger), ()), _t)


# --- what entering a state does ------------------------------------------------------------
# An action returns False when activation failed; the loop then fires ``failed``.
EnterAction = Callable[[Invoice, Context], bool]


def validate(invoice: Invoice, ctx: Context) -> bool:
    """Recompute the invoice's own validation issues; sync issues are left alone. An issue
    found again keeps its id and ``createdAt``, as OpenMeter keeps a persisted issue."""
    kept = [i for i in invoice.validation_issues if i.component != INVOICE_COMPONENT]
    previous = {(i.code, i.field): i for i in invoice.validation_issues if i.component == INVOICE_COMPONENT}
    found: list[ValidationIssue] = []
    for index, line in enumerate(invoice.lines):
        if line.quantity < 0 or line.price.amount < 0:
            found.append(
                ValidationIssue.found(
                    invoice.id,
                    ctx.now,
                    severity="critical",
                    code="line_amount_negative",
                    component=INVOICE_COMPONENT,
                    field=f"lines/{index}",
                    message=f"line {line.name!r} has a negative quantity or price",
                )
            )
    if invoice.customer.address is None or not invoice.customer.address.country:
        found.append(
            ValidationIssue.found(
                invoice.id,
                ctx.now,
                severity="warning",
                code="customer_address_missing",
                component=INVOICE_COMPONENT,
                field="customer/addresses",
                message="customer has no billing address; tax may be calculated wrongly",
            )
        )
    invoice.validation_issues = kept + [_carried_over(previous.get((i.code, i.field)), i) for i in found]
    return not invoice.has_critical_issues


def _carried_over(before: ValidationIssue | None, now: ValidationIssue) -> ValidationIssue:
    if before is None:
        return now
    same = (before.severity, before.message) == (now.severity, now.message)
    return now.model_copy(
        update={
            "id": before.id,
            "created_at": before.created_at,
            "updated_at": before.updated_at if same else now.updated_at,
        }
    )


def start_issuing(invoice: Invoice, ctx: Context) -> bool:
    """Every entry into issuing.syncing (a retry too) is OpenMeter's finalizeInvoice: it
    stamps ``issued_at`` = now and recomputes ``due_at`` (which moves only without
    auto-advance, see ``schedule.due_at``). If the issuing hook lets the invoice go on right
    away (hook off, or its marker already set), a DRAFT- number becomes an INV- one now, so
    the ``invoice.updated`` event of issuing.syncing already carries it. With the hook on,
    the invoice keeps whatever number the callback leaves (OpenMeter's code; its docs claim
    otherwise: ``app/custominvoicing/app.go`` FinalizeStandardInvoice)."""
    invoice.issued_at = ctx.now
    invoice.due_at = schedule.due_at(invoice)
    if issuing_synced(invoice, ctx) and is_draft_number(invoice.number):
        invoice.number = ctx.allocate_number(INVOICE, invoice)
    return True


def prepare_delete(invoice: Invoice, ctx: Context) -> bool:
    """Entering delete.in_progress: each attempt starts without issues; ``deleted_at`` is
    stamped now, before the app syncs the deletion (so delete.failed has it too)."""
    invoice.validation_issues = []
    return _stamp_deleted(invoice, ctx)


def sync_delete(invoice: Invoice, ctx: Context) -> bool:
    """The invoicing app deletes its copy; ``delete_fails`` simulates it failing. An empty
    invoice deleted by the system comes here straight from draft.ready_to_issue."""
    _stamp_deleted(invoice, ctx)
    return not ctx.delete_fails


def _stamp_deleted(invoice: Invoice, ctx: Context) -> bool:
    if invoice.deleted_at is None:
        invoice.deleted_at = ctx.now
    return True


ON_ENTER: dict[Status, EnterAction] = {
    S.DRAFT_UPDATING: validate,
    S.DRAFT_VALIDATING: validate,
    S.ISSUING_SYNCING: start_issuing,
    S.DELETE_IN_PROGRESS: prepare_delete,
    S.DELETE_SYNCING: sync_delete,
}


# --- what firing a trigger does before its transition ----------------------------------------
FireAction = Callable[[Invoice, Context], None]


def downgrade_critical_issues(invoice: Invoice, ctx: Context) -> None:
    """A retry keeps every issue but downgrades critical ones to warnings, as OpenMeter's
    RetryInvoice does (billing/service/invoice.go); validation then finds what is still wrong."""
    invoice.validation_issues = [
        i.model_copy(update={"severity": "warning"}) if i.severity == "critical" else i
        for i in invoice.validation_issues
    ]


def drop_sync_issues(invoice: Invoice, ctx: Context) -> None:
    """An edit starts over after a sync failure: the failure's issues are dropped."""
    invoice.validation_issues = [i for i in invoice.validation_issues if i.component != SYNC_COMPONENT]


def _leave_marker(marker: str) -> FireAction:
    """A callback's effect: its marker (RFC 3339 now), read by the guard that waits for it."""

    def leave(invoice: Invoice, ctx: Context) -> None:
        invoice.metadata[marker] = rfc3339(ctx.now) or ""
        invoice.updated_at = ctx.now

    return leave


ON_FIRE: dict[Trigger, FireAction] = {
    T.RETRY: downgrade_critical_issues,
    T.UPDATED: drop_sync_issues,
    T.DRAFT_SYNCHRONIZED: _leave_marker(DRAFT_SYNCED_MARKER),
    T.ISSUING_SYNCHRONIZED: _leave_marker(FINALIZED_MARKER),
}


# --- the machine ------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One transition taken; ``emits`` says whether it produces an ``invoice.updated``."""

    source: Status
    target: Status
    trigger: Trigger
    at: datetime
    emits: bool


@dataclass
class Outcome:
    """The steps one command took; ``observer`` sees the invoice right after each step."""

    steps: list[Step] = field(default_factory=list)
    observer: Callable[[Invoice, Step], None] | None = None

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def find_transition(invoice: Invoice, trigger: Trigger, ctx: Context) -> Transition | None:
    for transition in _BY_SOURCE.get((invoice.status, trigger), ()):
        if transition.allows(invoice, ctx):
            return transition
    return None


# Triggers the integration fires, refused outside their few states in these words.
ONLY_IN: dict[Trigger, str] = {
    T.DRAFT_SYNCHRONIZED: "draft synchronized is only allowed in {states}",
    T.ISSUING_SYNCHRONIZED: "issuing synchronized is only allowed in {states}",
    T.SYNC_FAILED: "a sync failure can be reported only while a sync is awaited ({states})",
}


def refusal(invoice: Invoice, trigger: Trigger, ctx: Context, name: str | None = None) -> str:
    """Why ``trigger`` cannot fire now, in words; ``name``: what the caller called it (the
    payment status ``payment_failed`` is the ``failed`` trigger)."""
    said = name or trigger.value
    candidates = _BY_SOURCE.get((invoice.status, trigger), ())
    for transition in candidates:
        failing = [GUARD_REASONS[g] for g in transition.guards if not g(invoice, ctx)]
        if failing:
            return f"{said} is not allowed in {invoice.status.value}: {failing[0]}"
    if not candidates and trigger in ONLY_IN:
        states = " or ".join(dict.fromkeys(t.source.value for t in TRANSITIONS if t.trigger is trigger))
        only = ONLY_IN[trigger].format(states=states)
        return f"{only}; invoice {invoice.number} is in {invoice.status.value}"
    return f"{said} is not allowed in {invoice.status.value}"


def require(invoice: Invoice, trigger: Trigger, ctx: Context, name: str | None = None) -> Transition:
    """The transition ``trigger`` takes now; NotAllowed (see ``refusal``) if there is none."""
    transition = find_transition(invoice, trigger, ctx)
    if transition is None:
        raise NotAllowed(refusal(invoice, trigger, ctx, name))
    return transition


def fire(
    invoice: Invoice,
    trigger: Trigger,
    ctx: Context,
    outcome: Outcome | None = None,
    *,
    name: str | None = None,
) -> Outcome:
    """Fire ``trigger`` then advance; raise NotAllowed (invoice untouched) if it can't fire
    (``name`` words the refusal, see ``refusal``)."""
    outcome = outcome if outcome is not None else Outcome()
    transition = require(invoice, trigger, ctx, name)
    action = ON_FIRE.get(trigger)
    if action is not None:
        action(invoice, ctx)
    if not transition.internal:
        _take(invoice, transition, ctx, outcome, emits=trigger not in USER_ACTIONS)
    return advance(invoice, ctx, outcome)


def advance(invoice: Invoice, ctx: Context, outcome: Outcome | None = None) -> Outcome:
    """The advancement loop: fire ``next`` until no guard lets it."""
    outcome = outcome if outcome is not None else Outcome()
    for _ in range(MAX_STEPS):
        transition = find_transition(invoice, T.NEXT, ctx)
        if transition is None:
            return outcome
        _take(invoice, transition, ctx, outcome, emits=True)
    raise RuntimeError(f"lifecycle did not settle after {MAX_STEPS} steps: {invoice.status}")


def _take(invoice: Invoice, transition: Transition, ctx: Context, outcome: Outcome, *, emits: bool) -> None:
    invoice.status = transition.target
    invoice.updated_at = ctx.now
    invoice.history.append(
        HistoryEntry.model_construct(  # typed inputs: no need to validate
            source=transition.source,
            target=transition.target,
            trigger=transition.trigger.value,
            at=ctx.now,
        )
    )
    step = Step(transition.source, transition.target, transition.trigger, ctx.now, emits)
    outcome.steps.append(step)
    action = None if ctx.simulating else ON_ENTER.get(transition.target)
    activated = action is None or action(invoice, ctx)
    if outcome.observer is not None:
        outcome.observer(invoice, step)
    if not activated:
        failure = find_transition(invoice, T.FAILED, ctx)
        if failure is None:
            raise RuntimeError(f"{transition.target} failed to activate and has no failure state")
        _take(invoice, failure, ctx, outcome, emits=True)


# --- questions the front doors ask ---------------------------------------------------------
def preview(invoice: Invoice, trigger: Trigger, ctx: Context) -> Status | None:
    """Where ``trigger`` would lead (after the automatic loop), or None if not allowed.

    Computed as OpenMeter computes ``availableActions``: the trigger is checked against the
    invoice as it is, then simulated with its validation issues cleared and no state's
    ON_ENTER action run (``calculateAvailableActionDetails`` in stdinvoicestate.go).
    """
    if find_transition(invoice, trigger, ctx) is None:
        return None
    trial = _trial_copy(invoice)
    fire(trial, trigger, replace(ctx, simulating=True))
    return trial.status


def _trial_copy(invoice: Invoice) -> Invoice:
    """A copy the loop may move, without validation issues: the simulated loop reassigns
    fields and appends to ``history`` only."""
    return invoice.model_copy(
        update={"history": [], "metadata": dict(invoice.metadata), "validation_issues": []}
    )


# OpenMeter's ``statusDetails.availableActions`` names and the triggers behind them.
ACTIONS: dict[str, Trigger] = {
    "advance": T.NEXT,
    "approve": T.APPROVE,
    "retry": T.RETRY,
    "delete": T.DELETE,
    "snapshotQuantities": T.FORCE_COLLECT,
}


GUARDS: tuple[Guard, ...] = tuple(dict.fromkeys(g for t in TRANSITIONS for g in t.guards))
"""Every guard of the table, once."""
_ACTIONS_SEEN: dict[tuple[object, ...], dict[str, Status]] = {}
ACTIONS_KEPT = 4096
"""Distinct (status, guard values) whose available actions are remembered."""


def available_actions(invoice: Invoice, ctx: Context) -> Mapping[str, Status]:
    """``preview`` of each of ``ACTIONS``, remembered by what decides it: the status and
    every guard's value on the invoice (the first check) and on its trial copy (the
    simulation). A simulated step sets only the status, ``updated_at`` and ``history``,
    which no guard reads (and, on retry or edit, the validation issues, which a trial
    copy has none of), and runs no ON_ENTER action: the guards keep their values along
    the way, so the status alone picks each transition. The trial copy differs from the
    invoice only in what ``no_critical_issues`` reads (it has no issues), so the guards'
    values on the invoice decide those on the copy: they alone are the key. The answer
    is the remembered mapping itself, the same object for the same key: read it, never
    change it."""
    key = (invoice.status, *[g(invoice, ctx) for g in GUARDS])
    found = _ACTIONS_SEEN.get(key)
    if found is None:
        if len(_ACTIONS_SEEN) >= ACTIONS_KEPT:
            _ACTIONS_SEEN.clear()
        found = _ACTIONS_SEEN[key] = {
            name: target
            for name, trigger in ACTIONS.items()
            if (target := preview(invoice, trigger, ctx)) is not None
        }
    return found


def is_immutable(invoice: Invoice, ctx: Context) -> bool:
    return find_transition(invoice, T.UPDATED, ctx) is None
