"""The webhook endpoints of earlier versions (the ``webhooks`` table) as channels and rules."""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ...domain.notifications import WEBHOOK_EVENTS, Channel, Delivery, Notification, endpoint_rule
from ...store.repository import Put
from ..service import Service, _dump, _Tx

LEGACY_INPUTS = ("webhooks", "channels", "deliveries", "events", "invoices")
"""The tables ``migrate_endpoints`` reads."""


def migrate(service: Service) -> None:
    """Turn the endpoints of an earlier version into channels and rules (once)."""
    repository = service.repository
    if all(repository.row("channels", doc["id"]) is not None for doc in repository.rows("webhooks")):
        return
    tx = _Tx(service)
    tables = {name: repository.rows(name) for name in LEGACY_INPUTS}
    tx.puts += migrate_endpoints(tables, tx.new_id, tx.ws.now)
    tx.commit()


def migrate_endpoints(
    tables: Mapping[str, Sequence[dict[str, Any]]], new_id: Callable[[], str], now: datetime
) -> list[Put]:
    """The changes that turn a workspace's webhook endpoints into channels and rules; empty
    when there is nothing to migrate.

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
        channel = Channel(
            id=doc["id"],
            name=doc["url"][:256],
            url=doc["url"],
            signing_secret=doc["secret"],
            created_at=created,
            updated_at=created,
            deleted_at=doc.get("removed_at"),
        )
        puts.append(Put("channels", _dump(channel)))
        if channel.deleted_at is not None:
            continue
        for event_type in wanted:
            rule = endpoint_rule(
                new_id(), event_type, channel, created_at=created, updated_at=now, cursor=doc["cursor"]
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
        delivery = Delivery(
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
        puts += [Put("notifications", _dump(notification)), Put("deliveries", _dump(delivery))]
    return puts
