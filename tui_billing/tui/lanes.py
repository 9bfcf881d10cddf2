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


_BY_SHORT = {short: lane for lane in LANES for short in lane.shorts}


def lane_of(status: str) -> Lane:
    """The lane of an (extended) status; a dict lookup, as it runs for every invoice."""
    return _BY_SHORT[status.split(".", 1)[0]]
