"""Invoice statuses and triggers (docs/lifecycle.md)."""

from enum import StrEnum


class Status(StrEnum):
    """An invoice's extended status; the short status is the part before the first dot."""

    DRAFT_CREATED = "draft.created"
    DRAFT_WAITING_FOR_COLLECTION = "draft.waiting_for_collection"
    DRAFT_COLLECTING = "draft.collecting"
    DRAFT_UPDATING = "draft.updating"
    DRAFT_VALIDATING = "draft.validating"
    DRAFT_INVALID = "draft.invalid"
    DRAFT_SYNCING = "draft.syncing"
    DRAFT_SYNC_FAILED = "draft.sync_failed"
    DRAFT_MANUAL_APPROVAL_NEEDED = "draft.manual_approval_needed"
    DRAFT_WAITING_AUTO_APPROVAL = "draft.waiting_auto_approval"
    DRAFT_READY_TO_ISSUE = "draft.ready_to_issue"
    ISSUING_LINE_FINALIZATION = "issuing.line_finalization"
    ISSUING_LINE_FINALIZATION_FAILED = "issuing.line_finalization_failed"
    ISSUING_SYNCING = "issuing.syncing"
    ISSUING_FAILED = "issuing.failed"
    ISSUING_CHARGE_BOOKING = "issuing.charge_booking"
    ISSUING_CHARGE_BOOKING_FAILED = "issuing.charge_booking_failed"
    ISSUED = "issued"
    PP_PENDING = "payment_processing.pending"
    PP_BOOKING_AUTHORIZED = "payment_processing.booking_authorized"
    PP_BOOKING_AUTHORIZED_FAILED = "payment_processing.booking_authorized_failed"
    PP_BOOKING_AUTHORIZED_AND_SETTLED = "payment_processing.booking_authorized_and_settled"
    PP_BOOKING_AUTHORIZED_AND_SETTLED_FAILED = "payment_processing.booking_authorized_and_settled_failed"
    PP_BOOKING_SETTLED = "payment_processing.booking_settled"
    PP_BOOKING_SETTLED_FAILED = "payment_processing.booking_settled_failed"
    PP_AUTHORIZED = "payment_processing.authorized"
    PP_FAILED = "payment_processing.failed"
    PP_ACTION_REQUIRED = "payment_processing.action_required"
    OVERDUE = "overdue"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"
    VOIDED = "voided"
    DELETE_IN_PROGRESS = "delete.in_progress"
    DELETE_SYNCING = "delete.syncing"
    DELETE_FAILED = "delete.failed"
    DELETED = "deleted"

    @property
    def short(self) -> str:
        return self.value.split(".", 1)[0]

    @property
    def is_failed(self) -> bool:
        return self in FAILED_STATUSES


def v1_status(extended: str) -> str:
    """The ``status`` OpenMeter's v1 API shows: the short status as is.

    For ``delete.in_progress``/``delete.syncing``/``delete.failed`` that is ``delete``, a value
    outside the spec's own ``InvoiceStatus`` enum: OpenMeter's server sends it all the same
    (``billing/httpdriver/invoice.go``, ``Status.ShortStatus()``), so the simulator does too.
    """
    return extended.split(".", 1)[0]


# ``statusDetails.failed`` (OpenMeter ``billing/stdinvoice.go``, ``failedStatuses``):
# ``draft.invalid`` is not one of them, ``payment_processing.failed`` is.
FAILED_STATUSES = frozenset(
    {
        Status.DRAFT_SYNC_FAILED,
        Status.ISSUING_LINE_FINALIZATION_FAILED,
        Status.ISSUING_FAILED,
        Status.ISSUING_CHARGE_BOOKING_FAILED,
        Status.DELETE_FAILED,
        Status.PP_BOOKING_AUTHORIZED_FAILED,
        Status.PP_BOOKING_AUTHORIZED_AND_SETTLED_FAILED,
        Status.PP_FAILED,
        Status.PP_BOOKING_SETTLED_FAILED,
    }
)

# Failure states of steps the simulator never fails (line finalization, charge and payment
# booking always succeed here): they exist so that filters and tables name them, and have
# their ways out (retry, void, delete), but no command leads into them.
UNREACHED_FAILURES = frozenset(
    {
        Status.ISSUING_LINE_FINALIZATION_FAILED,
        Status.ISSUING_CHARGE_BOOKING_FAILED,
        Status.PP_BOOKING_AUTHORIZED_FAILED,
        Status.PP_BOOKING_AUTHORIZED_AND_SETTLED_FAILED,
        Status.PP_BOOKING_SETTLED_FAILED,
    }
)

# Pass-through states are entered and left within one advancement (docs/lifecycle.md).
PASS_THROUGH = frozenset(
    {
        Status.DRAFT_CREATED,
        Status.DRAFT_COLLECTING,
        Status.DRAFT_UPDATING,
        Status.DRAFT_VALIDATING,
        Status.DRAFT_READY_TO_ISSUE,
        Status.ISSUING_LINE_FINALIZATION,
        Status.ISSUING_CHARGE_BOOKING,
        Status.ISSUED,
        Status.PP_BOOKING_AUTHORIZED,
        Status.PP_BOOKING_AUTHORIZED_AND_SETTLED,
        Status.PP_BOOKING_SETTLED,
        Status.DELETE_IN_PROGRESS,
        Status.DELETE_SYNCING,
    }
)
RESTING = tuple(s for s in Status if s not in PASS_THROUGH and s not in UNREACHED_FAILURES)
"""The states a command can leave an invoice in (every one of them is in the demo)."""


class Trigger(StrEnum):
    NEXT = "next"
    APPROVE = "approve"
    RETRY = "retry"
    FAILED = "failed"
    UPDATED = "updated"
    FORCE_COLLECT = "force_collect"
    DELETE = "delete"
    PAID = "paid"
    AUTHORIZED = "authorized"
    ACTION_REQUIRED = "action_required"
    PAYMENT_UNCOLLECTIBLE = "payment_uncollectible"
    PAYMENT_OVERDUE = "payment_overdue"
    VOID = "void"
    # the integration's callbacks and its sync failure report (docs/callbacks-and-hooks.md)
    DRAFT_SYNCHRONIZED = "draft_synchronized"
    ISSUING_SYNCHRONIZED = "issuing_synchronized"
    SYNC_FAILED = "sync_failed"


class PaymentTrigger(StrEnum):
    """The six triggers of the payment status callback (docs/callbacks-and-hooks.md)."""

    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_UNCOLLECTIBLE = "payment_uncollectible"
    PAYMENT_OVERDUE = "payment_overdue"
    ACTION_REQUIRED = "action_required"
    VOID = "void"

    @property
    def trigger(self) -> Trigger:
        return Trigger.FAILED if self is PaymentTrigger.PAYMENT_FAILED else Trigger(self.value)


# Triggers a person fires on the billing side: their own transition emits no event, the
# automatic ones after it do (docs/lifecycle.md, Events).
USER_ACTIONS = frozenset(
    {Trigger.APPROVE, Trigger.RETRY, Trigger.DELETE, Trigger.UPDATED, Trigger.FORCE_COLLECT}
)
