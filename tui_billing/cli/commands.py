"""One handler per CLI command: open the workspace, call the service, print the result."""

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from .. import workspace
from ..domain.apps import app_v1, app_v3
from ..domain.errors import InvalidValue
from ..domain.linespec import LineSpec, detail_summary, line_summary, parse_flat, parse_usage
from ..domain.models import Invoice
from ..domain.timefmt import parse_rfc3339, rfc3339
from ..service import ClockProgress, Service
from ..service import scenario as scenarios
from ..service.commands import (
    COMMANDS,
    AdvanceClock,
    AuthorizePayment,
    Command,
    CreateInvoice,
    Delete,
    DraftSynchronized,
    EditInvoice,
    FireTrigger,
    IssuingSynchronized,
    PaymentStatus,
    ReportFailure,
    SetHooks,
    SetWorkflow,
)
from . import conventions, demo, serving
from .arguments import in_range, not_blank

DEFAULT_CLOCK = datetime(2026, 1, 1, 9, tzinfo=UTC)


def _service(
    args: argparse.Namespace, *, create_demo: bool = False, read_only: bool = False
) -> AbstractContextManager[Service]:
    return workspace.opened(args.db, create_demo=create_demo, read_only=read_only)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _ext(external_id: str | None) -> str:
    return f"  ext={external_id}" if external_id else ""


def _when(moment: datetime | None) -> str:
    return rfc3339(moment) or "-"


# --- workspace ---------------------------------------------------------------------------
def init(args: argparse.Namespace) -> int:
    path, _ = workspace.resolve(args.db)
    if args.demo:
        args.scenario, args.force = workspace.DEFAULT_SCENARIO, True
    if args.scenario:
        service = scenarios.build(path, scenarios.load(scenarios.find(args.scenario)), force=args.force)
    else:
        now = parse_rfc3339(args.now, "--now") if args.now else DEFAULT_CLOCK
        in_range(args.customers, 1, scenarios.MAX_CUSTOMERS, "--customers")
        service = Service.create(path, seed=args.seed, now=now, customers=args.customers, force=args.force)
    with_invoices = len(service.invoice_rows())
    service.close()
    print(f"created workspace {path} ({with_invoices} invoices)")
    return 0


def customers(args: argparse.Namespace) -> int:
    with _service(args, read_only=True) as service:
        people = service.customers()
        if args.json:
            _print_json([c.model_dump(mode="json") for c in people])
            return 0
        plans = {p.id: p.name for p in service.plans()}
        _table(
            ["KEY", "NAME", "CURRENCY", "TAX", "PLAN"],
            [
                [c.key, c.name, c.currency, f"{c.tax_rate * 100:.2f}%", plans.get(c.plan_id, "?")]
                for c in people
            ],
        )
    return 0


def invoices(args: argparse.Namespace) -> int:
    with _service(args, read_only=True) as service:
        if args.json:
            _print_json([service.invoice_v1(i) for i in service.invoices(args.status)])
            return 0
        rows = [
            r
            for r in service.invoice_rows()
            if args.status is None or r["status"].split(".", 1)[0] == args.status
        ]
        _table(
            ["ID", "NUMBER", "CUSTOMER", "TOTAL", "STATUS", "DUE"],
            [
                [
                    r["id"],
                    r["number"],
                    r["customer_name"],
                    f"{r['total']} {r['currency']}",
                    r["status"],
                    (r["due_at"] or "-")[:10],
                ]
                for r in rows
            ],
        )
    return 0


def show(args: argparse.Namespace) -> int:
    with _service(args, read_only=True) as service:
        invoice = service.invoice(args.id)
        if args.json:
            _print_json(service.invoice_v1(invoice))
        elif args.invoice_generated:
            payload, emitted = service.invoice_generated(invoice)
            if not emitted:
                print("# not emitted yet: this is what issuing would emit", file=sys.stderr)
            _print_json(payload)
        else:
            _print_invoice(service, invoice)
    return 0


def _print_invoice(service: Service, invoice: Invoice) -> None:
    totals = invoice.totals
    print(f"{invoice.number}  {invoice.id}")
    print(f"  status      {invoice.status.value}")
    print(f"  customer    {invoice.customer.name} ({invoice.customer.key})")
    print(f"  period      {invoice.period_from.date()} to {invoice.period_to.date()}")
    print(f"  totals      {totals.amount} + tax {totals.taxes_total} = {totals.total} {invoice.currency}")
    for label, moment in (
        ("created", invoice.created_at),
        ("collection", invoice.collection_at),
        ("draft until", invoice.draft_until),
        ("issued", invoice.issued_at),
        ("due", invoice.due_at),
        ("sent", invoice.sent_to_customer_at),
    ):
        if moment is not None:
            print(f"  {label:<11} {_when(moment)}")
    if invoice.external_invoicing_id or invoice.external_payment_id:
        invoicing, payment = invoice.external_invoicing_id or "-", invoice.external_payment_id or "-"
        print(f"  external    invoicing={invoicing} payment={payment}")
    print("  lines")
    for line in invoice.lines:
        print(f"    {line.id}  {line_summary(line, invoice.currency)}{_ext(line.external_id)}")
        for child in line.children:
            print(f"      {child.id}  {detail_summary(child)}{_ext(child.external_id)}")
    for key, value in invoice.metadata.items():
        print(f"  marker      {key} = {value}")
    for issue in invoice.validation_issues:
        print(f"  {issue.severity:<11} {issue.message}")
    actions = service.actions(invoice)
    print(
        "  actions     "
        + (", ".join(f"{name} → {target.value}" for name, target in actions.items()) or "none")
    )
    print("  history")
    for entry in invoice.history:
        print(f"    {_when(entry.at)}  {entry.source.value} → {entry.target.value}  ({entry.trigger})")


def app(args: argparse.Namespace) -> int:
    with _service(args, read_only=True) as service:
        current = service.app()
        if args.json:
            _print_json(app_v3(current))
        elif args.v1:
            _print_json(app_v1(current))
        else:
            print(f"{current.name}  {current.id}  status={current.status}")
            _print_hooks(service)
    return 0


def events(args: argparse.Namespace) -> int:
    with _service(args, read_only=True) as service:
        invoice_id = service.invoice(args.invoice).id if args.invoice else None
        if args.json:
            _print_json(
                [
                    {
                        "seq": e.seq,
                        "invoiceId": e.invoice_id,
                        "event": {
                            "id": e.id,
                            "type": e.type,
                            "timestamp": rfc3339(e.timestamp),
                            "data": e.data,
                        },
                    }
                    for e in service.events(invoice_id)
                ]
            )
            return 0
        _table(
            ["SEQ", "ID", "TYPE", "TIMESTAMP", "INVOICE"],
            [
                [str(r["seq"]), r["id"], r["type"], r["timestamp"], r["invoice_id"]]
                for r in service.event_rows(invoice_id)
            ],
        )
    return 0


# --- settings ------------------------------------------------------------------------------
def _print_hooks(service: Service) -> None:
    current = service.app()
    print(f"draft sync hook    {'on' if current.enable_draft_sync_hook else 'off'}")
    print(f"issuing sync hook  {'on' if current.enable_issuing_sync_hook else 'off'}")


def hooks(args: argparse.Namespace) -> int:
    with _service(args, read_only=args.draft is None and args.issuing is None) as service:
        if args.draft is not None or args.issuing is not None:
            service.execute(SetHooks(draft=args.draft, issuing=args.issuing))
        _print_hooks(service)
    return 0


def workflow(args: argparse.Namespace) -> int:
    changes = {
        "auto_advance": args.auto_advance,
        "draft_period": args.draft_period,
        "due_after": args.due_after,
        "collection_interval": args.collection_interval,
    }
    with _service(args, read_only=all(v is None for v in changes.values())) as service:
        if any(v is not None for v in changes.values()):
            service.execute(SetWorkflow(**changes))
        current = service.workspace().workflow
        print(f"auto advance         {'on' if current.auto_advance else 'off'}")
        print(f"draft period         {current.draft_period}")
        print(f"due after            {current.due_after}")
        print(f"collection interval  {current.collection_interval}")
    return 0


# --- invoices --------------------------------------------------------------------------------
def _lines(args: argparse.Namespace) -> list[LineSpec]:
    return [parse_flat(t) for t in args.flat] + [parse_usage(t) for t in args.usage]


def create(args: argparse.Namespace) -> int:
    with _service(args) as service:
        print(service.execute(CreateInvoice(args.customer, _lines(args))).id)
    return 0


def _report(invoice: Invoice) -> int:
    print(f"{invoice.id} {invoice.number} {invoice.status.value}")
    return 0


def edit(args: argparse.Namespace) -> int:
    with _service(args) as service:
        return _report(service.execute(EditInvoice(args.id, _lines(args))))


def sync_draft(args: argparse.Namespace) -> int:
    pairs = {}
    for text in args.line:
        line_id, sep, external = text.partition("=")
        if not sep or not line_id.strip() or not external.strip():
            raise InvalidValue(f"--line {text!r}: write it as LINE_ID=EXTERNAL_ID")
        pairs[line_id.strip()] = external.strip()
    with _service(args) as service:
        return _report(
            service.execute(
                DraftSynchronized(
                    args.id, invoice_number=args.number, external_id=args.external_id, line_external_ids=pairs
                )
            )
        )


def sync_issuing(args: argparse.Namespace) -> int:
    with _service(args) as service:
        return _report(
            service.execute(
                IssuingSynchronized(
                    args.id,
                    invoice_number=args.number,
                    sent_to_customer_at=args.sent_at,
                    payment_external_id=args.payment_external_id,
                )
            )
        )


def payment(args: argparse.Namespace) -> int:
    with _service(args) as service:
        return _report(service.execute(PaymentStatus(args.id, args.trigger)))


# The CLI's word for a registry command where it is not the registry name with hyphens.
CLI_NAMES: dict[type[Command], str] = {AuthorizePayment: "authorize"}


def trigger_commands() -> dict[str, type[FireTrigger]]:
    """The commands that are nothing but a lifecycle trigger, by CLI name: each is a CLI
    command taking an invoice id, with no code of its own here (``fire``)."""
    return {
        CLI_NAMES.get(kind, kind.name.replace("_", "-")): kind
        for kind in COMMANDS.values()
        if issubclass(kind, FireTrigger)
    }


def fire(args: argparse.Namespace) -> int:
    """Run the trigger command named by ``args.command`` on invoice ``args.id``."""
    kind = trigger_commands()[args.command]
    with _service(args) as service:
        return _report(service.execute(kind(args.id)))


def delete(args: argparse.Namespace) -> int:
    with _service(args) as service:
        return _report(service.execute(Delete(args.id, simulate_failure=args.simulate_failure)))


def fail(args: argparse.Namespace) -> int:
    with _service(args) as service:
        return _report(service.execute(ReportFailure(args.id, args.message)))


def _clock_progress(progress: ClockProgress) -> None:
    """One line on the terminal, rewritten in place, as the clock advances."""
    sys.stderr.write(
        f"\r\x1b[Kclock at {_when(progress.reached)} ({progress.fraction:4.0%}): "
        f"{progress.created} invoices created, {progress.advanced} advanced"
        + (", saving" if progress.reached == progress.end else "")
    )
    sys.stderr.flush()


def clock(args: argparse.Namespace) -> int:
    with _service(args, read_only=args.action == "show") as service:
        if args.action == "advance":
            shown = sys.stderr.isatty()
            try:
                report = service.execute(AdvanceClock(args.duration, _clock_progress if shown else None))
            finally:
                if shown:
                    sys.stderr.write("\r\x1b[K")  # the progress line goes; the result stays on stdout
            print(
                f"{_when(report.start)} → {_when(report.end)}: {len(report.created)} invoices created, "
                f"{len(report.advanced)} advanced"
            )
        else:
            print(_when(service.now()))
    return 0


def dashboard(args: argparse.Namespace) -> int:
    """The start command: the dashboard on the workspace (the demo one on first start)."""
    from ..tui.app import BillingApp, ServeOptions  # Textual loads only for the dashboard

    serve = None
    not_blank(args.dashboard_token, "--token", "leave it out to serve without a token")
    if args.serve:
        host, _, port = args.serve.rpartition(":")
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise InvalidValue(f"--serve {args.serve!r}: write PORT or HOST:PORT, e.g. 127.0.0.1:8888")
        from ..api import start_serving  # aiohttp loads only when serving

        serve = ServeOptions(
            start_serving,
            host or args.settings.server.host,
            int(port),
            args.dashboard_token or args.settings.server.token,
            args.dashboard_callback_response,
        )
        if warning := serving.exposure_warning(serve.host, serve.token):
            print(warning, file=sys.stderr)  # stays readable after the dashboard's screen closes
    first_start = not workspace.resolve(args.db)[0].exists()
    with _service(args, create_demo=True) as service:
        app = BillingApp(
            service,
            theme=args.dashboard_theme or args.settings.theme,
            serve=serve,
            first_start=first_start,
            keymap=args.settings.keymap,
        )
        app.run()
        app.service.close()  # a reset (R) replaced the service the dashboard started with
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "init": init,
    "customers": customers,
    "invoices": invoices,
    "show": show,
    "app": app,
    "events": events,
    "hooks": hooks,
    "workflow": workflow,
    "create": create,
    "edit": edit,
    "sync-draft": sync_draft,
    "sync-issuing": sync_issuing,
    "payment": payment,
    "delete": delete,
    "fail": fail,
    "clock": clock,
    "dashboard": dashboard,
}
HANDLERS.update(serving.HANDLERS)
HANDLERS.update(demo.HANDLERS)
HANDLERS.update(conventions.HANDLERS)
