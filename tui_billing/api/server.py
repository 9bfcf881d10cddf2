"""The OpenMeter-compatible HTTP API: a thin front door onto the service.

Every operation is declared once, in ``ROUTES`` (method, path, handler): v1 under
``/api/v1``, v3 under its server base ``/api/v3`` and under ``/v3`` (Konnect's URL shape).
A handler is any ``async def handler(server: ApiServer, request) -> Response``, so other
modules' operations join the table as more ``Route`` entries.
Every handler runs on the event loop's thread and calls the synchronous service directly:
a command takes a few milliseconds and the service is not thread-safe, so handing it to
a thread pool would be both slower and wrong. Only the fsync leaves the loop: handlers
commit in group (``group_commit``), and the middleware answers once a worker thread has
made every change so far durable, one fsync for all the requests waiting on it.
"""

import asyncio
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from ..domain import shapes
from ..domain.apps import app_v1, app_v3
from ..domain.errors import BillingError, NotAllowed, NotFound, WorkspaceUnusable
from ..domain.ids import is_ulid
from ..domain.models import Invoice
from ..domain.money import parse_decimal
from ..service import LineEdit, Service
from ..service.commands import (
    Advance,
    Approve,
    Collect,
    Delete,
    DraftSynchronized,
    FireTrigger,
    IssuingSynchronized,
    PaymentStatus,
    ReplaceInvoice,
    Retry,
)
from . import bodies, guard, listing, notification, query
from .gate import Gate
from .invoice_v3 import invoice_v3
from .problems import (
    Api,
    ApiProblem,
    Issue,
    Parameter,
    Unauthorized,
    compact_json,
    problem_response,
    status_of,
)

log = logging.getLogger("tui_billing.api")

CallbackResponse = Literal["invoice", "no_content"]
V3_BASES = ("/api/v3", "/v3")
"""Where v3 is served: OpenMeter's own base, and Konnect's (``https://<region>.api.konghq.com/v3``)."""
V1_ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
"""v1's path id pattern (either case); v3's is upper case only (``is_ulid``)."""
KEPT_BODY = 64 * 1024
"""Bytes of each request and response body the call log keeps (the dashboard keeps 500 calls)."""
REQUEST_ID = re.compile(r"^[A-Za-z0-9._~/-]{1,128}$")
INVOICE_NOT_FOUND = Issue("critical", "invoice not found", "invoice_not_found")
CANNOT_ADVANCE = Issue("critical", "invoice cannot advance", "invoice_cannot_advance")
ACTION_NOT_AVAILABLE = Issue("critical", "invoice action not available", "invoice_action_not_available")
PAYMENT_COMPONENT = "app.custom_invoicing.collectPayments.trigger_invoice"
Handler = Callable[["ApiServer", web.Request], Awaitable[web.StreamResponse]]


def _line_edit(index: int, line: bodies.LineReplace) -> LineEdit:
    """A line of the invoice PUT as the service's edit: a flat or unit price (``rateCard``'s,
    else the deprecated ``price``); other price types are not simulated."""
    price = line.rate_card.price if line.rate_card is not None else line.price
    where = f"lines.{index}.rateCard.price"
    if price is None or price.type not in ("flat", "unit") or price.amount is None:
        kind = "no price" if price is None else f"a {price.type} price" if price.amount else "no amount"
        reason = f"simulated lines have a flat or unit price with an amount, got {kind}"
        raise ApiProblem(400, f"{where}: {reason}", parameters=[Parameter(where, reason, "body", "invalid")])
    amount = parse_decimal(price.amount, where + ".amount")
    if price.type == "flat":
        return LineEdit(line.name, amount=amount, replaces=line.id and line.id.upper())
    return LineEdit(line.name, unit_price=amount, replaces=line.id and line.id.upper())


def _payment_refused(detail: str) -> Issue:
    """A refused payment trigger: OpenMeter records it as an issue of the payment component."""
    return Issue("critical", detail, component=PAYMENT_COMPONENT)


@dataclass(frozen=True)
class Route:
    """One operation: served at ``path`` (under each base of its API) by ``handler``.

    Every path parameter is an id: one that is not a ULID is a 400 (v1 accepts either
    case, v3 upper case only). ``query`` lists the query parameters it takes (any other
    is a 400). On billing routes an unknown invoice carries the ``invoice_not_found``
    issue, and a refusal by the lifecycle the ``refusal`` issue.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    """What the operation does, in a few words (docs/api-operations.md lists them)."""
    api: Api = "v1"
    query: frozenset[str] = frozenset()
    billing: bool = False
    refusal: Issue | Callable[[str], Issue] | None = None
    command: type[FireTrigger] | None = None
    """The trigger command the handler runs on the path's invoice (``invoice_action``)."""

    @property
    def operation(self) -> str:
        """The operation's name in the call log: the handler's, or for a trigger command the
        path's last word (``snapshot_quantities``, ``approve_v3``)."""
        if self.command is None:
            return self.handler.__name__
        return self.path.rsplit("/", 1)[1].replace("-", "_") + ("_v3" if self.api == "v3" else "")

    @property
    def bases(self) -> tuple[str, ...]:
        return ("",) if self.api == "v1" else V3_BASES

    def issues(self, error: BillingError) -> tuple[Issue, ...]:
        if not self.billing:
            return ()
        if isinstance(error, NotFound):
            return (INVOICE_NOT_FOUND,)
        if isinstance(error, NotAllowed) and self.refusal is not None:
            return (self.refusal(str(error)) if callable(self.refusal) else self.refusal,)
        return ()


ROUTE = web.RequestKey("route", Route)
"""The route a request matched (absent when none did)."""


@dataclass(frozen=True)
class ApiCall:
    """One request as the call log shows it."""

    at: datetime
    method: str
    path: str
    status: int
    duration_ms: float
    invoice_id: str | None = None
    detail: str | None = None
    """The problem's detail when the call was refused."""
    request_id: str | None = None
    operation: str | None = None
    """The operation's handler (``draft_synchronized``); None when no route matched."""
    request_body: bytes = b""
    response_body: bytes = b""
    """The bodies as sent, each cut at ``KEPT_BODY`` bytes."""
    simulated_at: datetime | None = None
    """The simulated clock when the call was answered."""

    @property
    def changed(self) -> bool:
        """Whether the call changed the workspace (a successful POST, PUT or DELETE)."""
        return self.method in ("POST", "PUT", "DELETE") and self.status < 400


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=compact_json)


class ApiServer:
    """The API bound to one open workspace; ``start_api`` builds and starts one."""

    def __init__(
        self,
        service: Service,
        *,
        token: str | None = None,
        callback_response: CallbackResponse | None = None,
        on_change: Callable[[], None] | None = None,
        on_call: Callable[[ApiCall], None] | None = None,
    ) -> None:
        self.service = service
        self.token = token
        self.callback_override = callback_response
        self.on_change = on_change
        self.on_call = on_call
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._id_prefix = f"tui-billing/{secrets.token_hex(4)}"
        self._requests = 0
        self._flushing: tuple[int, asyncio.Future[None]] | None = None
        """The last flush started (``_durable``): the ticket it makes durable, its future."""
        self.v1_texts = listing.V1Texts(service)
        self.gate = Gate()
        """Requests wait here while the dashboard runs a long command alone (``Serving.hold``)."""
        self.app = web.Application(middlewares=[self._middleware, guard.middleware])
        for route in ROUTES:
            for base in route.bases:
                self.app.router.add_route(route.method, base + route.path, self._bind(route))

    @property
    def callback_response(self) -> CallbackResponse:
        """The run's override, else the workspace setting (read live, so a change in the
        dashboard applies to the next call)."""
        return self.callback_override or self.service.workspace().callback_response

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> None:
        runner = guard.ProblemRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self.url = f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- routing: path ids and query parameters checked before the handler ---------------------
    def _bind(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            request[ROUTE] = route
            is_id = V1_ULID.match if route.api == "v1" else is_ulid
            for name, value in request.match_info.items():
                if not is_id(value):
                    reason = f"{value!r} is not a ULID (like 01G65Z755AFWAKHE12NY0CQ9FH)"
                    raise ApiProblem(
                        400,
                        f"{name}: {reason}",
                        parameters=[Parameter(name, reason, "path", "matches_regex")],
                    )
            query.check_known(request.query, route.query)
            return await route.handler(self, request)

        return handle

    # --- the middleware: request id, auth, problems, the call log -----------------------------
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = self._request_id(request)
        problem: ApiProblem | None = None
        try:
            self._authorize(request)
            async with self.gate.passage():
                with self.service.group_commit():
                    response = await handler(request)
            await self._durable()
        except Unauthorized as error:
            problem = ApiProblem(401, str(error), headers={"WWW-Authenticate": "Bearer"})
        except ApiProblem as error:
            problem = error
        except WorkspaceUnusable as error:
            problem = ApiProblem(500, str(error))
        except BillingError as error:
            problem = self._billing_problem(request, error)
        except web.HTTPException as error:
            problem = ApiProblem(error.status, self._routing_detail(request, error))
        except Exception as error:  # a bug: answer it as a problem, never a bare 500 page
            log.exception("unexpected error in %s %s", request.method, request.path)
            problem = ApiProblem(500, f"unexpected error: {error!r}")
        if problem is not None:
            response = problem_response(self._api_of(request), problem, f"urn:request:{request_id}")
        response.headers["X-Request-Id"] = request_id
        call = ApiCall(
            at=datetime.now(UTC),
            method=request.method,
            path=request.path_qs,
            status=response.status,
            duration_ms=(time.perf_counter() - started) * 1000,
            invoice_id=request.match_info.get("invoiceId"),
            detail=problem.detail if problem else None,
            request_id=request_id,
            operation=route.operation if (route := request.get(ROUTE)) else None,
            request_body=await _request_body(request),
            response_body=_kept(response.body if isinstance(response, web.Response) else None),
            simulated_at=self._simulated_now(),
        )
        if call.changed:
            _notify(self.on_change)
        _notify(self.on_call, call)
        return response

    def _simulated_now(self) -> datetime | None:
        with suppress(BillingError):  # an unusable workspace: the call log still shows the call
            return self.service.now()
        return None

    async def _durable(self) -> None:
        """Wait until every change made so far (this request's, and those it may have
        read) is durable. One flush at a time runs in a worker thread, writing everything
        queued when it starts with one fsync; every request it covers waits on that one,
        and a request whose change came after it waits for it and then for the next."""
        ticket = self.service.unflushed()
        while ticket:
            if self._flushing is None or self._flushing[1].done():
                self._flushing = self._start_flush()
            covered, flush = self._flushing
            await asyncio.shield(flush)  # a waiter that goes away does not cancel the others' fsync
            if covered >= ticket or not self.service.unflushed():
                return

    def _start_flush(self) -> tuple[int, "asyncio.Future[None]"]:
        """Flush every change queued so far in a worker thread: (the ticket it covers, its future)."""
        ticket = self.service.unflushed()
        return ticket, asyncio.get_running_loop().run_in_executor(None, self.service.flush, ticket)

    def _request_id(self, request: web.Request) -> str:
        """The caller's ``X-Request-Id`` when it is a plain token, else a new one."""
        given = request.headers.get("X-Request-Id", "")
        if REQUEST_ID.match(given):
            return given
        self._requests += 1
        return f"{self._id_prefix}-{self._requests:06d}"

    @staticmethod
    def _api_of(request: web.Request) -> Api:
        route: Route | None = request.get(ROUTE)
        if route is not None:
            return route.api
        return "v3" if any(request.path.startswith(base + "/") for base in V3_BASES) else "v1"

    @staticmethod
    def _billing_problem(request: web.Request, error: BillingError) -> ApiProblem:
        route = request.get(ROUTE)
        issues = route.issues(error) if route else ()
        parameters: list[Parameter] = []
        if isinstance(error, NotAllowed) and "invoiceId" in request.match_info:
            parameters.append(Parameter("invoiceId", str(error), "path", "invalid"))
        return ApiProblem(status_of(error), str(error), issues, parameters)

    def _authorize(self, request: web.Request) -> None:
        if self.token is None:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        presented = given.strip().encode(errors="surrogateescape")  # headers may hold any bytes
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented, self.token.encode()):
            raise Unauthorized("this server needs an Authorization: Bearer <token> header with its --token")

    @staticmethod
    def _routing_detail(request: web.Request, error: web.HTTPException) -> str:
        if isinstance(error, web.HTTPMethodNotAllowed):
            allowed = ", ".join(sorted(error.allowed_methods))
            return f"{request.method} is not allowed on {request.path}; use {allowed}"
        if isinstance(error, web.HTTPNotFound):
            return f"no endpoint {request.method} {request.path}"
        return error.text or error.reason

    # --- the integration's three callbacks -----------------------------------------------------
    async def draft_synchronized(self, request: web.Request) -> web.Response:
        result = bodies.parse(bodies.DraftSynchronized, await request.read()).invoicing
        invoice_id = request.match_info["invoiceId"]
        if result.line_discount_external_ids:
            invoice = self.service.invoice(invoice_id)
            unknown = ", ".join(m.line_discount_id for m in result.line_discount_external_ids)
            raise ApiProblem(
                400,
                f"invoice {invoice.number} has no line discount {unknown} "
                "(simulated invoices have no discounts)",
            )
        line_ids: dict[str, str] = {}
        for mapping in result.line_external_ids or []:
            if mapping.line_id in line_ids:
                raise ApiProblem(400, f"lineExternalIds names line {mapping.line_id} twice")
            line_ids[mapping.line_id] = mapping.external_id
        invoice = self.service.execute(
            DraftSynchronized(
                invoice_id,
                invoice_number=result.invoice_number,
                external_id=result.external_id,
                line_external_ids=line_ids,
            )
        )
        return self._callback_answer(invoice)

    async def issuing_synchronized(self, request: web.Request) -> web.Response:
        body = bodies.parse(bodies.IssuingSynchronized, await request.read())
        invoicing = body.invoicing or bodies.IssuingInvoicing()
        invoice = self.service.execute(
            IssuingSynchronized(
                request.match_info["invoiceId"],
                invoice_number=invoicing.invoice_number,
                sent_to_customer_at=invoicing.sent_to_customer_at,
                payment_external_id=body.payment.external_id if body.payment else None,
            )
        )
        return self._callback_answer(invoice)

    async def payment_status(self, request: web.Request) -> web.Response:
        body = bodies.parse(bodies.PaymentStatus, await request.read())
        return self._callback_answer(
            self.service.execute(PaymentStatus(request.match_info["invoiceId"], body.trigger))
        )

    def _callback_answer(self, invoice: Invoice) -> web.Response:
        if self.callback_response == "no_content":
            return web.Response(status=204)
        # The text straight from the shapes: what ``_json(service.invoice_v1(...))`` sends.
        text = shapes.invoice_v1_json(invoice, self.service.context())
        return web.Response(text=text, content_type="application/json")

    # --- invoices, v1 ----------------------------------------------------------------------------
    async def list_invoices(self, request: web.Request) -> web.Response:
        """A page of v1 invoices; without ``expand=workflow.apps`` each one's text comes from
        ``V1Texts`` (rendered once per stored version) and the page is joined around them."""
        invoice_query, expand = query.invoice_list(request.query, lambda text: bool(V1_ULID.match(text)))
        total, rows = self.service.invoice_page_rows(invoice_query)
        ctx = self.service.context()
        lines = "lines" in expand
        if "workflow.apps" in expand:
            bodies = [
                self.service.invoice_v1(self.service.invoice_of(row), ctx, expand_apps=True) for row in rows
            ]
            texts = [
                compact_json(body if lines else {k: v for k, v in body.items() if k != "lines"})
                for body in bodies
            ]
        else:
            texts = [self.v1_texts.text(row, ctx, lines=lines) for row in rows]
        head = compact_json(
            {"totalCount": total, "page": invoice_query.page, "pageSize": invoice_query.page_size}
        )
        return web.Response(
            text=f'{head[:-1]},"items":[{",".join(texts)}]}}', content_type="application/json"
        )

    async def get_invoice(self, request: web.Request) -> web.Response:
        """Lines unless ``expand`` leaves them out (OpenMeter's default expand is ``lines``);
        ``includeDeletedLines`` is accepted: simulated invoices never delete lines."""
        expand = query.values(request.query, "expand", query.EXPANDS) or {"lines"}
        query.flag(request.query, "includeDeletedLines")
        body = self.service.invoice_v1(
            self.service.invoice(request.match_info["invoiceId"]), expand_apps="workflow.apps" in expand
        )
        if "lines" not in expand:
            body.pop("lines", None)
        return _json(body)

    async def replace_invoice(self, request: web.Request) -> web.Response:
        """OpenMeter's ``InvoiceReplaceUpdate``: the lines, description and metadata replace
        the invoice's where the lifecycle allows an edit (the ``updated`` trigger)."""
        body = bodies.parse(bodies.InvoiceReplace, await request.read())
        invoice = self.service.execute(
            ReplaceInvoice(
                request.match_info["invoiceId"],
                [_line_edit(index, line) for index, line in enumerate(body.lines)],
                description=body.description,
                metadata=body.metadata,
            )
        )
        return _json(self.service.invoice_v1(invoice))

    async def delete_invoice(self, request: web.Request) -> web.Response:
        self.service.execute(Delete(request.match_info["invoiceId"]))
        return web.Response(status=204)

    async def invoice_action(self, request: web.Request) -> web.Response:
        """The route's trigger command on the path's invoice; the v1 invoice after it."""
        return _json(self.service.invoice_v1(self._run_action(request)))

    def _run_action(self, request: web.Request) -> Invoice:
        command = request[ROUTE].command
        assert command is not None  # only routes with a command are bound to these handlers
        invoice: Invoice = self.service.execute(command(request.match_info["invoiceId"]))
        return invoice

    async def void_invoice(self, request: web.Request) -> web.Response:
        """OpenMeter does not implement this call (501, whatever the invoice); an External
        Invoicing invoice is voided by the payment status callback's ``void`` trigger."""
        raise ApiProblem(
            501,
            "voiding an invoice is not implemented; the external invoicing system "
            "voids it with POST /api/v1/apps/custom-invoicing/{invoiceId}/payment/status "
            '{"trigger": "void"}',
        )

    # --- invoices, v3 -----------------------------------------------------------------------------
    async def list_invoices_v3(self, request: web.Request) -> web.Response:
        invoice_query = query.invoice_list_v3(request.query, is_ulid)
        total, invoices = self.service.invoice_page(invoice_query)
        ctx = self.service.context()
        data = [invoice_v3(self.service.invoice_v1(invoice, ctx), with_lines=False) for invoice in invoices]
        page = {"number": invoice_query.page, "size": invoice_query.page_size, "total": total}
        return _json({"data": data, "meta": {"page": page}})

    async def get_invoice_v3(self, request: web.Request) -> web.Response:
        return self._v3(self.service.invoice(request.match_info["invoiceId"]))

    async def invoice_action_v3(self, request: web.Request) -> web.Response:
        """The route's trigger command on the path's invoice; the v3 invoice after it."""
        return self._v3(self._run_action(request))

    def _v3(self, invoice: Invoice) -> web.Response:
        return _json(invoice_v3(self.service.invoice_v1(invoice)))

    # --- the app -----------------------------------------------------------------------------
    async def list_apps_v1(self, request: web.Request) -> web.Response:
        page = query.integer(request.query, "page", 1, 1, 1_000_000)
        page_size = query.integer(request.query, "pageSize", 100, 1, query.MAX_PAGE_SIZE)
        items = [app_v1(self.service.app())] if page == 1 else []
        return _json({"totalCount": 1, "page": page, "pageSize": page_size, "items": items})

    async def get_app_v1(self, request: web.Request) -> web.Response:
        self._app_id(request)
        return _json(app_v1(self.service.app()))

    async def put_app_v1(self, request: web.Request) -> web.Response:
        self._app_id(request)
        body = bodies.parse(bodies.AppV1Update, await request.read())
        return _json(app_v1(self.service.execute(body.command())))

    async def list_apps_v3(self, request: web.Request) -> web.Response:
        number, size = query.page_v3(request.query)
        data = [app_v3(self.service.app())] if number == 1 else []
        return _json({"data": data, "meta": {"page": {"number": number, "size": size, "total": 1}}})

    async def get_app_v3(self, request: web.Request) -> web.Response:
        self._app_id(request)
        return _json(app_v3(self.service.app()))

    async def put_app_v3(self, request: web.Request) -> web.Response:
        self._app_id(request)
        body = bodies.parse(bodies.AppV3Update, await request.read())
        return _json(app_v3(self.service.execute(body.command())))

    def _app_id(self, request: web.Request) -> None:
        app_id = request.match_info["appId"]
        if app_id != self.service.app().id:
            raise NotFound(f"no app {app_id!r}; GET /api/v1/apps lists the installed one")


CALLBACKS = "/api/v1/apps/custom-invoicing/{invoiceId}"
INVOICES = "/api/v1/billing/invoices"
V3_INVOICES = "/openmeter/billing/invoices"
ROUTES: tuple[Route, ...] = (
    # The External Invoicing app's callbacks.
    Route(
        "POST",
        f"{CALLBACKS}/draft/synchronized",
        ApiServer.draft_synchronized,
        summary="The external system has synchronized the draft invoice",
        billing=True,
    ),
    Route(
        "POST",
        f"{CALLBACKS}/issuing/synchronized",
        ApiServer.issuing_synchronized,
        summary="The external system has issued the invoice",
        billing=True,
    ),
    Route(
        "POST",
        f"{CALLBACKS}/payment/status",
        ApiServer.payment_status,
        summary="The external system reports a payment status change",
        billing=True,
        refusal=_payment_refused,
    ),
    # Invoices, v1.
    Route(
        "GET",
        INVOICES,
        ApiServer.list_invoices,
        summary="List invoices (filters, order, pages)",
        query=query.INVOICE_LIST,
    ),
    Route(
        "GET",
        INVOICES + "/{invoiceId}",
        ApiServer.get_invoice,
        summary="Get an invoice",
        query=query.INVOICE_GET,
        billing=True,
    ),
    Route(
        "PUT",
        INVOICES + "/{invoiceId}",
        ApiServer.replace_invoice,
        summary="Replace an invoice's lines where the lifecycle allows an edit",
        billing=True,
        refusal=ACTION_NOT_AVAILABLE,
    ),
    Route(
        "DELETE",
        INVOICES + "/{invoiceId}",
        ApiServer.delete_invoice,
        summary="Delete an invoice",
        billing=True,
        refusal=ACTION_NOT_AVAILABLE,
    ),
    Route(
        "POST",
        INVOICES + "/{invoiceId}/advance",
        ApiServer.invoice_action,
        command=Advance,
        summary="Advance an invoice to its next state",
        billing=True,
        refusal=CANNOT_ADVANCE,
    ),
    Route(
        "POST",
        INVOICES + "/{invoiceId}/approve",
        ApiServer.invoice_action,
        command=Approve,
        summary="Approve an invoice waiting for approval",
        billing=True,
        refusal=ACTION_NOT_AVAILABLE,
    ),
    Route(
        "POST",
        INVOICES + "/{invoiceId}/retry",
        ApiServer.invoice_action,
        command=Retry,
        summary="Retry a failed invoice",
        billing=True,
        refusal=ACTION_NOT_AVAILABLE,
    ),
    Route(
        "POST",
        INVOICES + "/{invoiceId}/snapshot-quantities",
        ApiServer.invoice_action,
        command=Collect,
        summary="Collect usage now (snapshot the quantities)",
        billing=True,
        refusal=ACTION_NOT_AVAILABLE,
    ),
    Route(
        "POST",
        INVOICES + "/{invoiceId}/void",
        ApiServer.void_invoice,
        summary="Void an invoice (not implemented, as in OpenMeter)",
        billing=True,
    ),
    # The app, v1.
    Route("GET", "/api/v1/apps", ApiServer.list_apps_v1, summary="List installed apps", query=query.PAGE),
    Route("GET", "/api/v1/apps/{appId}", ApiServer.get_app_v1, summary="Get the app"),
    Route("PUT", "/api/v1/apps/{appId}", ApiServer.put_app_v1, summary="Replace the app's settings"),
    # The app, v3.
    Route(
        "GET",
        "/openmeter/apps",
        ApiServer.list_apps_v3,
        summary="List installed apps",
        api="v3",
        query=query.PAGE_V3,
    ),
    Route("GET", "/openmeter/apps/{appId}", ApiServer.get_app_v3, summary="Get the app", api="v3"),
    Route(
        "PUT", "/openmeter/apps/{appId}", ApiServer.put_app_v3, summary="Replace the app's settings", api="v3"
    ),
    # Invoices, v3.
    Route(
        "GET",
        V3_INVOICES,
        ApiServer.list_invoices_v3,
        summary="List invoices (filters, sort, pages)",
        api="v3",
        query=query.INVOICE_LIST_V3,
    ),
    Route(
        "GET",
        V3_INVOICES + "/{invoiceId}",
        ApiServer.get_invoice_v3,
        summary="Get an invoice",
        api="v3",
        billing=True,
    ),
    Route(
        "POST",
        V3_INVOICES + "/{invoiceId}/advance",
        ApiServer.invoice_action_v3,
        command=Advance,
        summary="Advance an invoice to its next state",
        api="v3",
        billing=True,
        refusal=CANNOT_ADVANCE,
    ),
    Route(
        "POST",
        V3_INVOICES + "/{invoiceId}/approve",
        ApiServer.invoice_action_v3,
        command=Approve,
        summary="Approve an invoice waiting for approval",
        api="v3",
        billing=True,
        refusal=ACTION_NOT_AVAILABLE,
    ),
    Route(
        "POST",
        V3_INVOICES + "/{invoiceId}/retry",
        ApiServer.invoice_action_v3,
        command=Retry,
        summary="Retry a failed invoice",
        api="v3",
        billing=True,
        refusal=ACTION_NOT_AVAILABLE,
    ),
    Route(
        "POST",
        V3_INVOICES + "/{invoiceId}/snapshot-quantities",
        ApiServer.invoice_action_v3,
        command=Collect,
        summary="Collect usage now (snapshot the quantities)",
        api="v3",
        billing=True,
        refusal=ACTION_NOT_AVAILABLE,
    ),
    # Notifications: webhook channels, rules and events, v1.
    *notification.routes(),
)


def operations() -> Iterator[tuple[str, str]]:
    """Every (method, path) served, in the table's order (v3 under each of its bases)."""
    for route in ROUTES:
        for base in route.bases:
            yield route.method, base + route.path


async def _request_body(request: web.Request) -> bytes:
    """The request's body for the call log (read once by aiohttp, so the handler's read is
    reused); none when it cannot be read (too large, the client gone)."""
    if not request.body_exists:
        return b""
    try:
        return _kept(await request.read())
    except (TimeoutError, web.HTTPException, OSError):
        return b""


def _kept(body: object) -> bytes:
    """A body as the call log keeps it: bytes, at most ``KEPT_BODY`` of them."""
    return bytes(body[:KEPT_BODY]) if isinstance(body, bytes | bytearray) else b""


def _notify(callback: Callable[..., None] | None, *args: Any) -> None:
    """Call a front end's callback; its failure must not fail the request."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        log.exception("the API's %s callback failed", getattr(callback, "__name__", "change"))


async def start_api(
    service: Service,
    *,
    host: str = "127.0.0.1",
    port: int = 8888,
    token: str | None = None,
    callback_response: CallbackResponse | None = None,
    on_change: Callable[[], None] | None = None,
    on_call: Callable[[ApiCall], None] | None = None,
) -> ApiServer:
    """Serve the API on the running event loop; ``await server.stop()`` to end it.

    ``callback_response`` None follows the workspace setting; ``on_change`` is called after
    every successful mutating call and ``on_call`` after every call (refused ones too),
    both on the loop's thread, after the change is durable and before the answer is sent.
    Port 0 picks a free port: ``server.url`` tells which.
    """
    server = ApiServer(
        service, token=token, callback_response=callback_response, on_change=on_change, on_call=on_call
    )
    await server.start(host, port)
    return server
