"""The clock's rules as pure functions: the due queue and subscription periods."""

from datetime import UTC, datetime, timedelta

import pytest

from tui_billing.domain.billing_clock import (
    Due,
    DueKind,
    DueQueue,
    months_between,
    next_period,
    wait_until,
)
from tui_billing.domain.status import Status

T0 = datetime(2026, 1, 31, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.DRAFT_WAITING_FOR_COLLECTION, T0),
        (Status.DRAFT_WAITING_AUTO_APPROVAL, T0 + HOUR),
        (Status.DRAFT_MANUAL_APPROVAL_NEEDED, None),
        (Status.PAID, None),
    ],
)
def test_an_invoice_waits_on_time_in_two_states_only(status: Status, expected: datetime | None) -> None:
    assert wait_until(status, T0, T0 + HOUR) == expected
    assert wait_until(status.value, T0, T0 + HOUR) == expected


def test_wait_times_may_be_iso_texts_as_list_rows_hold_them() -> None:
    assert wait_until("draft.waiting_for_collection", T0.isoformat(), None) == T0
    assert wait_until("draft.waiting_auto_approval", None, None) is None


def test_the_queue_gives_the_soonest_first_and_nothing_after_the_end() -> None:
    queue = DueQueue()
    queue.push_subscription("sub-late", T0 + 2 * HOUR)
    queue.push_invoice("inv-early", Status.DRAFT_WAITING_AUTO_APPROVAL, None, T0)
    queue.push_invoice("inv-none", Status.PAID, T0, T0)  # waits on nothing: not queued
    assert len(queue) == 2
    assert queue.pop_until(T0 + HOUR) == Due(T0, DueKind.INVOICE, "inv-early")
    assert queue.pop_until(T0 + HOUR) is None
    assert len(queue) == 1
    assert queue.pop_until(T0 + 2 * HOUR) == Due(T0 + 2 * HOUR, DueKind.SUBSCRIPTION, "sub-late")
    assert queue.pop_until(T0 + 9 * HOUR) is None


def test_ties_at_one_moment_go_by_queue_size_when_pushed_then_kind_then_key() -> None:
    queue = DueQueue()
    for key in ("c", "a", "b"):
        queue.push_subscription(key, T0)
    assert [queue.pop_until(T0) for _ in range(2)] == [
        Due(T0, DueKind.SUBSCRIPTION, "c"),
        Due(T0, DueKind.SUBSCRIPTION, "a"),
    ]
    # "b" was pushed when the queue held 2; "z" now is too (one left): kind decides, then key.
    queue.push_invoice("z", Status.DRAFT_WAITING_FOR_COLLECTION, T0, None)
    queue.push_subscription("y", T0)  # pushed at size 2 as well
    assert [queue.pop_until(T0) for _ in range(3)] == [
        Due(T0, DueKind.INVOICE, "z"),
        Due(T0, DueKind.SUBSCRIPTION, "b"),
        Due(T0, DueKind.SUBSCRIPTION, "y"),
    ]


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (T0, T0, 0),
        (T0, datetime(2026, 2, 1, tzinfo=UTC), 1),
        (T0, datetime(2027, 1, 1, tzinfo=UTC), 12),
        (datetime(2025, 12, 15, tzinfo=UTC), datetime(2026, 1, 14, tzinfo=UTC), 1),
    ],
)
def test_months_between_counts_calendar_months(start: datetime, end: datetime, months: int) -> None:
    assert months_between(start, end) == months


def test_periods_count_from_the_start_so_short_months_do_not_shift_them() -> None:
    started = T0  # the 31st
    ends = []
    period_end = datetime(2026, 2, 28, 9, tzinfo=UTC)
    for _ in range(3):
        period_start, period_end = next_period(started, period_end)
        ends.append(period_end)
    assert ends == [
        datetime(2026, 3, 31, 9, tzinfo=UTC),
        datetime(2026, 4, 30, 9, tzinfo=UTC),
        datetime(2026, 5, 31, 9, tzinfo=UTC),
    ]
    assert period_start == datetime(2026, 4, 30, 9, tzinfo=UTC)


def test_a_period_crosses_the_year() -> None:
    started = datetime(2025, 12, 1, tzinfo=UTC)
    assert next_period(started, datetime(2026, 1, 1, tzinfo=UTC)) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    )
