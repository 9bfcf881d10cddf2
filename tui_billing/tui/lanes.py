"""The lifecycle panes: which short statuses each pane groups (docs/lifecycle.md)."""

from dataclasses import dataclass

from ..domain.status import RESTING


@dataclass(frozen=True)
class Lane:
    key: str
    title: str
    shorts: frozenset[str]
    prefix: str = ""
    """What the pane's list leaves out of a status (the pane's title says it already);
    the Closed pane keeps ``delete.`` so that ``delete.failed`` never reads ``failed``."""


LANES: tuple[Lane, ...] = (
    Lane("draft", "Draft", frozenset({"draft"}), "draft."),
    Lane("issuing", "Issuing", frozenset({"issuing"}), "issuing."),
    Lane("awaiting", "Awaiting payment", frozenset({"issued", "payment_processing"}), "payment_processing."),
    Lane("overdue", "Overdue", frozenset({"overdue"})),
    Lane("paid", "Paid", frozenset({"paid"})),
    Lane("closed", "Closed", frozenset({"uncollectible", "voided", "deleted", "delete"})),
)


_BY_SHORT = {short: lane for lane in LANES for short in lane.shorts}


def lane_of(status: str) -> Lane:
    """The lane of an (extended) status; a dict lookup, as it runs for every invoice."""
    return _BY_SHORT[status.split(".", 1)[0]]


def list_label(status: str) -> str:
    """How a pane's list shows ``status``: without the prefix its pane's title implies."""
    return status.removeprefix(lane_of(status).prefix)


def resting_in(lane: Lane) -> list[str]:
    """The states an invoice can rest in within ``lane``, in lifecycle order."""
    return [status.value for status in RESTING if lane_of(status.value) is lane]
