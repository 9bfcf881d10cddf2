"""OpenMeter's notification API: a partner provisions webhooks with the official SDK.

Channels and rules made over HTTP are the ones the CLI and the dashboard show; invoice
events reach a loopback receiver that verifies them with ``svix`` and ``standardwebhooks``.
"""

import asyncio
import json
from datetime import timedelta
from typing import Any

import aiohttp
import openmeter
import pytest
from test_api import UNKNOWN_ULID, _files, call, run, serving
from test_webhooks import receiving, settled, until, webhook_events

from tui_billing.api import notification, start_serving
from tui_billing.api import server as server_module
from tui_billing.domain.notifications import EventQuery
from tui_billing.service import Service
from tui_billing.service.commands import AdvanceClock, Collect, CreateInvoice, SetHooks
from tui_billing.service.notifications import Webhooks

BASE = "/api/v1/notification"


def _as_dict(value: Any) -> dict[str, Any]:
    """The SDK hands unions back as plain dicts and models as mappings: compare as JSON."""
    return json.loads(json.dumps(value.as_dict() if hasattr(value, "as_dict") else value, default=str))


def test_partner_provisions_webhooks_with_the_official_sdk(service: Service) -> None:
    service.execute(SetHooks(draft=True, issuing=True))

    def provision(url: str, receiver_url: str) -> dict[str, Any]:
        client = openmeter.Client(endpoint=url)
        channel = _as_dict(
            client.notification_channels.create(
                {
                    "type": "WEBHOOK",
                    "name": "partner",
                    "url": f"{receiver_url}/hook",
                    "customHeaders": {"X-Partner": "acme"},
                }
            )
        )
        rules = [
            _as_dict(
                client.notification_rules.create(
                    {"type": kind, "name": f"partner {kind}", "channels": [channel["id"]]}
                )
            )
            for kind in ("invoice.created", "invoice.updated")
        ]
        return {"channel": channel, "rules": rules, "listed": _as_dict(client.notification_channels.list())}

    def reconcile(url: str, rule_id: str) -> dict[str, Any]:
        client = openmeter.Client(endpoint=url)
        events = _as_dict(client.notification_events.list(rule=[rule_id], order="DESC"))
        first = events["items"][-1]
        client.notification_events.resend(first["id"], {})
        return {"events": events}

    def look(url: str, event_id: str) -> dict[str, Any]:
        return _as_dict(openmeter.Client(endpoint=url).notification_events.get(event_id))

    def edit(url: str, invoice_id: str) -> dict[str, Any]:
        """A partner reprices a draft: GET, change the usage line's price, PUT it back."""
        client = openmeter.Client(endpoint=url)
        invoice = _as_dict(client.invoice.get_invoice(invoice_id))
        for line in invoice["lines"]:
            if line["rateCard"]["price"]["type"] == "unit":
                line["rateCard"] = {"price": {"type": "unit", "amount": "0.001"}}
        return _as_dict(client.invoice.update_invoice(invoice_id, invoice))

    def find(url: str, customer_ids: list[str], statuses: list[str]) -> list[str]:
        listed = openmeter.Client(endpoint=url).invoices.list(
            customers=customer_ids, extended_statuses=statuses
        )
        return [item["id"] for item in _as_dict(listed)["items"]]

    async def scenario() -> dict[str, Any]:
        async with receiving() as receiver:
            integration = await start_serving(service, port=0, schedule=(0.05,))
            try:
                seen = await asyncio.to_thread(provision, integration.url, receiver.url)
                receiver.secrets["hook"] = seen["channel"]["signingSecret"]
                invoice = service.execute(CreateInvoice(service.customers()[0].key))
                service.execute(Collect(invoice.id))
                async with aiohttp.ClientSession(integration.url) as http:
                    base = f"/api/v1/apps/custom-invoicing/{invoice.id}"
                    for path, body in (
                        (f"{base}/draft/synchronized", {"invoicing": {}}),
                        (f"/api/v1/billing/invoices/{invoice.id}/approve", None),
                        (f"{base}/issuing/synchronized", {}),
                        (f"{base}/payment/status", {"trigger": "paid"}),
                    ):
                        assert (await call(http, "POST", path, body))[0] == 200
                other = service.execute(CreateInvoice(service.customers()[1].key))
                seen["edited"] = await asyncio.to_thread(edit, integration.url, other.id)
                seen["invoices"] = (invoice.id, other.id)
                customers = [service.customers()[i].id for i in (0, 1)]
                seen["found"] = [
                    await asyncio.to_thread(find, integration.url, chosen, statuses)
                    for chosen, statuses in (
                        (customers, ["paid"]),
                        (customers[1:], ["paid"]),
                        (customers, ["paid", other.status.value]),
                        (customers[1:], [other.status.value, "draft.syncing"]),
                    )
                ]
                integration.notify()
                await until(settled(service, integration.dispatcher), "every delivery")
                before = len(receiver.received)
                updated = next(r for r in seen["rules"] if r["type"] == "invoice.updated")
                seen.update(await asyncio.to_thread(reconcile, integration.url, updated["id"]))
                await until(
                    lambda: len(receiver.received) == before + 1 and not integration.dispatcher.busy,
                    "the resend",
                )
                seen["one"] = await asyncio.to_thread(
                    look, integration.url, seen["events"]["items"][-1]["id"]
                )
                seen["received"] = receiver.received
            finally:
                await integration.stop()
            return seen

    seen = run(scenario())
    channel, received = seen["channel"], seen["received"]
    assert channel["signingSecret"].startswith("whsec_") and channel["type"] == "WEBHOOK"
    assert [c["id"] for c in seen["listed"]["items"]] == [channel["id"]]
    assert all(r.verified and r.headers["X-Partner"] == "acme" for r in received)
    webhook_types = [e["type"] for e in webhook_events(service, 0)]
    assert sorted(r.json["type"] for r in received[:-1]) == sorted(webhook_types)
    events = seen["events"]
    assert events["totalCount"] == webhook_types.count("invoice.updated")
    assert {e["type"] for e in events["items"]} == {"invoice.updated"}
    assert [e["createdAt"] for e in events["items"]] == sorted(
        (e["createdAt"] for e in events["items"]), reverse=True
    )
    paid, edited = seen["invoices"]
    assert seen["found"] == [[paid], [], [paid, edited], [edited]]
    assert seen["edited"]["statusDetails"]["extendedStatus"] == service.invoice(edited).status.value
    assert {line["rateCard"]["price"]["amount"] for line in seen["edited"]["lines"]} >= {"0.001"}
    one = seen["one"]
    # The resend is the same webhook: the id of the event's first delivery.
    assert received[-1].headers["webhook-id"] in {r.headers["webhook-id"] for r in received[:-1]}
    assert received[-1].headers["svix-id"] == one["id"] == one["payload"]["id"]
    assert received[-1].json == one["payload"] and one["payload"]["data"]["id"]
    (status,) = one["deliveryStatus"]
    assert status["channel"]["id"] == channel["id"]
    assert [a["response"]["statusCode"] for a in status["attempts"]] == [200, 200]


def test_rule_test_event_and_crud(service: Service) -> None:
    service.execute(CreateInvoice(service.customers()[0].key))

    async def scenario() -> None:
        async with receiving() as receiver:
            integration = await start_serving(service, port=0, schedule=(0.05,))
            try:
                async with aiohttp.ClientSession(integration.url) as http:
                    status, _, channel = await call(
                        http,
                        "POST",
                        f"{BASE}/channels",
                        {"type": "WEBHOOK", "name": "c", "url": f"{receiver.url}/hook"},
                    )
                    assert status == 201
                    receiver.secrets["hook"] = channel["signingSecret"]
                    status, _, rule = await call(
                        http,
                        "POST",
                        f"{BASE}/rules",
                        {"type": "invoice.created", "name": "r", "channels": [channel["id"]]},
                    )
                    assert status == 201 and rule["channels"] == [{"id": channel["id"], "type": "WEBHOOK"}]
                    status, _, event = await call(http, "POST", f"{BASE}/rules/{rule['id']}/test")
                    assert status == 201 and event["rule"]["id"] == rule["id"]
                    assert event["payload"]["type"] == "invoice.created"
                    await until(lambda: len(receiver.received) == 1, "the test event")
                    assert receiver.received[0].verified
                    assert receiver.received[0].json == event["payload"]
                    # The CLI's and dashboard's view is the same model.
                    assert [c.id for c in Webhooks(service).channels()] == [channel["id"]]
                    # A channel in use is not deleted; a rule made to point elsewhere is.
                    assert (await call(http, "DELETE", f"{BASE}/channels/{channel['id']}"))[0] == 400
                    status, _, renamed = await call(
                        http,
                        "PUT",
                        f"{BASE}/rules/{rule['id']}",
                        {
                            "type": "invoice.created",
                            "name": "renamed",
                            "disabled": True,
                            "channels": [channel["id"]],
                        },
                    )
                    assert (status, renamed["name"], renamed["disabled"]) == (200, "renamed", True)
                    listed = (await call(http, "GET", f"{BASE}/rules"))[2]
                    assert listed["totalCount"] == 0  # disabled rules are left out unless asked
                    listed = (await call(http, "GET", f"{BASE}/rules?includeDisabled=true"))[2]
                    assert [r["id"] for r in listed["items"]] == [rule["id"]]
                    assert (await call(http, "DELETE", f"{BASE}/rules/{rule['id']}"))[0] == 204
                    assert (await call(http, "DELETE", f"{BASE}/channels/{channel['id']}"))[0] == 204
                    status, _, gone = await call(http, "GET", f"{BASE}/channels/{channel['id']}")
                    assert status == 200 and "deletedAt" in gone
                    listed = (await call(http, "GET", f"{BASE}/channels?includeDeleted=true"))[2]
                    assert listed["totalCount"] == 1
            finally:
                await integration.stop()

    run(scenario())


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", f"{BASE}/channels", {"type": "WEBHOOK", "name": "x", "url": "ftp://nope"}, 400),
        ("POST", f"{BASE}/channels", {"type": "EMAIL", "name": "x", "url": "http://127.0.0.1:9/"}, 400),
        ("POST", f"{BASE}/channels", {"type": "WEBHOOK", "name": "", "url": "http://127.0.0.1:9/"}, 400),
        (
            "POST",
            f"{BASE}/channels",
            {"type": "WEBHOOK", "name": "x", "url": "http://127.0.0.1:9/", "signingSecret": "whsec_tooshort"},
            400,
        ),
        (
            "POST",
            f"{BASE}/channels",
            {
                "type": "WEBHOOK",
                "name": "x",
                "url": "http://127.0.0.1:9/",
                "customHeaders": {"svix-id": "forged"},
            },
            400,
        ),
        ("POST", f"{BASE}/rules", {"type": "invoice.created", "name": "x", "channels": []}, 400),
        ("POST", f"{BASE}/rules", {"type": "invoice.created", "name": "x", "channels": [UNKNOWN_ULID]}, 404),
        (
            "POST",
            f"{BASE}/rules",
            {"type": "entitlements.reset", "name": "x", "channels": [UNKNOWN_ULID]},
            400,
        ),
        ("PUT", f"{BASE}/channels/{UNKNOWN_ULID}", {"type": "WEBHOOK", "name": "x", "url": "http://a/"}, 404),
        ("GET", f"{BASE}/channels/not-a-ulid", None, 400),
        ("DELETE", f"{BASE}/rules/{UNKNOWN_ULID}", None, 404),
        ("POST", f"{BASE}/rules/{UNKNOWN_ULID}/test", None, 404),
        ("GET", f"{BASE}/events/{UNKNOWN_ULID}", None, 404),
        ("POST", f"{BASE}/events/{UNKNOWN_ULID}/resend", {}, 404),
        ("GET", f"{BASE}/events?from=yesterday", None, 400),
        ("GET", f"{BASE}/events?channel=nope", None, 400),
        ("GET", f"{BASE}/events?pageSize=0", None, 400),
        ("GET", f"{BASE}/events?color=red", None, 400),
        ("GET", f"{BASE}/channels?orderBy=url", None, 400),
    ],
)
def test_bad_input_is_a_problem_and_changes_nothing(
    service: Service, workspace_path: Any, method: str, path: str, body: Any, expected: int
) -> None:
    before = _files(workspace_path)

    async def scenario() -> tuple[int, str, Any]:
        async with serving(service) as (_, http):
            return await call(http, method, path, body)

    status, kind, problem = run(scenario())
    assert (status, kind) == (expected, "application/problem+json") and problem["detail"]
    assert _files(workspace_path) == before


def test_event_list_filters_and_order(service: Service) -> None:
    hooks = Webhooks(service)
    hooks.add("http://127.0.0.1:9/both")
    created_only, _ = hooks.add("http://127.0.0.1:9/created", event_types=["invoice.created"])
    service.execute(CreateInvoice(service.customers()[0].key))
    service.execute(AdvanceClock("1d"))
    later = service.now()
    second = service.execute(CreateInvoice(service.customers()[1].key))
    hooks.enqueue_new_events()
    everything = hooks.notification_rows()
    events = webhook_events(service, 0)
    assert len(everything) == len(events) + sum(e["type"] == "invoice.created" for e in events)
    assert [r["event_seq"] for r in everything] == sorted(r["event_seq"] for r in everything)
    recent = hooks.notification_rows(EventQuery(start=later))
    assert recent and {r["invoice_id"] for r in recent} == {second.id}
    assert hooks.notification_rows(EventQuery(end=later - timedelta(seconds=1))) == everything[: -len(recent)]
    mine = hooks.notification_rows(EventQuery(channels=frozenset({created_only.id})))
    assert len(mine) == 2 and {r["type"] for r in mine} == {"invoice.created"}
    newest_first = hooks.notification_rows(EventQuery(descending=True, order_by="id"))
    assert [r["id"] for r in newest_first] == sorted((r["id"] for r in everything), reverse=True)


# --- bad input to every notification operation, generated from the route table ----------------
NOTIFICATION_ROUTES = [r for r in server_module.ROUTES if r.path.startswith(notification.BASE)]
PUT_BODIES = {
    "channels": {"type": "WEBHOOK", "name": "x", "url": "http://127.0.0.1:9/other"},
    "rules": {"type": "invoice.created", "name": "x", "channels": ["{channelId}"]},
}


def _bad_requests(route: Any) -> list[tuple[str, Any, int]]:
    """(path, body, expected status) for ``route``: ``{known}`` stands for an existing id."""
    known = route.path.replace("{channelId}", "{known}").replace("{ruleId}", "{known}")
    known = known.replace("{eventId}", "{known}")
    collection = route.path.removeprefix(notification.BASE + "/").split("/")[0]
    body = PUT_BODIES.get(collection) if route.method in ("POST", "PUT") else None
    cases: list[tuple[str, Any, int]] = [(known + "?bogus=1", body, 400)]
    if "{" in route.path:
        cases += [(known.replace("{known}", "not-a-ulid"), body, 400)]
        cases += [(known.replace("{known}", UNKNOWN_ULID), body, 404)]
    if route.method in ("POST", "PUT") and not route.path.endswith("/test"):
        cases += [(known, b"{not json", 400), (known, [1], 400)]
        if body is not None:
            cases += [(known, {**body, "name": ""}, 400), (known, {**body, "type": "EMAIL"}, 400)]
    if "pageSize" in route.query:
        cases += [(known + "?pageSize=0", None, 400), (known + "?page=x", None, 400)]
    if "order" in route.query:
        cases += [(known + "?order=sideways", None, 400)]
    return cases


@pytest.mark.parametrize(
    "route", NOTIFICATION_ROUTES, ids=[f"{r.method} {r.path}" for r in NOTIFICATION_ROUTES]
)
def test_every_notification_operation_refuses_bad_input_changing_nothing(
    service: Service, workspace_path: Any, route: Any
) -> None:
    hooks = Webhooks(service)
    channel, rules = hooks.add("http://127.0.0.1:9/hook")
    service.execute(CreateInvoice(service.customers()[0].key))
    hooks.enqueue_new_events()
    event_id = hooks.notification_rows()[0]["id"]
    known = {"channels": channel.id, "rules": rules[0].id, "events": event_id}
    collection = route.path.removeprefix(notification.BASE + "/").split("/")[0]
    before = _files(workspace_path)

    async def scenario() -> list[tuple[str, int, int, str, Any]]:
        answers = []
        async with serving(service) as (_, http):
            for path, body, expected in _bad_requests(route):
                path = path.replace("{known}", known[collection])
                if isinstance(body, dict):
                    body = json.loads(json.dumps(body).replace("{channelId}", channel.id))
                raw = body if isinstance(body, bytes) else None
                status, kind, problem = await call(
                    http, route.method, path, None if raw is not None else body, raw=raw
                )
                answers.append((path, expected, status, kind, problem))
        return answers

    for path, expected, status, kind, problem in run(scenario()):
        assert (status, kind) == (expected, "application/problem+json"), (path, problem)
        assert problem["detail"]
    assert _files(workspace_path) == before
