"""Outgoing webhooks as OpenMeter models them: notification channels, rules and events.

Everything here is stored in the workspace through the service's transaction, like every
other command (one durable journal record per call, or nothing changed). Sending is not
done here: the dispatcher (``tui_billing.api.dispatcher``) asks for due deliveries, makes
the HTTP calls and records each attempt through ``record_attempts``.

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
"""

import base64
import binascii
import json
import re
import secrets
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from ..domain.errors import Conflict, InvalidValue, NotAllowed, NotFound
from ..domain.ids import is_ulid
from ..domain.shapes import webhook_envelope
from ..domain.timefmt import rfc3339
from ..store.repository import Delete, Put
from .service import Service, _Tx

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


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_secret() -> str:
    """A signing secret like OpenMeter's (Svix): ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Channel(_Model):
    """A webhook notification channel."""

    id: str
    name: str
    url: str
    custom_headers: dict[str, str] = {}
    signing_secret: str
    disabled: bool = False
    metadata: dict[str, str] | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def active(self) -> bool:
        return not self.disabled and self.deleted_at is None


class Rule(_Model):
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


class Notification(_Model):
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


class Attempt(_Model):
    """One HTTP call: its answer (or why there was none) and when the next one is due."""

    number: int
    at: datetime
    status_code: int | None = None
    latency_ms: float
    response: str = ""
    """The first characters of the response body, or the connection error."""
    next_retry_at: datetime | None = None


class Delivery(_Model):
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
    attempts: list[Attempt] = []
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
    """The filters and order of ``Webhooks.notifications``."""

    start: datetime | None = None
    end: datetime | None = None
    rules: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    descending: bool = False
    order_by: Literal["id", "createdAt"] = "createdAt"


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


class Webhooks:
    """Commands and reads on channels, rules, notification events and deliveries."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.repository = service.repository
        if any(
            self.repository.row("channels", doc["id"]) is None for doc in self.repository.rows("webhooks")
        ):
            self._migrate()

    def _migrate(self) -> None:
        """Turn the endpoints of an earlier version into channels and rules (once)."""
        tx = _Tx(self.service)
        tables = {name: self.repository.rows(name) for name in LEGACY_INPUTS}
        tx.puts += migrate_endpoints(tables, tx.new_id, tx.ws.now)
        tx.commit()

    # --- channels ----------------------------------------------------------------------------
    def channels(self, *, include_deleted: bool = False, include_disabled: bool = True) -> list[Channel]:
        found = [Channel.model_validate(doc) for doc in self.repository.rows("channels")]
        return [
            c
            for c in found
            if (include_deleted or c.deleted_at is None) and (include_disabled or not c.disabled)
        ]

    def channel(self, channel_id: str, *, include_deleted: bool = False) -> Channel:
        doc = self.repository.get("channels", _ulid(channel_id, "channel"))
        if doc is None or (doc.get("deleted_at") is not None and not include_deleted):
            raise NotFound(f"no notification channel {channel_id!r}; `tui-billing webhooks list` lists them")
        return Channel.model_validate(doc)

    def create_channel(
        self,
        *,
        name: str,
        url: str,
        custom_headers: Mapping[str, str] | None = None,
        signing_secret: str | None = None,
        disabled: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> Channel:
        tx = _Tx(self.service)
        channel = self._channel(
            tx,
            tx.new_id(),
            None,
            name=name,
            url=url,
            custom_headers=custom_headers,
            signing_secret=signing_secret,
            disabled=disabled,
            metadata=metadata,
        )
        tx.puts.append(Put("channels", _dump(channel)))
        tx.commit()
        return channel

    def update_channel(
        self,
        channel_id: str,
        *,
        name: str,
        url: str,
        custom_headers: Mapping[str, str] | None = None,
        signing_secret: str | None = None,
        disabled: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> Channel:
        """Replace a channel's settings; without a secret it keeps its own."""
        current = self.channel(channel_id)
        tx = _Tx(self.service)
        channel = self._channel(
            tx,
            current.id,
            current,
            name=name,
            url=url,
            custom_headers=custom_headers,
            signing_secret=signing_secret,
            disabled=disabled,
            metadata=metadata,
        )
        tx.puts.append(Put("channels", _dump(channel)))
        tx.puts += self._cancel(
            tx, lambda d: d.channel_id == channel.id and not channel.active, "the channel was disabled"
        )
        tx.commit()
        return channel

    def delete_channel(self, channel_id: str) -> Channel:
        """Soft-delete a channel no active rule uses (as OpenMeter refuses otherwise)."""
        channel = self.channel(channel_id)
        users = [r.name for r in self.rules() if channel.id in r.channels]
        if users:
            raise NotAllowed(
                f"channel {channel.id} is used by rule(s) {', '.join(users)}: "
                "delete them or take the channel out of them first"
            )
        tx = _Tx(self.service)
        tx.puts += self._cancel(tx, lambda d: d.channel_id == channel.id, "the channel was deleted")
        channel.deleted_at = channel.updated_at = tx.ws.now
        tx.puts.append(Put("channels", _dump(channel)))
        tx.commit()
        return channel

    def _channel(
        self,
        tx: _Tx,
        channel_id: str,
        current: Channel | None,
        *,
        name: str,
        url: str,
        custom_headers: Mapping[str, str] | None,
        signing_secret: str | None,
        disabled: bool,
        metadata: Mapping[str, str] | None,
    ) -> Channel:
        if signing_secret is not None:
            secret_key(signing_secret)
        return Channel(
            id=channel_id,
            name=_name(name),
            url=_check_url(url),
            custom_headers=_check_headers(custom_headers or {}),
            signing_secret=signing_secret or (current.signing_secret if current else new_secret()),
            disabled=disabled,
            metadata=dict(metadata) if metadata is not None else None,
            created_at=current.created_at if current else tx.ws.now,
            updated_at=tx.ws.now,
        )

    # --- rules -------------------------------------------------------------------------------
    def rules(self, *, include_deleted: bool = False, include_disabled: bool = True) -> list[Rule]:
        found = [Rule.model_validate(doc) for doc in self.repository.rows("rules")]
        return [
            r
            for r in found
            if (include_deleted or r.deleted_at is None) and (include_disabled or not r.disabled)
        ]

    def rule(self, rule_id: str, *, include_deleted: bool = False) -> Rule:
        doc = self.repository.get("rules", _ulid(rule_id, "rule"))
        if doc is None or (doc.get("deleted_at") is not None and not include_deleted):
            raise NotFound(f"no notification rule {rule_id!r}; `tui-billing webhooks list` lists them")
        return Rule.model_validate(doc)

    def create_rule(
        self,
        *,
        type: str,
        name: str,
        channels: Sequence[str],
        disabled: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> Rule:
        tx = _Tx(self.service)
        rule = self._rule(
            tx,
            tx.new_id(),
            None,
            type=type,
            name=name,
            channels=channels,
            disabled=disabled,
            metadata=metadata,
        )
        tx.puts.append(Put("rules", _dump(rule)))
        tx.commit()
        return rule

    def update_rule(
        self,
        rule_id: str,
        *,
        type: str,
        name: str,
        channels: Sequence[str],
        disabled: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> Rule:
        current = self.rule(rule_id)
        if type != current.type:
            raise InvalidValue(f"a rule keeps its type: this one is {current.type}, not {type}")
        tx = _Tx(self.service)
        rule = self._rule(
            tx,
            current.id,
            current,
            type=type,
            name=name,
            channels=channels,
            disabled=disabled,
            metadata=metadata,
        )
        tx.puts.append(Put("rules", _dump(rule)))
        tx.commit()
        return rule

    def delete_rule(self, rule_id: str) -> Rule:
        rule = self.rule(rule_id)
        tx = _Tx(self.service)
        rule.deleted_at = rule.updated_at = tx.ws.now
        tx.puts.append(Put("rules", _dump(rule)))
        tx.commit()
        return rule

    def _rule(
        self,
        tx: _Tx,
        rule_id: str,
        current: Rule | None,
        *,
        type: str,
        name: str,
        channels: Sequence[str],
        disabled: bool,
        metadata: Mapping[str, str] | None,
    ) -> Rule:
        if type not in WEBHOOK_EVENTS:
            raise InvalidValue(f"unknown rule type {type!r}; use {' or '.join(WEBHOOK_EVENTS)}")
        ids = list(dict.fromkeys(_ulid(c, "channel") for c in channels))
        if not ids:
            raise InvalidValue("a rule needs at least one channel")
        for channel_id in ids:
            self.channel(channel_id)
        # A rule made active again starts from now, as a new rule would.
        resumed = current is None or not current.active
        return Rule(
            id=rule_id,
            type=type,
            name=_name(name),
            disabled=disabled,
            channels=ids,
            metadata=dict(metadata) if metadata is not None else None,
            created_at=current.created_at if current else tx.ws.now,
            updated_at=tx.ws.now,
            cursor=tx.ws.event_seq if resumed or current is None else current.cursor,
        )

    def test_rule(self, rule_id: str) -> Notification:
        """A test event of the rule's type, sent now to its enabled channels. Its invoice is
        the workspace's newest one not deleted (else the newest), as it is now."""
        rule = self.rule(rule_id)
        rows = self.service.invoice_rows()
        if not rows:
            raise NotAllowed("the workspace has no invoice to send as test data yet; create one first")
        kept = [row for row in rows if not row["status"].startswith("delete")]
        invoice = self.service.invoice((kept or rows)[-1]["id"])
        tx = _Tx(self.service)
        notification = Notification(
            id=tx.new_id(),
            type=rule.type,
            rule_id=rule.id,
            created_at=tx.ws.now,
            event_id=None,
            event_seq=tx.ws.event_seq,
            invoice_id=invoice.id,
            invoice_number=invoice.number,
            test_data=self.service.invoice_v1(invoice),
        )
        tx.puts.append(Put("notifications", _dump(notification)))
        tx.puts += [Put("deliveries", _dump(d)) for d in self._deliveries_for(notification, rule.channels, 0)]
        tx.commit()
        return notification

    # --- the CLI's and dashboard's shortcuts ---------------------------------------------------
    def add(
        self, url: str, *, secret: str | None = None, event_types: Sequence[str] = ()
    ) -> tuple[Channel, list[Rule]]:
        """A channel for ``url`` and one rule per event type (default both), in one commit."""
        types = list(dict.fromkeys(t.strip() for t in event_types if t.strip())) or list(WEBHOOK_EVENTS)
        unknown = [t for t in types if t not in WEBHOOK_EVENTS]
        if unknown:
            raise InvalidValue(f"unknown event type {', '.join(unknown)}; use {', '.join(WEBHOOK_EVENTS)}")
        url = _check_url(url)
        if any(_same_url(c.url, url) for c in self.channels()):
            raise Conflict(f"a channel already sends to {url}; remove it first or use another URL")
        tx = _Tx(self.service)
        channel = self._channel(
            tx,
            tx.new_id(),
            None,
            name=url[:256],
            url=url,
            custom_headers=None,
            signing_secret=secret,
            disabled=False,
            metadata=None,
        )
        rules = [
            Rule(
                id=tx.new_id(),
                type=t,
                name=f"{t} → {url}"[:256],
                channels=[channel.id],
                created_at=tx.ws.now,
                updated_at=tx.ws.now,
                cursor=tx.ws.event_seq,
            )
            for t in types
        ]
        tx.puts += [Put("channels", _dump(channel))] + [Put("rules", _dump(r)) for r in rules]
        tx.commit()
        return channel, rules

    def remove(self, channel_id: str) -> Channel:
        """Delete a channel, taking it out of every rule (a rule left without channels is
        deleted too); its pending deliveries are cancelled. One commit."""
        channel = self.channel(channel_id)
        tx = _Tx(self.service)
        for rule in self.rules():
            if channel.id in rule.channels:
                rule.channels.remove(channel.id)
                rule.updated_at = tx.ws.now
                if not rule.channels:
                    rule.deleted_at = tx.ws.now
                tx.puts.append(Put("rules", _dump(rule)))
        tx.puts += self._cancel(tx, lambda d: d.channel_id == channel.id, "the channel was deleted")
        channel.deleted_at = channel.updated_at = tx.ws.now
        tx.puts.append(Put("channels", _dump(channel)))
        tx.commit()
        return channel

    # --- notification events -----------------------------------------------------------------
    def notification_rows(self, query: EventQuery = EventQuery()) -> list[dict[str, Any]]:
        """The stored rows of the notification events matching ``query``, in its order
        (read-only; ``Notification.model_validate`` one to use it): a page of 100k events
        validates and reads the data of its own events only.

        Creation order is the order of the invoice events' sequence numbers (the clock never
        goes back), a rule's test events after the invoice events of the same number, so no
        timestamp is parsed to sort, and ``from``/``to`` are found by bisection."""
        by_channel: set[str] = set()
        if query.channels:
            by_channel = {
                row["notification_id"]
                for row in self.repository.rows("deliveries")
                if row.get("channel_id") in query.channels
            }
        rows = _in_creation_order(self.repository.rows("notifications"))

        def created(row: dict[str, Any]) -> datetime:
            return datetime.fromisoformat(row["created_at"])

        low = 0 if query.start is None else bisect_left(rows, query.start, key=created)
        high = len(rows) if query.end is None else bisect_right(rows, query.end, key=created)
        found = [
            row
            for row in rows[low:high]
            if (not query.rules or row["rule_id"] in query.rules)
            and (not query.channels or row["id"] in by_channel)
        ]
        if query.order_by == "id":
            found.sort(key=itemgetter("id"))
        if query.descending:
            found.reverse()
        return found

    def notification(self, notification_id: str) -> Notification:
        doc = self.repository.get("notifications", notification_id.strip())
        if doc is None:
            raise NotFound(f"no notification event {notification_id!r}")
        return Notification.model_validate(doc)

    def invoice_notifications(self, invoice_id: str) -> list[Notification]:
        """The notification events about one invoice (its webhooks), oldest first."""
        return [
            Notification.model_validate(row)
            for row in self.repository.rows("notifications")
            if row["invoice_id"] == invoice_id
        ]

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The body sent: OpenMeter's ``{id, type, timestamp, data: <Invoice>}``."""
        if notification.test_data is not None:
            data = notification.test_data
        else:
            row = self.repository.row("events", notification.event_id or "")
            if row is None:
                raise NotFound(
                    f"the invoice event {notification.event_id} of notification event "
                    f"{notification.id} is missing"
                )
            data = self.service.event(row).data
        return webhook_envelope(
            notification.id, notification.type, rfc3339(notification.created_at) or "", data
        )

    def resend(self, notification_id: str, channels: Sequence[str] = ()) -> list[Delivery]:
        """Send a notification event again, now, to the given channels of its rule (default
        all its enabled ones), with the same webhook id. An earlier round still pending for
        one of them is cancelled."""
        notification = self.notification(notification_id)
        rule = self.rule(notification.rule_id, include_deleted=True)
        previous = self.deliveries(notification.id)
        sent_to = list(dict.fromkeys(d.channel_id for d in previous)) or rule.channels
        targets = list(dict.fromkeys(channels)) or sent_to
        unknown = [c for c in targets if c not in sent_to]
        if unknown:
            raise InvalidValue(
                f"notification event {notification.id} was not sent to channel "
                f"{', '.join(unknown)}; it went to {', '.join(sent_to)}"
            )
        tx = _Tx(self.service)
        tx.puts += self._cancel(
            tx,
            lambda d: d.notification_id == notification.id and d.channel_id in targets,
            "superseded by a resend",
        )
        rounds = 1 + max((d.replay for d in previous), default=0)
        created = self._deliveries_for(notification, targets, rounds)
        if not created:
            raise NotAllowed(f"none of the channels of notification event {notification.id} is enabled")
        tx.puts += [Put("deliveries", _dump(d)) for d in created]
        tx.commit()
        return created

    def replay(self, ref: str) -> list[Delivery]:
        """Resend by notification event id, or every notification event of an invoice event."""
        ref = ref.strip()
        if self.repository.row("notifications", ref) is not None:
            return self.resend(ref)
        if self.repository.row("events", ref) is None:
            raise NotFound(
                f"no notification event or invoice event {ref!r}; "
                "`tui-billing webhooks deliveries` lists them"
            )
        ids = [row["id"] for row in self.repository.rows("notifications") if row["event_id"] == ref]
        if not ids:
            raise InvalidValue(f"invoice event {ref} was not sent to any channel (no rule wanted it)")
        return [d for notification_id in ids for d in self.resend(notification_id)]

    # --- deliveries --------------------------------------------------------------------------
    def deliveries(self, ref: str | None = None, *, of: set[str] | None = None) -> list[Delivery]:
        """Deliveries oldest first; optionally those of one notification event or invoice event
        (``ref``), or of the notification events ``of``."""
        ids = of
        if ref is not None:
            ref = ref.strip()
            if self.repository.row("notifications", ref) is not None:
                ids = {ref}
            elif self.repository.row("events", ref) is not None:
                ids = {row["id"] for row in self.repository.rows("notifications") if row["event_id"] == ref}
            else:
                raise NotFound(f"no notification event or invoice event {ref!r}")
        return [
            Delivery.model_validate(row)
            for row in self.repository.rows("deliveries")
            if "channel_id" in row and (ids is None or row["notification_id"] in ids)
        ]

    def pending(self) -> list[Delivery]:
        return [
            Delivery.model_validate(row)
            for row in self.repository.rows("deliveries")
            if row["status"] == "pending" and "channel_id" in row
        ]

    def body(self, delivery: Delivery) -> bytes:
        return _json_bytes(self.payload(self.notification(delivery.notification_id)))

    def enqueue_new_events(self) -> list[Delivery]:
        """Notification events and deliveries for every invoice event logged since each active
        rule's cursor (one commit, or none when there is nothing new)."""
        last_seq = self.service.workspace().event_seq
        stale = [r for r in self.rules() if r.active and r.cursor < last_seq]
        if not stale:
            return []
        tx = _Tx(self.service)
        created: list[Delivery] = []
        numbers: dict[str, str] = {}
        for row in self._event_rows_after(min(r.cursor for r in stale)):
            for rule in stale:
                if row["seq"] > rule.cursor and row["type"] == rule.type:
                    if row["invoice_id"] not in numbers:
                        numbers[row["invoice_id"]] = (
                            self.repository.row("invoices", row["invoice_id"]) or {}
                        ).get("number", "")
                    notification = Notification(
                        id=tx.new_id(),
                        type=rule.type,
                        rule_id=rule.id,
                        event_id=row["id"],
                        event_seq=row["seq"],
                        created_at=row["timestamp"],
                        invoice_id=row["invoice_id"],
                        invoice_number=numbers[row["invoice_id"]],
                    )
                    tx.puts.append(Put("notifications", _dump(notification)))
                    created += self._deliveries_for(notification, rule.channels, 0)
        for rule in stale:
            rule.cursor = last_seq
        tx.puts += [Put("rules", _dump(r)) for r in stale] + [Put("deliveries", _dump(d)) for d in created]
        tx.commit()
        return created

    def record_attempts(
        self, results: Iterable[AttemptResult], schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE
    ) -> list[Delivery]:
        """Log attempts (one commit): a 2xx ends a delivery; a failure schedules the next
        retry from ``schedule``, or fails the delivery when the schedule is spent.
        Results for deliveries no longer pending (cancelled meanwhile) are dropped."""
        changed: dict[str, Delivery] = {}
        for result in results:
            delivery = changed.get(result.delivery_id) or self._delivery(result.delivery_id)
            if delivery is None or delivery.status != "pending":
                continue
            number = len(delivery.attempts) + 1
            next_at = None
            if result.succeeded:
                delivery.status = "succeeded"
            elif number <= len(schedule):
                next_at = result.at + timedelta(seconds=schedule[number - 1])
            else:
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
            changed[delivery.id] = delivery
        if changed:
            tx = _Tx(self.service)
            tx.puts += [Put("deliveries", _dump(d)) for d in changed.values()]
            tx.puts += self._beyond_retention(tx.ws.delivery_retention, changed)
            tx.commit()
        return list(changed.values())

    def _beyond_retention(self, keep: int, changed: Mapping[str, Delivery]) -> list[Delete]:
        """The oldest finished deliveries of each channel in ``changed`` beyond its newest
        ``keep`` (pending ones always stay): the delivery log's retention."""
        channels = {d.channel_id for d in changed.values()}
        rows_of: dict[str, list[dict[str, Any]]] = {}
        for row in self.repository.rows("deliveries"):  # oldest first
            if row.get("channel_id") in channels:
                rows_of.setdefault(row["channel_id"], []).append(row)
        dropped: list[Delete] = []
        for rows in rows_of.values():
            excess = len(rows) - keep
            for row in rows:
                if excess <= 0:
                    break
                status = changed[row["id"]].status if row["id"] in changed else row["status"]
                if status != "pending":
                    dropped.append(Delete("deliveries", row["id"]))
                    excess -= 1
        return dropped

    # --- helpers -----------------------------------------------------------------------------
    def _deliveries_for(
        self, notification: Notification, channel_ids: Iterable[str], replay: int
    ) -> list[Delivery]:
        now = utcnow()
        suffix = f".r{replay}" if replay else ""
        active = {c.id for c in self.channels() if c.active}
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

    def _cancel(self, tx: _Tx, which: Callable[[Delivery], bool], reason: str) -> list[Put]:
        cancelled = [d for d in self.pending() if which(d)]
        for delivery in cancelled:
            delivery.status, delivery.next_attempt_at, delivery.reason = "cancelled", None, reason
        return [Put("deliveries", _dump(d)) for d in cancelled]

    def _delivery(self, delivery_id: str) -> Delivery | None:
        doc = self.repository.get("deliveries", delivery_id)
        return None if doc is None else Delivery.model_validate(doc)

    def _event_rows_after(self, seq: int) -> list[dict[str, Any]]:
        """Event rows with a sequence number above ``seq``, oldest first (the log is
        appended in sequence order, so only its tail is read)."""
        return self.repository.rows_after("events", "seq", seq)


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


LEGACY_INPUTS = ("webhooks", "channels", "deliveries", "events", "invoices")
"""The tables ``migrate_endpoints`` reads."""


def migrate_endpoints(
    tables: Mapping[str, Sequence[dict[str, Any]]], new_id: Callable[[], str], now: datetime
) -> list[Put]:
    """The changes that turn a workspace's webhook endpoints (the ``webhooks`` table of
    earlier versions) into channels and rules; empty when there is nothing to migrate.

    ``tables`` holds the stored rows of ``LEGACY_INPUTS`` (invoice and event rows as the
    repository keeps them: summaries and envelopes). Each endpoint becomes a channel with the
    same id, URL and secret and one rule per invoice event type it received (from the same
    cursor); its pending deliveries of those types become notification events with their
    deliveries (under the same keys), so nothing promised is lost. Finished legacy
    deliveries stay as they are and are not shown."""
    channels = {row["id"] for row in tables["channels"]}
    legacy = [doc for doc in tables["webhooks"] if doc["id"] not in channels]
    if not legacy:
        return []
    events = {row["id"]: row for row in tables["events"]}
    numbers = {row["id"]: row.get("number", "") for row in tables["invoices"]}
    puts: list[Put] = []
    rule_of: dict[tuple[str, str], str] = {}
    for doc in legacy:
        wanted = [t for t in (doc.get("event_types") or WEBHOOK_EVENTS) if t in WEBHOOK_EVENTS]
        created = datetime.fromisoformat(doc["created_at"])
        puts.append(
            Put(
                "channels",
                _dump(
                    Channel(
                        id=doc["id"],
                        name=doc["url"][:256],
                        url=doc["url"],
                        signing_secret=doc["secret"],
                        created_at=created,
                        updated_at=created,
                        deleted_at=doc.get("removed_at"),
                    )
                ),
            )
        )
        if doc.get("removed_at") is not None:
            continue
        for event_type in wanted:
            rule = Rule(
                id=new_id(),
                type=event_type,
                name=f"{event_type} → {doc['url']}"[:256],
                channels=[doc["id"]],
                created_at=created,
                updated_at=now,
                cursor=doc["cursor"],
            )
            rule_of[(doc["id"], event_type)] = rule.id
            puts.append(Put("rules", _dump(rule)))
    for row in tables["deliveries"]:
        rule_id = rule_of.get((row.get("endpoint_id", ""), row.get("event_type", "")))
        event = events.get(row.get("event_id", ""))
        if row.get("status") != "pending" or rule_id is None or event is None:
            continue
        notification = Notification(
            id=new_id(),
            type=event["type"],
            rule_id=rule_id,
            created_at=event["timestamp"],
            event_id=event["id"],
            event_seq=event["seq"],
            invoice_id=event["invoice_id"],
            invoice_number=numbers.get(event["invoice_id"], ""),
        )
        puts.append(Put("notifications", _dump(notification)))
        puts.append(
            Put(
                "deliveries",
                _dump(
                    Delivery(
                        id=row["id"],
                        notification_id=notification.id,
                        channel_id=row["endpoint_id"],
                        event_seq=event["seq"],
                        event_type=event["type"],
                        invoice_id=event["invoice_id"],
                        replay=row.get("replay", 0),
                        created_at=row["created_at"],
                        next_attempt_at=row["next_attempt_at"],
                        attempts=row.get("attempts", []),
                    )
                ),
            )
        )
    return puts


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


def delivery_state(delivery: Delivery) -> str:
    """OpenMeter's delivery state of a delivery round."""
    if delivery.status == "pending":
        return "RESENDING" if delivery.replay else ("SENDING" if delivery.attempts else "PENDING")
    return "SUCCESS" if delivery.status == "succeeded" else "FAILED"


def _ulid(text: str, what: str) -> str:
    """The id in its stored (upper) case: ULIDs are Crockford base 32, any case."""
    text = text.strip().upper()
    if not is_ulid(text):
        raise InvalidValue(f"a {what} id is a ULID like 01G65Z755AFWAKHE12NY0CQ9FH, got {text!r}")
    return text


def _name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 256:
        raise InvalidValue("a name has 1 to 256 characters")
    return name


def _check_url(url: str) -> str:
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


def _same_url(a: str, b: str) -> bool:
    """Whether two checked URLs name the same endpoint (scheme and host are case-free)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme.lower(), pa.hostname, pa.port, pa.path or "/", pa.query) == (
        pb.scheme.lower(),
        pb.hostname,
        pb.port,
        pb.path or "/",
        pb.query,
    )


def _check_headers(headers: Mapping[str, str]) -> dict[str, str]:
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


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
