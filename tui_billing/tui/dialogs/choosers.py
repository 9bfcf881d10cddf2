"""Choosers and confirmations."""

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Checkbox, OptionList, Static
from textual.widgets.option_list import Option

from ...domain.models import Customer, Invoice
from ...domain.status import PaymentTrigger, Status
from ...service.commands import AuthorizePayment, CreateInvoice, Delete, PaymentStatus
from .base import Dialog


class PaymentChooser(Dialog[PaymentStatus | AuthorizePayment]):
    """The six payment triggers; those not allowed now are disabled with the reason."""

    TITLE_TEXT = "Payment status"
    HINT = "↑↓ choose · enter: report · esc: cancel"

    def __init__(self, invoice: Invoice, actions: dict[str, Status]) -> None:
        super().__init__()
        self.invoice = invoice
        self.actions = actions

    def fields(self) -> ComposeResult:
        options = []
        choices = [(t.value, f"{PaymentStatus.name}:{t.value}") for t in PaymentTrigger]
        choices.append(("authorized", AuthorizePayment.name))
        for trigger, action in choices:
            target = self.actions.get(action)
            note = f"→ {target.value}" if target else f"not allowed in {self.invoice.status.value}"
            label = "authorized (simulator)" if trigger == "authorized" else trigger  # fits its column
            options.append(Option(f"{label:<22} {note}", id=trigger, disabled=target is None))
        yield OptionList(*options, id="payment-options")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        enabled = [i for i, o in enumerate(option_list.options) if not o.disabled]
        if enabled:
            option_list.highlighted = enabled[0]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._report(event.option.id or "")

    def action_submit(self) -> None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is not None:
            option = option_list.options[option_list.highlighted]
            if not option.disabled:
                self._report(option.id or "")

    def _report(self, trigger: str) -> None:
        invoice_id = self.invoice.id
        self.dismiss(
            AuthorizePayment(invoice_id) if trigger == "authorized" else PaymentStatus(invoice_id, trigger)
        )


class CustomerChooser(Dialog[CreateInvoice]):
    """Pick the customer of a new invoice: its plan's fee plus Faker usage."""

    TITLE_TEXT = "New invoice for…"
    HINT = "↑↓ choose · enter: create · esc: cancel"

    def __init__(self, customers: list[Customer], plans: dict[str, str]) -> None:
        super().__init__()
        self.customers = customers
        self.plans = plans

    def fields(self) -> ComposeResult:
        yield OptionList(
            *[
                Option(f"{c.name} · {c.currency} · {self.plans.get(c.plan_id, '')}", id=c.key)
                for c in self.customers
            ],
            id="customer-options",
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(CreateInvoice(event.option.id or ""))

    def action_submit(self) -> None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is not None:
            self.dismiss(CreateInvoice(option_list.options[option_list.highlighted].id or ""))


class ConfirmDelete(Dialog[Delete]):
    """Delete needs a second, different key: ``y`` confirms (``x`` started it)."""

    TITLE_TEXT = "Delete invoice?"
    HINT = "y: delete · esc/n: keep it"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "submit", "Delete", id="confirm.yes"),
        Binding("n", "cancel", "Keep", id="confirm.no"),
    ]

    def __init__(self, invoice: Invoice) -> None:
        super().__init__()
        self.invoice = invoice

    def fields(self) -> ComposeResult:
        yield Static(f"{self.invoice.number} ({self.invoice.status.value}) will be deleted.")
        yield Checkbox("simulate the app failing to delete it (→ delete.failed)", id="simulate-failure")

    def action_submit(self) -> None:
        self.dismiss(
            Delete(self.invoice.id, simulate_failure=self.query_one("#simulate-failure", Checkbox).value)
        )


class Confirm(Dialog[bool]):
    """A change that cannot be undone needs a second, different key: ``y`` confirms."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "submit", "Yes", id="confirm.yes"),
        Binding("n", "cancel", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, message: str, verb: str) -> None:
        """``verb`` is what ``y`` does ("remove"), for the hint."""
        super().__init__()
        self.TITLE_TEXT = title
        self.HINT = f"y: {verb} · esc/n: keep it"
        self.message = message

    def fields(self) -> ComposeResult:
        yield Static(self.message)

    def action_submit(self) -> None:
        self.dismiss(True)
