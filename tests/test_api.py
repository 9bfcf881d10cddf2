"""The HTTP API over real loopback HTTP: the official SDK, problem responses, tokens.

Each test runs its own event loop (``asyncio.run``); the server and every service call
stay on that loop's thread, and the blocking SDK runs in a worker thread.
"""

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import openmeter
import pytest
from corehttp.exceptions import ClientAuthenticationError, HttpResponseError
from jsonschema import Draft202012Validator, FormatChecker
from openmeter._generated import models as sdk_models

from conftest import FIXED_CLOCK, SEED, SEEDS
from tui_billing.api import ApiCall, ApiServer, start_api, start_integration
from tui_billing.cli import main as cli_main
from tui_billing.domain.errors import Conflict
from tui_billing.service import Service

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


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None, *,
               raw: bytes | None = None, token: str | None = None) -> tuple[int, str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    async with http.request(method, path, data=data, headers=headers) as response:
        text = await response.text()
        return response.status, response.content_type, json.loads(text) if text else None


def in_syncing(service: Service, *, issuing: bool = True) -> str:
    """A new invoice resting in draft.syncing (both hooks on unless told)."""
    service.set_hooks(draft=True, issuing=issuing)
    invoice = service.create_invoice(service.customers()[0].key)
    return service.collect(invoice.id).id


# --- the official SDK, unmodified, against a no_content server ---------------------------------
def test_official_sdk_drives_callbacks_app_and_invoice(service: Service) -> None:
    invoice_id = in_syncing(service)
    line_id = service.invoice(invoice_id).lines[0].id
    app_id = service.app().id

    def partner() -> dict[str, Any]:
        client = openmeter.Client(endpoint=server.url, token=TOKEN)
        seen: dict[str, Any] = {"first": client.invoice.get_invoice(invoice_id)}
        assert client.app_custom_invoicing.draft_syncronized(invoice_id, {"invoicing": {
            "invoiceNumber": "EXT-1", "externalId": "ext-inv-1",
            "lineExternalIds": [{"lineId": line_id, "externalId": "ext-line-1"}]}}) is None
        seen["approved"] = client.invoice.approve_action(invoice_id)
        assert client.app_custom_invoicing.finalized(invoice_id, sdk_models.CustomInvoicingFinalizedRequest(
            invoicing=sdk_models.CustomInvoicingFinalizedInvoicingRequest(
                invoice_number="INV-EXT-1", sent_to_customer_at=datetime(2026, 1, 2, tzinfo=UTC)),
            payment=sdk_models.CustomInvoicingFinalizedPaymentRequest(external_id="pay-1"))) is None
        assert client.app_custom_invoicing.payment_status(invoice_id, {"trigger": "paid"}) is None
        seen["paid"] = client.invoice.get_invoice(invoice_id)
        with pytest.raises(HttpResponseError) as refused:
            client.app_custom_invoicing.payment_status(invoice_id, {"trigger": "paid"})
        seen["refused"] = refused.value
        seen["app"] = client.apps.get(app_id)
        seen["updated"] = client.apps.update(app_id, sdk_models.CustomInvoicingAppReplaceUpdate(
            name="Partner sandbox", type="custom_invoicing", metadata={"team": "billing"},
            enable_draft_sync_hook=False, enable_issuing_sync_hook=True))
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
        "custom_invoicing", True, True)
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
        assert client.app_custom_invoicing.draft_syncronized(invoice_id, {"invoicing": {
            "lineExternalIds": [{"lineId": detailed.id, "externalId": "erp-usage-1"}]}}) is None
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
        assert all(isinstance(child, sdk_models.InvoiceDetailedLine) and child.type == "flat_fee"
                   for child in line.children)
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
            status, kind, body = await call(http, "POST", f"{CALLBACKS}/{invoice_id}/draft/synchronized",
                                            {"invoicing": {}})
            assert (status, kind) == (200, "application/json")
            assert body == service.invoice_v1(service.invoice(invoice_id))
            assert body["statusDetails"]["extendedStatus"] == "draft.waiting_auto_approval"
            service.set_callback_response("no_content")  # read live: the next call answers 204
            await call(http, "POST", f"{INVOICES}/{invoice_id}/approve")
            status, _, body = await call(http, "POST", f"{CALLBACKS}/{invoice_id}/payment/status",
                                         {"trigger": "payment_overdue"})
            assert (status, body) == (204, None)
        async with serving(service, callback_response="invoice") as (_, http):
            status, _, body = await call(http, "POST", f"{CALLBACKS}/{invoice_id}/payment/status",
                                         {"trigger": "paid"})
            assert status == 200 and body["status"] == "paid"

    run(scenario())
    assert service.workspace().callback_response == "no_content"


# --- problems -----------------------------------------------------------------------------------
PROBLEMS = [
    ("body of the wrong type", "POST", "draft/synchronized", {"invoicing": {"invoiceNumber": 5}}, 400,
     "invoicing.invoiceNumber"),
    ("body not JSON", "POST", "draft/synchronized", b"{not json", 400, "not valid JSON"),
    ("body missing invoicing", "POST", "draft/synchronized", {}, 400, "invoicing: Field required"),
    ("empty body", "POST", "payment/status", b"", 400, "empty"),
    ("unknown trigger", "POST", "payment/status", {"trigger": "refund"}, 400, "not a payment trigger"),
    ("unknown line", "POST", "draft/synchronized",
     {"invoicing": {"lineExternalIds": [{"lineId": "01KDWCJ2M0AAAAAAAAAAAAAAAA", "externalId": "x"}]}},
     400, "has no line"),
    ("line discounts", "POST", "draft/synchronized",
     {"invoicing": {"lineDiscountExternalIds": [{"lineDiscountId": "d1", "externalId": "x"}]}}, 400,
     "no line discount"),
    ("wrong state", "POST", "issuing/synchronized", {}, 400, "only allowed in issuing.syncing"),
    ("payment in a draft", "POST", "payment/status", {"trigger": "paid"}, 400, "not allowed in draft.syncing"),
    ("approve while syncing", "POST", "approve", None, 400, "not allowed"),
]


@pytest.mark.parametrize(("case", "method", "action", "body", "status", "detail"), PROBLEMS,
                         ids=[p[0] for p in PROBLEMS])
def test_refused_calls_answer_problem_json(service: Service, case: str, method: str, action: str,
                                           body: Any, status: int, detail: str) -> None:
    invoice_id = in_syncing(service)
    path = f"{INVOICES}/{invoice_id}/{action}" if action == "approve" else f"{CALLBACKS}/{invoice_id}/{action}"
    problem = run(_problem(service, method, path, body))
    assert problem["status"] == status and detail in problem["detail"], problem


async def _problem(service: Service, method: str, path: str, body: Any, **options: Any) -> dict[str, Any]:
    async with serving(service, **options) as (_, http):
        raw = body if isinstance(body, bytes) else None
        status, kind, problem = await call(http, method, path, None if raw is not None else body, raw=raw)
    assert kind == "application/problem+json"
    assert set(problem) == {"type", "title", "status", "detail", "instance"}
    assert problem["status"] == status and problem["instance"] == path.split("?")[0]
    return problem


@pytest.mark.parametrize(("method", "path", "detail"), [
    ("GET", f"{INVOICES}/{UNKNOWN_ULID}", "no invoice"),
    ("POST", f"{CALLBACKS}/{UNKNOWN_ULID}/payment/status", "no invoice"),
    ("GET", f"{INVOICES}/not-a-ulid", "ULID"),
    ("POST", f"{CALLBACKS}/DRAFT-GOUL-1/payment/status", "ULID"),
    ("DELETE", f"{INVOICES}/01kdwcj2m0pzwghxa0bxtxpa12", "ULID"),
    ("GET", f"/api/v1/apps/{UNKNOWN_ULID}", "no app"),
    ("PUT", f"/openmeter/apps/{UNKNOWN_ULID}", "no app"),
    ("GET", "/api/v1/nothing-here", "no endpoint"),
])
def test_unknown_ids_and_routes_are_404(service: Service, method: str, path: str, detail: str) -> None:
    app = {"name": "x", "enable_draft_sync_hook": False, "enable_issuing_sync_hook": False}
    body = {"trigger": "paid"} if "payment" in path else (app if method == "PUT" else None)
    problem = run(_problem(service, method, path, body))
    assert problem["status"] == 404 and detail in problem["detail"]


def test_other_problems(service: Service) -> None:
    app_id = service.app().id
    assert run(_problem(service, "PATCH", INVOICES, None))["status"] == 405
    assert "statuses" in run(_problem(service, "GET", f"{INVOICES}?statuses=open", None))["detail"]
    assert run(_problem(service, "GET", f"{INVOICES}?pageSize=0", None))["status"] == 400
    problem = run(_problem(service, "PUT", f"/api/v1/apps/{app_id}",
                           {"name": "", "type": "stripe", "enableDraftSyncHook": "yes"}))
    assert problem["status"] == 400 and "name" in problem["detail"] and "type" in problem["detail"]


def test_conflict_is_409(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """No command of the core raises Conflict yet; the API maps it to 409 all the same."""
    def conflicting(invoice_id: str) -> None:
        raise Conflict(f"invoice {invoice_id} was changed meanwhile")

    monkeypatch.setattr(service, "approve", conflicting)
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
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(workspace_path.parent.glob(workspace_path.name + "*")) if p.suffix != ".lock"}


def test_refused_calls_leave_the_workspace_byte_identical(service: Service, workspace_path: Path) -> None:
    invoice_id = in_syncing(service)
    app_id = service.app().id
    before = _files(workspace_path)
    refused = [
        ("POST", f"{CALLBACKS}/{invoice_id}/draft/synchronized", {"invoicing": {"invoiceNumber": 1}}, None),
        ("POST", f"{CALLBACKS}/{invoice_id}/draft/synchronized", {"invoicing": {
            "invoiceNumber": "N-1", "lineExternalIds": [{"lineId": UNKNOWN_ULID, "externalId": "x"}]}}, TOKEN),
        ("POST", f"{CALLBACKS}/{invoice_id}/issuing/synchronized", {}, TOKEN),
        ("POST", f"{CALLBACKS}/{invoice_id}/payment/status", {"trigger": "void"}, TOKEN),
        ("POST", f"{CALLBACKS}/{UNKNOWN_ULID}/payment/status", {"trigger": "paid"}, TOKEN),
        ("POST", f"{INVOICES}/{invoice_id}/retry", None, TOKEN),
        ("PUT", f"/api/v1/apps/{app_id}", {"name": "x" * 300, "type": "custom_invoicing",
                                            "enableDraftSyncHook": False,
                                            "enableIssuingSyncHook": False}, TOKEN),
        ("POST", f"{CALLBACKS}/{invoice_id}/draft/synchronized", {"invoicing": {}}, "wrong-token"),
    ]

    async def scenario() -> None:
        integration = await start_integration(service, port=0, token=TOKEN)
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
    rows = demo_service.invoice_rows()

    async def scenario() -> None:
        async with serving(demo_service) as (_, http):
            _, _, everything = await call(http, "GET", INVOICES)
            assert everything["totalCount"] == sum(r["status"] != "deleted" for r in rows)
            assert all("lines" not in item for item in everything["items"])
            _, _, drafts = await call(http, "GET", f"{INVOICES}?statuses=draft&statuses=overdue")
            assert {i["status"] for i in drafts["items"]} == {"draft", "overdue"}
            _, _, waiting = await call(
                http, "GET", f"{INVOICES}?extendedStatuses=draft.syncing,issuing.syncing&expand=lines")
            assert {extended(i) for i in waiting["items"]} == {"draft.syncing", "issuing.syncing"}
            assert all(i["lines"] for i in waiting["items"])
            # The short status, as OpenMeter sends it: `delete` for delete.*, `deleted` at the end.
            _, _, deleted = await call(http, "GET", f"{INVOICES}?statuses=deleted&includeDeleted=true")
            assert {extended(i) for i in deleted["items"]} == {"deleted"}
            _, _, deleting = await call(http, "GET", f"{INVOICES}?statuses=delete&includeDeleted=true")
            assert {extended(i) for i in deleting["items"]} == {"delete.failed"}
            _, _, page = await call(http, "GET", f"{INVOICES}?page=2&pageSize=5")
            assert (page["page"], page["pageSize"]) == (2, 5)
            assert [i["id"] for i in page["items"]] == [i["id"] for i in everything["items"][5:10]]

    run(scenario())


def test_billing_actions(service: Service) -> None:
    service.set_workflow(auto_advance=False)
    customer = service.customers()[0].key
    held = service.collect(service.create_invoice(customer).id).id
    draft = service.create_invoice(customer).id
    changes: list[int] = []
    calls: list[ApiCall] = []

    async def scenario() -> None:
        # on_change comes first (before on_call), so it records the index of its own call.
        async with serving(service, on_change=lambda: changes.append(len(calls)),
                           on_call=calls.append) as (_, http):
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


# --- the app, v1 and v3 ----------------------------------------------------------------------------
def test_app_v1_and_v3(service: Service) -> None:
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
                "custom_invoicing", False, "custom_invoicing")
            _, _, current = await call(http, "GET", f"/openmeter/apps/{app_id}")
            validator.validate(current)
            status, _, v3 = await call(http, "PUT", f"/openmeter/apps/{app_id}", {
                **current, "name": "Renamed", "labels": {"env": "test"}, "enable_issuing_sync_hook": True})
            assert status == 200
            validator.validate(v3)
            assert (v3["name"], v3["labels"], v3["enable_issuing_sync_hook"], v3["type"]) == (
                "Renamed", {"env": "test"}, True, "external_invoicing")
            _, _, v1 = await call(http, "GET", f"/api/v1/apps/{app_id}")
            assert (v1["name"], v1["metadata"], v1["enableIssuingSyncHook"]) == (
                "Renamed", {"env": "test"}, True)

    run(scenario())



# --- serve, headless ---------------------------------------------------------------------------------
def test_serve_runs_until_interrupted_and_stops_cleanly(workspace_path: Path) -> None:
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    app_id = service.app().id
    service.close()
    assert cli_main(["--db", str(workspace_path), "callback-response", "no_content"]) == 0
    env = {**os.environ, "TUI_BILLING_DB": str(workspace_path)}
    process = subprocess.Popen([sys.executable, "-m", "tui_billing", "serve", "--port", "0", "--token", TOKEN],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
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
