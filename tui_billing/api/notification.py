"""OpenMeter's notification API (v1): webhook channels, invoice rules and notification events.

A front door onto ``Webhooks`` like the CLI's ``webhooks`` commands and the dashboard's
API screen: all three show and change the same channels and rules. Bodies and answers
follow OpenMeter's v1 shapes (``NotificationChannelWebhook``, ``NotificationRuleInvoice*``,
``NotificationEvent``); ``routes`` lists the operations for the server's route table.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..domain.errors import InvalidValue
from ..domain.ids import ULID_PATTERN, is_ulid
from ..domain.timefmt import parse_rfc3339, rfc3339
from ..service import Service
from ..service.webhooks import (
    Delivery, EventQuery, Notification, Webhooks, channel_json, delivery_state, rule_json,
)
from . import bodies
from .problems import compact_json

BASE = "/api/v1/notification"
MAX_PAGE_SIZE = 1000
Ulid = Annotated[str, Field(pattern=ULID_PATTERN.pattern)]
Name = Annotated[str, Field(min_length=1, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", alias_generator=to_camel)


class ChannelBody(_Body):
    """``NotificationChannelCreateRequest`` (create and update)."""

    type: Literal["WEBHOOK"]
    name: Name
    disabled: bool = False
    metadata: dict[str, str] | None = None
    url: str
    custom_headers: dict[str, str] | None = None
    signing_secret: Annotated[str, Field(pattern=r"^(whsec_)?[a-zA-Z0-9+/=]{32,100}$")] | None = None


class RuleBody(_Body):
    """``NotificationRuleInvoiceCreated/UpdatedCreateRequest`` (the only rule types served)."""

    type: Literal["invoice.created", "invoice.updated"]
    name: Name
    disabled: bool = False
    metadata: dict[str, str] | None = None
    channels: Annotated[list[Ulid], Field(min_length=1)]


class ResendBody(_Body):
    channels: list[Ulid] | None = None


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=compact_json)


def _known_query(request: web.Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise InvalidValue(f"unknown query parameter {', '.join(unknown)}; use {', '.join(sorted(allowed))}")


def _one(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise InvalidValue(f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def _flag(request: web.Request, name: str) -> bool:
    text = (_one(request, name) or "false").lower()
    if text not in ("true", "false"):
        raise InvalidValue(f"{name} must be true or false, got {text!r}")
    return text == "true"


def _integer(request: web.Request, name: str, default: int, high: int) -> int:
    text = _one(request, name)
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise InvalidValue(f"{name} must be an integer from 1 to {high}, got {text!r}")
    return int(text)


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    text = _one(request, name) or default
    if text not in allowed:
        raise InvalidValue(f"{name} must be one of {', '.join(allowed)}, got {text!r}")
    return text


def _ids(request: web.Request, name: str) -> frozenset[str]:
    values = {v.strip() for raw in request.query.getall(name, []) for v in raw.split(",") if v.strip()}
    bad = sorted(v for v in values if not is_ulid(v))
    if bad:
        raise InvalidValue(f"{name}: {bad[0]!r} is not a ULID")
    return frozenset(values)


def _path_id(request: web.Request, name: str, what: str) -> str:
    value = request.match_info[name]
    if not is_ulid(value):
        raise InvalidValue(f"{name} {value!r} is not a {what} id: ids are ULIDs like 01G65Z755AFWAKHE12NY0CQ9FH")
    return value


def _page(items: list[Any], request: web.Request,
          shape: Callable[[list[Any]], list[dict[str, Any]]]) -> web.Response:
    """One page of ``items`` (only its items are shaped)."""
    page = _integer(request, "page", 1, 1_000_000)
    size = _integer(request, "pageSize", 100, MAX_PAGE_SIZE)
    chosen = items[(page - 1) * size: page * size]
    return _json({"totalCount": len(items), "page": page, "pageSize": size, "items": shape(chosen)})


def _each(shape: Callable[[Any], dict[str, Any]]) -> Callable[[list[Any]], list[dict[str, Any]]]:
    return lambda items: [shape(item) for item in items]


def _ordered(items: list[Any], request: web.Request, keys: dict[str, Callable[[Any], Any]]) -> list[Any]:
    order = _choice(request, "order", ("ASC", "DESC"), "ASC")
    by = _choice(request, "orderBy", tuple(keys), "id")
    return sorted(items, key=keys[by], reverse=order == "DESC")


# --- notification events --------------------------------------------------------------------
class _Views:
    """The JSON of notification events (one read of the rules and channels per request)."""

    def __init__(self, webhooks: Webhooks, notifications: list[Notification]) -> None:
        self.webhooks = webhooks
        self.rules = {r.id: r for r in webhooks.rules(include_deleted=True)}
        self.urls = {c.id: c.url for c in webhooks.channels(include_deleted=True)}
        self.rounds: dict[str, list[Delivery]] = {}
        for delivery in webhooks.deliveries(of={n.id for n in notifications}):
            self.rounds.setdefault(delivery.notification_id, []).append(delivery)

    @classmethod
    def shape(cls, webhooks: Webhooks, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        notifications = [Notification.model_validate(row) for row in rows]
        views = cls(webhooks, notifications)
        return [views.event(n) for n in notifications]

    def event(self, notification: Notification) -> dict[str, Any]:
        """``NotificationEvent``: one delivery status per channel (its latest round, with the
        attempts of every round)."""
        statuses: dict[str, list[Delivery]] = {}
        for delivery in self.rounds.get(notification.id, []):
            statuses.setdefault(delivery.channel_id, []).append(delivery)
        return {
            "id": notification.id, "type": notification.type,
            "createdAt": rfc3339(notification.created_at),
            "rule": rule_json(self.rules[notification.rule_id]),
            "deliveryStatus": [self._status(rounds) for rounds in statuses.values()],
            "payload": self.webhooks.payload(notification),
            "annotations": {"event.invoice.id": notification.invoice_id,
                            "event.invoice.number": notification.invoice_number},
        }

    def _status(self, rounds: list[Delivery]) -> dict[str, Any]:
        last = rounds[-1]
        url = self.urls.get(last.channel_id, "")
        attempts = [{"state": "SUCCESS" if a.status_code is not None and 200 <= a.status_code < 300 else "FAILED",
                     "response": {**({"statusCode": a.status_code} if a.status_code is not None else {}),
                                  "body": a.response, "durationMs": round(a.latency_ms), "url": url},
                     "timestamp": rfc3339(a.at)}
                    for delivery in rounds for a in delivery.attempts]
        status: dict[str, Any] = {
            "state": delivery_state(last), "reason": _reason(last),
            "updatedAt": rfc3339(last.attempts[-1].at if last.attempts else last.created_at),
            "channel": {"id": last.channel_id, "type": "WEBHOOK"}, "attempts": attempts,
        }
        if last.next_attempt_at is not None:
            status["nextAttempt"] = rfc3339(last.next_attempt_at)
        return status


def _reason(delivery: Delivery) -> str:
    if delivery.reason:
        return delivery.reason
    if not delivery.attempts:
        return "waiting to be sent"
    last = delivery.attempts[-1]
    answer = f"HTTP {last.status_code}" if last.status_code is not None else last.response
    return {"succeeded": "delivered", "failed": f"gave up after {len(delivery.attempts)} attempts: {answer}"}.get(
        delivery.status, f"retrying after {answer}")


# --- handlers ------------------------------------------------------------------------------------
class NotificationApi:
    """The handlers, bound to one workspace."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def webhooks(self) -> Webhooks:
        return Webhooks(self.service)

    async def list_channels(self, request: web.Request) -> web.Response:
        _known_query(request, {"includeDeleted", "includeDisabled", "page", "pageSize", "order", "orderBy"})
        found = self.webhooks.channels(include_deleted=_flag(request, "includeDeleted"),
                                       include_disabled=_flag(request, "includeDisabled"))
        found = _ordered(found, request, {"id": lambda c: c.id, "type": lambda c: c.id,
                                          "createdAt": lambda c: (c.created_at, c.id),
                                          "updatedAt": lambda c: (c.updated_at, c.id)})
        return _page(found, request, _each(channel_json))

    async def create_channel(self, request: web.Request) -> web.Response:
        body = bodies.parse(ChannelBody, await request.read())
        return _json(channel_json(self.webhooks.create_channel(**_channel_args(body))), 201)

    async def get_channel(self, request: web.Request) -> web.Response:
        return _json(channel_json(self.webhooks.channel(_path_id(request, "channelId", "channel"),
                                                        include_deleted=True)))

    async def update_channel(self, request: web.Request) -> web.Response:
        channel_id = _path_id(request, "channelId", "channel")
        body = bodies.parse(ChannelBody, await request.read())
        return _json(channel_json(self.webhooks.update_channel(channel_id, **_channel_args(body))))

    async def delete_channel(self, request: web.Request) -> web.Response:
        self.webhooks.delete_channel(_path_id(request, "channelId", "channel"))
        return web.Response(status=204)

    async def list_rules(self, request: web.Request) -> web.Response:
        _known_query(request, {"includeDeleted", "includeDisabled", "feature", "channel", "page",
                               "pageSize", "order", "orderBy"})
        channels = {v.strip() for raw in request.query.getall("channel", []) for v in raw.split(",") if v.strip()}
        features = request.query.getall("feature", [])
        found = [r for r in self.webhooks.rules(include_deleted=_flag(request, "includeDeleted"),
                                                include_disabled=_flag(request, "includeDisabled"))
                 if not features and (not channels or channels & set(r.channels))]
        found = _ordered(found, request, {"id": lambda r: r.id, "type": lambda r: (r.type, r.id),
                                          "createdAt": lambda r: (r.created_at, r.id),
                                          "updatedAt": lambda r: (r.updated_at, r.id)})
        return _page(found, request, _each(rule_json))

    async def create_rule(self, request: web.Request) -> web.Response:
        body = bodies.parse(RuleBody, await request.read())
        return _json(rule_json(self.webhooks.create_rule(**_rule_args(body))), 201)

    async def get_rule(self, request: web.Request) -> web.Response:
        return _json(rule_json(self.webhooks.rule(_path_id(request, "ruleId", "rule"), include_deleted=True)))

    async def update_rule(self, request: web.Request) -> web.Response:
        rule_id = _path_id(request, "ruleId", "rule")
        body = bodies.parse(RuleBody, await request.read())
        return _json(rule_json(self.webhooks.update_rule(rule_id, **_rule_args(body))))

    async def delete_rule(self, request: web.Request) -> web.Response:
        self.webhooks.delete_rule(_path_id(request, "ruleId", "rule"))
        return web.Response(status=204)

    async def test_rule(self, request: web.Request) -> web.Response:
        webhooks = self.webhooks
        notification = webhooks.test_rule(_path_id(request, "ruleId", "rule"))
        return _json(_Views(webhooks, [notification]).event(notification), 201)

    async def list_events(self, request: web.Request) -> web.Response:
        _known_query(request, {"from", "to", "feature", "subject", "rule", "channel", "page", "pageSize",
                               "order", "orderBy"})
        start, end = (_one(request, name) for name in ("from", "to"))
        query = EventQuery(
            start=parse_rfc3339(start, "from") if start else None,
            end=parse_rfc3339(end, "to") if end else None,
            rules=_ids(request, "rule"), channels=_ids(request, "channel"),
            descending=_choice(request, "order", ("ASC", "DESC"), "ASC") == "DESC",
            order_by=_choice(request, "orderBy", ("id", "createdAt"), "createdAt"),  # type: ignore[arg-type]
        )
        webhooks = self.webhooks
        # Invoice events carry no feature or subject: filtering on either matches none of them.
        found = [] if request.query.getall("feature", []) or request.query.getall("subject", []) \
            else webhooks.notification_rows(query)
        return _page(found, request, lambda rows: _Views.shape(webhooks, rows))

    async def get_event(self, request: web.Request) -> web.Response:
        webhooks = self.webhooks
        notification = webhooks.notification(request.match_info["eventId"])
        return _json(_Views(webhooks, [notification]).event(notification))

    async def resend_event(self, request: web.Request) -> web.Response:
        event_id = _path_id(request, "eventId", "notification event")
        raw = await request.read()
        body = bodies.parse(ResendBody, raw) if raw.strip() else ResendBody()
        self.webhooks.resend(event_id, body.channels or ())
        return web.Response(status=202)


def _channel_args(body: ChannelBody) -> dict[str, Any]:
    return {"name": body.name, "url": body.url, "custom_headers": body.custom_headers,
            "signing_secret": body.signing_secret, "disabled": body.disabled, "metadata": body.metadata}


def _rule_args(body: RuleBody) -> dict[str, Any]:
    return {"type": body.type, "name": body.name, "channels": body.channels, "disabled": body.disabled,
            "metadata": body.metadata}


def routes(service: Service) -> list[web.RouteDef]:
    """The notification API's operations, for the server's route table."""
    api = NotificationApi(service)
    return [
        web.get(f"{BASE}/channels", api.list_channels, allow_head=False),
        web.post(f"{BASE}/channels", api.create_channel),
        web.get(f"{BASE}/channels/{{channelId}}", api.get_channel, allow_head=False),
        web.put(f"{BASE}/channels/{{channelId}}", api.update_channel),
        web.delete(f"{BASE}/channels/{{channelId}}", api.delete_channel),
        web.get(f"{BASE}/rules", api.list_rules, allow_head=False),
        web.post(f"{BASE}/rules", api.create_rule),
        web.get(f"{BASE}/rules/{{ruleId}}", api.get_rule, allow_head=False),
        web.put(f"{BASE}/rules/{{ruleId}}", api.update_rule),
        web.delete(f"{BASE}/rules/{{ruleId}}", api.delete_rule),
        web.post(f"{BASE}/rules/{{ruleId}}/test", api.test_rule),
        web.get(f"{BASE}/events", api.list_events, allow_head=False),
        web.get(f"{BASE}/events/{{eventId}}", api.get_event, allow_head=False),
        web.post(f"{BASE}/events/{{eventId}}/resend", api.resend_event),
    ]
