"""Reading the stored channels, rules, notification events and deliveries."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from ...domain.errors import NotFound
from ...domain.notifications import Channel, Delivery, Notification, Rule, check_id, deliveries_for
from ...store.repository import Put
from ..service import Service, _dump
from .migration import migrate

Setting = TypeVar("Setting", Channel, Rule)
"""What a user sets up: a channel or a rule (listed alike, soft-deleted alike)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookReads:
    """What every part of ``Webhooks`` reads, and the helpers its commands share."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.repository = service.repository
        migrate(service)

    def channels(self, *, include_deleted: bool = False, include_disabled: bool = True) -> list[Channel]:
        return self._listed(Channel, "channels", include_deleted, include_disabled)

    def channel(self, channel_id: str, *, include_deleted: bool = False) -> Channel:
        return self._one(Channel, "channels", channel_id, include_deleted)

    def rules(self, *, include_deleted: bool = False, include_disabled: bool = True) -> list[Rule]:
        return self._listed(Rule, "rules", include_deleted, include_disabled)

    def rule(self, rule_id: str, *, include_deleted: bool = False) -> Rule:
        return self._one(Rule, "rules", rule_id, include_deleted)

    def notification(self, notification_id: str) -> Notification:
        doc = self.repository.get("notifications", notification_id.strip())
        if doc is None:
            raise NotFound(f"no notification event {notification_id!r}")
        return Notification.model_validate(doc)

    def deliveries(self, ref: str | None = None, *, of: set[str] | None = None) -> list[Delivery]:
        """Deliveries oldest first; optionally those of one notification event or invoice event
        (``ref``), or of the notification events ``of``."""
        ids = of
        if ref is not None:
            ref = ref.strip()
            if self.repository.row("notifications", ref) is not None:
                ids = {ref}
            elif self.repository.row("events", ref) is not None:
                ids = set(self._notifications_of(ref))
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

    def delivery_count(self) -> int:
        """How many deliveries are stored (every round, finished ones too): a cheap sign that
        some appeared since the last look."""
        return self.repository.count("deliveries")

    # --- helpers ---------------------------------------------------------------------------------
    def _listed(
        self, model: type[Setting], table: str, include_deleted: bool, include_disabled: bool
    ) -> list[Setting]:
        found = [model.model_validate(doc) for doc in self.repository.rows(table)]
        return [
            m
            for m in found
            if (include_deleted or m.deleted_at is None) and (include_disabled or not m.disabled)
        ]

    def _one(self, model: type[Setting], table: str, key: str, include_deleted: bool) -> Setting:
        what = table.removesuffix("s")
        doc = self.repository.get(table, check_id(key, what))
        if doc is None or (doc.get("deleted_at") is not None and not include_deleted):
            raise NotFound(f"no notification {what} {key!r}; `tui-billing webhooks list` lists them")
        return model.model_validate(doc)

    def _delivery(self, delivery_id: str) -> Delivery | None:
        doc = self.repository.get("deliveries", delivery_id)
        return None if doc is None else Delivery.model_validate(doc)

    def _notifications_of(self, event_id: str) -> list[str]:
        """The ids of the notification events of one invoice event."""
        return [row["id"] for row in self.repository.rows("notifications") if row["event_id"] == event_id]

    def _new_deliveries(
        self, notification: Notification, channel_ids: Iterable[str], replay: int
    ) -> list[Delivery]:
        """Round ``replay`` of sending ``notification`` to those channels that are active, due now."""
        active = {c.id for c in self.channels() if c.active}
        return deliveries_for(notification, channel_ids, replay, active=active, now=utcnow())

    def _cancel(self, which: Callable[[Delivery], bool], reason: str) -> list[Put]:
        """The changes that cancel the pending deliveries ``which`` selects."""
        cancelled = [d for d in self.pending() if which(d)]
        for delivery in cancelled:
            delivery.status, delivery.next_attempt_at, delivery.reason = "cancelled", None, reason
        return [Put("deliveries", _dump(d)) for d in cancelled]
