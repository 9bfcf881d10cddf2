"""The read-only TinyDB view of a workspace (README: "Looking at a workspace with TinyDB")."""

from pathlib import Path

import pytest
from tinydb import Query, TinyDB

from tui_billing.domain.errors import WorkspaceUnusable
from tui_billing.service import Service
from tui_billing.store.inspection import WorkspaceStorage


def test_tinydb_queries_see_what_the_service_sees(demo_service: Service) -> None:
    """Opened beside the running service (no lock taken), every invoice and event is there,
    decoded: whole invoice documents, events with their data."""
    path = demo_service.repository.path
    db = TinyDB(path, storage=WorkspaceStorage)
    invoices = db.table("invoices")
    assert len(invoices) == len(demo_service.invoices())
    paid = invoices.search(Query().status == "paid")
    assert [doc["id"] for doc in paid] == [i.id for i in demo_service.invoices() if i.status.value == "paid"]
    assert all("lines" in doc for doc in paid)
    events = db.table("events").search(Query().type == "invoice.created")
    assert len(events) == sum(1 for row in demo_service.event_rows() if row["type"] == "invoice.created")
    assert all(event["data"]["id"] == event["invoice_id"] for event in events)


def test_the_view_is_read_only(demo_service: Service) -> None:
    db = TinyDB(demo_service.repository.path, storage=WorkspaceStorage)
    with pytest.raises(WorkspaceUnusable, match="inspection only"):
        db.table("invoices").insert({"id": "x"})


def test_no_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceUnusable, match="no workspace"):
        TinyDB(tmp_path / "missing.db", storage=WorkspaceStorage)
