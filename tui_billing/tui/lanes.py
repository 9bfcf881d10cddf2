"""The lifecycle panes: which short statuses each pane groups (DOMAIN.md §2)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Lane:
    key: str
    title: str
    shorts: frozenset[str]


LANES: tuple[Lane, ...] = (
    Lane("draft", "Draft", frozenset({"draft"})),
    Lane("issuing", "Issuing", frozenset({"issuing"})),
    Lane("awaiting", "Awaiting payment", frozenset({"issued", "payment_processing"})),
    Lane("overdue", "Overdue", frozenset({"overdue"})),
    Lane("paid", "Paid", frozenset({"paid"})),
    Lane("closed", "Closed", frozenset({"uncollectible", "voided", "deleted", "delete"})),
)


def lane_of(status: str) -> Lane:
    short = status.split(".", 1)[0]
    return next(lane for lane in LANES if short in lane.shorts)
