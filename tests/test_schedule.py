"""collection_at, draft_until and due_at (docs/time.md; OpenMeter's invoicecalc)."""

from datetime import datetime, timedelta

import pytest
from conftest import FIXED_CLOCK
from test_lifecycle import make_invoice

from tui_billing.domain.models import Workflow
from tui_billing.domain.schedule import schedule
from tui_billing.domain.status import Status

NOW = FIXED_CLOCK
DAY = timedelta(days=1)

# (case, workflow, issued_at, expected draft_until, expected due_at); flat lines only, so
# collection_at is unset and the draft period starts at creation.
CASES: list[tuple[str, Workflow, datetime | None, datetime | None, datetime | None]] = [
    ("auto-no-draft-period", Workflow(), None, NOW, NOW + 30 * DAY),
    ("auto-draft-period", Workflow(draft_period="P3D"), None, NOW + 3 * DAY, NOW + 33 * DAY),
    (
        "auto-issued-late-keeps-due",
        Workflow(draft_period="P3D"),
        NOW + 9 * DAY,
        NOW + 3 * DAY,
        NOW + 33 * DAY,
    ),
    ("manual-not-issued", Workflow(auto_advance=False), None, None, None),
    ("manual-issued", Workflow(auto_advance=False, due_after="P14D"), NOW + 2 * DAY, None, NOW + 16 * DAY),
]


@pytest.mark.parametrize(
    ("workflow", "issued_at", "draft_until", "due_at"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_schedule(
    workflow: Workflow, issued_at: datetime | None, draft_until: datetime | None, due_at: datetime | None
) -> None:
    invoice = make_invoice(Status.DRAFT_CREATED, lines=False, workflow=workflow, issued_at=issued_at)
    schedule(invoice)
    assert (invoice.collection_at, invoice.draft_until, invoice.due_at) == (None, draft_until, due_at)
