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

from tui_billing.api import Dispatcher, start_dispatcher, start_serving
from tui_billing.cli import main as cli_main
from tui_billing.domain.errors import Conflict, InvalidValue, NotAllowed, NotFound
from tui_billing.domain.notifications import WEBHOOK_EVENTS, AttemptResult, Channel, Notification, secret_key
from tui_billing.domain.timefmt import rfc3339
from tui_billing.service import Service
from tui_billing.service.commands import Approve, Collect, CreateInvoice, SetDeliveryRetention, SetHooks
from tui_billing.service.notifications import Webhooks, new_secret
from tui_billing.store.journal import StoreError
from tui_billing.store.repository import Put

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
    hanging: dict[str, int] = field(default_factory=dict)
    """Endpoint names that never answer (until ``release`` is set), with their request counts."""
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def endpoint(self, service: Service, name: str = "hook", **options: Any) -> Channel:
        channel, _ = Webhooks(service).add(f"{self.url}/{name}", **options)
        self.secrets[name] = channel.signing_secret
        return channel

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.match_info["name"] in self.hanging:
            self.hanging[request.match_info["name"]] += 1
            await self.release.wait()
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
async def receiving(
    answer: Callable[[int], int] = lambda attempt: 200, port: int = 0
) -> AsyncIterator[Receiver]:
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
        seq = service.workspace().event_seq
        caught_up = all(r.cursor == seq for r in Webhooks(service).rules() if r.active)
        return caught_up and not dispatcher.busy and not Webhooks(service).pending()

    return check


def webhook_events(service: Service, after: int) -> list[dict[str, Any]]:
    return [r for r in service.event_rows() if r["seq"] > after and r["type"] in WEBHOOK_EVENTS]


# --- signing and delivery -------------------------------------------------------------------------
def test_every_delivery_is_signed_like_openmeter_and_verifies(service: Service) -> None:
    service.execute(SetHooks(draft=True, issuing=True))

    async def scenario() -> tuple[list[Received], int]:
        async with receiving() as receiver:
            receiver.endpoint(service)
            since = service.workspace().event_seq
            integration = await start_serving(service, port=0, schedule=FAST)
            try:
                invoice = service.execute(CreateInvoice(service.customers()[0].key))
                service.execute(Collect(invoice.id))
                integration.notify()
                async with aiohttp.ClientSession(integration.url) as http:
                    base = f"/api/v1/apps/custom-invoicing/{invoice.id}"
                    for path, body in (
                        (f"{base}/draft/synchronized", {"invoicing": {}}),
                        (f"/api/v1/billing/invoices/{invoice.id}/approve", None),
                        (f"{base}/issuing/synchronized", {}),
                        (f"{base}/payment/status", {"trigger": "paid"}),
                    ):
                        async with http.post(path, json=body) as response:
                            assert response.status == 200, await response.text()
                await until(settled(service, integration.dispatcher), "every delivery")
            finally:
                await integration.stop()
            return receiver.received, since

    received, since = run(scenario())
    events = webhook_events(service, since)
    hooks = Webhooks(service)
    notifications = {row["id"]: Notification.model_validate(row) for row in hooks.notification_rows()}
    assert {e["type"] for e in events} == {"invoice.created", "invoice.updated"}
    assert sorted(n.event_id or "" for n in notifications.values()) == sorted(e["id"] for e in events)
    assert sorted(r.headers["webhook-id"] for r in received) == sorted(notifications)
    for r in received:
        assert r.verified and r.headers["Content-Type"] == "application/json"
        for part in ("id", "timestamp", "signature"):
            assert r.headers[f"svix-{part}"] == r.headers[f"webhook-{part}"]
        notification = notifications[r.headers["svix-id"]]
        event = service.event(service.repository.row("events", notification.event_id))
        assert r.json == {
            "id": notification.id,
            "type": event.type,
            "timestamp": rfc3339(event.timestamp),
            "data": event.data,
        }
        assert r.headers["svix-signature"].startswith("v1,")
    log = hooks.deliveries()
    assert len(log) == len(events) and all(d.status == "succeeded" for d in log)
    assert all([a.status_code for a in d.attempts] == [200] and d.attempts[0].response == "ok" for d in log)


def test_a_failing_receiver_gets_retries_with_the_same_id(service: Service) -> None:
    async def scenario() -> list[Received]:
        async with receiving(lambda attempt: 500 if attempt <= 2 else 200) as receiver:
            receiver.endpoint(service)
            service.execute(CreateInvoice(service.customers()[0].key))
            dispatcher = await start_dispatcher(service, schedule=FAST)
            try:
                await until(settled(service, dispatcher), "the third attempt")
            finally:
                await dispatcher.stop()
            return receiver.received

    received = run(scenario())
    deliveries = Webhooks(service).deliveries()
    assert len(deliveries) == len(webhook_events(service, 0)) and all(r.verified for r in received)
    for delivery in deliveries:
        attempts = [r for r in received if r.headers["webhook-id"] == delivery.notification_id]
        assert [r.answered for r in attempts] == [500, 500, 200]
        assert len({r.body for r in attempts}) == 1
        assert delivery.status == "succeeded" and delivery.next_attempt_at is None
        assert [(a.number, a.status_code) for a in delivery.attempts] == [(1, 500), (2, 500), (3, 200)]
        assert [a.next_retry_at is not None for a in delivery.attempts] == [True, True, False]
        assert delivery.attempts[0].response == "refused with 500" and delivery.attempts[0].latency_ms >= 0


def test_a_delivery_fails_when_the_schedule_is_spent(service: Service) -> None:
    async def scenario() -> None:
        async with receiving(lambda attempt: 503) as receiver:
            receiver.endpoint(service)
            service.execute(CreateInvoice(service.customers()[0].key))
            dispatcher = await start_dispatcher(service, schedule=(0.02, 0.02))
            try:
                await until(settled(service, dispatcher), "the last attempt")
            finally:
                await dispatcher.stop()

    run(scenario())
    deliveries = Webhooks(service).deliveries()
    assert deliveries and all(
        d.status == "failed" and [a.status_code for a in d.attempts] == [503] * 3 for d in deliveries
    )


def test_an_unreachable_endpoint_is_logged_and_retried(service: Service) -> None:
    Webhooks(service).add("http://127.0.0.1:9/nobody-listens")
    service.execute(CreateInvoice(service.customers()[0].key))

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


def test_each_channel_keeps_its_newest_deliveries(workspace_path: Path) -> None:
    """Retention: finished deliveries beyond the newest N of a channel are pruned in the
    commit that logs attempts; pending ones stay; the other channel is untouched."""
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    with pytest.raises(InvalidValue, match="1 to 1,000,000"):
        service.execute(SetDeliveryRetention(0))
    service.execute(SetDeliveryRetention(3))
    hooks = Webhooks(service)
    busy, _ = hooks.add("http://127.0.0.1:9/busy")
    quiet, _ = hooks.add("http://127.0.0.1:9/quiet", event_types=["invoice.created"])
    for customer in service.customers()[:3]:
        service.execute(CreateInvoice(customer.key))
    hooks.enqueue_new_events()
    mine = [d for d in hooks.pending() if d.channel_id == busy.id]
    assert len(mine) > 4
    # Every delivery of the busy channel but the newest answered; the newest stays pending.
    hooks.record_attempts(AttemptResult(d.id, FIXED_CLOCK, 1.0, 200) for d in mine[:-1])
    left = [d for d in hooks.deliveries() if d.channel_id == busy.id]
    assert [d.id for d in left] == [d.id for d in mine[-3:]]
    assert [d.status for d in left] == ["succeeded", "succeeded", "pending"]
    assert len([d for d in hooks.deliveries() if d.channel_id == quiet.id]) == 3  # not touched
    service.close()
    reopened = Service.open(workspace_path)  # the pruning is in the journal
    try:
        assert [d.id for d in Webhooks(reopened).deliveries() if d.channel_id == busy.id] == [
            d.id for d in left
        ]
    finally:
        reopened.close()


def test_retention_cli(workspace_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(workspace_path)]
    assert cli_main([*db, "init", "--seed", str(SEED), "--now", rfc3339(FIXED_CLOCK) or ""]) == 0
    assert cli_main([*db, "webhooks", "keep"]) == 0
    assert cli_main([*db, "webhooks", "keep", "50"]) == 0
    assert cli_main([*db, "webhooks", "keep", "-1"]) == 1
    out = capsys.readouterr()
    assert "keeps the newest 1000 deliveries" in out.out and "keeps the newest 50 deliveries" in out.out
    assert "1 to 1,000,000" in out.err


def test_replay_sends_the_event_again_with_the_same_id(service: Service) -> None:
    async def scenario() -> tuple[list[Received], str]:
        async with receiving() as receiver:
            receiver.endpoint(service)
            service.execute(CreateInvoice(service.customers()[0].key))
            dispatcher = await start_dispatcher(service, schedule=FAST)
            try:
                await until(settled(service, dispatcher), "the first deliveries")
                count = len(receiver.received)
                notification_id = Webhooks(service).deliveries()[-1].notification_id
                created = dispatcher.replay(notification_id)
                assert [d.replay for d in created] == [1]
                await until(lambda: len(receiver.received) == count + 1 and not dispatcher.busy, "the replay")
            finally:
                await dispatcher.stop()
            return receiver.received, notification_id

    received, notification_id = run(scenario())
    again = [r for r in received if r.headers["svix-id"] == notification_id]
    assert len(again) == 2 and received[-1] is again[1] and again[0].body == again[1].body
    assert all(r.verified for r in received)
    log = [(d.replay, d.status) for d in Webhooks(service).deliveries(notification_id)]
    assert log == [(0, "succeeded"), (1, "succeeded")]
    with pytest.raises(NotFound):
        Webhooks(service).replay("01KDWCJ2M0ZZZZZZZZZZZZZZZZ")


def test_rules_choose_what_each_channel_gets(service: Service) -> None:
    """Only a rule of the event's type pointing at an enabled channel sends it."""

    async def scenario() -> Receiver:
        async with receiving() as receiver:
            hooks = Webhooks(service)
            receiver.endpoint(service, "created", event_types=["invoice.created"])
            muted = receiver.endpoint(service, "muted")
            hooks.update_channel(muted.id, name="muted", url=muted.url, disabled=True)
            alone = hooks.create_channel(name="no rule", url=f"{receiver.url}/alone")
            receiver.secrets["alone"] = alone.signing_secret
            invoice = service.execute(CreateInvoice(service.customers()[0].key))
            service.execute(Collect(invoice.id))
            service.execute(Approve(invoice.id))
            dispatcher = await start_dispatcher(service, schedule=FAST)
            try:
                await until(settled(service, dispatcher), "every delivery")
            finally:
                await dispatcher.stop()
            return receiver

    receiver = run(scenario())
    assert [r.json["type"] for r in receiver.received] == ["invoice.created"]
    assert all(r.verified for r in receiver.received)


def test_a_hung_channel_does_not_slow_a_healthy_one(service: Service) -> None:
    """Each channel has its own slots: one that never answers holds only its own."""

    async def scenario() -> tuple[int, int]:
        async with receiving() as receiver:
            receiver.endpoint(service)
            receiver.endpoint(service, "hung")
            receiver.hanging["hung"] = 0
            customers = service.customers()
            for i in range(20):
                service.execute(CreateInvoice(customers[i % len(customers)].key))
            dispatcher = await start_dispatcher(service, schedule=FAST, per_channel=4, timeout=60)
            try:
                healthy = len(webhook_events(service, 0))
                await until(lambda: len(receiver.received) == healthy, "every healthy delivery")
                await until(lambda: receiver.hanging["hung"] >= 4, "the hung channel's slots filled")
                return healthy, receiver.hanging["hung"]
            finally:
                receiver.release.set()
                await dispatcher.stop()

    healthy, stuck = run(scenario())
    assert healthy >= 20 and stuck == 4


def test_deliveries_resume_after_a_failed_enqueue(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk refuses the dispatcher's commit once: the next turn makes the deliveries
    without any other write."""
    commit = service.repository.commit
    refusals = {"left": 1}

    def flaky(changes: list[Any]) -> None:
        if refusals["left"] and any(c.table == "notifications" for c in changes):
            refusals["left"] -= 1
            raise StoreError("cannot write: No space left on device; nothing was changed")
        commit(changes)

    async def scenario() -> Receiver:
        async with receiving() as receiver:
            receiver.endpoint(service)
            service.execute(CreateInvoice(service.customers()[0].key))
            monkeypatch.setattr(service.repository, "commit", flaky)
            dispatcher = await start_dispatcher(service, schedule=FAST, poll_interval=0.05)
            try:
                await until(
                    lambda: refusals["left"] == 0 and settled(service, dispatcher)(), "the deliveries"
                )
            finally:
                await dispatcher.stop()
            return receiver

    receiver = run(scenario())
    assert len(receiver.received) == len(webhook_events(service, 0)) > 0


def test_deliveries_resume_after_reopening(workspace_path: Path) -> None:
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    answers = {"status": 503}

    def attempted() -> bool:
        deliveries = Webhooks(service).deliveries()
        return bool(deliveries) and all(d.attempts for d in deliveries)

    async def first_run() -> int:
        async with receiving(lambda attempt: answers["status"]) as receiver:
            receiver.endpoint(service)
            service.execute(CreateInvoice(service.customers()[0].key))
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
        service.execute(CreateInvoice(service.customers()[1].key))  # logged while no dispatcher runs
        answers["status"] = 200

        async def second_run() -> list[Received]:
            async with receiving(lambda attempt: answers["status"], port=port) as receiver:
                receiver.secrets["hook"] = Webhooks(service).channels()[0].signing_secret
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
            [[503, 200]] * len(earlier) + [[200]] * (len(deliveries) - len(earlier))
        )
        assert sorted(r.headers["svix-id"] for r in received) == sorted(d.notification_id for d in deliveries)
        assert all(r.verified for r in received)
    finally:
        service.close()


# --- channels and rules ---------------------------------------------------------------------------
def test_channels_rules_secrets_and_removal(service: Service) -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32 == len(secret_key(secret))
    hooks = Webhooks(service)
    channel, rules = hooks.add("http://127.0.0.1:9/a", secret=secret)
    assert channel.signing_secret == secret and sorted(r.type for r in rules) == sorted(WEBHOOK_EVENTS)
    assert all(r.channels == [channel.id] and r.cursor == service.workspace().event_seq for r in rules)
    for bad in (
        {"url": "ftp://example"},
        {"url": "http://127.0.0.1:99999/b"},
        {"url": "http://h:abc/b"},
        {"url": "http://127.0.0.1:9/b\r\nX: y"},
        {"url": "http://127.0.0.1:9/b#top"},
        {"url": "http://127.0.0.1:9/b", "secret": "whsec_short"},
        {"url": "http://127.0.0.1:9/b", "secret": "nope"},
        {"url": "http://127.0.0.1:9/b", "event_types": ["invoice.generated"]},
    ):
        with pytest.raises(InvalidValue):
            hooks.add(bad.pop("url"), **bad)
    for same in ("http://127.0.0.1:9/a", "HTTP://127.0.0.1:9/a"):
        with pytest.raises(Conflict):
            hooks.add(same)
    with pytest.raises(NotAllowed):  # a channel used by a rule is not deleted (as OpenMeter)
        hooks.delete_channel(channel.id)
    with pytest.raises(InvalidValue):
        hooks.create_rule(type="invoice.created", name="none", channels=[])
    with pytest.raises(NotFound):
        hooks.create_rule(type="invoice.created", name="ghost", channels=["01KDWCJ2M0ZZZZZZZZZZZZZZZZ"])
    service.execute(CreateInvoice(service.customers()[0].key))
    created = hooks.enqueue_new_events()
    assert len(created) == len(webhook_events(service, rules[0].cursor))
    assert hooks.enqueue_new_events() == []
    hooks.remove(channel.id)
    assert hooks.channels() == [] and hooks.rules() == []
    assert {d.status for d in hooks.deliveries()} == {"cancelled"} and hooks.pending() == []
    with pytest.raises(NotFound):
        hooks.remove(channel.id)


def test_legacy_endpoints_become_channels_and_rules(service: Service) -> None:
    """A workspace of an earlier version: its endpoint and pending delivery carry over."""
    invoice = service.execute(CreateInvoice(service.customers()[0].key))
    event = webhook_events(service, 0)[-1]
    secret = new_secret()
    now = "2026-01-01T09:00:00Z"
    service.repository.commit(
        [
            Put(
                "webhooks",
                {
                    "id": "01KDWCJ2M0AAAAAAAAAAAAAAAA",
                    "url": "http://127.0.0.1:9/old",
                    "secret": secret,
                    "event_types": [],
                    "created_at": now,
                    "removed_at": None,
                    "cursor": 0,
                },
            ),
            Put(
                "deliveries",
                {
                    "id": f"{event['id']}.01KDWCJ2M0AAAAAAAAAAAAAAAA",
                    "event_id": event["id"],
                    "event_seq": event["seq"],
                    "event_type": event["type"],
                    "invoice_id": invoice.id,
                    "endpoint_id": "01KDWCJ2M0AAAAAAAAAAAAAAAA",
                    "replay": 0,
                    "status": "pending",
                    "created_at": now,
                    "next_attempt_at": now,
                    "attempts": [],
                },
            ),
        ]
    )
    hooks = Webhooks(service)
    (channel,) = hooks.channels()
    assert (channel.id, channel.signing_secret) == ("01KDWCJ2M0AAAAAAAAAAAAAAAA", secret)
    assert sorted(r.type for r in hooks.rules()) == sorted(WEBHOOK_EVENTS)
    (pending,) = hooks.pending()
    assert hooks.notification(pending.notification_id).event_id == event["id"]
    assert Webhooks(service).channels() == [channel]  # once


def test_webhooks_cli(workspace_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK).close()
    db = ["--db", str(workspace_path)]

    def cli(*argv: str) -> tuple[int, str, str]:
        code = cli_main([*db, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = cli("webhooks", "add", "http://127.0.0.1:9/hook", "--events", "invoice.created")
    assert code == 0 and "secret whsec_" in out
    channel_id = out.split()[2]
    rule_id = out.split("rule ")[1].split()[0]
    assert cli("webhooks", "add", "not a url")[0] == 1
    code, out, _ = cli("webhooks")
    assert code == 0 and channel_id in out and f"invoice.created:{rule_id}" in out and "whsec_" in out
    code, out, _ = cli("webhooks", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["id"] == channel_id and [r["id"] for r in listed["rules"]] == [rule_id]
    assert cli("webhooks", "test", rule_id)[0] == 1  # no invoice yet to send
    code, out, _ = cli("create", "--customer", _first_customer(workspace_path))
    assert code == 0
    code, out, _ = cli("webhooks", "test", rule_id)
    assert code == 0 and "queued test event" in out
    code, out, _ = cli("webhooks", "deliveries", "--json")
    (test_delivery,) = json.loads(out)
    code, out, _ = cli("webhooks", "replay", test_delivery["notification_id"])
    assert code == 0 and "queued 1 delivery" in out
    code, out, _ = cli("webhooks", "deliveries", "--event", test_delivery["notification_id"], "--json")
    assert [(d["replay"], d["status"]) for d in json.loads(out)] == [(0, "cancelled"), (1, "pending")]
    code, out, _ = cli("webhooks", "deliveries")
    assert code == 0 and test_delivery["notification_id"] in out and "pending" in out
    assert cli("webhooks", "deliveries", "--event", "01KDWCJ2M0ZZZZZZZZZZZZZZZZ")[0] == 1
    code, out, _ = cli("webhooks", "remove", channel_id)
    assert code == 0 and cli("webhooks", "list", "--json")[1].strip() == "[]"


def _first_customer(workspace_path: Path) -> str:
    service = Service.open(workspace_path)
    try:
        return service.customers()[0].key
    finally:
        service.close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_rules_test_event_lists_after_the_invoice_events_it_follows(service: Service) -> None:
    """Notification events are listed in event order even when a rule's test event was stored
    before the invoice events it follows were enqueued."""
    hooks = Webhooks(service)
    _, rules = hooks.add("http://127.0.0.1:9/hook")
    service.execute(CreateInvoice(service.customers()[0].key))
    tested = hooks.test_rule(rules[0].id)
    hooks.enqueue_new_events()
    service.execute(CreateInvoice(service.customers()[1].key))
    hooks.enqueue_new_events()
    rows = hooks.notification_rows()
    stored = [row["id"] for row in service.repository.rows("notifications")]
    assert stored.index(tested.id) == 0  # stored first ...
    position = [row["id"] for row in rows].index(tested.id)
    assert all(row["event_seq"] <= tested.event_seq for row in rows[:position])  # ... listed in order
    assert all(row["event_seq"] > tested.event_seq for row in rows[position + 1 :])
    assert 0 < position < len(rows) - 1
