"""The headless CLI contract: every command, exit codes 0/1/2, messages on stderr, refused
commands change nothing (byte for byte), workspace resolution, JSON shapes, and never a
traceback. Most runs call ``main`` in-process; a few run ``python -m tui_billing``."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO, PROJECT
from workspace_support import workspace_files as files

from tui_billing import workspace
from tui_billing.cli import commands, main
from tui_billing.domain.ids import is_ulid
from tui_billing.service import Service, scenario
from tui_billing.store.repository import TABLES

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Run]


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``main(args)`` with its exit code (argparse exits with 2), stdout and stderr."""
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return Run(code, out, err)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "demo.db"
    scenario.build(path, scenario.load(DEMO)).close()
    return path


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo workspace: one invoice in every resting state, hooks on."""
    path = tmp_path / "demo.db"
    for source in (demo_template, demo_template.with_name(demo_template.name + ".payloads")):
        shutil.copyfile(source, path.with_name(source.name.replace(demo_template.name, path.name)))
    return path


@pytest.fixture
def cli(demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run the CLI on the demo workspace (``--db`` given first)."""
    monkeypatch.delenv(workspace.ENV_VAR, raising=False)
    return lambda *args: run_main(capsys, "--db", str(demo), *args)


@pytest.fixture
def by_status(demo: Path) -> dict[str, str]:
    """The demo invoice id resting in each status."""
    service = Service.open(demo)
    try:
        return {row["status"]: row["id"] for row in service.invoice_rows()}
    finally:
        service.close()


# --- reading -------------------------------------------------------------------------------------
READS: list[tuple[str, ...]] = [
    ("customers",),
    ("customers", "--json"),
    ("invoices",),
    ("invoices", "--json"),
    ("invoices", "--status", "paid"),
    ("invoices", "--status", "draft", "--json"),
    ("show", "{paid}"),
    ("show", "{paid}", "--json"),
    ("show", "{paid}", "--invoice-generated"),
    ("show", "{manual}"),
    ("app",),
    ("app", "--json"),
    ("app", "--v1"),
    ("events",),
    ("events", "--json"),
    ("events", "--invoice", "{paid}"),
    ("hooks",),
    ("workflow",),
    ("clock",),
    ("clock", "show"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_read_commands_succeed_and_write_nothing(
    cli: Cli, demo: Path, by_status: dict[str, str], args: tuple[str, ...]
) -> None:
    ids = {"paid": by_status["paid"], "manual": by_status["draft.manual_approval_needed"]}
    before = files(demo)
    result = cli(*(arg.format(**ids) for arg in args))
    assert (result.code, result.err) == (0, "")
    assert result.out.strip()
    if "--json" in args or "--v1" in args or "--invoice-generated" in args:
        result.json()
    assert files(demo) == before


def test_lists_show_the_demo(cli: Cli, by_status: dict[str, str]) -> None:
    listing = cli("invoices").out
    for invoice_id in by_status.values():
        assert invoice_id in listing
    paid = cli("invoices", "--status", "paid").out.splitlines()
    assert len(paid) == 2 and by_status["paid"] in paid[1]
    drafts = cli("invoices", "--status", "draft", "--json").json()
    assert {i["statusDetails"]["extendedStatus"] for i in drafts} == {
        s for s in by_status if s.startswith("draft.")
    }
    assert cli("clock").out.strip() == "2026-01-01T09:00:00.000Z"
    events = cli("events", "--json").json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {e["event"]["type"] for e in events} >= {"invoice.created", "invoice.updated"}
    one = cli("events", "--invoice", by_status["paid"], "--json").json()
    assert one and {e["invoiceId"] for e in one} == {by_status["paid"]}


# --- writing -------------------------------------------------------------------------------------
def _status(cli: Cli, invoice_id: str) -> str:
    shown = cli("show", invoice_id, "--json")
    assert shown.code == 0
    return shown.json()["statusDetails"]["extendedStatus"]


def _report(cli: Cli, *args: str) -> str:
    """Run an invoice command; its printed status, checked against ``show --json``."""
    result = cli(*args)
    assert (result.code, result.err) == (0, ""), result.err
    invoice_id, number, status = result.out.split()
    assert invoice_id == args[1] and number
    assert _status(cli, invoice_id) == status
    return status


def test_invoice_commands_move_invoices(cli: Cli, by_status: dict[str, str]) -> None:
    s = by_status
    lines = [line["id"] for line in cli("show", s["draft.syncing"], "--json").json()["lines"]]
    assert (
        _report(
            cli,
            "sync-draft",
            s["draft.syncing"],
            "--number",
            "ERP-1",
            "--external-id",
            "erp-1",
            *[f"--line={line_id}=erp-line-{n}" for n, line_id in enumerate(lines)],
        )
        == "draft.waiting_auto_approval"
    )
    assert (
        _report(
            cli,
            "sync-issuing",
            s["issuing.syncing"],
            "--sent-at",
            "2026-01-01T10:00:00Z",
            "--payment-external-id",
            "pay-1",
        )
        == "payment_processing.pending"
    )
    assert _report(cli, "authorize", s["payment_processing.pending"]) == "payment_processing.authorized"
    assert _report(cli, "payment", s["payment_processing.pending"], "paid") == "paid"
    assert _report(cli, "payment", s["payment_processing.failed"], "void") == "voided"
    assert _report(cli, "approve", s["draft.waiting_auto_approval"]) == "issuing.syncing"
    assert _report(cli, "approve", s["draft.manual_approval_needed"]) == "issuing.syncing"
    assert _report(cli, "retry", s["issuing.failed"]) == "issuing.syncing"
    assert _report(cli, "retry", s["draft.sync_failed"]) == "draft.syncing"
    assert _report(cli, "collect", s["draft.waiting_for_collection"]) == "draft.syncing"
    assert (
        _report(cli, "fail", s["draft.waiting_for_collection"], "--message", "ERP down")
        == "draft.sync_failed"
    )
    assert _report(cli, "delete", s["delete.failed"]) == "deleted"
    assert (
        _report(
            cli, "edit", s["draft.invalid"], "--flat", "Platform fee=10.00", "--usage", "API calls=1000@0.01"
        )
        == "draft.waiting_for_collection"
    )
    edited = cli("show", s["draft.invalid"], "--json").json()
    assert [line["name"] for line in edited["lines"]] == ["Platform fee", "API calls"]
    assert _report(cli, "delete", s["draft.invalid"], "--simulate-failure") == "delete.failed"
    assert cli("hooks", "--draft", "off", "--issuing", "off").out.split() == [
        "draft",
        "sync",
        "hook",
        "off",
        "issuing",
        "sync",
        "hook",
        "off",
    ]
    assert _report(cli, "advance", s["draft.sync_failed"]) == "payment_processing.pending"


def test_settings_create_and_clock_commands(cli: Cli) -> None:
    result = cli(
        "workflow",
        "--auto-advance",
        "off",
        "--draft-period",
        "1d",
        "--due-after",
        "P14D",
        "--collection-interval",
        "PT2H",
    )
    assert result.code == 0
    assert result.out.split() == [
        "auto",
        "advance",
        "off",
        "draft",
        "period",
        "P1D",
        "due",
        "after",
        "P14D",
        "collection",
        "interval",
        "PT2H",
    ]
    assert cli("workflow").out == result.out
    key = cli("customers", "--json").json()[0]["key"]
    plain = cli("create", "--customer", key)
    custom = cli("create", "--customer", key, "--flat", "Setup=99.00", "--usage", "API calls=1000@0.01")
    for created in (plain, custom):
        assert created.code == 0 and is_ulid(created.out.strip())
    shown = cli("show", custom.out.strip(), "--json").json()
    assert [(line["name"], line["quantity"]) for line in shown["lines"]] == [
        ("Setup", "1"),
        ("API calls", "1000"),
    ]
    assert shown["statusDetails"]["extendedStatus"] == "draft.waiting_for_collection"
    moved = cli("clock", "advance", "1d")
    assert moved.code == 0
    assert moved.out.startswith("2026-01-01T09:00:00.000Z → 2026-01-02T09:00:00.000Z: ")
    assert cli("clock").out.strip() == "2026-01-02T09:00:00.000Z"
    assert cli("clock", "advance", "PT30M").code == 0
    assert cli("clock", "show").out.strip() == "2026-01-02T09:30:00.000Z"


# --- JSON shapes ---------------------------------------------------------------------------------
def test_show_json_has_openmeter_v1_fields(cli: Cli, by_status: dict[str, str]) -> None:
    invoice_id = by_status["draft.syncing"]
    lines = [line["id"] for line in cli("show", invoice_id, "--json").json()["lines"]]
    cli(
        "sync-draft",
        invoice_id,
        "--external-id",
        "erp-7",
        *[f"--line={line_id}=erp-line-{n}" for n, line_id in enumerate(lines)],
    )
    cli("approve", invoice_id)
    cli("sync-issuing", invoice_id, "--number", "ERP-7", "--payment-external-id", "pay-7")
    shown = cli("show", invoice_id, "--json").json()
    assert shown["id"] == invoice_id
    assert shown["status"] == "payment_processing"
    assert shown["statusDetails"]["extendedStatus"] == "payment_processing.pending"
    assert shown["number"] == "ERP-7"
    assert shown["externalIds"] == {"invoicing": "erp-7", "payment": "pay-7"}
    assert set(shown["metadata"]) >= {
        "openmeter.io/custominvoicing/draft-synced-at",
        "openmeter.io/custominvoicing/finalized-at",
    }
    assert [line["id"] for line in shown["lines"]] == lines
    assert [line["externalIds"]["invoicing"] for line in shown["lines"]] == [
        f"erp-line-{n}" for n in range(len(lines))
    ]
    assert RFC3339.match(shown["issuedAt"]) and RFC3339.match(shown["dueAt"])


def test_show_lists_each_line_with_its_detailed_lines_indented(cli: Cli, by_status: dict[str, str]) -> None:
    invoice_id = by_status["draft.syncing"]
    shown = cli("show", invoice_id, "--json").json()
    usage = next(line for line in shown["lines"] if line["price"]["type"] == "unit")
    detail = usage["children"][0]["id"]
    cli("sync-draft", invoice_id, f"--line={detail}=erp-usage")
    text = cli("show", invoice_id).out
    assert f"    {usage['id']}  {usage['name']}: {usage['quantity']} × unit price" in text
    assert f"      {detail}  {usage['name']}: usage in period: " in text
    assert ", in arrears  ext=erp-usage\n" in text


def test_show_invoice_generated(cli: Cli, by_status: dict[str, str]) -> None:
    issued = cli("show", by_status["overdue"], "--invoice-generated")
    assert (issued.code, issued.err) == (0, "")
    payload = issued.json()
    assert payload["invoiceId"] == by_status["overdue"] and payload["status"] == "overdue"
    assert {
        "invoiceNumber",
        "customerId",
        "subscriptionId",
        "planId",
        "invoiceDate",
        "dueDate",
        "lineItems",
        "subtotal",
        "tax",
        "total",
        "currency",
        "billingPeriod",
    } <= set(payload)
    preview = cli("show", by_status["draft.manual_approval_needed"], "--invoice-generated")
    assert preview.code == 0 and "not emitted yet" in preview.err
    assert preview.json()["invoiceId"] == by_status["draft.manual_approval_needed"]


def test_app_json_is_the_v3_object(cli: Cli) -> None:
    app = cli("app", "--json").json()
    assert app["type"] == "external_invoicing"
    assert is_ulid(app["id"]) and app["name"] == "External Invoicing (demo)"
    assert app["enable_draft_sync_hook"] is True and app["enable_issuing_sync_hook"] is True
    assert app["definition"]["type"] == "external_invoicing"
    cli("hooks", "--draft", "off")
    assert cli("app", "--json").json()["enable_draft_sync_hook"] is False
    assert cli("app", "--v1").json()["type"] == "custom_invoicing"


# --- refusals --------------------------------------------------------------------------------------
REFUSALS: list[tuple[tuple[str, ...], str]] = [
    (("approve", "{paid}"), "approve is not allowed in paid"),
    (("sync-draft", "{paid}"), "paid"),
    (("sync-issuing", "{paid}"), "paid"),
    (("fail", "{paid}"), "a sync failure can be reported only"),
    (("edit", "{paid}", "--flat", "X=1"), "not allowed in paid"),
    (("edit", "{manual}"), "an edit needs at least one --flat or --usage line"),
    (("payment", "{paid}", "void"), "not allowed in paid"),
    (("delete", "{paid}"), "not allowed in paid"),
    (("show", UNKNOWN_ID), f"no invoice '{UNKNOWN_ID}'"),
    (("payment", "nope", "paid"), "no invoice 'nope'"),
    (("events", "--invoice", "nope"), "no invoice 'nope'"),
    (("create", "--customer", "nobody"), "no customer 'nobody'"),
    (("create", "--customer", "{customer}", "--flat", "Setup=lots"), "Setup"),
    (("create", "--customer", "{customer}", "--flat", "no equals sign"), "is not a line"),
    (("create", "--customer", "{customer}", "--usage", "API calls=1000"), "needs a unit price"),
    (("create", "--customer", "{customer}", "--usage", "API calls=many@0.01"), "quantity"),
    (("sync-draft", "{syncing}", "--line", "no-separator"), "write it as LINE_ID=EXTERNAL_ID"),
    (("sync-draft", "{syncing}", "--line", f"{UNKNOWN_ID}=x"), f"has no line {UNKNOWN_ID}"),
    (("sync-draft", "{syncing}", "--external-id", " "), "external id must not be empty"),
    (("sync-issuing", "{issuing}", "--sent-at", "yesterday"), "must be an RFC 3339 time"),
    (("sync-issuing", "{issuing}", "--sent-at", "2026-01-02T10:00:00"), "needs a time zone"),
    (("clock", "advance", "soon"), "'soon' is not a duration"),
    (("clock", "advance", "P0D"), "the clock only moves forward"),
    (("workflow", "--due-after", "30 days"), "is not a duration"),
    (("init",), "already exists; pass --force to replace it"),
    (("init", "--force", "--now", "tomorrow"), "--now must be an RFC 3339 time"),
    (("init", "--force", "--customers", "0"), "--customers must be between 1 and 10,000"),
    (("init", "--force", "--scenario", "missing.json"), "no scenario file missing.json"),
]


@pytest.mark.parametrize(("args", "message"), REFUSALS, ids=[" ".join(args) for args, _ in REFUSALS])
def test_refused_commands_exit_1_and_change_nothing(
    cli: Cli, demo: Path, by_status: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    ids = {
        "paid": by_status["paid"],
        "manual": by_status["draft.manual_approval_needed"],
        "syncing": by_status["draft.syncing"],
        "issuing": by_status["issuing.syncing"],
        "customer": cli("customers", "--json").json()[0]["key"],
    }
    before = files(demo)
    result = cli(*(arg.format(**ids) for arg in args))
    assert result.code == 1
    assert result.err.startswith("tui-billing: ") and result.err.count("\n") == 1
    assert message in result.err
    assert result.out == ""
    assert files(demo) == before


def test_a_failing_scenario_replaces_nothing(cli: Cli, demo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {
                "name": "broken",
                "clock": "2026-01-01T09:00:00Z",
                "steps": [
                    {"do": "create_invoice", "customer": 0, "flat": ["Fee=1"], "as": "a"},
                    {"do": "approve", "invoice": "$a"},
                ],
            }
        )
    )
    before = files(demo)
    result = cli("init", "--force", "--scenario", str(broken))
    assert result.code == 1 and "scenario broken, step 2 (approve)" in result.err
    assert files(demo) == before
    fresh = tmp_path / "fresh.db"
    assert cli("--db", str(fresh), "init", "--scenario", str(broken)).code == 1
    assert not fresh.exists() and not fresh.with_name("fresh.db.payloads").exists()


USAGE_ERRORS: list[tuple[str, ...]] = [
    ("frobnicate",),
    ("payment", "{paid}", "bogus"),
    ("payment", "{paid}"),
    ("hooks", "--draft", "maybe"),
    ("clock", "advance"),
    ("clock", "rewind"),
    ("show",),
    ("show", "{paid}", "--json", "--invoice-generated"),
    ("invoices", "--status", "bogus"),
    ("init", "--seed", "abc"),
    ("create",),
    ("approve",),
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=" ".join)
def test_usage_errors_exit_2(cli: Cli, demo: Path, by_status: dict[str, str], args: tuple[str, ...]) -> None:
    before = files(demo)
    result = cli(*(arg.format(paid=by_status["paid"]) for arg in args))
    assert result.code == 2
    assert "usage: tui-billing" in result.err and "error:" in result.err
    assert files(demo) == before


def test_help_exits_0(cli: Cli) -> None:
    result = cli("--help")
    assert result.code == 0 and "sync-draft" in result.out


def test_an_unexpected_error_is_one_line_not_a_traceback(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(commands.HANDLERS, "hooks", broken)
    monkeypatch.delenv("TUI_BILLING_DEBUG", raising=False)
    result = cli("hooks")
    assert result.code == 1
    assert result.err == (
        "tui-billing: unexpected error: RuntimeError('boom') (set TUI_BILLING_DEBUG=1 for details)\n"
    )


# --- the workspace file ------------------------------------------------------------------------------
def test_init_refuses_to_overwrite_without_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "ws.db"
    created = run_main(capsys, "--db", str(path), "init", "--seed", "3", "--customers", "2")
    assert created.code == 0 and created.out == f"created workspace {path} (0 invoices)\n"
    before = files(path)
    again = run_main(capsys, "--db", str(path), "init", "--seed", "4")
    assert again.code == 1 and "already exists; pass --force" in again.err
    assert files(path) == before
    forced = run_main(
        capsys,
        "--db",
        str(path),
        "init",
        "--seed",
        "4",
        "--customers",
        "3",
        "--now",
        "2026-03-01T00:00:00Z",
        "--force",
    )
    assert forced.code == 0
    assert len(run_main(capsys, "--db", str(path), "customers", "--json").json()) == 3
    assert run_main(capsys, "--db", str(path), "clock").out == "2026-03-01T00:00:00.000Z\n"


def test_init_scenario_reports_its_invoices(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "ws.db"
    result = run_main(capsys, "--db", str(path), "init", "--scenario", str(DEMO))
    assert result.code == 0 and result.out == f"created workspace {path} (18 invoices)\n"


def test_db_flag_wins_over_the_environment(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.db"
    assert run_main(capsys, "--db", str(other), "init", "--seed", "99", "--customers", "1").code == 0
    monkeypatch.setenv(workspace.ENV_VAR, str(demo))
    from_env = run_main(capsys, "customers", "--json").json()
    from_flag = run_main(capsys, "--db", str(other), "customers", "--json").json()
    assert len(from_env) == 6 and len(from_flag) == 1
    assert run_main(capsys, "invoices", "--status", "paid").out.count("\n") == 2


def test_without_db_or_environment_the_user_data_dir_gets_the_demo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "data" / "tui-billing" / "workspace.db"
    monkeypatch.delenv(workspace.ENV_VAR, raising=False)
    monkeypatch.setattr(workspace, "default_path", lambda: default)
    result = run_main(capsys, "invoices", "--status", "paid")
    assert result.code == 0 and default.exists()
    assert len(run_main(capsys, "invoices", "--json").json()) == 18


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))


UNUSABLE: dict[str, tuple[Callable[[Path], None], str]] = {
    "corrupt": (_corrupt, "is damaged at line"),
    "foreign": (
        lambda path: path.write_text('{"_default": {"1": {"a": 1}}}'),
        "is not a tui-billing workspace; it was left as it is",
    ),
    "empty": (lambda path: path.write_bytes(b""), "is not a tui-billing workspace"),
    "a directory": (lambda path: (path.unlink(), path.mkdir()), "Is a directory"),
}


@pytest.mark.parametrize("kind", sorted(UNUSABLE))
@pytest.mark.parametrize(
    "command", [("invoices",), ("payment", "{paid}", "paid"), ("hooks", "--draft", "off")], ids=" ".join
)
def test_an_unusable_workspace_exits_1_untouched(
    cli: Cli, demo: Path, by_status: dict[str, str], kind: str, command: tuple[str, ...]
) -> None:
    damage, message = UNUSABLE[kind]
    damage(demo)
    before = files(demo)
    result = cli(*(arg.format(paid=by_status["paid"]) for arg in command))
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("tui-billing: ") and message in result.err
    assert files(demo) == before


def test_a_locked_workspace_exits_1_untouched(cli: Cli, demo: Path, by_status: dict[str, str]) -> None:
    holder = Service.open(demo)
    try:
        before = files(demo)
        result = cli("payment", by_status["payment_processing.pending"], "paid")
        assert result.code == 1
        assert f"already open in another tui-billing process (pid {os.getpid()})" in result.err
        assert files(demo) == before
    finally:
        holder.close()
    assert cli("payment", by_status["payment_processing.pending"], "paid").code == 0


def _recording_close(close: Callable[[Service], None], copies: list[Path]) -> Callable[[Service], None]:
    """``Service.close`` that notes the copies it closes."""

    def recording(service: Service) -> None:
        if service.snapshot_of is not None:
            copies.append(service.repository.path)
        close(service)

    return recording


def test_reading_commands_work_beside_a_holder_from_a_copy(
    cli: Cli, demo: Path, by_status: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a dashboard or ``serve`` holds the workspace, commands that only read show it
    as of now (from a copy, said on stderr); writes are still refused, and nothing changes."""
    assert cli("webhooks", "add", "http://127.0.0.1:9/hooks").code == 0
    holder = Service.open(demo)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    copies: list[Path] = []
    monkeypatch.setattr(Service, "close", _recording_close(Service.close, copies))
    try:
        before = files(demo)
        listed = cli("webhooks", "list", "--json")
        assert listed.code == 0 and listed.json()[0]["signingSecret"].startswith("whsec_")
        assert listed.err == (
            f"tui-billing: note: {demo} is open in another tui-billing process; showing it as of now\n"
        )
        paid = by_status["paid"]
        for args in (
            ("invoices",),
            ("show", paid),
            ("events", "--invoice", paid),
            ("webhooks", "deliveries"),
        ):
            result = cli(*args)
            assert result.code == 0 and result.out, args
        assert paid in cli("invoices", "--json").out
        refused = cli("hooks", "--draft", "off")
        assert refused.code == 1 and "is already open in another tui-billing process" in refused.err
        assert files(demo) == before
        assert copies and all(c.parent.parent == scratch for c in copies)
        assert list(scratch.iterdir()) == []  # each copy went with its command
    finally:
        holder.close()
    assert cli("invoices").err == ""  # no holder: read as usual


def test_serve_on_a_new_path_creates_the_demo_workspace(process_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "new" / "demo.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_billing", "--db", str(path), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=process_env,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == f"created the demo workspace {path}\n"
        banner = process.stdout.readline()
        assert banner.startswith("tui-billing API on http://127.0.0.1:"), banner
        process.stdout.readline()
        # An answer means the loop waits for Ctrl-C, its handler in place.
        with urllib.request.urlopen(banner.split()[3] + "/api/v1/apps", timeout=30) as answer:
            assert answer.status == 200
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    service = Service.open(path)
    try:
        assert len(service.invoice_rows()) > 10  # the demo's invoices
    finally:
        service.close()


# --- determinism -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "how", [("--scenario", str(DEMO)), ("--seed", "11", "--customers", "9")], ids=" ".join
)
def test_the_same_seed_builds_the_same_bytes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, how: tuple[str, ...]
) -> None:
    built = []
    for name in ("one", "two"):
        path = tmp_path / name / "ws.db"
        assert run_main(capsys, "--db", str(path), "init", *how).code == 0
        built.append(files(path))
    assert built[0] == built[1]
    assert all(content is not None for content in built[0].values())


def test_every_table_is_stored(demo: Path) -> None:
    header = json.loads(demo.read_bytes().split(b"\n", 1)[0])
    assert header["tables"] == list(TABLES)


# --- real processes ----------------------------------------------------------------------------------
@pytest.fixture
def process_env(tmp_path: Path) -> dict[str, str]:
    """An environment for ``python -m tui_billing``: no workspace variable, a private home."""
    env = {k: v for k, v in os.environ.items() if k not in (workspace.ENV_VAR, "TUI_BILLING_DEBUG")}
    env |= {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "home" / "data")}
    return env


def tui_billing(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "tui_billing", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT,
        timeout=120,
    )
    assert "Traceback" not in result.stderr
    return result


def test_processes_exit_codes_and_messages(process_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "ws.db"
    created = tui_billing(process_env, "--db", str(path), "init", "--scenario", str(DEMO))
    assert created.returncode == 0 and "(18 invoices)" in created.stdout
    process_env[workspace.ENV_VAR] = str(path)
    listing = tui_billing(process_env, "invoices", "--status", "paid")
    assert listing.returncode == 0 and listing.stdout.count("\n") == 2
    paid = listing.stdout.splitlines()[1].split()[0]
    before = files(path)
    refused = tui_billing(process_env, "approve", paid)
    assert refused.returncode == 1 and refused.stderr == "tui-billing: approve is not allowed in paid\n"
    usage = tui_billing(process_env, "payment", paid, "bogus")
    assert usage.returncode == 2 and "invalid choice: 'bogus'" in usage.stderr
    assert files(path) == before


def test_processes_refuse_a_locked_or_corrupt_workspace(process_env: dict[str, str], demo: Path) -> None:
    holder = Service.open(demo)
    try:
        before = files(demo)
        locked = tui_billing(process_env, "--db", str(demo), "hooks", "--draft", "off")
        assert locked.returncode == 1 and locked.stdout == ""
        assert locked.stderr == (
            f"tui-billing: workspace {demo} is already open in another tui-billing "
            f"process (pid {os.getpid()}); close it first or use another --db\n"
        )
        assert files(demo) == before
    finally:
        holder.close()
    _corrupt(demo)
    before = files(demo)
    corrupt = tui_billing(process_env, "--db", str(demo), "hooks", "--draft", "off")
    assert corrupt.returncode == 1 and "is damaged at line" in corrupt.stderr
    assert files(demo) == before
