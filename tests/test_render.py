"""What the hot path remembers is never stale: the JSON text of invoices (with each line's
rendering remembered), the available actions remembered by guard values, packed documents
read back without decompressing, and times rendered once. Each remembered answer must
equal a fresh computation, also after the invoice changed."""

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import FIXED_CLOCK
from workspace_support import workout

from tui_billing.domain import lifecycle, shapes
from tui_billing.domain.lifecycle import Context
from tui_billing.domain.linespec import FlatFee, Usage
from tui_billing.domain.models import (
    DRAFT_SYNCED_MARKER,
    FINALIZED_MARKER,
    INVOICE_COMPONENT,
    STEP_FIELDS,
    App,
    Invoice,
    ValidationIssue,
)
from tui_billing.domain.status import Status
from tui_billing.domain.timefmt import rfc3339
from tui_billing.service import Service, scenario
from tui_billing.service.commands import (
    CreateInvoice,
    DraftSynchronized,
    SetHooks,
)
from tui_billing.store import payloads


def compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fresh_text(invoice: Invoice, ctx: Context, apps: object = None) -> str:
    return compact(shapes.invoice_v1(invoice, ctx, apps=apps))  # type: ignore[arg-type]


def test_the_json_text_is_the_json_byte_for_byte(demo_service: Service) -> None:
    ctx, app = demo_service.context(), demo_service.app()
    invoices = demo_service.invoices()
    assert {invoice.status for invoice in invoices} >= {Status.DRAFT_SYNCING, Status.PAID, Status.VOIDED}
    for invoice in invoices:
        for apps in (None, app):
            text = shapes.invoice_v1_json(invoice, ctx, apps=apps)
            assert text == fresh_text(invoice, ctx, apps)
            body, same = shapes.invoice_v1_with_json(invoice, ctx, apps=apps)
            assert same == text and compact(body) == text
            body, head, rest = shapes.invoice_v1_in_parts(invoice, ctx, apps=apps)
            assert head + rest == text.encode() and compact(body) == text


def test_a_changed_invoice_renders_its_new_state(service: Service) -> None:
    """Each thing a remembered part (a line, the frame) reads, changed in place on the
    same objects: the remembered text never outlives it."""
    customer = service.customers()[0].key
    invoice = service.execute(
        CreateInvoice(
            customer, [FlatFee("Fee", Decimal("49")), Usage("API calls", Decimal(7), Decimal("0.5"))]
        )
    )
    ctx, app = service.context(), service.app()
    line, usage = invoice.lines
    issue = ValidationIssue(
        id="issue-1",
        severity="warning",
        message="odd",
        component=INVOICE_COMPONENT,
        created_at=FIXED_CLOCK,
        updated_at=FIXED_CLOCK,
    )
    later = FIXED_CLOCK + timedelta(days=3)
    changes = [
        lambda: setattr(line, "external_id", "ext-1"),
        lambda: setattr(line, "name", "Renamed fee"),
        lambda: setattr(line, "updated_at", later),
        lambda: setattr(line.children[0], "external_id", "detail-ext"),
        lambda: setattr(line.children[0], "quantity", Decimal("1.0")),  # equal to 1, printed otherwise
        lambda: setattr(usage, "quantity", Decimal("7.00")),
        lambda: setattr(usage.price, "amount", Decimal("0.75")),
        lambda: setattr(usage, "period_to", later),
        lambda: setattr(invoice.customer, "name", "Renamed customer"),
        lambda: setattr(invoice.supplier.address, "city", "Oakland"),
        lambda: setattr(invoice.workflow, "due_after", "P7D"),
        lambda: setattr(invoice, "period_to", later),
        lambda: setattr(app, "name", "Renamed app"),
        lambda: setattr(app, "updated_at", later),
        lambda: setattr(invoice, "tax_rate", Decimal("0.2") if not invoice.tax_rate else Decimal(0)),
        lambda: setattr(invoice, "currency", "EUR"),
        lambda: invoice.metadata.update({"note": "in place"}),
        lambda: invoice.validation_issues.append(issue),
        lambda: setattr(issue, "message", "changed in place"),
        lambda: invoice.lines.__setitem__(0, invoice.lines[0].model_copy(update={"name": "A copy"})),
        lambda: invoice.lines.reverse(),
        lambda: invoice.lines.pop(),
        lambda: invoice.lines.clear(),
    ]
    seen = {shapes.invoice_v1_json(invoice, ctx, apps=app)}
    for change in changes:
        change()
        text = shapes.invoice_v1_json(invoice, ctx, apps=app)
        assert text == fresh_text(invoice, ctx, app)
        assert b"".join(shapes.invoice_v1_in_parts(invoice, ctx, apps=app)[1:]) == text.encode()
        assert text not in seen
        seen.add(text)
        assert shapes.invoice_v1_json(invoice, ctx) == fresh_text(invoice, ctx)


def test_a_command_s_events_show_the_invoice_it_left(service: Service) -> None:
    """The same invoice through two commands: each event carries the state it was
    emitted in, and a line changed by the second shows its new external id."""
    service.execute(SetHooks(draft=True, issuing=True))
    customer = service.customers()[0].key
    invoice = service.execute(CreateInvoice(customer, [FlatFee("Fee", Decimal("49"))]))
    line_id = invoice.lines[0].id
    before = service.events(invoice.id)[-1].data
    assert "externalIds" not in before["lines"][0]
    synced = service.execute(DraftSynchronized(invoice.id, line_external_ids={line_id: "erp-line-9"}))
    events = service.events(invoice.id)
    last = events[-1].data if events[-1].type == "invoice.updated" else events[-2].data
    assert last["lines"][0]["externalIds"] == {"invoicing": "erp-line-9"}
    assert last["statusDetails"]["extendedStatus"] == synced.status.value
    assert compact(last) == compact(shapes.invoice_v1(synced, service.context(), apps=service.app()))


def test_a_step_s_fields_are_not_read_by_the_reused_rest() -> None:
    """Assigning a step's field counts as no edit: the rest must not read it."""
    assert not shapes._REST_READS & STEP_FIELDS


def test_remembered_available_actions_equal_the_simulation(demo_service: Service) -> None:
    """Every status against every combination of what the guards read, asked twice (the
    second answer is the remembered one)."""
    template = demo_service.invoices()[0]
    issue = ValidationIssue(
        id="issue-1",
        severity="critical",
        message="broken",
        component=INVOICE_COMPONENT,
        created_at=FIXED_CLOCK,
        updated_at=FIXED_CLOCK,
    )
    earlier, later = FIXED_CLOCK - timedelta(hours=1), FIXED_CLOCK + timedelta(hours=1)
    for status, critical, lines, auto, markers, hooks, when in itertools.product(
        Status,
        (False, True),
        (False, True),
        (False, True),
        ((), (DRAFT_SYNCED_MARKER,), (DRAFT_SYNCED_MARKER, FINALIZED_MARKER)),
        ((False, False), (True, True)),
        (earlier, later),
    ):
        invoice = template.model_copy(
            update={
                "status": status,
                "validation_issues": [issue] if critical else [],
                "lines": template.lines if lines else [],
                "workflow": template.workflow.model_copy(update={"auto_advance": auto}),
                "metadata": {marker: "2026-01-01T00:00:00.000Z" for marker in markers},
                "collection_at": when,
                "draft_until": when,
            }
        )
        ctx = Context(now=FIXED_CLOCK, draft_hook=hooks[0], issuing_hook=hooks[1])
        simulated = {
            name: target
            for name, trigger in lifecycle.ACTIONS.items()
            if (target := lifecycle.preview(invoice, trigger, ctx)) is not None
        }
        assert lifecycle.available_actions(invoice, ctx) == simulated
        assert lifecycle.available_actions(invoice, ctx) == simulated


def test_unpack_reads_back_what_pack_packed_and_a_copy_is_its_own() -> None:
    document = {"id": "inv-1", "lines": [{"amount": "1.0"}], "name": "Zoë"}
    text = payloads.pack(document)
    first = payloads.unpack(text)
    first["lines"][0]["amount"] = "changed"
    assert payloads.unpack(text) == document
    payloads._PACKED.clear()  # another session: decompressed from the text itself
    assert payloads.unpack(text) == document


def test_times_render_in_utc_whatever_their_zone() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    same = moment.astimezone(timezone(timedelta(hours=-5)))
    assert rfc3339(moment) == rfc3339(same) == "2026-03-01T12:30:15.123Z"
    assert rfc3339(moment + timedelta(milliseconds=1)) == "2026-03-01T12:30:15.124Z"
    assert rfc3339(None) is None


def test_every_rest_handed_out_equals_a_fresh_rendering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end beside ``test_a_changed_invoice_renders_its_new_state`` (which edits one
    invoice in place, proof by proof): while the demo is built and put through every kind of command
    (``workout``), each rest it hands out is
    byte for byte the rest rendered afresh, with no cache."""
    remembered, last, reused = shapes._remembered_rest, {}, []

    def checking(invoice: Invoice, apps: App | None) -> object:
        rest = remembered(invoice, apps)
        assert rest.utf8 == ("," + compact(shapes._rest(invoice, apps))[1:]).encode()
        reused.append(last.get((invoice.id, apps is None)) is rest)
        last[invoice.id, apps is None] = rest
        return rest

    monkeypatch.setattr(shapes, "_remembered_rest", checking)
    service = scenario.build(tmp_path / "w.db", scenario.load(scenario.bundled("demo")))
    try:
        workout(service)
    finally:
        service.close()
    assert len(reused) > 300 and 0.2 < sum(reused) / len(reused) < 1  # both paths taken
