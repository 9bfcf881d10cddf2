"""Outgoing webhooks as OpenMeter models them: the rules, with no storage and no clock.

* A **channel** is a webhook endpoint: URL, custom headers, ``whsec_`` signing secret.
* A **rule** of type ``invoice.created`` or ``invoice.updated`` names the channels that
  receive that event type. As in OpenMeter, each invoice event of the log becomes one
  **notification event** per enabled rule of its type (payload ``{id, type, timestamp,
  data: <Invoice>}`` whose ``id`` is the notification event's), with one **delivery** per
  enabled channel of the rule. A rule sees the events logged after it was created (its
  ``cursor``), so events made while no dispatcher runs are delivered when one starts.
* A delivery's attempts are logged in it; a failure is retried on a schedule. Retries and
  resends keep the notification event id as the webhook id (a resend is a new delivery
  round for the same event). Retry times are wall-clock times; everything else follows
  the workspace's simulated clock.

The service (``tui_billing.service.notifications``) stores these models and passes in what
the rules need (the time, new ids, the stored rows); nothing here reads or writes.
"""

import base64
import binascii
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Literal, NotRequired, TypedDict
from urllib.parse import urlsplit

from pydantic import Field

from .errors import InvalidValue, NotAllowed
from .ids import is_ulid
from .models import Model
from .timefmt import rfc3339

SECRET_PREFIX = "whsec_"
WEBHOOK_EVENTS = ("invoice.created", "invoice.updated")
"""The rule types: the invoice events OpenMeter sends."""
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (1, 5, 30, 120, 600)
"""Seconds to wait before each retry after a failed attempt: six attempts within about
13 minutes (Svix waits hours; a simulator should show the outcome while you watch)."""
EXCERPT_CHARS = 200
RESERVED_HEADERS = ("content-type", "content-length", "host", "user-agent")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_SECRET_TEXT = re.compile(r"^(whsec_)?[a-zA-Z0-9+/=]{32,100}$")

EventType = Literal["invoice.created", "invoice.updated"]
DeliveryStatus = Literal["pending", "succeeded", "failed", "cancelled"]


# --- models ------------------------------------------------------------------------------------
class Channel(Model):
    """A webhook notification channel."""

    id: str
    name: str
    url: str
    custom_headers: dict[str, str] = Field(default_factory=dict)
    signing_secret: str
    disabled: bool = False
    metadata: dict[str, str] | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def active(self) -> bool:
        return not self.disabled and self.deleted_at is None


class Rule(Model):
    """A notification rule: which channels receive one invoice event type."""

    id: str
    type: EventType
    name: str
    disabled: bool = False
    metadata: dict[str, str] | None = None
    channels: list[str]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    cursor: int
    """The last event sequence number this rule has made notification events for."""

    @property
    def active(self) -> bool:
        return not self.disabled and self.deleted_at is None


class Notification(Model):
    """A notification event: one invoice event sent under one rule."""

    id: str
    type: EventType
    rule_id: str
    created_at: datetime
    event_id: str | None
    """The invoice event of the log whose data is sent; None for a rule's test event."""
    event_seq: int
    invoice_id: str
    invoice_number: str
    test_data: dict[str, Any] | None = None
    """The invoice sent by a rule's test event."""


class Attempt(Model):
    """One HTTP call: its answer (or why there was none) and when the next one is due."""

    number: int
    at: datetime
    status_code: int | None = None
    latency_ms: float
    response: str = ""
    """The first characters of the response body, or the connection error."""
    next_retry_at: datetime | None = None


class Delivery(Model):
    """One round of sending a notification event to one channel (a resend is a new round)."""

    id: str
    notification_id: str
    channel_id: str
    event_seq: int
    event_type: str
    invoice_id: str
    replay: int = 0
    """0 for the first round, n for the n-th resend."""
    status: DeliveryStatus = "pending"
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: list[Attempt] = Field(default_factory=list)
    reason: str = ""
    """Why a delivery was cancelled."""


@dataclass(frozen=True)
class AttemptResult:
    """What the dispatcher observed for one attempt of one delivery."""

    delivery_id: str
    at: datetime
    latency_ms: float
    status_code: int | None = None
    response: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class EventQuery:
    """The filters and order of a list of notification events (``select_events``)."""

    start: datetime | None = None
    end: datetime | None = None
    rules: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    descending: bool = False
    order_by: Literal["id", "createdAt"] = "createdAt"


class ChannelFields(TypedDict):
    """A channel's settings as a create or a replace gives them."""

    name: str
    url: str
    custom_headers: NotRequired[Mapping[str, str] | None]
    signing_secret: NotRequired[str | None]
    """Without one, a replaced channel keeps its own and a new one gets a new secret."""
    disabled: NotRequired[bool]
    metadata: NotRequired[Mapping[str, str] | None]


class RuleFields(TypedDict):
    """A rule's settings as a create or a replace gives them."""

    type: str
    name: str
    channels: Sequence[str]
    disabled: NotRequired[bool]
    metadata: NotRequired[Mapping[str, str] | None]


# --- channels and rules ----------------------------------------------------------------------
def secret_key(secret: str) -> bytes:
    """The HMAC key of a signing secret (``whsec_`` optional, as Svix accepts); InvalidValue
    unless it is 24–64 bytes of base64."""
    if not _SECRET_TEXT.match(secret):
        raise InvalidValue("a signing secret is whsec_ followed by base64 (32 to 100 characters)")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValue("the signing secret after whsec_ is not valid base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidValue(f"a signing secret holds 24 to 64 bytes (32 is usual), this one {len(key)}")
    return key


def channel_from(
    fields: ChannelFields, *, id: str, current: Channel | None, now: datetime, new_secret: Callable[[], str]
) -> Channel:
    """The channel ``fields`` describe, checked: a new one (``current`` None) or ``current``
    replaced."""
    secret = fields.get("signing_secret")
    if secret is not None:
        secret_key(secret)
    metadata = fields.get("metadata")
    return Channel(
        id=id,
        name=check_name(fields["name"]),
        url=check_url(fields["url"]),
        custom_headers=check_headers(fields.get("custom_headers") or {}),
        signing_secret=secret or (current.signing_secret if current else new_secret()),
        disabled=fields.get("disabled", False),
        metadata=dict(metadata) if metadata is not None else None,
        created_at=current.created_at if current else now,
        updated_at=now,
    )


def rule_from(
    fields: RuleFields,
    *,
    id: str,
    current: Rule | None,
    now: datetime,
    event_seq: int,
    check_channel: Callable[[str], object],
) -> Rule:
    """The rule ``fields`` describe, checked (``check_channel`` refuses a channel id that
    names none): a new one (``current`` None) or ``current`` replaced, which keeps its
    type. A rule made active starts after event ``event_seq``, as a new rule would."""
    type = fields["type"]
    if current is not None and type != current.type:
        raise InvalidValue(f"a rule keeps its type: this one is {current.type}, not {type}")
    if type not in WEBHOOK_EVENTS:
        raise InvalidValue(f"unknown rule type {type!r}; use {' or '.join(WEBHOOK_EVENTS)}")
    ids = list(dict.fromkeys(check_id(c, "channel") for c in fields["channels"]))
    if not ids:
        raise InvalidValue("a rule needs at least one channel")
    for channel_id in ids:
        check_channel(channel_id)
    metadata = fields.get("metadata")
    return Rule(
        id=id,
        type=type,
        name=check_name(fields["name"]),
        disabled=fields.get("disabled", False),
        channels=ids,
        metadata=dict(metadata) if metadata is not None else None,
        created_at=current.created_at if current else now,
        updated_at=now,
        cursor=current.cursor if current is not None and current.active else event_seq,
    )


def endpoint_rule(
    id: str, type: str, channel: Channel, *, created_at: datetime, updated_at: datetime, cursor: int
) -> Rule:
    """The rule that sends ``type`` to one channel, named after its URL (``webhooks add``,
    and the endpoints of earlier versions)."""
    return Rule(
        id=id,
        type=type,
        name=f"{type} → {channel.url}"[:256],
        channels=[channel.id],
        created_at=created_at,
        updated_at=updated_at,
        cursor=cursor,
    )


def rule_types(requested: Iterable[str]) -> list[str]:
    """The rule types asked for, once each and in order (default all); InvalidValue names
    the unknown ones."""
    types = list(dict.fromkeys(t.strip() for t in requested if t.strip()))
    unknown = [t for t in types if t not in WEBHOOK_EVENTS]
    if unknown:
        raise InvalidValue(f"unknown event type {', '.join(unknown)}; use {', '.join(WEBHOOK_EVENTS)}")
    return types or list(WEBHOOK_EVENTS)


def check_deletable(channel: Channel, rules: Iterable[Rule]) -> None:
    """NotAllowed while a rule uses the channel (as OpenMeter refuses)."""
    users = [r.name for r in rules if channel.id in r.channels]
    if users:
        raise NotAllowed(
            f"channel {channel.id} is used by rule(s) {', '.join(users)}: "
            "delete them or take the channel out of them first"
        )


def without_channel(rules: Iterable[Rule], channel_id: str, now: datetime) -> list[Rule]:
    """The rules that used the channel, with it taken out (a rule left without channels is
    deleted)."""
    changed = []
    for rule in rules:
        if channel_id in rule.channels:
            rule.channels.remove(channel_id)
            rule.updated_at = now
            if not rule.channels:
                rule.deleted_at = now
            changed.append(rule)
    return changed


def check_id(text: str, what: str) -> str:
    """The id in its stored (upper) case: ULIDs are Crockford base 32, any case."""
    text = text.strip().upper()
    if not is_ulid(text):
        raise InvalidValue(f"a {what} id is a ULID like 01G65Z755AFWAKHE12NY0CQ9FH, got {text!r}")
    return text


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 256:
        raise InvalidValue("a name has 1 to 256 characters")
    return name


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, a valid port, no fragment and no control or
    space characters."""
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidValue(f"a webhook URL has no spaces or control characters, got {url!r}")
    parts = urlsplit(url)
    try:
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise InvalidValue(f"the port of a webhook URL is a number from 1 to 65535, got {url!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidValue(f"a webhook URL is http:// or https:// with a host, got {url!r}")
    if parts.fragment or url.endswith("#"):
        raise InvalidValue(f"a webhook URL has no #fragment (it is never sent), got {url!r}")
    return url


def same_url(a: str, b: str) -> bool:
    """Whether two checked URLs name the same endpoint (scheme and host are case-free)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme.lower(), pa.hostname, pa.port, pa.path or "/", pa.query) == (
        pb.scheme.lower(),
        pb.hostname,
        pb.port,
        pb.path or "/",
        pb.query,
    )


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    checked = {}
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise InvalidValue(f"custom header name {name!r} is not a valid HTTP header name")
        lowered = name.lower()
        if lowered in RESERVED_HEADERS or lowered.startswith(("svix-", "webhook-")):
            raise InvalidValue(f"custom header {name} is set by the sender and cannot be replaced")
        if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in value) or len(value) > 4096:
            raise InvalidValue(f"custom header {name} has control characters or is too long")
        checked[name] = value
    return checked


# --- notification events -----------------------------------------------------------------------
def selected_events(
    rows: Iterable[Mapping[str, Any]], rules: Sequence[Rule]
) -> Iterator[tuple[Mapping[str, Any], Rule]]:
    """Each (invoice event row, rule) that makes a notification event, in log order: a rule
    selects the events of its type logged after its cursor."""
    for row in rows:
        for rule in rules:
            if row["seq"] > rule.cursor and row["type"] == rule.type:
                yield row, rule


def notification_of(id: str, rule: Rule, row: Mapping[str, Any], invoice_number: str) -> Notification:
    """The notification event of one invoice event (its stored row) under one rule."""
    return Notification(
        id=id,
        type=rule.type,
        rule_id=rule.id,
        event_id=row["id"],
        event_seq=row["seq"],
        created_at=row["timestamp"],
        invoice_id=row["invoice_id"],
        invoice_number=invoice_number,
    )


def probe_invoice(invoice_rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The invoice a rule's test event sends: the newest one not deleted, else the newest."""
    if not invoice_rows:
        raise NotAllowed("the workspace has no invoice to send as test data yet; create one first")
    kept = [row for row in invoice_rows if not row["status"].startswith("delete")]
    return (kept or invoice_rows)[-1]


def sent_to(delivery_rows: Iterable[Mapping[str, Any]], channels: Collection[str]) -> set[str]:
    """The ids of the notification events with a delivery to one of ``channels``."""
    return {row["notification_id"] for row in delivery_rows if row.get("channel_id") in channels}


def select_events(
    rows: list[dict[str, Any]], query: EventQuery, sent: Collection[str] = ()
) -> list[dict[str, Any]]:
    """The notification rows matching ``query``, in its order; ``sent`` holds the events
    sent to the query's channels (``sent_to``), when it names any.

    Creation order is the order of the invoice events' sequence numbers (the clock never
    goes back), a rule's test events after the invoice events of the same number, so no
    timestamp is parsed to sort, and ``from``/``to`` are found by bisection."""
    rows = _in_creation_order(rows)

    def created(row: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(row["created_at"])

    low = 0 if query.start is None else bisect_left(rows, query.start, key=created)
    high = len(rows) if query.end is None else bisect_right(rows, query.end, key=created)
    found = [
        row
        for row in rows[low:high]
        if (not query.rules or row["rule_id"] in query.rules) and (not query.channels or row["id"] in sent)
    ]
    if query.order_by == "id":
        found.sort(key=itemgetter("id"))
    if query.descending:
        found.reverse()
    return found


def _in_creation_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Notification rows by event sequence number, a test event after the invoice events of
    its number. Stored rows are nearly in that order: the sort on a plain field is linear,
    and the few test events are put in place by bisection."""
    seq = itemgetter("event_seq")
    ordered = [row for row in rows if row["event_id"] is not None]
    ordered.sort(key=seq)
    for test in sorted([row for row in rows if row["event_id"] is None], key=seq):
        ordered.insert(bisect_right(ordered, seq(test), key=seq), test)
    return ordered


# --- deliveries ----------------------------------------------------------------------------------
def deliveries_for(
    notification: Notification,
    channel_ids: Iterable[str],
    replay: int,
    *,
    active: Collection[str],
    now: datetime,
) -> list[Delivery]:
    """Round ``replay`` of sending ``notification``, due ``now``, to those of ``channel_ids``
    that are ``active``."""
    suffix = f".r{replay}" if replay else ""
    return [
        Delivery(
            id=f"{notification.id}.{channel_id}{suffix}",
            notification_id=notification.id,
            channel_id=channel_id,
            event_seq=notification.event_seq,
            event_type=notification.type,
            invoice_id=notification.invoice_id,
            replay=replay,
            created_at=now,
            next_attempt_at=now,
        )
        for channel_id in channel_ids
        if channel_id in active
    ]


def resend_targets(
    notification_id: str, previous: Sequence[Delivery], rule_channels: Sequence[str], requested: Iterable[str]
) -> list[str]:
    """The channels a resend goes to: those ``requested`` (default all) of the channels the
    event was sent to (its rule's, before any delivery); InvalidValue for any other."""
    sent = list(dict.fromkeys(d.channel_id for d in previous)) or list(rule_channels)
    targets = list(dict.fromkeys(requested)) or sent
    unknown = [c for c in targets if c not in sent]
    if unknown:
        raise InvalidValue(
            f"notification event {notification_id} was not sent to channel "
            f"{', '.join(unknown)}; it went to {', '.join(sent)}"
        )
    return targets


def retry_at(number: int, at: datetime, schedule: Sequence[float]) -> datetime | None:
    """When the retry after failed attempt ``number`` (made ``at``) is due; None once
    ``schedule`` is spent."""
    return at + timedelta(seconds=schedule[number - 1]) if number <= len(schedule) else None


def log_attempt(delivery: Delivery, result: AttemptResult, schedule: Sequence[float]) -> None:
    """Add an attempt to a pending delivery: a 2xx ends it; a failure schedules the next
    retry, or fails it when the schedule is spent."""
    number = len(delivery.attempts) + 1
    next_at = None
    if result.succeeded:
        delivery.status = "succeeded"
    else:
        next_at = retry_at(number, result.at, schedule)
        if next_at is None:
            delivery.status = "failed"
    delivery.attempts.append(
        Attempt(
            number=number,
            at=result.at,
            status_code=result.status_code,
            latency_ms=round(result.latency_ms, 1),
            response=result.response[:EXCERPT_CHARS],
            next_retry_at=next_at,
        )
    )
    delivery.next_attempt_at = next_at


def beyond_retention(
    rows: Iterable[Mapping[str, Any]], keep: int, changed: Mapping[str, Delivery]
) -> list[str]:
    """The delivery log's retention: the ids of the oldest finished deliveries of each channel
    in ``changed`` beyond its newest ``keep`` (pending ones always stay). ``rows`` are the
    stored deliveries, oldest first; ``changed`` overrides their status."""
    channels = {d.channel_id for d in changed.values()}
    rows_of: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("channel_id") in channels:
            rows_of.setdefault(row["channel_id"], []).append(row)
    dropped: list[str] = []
    for channel_rows in rows_of.values():
        excess = len(channel_rows) - keep
        for row in channel_rows:
            if excess <= 0:
                break
            status = changed[row["id"]].status if row["id"] in changed else row["status"]
            if status != "pending":
                dropped.append(row["id"])
                excess -= 1
    return dropped


def delivery_state(delivery: Delivery) -> str:
    """OpenMeter's delivery state of a delivery round."""
    if delivery.status == "pending":
        return "RESENDING" if delivery.replay else ("SENDING" if delivery.attempts else "PENDING")
    return "SUCCESS" if delivery.status == "succeeded" else "FAILED"


# --- OpenMeter's JSON ----------------------------------------------------------------------------
def _common(model: Channel | Rule) -> dict[str, Any]:
    shape: dict[str, Any] = {"createdAt": rfc3339(model.created_at), "updatedAt": rfc3339(model.updated_at)}
    if model.deleted_at is not None:
        shape["deletedAt"] = rfc3339(model.deleted_at)
    shape.update(
        {
            "id": model.id,
            "type": model.type if isinstance(model, Rule) else "WEBHOOK",
            "name": model.name,
            "disabled": model.disabled,
        }
    )
    if model.metadata is not None:
        shape["metadata"] = model.metadata
    return shape


def channel_json(channel: Channel) -> dict[str, Any]:
    """``NotificationChannelWebhook``."""
    return {
        **_common(channel),
        "url": channel.url,
        "customHeaders": channel.custom_headers,
        "signingSecret": channel.signing_secret,
    }


def rule_json(rule: Rule) -> dict[str, Any]:
    """``NotificationRuleInvoiceCreated`` / ``…Updated``."""
    return {**_common(rule), "channels": [{"id": c, "type": "WEBHOOK"} for c in rule.channels]}
