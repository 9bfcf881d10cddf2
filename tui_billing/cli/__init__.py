"""The headless CLI: a stable contract for tests, scripts and partners' CI.

Exit codes: 0 success; 1 the command was refused (wrong state, unknown id, invalid value,
unusable workspace) with the reason on stderr and nothing changed; 2 usage errors.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from pydantic import ValidationError

from .. import settings as user_settings
from .. import workspace
from ..certify import cli as certify_cli
from ..domain.errors import BillingError
from ..domain.status import PaymentTrigger, Status
from ..service.scenario import MAX_CUSTOMERS
from . import conventions, demo, serving
from .commands import HANDLERS, fire, trigger_commands
from .conventions import paint

SHORT_STATUSES = sorted({status.short for status in Status})


def _on_off(text: str) -> bool:
    if text.lower() in ("on", "true", "yes", "1"):
        return True
    if text.lower() in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def build_parser(settings: user_settings.Settings | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; ``settings`` (the user's settings file) give some defaults."""
    settings = settings or user_settings.Settings()
    parser = argparse.ArgumentParser(
        prog="tui-billing",
        description="Simulate OpenMeter's External Invoicing lifecycle. Without a command, "
        "opens the dashboard on the workspace (creating the demo one on first start).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('tui-billing')}")
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="workspace file (default: $TUI_BILLING_DB, "
        "else the settings file's workspace, else a file in your user data directory)",
    )
    dash = parser.add_argument_group("dashboard (no COMMAND)")
    serve_at = f"{settings.server.host}:{settings.server.port}"
    dash.add_argument(
        "--serve",
        nargs="?",
        const=serve_at,
        metavar="[HOST:]PORT",
        help=f"also serve the HTTP API and send webhooks from the dashboard (default {serve_at})",
    )
    dash.add_argument(
        "--token", dest="dashboard_token", metavar="T", help="with --serve: require Authorization: Bearer T"
    )
    dash.add_argument(
        "--callback-response",
        dest="dashboard_callback_response",
        choices=["invoice", "no_content"],
        help="with --serve: override the workspace's callback answer for this run",
    )
    dash.add_argument(
        "--theme",
        dest="dashboard_theme",
        metavar="NAME",
        help="billing-dark (the default) or billing-light, or any Textual theme",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text)

    def invoice_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = command(name, help_text)
        p.add_argument("id", metavar="ID", help="invoice id (or its unique number)")
        return p

    p = command("init", "create a workspace")
    p.add_argument("--seed", type=int, default=7, help="Faker seed (default 7): same seed, same workspace")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--scenario", metavar="NAME|FILE", help="replay a scenario: a packaged one by name (demo) or a file"
    )
    source.add_argument(
        "--demo",
        action="store_true",
        help="rebuild the demo workspace from the packaged demo scenario, "
        "replacing the workspace (a reset; same as --scenario demo --force)",
    )
    p.add_argument(
        "--customers",
        type=int,
        default=6,
        help=f"customers to generate (default 6, at most {MAX_CUSTOMERS:,})",
    )
    p.add_argument(
        "--now", metavar="RFC3339", help="start of the simulated clock (default 2026-01-01T09:00:00Z)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing workspace")

    command("customers", "list customers").add_argument("--json", action="store_true")
    p = command("invoices", "list invoices, oldest first")
    p.add_argument(
        "--status",
        choices=SHORT_STATUSES,
        metavar="SHORT",
        help=f"only this short status ({', '.join(SHORT_STATUSES)})",
    )
    p.add_argument("--json", action="store_true", help="OpenMeter v1 invoice objects")
    p = invoice_command("show", "show one invoice")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="OpenMeter v1 JSON")
    fmt.add_argument("--invoice-generated", action="store_true", help="the InvoiceGenerated payload")
    p = command("app", "show the External Invoicing app")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="v3 BillingAppExternalInvoicing object")
    fmt.add_argument("--v1", action="store_true", help="v1 app object (GET /api/v1/apps/{id})")
    p = command("events", "list the event log, oldest first")
    p.add_argument("--invoice", metavar="ID", help="only this invoice's events")
    p.add_argument("--json", action="store_true", help="full events, one JSON array")

    p = command("hooks", "show or set the sync hooks")
    p.add_argument("--draft", type=_on_off, metavar="on|off", help="enable_draft_sync_hook")
    p.add_argument("--issuing", type=_on_off, metavar="on|off", help="enable_issuing_sync_hook")
    p = command("workflow", "show or set the workflow for new invoices")
    p.add_argument("--auto-advance", type=_on_off, metavar="on|off")
    p.add_argument("--draft-period", metavar="DUR", help="ISO-8601 duration, e.g. P1D")
    p.add_argument("--due-after", metavar="DUR", help="ISO-8601 duration, e.g. P30D")
    p.add_argument("--collection-interval", metavar="DUR", help="ISO-8601 duration, e.g. PT1H")

    for name, help_text in (
        ("create", "create an invoice; prints its id"),
        ("edit", "replace a draft invoice's lines (the updated trigger)"),
    ):
        p = command(name, help_text) if name == "create" else invoice_command(name, help_text)
        if name == "create":
            p.add_argument("--customer", required=True, metavar="KEY", help="customer key or id")
        p.add_argument("--flat", action="append", default=[], metavar='"NAME=AMOUNT"')
        p.add_argument("--usage", action="append", default=[], metavar='"NAME=QTY@UNIT_PRICE"')

    p = invoice_command("sync-draft", "fire the draft synchronized callback")
    p.add_argument("--number", metavar="N", help="invoice number to set")
    p.add_argument("--external-id", metavar="X", help="external invoicing id")
    p.add_argument("--line", action="append", default=[], metavar="LINE_ID=EXTERNAL_ID")
    p = invoice_command("sync-issuing", "fire the issuing synchronized callback")
    p.add_argument("--number", metavar="N", help="invoice number to set")
    p.add_argument("--sent-at", metavar="RFC3339", help="sentToCustomerAt")
    p.add_argument("--payment-external-id", metavar="X")
    p = invoice_command("payment", "fire the payment status callback")
    p.add_argument(
        "trigger",
        choices=[t.value for t in PaymentTrigger],
        metavar="TRIGGER",
        help=", ".join(t.value for t in PaymentTrigger),
    )

    for name, kind in trigger_commands().items():
        invoice_command(name, kind.summary).set_defaults(handler=fire)
    p = invoice_command("delete", "delete a draft or issuing invoice")
    p.add_argument("--simulate-failure", action="store_true", help="the app fails to delete: delete.failed")
    p = invoice_command("fail", "report a sync failure (draft.syncing or issuing.syncing)")
    p.add_argument("--message", help="what the external system reported")

    p = command("clock", "show or advance the simulated clock")
    p.add_argument("action", nargs="?", choices=["show", "advance"], default="show")
    p.add_argument("duration", nargs="?", metavar="DURATION", help="e.g. 1h, 3d, 1mo, PT30M")
    serving.add_parsers(sub)
    demo.add_parsers(sub)
    conventions.add_parsers(sub)
    server = settings.server
    sub.choices["serve"].set_defaults(host=server.host, port=server.port, token=server.token)
    parser.set_defaults(settings=settings)
    certify_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = user_settings.load()
    except BillingError as error:
        print(f"{paint('tui-billing:', '1;31', sys.stderr)} {error}", file=sys.stderr)
        return 1
    parser = build_parser(settings)
    argv = sys.argv[1:] if argv is None else list(argv)
    for text in argv:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # bytes the OS could not decode arrive as lone surrogates
            parser.error(
                f"argument {text.encode('utf-8', 'backslashreplace').decode()[:60]!r} is not valid UTF-8"
            )
    args = parser.parse_args(argv)
    if args.db is None and not os.environ.get(workspace.ENV_VAR) and settings.workspace is not None:
        args.db = str(settings.workspace)  # the settings' workspace, after --db and the variable
    if args.command == "clock" and args.action == "advance" and not args.duration:
        parser.error("clock advance needs a DURATION, e.g. `clock advance 1h`")
    if args.command is not None and (
        args.serve or args.dashboard_token or args.dashboard_theme or args.dashboard_callback_response
    ):
        parser.error(
            "--serve, --token, --callback-response and --theme apply to the dashboard "
            "(no COMMAND); use `tui-billing serve` to serve headless"
        )
    try:
        handler = (
            getattr(args, "handler", None)
            or {**HANDLERS, **certify_cli.HANDLERS}[args.command or "dashboard"]
        )
        return handler(args)
    except BillingError as error:
        print(f"{paint('tui-billing:', '1;31', sys.stderr)} {error}", file=sys.stderr)
        return 1
    except ValidationError as error:  # a stored or given document of the wrong shape
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "value"
        print(
            f"tui-billing: invalid {error.title} ({error.error_count()} problem(s)): {where}: {first['msg']}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # the last line of defence: never a traceback
        if os.environ.get("TUI_BILLING_DEBUG"):
            raise
        print(
            f"tui-billing: unexpected error: {error!r} (set TUI_BILLING_DEBUG=1 for details)", file=sys.stderr
        )
        return 1
