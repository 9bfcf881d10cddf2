"""The OpenMeter-compatible HTTP API: a thin front door onto the service.

Paths, names and JSON follow OpenMeter's v1 API (and the v3 app shape at
``/openmeter/apps/{appId}``). Every handler runs on the event loop's thread and calls the
synchronous service directly: a command takes a few milliseconds and the service is not
thread-safe, so handing it to a thread pool would be both slower and wrong.
"""

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from aiohttp import web

from ..domain.errors import BillingError, InvalidValue, NotFound
from ..domain.events import app_v1, app_v3
from ..domain.ids import is_ulid
from ..domain.models import Invoice
from ..domain.status import Status, v1_status
from ..service import Service
from ..store.journal import StoreError
from . import bodies, guard
from .problems import Unauthorized, compact_json, problem, status_of

log = logging.getLogger("tui_billing.api")

CallbackResponse = Literal["invoice", "no_content"]
CUSTOM_INVOICING = "/api/v1/apps/custom-invoicing/{invoiceId}"
INVOICES = "/api/v1/billing/invoices"
V1_STATUSES = frozenset({"gathering"} | {"deleted" if s.short == "delete" else s.short for s in Status})
EXTENDED_STATUSES = frozenset(s.value for s in Status)
EXPANDS = frozenset({"lines", "preceding", "workflow.apps"})
MAX_PAGE_SIZE = 1000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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

    @property
    def changed(self) -> bool:
        """Whether the call changed the workspace (a successful POST, PUT or DELETE)."""
        return self.method in ("POST", "PUT", "DELETE") and self.status < 400


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=compact_json)


def _values(request: web.Request, name: str, allowed: frozenset[str]) -> set[str]:
    """A list query parameter, repeated (``?a=x&a=y``) or comma-separated; checked."""
    values = {v.strip() for raw in request.query.getall(name, []) for v in raw.split(",") if v.strip()}
    unknown = sorted(values - allowed)
    if unknown:
        raise InvalidValue(f"{name}: unknown value {', '.join(unknown)}; use {', '.join(sorted(allowed))}")
    return values


def _integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidValue(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise InvalidValue(f"{name} must be between {low} and {high}, got {value}")
    return value


def _flag(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false").lower()
    if text not in ("true", "false"):
        raise InvalidValue(f"{name} must be true or false, got {text!r}")
    return text == "true"


class ApiServer:
    """The API bound to one open workspace; ``start_api`` builds and starts one."""

    def __init__(self, service: Service, *, token: str | None = None,
                 callback_response: CallbackResponse | None = None,
                 on_change: Callable[[], None] | None = None,
                 on_call: Callable[[ApiCall], None] | None = None) -> None:
        self.service = service
        self.token = token
        self.callback_override = callback_response
        self.on_change = on_change
        self.on_call = on_call
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._middleware, guard.middleware])
        self.app.router.add_routes(self._routes())

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

    # --- the middleware: auth, problems, the call log -----------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        detail: str | None = None
        try:
            self._authorize(request)
            response = await handler(request)
        except Unauthorized as error:
            detail = str(error)
            response = problem(401, detail, request.path, {"WWW-Authenticate": "Bearer"})
        except BillingError as error:
            detail = str(error)
            response = problem(status_of(error), detail, request.path)
        except StoreError as error:
            detail = str(error)
            response = problem(500, detail, request.path)
        except web.HTTPException as error:
            detail = self._routing_detail(request, error)
            response = problem(error.status, detail, request.path)
        except Exception as error:  # a bug: answer it as a problem, never a bare 500 page
            log.exception("unexpected error in %s %s", request.method, request.path)
            detail = f"unexpected error: {error!r}"
            response = problem(500, detail, request.path)
        call = ApiCall(at=datetime.now(UTC), method=request.method, path=request.path_qs,
                       status=response.status, duration_ms=(time.perf_counter() - started) * 1000,
                       invoice_id=request.match_info.get("invoiceId"), detail=detail)
        if call.changed:
            _notify(self.on_change)
        _notify(self.on_call, call)
        return response

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

    # --- routes ------------------------------------------------------------------------------
    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{CUSTOM_INVOICING}/draft/synchronized", self.draft_synchronized),
            web.post(f"{CUSTOM_INVOICING}/issuing/synchronized", self.issuing_synchronized),
            web.post(f"{CUSTOM_INVOICING}/payment/status", self.payment_status),
            web.get(INVOICES, self.list_invoices, allow_head=False),
            web.get(INVOICES + "/{invoiceId}", self.get_invoice, allow_head=False),
            web.delete(INVOICES + "/{invoiceId}", self.delete_invoice),
            web.post(INVOICES + "/{invoiceId}/advance", partial(self.action, "advance")),
            web.post(INVOICES + "/{invoiceId}/approve", partial(self.action, "approve")),
            web.post(INVOICES + "/{invoiceId}/retry", partial(self.action, "retry")),
            web.get("/api/v1/apps", self.list_apps, allow_head=False),
            web.get("/api/v1/apps/{appId}", self.get_app_v1, allow_head=False),
            web.put("/api/v1/apps/{appId}", self.put_app_v1),
            web.get("/openmeter/apps/{appId}", self.get_app_v3, allow_head=False),
            web.put("/openmeter/apps/{appId}", self.put_app_v3),
        ]

    # --- the integration's three callbacks -----------------------------------------------------
    async def draft_synchronized(self, request: web.Request) -> web.Response:
        result = bodies.parse(bodies.DraftSynchronized, await request.read()).invoicing
        invoice_id = self._invoice_id(request)
        if result.line_discount_external_ids:
            invoice = self.service.invoice(invoice_id)
            unknown = ", ".join(m.line_discount_id for m in result.line_discount_external_ids)
            raise InvalidValue(f"invoice {invoice.number} has no line discount {unknown} "
                               "(simulated invoices have no discounts)")
        line_ids: dict[str, str] = {}
        for mapping in result.line_external_ids or []:
            if mapping.line_id in line_ids:
                raise InvalidValue(f"lineExternalIds names line {mapping.line_id} twice")
            line_ids[mapping.line_id] = mapping.external_id
        invoice = self.service.draft_synchronized(
            invoice_id, invoice_number=result.invoice_number, external_id=result.external_id,
            line_external_ids=line_ids)
        return self._callback_answer(invoice)

    async def issuing_synchronized(self, request: web.Request) -> web.Response:
        body = bodies.parse(bodies.IssuingSynchronized, await request.read())
        invoicing = body.invoicing or bodies.IssuingInvoicing()
        invoice = self.service.issuing_synchronized(
            self._invoice_id(request), invoice_number=invoicing.invoice_number,
            sent_to_customer_at=invoicing.sent_to_customer_at,
            payment_external_id=body.payment.external_id if body.payment else None)
        return self._callback_answer(invoice)

    async def payment_status(self, request: web.Request) -> web.Response:
        body = bodies.parse(bodies.PaymentStatus, await request.read())
        return self._callback_answer(self.service.payment_status(self._invoice_id(request), body.trigger))

    def _callback_answer(self, invoice: Invoice) -> web.Response:
        if self.callback_response == "no_content":
            return web.Response(status=204)
        return _json(self.service.invoice_v1(invoice))

    # --- invoices ----------------------------------------------------------------------------
    async def list_invoices(self, request: web.Request) -> web.Response:
        statuses = _values(request, "statuses", V1_STATUSES)
        extended = _values(request, "extendedStatuses", EXTENDED_STATUSES)
        expand = _values(request, "expand", EXPANDS)
        include_deleted = _flag(request, "includeDeleted")
        page = _integer(request, "page", 1, 1, 1_000_000)
        page_size = _integer(request, "pageSize", 100, 1, MAX_PAGE_SIZE)
        rows = [row for row in self.service.invoice_rows()
                if (include_deleted or row["status"] != Status.DELETED.value)
                and (not statuses or v1_status(row["status"]) in statuses)
                and (not extended or row["status"] in extended)]
        items = []
        for row in rows[(page - 1) * page_size: page * page_size]:
            body = self.service.invoice_v1(self.service.invoice(row["id"]))
            if "lines" not in expand:
                body.pop("lines", None)
            items.append(body)
        return _json({"totalCount": len(rows), "page": page, "pageSize": page_size, "items": items})

    async def get_invoice(self, request: web.Request) -> web.Response:
        return _json(self.service.invoice_v1(self.service.invoice(self._invoice_id(request))))

    async def delete_invoice(self, request: web.Request) -> web.Response:
        self.service.delete(self._invoice_id(request))
        return web.Response(status=204)

    async def action(self, name: str, request: web.Request) -> web.Response:
        invoice = getattr(self.service, name)(self._invoice_id(request))
        return _json(self.service.invoice_v1(invoice))

    def _invoice_id(self, request: web.Request) -> str:
        """The path's invoice id; only ULIDs name invoices here (never numbers)."""
        invoice_id = request.match_info["invoiceId"]
        if not is_ulid(invoice_id):
            raise NotFound(f"no invoice {invoice_id!r}: invoice ids are ULIDs "
                           "like 01G65Z755AFWAKHE12NY0CQ9FH")
        return invoice_id

    # --- the app -----------------------------------------------------------------------------
    async def list_apps(self, request: web.Request) -> web.Response:
        page = _integer(request, "page", 1, 1, 1_000_000)
        page_size = _integer(request, "pageSize", 100, 1, MAX_PAGE_SIZE)
        items = [app_v1(self.service.app())] if page == 1 else []
        return _json({"totalCount": 1, "page": page, "pageSize": page_size, "items": items})

    async def get_app_v1(self, request: web.Request) -> web.Response:
        self._app_id(request)
        return _json(app_v1(self.service.app()))

    async def put_app_v1(self, request: web.Request) -> web.Response:
        body = bodies.parse(bodies.AppV1Update, await request.read())
        self._app_id(request)
        self._replace_app(body.name, body.description, body.metadata,
                          (body.enable_draft_sync_hook, body.enable_issuing_sync_hook))
        return _json(app_v1(self.service.app()))

    async def get_app_v3(self, request: web.Request) -> web.Response:
        self._app_id(request)
        return _json(app_v3(self.service.app()))

    async def put_app_v3(self, request: web.Request) -> web.Response:
        body = bodies.parse(bodies.AppV3Update, await request.read())
        self._app_id(request)
        self._replace_app(body.name, body.description, body.labels,
                          (body.enable_draft_sync_hook, body.enable_issuing_sync_hook))
        return _json(app_v3(self.service.app()))

    def _app_id(self, request: web.Request) -> None:
        app_id = request.match_info["appId"]
        if app_id != self.service.app().id:
            raise NotFound(f"no app {app_id!r}; GET /api/v1/apps lists the installed one")

    def _replace_app(self, name: str, description: str | None, labels: dict[str, str] | None,
                     hooks: tuple[bool, bool]) -> None:
        """Apply a validated PUT; an omitted description or labels map is left as it is."""
        current = self.service.app()
        if (name != current.name or description not in (None, current.description)
                or labels not in (None, current.labels)):
            self.service.update_app(name=name, description=description, labels=labels)
        if hooks != (current.enable_draft_sync_hook, current.enable_issuing_sync_hook):
            self.service.set_hooks(draft=hooks[0], issuing=hooks[1])


def _notify(callback: Callable[..., None] | None, *args: Any) -> None:
    """Call a front end's callback; its failure must not fail the request."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        log.exception("the API's %s callback failed", getattr(callback, "__name__", "change"))


async def start_api(service: Service, *, host: str = "127.0.0.1", port: int = 8888,
                    token: str | None = None, callback_response: CallbackResponse | None = None,
                    on_change: Callable[[], None] | None = None,
                    on_call: Callable[[ApiCall], None] | None = None) -> ApiServer:
    """Serve the API on the running event loop; ``await server.stop()`` to end it.

    ``callback_response`` None follows the workspace setting; ``on_change`` is called after
    every successful mutating call and ``on_call`` after every call (refused ones too),
    both on the loop's thread, after the change is durable and before the answer is sent.
    Port 0 picks a free port: ``server.url`` tells which.
    """
    server = ApiServer(service, token=token, callback_response=callback_response,
                       on_change=on_change, on_call=on_call)
    await server.start(host, port)
    return server
