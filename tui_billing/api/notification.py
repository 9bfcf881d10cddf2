"""OpenMeter's notification API (v1): webhook channels, invoice rules and notification events.

A front door onto ``Webhooks`` like the CLI's ``webhooks`` commands and the dashboard's
API screen: all three show the same channels and rules and change them with the same
registry commands (``service/commands.py``), which request bodies return. Bodies and answers
follow OpenMeter's v1 shapes (``NotificationChannelWebhook``, ``NotificationRuleInvoice*``,
``NotificationEvent``); ``routes`` gives their entries of the server's route table, which
checks path ids and query parameter names before a handler runs.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..domain.ids import is_ulid
from ..domain.notifications import Delivery, EventQuery, Notification, channel_json, delivery_state, rule_json
from ..domain.timefmt import rfc3339
from ..service.commands import (
    CreateChannel,
    CreateRule,
    DeleteChannel,
    DeleteRule,
    Resend,
    SendTestEvent,
    UpdateChannel,
    UpdateRule,
)
from ..service.notifications import Webhooks
from . import bodies, query
from .problems import compact_json

if TYPE_CHECKING:
    from .server import ApiServer, Route

BASE = "/api/v1/notification"
Ulid = Annotated[str, Field(pattern=r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")]
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

    def create(self) -> CreateChannel:
        return CreateChannel(**self._settings())

    def replace(self, channel_id: str) -> UpdateChannel:
        return UpdateChannel(channel_id, **self._settings())

    def _settings(self) -> dict[str, Any]:
        return {
            "channel_name": self.name,
            "url": self.url,
            "custom_headers": self.custom_headers,
            "signing_secret": self.signing_secret,
            "disabled": self.disabled,
            "metadata": self.metadata,
        }


class RuleBody(_Body):
    """``NotificationRuleInvoiceCreated/UpdatedCreateRequest`` (the only rule types served)."""

    type: Literal["invoice.created", "invoice.updated"]
    name: Name
    disabled: bool = False
    metadata: dict[str, str] | None = None
    channels: Annotated[list[Ulid], Field(min_length=1)]

    def create(self) -> CreateRule:
        return CreateRule(**self._settings())

    def replace(self, rule_id: str) -> UpdateRule:
        return UpdateRule(rule_id, **self._settings())

    def _settings(self) -> dict[str, Any]:
        return {
            "event_type": self.type,
            "rule_name": self.name,
            "channels": self.channels,
            "disabled": self.disabled,
            "metadata": self.metadata,
        }


class ResendBody(_Body):
    channels: list[Ulid] | None = None

    def command(self, notification_id: str) -> Resend:
        return Resend(notification_id, [c.upper() for c in self.channels or ()])


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=compact_json)


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    text = query.single(request.query, name) or default
    if text not in allowed:
        raise query.bad(name, f"unknown value {text!r}; use {', '.join(allowed)}")
    return text


def _page(
    items: list[Any], request: web.Request, shape: Callable[[list[Any]], list[dict[str, Any]]]
) -> web.Response:
    """One page of ``items`` (only its items are shaped)."""
    page = query.integer(request.query, "page", 1, 1, 1_000_000)
    size = query.integer(request.query, "pageSize", 100, 1, query.MAX_PAGE_SIZE)
    chosen = items[(page - 1) * size : page * size]
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
            "id": notification.id,
            "type": notification.type,
            "createdAt": rfc3339(notification.created_at),
            "rule": rule_json(self.rules[notification.rule_id]),
            "deliveryStatus": [self._status(rounds) for rounds in statuses.values()],
            "payload": self.webhooks.payload(notification),
            "annotations": {
                "event.invoice.id": notification.invoice_id,
                "event.invoice.number": notification.invoice_number,
            },
        }

    def _status(self, rounds: list[Delivery]) -> dict[str, Any]:
        last = rounds[-1]
        url = self.urls.get(last.channel_id, "")
        attempts = [
            {
                "state": "SUCCESS" if a.status_code is not None and 200 <= a.status_code < 300 else "FAILED",
                "response": {
                    **({"statusCode": a.status_code} if a.status_code is not None else {}),
                    "body": a.response,
                    "durationMs": round(a.latency_ms),
                    "url": url,
                },
                "timestamp": rfc3339(a.at),
            }
            for delivery in rounds
            for a in delivery.attempts
        ]
        status: dict[str, Any] = {
            "state": delivery_state(last),
            "reason": _reason(last),
            "updatedAt": rfc3339(last.attempts[-1].at if last.attempts else last.created_at),
            "channel": {"id": last.channel_id, "type": "WEBHOOK"},
            "attempts": attempts,
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
    return {
        "succeeded": "delivered",
        "failed": f"gave up after {len(delivery.attempts)} attempts: {answer}",
    }.get(delivery.status, f"retrying after {answer}")


# --- handlers: (server, request), as the server's route table calls them --------------------------
async def list_channels(server: "ApiServer", request: web.Request) -> web.Response:
    found = Webhooks(server.service).channels(
        include_deleted=query.flag(request.query, "includeDeleted"),
        include_disabled=query.flag(request.query, "includeDisabled"),
    )
    found = _ordered(
        found,
        request,
        {
            "id": lambda c: c.id,
            "type": lambda c: c.id,
            "createdAt": lambda c: (c.created_at, c.id),
            "updatedAt": lambda c: (c.updated_at, c.id),
        },
    )
    return _page(found, request, _each(channel_json))


async def create_channel(server: "ApiServer", request: web.Request) -> web.Response:
    body = bodies.parse(ChannelBody, await request.read())
    return _json(channel_json(server.service.execute(body.create())), 201)


async def get_channel(server: "ApiServer", request: web.Request) -> web.Response:
    channel = Webhooks(server.service).channel(request.match_info["channelId"], include_deleted=True)
    return _json(channel_json(channel))


async def update_channel(server: "ApiServer", request: web.Request) -> web.Response:
    body = bodies.parse(ChannelBody, await request.read())
    return _json(channel_json(server.service.execute(body.replace(request.match_info["channelId"]))))


async def delete_channel(server: "ApiServer", request: web.Request) -> web.Response:
    server.service.execute(DeleteChannel(request.match_info["channelId"]))
    return web.Response(status=204)


async def list_rules(server: "ApiServer", request: web.Request) -> web.Response:
    channels = query.values(request.query, "channel")
    features = query.values(request.query, "feature")
    # Invoice rules have no feature: filtering on features matches none of them.
    found = [
        r
        for r in Webhooks(server.service).rules(
            include_deleted=query.flag(request.query, "includeDeleted"),
            include_disabled=query.flag(request.query, "includeDisabled"),
        )
        if not features and (not channels or channels & set(r.channels))
    ]
    found = _ordered(
        found,
        request,
        {
            "id": lambda r: r.id,
            "type": lambda r: (r.type, r.id),
            "createdAt": lambda r: (r.created_at, r.id),
            "updatedAt": lambda r: (r.updated_at, r.id),
        },
    )
    return _page(found, request, _each(rule_json))


async def create_rule(server: "ApiServer", request: web.Request) -> web.Response:
    body = bodies.parse(RuleBody, await request.read())
    return _json(rule_json(server.service.execute(body.create())), 201)


async def get_rule(server: "ApiServer", request: web.Request) -> web.Response:
    return _json(rule_json(Webhooks(server.service).rule(request.match_info["ruleId"], include_deleted=True)))


async def update_rule(server: "ApiServer", request: web.Request) -> web.Response:
    body = bodies.parse(RuleBody, await request.read())
    return _json(rule_json(server.service.execute(body.replace(request.match_info["ruleId"]))))


async def delete_rule(server: "ApiServer", request: web.Request) -> web.Response:
    server.service.execute(DeleteRule(request.match_info["ruleId"]))
    return web.Response(status=204)


async def test_rule(server: "ApiServer", request: web.Request) -> web.Response:
    notification = server.service.execute(SendTestEvent(request.match_info["ruleId"]))
    return _json(_Views(Webhooks(server.service), [notification]).event(notification), 201)


async def list_events(server: "ApiServer", request: web.Request) -> web.Response:
    def is_id(text: str) -> bool:
        return is_ulid(text.upper())

    event_query = EventQuery(
        start=query.moment(request.query, "from"),
        end=query.moment(request.query, "to"),
        rules=frozenset(v.upper() for v in query.ulids(request.query, "rule", is_id)),
        channels=frozenset(v.upper() for v in query.ulids(request.query, "channel", is_id)),
        descending=_choice(request, "order", ("ASC", "DESC"), "ASC") == "DESC",
        order_by=_choice(request, "orderBy", ("id", "createdAt"), "createdAt"),  # type: ignore[arg-type]
    )
    webhooks = Webhooks(server.service)
    # Invoice events carry no feature or subject: filtering on either matches none of them.
    found = (
        []
        if query.values(request.query, "feature") or query.values(request.query, "subject")
        else webhooks.notification_rows(event_query)
    )
    return _page(found, request, lambda rows: _Views.shape(webhooks, rows))


async def get_event(server: "ApiServer", request: web.Request) -> web.Response:
    webhooks = Webhooks(server.service)
    notification = webhooks.notification(request.match_info["eventId"])
    return _json(_Views(webhooks, [notification]).event(notification))


async def resend_event(server: "ApiServer", request: web.Request) -> web.Response:
    raw = await request.read()
    body = bodies.parse(ResendBody, raw) if raw.strip() else ResendBody()
    server.service.execute(body.command(request.match_info["eventId"]))
    return web.Response(status=202)


def routes() -> tuple["Route", ...]:
    """The notification API's operations, for the server's route table."""
    from .server import Route  # the table's type; this module is imported by the server

    listing = query.PAGE | {"order", "orderBy", "includeDeleted", "includeDisabled"}
    return (
        Route("GET", f"{BASE}/channels", list_channels, summary="List notification channels", query=listing),
        Route("POST", f"{BASE}/channels", create_channel, summary="Create a webhook channel"),
        Route("GET", f"{BASE}/channels/{{channelId}}", get_channel, summary="Get a notification channel"),
        Route("PUT", f"{BASE}/channels/{{channelId}}", update_channel, summary="Replace a webhook channel"),
        Route(
            "DELETE",
            f"{BASE}/channels/{{channelId}}",
            delete_channel,
            summary="Delete a notification channel",
        ),
        Route(
            "GET",
            f"{BASE}/rules",
            list_rules,
            summary="List notification rules",
            query=listing | {"feature", "channel"},
        ),
        Route("POST", f"{BASE}/rules", create_rule, summary="Create an invoice notification rule"),
        Route("GET", f"{BASE}/rules/{{ruleId}}", get_rule, summary="Get a notification rule"),
        Route("PUT", f"{BASE}/rules/{{ruleId}}", update_rule, summary="Replace a notification rule"),
        Route("DELETE", f"{BASE}/rules/{{ruleId}}", delete_rule, summary="Delete a notification rule"),
        Route("POST", f"{BASE}/rules/{{ruleId}}/test", test_rule, summary="Send a test event for a rule"),
        Route(
            "GET",
            f"{BASE}/events",
            list_events,
            summary="List notification events",
            query=query.PAGE | {"order", "orderBy", "from", "to", "feature", "subject", "rule", "channel"},
        ),
        Route("GET", f"{BASE}/events/{{eventId}}", get_event, summary="Get a notification event"),
        Route(
            "POST",
            f"{BASE}/events/{{eventId}}/resend",
            resend_event,
            summary="Resend a notification event (same id)",
        ),
    )
