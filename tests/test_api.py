"""The HTTP API over real loopback HTTP: the official SDK, problem responses, tokens.

Each test runs its own event loop (``asyncio.run``); the server and every service call
stay on that loop's thread, and the blocking SDK runs in a worker thread.
"""

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import openmeter
import pytest
from conftest import FIXED_CLOCK, SEED, SEEDS
from corehttp.exceptions import ClientAuthenticationError, HttpResponseError
from jsonschema import Draft202012Validator, FormatChecker
from openmeter._generated import models as sdk_models

from tui_billing.api import ApiCall, ApiServer, operations, start_api, start_serving
from tui_billing.api import server as server_module
from tui_billing.api.invoice_v3 import invoice_v3
from tui_billing.api.problems import Issue, extensions
from tui_billing.cli import main as cli_main
from tui_billing.domain.errors import Conflict
from tui_billing.service import Service, seeding
from tui_billing.service.commands import (
    AdvanceClock,
    Collect,
    CreateInvoice,
    DraftSynchronized,
    SetCallbackResponse,
    SetHooks,
    SetWorkflow,
    UpdateApp,
)

TOKEN = "s3cret-token"
CALLBACKS = "/api/v1/apps/custom-invoicing"
INVOICES = "/api/v1/billing/invoices"
UNKNOWN_ULID = "01KDWCJ2M0ZZZZZZZZZZZZZZZZ"


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@asynccontextmanager
async def serving(service: Service, **options: Any) -> AsyncIterator[tuple[ApiServer, aiohttp.ClientSession]]:
    server = await start_api(service, port=0, **options)
    try:
        async with aiohttp.ClientSession(server.url) as http:
            yield server, http
    finally:
        await server.stop()


async def call(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    token: str | None = None,
) -> tuple[int, str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    async with http.request(method, path, data=data, headers=headers) as response:
        text = await response.text()
        return response.status, response.content_type, json.loads(text) if text else None


def in_syncing(service: Service, *, issuing: bool = True) -> str:
    """A new invoice resting in draft.syncing (both hooks on unless told)."""
    service.execute(SetHooks(draft=True, issuing=issuing))
    invoice = service.execute(CreateInvoice(service.customers()[0].key))
    return service.execute(Collect(invoice.id)).id


# --- the official SDK, unmodified, against a no_content server ---------------------------------
def test_official_sdk_drives_callbacks_app_and_invoice(service: Service) -> None:
    invoice_id = in_syncing(service)
    line_id = service.invoice(invoice_id).lines[0].id
    app_id = service.app().id

    def partner() -> dict[str, Any]:
        client = openmeter.Client(endpoint=server.url, token=TOKEN)
        seen: dict[str, Any] = {"first": client.invoice.get_invoice(invoice_id)}
        assert (
            client.app_custom_invoicing.draft_syncronized(
                invoice_id,
                {
                    "invoicing": {
                        "invoiceNumber": "EXT-1",
                        "externalId": "ext-inv-1",
                        "lineExternalIds": [{"lineId": line_id, "externalId": "ext-line-1"}],
                    }
                },
            )
            is None
        )
        seen["approved"] = client.invoice.approve_action(invoice_id)
        assert (
            client.app_custom_invoicing.finalized(
                invoice_id,
                sdk_models.CustomInvoicingFinalizedRequest(
                    invoicing=sdk_models.CustomInvoicingFinalizedInvoicingRequest(
                        invoice_number="INV-EXT-1", sent_to_customer_at=datetime(2026, 1, 2, tzinfo=UTC)
                    ),
                    payment=sdk_models.CustomInvoicingFinalizedPaymentRequest(external_id="pay-1"),
                ),
            )
            is None
        )
        assert client.app_custom_invoicing.payment_status(invoice_id, {"trigger": "paid"}) is None
        seen["paid"] = client.invoice.get_invoice(invoice_id)
        with pytest.raises(HttpResponseError) as refused:
            client.app_custom_invoicing.payment_status(invoice_id, {"trigger": "paid"})
        seen["refused"] = refused.value
        seen["app"] = client.apps.get(app_id)
        seen["updated"] = client.apps.update(
            app_id,
            sdk_models.CustomInvoicingAppReplaceUpdate(
                name="Partner sandbox",
                type="custom_invoicing",
                metadata={"team": "billing"},
                enable_draft_sync_hook=False,
                enable_issuing_sync_hook=True,
            ),
        )
        with pytest.raises(ClientAuthenticationError):
            openmeter.Client(endpoint=server.url, token="wrong").invoice.get_invoice(invoice_id)
        return seen

    async def scenario() -> dict[str, Any]:
        nonlocal server
        async with serving(service, token=TOKEN, callback_response="no_content") as (server, _):
            return await asyncio.to_thread(partner)

    server: ApiServer
    seen = run(scenario())
    assert seen["first"].status_details.extended_status == "draft.syncing"
    assert seen["approved"].status_details.extended_status == "issuing.syncing"
    paid = seen["paid"]
    assert (paid.status, paid.number) == ("paid", "INV-EXT-1")
    assert paid.external_ids.invoicing == "ext-inv-1" and paid.external_ids.payment == "pay-1"
    assert paid.lines[0].external_ids.invoicing == "ext-line-1"
    assert paid.sent_to_customer_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert seen["refused"].status_code == 400 and "not allowed" in seen["refused"].model.detail
    # The SDK hands every app back as a plain dict (its App union is not resolved); the
    # shape is still the one its CustomInvoicingApp model reads.
    app = sdk_models.CustomInvoicingApp(seen["app"])
    assert (app.type, app.enable_draft_sync_hook, app.enable_issuing_sync_hook) == (
        "custom_invoicing",
        True,
        True,
    )
    updated = sdk_models.CustomInvoicingApp(seen["updated"])
    expected = ("Partner sandbox", {"team": "billing"}, False)
    assert (updated.name, updated.metadata, updated.enable_draft_sync_hook) == expected
    current = service.app()
    assert (current.name, current.labels, current.enable_draft_sync_hook) == expected


def test_official_sdk_reads_detailed_lines_and_maps_their_external_ids(service: Service) -> None:
    """Lines read through the SDK's Invoice model: usage_based parents with prices and their
    detailed lines; an external id given for a detailed line comes back on that line."""
    invoice_id = in_syncing(service)

    def partner() -> tuple[Any, Any]:
        client = openmeter.Client(endpoint=server.url, token=TOKEN)
        before = client.invoice.get_invoice(invoice_id)
        usage = next(line for line in before.lines if line.price["type"] == "unit")
        detailed = usage.children[0]
        assert (
            client.app_custom_invoicing.draft_syncronized(
                invoice_id,
                {"invoicing": {"lineExternalIds": [{"lineId": detailed.id, "externalId": "erp-usage-1"}]}},
            )
            is None
        )
        return before, client.invoice.get_invoice(invoice_id)

    async def scenario() -> tuple[Any, Any]:
        nonlocal server
        async with serving(service, token=TOKEN, callback_response="no_content") as (server, _):
            return await asyncio.to_thread(partner)

    server: ApiServer
    before, after = run(scenario())
    assert isinstance(after, sdk_models.Invoice)
    # The SDK hands the price union back as a plain dict, like the app union above.
    for line in before.lines:
        assert isinstance(line, sdk_models.InvoiceLine) and line.type == "usage_based"
        assert line.rate_card.price == line.price and line.invoice.id == invoice_id
        assert all(
            isinstance(child, sdk_models.InvoiceDetailedLine) and child.type == "flat_fee"
            for child in line.children
        )
    flat = next(line for line in before.lines if line.price["type"] == "flat")
    assert [(c.quantity, c.per_unit_amount) for c in flat.children] == [("1", flat.price["amount"])]
    usage = next(line for line in after.lines if line.price["type"] == "unit")
    assert usage.children[0].external_ids.invoicing == "erp-usage-1"
    assert usage.external_ids is None  # the parent was not named: its id stays unmapped
    assert service.invoice(invoice_id).line(usage.children[0].id).external_id == "erp-usage-1"  # type: ignore[union-attr]


# --- 200 with the invoice, or 204 ---------------------------------------------------------------
def test_callback_response_follows_the_workspace_setting_unless_overridden(service: Service) -> None:
    invoice_id = in_syncing(service, issuing=False)

    async def scenario() -> None:
        async with serving(service) as (_, http):
            status, kind, body = await call(
                http, "POST", f"{CALLBACKS}/{invoice_id}/draft/synchronized", {"invoicing": {}}
            )
            assert (status, kind) == (200, "application/json")
            assert body == service.invoice_v1(service.invoice(invoice_id))
            assert body["statusDetails"]["extendedStatus"] == "draft.waiting_auto_approval"
            service.execute(SetCallbackResponse("no_content"))  # read live: the next call answers 204
            await call(http, "POST", f"{INVOICES}/{invoice_id}/approve")
            status, _, body = await call(
                http, "POST", f"{CALLBACKS}/{invoice_id}/payment/status", {"trigger": "payment_overdue"}
            )
            assert (status, body) == (204, None)
        async with serving(service, callback_response="invoice") as (_, http):
            status, _, body = await call(
                http, "POST", f"{CALLBACKS}/{invoice_id}/payment/status", {"trigger": "paid"}
            )
            assert status == 200 and body["status"] == "paid"

    run(scenario())
    assert service.workspace().callback_response == "no_content"


# --- group commit: one fsync for many requests, each answered after it -------------------------
def test_concurrent_callbacks_share_fsyncs_and_each_is_answered_after_its_own(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight callbacks at once: fewer fsyncs than callbacks, and none answered before the
    journal is durable up to its command's record."""
    invoice_ids = [in_syncing(service) for _ in range(8)]
    tickets: dict[str, int] = {}  # invoice id -> its callback command's journal record
    flushes: list[int] = []
    answered_durable: dict[str, bool] = {}
    execute, flush = service.execute, service.flush

    def executing(command: Any) -> Any:
        result = execute(command)
        tickets[command.invoice] = service.unflushed()
        return result

    def flushing(ticket: int) -> None:
        time.sleep(0.05)  # a slow disk: the other requests' commands queue meanwhile
        flush(ticket)
        flushes.append(ticket)

    def on_call(call: ApiCall) -> None:
        assert call.invoice_id is not None
        answered_durable[call.invoice_id] = tickets[call.invoice_id] <= service.repository._durable

    monkeypatch.setattr(service, "execute", executing)
    monkeypatch.setattr(service, "flush", flushing)

    async def scenario() -> list[int]:
        async with serving(service, callback_response="no_content", on_call=on_call) as (_, http):
            return await asyncio.gather(
                *(
                    call(http, "POST", f"{CALLBACKS}/{i}/draft/synchronized", {"invoicing": {}})
                    for i in invoice_ids
                )
            )

    assert [status for status, *_ in run(scenario())] == [204] * 8
    assert answered_durable == dict.fromkeys(invoice_ids, True)
    assert 1 <= len(flushes) < 8
    assert service.unflushed() == 0


def test_a_change_queued_while_a_flush_runs_waits_for_the_next_flush(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose command was queued after the flush under way took its records waits
    for that flush and then for one of its own; the first request does not wait for it."""
    first_id, second_id = in_syncing(service), in_syncing(service)
    server = ApiServer(service)
    written = threading.Event()
    release = threading.Event()
    flushes: list[int] = []
    flush = service.flush

    def flushing(ticket: int) -> None:
        flush(ticket)
        flushes.append(ticket)
        if len(flushes) == 1:
            written.set()
            release.wait(10)  # the fsync has returned, its waiters not yet woken

    monkeypatch.setattr(service, "flush", flushing)

    async def scenario() -> None:
        with service.group_commit():
            service.execute(DraftSynchronized(first_id))
        first = asyncio.create_task(server._durable())
        await asyncio.to_thread(written.wait, 10)
        with service.group_commit():
            service.execute(DraftSynchronized(second_id))
        second_ticket = service.unflushed()
        second = asyncio.create_task(server._durable())
        await asyncio.sleep(0.05)
        assert not first.done() and not second.done()
        release.set()
        await first
        assert flushes == [second_ticket - 1]
        await second
        assert flushes == [second_ticket - 1, second_ticket]
        assert service.unflushed() == 0

    run(scenario())


# --- problems -----------------------------------------------------------------------------------
PROBLEMS = [
    (
        "body of the wrong type",
        "POST",
        "draft/synchronized",
        {"invoicing": {"invoiceNumber": 5}},
        400,
        "invoicing.invoiceNumber",
    ),
    ("body not JSON", "POST", "draft/synchronized", b"{not json", 400, "not valid JSON"),
    ("body missing invoicing", "POST", "draft/synchronized", {}, 400, "invoicing: Field required"),
    ("empty body", "POST", "payment/status", b"", 400, "empty"),
    ("unknown trigger", "POST", "payment/status", {"trigger": "refund"}, 400, "not a payment trigger"),
    (
        "unknown line",
        "POST",
        "draft/synchronized",
        {"invoicing": {"lineExternalIds": [{"lineId": "01KDWCJ2M0AAAAAAAAAAAAAAAA", "externalId": "x"}]}},
        400,
        "has no line",
    ),
    (
        "line discounts",
        "POST",
        "draft/synchronized",
        {"invoicing": {"lineDiscountExternalIds": [{"lineDiscountId": "d1", "externalId": "x"}]}},
        400,
        "no line discount",
    ),
    ("wrong state", "POST", "issuing/synchronized", {}, 400, "only allowed in issuing.syncing"),
    (
        "payment in a draft",
        "POST",
        "payment/status",
        {"trigger": "paid"},
        400,
        "not allowed in draft.syncing",
    ),
    ("approve while syncing", "POST", "approve", None, 400, "not allowed"),
]


@pytest.mark.parametrize(
    ("case", "method", "action", "body", "status", "detail"), PROBLEMS, ids=[p[0] for p in PROBLEMS]
)
def test_refused_calls_answer_problem_json(
    service: Service, case: str, method: str, action: str, body: Any, status: int, detail: str
) -> None:
    invoice_id = in_syncing(service)
    path = (
        f"{INVOICES}/{invoice_id}/{action}" if action == "approve" else f"{CALLBACKS}/{invoice_id}/{action}"
    )
    problem = run(_problem(service, method, path, body))
    assert problem["status"] == status and detail in problem["detail"], problem


V1_PROBLEM = {"type", "title", "status", "detail", "instance", "extensions"}
V3_PROBLEM = {"type", "title", "status", "detail", "instance", "invalid_parameters", "extensions"}


def check_problem(path: str, status: int, kind: str, problem: dict[str, Any]) -> dict[str, Any]:
    """The facts of OpenMeter's problem schemas: v1 ``about:blank`` problems, v3 Konnect
    errors whose 400 names at least one invalid parameter; ``instance`` a request URN."""
    assert kind == "application/problem+json"
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert re.fullmatch(r"urn:request:[A-Za-z0-9._~/-]+", problem["instance"]), problem
    if path.startswith(("/api/v3/", "/v3/")):
        assert set(problem) <= V3_PROBLEM and problem["type"].startswith("https://kongapi.info/konnect/")
        if status == 400:
            assert problem["invalid_parameters"] and all(
                {"field", "reason", "source"} <= set(p) for p in problem["invalid_parameters"]
            )
    else:
        assert set(problem) <= V1_PROBLEM and problem["type"] == "about:blank"
    return problem


async def _problem(service: Service, method: str, path: str, body: Any, **options: Any) -> dict[str, Any]:
    async with serving(service, **options) as (_, http):
        raw = body if isinstance(body, bytes) else None
        status, kind, problem = await call(http, method, path, None if raw is not None else body, raw=raw)
    return check_problem(path, status, kind, problem)


def _sample(path: str) -> str:
    for name in ("invoiceId", "appId", "channelId", "ruleId", "eventId"):
        path = path.replace("{" + name + "}", "{id}")
    return path


APP_V1_BODY = {
    "name": "x",
    "type": "custom_invoicing",
    "enableDraftSyncHook": False,
    "enableIssuingSyncHook": False,
}
APP_V3_BODY = {
    "name": "x",
    "type": "external_invoicing",
    "enable_draft_sync_hook": False,
    "enable_issuing_sync_hook": False,
}


MINIMAL_PUT = {
    "supplier": {},
    "customer": {},
    "workflow": {"workflow": {"invoicing": {}, "payment": {}}},
    "lines": [
        {
            "name": "Fee",
            "period": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
            "invoiceAt": "2026-02-01T00:00:00Z",
            "rateCard": {"price": {"type": "flat", "amount": "10"}},
        }
    ],
}
"""The smallest body the invoice PUT takes (the spec's required fields and one line)."""


def valid_body(method: str, template: str) -> Any:
    """A body the operation accepts (so only the id can be what is wrong)."""
    if template.endswith("/draft/synchronized"):
        return {"invoicing": {}}
    if template.endswith("/payment/status"):
        return {"trigger": "paid"}
    if method == "PUT" and "/apps/" in template:
        return APP_V3_BODY if "/openmeter/" in template else APP_V1_BODY
    if method == "PUT" and template.endswith("/billing/invoices/{invoiceId}"):
        return MINIMAL_PUT
    if method == "PUT" and "/notification/channels/" in template:
        return {"type": "WEBHOOK", "name": "x", "url": "http://127.0.0.1:9/x"}
    if method == "PUT" and "/notification/rules/" in template:
        return {"type": "invoice.created", "name": "x", "channels": [UNKNOWN_ULID]}
    return {} if method in ("POST", "PUT") else None


ID_ROUTES = [(r.method, base + r.path) for r in server_module.ROUTES for base in r.bases if "{" in r.path]


@pytest.mark.parametrize(("method", "template"), ID_ROUTES, ids=[f"{m} {p}" for m, p in ID_ROUTES])
def test_every_path_id_is_checked(service: Service, method: str, template: str) -> None:
    """Not a ULID: 400 (request validation, nothing read); an unknown ULID: 404."""

    async def scenario() -> None:
        async with serving(service) as (_, http):
            for bad in ("not-a-ulid", "DRAFT-GOUL-1", "01KDWCJ2M0ZZZZZZZZZZZZZZZZZ"):
                path = _sample(template).replace("{id}", bad)
                status, kind, problem = await call(http, method, path, {})
                check_problem(path, 400, kind, problem)
                assert status == 400 and "not a ULID" in problem["detail"]
            path = _sample(template).replace("{id}", UNKNOWN_ULID)
            status, kind, problem = await call(http, method, path, valid_body(method, template))
            if template.endswith("/void"):
                assert status == 501  # OpenMeter does not implement it, whatever the invoice
            else:
                check_problem(path, 404, kind, problem)
                assert any(f"no {what}" in problem["detail"] for what in ("invoice", "app", "notification"))

    run(scenario())


def test_v1_ids_are_ulids_in_either_case_v3_in_upper_case(service: Service) -> None:
    lower = UNKNOWN_ULID.lower()
    assert run(_problem(service, "DELETE", f"{INVOICES}/{lower}", None))["status"] == 404
    assert run(_problem(service, "GET", f"/api/v3/openmeter/apps/{lower}", None))["status"] == 400


def test_unknown_routes_are_404_and_v3_is_not_served_at_the_root(service: Service) -> None:
    app_id = service.app().id
    for path in ("/api/v1/nothing-here", f"/openmeter/apps/{app_id}", "/api/v3/nothing-here"):
        problem = run(_problem(service, "GET", path, None))
        assert problem["status"] == 404 and "no endpoint" in problem["detail"]


def test_billing_refusals_carry_validation_issues(service: Service) -> None:
    """As OpenMeter's EncodeValidationIssues: the first issue's fields as ``extensions``."""
    invoice_id = in_syncing(service)
    refusal = {
        "severity": "critical",
        "message": "invoice action not available",
        "code": "invoice_action_not_available",
    }
    assert run(_problem(service, "POST", f"{INVOICES}/{invoice_id}/approve", None))["extensions"] == refusal
    assert run(_problem(service, "POST", f"{INVOICES}/{invoice_id}/advance", None))["extensions"] == {
        "severity": "critical",
        "message": "invoice cannot advance",
        "code": "invoice_cannot_advance",
    }
    not_found = run(_problem(service, "GET", f"{INVOICES}/{UNKNOWN_ULID}", None))
    assert not_found["extensions"] == {
        "severity": "critical",
        "message": "invoice not found",
        "code": "invoice_not_found",
    }
    payment = run(_problem(service, "POST", f"{CALLBACKS}/{invoice_id}/payment/status", {"trigger": "paid"}))
    assert payment["extensions"] == {
        "severity": "critical",
        "message": payment["detail"],
        "component": "app.custom_invoicing.collectPayments.trigger_invoice",
    }
    # Not billing validation issues: a sync callback in the wrong state, a bad body, an unknown app.
    for method, path, body in [
        ("POST", f"{CALLBACKS}/{invoice_id}/issuing/synchronized", {}),
        ("POST", f"{CALLBACKS}/{invoice_id}/payment/status", {"trigger": 1}),
        ("GET", f"/api/v1/apps/{UNKNOWN_ULID}", None),
    ]:
        assert "extensions" not in run(_problem(service, method, path, body))


def test_more_issues_go_to_additional_issues() -> None:
    first = Issue("critical", "one", code="a", component="c", path="lines[0]")
    second = Issue("warning", "two")
    assert extensions([first]) == {
        "severity": "critical",
        "message": "one",
        "code": "a",
        "component": "c",
        "path": "lines[0]",
    }
    assert extensions([first, second, second]) == {
        **extensions([first]),
        "additionalIssues": [
            {"severity": "warning", "message": "two"},
            {"severity": "warning", "message": "two"},
        ],
    }
    assert extensions([]) == {}


def test_problem_instance_names_the_request(service: Service) -> None:
    async def scenario() -> None:
        async with serving(service) as (_, http):
            async with http.get(
                f"{INVOICES}/{UNKNOWN_ULID}", headers={"X-Request-Id": "partner-42"}
            ) as response:
                assert response.headers["X-Request-Id"] == "partner-42"
                assert (await response.json(content_type=None))["instance"] == "urn:request:partner-42"
            seen = set()
            for header in ({}, {}, {"X-Request-Id": "has spaces in it"}):
                async with http.get(f"{INVOICES}/{UNKNOWN_ULID}", headers=header) as response:
                    problem = await response.json(content_type=None)
                    assert problem["instance"] == f"urn:request:{response.headers['X-Request-Id']}"
                    seen.add(problem["instance"])
            assert len(seen) == 3

    run(scenario())


def test_v3_problems(service: Service) -> None:
    app_id = service.app().id
    missing = run(_problem(service, "GET", f"/v3/openmeter/apps/{UNKNOWN_ULID}", None))
    assert (missing["status"], missing["type"]) == (404, "https://kongapi.info/konnect/not-found")
    refused = run(_problem(service, "PUT", f"/api/v3/openmeter/apps/{app_id}", b"{"))
    assert refused["invalid_parameters"][0]["source"] == "body"
    assert run(_problem(service, "GET", f"/api/v3/openmeter/apps/{app_id}", None, token=TOKEN))["type"] == (
        "https://kongapi.info/konnect/unauthenticated"
    )


def test_void_answers_501_as_openmeter_does(service: Service, workspace_path: Path) -> None:
    invoice_id = service.execute(CreateInvoice(service.customers()[0].key)).id
    before = _files(workspace_path)
    problem = run(_problem(service, "POST", f"{INVOICES}/{invoice_id}/void", {"action": {}}))
    assert (problem["status"], problem["title"]) == (501, "Not Implemented") and "payment/status" in problem[
        "detail"
    ]
    assert _files(workspace_path) == before


def test_snapshot_quantities_collects_now(service: Service) -> None:
    invoice_id = service.execute(CreateInvoice(service.customers()[0].key)).id
    assert service.invoice(invoice_id).status.value == "draft.waiting_for_collection"

    async def scenario() -> None:
        async with serving(service) as (_, http):
            status, _, body = await call(http, "POST", f"{INVOICES}/{invoice_id}/snapshot-quantities")
            assert status == 200 and extended(body) != "draft.waiting_for_collection"

    run(scenario())
    problem = run(_problem(service, "POST", f"{INVOICES}/{invoice_id}/snapshot-quantities", None))
    assert problem["extensions"]["code"] == "invoice_action_not_available"


def test_other_problems(service: Service) -> None:
    app_id = service.app().id
    assert run(_problem(service, "PATCH", INVOICES, None))["status"] == 405
    assert "statuses" in run(_problem(service, "GET", f"{INVOICES}?statuses=open", None))["detail"]
    assert run(_problem(service, "GET", f"{INVOICES}?pageSize=0", None))["status"] == 400
    problem = run(
        _problem(
            service,
            "PUT",
            f"/api/v1/apps/{app_id}",
            {"name": "", "type": "stripe", "enableDraftSyncHook": "yes"},
        )
    )
    assert problem["status"] == 400 and "name" in problem["detail"] and "type" in problem["detail"]


def test_conflict_is_409(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """No command of the core raises Conflict yet; the API maps it to 409 all the same."""

    def conflicting(command: object) -> None:
        raise Conflict(f"{command} was changed meanwhile")

    monkeypatch.setattr(service, "execute", conflicting)
    problem = run(_problem(service, "POST", f"{INVOICES}/{UNKNOWN_ULID}/approve", None))
    assert (problem["status"], problem["title"]) == (409, "Conflict")


def test_token_is_required_when_set(service: Service) -> None:
    async def scenario() -> None:
        async with serving(service, token=TOKEN) as (_, http):
            for token in (None, "wrong"):
                status, kind, problem = await call(http, "GET", "/api/v1/apps", token=token)
                assert (status, kind, problem["title"]) == (401, "application/problem+json", "Unauthorized")
            status, _, body = await call(http, "GET", "/api/v1/apps", token=TOKEN)
            assert status == 200 and body["totalCount"] == 1

    run(scenario())


def _files(workspace_path: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(workspace_path.parent.glob(workspace_path.name + "*"))
        if p.suffix != ".lock"
    }


def test_refused_calls_leave_the_workspace_byte_identical(service: Service, workspace_path: Path) -> None:
    invoice_id = in_syncing(service)
    app_id = service.app().id
    before = _files(workspace_path)
    refused = [
        ("POST", f"{CALLBACKS}/{invoice_id}/draft/synchronized", {"invoicing": {"invoiceNumber": 1}}, None),
        (
            "POST",
            f"{CALLBACKS}/{invoice_id}/draft/synchronized",
            {
                "invoicing": {
                    "invoiceNumber": "N-1",
                    "lineExternalIds": [{"lineId": UNKNOWN_ULID, "externalId": "x"}],
                }
            },
            TOKEN,
        ),
        ("POST", f"{CALLBACKS}/{invoice_id}/issuing/synchronized", {}, TOKEN),
        ("POST", f"{CALLBACKS}/{invoice_id}/payment/status", {"trigger": "void"}, TOKEN),
        ("POST", f"{CALLBACKS}/{UNKNOWN_ULID}/payment/status", {"trigger": "paid"}, TOKEN),
        ("POST", f"{INVOICES}/{invoice_id}/retry", None, TOKEN),
        (
            "PUT",
            f"/api/v1/apps/{app_id}",
            {
                "name": "x" * 300,
                "type": "custom_invoicing",
                "enableDraftSyncHook": False,
                "enableIssuingSyncHook": False,
            },
            TOKEN,
        ),
        ("POST", f"{CALLBACKS}/{invoice_id}/draft/synchronized", {"invoicing": {}}, "wrong-token"),
    ]

    async def scenario() -> None:
        integration = await start_serving(service, port=0, token=TOKEN)
        try:
            async with aiohttp.ClientSession(integration.url) as http:
                for method, path, body, token in refused:
                    status, _, _ = await call(http, method, path, body, token=token)
                    assert status in (400, 401, 404), (method, path, status)
        finally:
            await integration.stop()

    run(scenario())
    assert _files(workspace_path) == before
    assert service.invoice(invoice_id).status.value == "draft.syncing"


# --- invoices and billing actions -----------------------------------------------------------------
def extended(invoice: dict[str, Any]) -> str:
    return invoice["statusDetails"]["extendedStatus"]


def test_list_invoices_filters_and_pages(demo_service: Service) -> None:
    invoices = demo_service.invoices()
    shown = [i.id for i in invoices if i.deleted_at is None]
    customer = invoices[0].customer.id

    async def scenario() -> None:
        async with serving(demo_service) as (_, http):
            _, _, everything = await call(http, "GET", INVOICES)
            assert [i["id"] for i in everything["items"]] == shown  # deletedAt hides; created, then id
            assert everything["totalCount"] == len(shown) and everything["pageSize"] == 100
            assert all("lines" not in item for item in everything["items"])
            _, _, drafts = await call(http, "GET", f"{INVOICES}?statuses=draft&statuses=overdue")
            assert {i["status"] for i in drafts["items"]} == {"draft", "overdue"}
            _, _, waiting = await call(
                http, "GET", f"{INVOICES}?extendedStatuses=draft.syncing,issuing.syncing&expand=lines"
            )
            assert {extended(i) for i in waiting["items"]} == {"draft.syncing", "issuing.syncing"}
            assert all(i["lines"] for i in waiting["items"])
            _, _, deleted = await call(
                http, "GET", f"{INVOICES}?extendedStatuses=deleted,delete.failed&includeDeleted=true"
            )
            assert {extended(i) for i in deleted["items"]} == {"deleted", "delete.failed"}
            _, _, page = await call(http, "GET", f"{INVOICES}?page=2&pageSize=5")
            assert (page["page"], page["pageSize"]) == (2, 5)
            assert [i["id"] for i in page["items"]] == shown[5:10]
            _, _, mine = await call(http, "GET", f"{INVOICES}?customers={customer}")
            assert [i["id"] for i in mine["items"]] == [
                i.id for i in invoices if i.customer.id == customer and i.deleted_at is None
            ]
            _, _, nobody = await call(http, "GET", f"{INVOICES}?customers={UNKNOWN_ULID}")
            assert (nobody["totalCount"], nobody["items"]) == (0, [])
            _, _, backwards = await call(http, "GET", f"{INVOICES}?order=DESC")
            assert [i["id"] for i in backwards["items"]] == shown  # all created at once: ties keep order
            _, _, by_name = await call(http, "GET", f"{INVOICES}?orderBy=customer.name")
            names = [i["customer"]["name"] for i in by_name["items"]]
            assert names == sorted(names)

    run(scenario())


def test_list_answers_follow_every_change_despite_the_text_cache(service: Service) -> None:
    """Listed invoices are served from rendered texts: a changed invoice, a moved clock or
    switched hooks render afresh, and a listed invoice is its GET without lines."""
    service.execute(SetWorkflow(auto_advance=False))
    invoice_id = service.execute(CreateInvoice(service.customers()[0].key)).id

    async def listed(http: aiohttp.ClientSession) -> dict[str, Any]:
        status, _, page = await call(http, "GET", f"{INVOICES}?expand=lines")
        assert status == 200
        (item,) = [i for i in page["items"] if i["id"] == invoice_id]
        _, _, single = await call(http, "GET", f"{INVOICES}/{invoice_id}")
        assert item == single
        status, _, page = await call(http, "GET", INVOICES)
        assert [i for i in page["items"] if i["id"] == invoice_id] == [
            {k: v for k, v in single.items() if k != "lines"}
        ]
        return item

    async def scenario() -> list[dict[str, Any]]:
        seen = []
        async with serving(service) as (_, http):
            seen.append(await listed(http))
            seen.append(await listed(http))  # from the cache
            service.execute(Collect(invoice_id))  # a change behind the server's back
            seen.append(await listed(http))
            service.execute(SetHooks(issuing=True))  # approve would now stop for the issuing sync
            seen.append(await listed(http))
            service.execute(AdvanceClock("1d"))
            seen.append(await listed(http))
        return seen

    first, again, collected, hooked, later = run(scenario())
    assert first == again
    assert collected["statusDetails"]["extendedStatus"] != first["statusDetails"]["extendedStatus"]
    assert hooked["statusDetails"]["availableActions"] != collected["statusDetails"]["availableActions"]
    assert later == json.loads(json.dumps(service.invoice_v1(service.invoice(invoice_id))))


def test_list_invoices_time_filters(service: Service) -> None:
    """Each time filter is inclusive at both ends; an invoice without the time never matches."""
    customer = service.customers()[0].key
    for _ in range(3):
        service.execute(CreateInvoice(customer))
        service.execute(AdvanceClock("P1D"))
    invoices = service.invoices()
    created = sorted({i.created_at for i in invoices})
    issued = [i for i in invoices if i.issued_at is not None]
    middle = created[1].isoformat().replace("+00:00", "Z")

    async def ids(http: aiohttp.ClientSession, query: str) -> list[str]:
        status, _, body = await call(http, "GET", f"{INVOICES}?{query}")
        assert status == 200, body
        return [item["id"] for item in body["items"]]

    async def scenario() -> None:
        async with serving(service) as (_, http):
            assert await ids(http, f"createdAfter={middle}") == [
                i.id for i in invoices if i.created_at >= created[1]
            ]
            assert await ids(http, f"createdBefore={middle}") == [
                i.id for i in invoices if i.created_at <= created[1]
            ]
            assert await ids(http, f"createdAfter={middle}&createdBefore={middle}") == [
                i.id for i in invoices if i.created_at == created[1]
            ]
            # An offset sent unencoded ('+' read as a space) is still understood.
            assert await ids(http, f"createdAfter={created[1].isoformat()}") == await ids(
                http, f"createdAfter={middle}"
            )
            assert await ids(http, "issuedAfter=2000-01-01T00:00:00Z") == [i.id for i in issued]
            start = min(i.period_from for i in invoices).isoformat().replace("+00:00", "Z")
            assert await ids(http, f"periodStartBefore={start}") == [
                i.id for i in invoices if i.period_from.isoformat().replace("+00:00", "Z") == start
            ]
            newest_first = sorted(invoices, key=lambda i: i.created_at, reverse=True)
            assert await ids(http, "order=DESC") == [i.id for i in newest_first]
            descending = await ids(http, "orderBy=issuedAt&order=DESC")
            assert descending[: len(invoices) - len(issued)] == [
                i.id for i in invoices if i.issued_at is None
            ]  # empty first going down

    run(scenario())


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("statuses=open", "statuses: unknown value open"),
        ("statuses=deleted", "statuses: unknown value deleted"),
        ("extendedStatuses=draft.nowhere", "extendedStatuses: unknown value"),
        ("expand=everything", "expand: unknown value"),
        ("customers=nobody", "customers: nobody is not a ULID"),
        ("issuedAfter=yesterday", "issuedAfter: must be an RFC 3339 time"),
        ("createdBefore=2026-01-01T00:00:00", "createdBefore: needs a time zone"),
        ("includeDeleted=yes", "includeDeleted: must be true or false"),
        ("order=up", "order: must be ASC or DESC"),
        ("orderBy=total", "orderBy: unknown value"),
        ("page=0", "page: must be between 1"),
        ("pageSize=1001", "pageSize: must be between 1 and 1000"),
        ("pageSize=ten", "pageSize: must be an integer"),
        ("page=1&page=2", "page: give it once"),
        ("customer=01G65Z755AFWAKHE12NY0CQ9FH", "unknown query parameter customer"),
    ],
)
def test_list_invoices_refuses_bad_parameters(service: Service, query: str, detail: str) -> None:
    problem = run(_problem(service, "GET", f"{INVOICES}?{query}", None))
    assert problem["status"] == 400 and detail in problem["detail"], problem


def test_operations_without_query_parameters_refuse_them(service: Service) -> None:
    invoice_id = service.execute(CreateInvoice(service.customers()[0].key)).id
    problem = run(_problem(service, "POST", f"{INVOICES}/{invoice_id}/advance?expand=lines", None))
    assert problem["status"] == 400 and "unknown query parameter expand; it takes none" in problem["detail"]
    assert service.invoice(invoice_id).status.value == "draft.waiting_for_collection"
    problem = run(_problem(service, "GET", "/api/v3/openmeter/apps?pageSize=5", None))
    assert problem["invalid_parameters"] == [
        {
            "field": "pageSize",
            "rule": "unknown_property",
            "reason": "unknown query parameter",
            "source": "query",
        }
    ]


def test_get_invoice_expands_lines_unless_told(service: Service) -> None:
    invoice_id = service.execute(CreateInvoice(service.customers()[0].key)).id

    async def scenario() -> None:
        async with serving(service) as (_, http):
            for query, has_lines in (
                ("", True),
                ("?expand=lines&includeDeletedLines=true", True),
                ("?expand=preceding", False),
            ):
                status, _, body = await call(http, "GET", f"{INVOICES}/{invoice_id}{query}")
                assert status == 200 and ("lines" in body) == has_lines
            status, _, _ = await call(http, "GET", f"{INVOICES}/{invoice_id}?includeDeletedLines=maybe")
            assert status == 400

    run(scenario())


def test_billing_actions(service: Service) -> None:
    service.execute(SetWorkflow(auto_advance=False))
    customer = service.customers()[0].key
    held = service.execute(Collect(service.execute(CreateInvoice(customer)).id)).id
    draft = service.execute(CreateInvoice(customer)).id
    changes: list[int] = []
    calls: list[ApiCall] = []

    async def scenario() -> None:
        # on_change comes first (before on_call), so it records the index of its own call.
        async with serving(service, on_change=lambda: changes.append(len(calls)), on_call=calls.append) as (
            _,
            http,
        ):
            status, _, body = await call(http, "GET", f"{INVOICES}/{held}")
            approve = body["statusDetails"]["availableActions"]["approve"]
            assert approve == {"resultingState": "payment_processing.pending"}
            status, _, body = await call(http, "POST", f"{INVOICES}/{held}/approve")
            assert status == 200 and body["statusDetails"]["extendedStatus"] == "payment_processing.pending"
            status, _, _ = await call(http, "POST", f"{INVOICES}/{held}/retry")
            assert status == 400
            status, _, body = await call(http, "POST", f"{INVOICES}/{draft}/advance")
            assert status == 400
            status, _, body = await call(http, "DELETE", f"{INVOICES}/{draft}")
            assert (status, body) == (204, None)
            _, _, body = await call(http, "GET", f"{INVOICES}/{draft}")
            assert body["status"] == "deleted"

    run(scenario())
    assert [c.status for c in calls] == [200, 200, 400, 400, 204, 200]
    assert changes == [1, 4] == [i for i, c in enumerate(calls) if c.changed]
    assert calls[2].detail and calls[2].invoice_id == held


# --- the invoice PUT (OpenMeter's InvoiceReplaceUpdate) ---------------------------------------
def _replacement(invoice: dict[str, Any]) -> dict[str, Any]:
    """A partner's PUT body: the invoice as GET answered it, its usage line repriced, its flat
    line dropped, a new usage line added."""
    usage = next(line for line in invoice["lines"] if line["rateCard"]["price"]["type"] == "unit")
    usage = {**usage, "name": "API calls", "rateCard": {"price": {"type": "unit", "amount": "0.003"}}}
    added = {
        "name": "Storage",
        "period": usage["period"],
        "invoiceAt": usage["invoiceAt"],
        "price": {"type": "unit", "amount": "0.5"},  # the deprecated place of the price
    }
    return {**invoice, "description": "edited", "metadata": {"po": "42"}, "lines": [usage, added]}


def test_invoice_put_replaces_lines_keeping_kept_lines_ids_and_quantities(service: Service) -> None:
    invoice_id = service.execute(CreateInvoice(service.customers()[0].key)).id
    before = service.invoice(invoice_id)
    usage = next(line for line in before.lines if line.price.type == "unit")

    async def scenario() -> tuple[int, Any]:
        async with serving(service) as (_, http):
            _, _, invoice = await call(http, "GET", f"{INVOICES}/{invoice_id}")
            status, _, answer = await call(http, "PUT", f"{INVOICES}/{invoice_id}", _replacement(invoice))
            return status, answer

    status, answer = run(scenario())
    assert status == 200, answer
    after = service.invoice(invoice_id)
    assert service.invoice_v1(after) == answer
    kept, added = after.lines
    assert (kept.id, kept.name, kept.quantity, kept.price.amount) == (
        usage.id,
        "API calls",
        usage.quantity,
        Decimal("0.003"),
    )
    assert added.id not in {line.id for line in before.lines} and added.quantity > 0
    assert (after.description, after.metadata) == ("edited", {"po": "42"})
    assert "updated" in [step.trigger for step in after.history[len(before.history) :]]
    # The same edit on another copy of the workspace seeds the same quantity for the new line.
    assert added.quantity == seeding.usage_quantity(SEED, f"edit:{invoice_id}:Storage")


def test_invoice_put_is_refused_where_the_lifecycle_allows_no_edit(
    service: Service, workspace_path: Path
) -> None:
    invoice_id = in_syncing(service)
    body = _replacement(service.invoice_v1(service.invoice(invoice_id)))
    before = _files(workspace_path)

    async def scenario() -> dict[str, Any]:
        async with serving(service) as (_, http):
            status, kind, problem = await call(http, "PUT", f"{INVOICES}/{invoice_id}", body)
            return check_problem(f"{INVOICES}/{invoice_id}", 400, kind, problem) | {"status": status}

    problem = run(scenario())
    assert problem["status"] == 400 and "draft.syncing" in problem["detail"]
    assert problem["extensions"]["code"] == "invoice_action_not_available"
    assert _files(workspace_path) == before


def _put_body(service: Service, invoice_id: str) -> dict[str, Any]:
    return _replacement(service.invoice_v1(service.invoice(invoice_id)))


BAD_PUTS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("not JSON", lambda body: b"{lines"),
    ("empty", lambda body: b""),
    ("no lines", lambda body: {k: v for k, v in body.items() if k != "lines"}),
    ("no supplier", lambda body: {k: v for k, v in body.items() if k != "supplier"}),
    ("no workflow settings", lambda body: {**body, "workflow": {}}),
    ("empty lines", lambda body: {**body, "lines": []}),
    ("a line without a name", lambda body: {**body, "lines": [{**body["lines"][0], "name": ""}]}),
    ("a line without a period", lambda body: {**body, "lines": [{**body["lines"][0], "period": None}]}),
    ("a line id twice", lambda body: {**body, "lines": [body["lines"][0]] * 2}),
    ("a line id not a ULID", lambda body: {**body, "lines": [{**body["lines"][0], "id": "line-1"}]}),
    (
        "a tiered price",
        lambda body: {**body, "lines": [{**body["lines"][0], "rateCard": {"price": {"type": "tiered"}}}]},
    ),
    ("a free line", lambda body: {**body, "lines": [{**body["lines"][0], "rateCard": {"price": None}}]}),
    (
        "an amount not a number",
        lambda body: {
            **body,
            "lines": [{**body["lines"][0], "rateCard": {"price": {"type": "unit", "amount": "1e3"}}}],
        },
    ),
    (
        "a huge amount",
        lambda body: {
            **body,
            "lines": [{**body["lines"][0], "rateCard": {"price": {"type": "flat", "amount": "9" * 40}}}],
        },
    ),
    ("metadata not strings", lambda body: {**body, "metadata": {"a": 1}}),
    ("a long description", lambda body: {**body, "description": "x" * 1025}),
]


@pytest.mark.parametrize("make", [m for _, m in BAD_PUTS], ids=[name for name, _ in BAD_PUTS])
def test_invoice_put_refuses_bad_bodies_changing_nothing(
    service: Service, workspace_path: Path, make: Callable[[dict[str, Any]], Any]
) -> None:
    invoice_id = service.execute(CreateInvoice(service.customers()[0].key)).id
    body = make(_put_body(service, invoice_id))
    before = _files(workspace_path)

    async def scenario() -> tuple[int, str, Any]:
        async with serving(service) as (_, http):
            raw = body if isinstance(body, bytes) else None
            return await call(
                http, "PUT", f"{INVOICES}/{invoice_id}", None if raw is not None else body, raw=raw
            )

    status, kind, problem = run(scenario())
    check_problem(f"{INVOICES}/{invoice_id}", 400, kind, problem)
    assert status == 400 and problem["detail"]
    assert _files(workspace_path) == before


# --- invoices, v3 -----------------------------------------------------------------------------------
V3_INVOICES = "/api/v3/openmeter/billing/invoices"


def test_v3_invoice_list_filters_sorts_and_pages(demo_service: Service) -> None:
    invoices = [i for i in demo_service.invoices() if i.deleted_at is None]
    customer = invoices[0].customer.id

    async def ids(http: aiohttp.ClientSession, query: str) -> list[str]:
        status, _, body = await call(http, "GET", f"{V3_INVOICES}{query}")
        assert status == 200, body
        assert set(body) == {"data", "meta"} and all("lines" not in item for item in body["data"])
        return [item["id"] for item in body["data"]]

    async def scenario() -> None:
        async with serving(demo_service) as (_, http):
            _, _, first = await call(http, "GET", V3_INVOICES)
            assert first["meta"]["page"] == {"number": 1, "size": 20, "total": len(invoices)}
            assert await ids(http, "?page[size]=5&page[number]=2") == [i.id for i in invoices][5:10]
            assert await ids(http, "?filter[status][oeq]=draft,paid") == [
                i.id for i in invoices if i.status.short in ("draft", "paid")
            ]
            assert await ids(http, "?filter[status]=paid") == [
                i.id for i in invoices if i.status.short == "paid"
            ]
            assert await ids(http, f"?filter[customer_id]={customer}") == [
                i.id for i in invoices if i.customer.id == customer
            ]
            issued = await ids(http, "?sort=issued_at%20desc&page[size]=100")
            assert issued[: sum(i.issued_at is None for i in invoices)] == [
                i.id for i in invoices if i.issued_at is None
            ]
            assert await ids(http, "?filter[created_at][gt]=2026-01-01T09:00:00Z") == []
            assert len(
                await ids(http, "?filter[created_at][gte]=2026-01-01T09:00:00Z&page[size]=100")
            ) == len(invoices)

    run(scenario())


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("filter[status]=deleted", "filter[status]"),
        ("filter[customer_id][oeq]=nobody", "filter[customer_id]"),
        ("filter[issued_at][gte]=soon", "filter[issued_at][gte]"),
        (
            "filter[created_at][gt]=2026-01-01T00:00:00Z&filter[created_at][gte]=2026-01-01T00:00:00Z",
            "filter[created_at]",
        ),
        ("filter[status][neq]=draft", "filter[status][neq]"),
        ("sort=total", "sort"),
        ("page[size]=0", "page[size]"),
        ("statuses=draft", "statuses"),
    ],
)
def test_v3_invoice_list_refuses_bad_parameters(service: Service, query: str, field: str) -> None:
    problem = run(_problem(service, "GET", f"{V3_INVOICES}?{query}", None))
    assert [p["field"] for p in problem["invalid_parameters"]] == [field] and problem["status"] == 400


@pytest.mark.parametrize("base", ["/api/v3", "/v3"])
def test_v3_invoice_get_and_actions(service: Service, base: str) -> None:
    service.execute(SetWorkflow(auto_advance=False))
    customer = service.customers()[0].key
    held = service.execute(Collect(service.execute(CreateInvoice(customer)).id))
    waiting = service.execute(CreateInvoice(customer)).id
    path = f"{base}/openmeter/billing/invoices"

    async def scenario() -> None:
        async with serving(service) as (_, http):
            status, _, body = await call(http, "GET", f"{path}/{held.id}")
            assert status == 200 and body["type"] == "standard"
            assert body["status_details"]["available_actions"]["approve"] == {
                "resulting_state": "payment_processing.pending"
            }
            assert [line["id"] for line in body["lines"]] == [line.id for line in held.lines]
            assert all(line["type"] == "standard_line" and line["detailed_lines"] for line in body["lines"])
            assert body["totals"]["total"] == str(held.totals.total)
            status, _, body = await call(http, "POST", f"{path}/{held.id}/approve")
            assert status == 200 and body["status_details"]["extended_status"] == "payment_processing.pending"
            status, kind, problem = await call(http, "POST", f"{path}/{held.id}/approve")
            check_problem(path, 400, kind, problem)
            assert problem["extensions"]["code"] == "invoice_action_not_available"
            assert problem["invalid_parameters"][0]["field"] == "invoiceId"
            status, _, body = await call(http, "POST", f"{path}/{waiting}/snapshot-quantities")
            assert (
                status == 200 and body["status_details"]["extended_status"] != "draft.waiting_for_collection"
            )
            status, kind, problem = await call(http, "POST", f"{path}/{UNKNOWN_ULID}/retry")
            check_problem(f"{path}/x", 404, kind, problem)
            assert problem["extensions"]["code"] == "invoice_not_found"

    run(scenario())


def test_v3_lines_map_detailed_lines_when_the_v1_line_has_children(service: Service) -> None:
    """OpenMeter's v1 line (``usage_based`` with ``price`` and detailed ``children``) maps to a
    v3 ``standard_line`` whose ``detailed_lines`` are those children."""
    invoice = service.execute(CreateInvoice(service.customers()[0].key))
    v1 = service.invoice_v1(invoice)
    parent = v1["lines"][0]
    child = {
        **parent,
        "id": UNKNOWN_ULID,
        "name": "detail",
        "perUnitAmount": "2.5",
        "quantity": "4",
        "category": "regular",
        "externalIds": {"invoicing": "ext-d1"},
    }
    v1["lines"] = [
        {
            **parent,
            "type": "usage_based",
            "price": {"type": "flat", "amount": "10", "paymentTerm": "in_advance"},
            "rateCard": {"featureKey": "api_calls", "price": {"type": "flat", "amount": "10"}},
            "children": [child],
        }
    ]
    [line] = invoice_v3(v1)["lines"]
    assert line["rate_card"] == {"price": {"type": "flat", "amount": "10"}, "feature_key": "api_calls"}
    [detailed] = line["detailed_lines"]
    assert (
        detailed["id"],
        detailed["unit_price"],
        detailed["quantity"],
        detailed["external_references"],
    ) == (UNKNOWN_ULID, "2.5", "4", {"invoicing_id": "ext-d1"})
    assert "lines" not in invoice_v3(v1, with_lines=False)


def test_route_table_declares_each_operation_once() -> None:
    served = list(server_module.operations())
    assert len(served) == len(set(served))
    assert ("GET", "/api/v3/openmeter/billing/invoices") in served and ("GET", "/v3/openmeter/apps") in served
    assert not any(path.startswith("/openmeter/") for _, path in served)


def test_operations_page_is_generated_from_the_route_table() -> None:
    page = Path(__file__).parent.parent / "docs" / "api-operations.md"
    assert all(route.summary for route in server_module.ROUTES)
    assert page.read_text(encoding="utf-8") == operations.markdown(), (
        "docs/api-operations.md is stale: run `python -m tui_billing.api.operations > docs/api-operations.md`"
    )


# --- the app, v1 and v3 ----------------------------------------------------------------------------
V3_APP_FIELDS = {
    "name",
    "description",
    "labels",
    "type",
    "enable_draft_sync_hook",
    "enable_issuing_sync_hook",
}


@pytest.mark.parametrize("base", ["/api/v3", "/v3"])
def test_app_v1_and_v3(service: Service, base: str) -> None:
    app_id = service.app().id
    schema = json.loads((SEEDS / "BillingAppExternalInvoicing.schema.json").read_text())
    schema["properties"]["labels"] = {"type": "object", "additionalProperties": {"type": "string"}}
    validator = Draft202012Validator(schema, format_checker=FormatChecker())

    async def scenario() -> None:
        async with serving(service) as (_, http):
            _, _, listed = await call(http, "GET", "/api/v1/apps")
            assert [a["id"] for a in listed["items"]] == [app_id]
            _, _, v1 = await call(http, "GET", f"/api/v1/apps/{app_id}")
            assert (v1["type"], v1["enableDraftSyncHook"], v1["listing"]["type"]) == (
                "custom_invoicing",
                False,
                "custom_invoicing",
            )
            assert {c["type"] for c in v1["listing"]["capabilities"]} == {
                "collectPayments",
                "calculateTax",
                "invoiceCustomers",
            }
            _, _, listed = await call(http, "GET", f"{base}/openmeter/apps?page[size]=5")
            assert listed["meta"] == {"page": {"number": 1, "size": 5, "total": 1}}
            [current] = listed["data"]
            validator.validate(current)
            definition = current["definition"]
            assert {c["type"] for c in definition["capabilities"]} == {
                "collect_payments",
                "calculate_tax",
                "invoice_customers",
            }
            assert definition["install_methods"] == ["no_credentials_required"]
            body = {k: v for k, v in current.items() if k in V3_APP_FIELDS}
            status, _, v3 = await call(
                http,
                "PUT",
                f"{base}/openmeter/apps/{app_id}",
                {**body, "name": "Renamed", "labels": {"env": "test"}, "enable_issuing_sync_hook": True},
            )
            assert status == 200
            validator.validate(v3)
            assert (v3["name"], v3["labels"], v3["enable_issuing_sync_hook"], v3["type"]) == (
                "Renamed",
                {"env": "test"},
                True,
                "external_invoicing",
            )
            _, _, v1 = await call(http, "GET", f"/api/v1/apps/{app_id}")
            assert (v1["name"], v1["metadata"], v1["enableIssuingSyncHook"]) == (
                "Renamed",
                {"env": "test"},
                True,
            )
            _, _, again = await call(http, "GET", f"{base}/openmeter/apps/{app_id}")
            assert again == v3

    run(scenario())


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("/api/v1/apps/{id}", {**APP_V1_BODY, "name": "Bare"}, ("description", "metadata")),
        ("/api/v3/openmeter/apps/{id}", {**APP_V3_BODY, "name": "Bare"}, ("description", "labels")),
    ],
)
def test_app_put_replaces_in_one_command(
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    body: dict[str, Any],
    fields: tuple[str, ...],
) -> None:
    """A description or labels left out of a PUT are cleared; the PUT is one journal record."""
    service.execute(UpdateApp(description="before", labels={"team": "billing"}))
    service.execute(SetHooks(draft=True, issuing=True))
    commits: list[object] = []
    commit = service.repository.commit
    monkeypatch.setattr(service.repository, "commit", lambda puts: (commits.append(puts), commit(puts))[1])

    async def scenario() -> dict[str, Any]:
        async with serving(service) as (_, http):
            status, _, answer = await call(http, "PUT", path.replace("{id}", service.app().id), body)
            assert status == 200, answer
            return answer

    answer = run(scenario())
    app = service.app()
    assert len(commits) == 1
    assert (app.name, app.description, app.labels) == ("Bare", None, {})
    assert (app.enable_draft_sync_hook, app.enable_issuing_sync_hook) == (False, False)
    assert fields[0] not in answer and answer.get(fields[1]) in (None, {})


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({k: v for k, v in APP_V3_BODY.items() if k != "type"}, "type", "required"),
        ({**APP_V3_BODY, "type": "stripe"}, "type", "invalid"),
        ({**APP_V3_BODY, "id": "01G65Z755AFWAKHE12NY0CQ9FH"}, "id", "unknown_property"),
        ({**APP_V3_BODY, "enableDraftSyncHook": True}, "enableDraftSyncHook", "unknown_property"),
        ({**APP_V3_BODY, "labels": {"env": "not ok!"}}, "labels.env", "matches_regex"),
        ({**APP_V3_BODY, "name": ""}, "name", None),
    ],
)
def test_v3_app_put_is_strict(service: Service, body: dict[str, Any], field: str, rule: str | None) -> None:
    before = service.app()
    problem = run(_problem(service, "PUT", f"/api/v3/openmeter/apps/{before.id}", body))
    [parameter] = [p for p in problem["invalid_parameters"] if p["field"] == field]
    assert parameter["source"] == "body" and parameter.get("rule") == rule
    assert service.app() == before


# --- serve, headless ---------------------------------------------------------------------------------
def test_serve_runs_until_interrupted_and_stops_cleanly(workspace_path: Path) -> None:
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    app_id = service.app().id
    service.close()
    assert cli_main(["--db", str(workspace_path), "callback-response", "no_content"]) == 0
    env = {**os.environ, "TUI_BILLING_DB": str(workspace_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_billing", "serve", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = process.stdout.readline()  # type: ignore[union-attr]
        assert banner.startswith("tui-billing API on http://127.0.0.1:"), banner
        url = banner.split()[3]
        assert "204 No Content" in process.stdout.readline()  # type: ignore[union-attr]

        async def probe() -> tuple[int, str, Any]:
            async with aiohttp.ClientSession(url) as http:
                return await call(http, "GET", f"/api/v1/apps/{app_id}", token=TOKEN)

        status, _, app = run(probe())
        assert status == 200 and app["id"] == app_id
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and f"GET /api/v1/apps/{app_id} → 200" in out
    assert out.rstrip().endswith("stopped")
    Service.open(workspace_path).close()  # the lock was released


def test_expand_workflow_apps_shows_the_whole_app(demo_service: Service) -> None:
    """``expand=workflow.apps`` turns the app references into the app objects (as webhook
    bodies carry them); without it they are ``{id}`` references."""
    invoice = demo_service.invoices()[0]
    app_id = demo_service.app().id

    async def scenario() -> None:
        async with serving(demo_service) as (_, http):
            _, _, plain = await call(http, "GET", f"{INVOICES}/{invoice.id}")
            assert plain["workflow"]["apps"]["invoicing"] == {"id": app_id}
            _, _, expanded = await call(http, "GET", f"{INVOICES}/{invoice.id}?expand=workflow.apps")
            assert expanded["workflow"]["apps"]["invoicing"]["id"] == app_id
            assert expanded["workflow"]["apps"]["invoicing"]["type"] == "custom_invoicing"
            _, _, listed = await call(http, "GET", f"{INVOICES}?expand=workflow.apps&pageSize=1")
            assert listed["items"][0]["workflow"]["apps"]["payment"]["type"] == "custom_invoicing"

    run(scenario())
