"""The service: the one entry point for every command and the store's only writer.

Each command loads what it needs as models, changes them through the lifecycle, and
commits every changed document, event and counter as one durable journal record. If
anything raises before the commit, nothing was written: a refused command changes nothing.
"""

import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..domain import invoice_creation, lifecycle, shapes
from ..domain.billing_clock import ClockProgress, ClockReport, DueKind, DueQueue, next_period
from ..domain.durations import add_months, parse_duration
from ..domain.errors import Conflict, InvalidValue, NotFound
from ..domain.ids import is_ulid, make_ulid
from ..domain.invoice_query import InvoiceQuery, select
from ..domain.lifecycle import Context, Outcome, Step
from ..domain.linespec import FlatFee, LineSpec, Usage, priced_line
from ..domain.models import (
    SYNC_COMPONENT,
    Address,
    App,
    Customer,
    Event,
    EventRow,
    EventType,
    Invoice,
    InvoiceSummary,
    Line,
    Plan,
    Subscription,
    Supplier,
    UnitPrice,
    ValidationIssue,
    Workflow,
    Workspace,
    default_profile_id,
)
from ..domain.numbering import customer_prefix, format_number
from ..domain.schedule import schedule
from ..domain.status import Status, Trigger
from ..domain.timefmt import rfc3339
from ..store.inspection import copy_workspace
from ..store.journal import gc_paused
from ..store.lock import WorkspaceBusy
from ..store.payloads import Encoded
from ..store.repository import Change, Put, Repository, group_commit, real_path
from . import commands, seeding

_Model = TypeVar("_Model", bound=BaseModel)

DEFAULT_SUPPLIER = Supplier(
    name="Simulated Billing Inc.",
    address=Address(country="US", city="San Francisco", postal_code="94105", line1="1 Market St"),
)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


_INVOICE_JSON = Invoice.__pydantic_serializer__.to_json
"""An invoice's JSON: byte for byte the store's JSON of its JSON-mode dump, in a third of
the time (no floats or other values whose text pydantic writes differently)."""

_JSON_TIME = TypeAdapter(datetime).dump_python
"""A time as a model dumped in JSON mode shows it (an event's ``timestamp``)."""


MAX_DELIVERY_RETENTION = 1_000_000


PROGRESS_EVERY = 200
"""Items (an invoice released, a period billed) between two progress reports of the clock."""


class _Tx:
    """The changes of one command, committed together or not at all."""

    def __init__(self, service: "Service") -> None:
        self.service = service
        # Validated afresh: a command changes its own, the service's reads stay as stored.
        self.ws = service._load_workspace()
        self.app = service.app()
        """The service's read of the app, which this command must not change: one that
        changes the app changes its own (``own_app``) or replaces it."""
        self._app_read = self.app
        self.puts: list[Change] = []
        self.invoices: dict[str, Invoice] = {}
        self._stamp: tuple[datetime | None, str] = (None, "")
        """The clock's time as events' rows show it, for the time it was rendered at."""

    def own_app(self) -> App:
        """The app for this command to change: validated afresh, as stored."""
        if self.app is self._app_read:
            self.app = self.service._load_app()
        return self.app

    def new_id(self) -> str:
        self.ws.id_counter += 1
        return make_ulid(self.ws.seed, self.ws.id_counter, self.ws.now)

    def context(self, *, delete_fails: bool = False) -> Context:
        return Context(
            now=self.ws.now,
            draft_hook=self.app.enable_draft_sync_hook,
            issuing_hook=self.app.enable_issuing_sync_hook,
            allocate_number=self.allocate_number,
            delete_fails=delete_fails,
        )

    def allocate_number(self, kind: str, invoice: Invoice) -> str:
        """The next number of ``kind``: one sequence per kind, shared by every customer, as
        OpenMeter keeps one per scope (numbering per customer is not asked for; "start at 1"
        holds either way)."""
        self.ws.sequences[kind] = self.ws.sequences.get(kind, 0) + 1
        return format_number(kind, customer_prefix(invoice.customer.name), self.ws.sequences[kind])

    def invoice(self, invoice_id: str) -> Invoice:
        if invoice_id not in self.invoices:
            self.invoices[invoice_id] = self.service.invoice(invoice_id)
        return self.invoices[invoice_id]

    def emit(self, event_type: EventType, invoice: Invoice, data: dict[str, Any]) -> None:
        self.ws.event_seq += 1
        # The envelope's fields are ours and ``data`` is already JSON (built by shapes.py):
        # the row is what ``Event`` dumps in JSON mode, written without building one.
        event_id = self.new_id()
        if self._stamp[0] is not self.ws.now:
            self._stamp = (self.ws.now, _JSON_TIME(self.ws.now, mode="json"))
        row = {"id": event_id, "seq": self.ws.event_seq, "type": event_type, "timestamp": self._stamp[1]}
        self.puts.append(Put("events", {**row, "invoice_id": invoice.id, "data": data}))

    def emit_generated_if_changed(self, invoice: Invoice) -> None:
        """InvoiceGenerated on first issue and whenever its mapped status changes."""
        status = shapes.generated_status(invoice)
        if status is not None and status != invoice.generated_status:
            invoice.generated_status = status
            self.emit("invoice.generated", invoice, shapes.invoice_generated(invoice, status))

    def observer(self, ctx: Context) -> Callable[[Invoice, Step], None]:
        def observe(invoice: Invoice, step: Step) -> None:
            if step.emits:
                self.emit("invoice.updated", invoice, self.invoice_v1(invoice, ctx))
            self.emit_generated_if_changed(invoice)

        return observe

    def invoice_v1(self, invoice: Invoice, ctx: Context) -> Encoded:
        """The invoice as its events carry it (``workflow.apps`` whole), with its text."""
        body, head, rest = shapes.invoice_v1_in_parts(invoice, ctx, apps=self.app)
        return Encoded(body, head, rest)

    def run(
        self, invoice: Invoice, command: Callable[[Outcome, Context], object], ctx: Context | None = None
    ) -> Outcome:
        ctx = ctx or self.context()
        outcome = Outcome(observer=self.observer(ctx))
        self.invoices[invoice.id] = invoice
        with gc_paused():
            command(outcome, ctx)
        return outcome

    def commit(self) -> None:
        puts = [Put("meta", _dump(self.ws))]
        if self.app is not self._app_read:
            puts.append(Put("app", _dump(self.app)))
        puts += [
            Put("invoices", {"id": invoice.id}, dict(invoice.summary()), _INVOICE_JSON(invoice))
            for invoice in self.invoices.values()
        ]
        with gc_paused():
            self.service.repository.commit(puts + self.puts)
        # What was just stored is what reading it back would validate: the service's reads.
        self.service._remember("meta", self.ws)
        self.service._remember("app", self.app)


class Service:
    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self._reads: dict[str, tuple[int, BaseModel]] = {}
        """Validated reads by table and the table's version they hold at (``_read``)."""
        self.snapshot_of: Path | None = None
        """The workspace this one is a copy of (``open_for_reading``), else None."""

    # --- opening ---------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path) -> "Service":
        return cls(Repository.open(path))

    @classmethod
    def open_for_reading(cls, path: Path) -> "Service":
        """The workspace, for commands that only read: opened as usual, or, while another
        process holds it (a dashboard, a server), a copy taken now, without taking its lock
        (``snapshot_of`` then names the workspace; the copy goes with ``close``)."""
        try:
            return cls.open(path)
        except WorkspaceBusy:
            scratch = Path(tempfile.mkdtemp(prefix="tui-billing-read-"))
            try:
                service = cls(Repository.open(copy_workspace(real_path(path), scratch)))
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            service.snapshot_of = real_path(path)
            return service

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        seed: int,
        now: datetime,
        customers: int = 6,
        app: Mapping[str, Any] | None = None,
        workflow: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> "Service":
        """A new workspace: an app, Faker customers with plans and monthly subscriptions."""
        if customers < 1:
            raise InvalidValue("a workspace needs at least one customer")
        ws = Workspace(
            seed=seed,
            now=now,
            supplier=DEFAULT_SUPPLIER,
            workflow=Workflow.model_validate(dict(workflow or {})),
            billing_profile_id=default_profile_id(seed, now),
        )

        def new_id() -> str:
            ws.id_counter += 1
            return make_ulid(seed, ws.id_counter, now)

        app_model = App.model_validate(
            {
                "id": new_id(),
                "name": "External Invoicing",
                "created_at": now,
                "updated_at": now,
                "description": "Simulated by tui-billing",
                **dict(app or {}),
            }
        )
        plans = seeding.make_plans(new_id)
        people, subscriptions = seeding.make_customers(seed, customers, now, plans, new_id)
        changes = [Put("meta", _dump(ws)), Put("app", _dump(app_model))]
        changes += [
            Put(table, _dump(model))
            for table, models in (("plans", plans), ("customers", people), ("subscriptions", subscriptions))
            for model in models
        ]
        return cls(Repository.create(path, changes, force=force))

    # --- group commit (the API's) ---------------------------------------------------------
    @contextmanager
    def group_commit(self) -> Iterator[None]:
        """Commands run inside share fsyncs: each is applied at once and becomes durable at
        the next ``flush``; acknowledge nothing before it (the API awaits it per request)."""
        with group_commit():
            yield

    def unflushed(self) -> int:
        """The ticket to ``flush`` if some change is not durable yet, else 0."""
        return self.repository.unflushed

    def flush(self, ticket: int) -> None:
        """Return once the change of ``ticket`` is durable (one fsync for all queued);
        thread-safe, meant for a worker thread."""
        self.repository.flush(ticket)

    def close(self) -> None:
        self.repository.close()
        if self.snapshot_of is not None:
            shutil.rmtree(self.repository.path.parent, ignore_errors=True)

    # --- reads -----------------------------------------------------------------------
    def workspace(self) -> Workspace:
        """The workspace's settings and counters, read-only (a command's ``_Tx`` reads its
        own copy): validated once per stored version, as reads ask for it several times
        a request."""
        return self._read("meta", self._load_workspace)

    def now(self) -> datetime:
        return self.workspace().now

    def app(self) -> App:
        """The app, read-only (see ``workspace``)."""
        return self._read("app", self._load_app)

    def _load_workspace(self) -> Workspace:
        return Workspace.model_validate(self.repository.get("meta", "workspace"))

    def _load_app(self) -> App:
        return App.model_validate(self.repository.rows("app")[0])

    def _read(self, table: str, validate: Callable[[], _Model]) -> _Model:
        version = self.repository.version(table)
        cached = self._reads.get(table)
        if cached is None or cached[0] != version:
            cached = self._reads[table] = (version, validate())
        return cast(_Model, cached[1])

    def _remember(self, table: str, model: BaseModel) -> None:
        """``model`` as the read of ``table`` (its one document), just committed from it."""
        self._reads[table] = (self.repository.version(table), model)

    def context(self) -> Context:
        """The lifecycle's view of now, for reads (previews never allocate numbers)."""
        app = self.app()
        return Context(
            now=self.now(), draft_hook=app.enable_draft_sync_hook, issuing_hook=app.enable_issuing_sync_hook
        )

    def customers(self) -> list[Customer]:
        return [Customer.model_validate(doc) for doc in self.repository.rows("customers")]

    def customer(self, key: str) -> Customer:
        """A customer by id or key (validating only that one: commands call this)."""
        doc = self.repository.get("customers", key) or next(
            (row for row in self.repository.rows("customers") if row["key"] == key), None
        )
        if doc is None:
            raise NotFound(f"no customer {key!r}; `tui-billing customers` lists them")
        return Customer.model_validate(doc)

    def plans(self) -> list[Plan]:
        return [Plan.model_validate(doc) for doc in self.repository.rows("plans")]

    def plan(self, plan_id: str) -> Plan:
        doc = self.repository.get("plans", plan_id)
        if doc is None:
            raise NotFound(f"no plan {plan_id!r}")
        return Plan.model_validate(doc)

    def subscriptions(self) -> list[Subscription]:
        return [Subscription.model_validate(doc) for doc in self.repository.rows("subscriptions")]

    def invoice(self, ref: str) -> Invoice:
        """An invoice by id, or by number when the number is unique."""
        ref = ref.strip()
        row: Mapping[str, Any] | None = self.repository.row("invoices", ref) if is_ulid(ref) else None
        if row is None:
            matches = [summary for summary in self.invoice_rows() if summary["number"] == ref]
            if len(matches) > 1:
                raise NotFound(f"{len(matches)} invoices are numbered {ref!r}; use the invoice id")
            row = matches[0] if matches else None
        if row is None:
            raise NotFound(f"no invoice {ref!r}")
        return self.invoice_of(row)

    def invoice_rows(self) -> list[InvoiceSummary]:
        """Invoice summaries (``Invoice.summary`` plus ``id``), oldest first; read-only.

        Lists and counts use these: they cost nothing to read, even at 10k invoices."""
        return cast(list[InvoiceSummary], self.repository.rows("invoices"))

    def invoice_page(self, query: InvoiceQuery) -> tuple[int, list[Invoice]]:
        """The invoices a list query selects: how many match, and the page asked for."""
        total, rows = self.invoice_page_rows(query)
        return total, [self.invoice_of(row) for row in rows]

    def invoice_page_rows(self, query: InvoiceQuery) -> tuple[int, list[InvoiceSummary]]:
        """``invoice_page`` as summary rows (read-only; ``invoice_of`` reads one).

        Filters and orders the summaries; only the page's invoices are read (and those whose
        summary predates the fields lists filter on, written by an older version)."""
        page = select(
            (
                row if "created_at" in row else {**row, **self.invoice_of(row).summary()}
                for row in self.invoice_rows()
            ),
            query,
        )
        return page.total, cast(list[InvoiceSummary], list(page.rows))

    def invoice_of(self, row: Mapping[str, Any]) -> Invoice:
        """The invoice of a summary row: validated from its stored JSON text at once (twice
        as fast as parsing it first), or, if that fails, as parsed, to fail in the words of
        a damaged file or an invalid invoice."""
        try:
            return Invoice.model_validate_json(self.repository.invoice_json(row))
        except ValidationError:
            return Invoice.model_validate(self.repository.decode("invoices", row))

    @staticmethod
    def invoice_version(row: Mapping[str, Any]) -> object:
        """A token of a summary row's stored invoice that changes whenever the invoice does
        (its stored document): what a cache of renderings is keyed on."""
        return row["z"]

    def invoices(self, short: str | None = None) -> list[Invoice]:
        return [
            self.invoice_of(row)
            for row in self.invoice_rows()
            if short is None or row["status"].split(".", 1)[0] == short
        ]

    def event_rows(self, invoice_id: str | None = None) -> list[EventRow]:
        """Event envelopes without data, oldest first; optionally one invoice's (indexed)."""
        rows = (
            self.repository.rows("events")
            if invoice_id is None
            else self.repository.rows_where("events", invoice_id)
        )
        return cast(list[EventRow], rows)

    def recent_event_rows(self, count: int) -> list[EventRow]:
        """The last ``count`` event envelopes, newest first (what a docked log shows)."""
        return cast(list[EventRow], self.repository.tail("events", count))

    def event(self, row: Mapping[str, Any]) -> Event:
        """The whole event (its data read from the payload file)."""
        return Event.model_validate(self.repository.decode("events", row))

    def events(self, invoice_id: str | None = None) -> list[Event]:
        """The event log, oldest first; optionally one invoice's events."""
        return [self.event(row) for row in self.event_rows(invoice_id)]

    def invoice_v1(
        self, invoice: Invoice, ctx: Context | None = None, *, expand_apps: bool = False
    ) -> dict[str, Any]:
        """The v1 invoice; a list passes one ``context()`` for all its invoices.
        ``expand_apps``: ``workflow.apps`` as whole apps (as webhooks and
        ``expand=workflow.apps`` show them) instead of references."""
        return shapes.invoice_v1(invoice, ctx or self.context(), apps=self.app() if expand_apps else None)

    def invoice_generated(self, invoice: Invoice) -> tuple[dict[str, Any], bool]:
        """The InvoiceGenerated payload and whether it has been emitted (False: a preview)."""
        return shapes.invoice_generated(invoice), invoice.generated_status is not None

    def actions(self, invoice: Invoice) -> dict[str, Status]:
        """Every command possible on ``invoice`` now (by ``InvoiceCommand.variants`` name),
        with the state it would lead to: the lifecycle table's answer."""
        ctx = self.context()
        return {
            name: target
            for kind in commands.invoice_commands()
            for name, trigger in kind.variants().items()
            if (target := lifecycle.preview(invoice, trigger, ctx)) is not None
        }

    def refusals(self, invoice: Invoice) -> dict[str, str]:
        """Why each command that ``actions`` leaves out is refused now, in the words the
        command itself would refuse with (names as in ``actions``)."""
        ctx = self.context()
        possible = self.actions(invoice)
        return {
            name: lifecycle.refusal(invoice, trigger, ctx, name.partition(":")[2] or None)
            for kind in commands.invoice_commands()
            for name, trigger in kind.variants().items()
            if name not in possible
        }

    # --- commands ------------------------------------------------------------------------
    def execute(self, command: commands.Command) -> Any:
        """Run ``command``: one durable journal record, or a refusal (a ``BillingError``)
        that changed nothing. Every front door changes the workspace through here."""
        return command.run(self)

    # --- app and workflow ----------------------------------------------------------------
    def set_hooks(self, command: commands.SetHooks) -> App:
        """Toggle the sync hooks. Flags are read live: in-flight invoices see them at their
        next advancement (an invoice already waiting needs `advance`)."""
        tx = _Tx(self)
        app = tx.own_app()
        if command.draft is not None:
            app.enable_draft_sync_hook = command.draft
        if command.issuing is not None:
            app.enable_issuing_sync_hook = command.issuing
        app.updated_at = tx.ws.now
        tx.commit()
        return app

    def change_app(self, changes: Mapping[str, Any]) -> App:
        """The app with ``changes`` (field → value) applied and validated."""
        tx = _Tx(self)
        try:
            tx.app = App.model_validate({**_dump(tx.app), **changes, "updated_at": tx.ws.now})
        except ValueError as error:
            raise InvalidValue(f"invalid app settings: {error}") from None
        tx.commit()
        return tx.app

    def set_workflow(self, command: commands.SetWorkflow) -> Workflow:
        """Change the workflow for invoices created from now on (each invoice keeps a snapshot)."""
        tx = _Tx(self)
        for name in ("draft_period", "due_after", "collection_interval"):
            text = getattr(command, name)
            if text is not None:
                setattr(tx.ws.workflow, name, parse_duration(text).iso())
        if command.auto_advance is not None:
            tx.ws.workflow.auto_advance = command.auto_advance
        tx.commit()
        return tx.ws.workflow

    def set_callback_response(self, mode: str) -> Workspace:
        """How the HTTP callbacks answer success: ``invoice`` (200 with the invoice, like
        OpenMeter's server) or ``no_content`` (204, like its OpenAPI spec and SDK)."""
        if mode not in ("invoice", "no_content"):
            raise InvalidValue(f"callback response must be invoice or no_content, got {mode!r}")
        tx = _Tx(self)
        tx.ws.callback_response = mode  # type: ignore[assignment]
        tx.commit()
        return tx.ws

    def set_delivery_retention(self, keep: int) -> Workspace:
        """How many deliveries each webhook channel keeps: older finished ones are pruned
        whenever attempts are logged."""
        if not 1 <= keep <= MAX_DELIVERY_RETENTION:
            raise InvalidValue(f"a channel keeps 1 to {MAX_DELIVERY_RETENTION:,} deliveries, got {keep:,}")
        tx = _Tx(self)
        tx.ws.delivery_retention = keep
        tx.commit()
        return tx.ws

    # --- invoices --------------------------------------------------------------------
    def create_invoice(self, command: commands.CreateInvoice) -> Invoice:
        """A manual invoice for the customer, under its subscription (InvoiceGenerated names
        one); no lines: the plan's fee and Faker usage."""
        tx = _Tx(self)
        customer = self.customer(command.customer)
        plan = self.plan(customer.plan_id)
        now = tx.ws.now
        specs = list(command.lines) or self._plan_lines(tx, plan)
        subscription = next(
            (row["id"] for row in self.repository.rows("subscriptions") if row["customer_id"] == customer.id),
            None,
        )
        invoice = self._new_invoice(tx, customer, plan, specs, add_months(now, -1), now, subscription)
        tx.commit()
        return invoice

    def edit_invoice(self, command: commands.EditInvoice) -> Invoice:
        """Replace the lines of a draft (the ``updated`` trigger)."""
        specs = list(command.lines)
        if not specs:
            raise InvalidValue("an edit needs at least one --flat or --usage line")
        return self._edit(command.invoice, lambda tx, invoice: [(spec, None) for spec in specs])

    def replace_invoice(self, command: commands.ReplaceInvoice) -> Invoice:
        """OpenMeter's invoice replace (``PUT``): an edit whose lines name the lines they keep.

        A line naming an existing line keeps its id and external id, and a usage line its
        quantity; any other usage line gets the simulator's seeded quantity for its name.
        Lines left out are removed. The description and metadata are replaced too."""
        lines, description, metadata = command.lines, command.description, command.metadata
        if not lines:
            raise InvalidValue("an invoice needs at least one line")

        def resolve(tx: _Tx, invoice: Invoice) -> list[tuple[LineSpec, Line | None]]:
            current = {line.id: line for line in invoice.lines}
            resolved: list[tuple[LineSpec, Line | None]] = []
            for edit in lines:
                kept = current.get(edit.replaces or "")
                spec: LineSpec
                if edit.unit_price is None:
                    spec = FlatFee(edit.name, edit.amount)
                else:
                    quantity = (
                        kept.quantity
                        if kept is not None and isinstance(kept.price, UnitPrice)
                        else seeding.usage_quantity(tx.ws.seed, f"edit:{invoice.id}:{edit.name}")
                    )
                    spec = Usage(edit.name, quantity, edit.unit_price)
                resolved.append((spec, kept))
            invoice.description = description
            invoice.metadata = dict(metadata or {})
            return resolved

        return self._edit(command.invoice, resolve)

    def _edit(
        self, invoice_id: str, resolve: Callable[[_Tx, Invoice], list[tuple[LineSpec, Line | None]]]
    ) -> Invoice:
        """Fire ``updated`` on the invoice with the lines ``resolve`` gives (each with the
        line it keeps, if any); refused, like every command, before anything is written."""

        def reprice(tx: _Tx, invoice: Invoice) -> None:
            priced = []
            for spec, kept in resolve(tx, invoice):
                line = priced_line(spec, invoice, kept.id if kept else tx.new_id(), tx.ws.now)
                if kept is not None:
                    line.created_at, line.external_id = kept.created_at, kept.external_id
                priced.append(line)
            invoice.lines = priced
            schedule(invoice)

        return self.fire(invoice_id, Trigger.UPDATED, prepare=reprice)

    def _plan_lines(self, tx: _Tx, plan: Plan, key: str | None = None) -> list[LineSpec]:
        """The plan's lines, its usage quantity seeded by ``key`` (a manual invoice's: the
        id counter's)."""
        return invoice_creation.plan_lines(
            plan, seeding.usage_quantity(tx.ws.seed, key or f"manual:{tx.ws.id_counter}")
        )

    def _new_invoice(
        self,
        tx: _Tx,
        customer: Customer,
        plan: Plan,
        specs: list[LineSpec],
        start: datetime,
        end: datetime,
        subscription_id: str | None,
    ) -> Invoice:
        invoice = invoice_creation.draft(
            customer=customer,
            plan=plan,
            specs=specs,
            start=start,
            end=end,
            subscription_id=subscription_id,
            supplier=tx.ws.supplier,
            workflow=tx.ws.workflow,
            app_id=tx.app.id,
            billing_profile_id=tx.ws.billing_profile_id,
            now=tx.ws.now,
            new_id=tx.new_id,
            allocate_number=tx.allocate_number,
        )
        # Creation's automatic transitions each emit invoice.updated (docs/lifecycle.md; OpenMeter
        # publishes them from its advancement loop too); invoice.created follows them, once.
        ctx = tx.context()
        tx.run(invoice, lambda outcome, ctx: lifecycle.advance(invoice, ctx, outcome), ctx)
        tx.emit("invoice.created", invoice, tx.invoice_v1(invoice, ctx))
        return invoice

    # --- the integration's callbacks -------------------------------------------------------
    def fire(
        self,
        invoice_id: str,
        trigger: Trigger,
        *,
        delete_fails: bool = False,
        name: str | None = None,
        prepare: Callable[[_Tx, Invoice], None] | None = None,
    ) -> Invoice:
        """Fire ``trigger`` on the invoice, then advance it: one transaction. ``prepare``
        changes the invoice first, once the table allows the trigger (a refusal comes
        before any other complaint); ``name`` words a refusal."""
        tx = _Tx(self)
        invoice = tx.invoice(invoice_id)
        ctx = tx.context(delete_fails=delete_fails)
        lifecycle.require(invoice, trigger, ctx, name)
        if prepare is not None:
            prepare(tx, invoice)
        tx.run(invoice, lambda outcome, ctx: lifecycle.fire(invoice, trigger, ctx, outcome, name=name), ctx)
        tx.commit()
        return invoice

    # --- the integration's callbacks -------------------------------------------------------
    def draft_synchronized(self, command: commands.DraftSynchronized) -> Invoice:
        """The draft is in the external system: its number, external ids and line ids."""

        def record(tx: _Tx, invoice: Invoice) -> None:
            # Each id may name a line or a detailed line; the external id goes on the one named.
            wanted = dict(command.line_external_ids)
            targets = {line_id: invoice.line(line_id) for line_id in wanted}
            unknown = sorted(line_id for line_id, line in targets.items() if line is None)
            if unknown:
                raise InvalidValue(f"invoice {invoice.number} has no line {', '.join(unknown)}")
            if command.invoice_number is not None:
                invoice.number = _text(command.invoice_number, "invoice number")
            if command.external_id is not None:
                invoice.external_invoicing_id = _text(command.external_id, "external id")
            for line_id, line in targets.items():
                if line is not None:
                    line.external_id = _text(wanted[line_id], f"external id of line {line_id}")
                    line.updated_at = tx.ws.now

        return self.fire(command.invoice, command.trigger, prepare=record)

    def issuing_synchronized(self, command: commands.IssuingSynchronized) -> Invoice:
        """The invoice is issued in the external system: its final number, when it was sent."""

        def record(tx: _Tx, invoice: Invoice) -> None:
            if command.invoice_number is not None:
                invoice.number = _text(command.invoice_number, "invoice number")
            if command.sent_to_customer_at is not None:
                invoice.sent_to_customer_at = command.sent_at
            if command.payment_external_id is not None:
                invoice.external_payment_id = _text(command.payment_external_id, "payment external id")

        return self.fire(command.invoice, command.trigger, prepare=record)

    def report_failure(self, command: commands.ReportFailure) -> Invoice:
        """The external system reports that syncing this invoice failed: a critical issue."""

        def record(tx: _Tx, invoice: Invoice) -> None:
            message = command.message
            invoice.validation_issues = [
                *invoice.validation_issues,
                ValidationIssue(
                    id=tx.new_id(),
                    severity="critical",
                    code="sync_failed",
                    component=SYNC_COMPONENT,
                    message=_text(message, "failure message")
                    if message
                    else "the external invoicing system reported a sync failure",
                    created_at=tx.ws.now,
                    updated_at=tx.ws.now,
                ),
            ]

        return self.fire(command.invoice, command.trigger, prepare=record)

    # --- the simulated clock ----------------------------------------------------------------
    def advance_clock(
        self, duration: str, progress: Callable[[ClockProgress], None] | None = None
    ) -> ClockReport:
        """Move the clock forward, releasing time-based waits and billing ended periods
        in the order they fall due; one journal record. ``progress`` hears how far it has
        got every ``PROGRESS_EVERY`` items (before anything is committed)."""
        steps = self.clock_steps(duration, PROGRESS_EVERY)
        while True:
            try:
                reached = next(steps)
            except StopIteration as done:
                report: ClockReport = done.value
                return report
            if progress is not None:
                progress(reached)

    def execute_in_steps(
        self, command: commands.AdvanceClock, every: int = PROGRESS_EVERY
    ) -> Generator[ClockProgress, None, ClockReport]:
        """``execute`` for a command long enough to show its progress (a clock advance):
        see ``clock_steps``."""
        return self.clock_steps(command.duration, every)

    def clock_steps(
        self, duration: str, every: int = PROGRESS_EVERY
    ) -> Generator[ClockProgress, None, ClockReport]:
        """``advance_clock`` in steps, for a caller that does other work in between (the
        dashboard redraws its progress bar): yields the progress every ``every`` items and
        once more when the end is reached, just before the commit; returns the report once
        committed. It is all one transaction, one journal record at the end: closing the
        generator early changes nothing (the event data written meanwhile is left
        unreferenced in the payload file). Run no other command on this service before it
        ends: if one changed the workspace meanwhile, the advance raises ``Conflict`` and
        changes nothing."""
        # The collector would rescan every document the transaction holds, more often the
        # more it holds (a quarter of the time of a year at 1,000 subscriptions): it is paused
        # (between the steps too) until the transaction has ended and its documents are freed.
        with gc_paused():
            report: ClockReport = yield from self._clock_transaction(duration, every)
        return report

    def _clock_transaction(self, duration: str, every: int) -> Generator[ClockProgress, None, ClockReport]:
        step = parse_duration(duration)
        tx = _Tx(self)
        before = self.repository.get("meta", "workspace"), self.repository.get("app", tx.app.id)
        start = tx.ws.now
        end = step.after(start)
        if end <= start:
            raise InvalidValue("the clock only moves forward: give a positive duration like 1h or P1D")
        report = ClockReport(start, end)
        due = DueQueue()
        for row in self.invoice_rows():
            due.push_invoice(row["id"], row["status"], row["collection_at"], row["draft_until"])
        subscriptions = {s.id: s for s in self.subscriptions()}
        for subscription in subscriptions.values():
            due.push_subscription(subscription.id, subscription.period_end)
        customers = {c.id: c for c in self.customers()}
        plans = {p.id: p for p in self.plans()}
        done = written = 0
        while (item := due.pop_until(end)) is not None:
            tx.ws.now = max(tx.ws.now, item.moment)
            if item.kind is DueKind.SUBSCRIPTION:
                subscription = subscriptions[item.key]
                invoice = self._bill_period(
                    tx, subscription, customers[subscription.customer_id], plans[subscription.plan_id]
                )
                report.created.append(invoice.id)
                due.push_subscription(subscription.id, subscription.period_end)
            else:
                invoice = tx.invoice(item.key)
                if tx.run(invoice, _advancing(invoice)).changed:
                    report.advanced.append(invoice.id)
            due.push_invoice(invoice.id, invoice.status, invoice.collection_at, invoice.draft_until)
            done += 1
            if done % every == 0:
                written = self._write_payloads(tx, written)
                yield ClockProgress(start, end, tx.ws.now, len(report.created), len(report.advanced))
        tx.ws.now = end
        self._write_payloads(tx, written)
        yield ClockProgress(start, end, end, len(report.created), len(report.advanced))  # then the commit
        tx.puts += [Put("subscriptions", _dump(s)) for s in subscriptions.values()]
        if (self.repository.get("meta", "workspace"), self.repository.get("app", tx.app.id)) != before:
            raise Conflict(
                "the workspace changed while the clock advanced; nothing was changed: advance it again"
            )
        tx.commit()
        return report

    def _write_payloads(self, tx: _Tx, written: int) -> int:
        """Write the data of the events emitted since the first ``written`` changes to the
        payload file (a clock advance does at each progress report, rather than hold every
        event's text until its one commit, which makes them durable before its record
        counts; written in batches, they compress faster than one at a time between
        renderings); how many changes are written now."""
        self.repository.write_payloads(tx.puts, written)
        return len(tx.puts)

    def _bill_period(self, tx: _Tx, subscription: Subscription, customer: Customer, plan: Plan) -> Invoice:
        """The invoice for a subscription's ended period; the subscription rolls on a month."""
        start, end = subscription.period_start, subscription.period_end
        specs = self._plan_lines(tx, plan, key=f"{subscription.id}:{rfc3339(start)}")
        invoice = self._new_invoice(tx, customer, plan, specs, start, end, subscription.id)
        subscription.period_start, subscription.period_end = next_period(subscription.started_at, end)
        return invoice

    # --- the workspace's file, for the front doors to show -----------------------------
    @property
    def path(self) -> Path:
        """The workspace file (for ``open_for_reading``: the copy's)."""
        return self.repository.path

    @property
    def notices(self) -> list[str]:
        """What opening the workspace found and tolerated, for the user to read."""
        return self.repository.notices


def _advancing(invoice: Invoice) -> Callable[[Outcome, Context], Outcome]:
    """The clock's command for one invoice: advance it as far as its guards let it."""

    def advance(outcome: Outcome, ctx: Context) -> Outcome:
        return lifecycle.advance(invoice, ctx, outcome)

    return advance


def _text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidValue(f"{what} must not be empty")
    if len(text) > 256:
        raise InvalidValue(f"{what} must be at most 256 characters")
    return text
