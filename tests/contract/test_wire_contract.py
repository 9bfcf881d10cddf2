"""The wire contract, end to end: every answer of every implemented HTTP operation and every
webhook body, validated against the models of ``openmeter_contract`` (OpenMeter's published
OpenAPI, written in this project's words).

One walk per module, as a partner's integration test would do it: the demo workspace, the API
on loopback (port 0), the apps (v1 and v3 under ``/api/v3``), the invoice lists and filters,
a GET of every invoice, the three callbacks in allowed and refused states, approve, retry,
advance and delete, unknown and malformed ids; then a second server with a token and
``callback_response=no_content`` (401s and the spec's own 204s). Each test checks one group of
the walk's answers and lists every answer of the group that breaks the contract. The logged
events, the bodies webhook deliveries would carry, and ``invoices --json`` / ``events --json``
are held to the same models.

Declared exceptions, both where OpenMeter's server leaves its spec: the callbacks' 200 with the
invoice (the spec says 204; checked against ``Invoice``), and a delete status outside the enum
for an invoice in ``delete.*`` or ``deleted`` (allowed by the ``Invoice`` model itself).
"""

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import DEMO
from openmeter_contract import (
    WEBHOOK_PAYLOADS,
    AppPage,
    BadRequestV3,
    ChannelPage,
    CustomInvoicingApp,
    EventPage,
    ExternalInvoicingAppV3,
    Invoice,
    InvoicePage,
    InvoiceRule,
    NotificationChannel,
    NotificationEvent,
    Problem,
    ProblemV3,
    RulePage,
)
from pydantic import BaseModel, ValidationError

from tui_billing.api import notification, start_api
from tui_billing.api import server as server_module
from tui_billing.cli import main as cli_main
from tui_billing.domain.shapes import envelope
from tui_billing.service import Service, scenario
from tui_billing.service.commands import Collect, CreateInvoice
from tui_billing.service.notifications import Webhooks

UNKNOWN_ULID = "01G65Z755AFWAKHE12NY0CQ9FH"
TOKEN = "contract-token"
V3 = "/api/v3"
INVOICES = "/api/v1/billing/invoices"
CALLBACKS = "/api/v1/apps/custom-invoicing"
PROBLEMS = (Problem, ProblemV3, BadRequestV3)

Check = Callable[[Any], str | None]
"""A fact about one answer beyond its shape (e.g. a filter's effect): None, or what is wrong."""


@dataclass
class Answer:
    group: str
    label: str
    expect: int
    model: type[BaseModel] | None  # None: the answer has no body
    status: int
    ctype: str
    body: bytes
    check: Check | None = None

    def __repr__(self) -> str:
        return f"<{self.label}: HTTP {self.status}>"

    def problems(self) -> list[str]:
        """Everything about this answer that breaks the contract."""
        found = [] if self.status == self.expect else [f"HTTP {self.status}, expected {self.expect}"]
        if self.model is None:
            if self.body.strip():
                found.append(f"a {self.status} has no body; got {len(self.body)} bytes")
            return found
        wanted = "application/problem+json" if self.model in PROBLEMS else "application/json"
        if self.ctype != wanted:
            found.append(f"Content-Type {self.ctype or 'none'}, expected {wanted}")
        try:
            self.model.model_validate_json(self.body)
        except ValidationError as error:
            found += [f"{self.model.__name__}: {_where(e['loc'])}: {e['msg']}" for e in error.errors()[:4]]
            if error.error_count() > 4:
                found.append(f"… {error.error_count() - 4} more")
        parsed = _json_or_none(self.body)
        if self.model in PROBLEMS and isinstance(parsed, dict) and parsed.get("status") != self.status:
            found.append(f"problem status {parsed.get('status')} differs from HTTP {self.status}")
        if self.check is not None and self.status == self.expect and isinstance(parsed, dict):
            try:
                wrong = self.check(parsed)
            except (KeyError, TypeError, AttributeError) as error:
                wrong = f"the answer lacks what the check reads ({error!r})"
            if wrong:
                found.append(wrong)
        return found


@dataclass
class Walk:
    workspace: Path
    answers: list[Answer] = field(default_factory=list)
    logged: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)

    def __repr__(self) -> str:
        counts = f"{len(self.answers)} answers, {len(self.logged)} events, {len(self.delivered)} deliveries"
        return f"<walk: {counts}>"

    def group(self, name: str) -> list[Answer]:
        return [a for a in self.answers if a.group == name]


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "$"


def assert_contract(answers: list[Answer]) -> None:
    assert answers, "the walk made no call of this group"
    broken = [f"{a.label} -> " + "; ".join(p) for a in answers if (p := a.problems())]
    assert not broken, f"{len(broken)} of {len(answers)} answers break the contract:\n" + "\n".join(broken)


# --- the walk ---------------------------------------------------------------------------------
class Client:
    """Calls over loopback and records each answer with what the contract expects of it."""

    def __init__(self, http: aiohttp.ClientSession, walk: Walk, token: str | None = None) -> None:
        self.http, self.walk, self.token = http, walk, token

    async def __call__(
        self,
        group: str,
        label: str,
        method: str,
        path: str,
        expect: int,
        model: type[BaseModel] | None,
        body: Any = None,
        *,
        raw: bytes | None = None,
        check: Check | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.http.request(method, path, data=data, headers=headers) as response:
            content = await response.read()
            answer = Answer(
                group,
                f"{method} {path} [{label}]",
                expect,
                model,
                response.status,
                response.content_type if content else "",
                content,
                check,
            )
        self.walk.answers.append(answer)
        return _json_or_none(content)


def _only(status_of: Callable[[dict[str, Any]], str], allowed: set[str]) -> Check:
    def check(page: dict[str, Any]) -> str | None:
        wrong = {status_of(item) for item in page["items"]} - allowed
        return f"items outside the filter: {sorted(wrong)}" if wrong else None

    return check


def _short(invoice: dict[str, Any]) -> str:
    return invoice["status"]


def _extended(invoice: dict[str, Any]) -> str:
    return invoice["statusDetails"]["extendedStatus"]


def _page_of(page: int, size: int) -> Check:
    def check(answer: dict[str, Any]) -> str | None:
        if (answer["page"], answer["pageSize"]) != (page, size) or len(answer["items"]) > size:
            return f"page {answer['page']} of size {answer['pageSize']} with {len(answer['items'])} items"
        return None

    return check


def _no_deleted(answer: dict[str, Any]) -> str | None:
    hidden = [i["number"] for i in answer["items"] if i.get("deletedAt")]
    return f"the default list shows deleted invoices {hidden}" if hidden else None


def _customer(customer_id: str) -> Check:
    def check(answer: dict[str, Any]) -> str | None:
        others = {i["customer"].get("id") for i in answer["items"]} - {customer_id}
        if not answer["items"]:
            return "the customers filter left no invoice of that customer"
        return f"invoices of other customers: {sorted(map(str, others))}" if others else None

    return check


async def phase_a(service: Service, walk: Walk) -> None:
    """Reads, refused and accepted callbacks, actions and app writes; default callback answers."""
    server = await start_api(service, port=0)
    try:
        async with aiohttp.ClientSession(server.url) as http:
            call = Client(http, walk)
            await _apps_read(call)
            everything = await _lists(call)
            states: dict[str, list[dict[str, Any]]] = {}
            for item in everything:
                states.setdefault(_extended(item), []).append(item)
            for item in everything:
                await call(
                    "get",
                    f"{item['number']}, {_extended(item)}",
                    "GET",
                    f"{INVOICES}/{item['id']}",
                    200,
                    Invoice,
                )
            touched = await _callbacks_and_actions(call, states)
            await _apps_write(call, service.app().id, states)
            for invoice_id in dict.fromkeys(touched):
                await call("get", "after the calls", "GET", f"{INVOICES}/{invoice_id}", 200, Invoice)
    finally:
        await server.stop()


async def _apps_read(call: Client) -> None:
    listing = await call("apps-v1", "list", "GET", "/api/v1/apps", 200, AppPage)
    app_id = listing["items"][0]["id"]
    await call("apps-v1", "get", "GET", f"/api/v1/apps/{app_id}", 200, CustomInvoicingApp)
    await call("not-found", "unknown app", "GET", f"/api/v1/apps/{UNKNOWN_ULID}", 404, Problem)
    await call("apps-v3", "get", "GET", f"{V3}/openmeter/apps/{app_id}", 200, ExternalInvoicingAppV3)
    await call("apps-v3", "unknown app", "GET", f"{V3}/openmeter/apps/{UNKNOWN_ULID}", 404, ProblemV3)


async def _lists(call: Client) -> list[dict[str, Any]]:
    """The list calls; returns every invoice, deleted ones too, with lines."""
    await call("list", "default", "GET", INVOICES, 200, InvoicePage, check=_no_deleted)
    everything = await call(
        "list",
        "everything",
        "GET",
        f"{INVOICES}?includeDeleted=true&expand=lines&pageSize=1000",
        200,
        InvoicePage,
    )
    await call(
        "list",
        "statuses, page",
        "GET",
        f"{INVOICES}?statuses=draft&statuses=payment_processing&page=1&pageSize=3",
        200,
        InvoicePage,
        check=lambda page: _only(_short, {"draft", "payment_processing"})(page) or _page_of(1, 3)(page),
    )
    await call(
        "list",
        "extendedStatuses",
        "GET",
        f"{INVOICES}?extendedStatuses=draft.syncing",
        200,
        InvoicePage,
        check=_only(_extended, {"draft.syncing"}),
    )
    await call("list", "bogus status", "GET", f"{INVOICES}?statuses=bogus", 400, Problem)
    await call("list", "pageSize 0", "GET", f"{INVOICES}?pageSize=0", 400, Problem)
    items = everything["items"]
    customer_id = items[0]["customer"]["id"]
    await call(
        "filters",
        "customers",
        "GET",
        f"{INVOICES}?customers={customer_id}&includeDeleted=true",
        200,
        InvoicePage,
        check=_customer(customer_id),
    )
    await call(
        "filters",
        "createdAfter, order",
        "GET",
        f"{INVOICES}?createdAfter=2000-01-01T00:00:00Z&orderBy=createdAt&order=ASC",
        200,
        InvoicePage,
    )
    await call(
        "filters",
        "issuedAfter",
        "GET",
        f"{INVOICES}?issuedAfter=2000-01-01T00:00:00Z",
        200,
        InvoicePage,
        check=lambda page: (
            None
            if all(i.get("issuedAt") for i in page["items"])
            else "invoices never issued pass an issuedAfter filter"
        ),
    )
    return items


async def _callbacks_and_actions(call: Client, states: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Refused bodies and states first (they change nothing), then accepted calls; returns the
    ids of the invoices the accepted calls moved."""

    def first(status: str) -> str:
        assert states.get(status), f"the demo has no invoice in {status}"
        return states[status][0]["id"]

    def path(invoice_id: str, name: str) -> str:
        return f"{CALLBACKS}/{invoice_id}/{name}"

    syncing, isync, paid, wfc = (
        first(s) for s in ("draft.syncing", "issuing.syncing", "paid", "draft.waiting_for_collection")
    )
    refused = [
        (
            "unknown lineId",
            path(syncing, "draft/synchronized"),
            {"invoicing": {"lineExternalIds": [{"lineId": UNKNOWN_ULID, "externalId": "x"}]}},
        ),
        ("no invoicing", path(syncing, "draft/synchronized"), {}),
        ("bogus trigger", path(syncing, "payment/status"), {"trigger": "bogus"}),
        (
            "sentToCustomerAt=yesterday",
            path(isync, "issuing/synchronized"),
            {"invoicing": {"sentToCustomerAt": "yesterday"}},
        ),
        ("draft sync on paid", path(paid, "draft/synchronized"), {"invoicing": {}}),
        ("issuing sync on waiting_for_collection", path(wfc, "issuing/synchronized"), {}),
        ("paid on waiting_for_collection", path(wfc, "payment/status"), {"trigger": "paid"}),
        ("void on overdue", path(first("overdue"), "payment/status"), {"trigger": "void"}),
    ]
    for label, url, body in refused:
        await call("refused", label, "POST", url, 400, Problem, body)
    await call(
        "refused", "malformed JSON", "POST", path(syncing, "draft/synchronized"), 400, Problem, raw=b"{"
    )
    await call(
        "not-found",
        "payment of an unknown invoice",
        "POST",
        path(UNKNOWN_ULID, "payment/status"),
        404,
        Problem,
        {"trigger": "paid"},
    )

    line = (states["draft.syncing"][0].get("lines") or [{}])[0]
    detailed = (line.get("children") or [line])[0]
    draft_body = {
        "invoicing": {
            "invoiceNumber": "ERP-1001",
            "externalId": "erp_inv_1001",
            "lineExternalIds": [{"lineId": detailed["id"], "externalId": "erp_line_1"}]
            if detailed.get("id")
            else [],
        }
    }
    accepted = [
        ("draft sync on draft.syncing", syncing, "draft/synchronized", draft_body),
        (
            "issuing sync on issuing.syncing",
            isync,
            "issuing/synchronized",
            {
                "invoicing": {"invoiceNumber": "ERP-2001", "sentToCustomerAt": "2026-01-01T12:00:00Z"},
                "payment": {"externalId": "pi_2001"},
            },
        ),
        ("paid on pending", first("payment_processing.pending"), "payment/status", {"trigger": "paid"}),
        (
            "overdue on action_required",
            first("payment_processing.action_required"),
            "payment/status",
            {"trigger": "payment_overdue"},
        ),
    ]
    for label, invoice_id, name, body in accepted:
        await call("accepted", label, "POST", path(invoice_id, name), 200, Invoice, body)

    manual = first("draft.manual_approval_needed")
    acted = [
        ("approve", manual, "approve"),
        ("retry issuing.failed", first("issuing.failed"), "retry"),
        ("retry draft.sync_failed", first("draft.sync_failed"), "retry"),
    ]
    for label, invoice_id, action in acted:
        await call("actions", label, "POST", f"{INVOICES}/{invoice_id}/{action}", 200, Invoice)
    await call("actions", "advance on paid", "POST", f"{INVOICES}/{paid}/advance", 400, Problem)
    await call(
        "not-found", "approve an unknown invoice", "POST", f"{INVOICES}/{UNKNOWN_ULID}/approve", 404, Problem
    )
    deleting = first("delete.failed")
    await call("actions", "delete delete.failed", "DELETE", f"{INVOICES}/{deleting}", 204, None)
    await call("actions", "delete paid", "DELETE", f"{INVOICES}/{paid}", 400, Problem)
    await call("not-found", "unknown invoice", "GET", f"{INVOICES}/{UNKNOWN_ULID}", 404, Problem)
    await call("not-found", "an id that is not a ULID", "GET", f"{INVOICES}/not-a-ulid", 400, Problem)
    return [invoice_id for _, invoice_id, *_ in accepted + acted] + [deleting]


async def _apps_write(call: Client, app_id: str, states: dict[str, list[dict[str, Any]]]) -> None:
    v1 = {
        "type": "custom_invoicing",
        "name": "External Invoicing (contract)",
        "description": "contract",
        "enableDraftSyncHook": True,
        "enableIssuingSyncHook": False,
    }
    await call("apps-v1", "put", "PUT", f"/api/v1/apps/{app_id}", 200, CustomInvoicingApp, v1)
    approved = states["draft.manual_approval_needed"][0][
        "id"
    ]  # waits in issuing.syncing: the hook is off now
    await call(
        "actions",
        "advance after the issuing hook went off",
        "POST",
        f"{INVOICES}/{approved}/advance",
        200,
        Invoice,
    )
    await call(
        "apps-v1",
        "put without type",
        "PUT",
        f"/api/v1/apps/{app_id}",
        400,
        Problem,
        {k: v for k, v in v1.items() if k != "type"},
    )
    v3 = {
        "type": "external_invoicing",
        "name": "External Invoicing (contract v3)",
        "enable_draft_sync_hook": True,
        "enable_issuing_sync_hook": True,
        "labels": {"env": "test"},
    }
    await call("apps-v3", "put", "PUT", f"{V3}/openmeter/apps/{app_id}", 200, ExternalInvoicingAppV3, v3)
    await call(
        "apps-v3",
        "put name=''",
        "PUT",
        f"{V3}/openmeter/apps/{app_id}",
        400,
        BadRequestV3,
        {**v3, "name": ""},
    )
    await call(
        "apps-v3", "put an unknown app", "PUT", f"{V3}/openmeter/apps/{UNKNOWN_ULID}", 404, ProblemV3, v3
    )


async def phase_b(service: Service, walk: Walk) -> None:
    """Token on and callbacks answering 204, as the spec declares them."""
    server = await start_api(service, port=0, token=TOKEN, callback_response="no_content")
    try:
        async with aiohttp.ClientSession(server.url) as http:
            call = Client(http, walk, TOKEN)
            anonymous = Client(http, walk)
            await anonymous("unauthorized", "no token", "GET", INVOICES, 401, Problem)
            await anonymous(
                "unauthorized",
                "no token, v3",
                "GET",
                f"{V3}/openmeter/apps/{service.app().id}",
                401,
                ProblemV3,
            )
            states = {i.status.value: i.id for i in reversed(service.invoices())}
            for name, status, body in [
                ("draft/synchronized", "draft.syncing", {"invoicing": {}}),
                ("issuing/synchronized", "issuing.syncing", {}),
                ("payment/status", "payment_processing.pending", {"trigger": "payment_failed"}),
            ]:
                assert status in states, f"no invoice in {status} for the no_content callbacks"
                await call(
                    "accepted",
                    f"no_content, {status}",
                    "POST",
                    f"{CALLBACKS}/{states[status]}/{name}",
                    204,
                    None,
                    body,
                )
            await call(
                "refused",
                "void on paid, token given",
                "POST",
                f"{CALLBACKS}/{states['paid']}/payment/status",
                400,
                Problem,
                {"trigger": "void"},
            )
    finally:
        await server.stop()


NOTIFY = "/api/v1/notification"


def _listed(item_id: str) -> Check:
    def check(page: dict[str, Any]) -> str | None:
        return None if item_id in [i["id"] for i in page["items"]] else f"{item_id} is not listed"

    return check


async def phase_notify(service: Service, walk: Walk) -> None:
    """Every operation of the notification API: channels, rules, a rule's test event, the
    events an invoice made, a resend, deletion; each with a refused call beside it."""
    server = await start_api(service, port=0)
    try:
        async with aiohttp.ClientSession(server.url) as http:
            call = Client(http, walk)
            channel_body = {
                "type": "WEBHOOK",
                "name": "contract",
                "url": "http://127.0.0.1:9/notify",
                "customHeaders": {"X-Partner": "acme"},
                "metadata": {"team": "billing"},
            }
            channel = await call(
                "notify",
                "create channel",
                "POST",
                f"{NOTIFY}/channels",
                201,
                NotificationChannel,
                channel_body,
            )
            await call(
                "notify",
                "create channel, ftp URL",
                "POST",
                f"{NOTIFY}/channels",
                400,
                Problem,
                {**channel_body, "url": "ftp://x"},
            )
            cid = channel["id"]
            await call(
                "notify",
                "list channels",
                "GET",
                f"{NOTIFY}/channels?includeDisabled=true&order=DESC&orderBy=createdAt",
                200,
                ChannelPage,
                check=_listed(cid),
            )
            await call("notify", "get channel", "GET", f"{NOTIFY}/channels/{cid}", 200, NotificationChannel)
            await call("notify", "unknown channel", "GET", f"{NOTIFY}/channels/{UNKNOWN_ULID}", 404, Problem)
            await call(
                "notify",
                "update channel",
                "PUT",
                f"{NOTIFY}/channels/{cid}",
                200,
                NotificationChannel,
                {**channel_body, "name": "contract 2"},
            )
            rules = [
                await call(
                    "notify",
                    f"create rule {kind}",
                    "POST",
                    f"{NOTIFY}/rules",
                    201,
                    InvoiceRule,
                    {"type": kind, "name": kind, "channels": [cid]},
                )
                for kind in ("invoice.created", "invoice.updated")
            ]
            rule_ids = [r["id"] for r in rules]
            await call(
                "notify",
                "create rule without channels",
                "POST",
                f"{NOTIFY}/rules",
                400,
                Problem,
                {"type": "invoice.created", "name": "x", "channels": []},
            )
            await call(
                "notify",
                "list rules",
                "GET",
                f"{NOTIFY}/rules?channel={cid}",
                200,
                RulePage,
                check=_listed(rule_ids[1]),
            )
            await call("notify", "get rule", "GET", f"{NOTIFY}/rules/{rule_ids[0]}", 200, InvoiceRule)
            await call(
                "notify",
                "update rule",
                "PUT",
                f"{NOTIFY}/rules/{rule_ids[0]}",
                200,
                InvoiceRule,
                {"type": "invoice.created", "name": "renamed", "channels": [cid]},
            )
            tested = await call(
                "notify", "test rule", "POST", f"{NOTIFY}/rules/{rule_ids[0]}/test", 201, NotificationEvent
            )
            await call(
                "notify", "delete a channel in use", "DELETE", f"{NOTIFY}/channels/{cid}", 400, Problem
            )
            invoice = service.execute(CreateInvoice(service.customers()[0].key))
            service.execute(Collect(invoice.id))
            Webhooks(service).enqueue_new_events()  # what a serving dispatcher does next
            events = await call(
                "notify",
                "list events",
                "GET",
                f"{NOTIFY}/events?pageSize=5&order=DESC",
                200,
                EventPage,
                check=_page_of(1, 5),
            )
            await call(
                "notify",
                "list events, filtered",
                "GET",
                f"{NOTIFY}/events?rule={rule_ids[1]}&channel={cid}&from=2000-01-01T00:00:00Z&orderBy=id",
                200,
                EventPage,
                check=lambda page: None if page["items"] else "the invoice's events are not listed",
            )
            await call("notify", "list events, from=nope", "GET", f"{NOTIFY}/events?from=nope", 400, Problem)
            await call(
                "notify", "get test event", "GET", f"{NOTIFY}/events/{tested['id']}", 200, NotificationEvent
            )
            first = events["items"][0]["id"]
            await call(
                "notify", "get invoice event", "GET", f"{NOTIFY}/events/{first}", 200, NotificationEvent
            )
            await call("notify", "unknown event", "GET", f"{NOTIFY}/events/{UNKNOWN_ULID}", 404, Problem)
            await call(
                "notify",
                "resend",
                "POST",
                f"{NOTIFY}/events/{tested['id']}/resend",
                202,
                None,
                {"channels": [cid]},
            )
            await call(
                "notify",
                "resend an unknown event",
                "POST",
                f"{NOTIFY}/events/{UNKNOWN_ULID}/resend",
                404,
                Problem,
                {},
            )
            await call(
                "notify", "get resent event", "GET", f"{NOTIFY}/events/{tested['id']}", 200, NotificationEvent
            )
            for rule_id in rule_ids:
                await call("notify", "delete rule", "DELETE", f"{NOTIFY}/rules/{rule_id}", 204, None)
            await call("notify", "delete channel", "DELETE", f"{NOTIFY}/channels/{cid}", 204, None)
            await call(
                "notify", "get deleted channel", "GET", f"{NOTIFY}/channels/{cid}", 200, NotificationChannel
            )
            await call(
                "notify",
                "list deleted rules",
                "GET",
                f"{NOTIFY}/rules?includeDeleted=true",
                200,
                RulePage,
                check=_listed(rule_ids[0]),
            )
    finally:
        await server.stop()


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Walk:
    """The walk's answers and bodies; the workspace is closed again, for the CLI to open."""
    path: Path = tmp_path_factory.mktemp("contract") / "workspace.db"
    result = Walk(path)
    service = scenario.build(path, scenario.load(DEMO))
    try:
        hooks = Webhooks(service)
        hooks.add("http://127.0.0.1:9/contract")  # never called: only the bodies it would get are read
        asyncio.run(phase_a(service, result))
        asyncio.run(phase_b(service, result))
        result.logged = [envelope(e) for e in service.events()]
        result.delivered = [hooks.body(d) for d in hooks.enqueue_new_events()]
        asyncio.run(phase_notify(service, result))
    finally:
        service.close()
    return result


# --- the answers, group by group ----------------------------------------------------------------
@pytest.mark.parametrize(
    "group",
    [
        "apps-v1",
        "apps-v3",
        "list",
        "filters",
        "get",
        "accepted",
        "refused",
        "actions",
        "not-found",
        "unauthorized",
        "notify",
    ],
)
def test_answers_keep_the_contract(walk: Walk, group: str) -> None:
    assert_contract(walk.group(group))


def test_every_notification_operation_was_called(walk: Walk) -> None:
    called = {(a.label.split(" ", 1)[0], a.label.split(" ", 2)[1]) for a in walk.group("notify")}
    for route in server_module.ROUTES:
        if route.path.startswith(notification.BASE):
            pattern = re.sub(r"\\{\w+\\}", "[^/?]+", re.escape(route.path)) + r"(\?.*)?$"
            assert any(m == route.method and re.match(pattern, p) for m, p in called), route.path


def test_every_resting_state_was_read(walk: Walk) -> None:
    """The walk really covered the demo: a GET per invoice, every resting state among them."""
    read = [a for a in walk.group("get") if "after the calls" not in a.label]
    assert len(read) >= 18
    for state in (
        "draft.syncing",
        "issuing.syncing",
        "paid",
        "overdue",
        "delete.failed",
        "draft.manual_approval_needed",
        "payment_processing.pending",
    ):
        assert any(state in a.label for a in read), state


def test_lines_are_openmeters_parent_and_detailed_lines(walk: Walk) -> None:
    """What OpenMeter's server sends for every line (the spec leaves these optional): a price
    and a rate card with that price, a reference to its invoice, and its detailed lines
    (``children``), each with an id of its own; at least some lines have detailed lines."""
    everything = next(a for a in walk.group("list") if "everything" in a.label)
    broken, detailed = [], 0
    for invoice in json.loads(everything.body)["items"]:
        for line in invoice.get("lines") or []:
            where = f"{invoice['number']} line {line.get('name')!r}"
            price, card = line.get("price") or {}, (line.get("rateCard") or {}).get("price") or {}
            if not price or (price.get("type"), price.get("amount")) != (
                card.get("type"),
                card.get("amount"),
            ):
                broken.append(f"{where}: no price, or rateCard.price is not the line's price")
            if (line.get("invoice") or {}).get("id") != invoice["id"]:
                broken.append(f"{where}: invoice.id is not its invoice's id")
            children = line.get("children")
            ids = [c.get("id") for c in children or []]
            if not isinstance(children, list) or len(set(ids) - {None, line.get("id")}) != len(ids):
                broken.append(f"{where}: no children list, or detailed lines without ids of their own")
            detailed += len(ids)
    assert not broken, "\n".join(broken[:20])
    assert detailed, "no line of the demo has detailed lines"


def test_cli_json_keeps_the_contract(walk: Walk, capsys: pytest.CaptureFixture[str]) -> None:
    """``invoices --json`` and ``events --json``: the same contract as the API and webhooks."""
    assert cli_main(["--db", str(walk.workspace), "invoices", "--json"]) == 0
    invoices = json.loads(capsys.readouterr().out)
    assert len(invoices) >= 18
    broken = []
    for invoice in invoices:
        try:
            Invoice.model_validate_json(json.dumps(invoice))
        except ValidationError as error:
            broken.append(
                f"{invoice.get('number')}: {_where(error.errors()[0]['loc'])}: {error.errors()[0]['msg']}"
            )
    assert not broken, "invoices --json breaks the contract:\n" + "\n".join(broken)
    assert cli_main(["--db", str(walk.workspace), "events", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    bodies = [row.get("event", row) for row in rows]
    _assert_payloads([json.dumps(b).encode() for b in bodies if b.get("type") in WEBHOOK_PAYLOADS])


def test_logged_webhook_bodies_keep_the_contract(walk: Walk) -> None:
    bodies = [e for e in walk.logged if e["type"] in WEBHOOK_PAYLOADS]
    assert len(bodies) > 100
    _assert_payloads([json.dumps(e).encode() for e in bodies])


def test_delivered_webhook_bodies_keep_the_contract(walk: Walk) -> None:
    """The bytes the dispatcher would send for the events the walk made."""
    assert len(walk.delivered) > 10
    _assert_payloads(walk.delivered)


def _assert_payloads(bodies: list[bytes]) -> None:
    reasons: dict[str, int] = {}
    for body in bodies:
        kind = json.loads(body)["type"]
        try:
            WEBHOOK_PAYLOADS[kind].model_validate_json(body)
        except ValidationError as error:
            for e in error.errors():
                where = ".".join("[]" if isinstance(p, int) else str(p) for p in e["loc"])
                reasons[f"{kind} {where}: {e['msg']}"] = reasons.get(f"{kind} {where}: {e['msg']}", 0) + 1
    top = sorted(reasons.items(), key=lambda kv: -kv[1])[:10]
    assert not reasons, "webhook bodies break the contract:\n" + "\n".join(f"{n:>4} x {r}" for r, n in top)
