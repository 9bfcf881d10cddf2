"""Webhook endpoints and their deliveries: the service's half of outgoing webhooks.

Everything here is stored in the workspace through the repository, like every other
command (one durable journal record per call, or nothing changed). Sending is not done
here: the dispatcher (``tui_billing.api.dispatcher``) asks for due deliveries, makes the
HTTP calls and records each attempt through ``record_attempts``.

* An endpoint receives the events logged after it was added (its ``cursor`` is the last
  event sequence number it has been given deliveries for), so events made while no
  dispatcher runs (CLI commands) are delivered when one starts.
* Without a filter an endpoint gets what OpenMeter sends: ``invoice.created`` and
  ``invoice.updated``. ``invoice.generated`` (the InvoiceGenerated domain event, not an
  OpenMeter webhook) is delivered only to endpoints that name it in their filter.
* A delivery is one event for one endpoint; its attempts are logged in it. Retries and
  manual replays keep the event id as the webhook id. Retry times are wall-clock times.
"""

import base64
import binascii
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from ..domain.errors import Conflict, InvalidValue, NotFound
from ..domain.events import envelope
from ..domain.ids import make_ulid
from ..store.repository import Put
from .service import Service

SECRET_PREFIX = "whsec_"
WEBHOOK_EVENTS = ("invoice.created", "invoice.updated")
"""What an endpoint without a filter receives: the event types OpenMeter sends."""
EVENT_TYPES = (*WEBHOOK_EVENTS, "invoice.generated")
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (1, 5, 30, 120, 600)
"""Seconds to wait before each retry after a failed attempt: six attempts within about
13 minutes (Svix waits hours; a simulator should show the outcome while you watch)."""
EXCERPT_CHARS = 200

DeliveryStatus = Literal["pending", "succeeded", "failed", "cancelled"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_secret() -> str:
    """A signing secret like OpenMeter's (Svix): ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; InvalidValue unless it is 24–64 bytes of base64."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidValue(f"a signing secret starts with {SECRET_PREFIX} followed by base64")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValue("the signing secret after whsec_ is not valid base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidValue(f"a signing secret holds 24 to 64 bytes (32 is usual), this one {len(key)}")
    return key


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookEndpoint(_Model):
    id: str
    url: str
    secret: str
    event_types: list[str] = []
    """Empty: the OpenMeter webhook events (``WEBHOOK_EVENTS``)."""
    created_at: datetime
    removed_at: datetime | None = None
    cursor: int
    """The last event sequence number this endpoint has been given deliveries for."""

    def wants(self, event_type: str) -> bool:
        return event_type in (self.event_types or WEBHOOK_EVENTS)


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
    id: str
    event_id: str
    event_seq: int
    event_type: str
    invoice_id: str
    endpoint_id: str
    replay: int = 0
    """0 for the first delivery of the event to this endpoint, n for its n-th replay."""
    status: DeliveryStatus = "pending"
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: list[Attempt] = []


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


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


class Webhooks:
    """Commands and reads on webhook endpoints and deliveries of one open workspace."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.repository = service.repository

    # --- endpoints ---------------------------------------------------------------------------
    def endpoints(self, *, include_removed: bool = False) -> list[WebhookEndpoint]:
        found = [WebhookEndpoint.model_validate(doc) for doc in self.repository.rows("webhooks")]
        return [e for e in found if include_removed or e.removed_at is None]

    def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        doc = self.repository.get("webhooks", endpoint_id.strip())
        if doc is None or doc.get("removed_at") is not None:
            raise NotFound(f"no webhook endpoint {endpoint_id!r}; `tui-billing webhooks list` lists them")
        return WebhookEndpoint.model_validate(doc)

    def add(self, url: str, *, secret: str | None = None,
            event_types: Sequence[str] = ()) -> WebhookEndpoint:
        """A new endpoint that receives the events logged from now on."""
        url = _check_url(url)
        if secret is not None:
            secret_key(secret)
        types = list(dict.fromkeys(t.strip() for t in event_types if t.strip()))
        unknown = [t for t in types if t not in EVENT_TYPES]
        if unknown:
            raise InvalidValue(f"unknown event type {', '.join(unknown)}; use {', '.join(EVENT_TYPES)}")
        if any(e.url == url for e in self.endpoints()):
            raise Conflict(f"an endpoint already sends to {url}; remove it first or use another URL")
        ws = self.service.workspace()
        ws.id_counter += 1
        endpoint = WebhookEndpoint(
            id=make_ulid(ws.seed, ws.id_counter, ws.now), url=url, secret=secret or new_secret(),
            event_types=types, created_at=utcnow(), cursor=ws.event_seq,
        )
        self.repository.commit([Put("meta", _dump(ws)), Put("webhooks", _dump(endpoint))])
        return endpoint

    def remove(self, endpoint_id: str) -> WebhookEndpoint:
        """Stop sending to an endpoint; its pending deliveries are cancelled."""
        endpoint = self.endpoint(endpoint_id)
        endpoint.removed_at = utcnow()
        cancelled = [d for d in self.pending() if d.endpoint_id == endpoint.id]
        for delivery in cancelled:
            delivery.status, delivery.next_attempt_at = "cancelled", None
        self.repository.commit([Put("webhooks", _dump(endpoint))]
                               + [Put("deliveries", _dump(d)) for d in cancelled])
        return endpoint

    # --- deliveries --------------------------------------------------------------------------
    def deliveries(self, event_id: str | None = None) -> list[Delivery]:
        """Deliveries oldest first; optionally those of one event."""
        if event_id is not None:
            event_id = self._event_row(event_id.strip())["id"]
        return [Delivery.model_validate(row) for row in self.repository.rows("deliveries")
                if event_id is None or row["event_id"] == event_id]

    def pending(self) -> list[Delivery]:
        return [Delivery.model_validate(row) for row in self.repository.rows("deliveries")
                if row["status"] == "pending"]

    def body(self, delivery: Delivery) -> bytes:
        """The JSON body sent for a delivery: OpenMeter's ``{id, type, timestamp, data}``."""
        return _json_bytes(envelope(self.service.event(self._event_row(delivery.event_id))))

    def enqueue_new_events(self) -> list[Delivery]:
        """Deliveries for every event logged since each endpoint's cursor (one commit, or
        none when there is nothing new)."""
        endpoints = self.endpoints()
        last_seq = self.service.workspace().event_seq
        stale = [e for e in endpoints if e.cursor < last_seq]
        if not stale:
            return []
        oldest = min(e.cursor for e in stale)
        now = utcnow()
        created: list[Delivery] = []
        for row in self._event_rows_after(oldest):
            for endpoint in stale:
                if row["seq"] > endpoint.cursor and endpoint.wants(row["type"]):
                    created.append(self._new_delivery(row, endpoint, 0, now))
        for endpoint in stale:
            endpoint.cursor = last_seq
        self.repository.commit([Put("webhooks", _dump(e)) for e in stale]
                               + [Put("deliveries", _dump(d)) for d in created])
        return created

    def replay(self, event_id: str) -> list[Delivery]:
        """Send one event again, now, to every endpoint that wants its type (same webhook id)."""
        row = self._event_row(event_id.strip())
        endpoints = [e for e in self.endpoints() if e.wants(row["type"])]
        if not endpoints:
            raise InvalidValue(f"no webhook endpoint receives {row['type']} events; add one first")
        previous = self.deliveries(row["id"])
        now = utcnow()
        created = [
            self._new_delivery(row, endpoint, 1 + max(
                (d.replay for d in previous if d.endpoint_id == endpoint.id), default=0), now)
            for endpoint in endpoints
        ]
        self.repository.commit([Put("deliveries", _dump(d)) for d in created])
        return created

    def record_attempts(self, results: Iterable[AttemptResult],
                        schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE) -> list[Delivery]:
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
            delivery.attempts.append(Attempt(
                number=number, at=result.at, status_code=result.status_code,
                latency_ms=round(result.latency_ms, 1), response=result.response[:EXCERPT_CHARS],
                next_retry_at=next_at,
            ))
            delivery.next_attempt_at = next_at
            changed[delivery.id] = delivery
        self.repository.commit([Put("deliveries", _dump(d)) for d in changed.values()])
        return list(changed.values())

    # --- helpers -----------------------------------------------------------------------------
    def _delivery(self, delivery_id: str) -> Delivery | None:
        doc = self.repository.get("deliveries", delivery_id)
        return None if doc is None else Delivery.model_validate(doc)

    def _event_row(self, event_id: str) -> dict[str, Any]:
        row = self.repository.row("events", event_id)
        if row is None:
            raise NotFound(f"no event {event_id!r}; `tui-billing events` lists them")
        return row

    def _event_rows_after(self, seq: int) -> list[dict[str, Any]]:
        """Event rows with a sequence number above ``seq``, oldest first (the log is
        appended in sequence order, so only its tail is read)."""
        rows = self.service.event_rows()
        start = len(rows)
        while start > 0 and rows[start - 1]["seq"] > seq:
            start -= 1
        return rows[start:]

    @staticmethod
    def _new_delivery(row: dict[str, Any], endpoint: WebhookEndpoint, replay: int,
                      now: datetime) -> Delivery:
        suffix = f".r{replay}" if replay else ""
        return Delivery(
            id=f"{row['id']}.{endpoint.id}{suffix}", event_id=row["id"], event_seq=row["seq"],
            event_type=row["type"], invoice_id=row["invoice_id"], endpoint_id=endpoint.id,
            replay=replay, created_at=now, next_attempt_at=now,
        )


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValue(f"a webhook URL is http:// or https:// with a host, got {url!r}")
    return url


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
