"""Listing invoices: OpenMeter's list filters, ordering and paging over invoice summaries.

A pure function of the summaries (``Invoice.summary``, stored beside each packed
document), so a filtered list reads no invoice document: only the page it returns is
rendered. The semantics are those of OpenMeter's invoice list:

* ``statuses`` match the extended status by prefix (``draft`` is every ``draft.*``),
  ``extendedStatuses`` exactly; ``customers`` by customer id;
* the time filters are inclusive (``…After`` is ≥, ``…Before`` is ≤); an invoice without
  the time (never issued) never matches a filter on it;
* deleted invoices (any with a ``deletedAt``) are left out unless ``include_deleted``;
* ordered by ``order_by`` (created time by default), ascending unless told; empty values
  sort last going up and first going down, as in PostgreSQL; ties stay in creation order.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Literal

OrderBy = Literal["customer.name", "issuedAt", "status", "createdAt", "updatedAt", "periodStart"]
ORDER_FIELDS: dict[str, str] = {
    "customer.name": "customer_name",
    "issuedAt": "issued_at",
    "status": "status",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "periodStart": "period_start",
}
"""Each ``orderBy`` value and the summary field it sorts on."""
Summary = Mapping[str, Any]


@lru_cache(maxsize=1 << 14)
def _moment(stamp: str) -> datetime:
    """A summary's time stamp parsed (invoices share stamps: billed at the same moments)."""
    return datetime.fromisoformat(stamp)


@dataclass(frozen=True)
class TimeRange:
    """A range, inclusive unless told (v3's ``gt``/``lt``); either end may be open."""

    after: datetime | None = None
    before: datetime | None = None
    after_inclusive: bool = True
    before_inclusive: bool = True

    def admits(self, stamp: str | None) -> bool:
        if self.after is None and self.before is None:
            return True
        if stamp is None:
            return False
        moment = _moment(stamp)
        if self.after is not None and (
            moment < self.after or (moment == self.after and not self.after_inclusive)
        ):
            return False
        return (
            self.before is None or moment < self.before or (moment == self.before and self.before_inclusive)
        )


@dataclass(frozen=True)
class InvoiceQuery:
    customers: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    extended_statuses: frozenset[str] = frozenset()
    issued: TimeRange = TimeRange()
    period_start: TimeRange = TimeRange()
    created: TimeRange = TimeRange()
    include_deleted: bool = False
    order_by: OrderBy = "createdAt"
    descending: bool = False
    page: int = 1
    page_size: int = 100

    def admits(self, row: Summary) -> bool:
        return bool(self.keep([row]))

    def keep(self, rows: list[Summary]) -> list[Summary]:
        """The rows every filter given admits, in their order: one pass per filter (none for
        a filter left out), the most selective first, each over what the previous kept."""
        if self.customers:
            rows = [row for row in rows if row["customer_id"] in self.customers]
        if self.extended_statuses:
            rows = [row for row in rows if row["status"] in self.extended_statuses]
        if self.statuses:
            prefixes = tuple(self.statuses)
            rows = [row for row in rows if row["status"].startswith(prefixes)]
        if not self.include_deleted:
            rows = [row for row in rows if row.get("deleted_at") is None]
        for field, window in (
            ("issued_at", self.issued),
            ("period_start", self.period_start),
            ("created_at", self.created),
        ):
            if window != TimeRange():
                rows = [row for row in rows if window.admits(row.get(field))]
        return rows


@dataclass(frozen=True)
class InvoicePage:
    total: int
    rows: Sequence[Summary]


def _ordered(rows: list[Summary], field: str, descending: bool) -> list[Summary]:
    """``rows`` by ``field``; rows without it last going up, first going down. Stable both
    ways: ties keep creation order."""
    present = [row for row in rows if row.get(field) is not None]
    missing = [row for row in rows if row.get(field) is None] if len(present) < len(rows) else []
    timed = field.endswith("_at") or field == "period_start"
    present.sort(key=(lambda row: _moment(row[field])) if timed else itemgetter(field), reverse=descending)
    return missing + present if descending else present + missing


def select(rows: Iterable[Summary], query: InvoiceQuery) -> InvoicePage:
    """The page of ``rows`` (in creation order) the query asks for, and how many match."""
    matching = _ordered(query.keep(list(rows)), ORDER_FIELDS[query.order_by], query.descending)
    start = (query.page - 1) * query.page_size
    return InvoicePage(len(matching), matching[start : start + query.page_size])
