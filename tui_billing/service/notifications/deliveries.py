"""Delivery rounds: logging the dispatcher's attempts (retries, retention) and resends."""

from collections.abc import Iterable, Sequence

from ...domain.errors import InvalidValue, NotAllowed, NotFound
from ...domain.notifications import (
    DEFAULT_RETRY_SCHEDULE,
    AttemptResult,
    Delivery,
    beyond_retention,
    log_attempt,
    resend_targets,
)
from ...store.repository import Delete, Put
from ..service import _dump, _Tx
from .reads import WebhookReads


class DeliveryCommands(WebhookReads):
    def record_attempts(
        self, results: Iterable[AttemptResult], schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE
    ) -> list[Delivery]:
        """Log attempts (one commit): a 2xx ends a delivery; a failure schedules the next
        retry from ``schedule``, or fails the delivery when the schedule is spent. The
        oldest finished deliveries of their channels beyond the workspace's retention are
        dropped. Results for deliveries no longer pending (cancelled meanwhile) are ignored.
        The dispatcher's bookkeeping, not a user's command: it calls this directly, not
        through the registry."""
        changed: dict[str, Delivery] = {}
        for result in results:
            delivery = changed.get(result.delivery_id) or self._delivery(result.delivery_id)
            if delivery is None or delivery.status != "pending":
                continue
            log_attempt(delivery, result, schedule)
            changed[delivery.id] = delivery
        if changed:
            tx = _Tx(self.service)
            tx.puts += [Put("deliveries", _dump(d)) for d in changed.values()]
            dropped = beyond_retention(self.repository.rows("deliveries"), tx.ws.delivery_retention, changed)
            tx.puts += [Delete("deliveries", delivery_id) for delivery_id in dropped]
            tx.commit()
        return list(changed.values())

    def resend(self, notification_id: str, channels: Sequence[str] = ()) -> list[Delivery]:
        """Send a notification event again, now, to the given channels of its rule (default
        all its enabled ones), with the same webhook id. An earlier round still pending for
        one of them is cancelled."""
        notification = self.notification(notification_id)
        rule = self.rule(notification.rule_id, include_deleted=True)
        previous = self.deliveries(notification.id)
        targets = resend_targets(notification.id, previous, rule.channels, channels)
        tx = _Tx(self.service)
        tx.puts += self._cancel(
            lambda d: d.notification_id == notification.id and d.channel_id in targets,
            "superseded by a resend",
        )
        rounds = 1 + max((d.replay for d in previous), default=0)
        created = self._new_deliveries(notification, targets, rounds)
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
        ids = self._notifications_of(ref)
        if not ids:
            raise InvalidValue(f"invoice event {ref} was not sent to any channel (no rule wanted it)")
        return [d for notification_id in ids for d in self.resend(notification_id)]
