"""The command registry: one list of typed commands that every front door reaches.

A hypothetical command added as a class alone (``Void``, a lifecycle trigger) is run by
``Service.execute``, shown by ``Service.actions``/``refusals``, offered by the CLI and
accepted by scenario files, with no other change.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import FIXED_CLOCK, SEED

from tui_billing.cli import main
from tui_billing.domain.errors import InvalidValue, NotAllowed
from tui_billing.domain.linespec import FlatFee
from tui_billing.domain.notifications import Channel
from tui_billing.domain.status import Status, Trigger
from tui_billing.service import Service
from tui_billing.service.commands import (
    COMMANDS,
    CreateInvoice,
    FireTrigger,
    SetHooks,
    command_from,
    invoice_commands,
)
from tui_billing.service.notifications import Webhooks
from tui_billing.service.scenario import Saved, Step, run_step


@pytest.fixture
def void_command() -> Iterator[type[FireTrigger]]:
    """A command the simulator does not have: voiding an issued invoice from the billing side."""

    @dataclass(frozen=True)
    class Void(FireTrigger):
        name = "void_invoice"
        summary = "void an issued invoice"
        trigger = Trigger.VOID

    yield Void
    del COMMANDS[Void.name]


def _pending(service: Service) -> str:
    service.execute(SetHooks(draft=False, issuing=False))
    invoice = service.execute(CreateInvoice(service.customers()[0].key, [FlatFee("Fee", Decimal(10))]))
    assert invoice.status is Status.PP_PENDING
    return str(invoice.id)


def test_a_new_trigger_command_needs_only_its_class(
    void_command: type[FireTrigger], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ws.db"
    service = Service.create(db, seed=SEED, now=FIXED_CLOCK)
    pending = _pending(service)
    invoice = service.invoice(pending)
    assert service.actions(invoice)["void_invoice"] is Status.VOIDED
    draft = service.execute(CreateInvoice(service.customers()[1].key))  # waits for usage collection
    assert "void_invoice" in service.refusals(draft)
    with pytest.raises(NotAllowed, match="void is not allowed in"):
        service.execute(void_command(draft.id))
    run_step(service, Step(do="void_invoice", invoice=pending), {}, "scenario x, step 1")  # type: ignore[call-arg]
    assert service.invoice(pending).status is Status.VOIDED
    service.close()

    other = _pending(reopened := Service.open(db))
    reopened.close()
    assert main(["--db", str(db), "void-invoice", other]) == 0
    assert capsys.readouterr().out.split()[-1] == "voided"


def test_every_command_has_a_unique_name_and_summary() -> None:
    assert len(COMMANDS) == len({kind.__name__ for kind in COMMANDS.values()})
    assert all(kind.summary and kind.name == name for name, kind in COMMANDS.items())
    assert {"draft_synchronized", "payment_status:paid", "report_failure"} <= {
        variant for kind in invoice_commands() for variant in kind.variants()
    }


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("refund", {"invoice": "x"}, "unknown command 'refund'"),
        ("approve", {}, "approve: invoice: Field required"),
        ("set_hooks", {"draft": "maybe"}, "set_hooks: draft:"),
        ("payment_status", {"invoice": "x", "trigger": "refund"}, "'refund' is not a payment trigger"),
    ],
)
def test_a_command_from_a_file_names_what_is_wrong(
    name: str, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidValue, match=message):
        command_from(name, fields)


FRONT_DOORS = ["api", "cli", "tui", "certify"]
COMMAND_METHODS = {
    "draft_synchronized",
    "issuing_synchronized",
    "report_failure",
    "create_invoice",
    "edit_invoice",
    "replace_invoice",
    "set_hooks",
    "set_workflow",
    "change_app",
    "fire",
    "set_callback_response",
    "set_delivery_retention",
    "advance_clock",
}
WEBHOOK_COMMAND_METHODS = {
    "create_channel",
    "update_channel",
    "delete_channel",
    "add",
    "remove",
    "create_rule",
    "update_rule",
    "delete_rule",
    "test_rule",
    "resend",
    "replay",
}
"""The notification sub-service's command implementations (called on a ``Webhooks``)."""


def test_front_doors_change_the_workspace_only_through_execute() -> None:
    """No front door calls a command's handler on the service or on its notification
    sub-service: each goes through ``Service.execute`` with a command of the registry."""
    assert all(callable(getattr(Webhooks, method, None)) for method in WEBHOOK_COMMAND_METHODS)
    package = Path(__file__).resolve().parents[1] / "tui_billing"
    offenders = []
    for door in FRONT_DOORS:
        for path in (package / door).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                receiver = ast.unparse(node.func.value)
                if (node.func.attr in COMMAND_METHODS and receiver.endswith("service")) or (
                    node.func.attr in WEBHOOK_COMMAND_METHODS and "hooks" in receiver.lower()
                ):
                    offenders.append(f"{path.relative_to(package)}:{node.lineno} {node.func.attr}")
    assert offenders == []


def test_a_scenario_step_creates_a_channel_and_a_rule(service: Service) -> None:
    """Notification commands are registry commands: a scenario, tour or certify step names them."""
    channel = run_step(
        service,
        Step(do="create_channel", channel_name="Partner", url="http://127.0.0.1:9/hooks"),  # type: ignore[call-arg]
        {},
        "scenario x, step 1",
    )
    rule = run_step(
        service,
        Step(do="create_rule", event_type="invoice.created", rule_name="New invoices", channels=[channel.id]),  # type: ignore[call-arg]
        {},
        "scenario x, step 2",
    )
    hooks = Webhooks(service)
    assert hooks.channels() == [channel] and channel.name == "Partner"
    assert hooks.rules() == [rule] and (rule.type, rule.channels) == ("invoice.created", [channel.id])
    with pytest.raises(InvalidValue, match=r"scenario x, step 3 \(create_rule\): .*unknown rule type"):
        run_step(
            service,
            Step(do="create_rule", event_type="invoice.paid", rule_name="x", channels=[channel.id]),  # type: ignore[call-arg]
            {},
            "scenario x, step 3",
        )


def test_a_step_saves_a_channel_and_a_rule_as_a_name_later_steps_use(service: Service) -> None:
    """``as`` saves any result with an id, so a scenario can wire a channel into a rule."""
    saved: dict[str, Saved] = {}
    steps = [
        Step.model_validate({"do": "add_channel", "url": "http://127.0.0.1:9/a", "as": "quick"}),
        Step.model_validate(
            {"do": "create_channel", "channel_name": "ERP", "url": "http://127.0.0.1:9/b", "as": "erp"}
        ),
        Step.model_validate(
            {
                "do": "create_rule",
                "event_type": "invoice.updated",
                "rule_name": "r",
                "channels": ["$erp"],
                "as": "rule",
            }
        ),
        Step.model_validate(
            {
                "do": "update_rule",
                "rule_id": "$rule",
                "event_type": "invoice.updated",
                "rule_name": "renamed",
                "channels": ["$erp", "$quick"],
            }
        ),
    ]
    for number, step in enumerate(steps, start=1):
        run_step(service, step, saved, f"scenario x, step {number}")
    hooks = Webhooks(service)
    quick, erp = saved["quick"], saved["erp"]
    assert isinstance(quick, Channel) and isinstance(erp, Channel) and erp.name == "ERP"
    assert quick.id in {channel.id for channel in hooks.channels()}
    renamed = next(rule for rule in hooks.rules() if rule.id == saved["rule"].id)
    assert (renamed.name, renamed.channels) == ("renamed", [erp.id, quick.id])

    with pytest.raises(
        InvalidValue, match=r"'\$erp.lines.0': write \$name, or \$name.lines.N for a saved invoice"
    ):
        run_step(
            service, Step.model_validate({"do": "delete_channel", "channel_id": "$erp.lines.0"}), saved, "s"
        )
    with pytest.raises(
        InvalidValue, match=r"^s \(set_callback_response\): \"as\" saves an invoice, a channel"
    ):
        run_step(
            service,
            Step.model_validate({"do": "set_callback_response", "mode": "no_content", "as": "x"}),
            saved,
            "s",
        )
    assert "x" not in saved and service.workspace().callback_response == "invoice"
