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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
        moment = datetime.fromisoformat(stamp)
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
        status = row["status"]
        return (
            (self.include_deleted or row.get("deleted_at") is None)
            and (not self.customers or row["customer_id"] in self.customers)
            and (not self.statuses or any(status.startswith(s) for s in self.statuses))
            and (not self.extended_statuses or status in self.extended_statuses)
            and self.issued.admits(row.get("issued_at"))
            and self.period_start.admits(row.get("period_start"))
            and self.created.admits(row.get("created_at"))
        )


@dataclass(frozen=True)
class InvoicePage:
    total: int
    rows: Sequence[Summary]


def _sort_key(field: str) -> Callable[[Summary], tuple[bool, Any]]:
    timed = field.endswith("_at") or field == "period_start"

    def key(row: Summary) -> tuple[bool, Any]:
        value = row.get(field)
        if value is None:
            return (True, 0)  # last going up, first going down (the sort is reversed)
        return (False, datetime.fromisoformat(value) if timed else value)

    return key


def select(rows: Iterable[Summary], query: InvoiceQuery) -> InvoicePage:
    """The page of ``rows`` (in creation order) the query asks for, and how many match."""
    matching = [row for row in rows if query.admits(row)]
    # A stable sort: ties keep creation order, both ways.
    matching.sort(key=_sort_key(ORDER_FIELDS[query.order_by]), reverse=query.descending)
    start = (query.page - 1) * query.page_size
    return InvoicePage(len(matching), matching[start : start + query.page_size])
