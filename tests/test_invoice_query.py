"""The invoice list's query over summaries: OpenMeter's filter, order and paging rules."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tui_billing.domain.invoice_query import InvoiceQuery, TimeRange, select

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def row(
    n: int,
    status: str,
    *,
    customer: str = "C1",
    issued: int | None = None,
    deleted: bool = False,
    name: str = "Acme",
) -> dict[str, Any]:
    def at(days: int | None) -> str | None:
        return None if days is None else (T0 + timedelta(days=days)).isoformat()

    return {
        "id": f"I{n}",
        "status": status,
        "customer_id": customer,
        "customer_name": name,
        "created_at": at(n),
        "updated_at": at(n),
        "period_start": at(n - 30),
        "issued_at": at(issued),
        "deleted_at": at(n) if deleted else None,
    }


ROWS = [
    row(1, "paid", issued=1, name="Zeta"),
    row(2, "draft.syncing", customer="C2", name="Beta"),
    row(3, "draft.invalid"),
    row(4, "deleted", deleted=True),
    row(5, "issued", customer="C2", issued=5, name="Beta"),
    row(6, "payment_processing.pending", issued=6, name="Alpha"),
]


def ids(query: InvoiceQuery) -> list[str]:
    return [r["id"] for r in select(ROWS, query).rows]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (InvoiceQuery(), ["I1", "I2", "I3", "I5", "I6"]),
        (InvoiceQuery(include_deleted=True), ["I1", "I2", "I3", "I4", "I5", "I6"]),
        (InvoiceQuery(statuses=frozenset({"draft"})), ["I2", "I3"]),
        (InvoiceQuery(statuses=frozenset({"issued", "paid"})), ["I1", "I5"]),
        (
            InvoiceQuery(extended_statuses=frozenset({"draft.invalid", "deleted"}), include_deleted=True),
            ["I3", "I4"],
        ),
        (InvoiceQuery(customers=frozenset({"C2"})), ["I2", "I5"]),
        (InvoiceQuery(customers=frozenset({"nobody"})), []),
        (InvoiceQuery(created=TimeRange(T0 + timedelta(days=2), T0 + timedelta(days=5))), ["I2", "I3", "I5"]),
        (
            InvoiceQuery(
                created=TimeRange(
                    T0 + timedelta(days=2),
                    T0 + timedelta(days=5),
                    after_inclusive=False,
                    before_inclusive=False,
                )
            ),
            ["I3"],
        ),
        (InvoiceQuery(issued=TimeRange(before=T0 + timedelta(days=5))), ["I1", "I5"]),
        (InvoiceQuery(period_start=TimeRange(after=T0 - timedelta(days=25))), ["I5", "I6"]),
        (InvoiceQuery(descending=True), ["I6", "I5", "I3", "I2", "I1"]),
        (InvoiceQuery(order_by="issuedAt"), ["I1", "I5", "I6", "I2", "I3"]),
        (InvoiceQuery(order_by="issuedAt", descending=True), ["I2", "I3", "I6", "I5", "I1"]),
        (InvoiceQuery(order_by="customer.name"), ["I3", "I6", "I2", "I5", "I1"]),
        (InvoiceQuery(order_by="status"), ["I3", "I2", "I5", "I1", "I6"]),
        (InvoiceQuery(page=2, page_size=2), ["I3", "I5"]),
        (InvoiceQuery(page=9, page_size=2), []),
    ],
)
def test_select(query: InvoiceQuery, expected: list[str]) -> None:
    assert ids(query) == expected


def test_total_counts_every_match_not_the_page() -> None:
    page = select(ROWS, InvoiceQuery(page=2, page_size=2))
    assert (page.total, len(page.rows)) == (5, 2)


def test_rows_without_newer_summary_fields_still_list() -> None:
    """Summaries written before created/period/deleted were stored: listed, never matched by
    a filter on the missing time."""
    old = [
        {k: v for k, v in r.items() if k not in ("created_at", "period_start", "deleted_at")} for r in ROWS
    ]
    assert len(select(old, InvoiceQuery(include_deleted=True)).rows) == 6
    assert select(old, InvoiceQuery(created=TimeRange(after=T0))).total == 0


def test_service_reads_old_summaries_from_their_documents(
    demo_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace written before the summary held created/period/deleted lists the same."""
    expected = demo_service.invoice_page(InvoiceQuery())
    rows = demo_service.invoice_rows()
    old = [
        {k: v for k, v in r.items() if k not in ("created_at", "period_start", "deleted_at")} for r in rows
    ]
    monkeypatch.setattr(demo_service, "invoice_rows", lambda: old)
    total, invoices = demo_service.invoice_page(InvoiceQuery())
    assert (total, [i.id for i in invoices]) == (expected[0], [i.id for i in expected[1]])
    assert total < len(rows)  # the deleted one is still hidden
