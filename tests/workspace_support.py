"""What the tests compare to prove that a refused command changed nothing, and a workout
of every kind of command for tests that check something after each one."""

import contextlib
import json
from pathlib import Path

from tui_billing.domain.errors import BillingError
from tui_billing.domain.models import Invoice
from tui_billing.service import Service
from tui_billing.service.commands import (
    AdvanceClock,
    CreateInvoice,
    SetCallbackResponse,
    SetDeliveryRetention,
    SetHooks,
    SetWorkflow,
    UpdateApp,
    command_from,
    invoice_commands,
)
from tui_billing.store.repository import TABLES


def workspace_files(path: Path) -> dict[str, bytes | None]:
    """The bytes of the workspace and its payload file (None: absent)."""
    payloads = path.with_name(path.name + ".payloads")
    return {p.name: p.read_bytes() if p.is_file() else None for p in (path, payloads)}


def workspace_state(service: Service) -> str:
    """Everything a command could change: every table's rows and the files on disk."""
    tables = {name: service.repository.rows(name) for name in TABLES}
    return json.dumps(tables, sort_keys=True, default=str) + repr(
        workspace_files(Path(service.repository.path))
    )


def workout(service: Service) -> None:
    """Every kind of command on a built demo workspace, for tests that check something
    after each one: a quarter billed with both hooks on, the app, the workflow and the
    settings changed, a refused command, every invoice command on every invoice (the
    callbacks with the ids an ERP would send; refused ones change nothing), a month more."""
    service.execute(SetHooks(draft=True, issuing=True))
    service.execute(AdvanceClock("3mo"))
    service.execute(UpdateApp(app_name="Renamed ERP"))
    service.execute(SetWorkflow(due_after="P7D"))
    service.execute(SetCallbackResponse("no_content"))
    service.execute(SetDeliveryRetention(500))
    with contextlib.suppress(BillingError):
        service.execute(CreateInvoice("no-such-customer"))
    for invoice in service.invoices():
        for kind in invoice_commands():
            for name in kind.variants():
                fields: dict[str, object] = {"invoice": invoice.id, **_callback_ids(invoice, kind.name)}
                if ":" in name:
                    fields["trigger"] = name.partition(":")[2]
                with contextlib.suppress(BillingError):
                    service.execute(command_from(kind.name, fields))
    service.execute(SetHooks(draft=False))
    service.execute(AdvanceClock("1mo"))


def _callback_ids(invoice: Invoice, command: str) -> dict[str, object]:
    """What a callback tells the invoice, so that its step changes what the invoice shows."""
    return {
        "draft_synchronized": {
            "external_id": f"erp-{invoice.id}",
            "line_external_ids": {line.id: f"erp-line-{n}" for n, line in enumerate(invoice.lines)},
        },
        "issuing_synchronized": {"payment_external_id": f"pay-{invoice.id}"},
        "report_failure": {"message": "the ERP is down"},
    }.get(command, {})
