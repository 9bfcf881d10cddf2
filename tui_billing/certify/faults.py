"""What the certify run sees of the partner's calls, and the faults it injects into them.

``CallLog.middleware`` is installed on the certify run's own ``ApiServer`` only (never on
``serve`` or the dashboard). It records every call of the External Invoicing callbacks
(kind, invoice, answer, request id, body excerpt) and, when a check armed one, plays a
fault on the next matching callback: a transient 503, a dropped connection, a hold
(the call waits until the check releases it), or service commands run just before the
call is handled (the invoice moves on meanwhile, as when someone acts in OpenMeter's UI).
"""

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

CALLBACK_PATH = re.compile(
    r"^/api/v1/apps/custom-invoicing/(?P<invoice>[^/]+)/(?P<kind>draft/synchronized|issuing/synchronized|payment/status)$"
)
KINDS = {
    "draft/synchronized": "draft_synchronized",
    "issuing/synchronized": "issuing_synchronized",
    "payment/status": "payment_status",
}
EXCERPT = 120
"""Characters of a request body kept as evidence."""
FaultKind = Literal["unavailable", "drop", "hold", "before"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Call:
    """One callback the partner made."""

    number: int
    at: float
    """Seconds on the loop's clock."""
    kind: str
    invoice_id: str
    body: dict[str, Any] | None
    raw: str
    status: int = 0
    request_id: str = ""
    detail: str = ""
    fault: str = ""
    """The fault played on this call, if any."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def evidence(self) -> str:
        answer = f"{self.status}" if self.status else "dropped"
        fault = f" [{self.fault}]" if self.fault else ""
        detail = f" {self.detail[:120]!r}" if self.detail else ""
        rid = f" request {self.request_id}" if self.request_id else ""
        return f"{self.kind} → {answer}{fault}{rid}{detail} body {self.raw[:EXCERPT]}"


@dataclass
class Fault:
    kind: FaultKind
    callback: str
    invoice_id: str
    before: Callable[[], None] | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    call: Call | None = None


class CallLog:
    """Every callback of the run, newest last, and the armed faults (each plays once)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.changed = asyncio.Event()

    def arm(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def disarm(self) -> None:
        """Drop unplayed faults and let every held call go."""
        for fault in self.faults:
            fault.release.set()
        self.faults = []

    def of(self, invoice_id: str, kind: str | None = None, since: int = 0) -> list[Call]:
        return [
            c for c in self.calls[since:] if c.invoice_id == invoice_id and (kind is None or c.kind == kind)
        ]

    def _take(self, kind: str, invoice_id: str) -> Fault | None:
        for fault in self.faults:
            if fault.callback == kind and fault.invoice_id == invoice_id:
                self.faults.remove(fault)
                return fault
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        match = CALLBACK_PATH.match(request.path)
        if match is None or request.method != "POST":
            return await handler(request)
        raw = (await request.read()).decode("utf-8", "replace")  # cached for the handler
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        call = Call(
            number=len(self.calls) + 1,
            at=time.monotonic(),
            kind=KINDS[match["kind"]],
            invoice_id=match["invoice"].upper(),
            body=body if isinstance(body, dict) else None,
            raw=raw,
        )
        self.calls.append(call)
        fault = self._take(call.kind, call.invoice_id)
        try:
            if fault is not None:
                call.fault = fault.kind
                fault.call = call
                fault.arrived.set()
                if fault.kind == "unavailable":
                    call.status, call.detail = 503, "injected: service unavailable"
                    return _unavailable(request)
                if fault.kind == "drop":
                    if request.transport is not None:
                        request.transport.close()  # the answer below is never sent
                    return web.Response(status=503)
                if fault.kind == "hold":
                    await fault.release.wait()
                elif fault.before is not None:
                    fault.before()
            response = await handler(request)
            call.status = response.status
            call.request_id = response.headers.get("X-Request-Id", "")
            if response.status >= 400 and isinstance(response, web.Response) and response.body:
                try:
                    call.detail = json.loads(bytes(response.body)).get("detail", "")  # type: ignore[arg-type]
                except (ValueError, TypeError, AttributeError):
                    call.detail = ""
            return response
        finally:
            self.changed.set()


def _unavailable(request: web.Request) -> web.Response:
    problem = {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "the billing service is briefly unavailable; retry the call",
        "instance": f"urn:request:certify-{datetime.now(UTC).strftime('%H%M%S%f')}",
    }
    return web.json_response(problem, status=503, content_type="application/problem+json")
