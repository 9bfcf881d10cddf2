"""Notification events: made from the invoice event log, listed, and sent as payloads."""

from typing import Any, cast

from ...domain.errors import NotFound
from ...domain.models import EventRow
from ...domain.notifications import (
    Delivery,
    EventQuery,
    Notification,
    notification_of,
    select_events,
    selected_events,
    sent_to,
)
from ...domain.shapes import webhook_envelope
from ...domain.timefmt import rfc3339
from ...store.journal import dumps
from ...store.repository import Put
from ..service import _dump, _Tx
from .reads import WebhookReads


class EventCommands(WebhookReads):
    def notification_rows(self, query: EventQuery | None = None) -> list[dict[str, Any]]:
        """The stored rows of the notification events matching ``query`` (default all), in its
        order (read-only; ``Notification.model_validate`` one to use it): a page of 100k
        events validates and reads the data of its own events only."""
        query = query or EventQuery()
        sent: set[str] = set()
        if query.channels:
            sent = sent_to(self.repository.rows("deliveries"), query.channels)
        return select_events(self.repository.rows("notifications"), query, sent)

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

    def body(self, delivery: Delivery) -> bytes:
        """The bytes sent for a delivery: its payload as compact JSON."""
        return dumps(self.payload(self.notification(delivery.notification_id)))

    def enqueue_new_events(self) -> list[Delivery]:
        """Notification events and deliveries for every invoice event logged since each active
        rule's cursor (one commit, or none when there is nothing new). The dispatcher's
        bookkeeping, not a user's command: it calls this directly, not through the registry."""
        last_seq = self.service.workspace().event_seq
        stale = [r for r in self.rules() if r.active and r.cursor < last_seq]
        if not stale:
            return []
        tx = _Tx(self.service)
        created: list[Delivery] = []
        numbers: dict[str, str] = {}
        for row, rule in selected_events(self._event_rows_after(min(r.cursor for r in stale)), stale):
            invoice_id = row["invoice_id"]
            if invoice_id not in numbers:
                numbers[invoice_id] = (self.repository.row("invoices", invoice_id) or {}).get("number", "")
            notification = notification_of(tx.new_id(), rule, row, numbers[invoice_id])
            tx.puts.append(Put("notifications", _dump(notification)))
            created += self._new_deliveries(notification, rule.channels, 0)
        for rule in stale:
            rule.cursor = last_seq
        tx.puts += [Put("rules", _dump(r)) for r in stale] + [Put("deliveries", _dump(d)) for d in created]
        tx.commit()
        return created

    def _event_rows_after(self, seq: int) -> list[EventRow]:
        """Event rows with a sequence number above ``seq``, oldest first (the log is
        appended in sequence order, so only its tail is read)."""
        return cast(list[EventRow], self.repository.rows_after("events", "seq", seq))
