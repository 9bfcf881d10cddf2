"""The demo scenario builds and holds an invoice in every resting state."""

from tui_billing.domain.status import RESTING


def test_demo_has_every_resting_state(demo_service):
    statuses = {row["status"] for row in demo_service.invoice_rows()}
    assert statuses == {s.value for s in RESTING}
