"""Signed webhooks over real loopback HTTP, verified by the svix and standardwebhooks libraries.

Each test runs its own event loop; the receiver, the API, the dispatcher and every
service call share it. Waits have generous deadlines and assert no timing.
"""

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import standardwebhooks
import svix.webhooks
from aiohttp import web

from conftest import FIXED_CLOCK, SEED
from tui_billing.api import Dispatcher, start_dispatcher, start_integration
from tui_billing.cli import main as cli_main
from tui_billing.domain.errors import Conflict, InvalidValue, NotFound
from tui_billing.domain.timefmt import rfc3339
from tui_billing.service import Service
from tui_billing.service.webhooks import WEBHOOK_EVENTS, WebhookEndpoint, Webhooks, new_secret, secret_key

FAST = (0.05, 0.05, 0.05, 0.05)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    verified: bool

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A partner's webhook endpoint: verifies every request with both libraries."""

    answer: Callable[[int], int] = lambda attempt: 200
    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def endpoint(self, service: Service, name: str = "hook", **options: Any) -> WebhookEndpoint:
        endpoint = Webhooks(service).add(f"{self.url}/{name}", **options)
        self.secrets[name] = endpoint.secret
        return endpoint

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        secret = self.secrets[request.match_info["name"]]
        try:
            svix.webhooks.Webhook(secret).verify(body, headers)
            standardwebhooks.Webhook(secret).verify(body, headers)
            verified = True
        except (svix.webhooks.WebhookVerificationError, standardwebhooks.WebhookVerificationError):
            verified = False
        attempt = 1 + sum(r.headers["webhook-id"] == headers.get("webhook-id") for r in self.received)
        status = self.answer(attempt) if verified else 400
        self.received.append(Received(headers, body, status, verified))
        return web.Response(status=status, text="ok" if status < 300 else f"refused with {status}")


@asynccontextmanager
async def receiving(answer: Callable[[int], int] = lambda attempt: 200,
                    port: int = 0) -> AsyncIterator[Receiver]:
    receiver = Receiver(answer)
    app = web.Application()
    app.router.add_post("/{name}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def until(condition: Callable[[], bool], what: str, deadline: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)


def settled(service: Service, dispatcher: Dispatcher) -> Callable[[], bool]:
    """True once every event has its deliveries and none is pending or in flight."""
    def check() -> bool:
        endpoints = Webhooks(service).endpoints()
        seq = service.workspace().event_seq
        caught_up = all(e.cursor == seq for e in endpoints)
        return caught_up and not dispatcher.busy and not Webhooks(service).pending()
    return check


def webhook_events(service: Service, after: int) -> list[dict[str, Any]]:
    return [r for r in service.event_rows() if r["seq"] > after and r["type"] in WEBHOOK_EVENTS]


# --- signing and delivery -------------------------------------------------------------------------
def test_every_delivery_is_signed_like_openmeter_and_verifies(service: Service) -> None:
    service.set_hooks(draft=True, issuing=True)

    async def scenario() -> tuple[list[Received], int]:
        async with receiving() as receiver:
            endpoint = receiver.endpoint(service)
            integration = await start_integration(service, port=0, schedule=FAST)
            try:
                invoice = service.create_invoice(service.customers()[0].key)
                service.collect(invoice.id)
                integration.notify()
                async with aiohttp.ClientSession(integration.url) as http:
                    base = f"/api/v1/apps/custom-invoicing/{invoice.id}"
                    for path, body in ((f"{base}/draft/synchronized", {"invoicing": {}}),
                                       (f"/api/v1/billing/invoices/{invoice.id}/approve", None),
                                       (f"{base}/issuing/synchronized", {}),
                                       (f"{base}/payment/status", {"trigger": "paid"})):
                        async with http.post(path, json=body) as response:
                            assert response.status == 200, await response.text()
                await until(settled(service, integration.dispatcher), "every delivery")
            finally:
                await integration.stop()
            return receiver.received, endpoint.cursor

    received, cursor = run(scenario())
    events = webhook_events(service, cursor)
    assert {e["type"] for e in events} == {"invoice.created", "invoice.updated"}
    assert sorted(r.headers["webhook-id"] for r in received) == sorted(e["id"] for e in events)
    for r in received:
        assert r.verified and r.headers["Content-Type"] == "application/json"
        for part in ("id", "timestamp", "signature"):
            assert r.headers[f"svix-{part}"] == r.headers[f"webhook-{part}"]
        event = service.event(service.repository.row("events", r.headers["svix-id"]))
        assert r.json == {"id": event.id, "type": event.type, "timestamp": rfc3339(event.timestamp),
                          "data": event.data}
        assert r.headers["svix-signature"].startswith("v1,")
    log = Webhooks(service).deliveries()
    assert len(log) == len(events) and all(d.status == "succeeded" for d in log)
    assert all([a.status_code for a in d.attempts] == [200] and d.attempts[0].response == "ok" for d in log)


def test_a_failing_receiver_gets_retries_with_the_same_id(service: Service) -> None:
    async def scenario() -> list[Received]:
        async with receiving(lambda attempt: 500 if attempt <= 2 else 200) as receiver:
            receiver.endpoint(service)
            service.create_invoice(service.customers()[0].key)
            dispatcher = await start_dispatcher(service, schedule=FAST)
            try:
                await until(settled(service, dispatcher), "the third attempt")
            finally:
                await dispatcher.stop()
            return receiver.received

    received = run(scenario())
    events = webhook_events(service, 0)
    assert events and all(r.verified for r in received)
    for event in events:
        attempts = [r for r in received if r.headers["webhook-id"] == event["id"]]
        assert [r.answered for r in attempts] == [500, 500, 200]
        assert {r.headers["svix-id"] for r in attempts} == {event["id"]}
        assert len({r.body for r in attempts}) == 1
        (delivery,) = Webhooks(service).deliveries(event["id"])
        assert delivery.status == "succeeded" and delivery.next_attempt_at is None
        assert [(a.number, a.status_code) for a in delivery.attempts] == [(1, 500), (2, 500), (3, 200)]
        assert [a.next_retry_at is not None for a in delivery.attempts] == [True, True, False]
        assert delivery.attempts[0].response == "refused with 500" and delivery.attempts[0].latency_ms >= 0


def test_a_delivery_fails_when_the_schedule_is_spent(service: Service) -> None:
    async def scenario() -> None:
        async with receiving(lambda attempt: 503) as receiver:
            receiver.endpoint(service)
            service.create_invoice(service.customers()[0].key)
            dispatcher = await start_dispatcher(service, schedule=(0.02, 0.02))
            try:
                await until(settled(service, dispatcher), "the last attempt")
            finally:
                await dispatcher.stop()

    run(scenario())
    deliveries = Webhooks(service).deliveries()
    assert deliveries and all(d.status == "failed" and [a.status_code for a in d.attempts] == [503] * 3
                              for d in deliveries)


def test_an_unreachable_endpoint_is_logged_and_retried(service: Service) -> None:
    Webhooks(service).add("http://127.0.0.1:9/nobody-listens")
    service.create_invoice(service.customers()[0].key)

    async def scenario() -> None:
        dispatcher = await start_dispatcher(service, schedule=(0.02,))
        try:
            await until(settled(service, dispatcher), "both attempts")
        finally:
            await dispatcher.stop()

    run(scenario())
    deliveries = Webhooks(service).deliveries()
    assert deliveries and all(d.status == "failed" and len(d.attempts) == 2 for d in deliveries)
    assert all(a.status_code is None and "127.0.0.1:9" in a.response for d in deliveries for a in d.attempts)


def test_replay_sends_the_event_again_with_the_same_id(service: Service) -> None:
    async def scenario() -> tuple[list[Received], str]:
        async with receiving() as receiver:
            receiver.endpoint(service)
            service.create_invoice(service.customers()[0].key)
            dispatcher = await start_dispatcher(service, schedule=FAST)
            try:
                await until(settled(service, dispatcher), "the first deliveries")
                count = len(receiver.received)
                event = webhook_events(service, 0)[-1]
                created = dispatcher.replay(event["id"])
                assert [d.replay for d in created] == [1]
                await until(lambda: len(receiver.received) == count + 1 and not dispatcher.busy, "the replay")
            finally:
                await dispatcher.stop()
            return receiver.received, event["id"]

    received, event_id = run(scenario())
    again = [r for r in received if r.headers["svix-id"] == event_id]
    assert len(again) == 2 and received[-1] is again[1] and again[0].body == again[1].body
    assert all(r.verified for r in received)
    log = [(d.replay, d.status) for d in Webhooks(service).deliveries(event_id)]
    assert log == [(0, "succeeded"), (1, "succeeded")]
    with pytest.raises(NotFound):
        Webhooks(service).replay("01KDWCJ2M0ZZZZZZZZZZZZZZZZ")


def test_event_filters_and_the_invoice_generated_opt_in(service: Service) -> None:
    async def scenario() -> Receiver:
        async with receiving() as receiver:
            receiver.endpoint(service, "created", event_types=["invoice.created"])
            receiver.endpoint(service, "generated", event_types=["invoice.generated"])
            invoice = service.create_invoice(service.customers()[0].key)
            service.collect(invoice.id)
            service.approve(invoice.id)
            service.payment_status(invoice.id, "paid")
            dispatcher = await start_dispatcher(service, schedule=FAST)
            try:
                await until(settled(service, dispatcher), "every delivery")
            finally:
                await dispatcher.stop()
            return receiver

    receiver = run(scenario())
    by_type: dict[str, list[str]] = {}
    for r in receiver.received:
        assert r.verified
        by_type.setdefault(r.json["type"], []).append(r.json["data"].get("status", ""))
    assert by_type == {"invoice.created": ["draft"], "invoice.generated": ["generated", "paid"]}


def test_deliveries_resume_after_reopening(workspace_path: Path) -> None:
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    answers = {"status": 503}

    def attempted() -> bool:
        deliveries = Webhooks(service).deliveries()
        return bool(deliveries) and all(d.attempts for d in deliveries)

    async def first_run() -> int:
        async with receiving(lambda attempt: answers["status"]) as receiver:
            receiver.endpoint(service)
            service.create_invoice(service.customers()[0].key)
            dispatcher = await start_dispatcher(service, schedule=(1.0,))
            try:
                await until(attempted, "a first attempt of every delivery")
            finally:
                await dispatcher.stop()
            return int(receiver.url.rsplit(":", 1)[1])

    port = run(first_run())
    service.close()

    service = Service.open(workspace_path)
    try:
        earlier = Webhooks(service).pending()
        assert earlier and all([a.status_code for a in d.attempts] == [503] for d in earlier)
        service.create_invoice(service.customers()[1].key)  # logged while no dispatcher runs
        answers["status"] = 200

        async def second_run() -> list[Received]:
            async with receiving(lambda attempt: answers["status"], port=port) as receiver:
                receiver.secrets["hook"] = Webhooks(service).endpoints()[0].secret
                dispatcher = await start_dispatcher(service, schedule=FAST)
                try:
                    await until(settled(service, dispatcher), "the resumed deliveries")
                finally:
                    await dispatcher.stop()
                return receiver.received

        received = run(second_run())
        deliveries = Webhooks(service).deliveries()
        assert {d.status for d in deliveries} == {"succeeded"} and len(deliveries) > len(earlier)
        assert [[a.status_code for a in d.attempts] for d in deliveries] == (
            [[503, 200]] * len(earlier) + [[200]] * (len(deliveries) - len(earlier)))
        assert sorted(r.headers["svix-id"] for r in received) == sorted(d.event_id for d in deliveries)
        assert all(r.verified for r in received)
    finally:
        service.close()


# --- endpoints ------------------------------------------------------------------------------------
def test_endpoints_secrets_and_removal(service: Service) -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32 == len(secret_key(secret))
    hooks = Webhooks(service)
    endpoint = hooks.add("http://127.0.0.1:9/a", secret=secret)
    assert (endpoint.secret, endpoint.event_types) == (secret, [])
    assert endpoint.cursor == service.workspace().event_seq
    for bad in ({"url": "ftp://example"}, {"url": "http://127.0.0.1:9/b", "secret": "whsec_short"},
                {"url": "http://127.0.0.1:9/b", "secret": "nope"},
                {"url": "http://127.0.0.1:9/b", "event_types": ["invoice.deleted"]}):
        with pytest.raises(InvalidValue):
            hooks.add(bad.pop("url"), **bad)
    with pytest.raises(Conflict):
        hooks.add("http://127.0.0.1:9/a")
    service.create_invoice(service.customers()[0].key)
    created = hooks.enqueue_new_events()
    assert [d.event_id for d in created] == [e["id"] for e in webhook_events(service, endpoint.cursor)]
    assert hooks.enqueue_new_events() == []
    hooks.remove(endpoint.id)
    assert hooks.endpoints() == [] and {d.status for d in hooks.deliveries()} == {"cancelled"}
    assert hooks.pending() == []
    with pytest.raises(NotFound):
        hooks.remove(endpoint.id)


def test_webhooks_cli(workspace_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK).close()
    db = ["--db", str(workspace_path)]

    def cli(*argv: str) -> tuple[int, str, str]:
        code = cli_main([*db, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = cli("webhooks", "add", "http://127.0.0.1:9/hook",
                       "--events", "invoice.created,invoice.updated")
    assert code == 0 and "secret whsec_" in out
    endpoint_id = out.split()[1]
    assert cli("webhooks", "add", "not a url")[0] == 1
    code, out, _ = cli("webhooks")
    assert code == 0 and endpoint_id in out and "invoice.created,invoice.updated" in out
    code, out, _ = cli("webhooks", "list", "--json")
    assert json.loads(out)[0]["id"] == endpoint_id
    code, out, _ = cli("create", "--customer", _first_customer(workspace_path))
    assert code == 0
    code, out, _ = cli("events", "--json")
    event_id = json.loads(out)[0]["event"]["id"]
    code, out, _ = cli("webhooks", "replay", event_id)
    assert code == 0 and "queued 1 delivery" in out
    code, out, _ = cli("webhooks", "deliveries", "--event", event_id, "--json")
    assert [d["replay"] for d in json.loads(out)] == [1]
    code, out, _ = cli("webhooks", "deliveries")
    assert code == 0 and event_id in out and "pending" in out
    assert cli("webhooks", "deliveries", "--event", "01KDWCJ2M0ZZZZZZZZZZZZZZZZ")[0] == 1
    code, out, _ = cli("webhooks", "remove", endpoint_id)
    assert code == 0 and cli("webhooks", "list", "--json")[1].strip() == "[]"


def _first_customer(workspace_path: Path) -> str:
    service = Service.open(workspace_path)
    try:
        return service.customers()[0].key
    finally:
        service.close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
