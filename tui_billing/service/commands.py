"""Every command the service runs, as typed objects in one registry.

A command is a frozen dataclass saying what to do (``Approve(invoice)``,
``PaymentStatus(invoice, PaymentTrigger.PAID)``); ``Service.execute`` runs it as one
transaction: one durable journal record, or a refusal that changed nothing. ``COMMANDS``
(keyed by ``name``) is the only list of commands: the CLI, the API, the dashboard and
scenario, tour and certify files find them here, and ``Service.actions`` asks the lifecycle
table, through each invoice command's ``variants``, which are possible now and where they
lead. Adding a command is a class here (a lifecycle trigger needs no more than its
``trigger``) plus its wording at each front door that offers it.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import TypeAdapter, ValidationError

from ..domain.billing_clock import ClockProgress, ClockReport
from ..domain.errors import InvalidValue
from ..domain.linespec import LineSpec
from ..domain.models import App, Invoice, Workflow, Workspace
from ..domain.notifications import Channel, ChannelFields, Delivery, Notification, Rule, RuleFields
from ..domain.status import PaymentTrigger, Trigger
from ..domain.timefmt import parse_rfc3339

if TYPE_CHECKING:
    from .notifications import Webhooks
    from .service import Service


@dataclass(frozen=True)
class Command:
    """A request to change the workspace."""

    name: ClassVar[str]
    """The registry key: a scenario step's ``do``, the palette's and the API log's word."""
    summary: ClassVar[str]
    """One line saying what it does (CLI help, the help screen)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in COMMANDS:
                raise TypeError(f"two commands are named {cls.name!r}")
            COMMANDS[cls.name] = cls

    def run(self, service: "Service") -> Any:
        raise NotImplementedError


COMMANDS: dict[str, type[Command]] = {}


def command_from(name: str, fields: Mapping[str, Any]) -> Command:
    """The command ``name`` with ``fields`` (a scenario step's), checked for type; a clear
    ``InvalidValue`` names an unknown command or a wrong field."""
    kind = COMMANDS.get(name)
    if kind is None:
        raise InvalidValue(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
    try:
        return TypeAdapter(kind).validate_python(dict(fields))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "its fields"
        raise InvalidValue(f"{name}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class LineEdit:
    """A line of ``Service.replace_invoice``: a flat fee of ``amount``, or usage at
    ``unit_price`` per unit; ``replaces`` names the existing line it keeps (None: new)."""

    name: str
    amount: Decimal = Decimal(0)
    unit_price: Decimal | None = None
    replaces: str | None = None


# --- commands on one invoice --------------------------------------------------------------------
@dataclass(frozen=True)
class InvoiceCommand(Command):
    """A command on one invoice (by id, or by number when it is unique)."""

    invoice: str

    @classmethod
    def variants(cls) -> dict[str, Trigger]:
        """The ``Service.actions`` names of this command and the trigger each fires: the
        lifecycle table says whether it is possible now and where it leads."""
        trigger = getattr(cls, "trigger", None)
        return {cls.name: trigger} if trigger is not None else {}


@dataclass(frozen=True)
class FireTrigger(InvoiceCommand):
    """A billing-side command that is nothing but its lifecycle trigger."""

    trigger: ClassVar[Trigger]

    def run(self, service: "Service") -> Invoice:
        return service.fire(self.invoice, self.trigger)


@dataclass(frozen=True)
class Approve(FireTrigger):
    name = "approve"
    summary = "approve a draft"
    trigger = Trigger.APPROVE


@dataclass(frozen=True)
class Retry(FireTrigger):
    name = "retry"
    summary = "retry a failed step"
    trigger = Trigger.RETRY


@dataclass(frozen=True)
class Advance(FireTrigger):
    name = "advance"
    summary = "fire next (e.g. after turning a hook off)"
    trigger = Trigger.NEXT


@dataclass(frozen=True)
class Collect(FireTrigger):
    name = "collect"
    summary = "collect usage now (snapshotQuantities)"
    trigger = Trigger.FORCE_COLLECT


@dataclass(frozen=True)
class Delete(InvoiceCommand):
    name = "delete"
    summary = "delete a draft or issuing invoice"
    trigger: ClassVar[Trigger] = Trigger.DELETE
    simulate_failure: bool = False
    """The invoicing app fails to delete its copy: the invoice ends in ``delete.failed``."""

    def run(self, service: "Service") -> Invoice:
        return service.fire(self.invoice, self.trigger, delete_fails=self.simulate_failure)


@dataclass(frozen=True)
class PaymentStatus(InvoiceCommand):
    name = "payment_status"
    summary = "fire the payment status callback"
    trigger: PaymentTrigger | str

    def __post_init__(self) -> None:
        if self.trigger not in PaymentTrigger.__members__.values():
            allowed = ", ".join(t.value for t in PaymentTrigger)
            raise InvalidValue(f"{self.trigger!r} is not a payment trigger; use one of {allowed}")

    @property
    def payment(self) -> PaymentTrigger:
        return PaymentTrigger(self.trigger)

    @classmethod
    def variants(cls) -> dict[str, Trigger]:
        return {f"{cls.name}:{payment.value}": payment.trigger for payment in PaymentTrigger}

    def run(self, service: "Service") -> Invoice:
        return service.fire(self.invoice, self.payment.trigger, name=self.payment.value)


@dataclass(frozen=True)
class AuthorizePayment(FireTrigger):
    name = "authorize_payment"
    summary = "a payment authorized (simulator only)"
    trigger = Trigger.AUTHORIZED


@dataclass(frozen=True)
class DraftSynchronized(InvoiceCommand):
    name = "draft_synchronized"
    summary = "fire the draft synchronized callback"
    trigger: ClassVar[Trigger] = Trigger.DRAFT_SYNCHRONIZED
    invoice_number: str | None = None
    external_id: str | None = None
    line_external_ids: Mapping[str, str] = field(default_factory=dict)
    """Line or detailed line id → its id in the external system."""

    def run(self, service: "Service") -> Invoice:
        return service.draft_synchronized(self)


@dataclass(frozen=True)
class IssuingSynchronized(InvoiceCommand):
    name = "issuing_synchronized"
    summary = "fire the issuing synchronized callback"
    trigger: ClassVar[Trigger] = Trigger.ISSUING_SYNCHRONIZED
    invoice_number: str | None = None
    sent_to_customer_at: datetime | str | None = None
    """A datetime, or RFC 3339 text."""
    payment_external_id: str | None = None

    @property
    def sent_at(self) -> datetime | None:
        moment = self.sent_to_customer_at
        return parse_rfc3339(moment, "sent-to-customer time") if isinstance(moment, str) else moment

    def run(self, service: "Service") -> Invoice:
        return service.issuing_synchronized(self)


@dataclass(frozen=True)
class ReportFailure(InvoiceCommand):
    name = "report_failure"
    summary = "report a sync failure (draft.syncing or issuing.syncing)"
    trigger: ClassVar[Trigger] = Trigger.SYNC_FAILED
    message: str | None = None

    def run(self, service: "Service") -> Invoice:
        return service.report_failure(self)


@dataclass(frozen=True)
class EditInvoice(InvoiceCommand):
    name = "edit_invoice"
    summary = "replace a draft invoice's lines (the updated trigger)"
    trigger: ClassVar[Trigger] = Trigger.UPDATED
    lines: Sequence[LineSpec] = ()

    def run(self, service: "Service") -> Invoice:
        return service.edit_invoice(self)


@dataclass(frozen=True)
class ReplaceInvoice(InvoiceCommand):
    """OpenMeter's invoice replace (``PUT``): an edit whose lines name the lines they keep."""

    name = "replace_invoice"
    summary = "replace a draft invoice's lines, description and metadata"
    lines: Sequence[LineEdit] = ()
    description: str | None = None
    metadata: Mapping[str, str] | None = None

    def run(self, service: "Service") -> Invoice:
        return service.replace_invoice(self)


# --- the workspace ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateInvoice(Command):
    name = "create_invoice"
    summary = "create an invoice for a customer (by key or id)"
    customer: str
    lines: Sequence[LineSpec] = ()
    """No lines: the customer's plan (a flat fee and seeded usage)."""

    def run(self, service: "Service") -> Invoice:
        return service.create_invoice(self)


@dataclass(frozen=True)
class AdvanceClock(Command):
    name = "advance_clock"
    summary = "advance the simulated clock (e.g. 1h, 3d, 1mo, PT30M)"
    duration: str
    progress: Callable[[ClockProgress], None] | None = field(default=None, compare=False, repr=False)
    """Hears how far the advance has got, now and then (before anything is committed)."""

    def run(self, service: "Service") -> ClockReport:
        return service.advance_clock(self.duration, self.progress)


@dataclass(frozen=True)
class SetHooks(Command):
    name = "set_hooks"
    summary = "turn the draft or issuing sync hook on or off"
    draft: bool | None = None
    issuing: bool | None = None

    def run(self, service: "Service") -> App:
        return service.set_hooks(self)


@dataclass(frozen=True)
class UpdateApp(Command):
    """Change the given app settings; those left None stay as they are."""

    name = "update_app"
    summary = "change the app's name, description or labels"
    app_name: str | None = None
    description: str | None = None
    labels: Mapping[str, str] | None = None

    def run(self, service: "Service") -> App:
        return service.change_app(
            {
                key: value
                for key, value in (
                    ("name", self.app_name),
                    ("description", self.description),
                    ("labels", dict(self.labels) if self.labels is not None else None),
                )
                if value is not None
            }
        )


@dataclass(frozen=True)
class ReplaceApp(Command):
    """Replace the app's settings, as OpenMeter's app PUT does: a description or labels left
    out are cleared."""

    name = "replace_app"
    summary = "replace the app's settings (the app PUT)"
    app_name: str
    draft_hook: bool
    issuing_hook: bool
    description: str | None = None
    labels: Mapping[str, str] | None = None

    def run(self, service: "Service") -> App:
        return service.change_app(
            {
                "name": self.app_name,
                "description": self.description,
                "labels": dict(self.labels or {}),
                "enable_draft_sync_hook": self.draft_hook,
                "enable_issuing_sync_hook": self.issuing_hook,
            }
        )


@dataclass(frozen=True)
class SetWorkflow(Command):
    """Change the workflow for invoices created from now on (each invoice keeps a copy)."""

    name = "set_workflow"
    summary = "set the workflow for new invoices"
    auto_advance: bool | None = None
    draft_period: str | None = None
    due_after: str | None = None
    collection_interval: str | None = None

    def run(self, service: "Service") -> Workflow:
        return service.set_workflow(self)


@dataclass(frozen=True)
class SetCallbackResponse(Command):
    """How the HTTP callbacks answer success: ``invoice`` (200 with the invoice, like
    OpenMeter's server) or ``no_content`` (204, like its OpenAPI spec and SDK)."""

    name = "set_callback_response"
    summary = "answer callbacks with 200 + invoice or 204"
    mode: str

    def run(self, service: "Service") -> Workspace:
        return service.set_callback_response(self.mode)


@dataclass(frozen=True)
class SetDeliveryRetention(Command):
    name = "set_delivery_retention"
    summary = "how many deliveries each webhook channel keeps"
    keep: int

    def run(self, service: "Service") -> Workspace:
        return service.set_delivery_retention(self.keep)


# --- notification channels, rules and events ----------------------------------------------------
# Each runs its implementation in the notification sub-service (``service/notifications/``),
# one transaction as every command. The dispatcher's bookkeeping there (``enqueue_new_events``,
# ``record_attempts``) is no user's command: the dispatcher calls it directly.
def _webhooks(service: "Service") -> "Webhooks":
    from .notifications import Webhooks  # it imports the service, which imports this module

    return Webhooks(service)


@dataclass(frozen=True, kw_only=True)
class ChannelSettings(Command):
    """A webhook channel's settings, as a create or a replace gives them."""

    channel_name: str
    url: str
    custom_headers: Mapping[str, str] | None = None
    signing_secret: str | None = None
    """Without one, a replaced channel keeps its own and a new one gets a new secret."""
    disabled: bool = False
    metadata: Mapping[str, str] | None = None

    def fields(self) -> ChannelFields:
        return {
            "name": self.channel_name,
            "url": self.url,
            "custom_headers": self.custom_headers,
            "signing_secret": self.signing_secret,
            "disabled": self.disabled,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class CreateChannel(ChannelSettings):
    name = "create_channel"
    summary = "create a webhook channel"

    def run(self, service: "Service") -> Channel:
        return _webhooks(service).create_channel(**self.fields())


@dataclass(frozen=True)
class UpdateChannel(ChannelSettings):
    name = "update_channel"
    summary = "replace a webhook channel's settings"
    channel_id: str

    def run(self, service: "Service") -> Channel:
        return _webhooks(service).update_channel(self.channel_id, **self.fields())


@dataclass(frozen=True)
class DeleteChannel(Command):
    name = "delete_channel"
    summary = "delete a webhook channel no active rule uses"
    channel_id: str

    def run(self, service: "Service") -> Channel:
        return _webhooks(service).delete_channel(self.channel_id)


@dataclass(frozen=True)
class AddChannel(Command):
    """The CLI's and dashboard's shortcut: a channel and its rules in one commit."""

    name = "add_channel"
    summary = "add a webhook channel with a rule per event type (default both)"
    url: str
    event_types: Sequence[str] = ()
    secret: str | None = None

    def run(self, service: "Service") -> tuple[Channel, list[Rule]]:
        return _webhooks(service).add(self.url, secret=self.secret, event_types=self.event_types)


@dataclass(frozen=True)
class RemoveChannel(Command):
    name = "remove_channel"
    summary = "remove a webhook channel, and its rules that have no other channel"
    channel_id: str

    def run(self, service: "Service") -> Channel:
        return _webhooks(service).remove(self.channel_id)


@dataclass(frozen=True, kw_only=True)
class RuleSettings(Command):
    """An invoice rule's settings, as a create or a replace gives them."""

    event_type: str
    """``invoice.created`` or ``invoice.updated``; a replaced rule keeps its own."""
    rule_name: str
    channels: Sequence[str]
    disabled: bool = False
    metadata: Mapping[str, str] | None = None

    def fields(self) -> RuleFields:
        return {
            "type": self.event_type,
            "name": self.rule_name,
            "channels": self.channels,
            "disabled": self.disabled,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class CreateRule(RuleSettings):
    name = "create_rule"
    summary = "create an invoice notification rule"

    def run(self, service: "Service") -> Rule:
        return _webhooks(service).create_rule(**self.fields())


@dataclass(frozen=True)
class UpdateRule(RuleSettings):
    name = "update_rule"
    summary = "replace an invoice notification rule's settings"
    rule_id: str

    def run(self, service: "Service") -> Rule:
        return _webhooks(service).update_rule(self.rule_id, **self.fields())


@dataclass(frozen=True)
class DeleteRule(Command):
    name = "delete_rule"
    summary = "delete a notification rule"
    rule_id: str

    def run(self, service: "Service") -> Rule:
        return _webhooks(service).delete_rule(self.rule_id)


@dataclass(frozen=True)
class SendTestEvent(Command):
    name = "send_test_event"
    summary = "send a rule's test event to its enabled channels"
    rule_id: str

    def run(self, service: "Service") -> Notification:
        return _webhooks(service).test_rule(self.rule_id)


@dataclass(frozen=True)
class Resend(Command):
    name = "resend_event"
    summary = "send a notification event again (same webhook id)"
    notification_id: str
    channels: Sequence[str] = ()
    """Those of its rule's channels to send to (none: every enabled one)."""

    def run(self, service: "Service") -> list[Delivery]:
        return _webhooks(service).resend(self.notification_id, self.channels)


@dataclass(frozen=True)
class Replay(Command):
    name = "replay_event"
    summary = "resend a notification event, or every one of an invoice event"
    ref: str
    """A notification event id or an invoice event id."""

    def run(self, service: "Service") -> list[Delivery]:
        return _webhooks(service).replay(self.ref)


def invoice_commands() -> list[type[InvoiceCommand]]:
    """The registry's commands on one invoice, in registry order."""
    return [kind for kind in COMMANDS.values() if issubclass(kind, InvoiceCommand)]
