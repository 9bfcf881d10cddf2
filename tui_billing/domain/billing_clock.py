"""What falls due as the simulated clock moves: invoice waits and subscription periods.

Two rules of the clock, kept apart from the service that applies them:

* ``DueQueue``: which invoice wait or subscription period falls due next. An invoice
  waits on time in two states only (``draft.waiting_for_collection`` until its
  ``collection_at``, ``draft.waiting_auto_approval`` until its ``draft_until``); a
  subscription falls due at the end of its current period.
* ``next_period``: the period a subscription bills after the one that just ended, counted
  in calendar months from its start (so a subscription started on the 31st bills to the
  28th of February and back to the 31st of March).
"""

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .durations import add_months
from .status import Status


class DueKind(StrEnum):
    INVOICE = "invoice"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True)
class Due:
    """An invoice (its id) or a subscription (its id) that falls due at ``moment``."""

    moment: datetime
    kind: DueKind
    key: str


def wait_until(status: Status | str, collection_at: Any, draft_until: Any) -> datetime | None:
    """When an invoice in ``status`` stops waiting on time (None: it does not wait on time).
    The times may be datetimes or ISO 8601 texts (as list rows hold them)."""
    moment = {
        Status.DRAFT_WAITING_FOR_COLLECTION.value: collection_at,
        Status.DRAFT_WAITING_AUTO_APPROVAL.value: draft_until,
    }.get(status.value if isinstance(status, Status) else status)
    if moment is None:
        return None
    return moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)


class DueQueue:
    """Invoice waits and subscription periods, soonest first.

    Ties at one moment are taken in the order (size of the queue when pushed, kind, key):
    the order the clock has always used, so a workspace advanced before and after this
    module was written gets the same ids and numbers."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, str, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: Due) -> None:
        heapq.heappush(self._heap, (due.moment, len(self._heap), due.kind.value, due.key))

    def push_invoice(
        self, invoice_id: str, status: Status | str, collection_at: Any, draft_until: Any
    ) -> None:
        """Queue the invoice's time-based wait, if it has one now (see ``wait_until``)."""
        moment = wait_until(status, collection_at, draft_until)
        if moment is not None:
            self.push(Due(moment, DueKind.INVOICE, invoice_id))

    def push_subscription(self, subscription_id: str, period_end: datetime) -> None:
        self.push(Due(period_end, DueKind.SUBSCRIPTION, subscription_id))

    def pop_until(self, end: datetime) -> Due | None:
        """The soonest item due at or before ``end``, taken off the queue (None: nothing)."""
        if not self._heap or self._heap[0][0] > end:
            return None
        moment, _, kind, key = heapq.heappop(self._heap)
        return Due(moment, DueKind(kind), key)


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from ``start``'s month to ``end``'s (days ignored)."""
    return (end.year - start.year) * 12 + end.month - start.month


def next_period(started_at: datetime, period_end: datetime) -> tuple[datetime, datetime]:
    """The billing period after the one ending at ``period_end`` of a monthly subscription
    started at ``started_at``: it starts where the last ended and ends a calendar month
    later, counted from the start so that short months do not shift later periods."""
    return period_end, add_months(started_at, months_between(started_at, period_end) + 1)


@dataclass
class ClockReport:
    """What a clock advance did: the invoices it created and those it advanced, by id."""

    start: datetime
    end: datetime
    created: list[str] = field(default_factory=list)
    advanced: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClockProgress:
    """How far a clock advance has got: the simulated time ``reached`` between ``start``
    and ``end``, and the invoices created and advanced so far (nothing is committed yet)."""

    start: datetime
    end: datetime
    reached: datetime
    created: int
    advanced: int

    @property
    def fraction(self) -> float:
        """The share of the simulated time covered, 0 to 1."""
        return (self.reached - self.start) / (self.end - self.start)
