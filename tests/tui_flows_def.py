"""What to show of the dashboard, defined once: the snapshot tests compare these screens,
``export_screenshots.py`` writes them to ``screenshots/``, the pilot tests reuse the keys.

Every shot starts on a fresh demo workspace (``tui_support.open_demo``); invoice numbers
below are the demo's.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from textual.pilot import Pilot

from tui_billing.api import start_serving
from tui_billing.service import Service
from tui_billing.service.commands import DraftSynchronized
from tui_billing.tui.app import BillingApp, ServeOptions
from tui_billing.tui.lanes import LANES, lane_of
from tui_billing.tui.screens.dashboard import Dashboard
from tui_billing.tui.widgets.row_list import RowList

# Keys from the list to a preview tab (tab focuses the tab strip, → moves along it).
TAB_KEYS: dict[str, tuple[str, ...]] = {
    "tab-detail": (),
    "tab-generated": ("tab", "right"),
    "tab-v1": ("tab", "right", "right"),
    "tab-events": ("tab", "right", "right", "right"),
}
SUBMIT = "ctrl+s"
"""Submits any form from any field (enter moves to the next field, and submits on the last)."""

# Demo invoices resting where each shot needs one.
DRAFT_SYNCING = "DRAFT-MORA-16"
MANUAL_APPROVAL = "DRAFT-ROGR-12"
ISSUING_SYNCING = "DRAFT-ROAN-14"
PAYMENT_PENDING = "INV-GOUL-1"


def dashboard(pilot: Pilot[None]) -> Dashboard:
    screen = pilot.app.screen
    assert isinstance(screen, Dashboard), f"expected the dashboard, got {screen!r}"
    return screen


async def select_invoice(pilot: Pilot[None], number: str) -> None:
    """Select the invoice numbered ``number`` with the keys a user would press: → to its
    lane, g to the top of the list, j down to it."""
    screen = dashboard(pilot)
    row = next(r for r in screen.service.invoice_rows() if r["number"] == number)
    target = LANES.index(lane_of(row["status"]))
    await pilot.press(*["right"] * ((target - screen.lane) % len(LANES)), "g")
    rows = screen.query_one("#invoices", RowList).rows
    await pilot.press(*["j"] * next(i for i, r in enumerate(rows) if r["number"] == number))
    await pilot.pause()


def draft_sync_behind_the_back(service: Service) -> None:
    """Another front door (the CLI, the HTTP API) syncs the draft the dashboard shows."""
    service.execute(DraftSynchronized(service.invoice(DRAFT_SYNCING).id))


Request = tuple[str, str, Any]
"""An HTTP call a partner's system makes: method, path, JSON body (None: no body)."""
CALLBACKS = "/api/v1/apps/custom-invoicing"


def partner_calls(service: Service) -> list[Request]:
    """What an ERP does while the dashboard serves: lists invoices, syncs a draft, tries to
    approve an invoice that is not waiting for approval (refused), reports a payment."""
    draft, paid = service.invoice(DRAFT_SYNCING).id, service.invoice(PAYMENT_PENDING).id
    return [
        ("GET", "/api/v1/billing/invoices?pageSize=2", None),
        ("POST", f"{CALLBACKS}/{draft}/draft/synchronized", {"invoicing": {"invoiceNumber": "ERP-2026-77"}}),
        ("POST", f"/api/v1/billing/invoices/{paid}/approve", None),
        ("POST", f"{CALLBACKS}/{paid}/payment/status", {"trigger": "paid"}),
    ]


async def call_api(pilot: Pilot[None], requests: list[Request]) -> None:
    """Make ``requests`` to the API the app serves, then let the dashboard redraw; the
    toasts they raise are cleared, so the screen shows what stays."""
    app = pilot.app
    assert isinstance(app, BillingApp) and app.serving is not None, "the app does not serve the API"
    async with aiohttp.ClientSession() as client:
        for method, path, body in requests:
            async with client.request(method, app.serving.url + path, json=body) as answer:
                await answer.read()
    app._refresh_if_changed()
    await pilot.pause()  # the toasts are messages: shown first, then cleared
    app.clear_notifications()
    await pilot.pause()


@dataclass(frozen=True)
class Shot:
    """One screen: select ``invoice`` (if any), run ``meanwhile`` on the service (if any),
    then press ``keys``; at ``size``, in ``theme``."""

    name: str
    title: str
    keys: tuple[str, ...] = ()
    invoice: str | None = None
    size: tuple[int, int] = (80, 24)
    theme: str | None = None
    meanwhile: Callable[[Service], None] | None = None
    api_calls: Callable[[Service], list[Request]] | None = None
    """HTTP calls made to the API the app serves (on a free port) before the keys."""

    @property
    def serve(self) -> ServeOptions | None:
        """How the app serves the API for this shot (None: it does not)."""
        return ServeOptions(start_serving, port=0) if self.api_calls is not None else None

    async def drive(self, pilot: Pilot[None]) -> None:
        """Bring the app to this shot's screen."""
        await pilot.pause()
        if self.invoice is not None:
            await select_invoice(pilot, self.invoice)
        if self.meanwhile is not None:
            self.meanwhile(dashboard(pilot).service)
        if self.api_calls is not None:
            await call_api(pilot, self.api_calls(dashboard(pilot).service))
        await pilot.press(*self.keys)
        await pilot.pause()


SHOTS: tuple[Shot, ...] = (
    Shot("dashboard-80x24", "The dashboard at 80×24"),
    Shot(
        "dashboard-160x48", "At 160×48: list and preview side by side, the event log docked", size=(160, 48)
    ),
    Shot("dashboard-light", "The billing-light theme at 120×30", size=(120, 30), theme="billing-light"),
    Shot(
        "draft-sync-form", "s on a draft.syncing invoice: the draft synchronized form", ("s",), DRAFT_SYNCING
    ),
    Shot(
        "issuing-sync-form",
        "s on an issuing.syncing invoice: the issuing synchronized form",
        ("s",),
        ISSUING_SYNCING,
    ),
    Shot(
        "payment-chooser",
        "p: the payment chooser, triggers not allowed now disabled with the reason",
        ("p",),
        PAYMENT_PENDING,
    ),
    Shot("delete-confirm", "x: delete asks for y", ("x",), MANUAL_APPROVAL),
    Shot("new-invoice-chooser", "c: a new invoice for a customer", ("c",)),
    Shot("clock-form", "t: advance the simulated clock", ("t",)),
    Shot(
        "clock-form-error", "A malformed duration: the form says why and stays open", ("t", *"soon", "enter")
    ),
    Shot("workflow-form", "w: workflow settings for new invoices", ("w",)),
    Shot("report-failure-form", "f: report a sync failure", ("f",), DRAFT_SYNCING),
    Shot("help", "?: every key and what the panes mean", ("question_mark",)),
    Shot(
        "invoice-generated",
        "The InvoiceGenerated payload of an issued invoice, schema valid",
        TAB_KEYS["tab-generated"],
        PAYMENT_PENDING,
    ),
    Shot(
        "invoice-generated-preview",
        "Before issue: what issuing would emit, not emitted yet",
        TAB_KEYS["tab-generated"],
        MANUAL_APPROVAL,
    ),
    Shot("invoice-v1", "The invoice as OpenMeter's v1 JSON", TAB_KEYS["tab-v1"], PAYMENT_PENDING),
    Shot("invoice-webhooks", "This invoice's webhook events", TAB_KEYS["tab-events"], PAYMENT_PENDING),
    Shot("event-log", "e: every event, newest first, with its payload", ("e",)),
    Shot("integration", "A: the API and webhooks screen (not serving)", ("A",)),
    Shot("endpoint-form", "A then +: add a webhook endpoint", ("A", "plus")),
    Shot("filtered-list", "/ filters the list by number, customer or id", ("slash", *"mora")),
    Shot(
        "tour-80x24",
        "T: a guided tour (webhooks and signatures, step 3): caption, the command it ran, the signed headers",
        ("T", "down", "down", "down", "enter", "right", "right"),
    ),
    Shot(
        "tour-160x48",
        "The same tour step at 160×48",
        ("T", "down", "down", "down", "enter", "right", "right"),
        size=(160, 48),
    ),
    Shot(
        "activity-80x24",
        "Outside activity: the partner's API calls by operation, invoice and status, above the panes",
        api_calls=partner_calls,
    ),
    Shot("activity-160x48", "The activity strip at 160×48", size=(160, 48), api_calls=partner_calls),
    Shot(
        "api-call-80x24",
        "A: the API screen, the newest call's detail: both clocks, request and response bodies",
        ("A",),
        api_calls=partner_calls,
    ),
    Shot(
        "api-call-160x48",
        "The API call detail at 160×48",
        ("A",),
        size=(160, 48),
        api_calls=partner_calls,
    ),
    Shot(
        "certify-80x24",
        "K: the last certify run, the failed check's evidence and what production does",
        ("K",),
    ),
    Shot("certify-160x48", "The Certify screen at 160×48", ("K",), size=(160, 48)),
    Shot(
        "refused-notification",
        "Refused: the invoice moved on meanwhile; nothing changes",
        ("s", SUBMIT),
        DRAFT_SYNCING,
        meanwhile=draft_sync_behind_the_back,
    ),
)
