"""The service's remembered reads: the workspace and the app it validated (or a command
just committed) are what validating the stored documents afresh gives, after every
command, a refused one included; an invoice validated from its stored JSON text is the
invoice validated from the parsed document, stored as the text of its dump."""

import json
from pathlib import Path
from typing import Any

import pytest
from workspace_support import workout

from tui_billing.domain.models import App, Invoice, Workspace
from tui_billing.service import Service, scenario
from tui_billing.service.commands import (
    Command,
    CreateInvoice,
    SetHooks,
)
from tui_billing.store.journal import StoreError, dumps


def _fresh(service: Service) -> tuple[Workspace, App]:
    """The workspace and the app validated afresh from what is stored."""
    return (
        Workspace.model_validate(service.repository.get("meta", "workspace")),
        App.model_validate(service.repository.rows("app")[0]),
    )


def _assert_reads_are_stored(service: Service) -> None:
    workspace, app = _fresh(service)
    assert service.workspace() == workspace
    assert service.workspace().model_dump_json() == workspace.model_dump_json()
    assert service.app() == app
    assert service.app().model_dump_json() == app.model_dump_json()


def test_every_read_after_a_command_equals_the_stored_documents_validated_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the demo is built, a quarter is billed, the app, hooks, workflow and settings
    change, and every possible command and every refused one runs on every invoice, the
    reads after each command are the stored documents validated afresh, and so is each
    invoice read from its JSON text."""
    execute, checked = Service.execute, []

    def checking(service: Service, command: Command) -> Any:
        service.workspace(), service.app()  # read before: a command must not change them
        try:
            return execute(service, command)
        finally:
            _assert_reads_are_stored(service)
            checked.append(command)

    monkeypatch.setattr(Service, "execute", checking)
    service = scenario.build(tmp_path / "w.db", scenario.load(scenario.bundled("demo")))
    try:
        workout(service)
        for row in service.invoice_rows():
            text = service.repository.invoice_json(row)
            from_text, parsed = service.invoice_of(row), Invoice.model_validate(json.loads(text))
            assert from_text == parsed
            assert from_text.model_dump_json() == parsed.model_dump_json()
            # stored as pydantic writes it: the text the store's JSON of its dump would be
            assert text == dumps(parsed.model_dump(mode="json"))
    finally:
        service.close()
    assert len(checked) > 300


def test_a_command_that_leaves_the_app_keeps_its_read_and_writes_no_app(tmp_path: Path) -> None:
    """The app is validated once until a command changes it: commands that only read it
    (every callback) leave the app's table, and its read, as they were."""
    service = scenario.build(tmp_path / "w.db", scenario.load(scenario.bundled("demo")))
    try:
        app, version = service.app(), service.repository.version("app")
        service.execute(CreateInvoice(service.customers()[0].key))
        assert service.app() is app and service.repository.version("app") == version
        changed = service.execute(SetHooks(draft=not app.enable_draft_sync_hook))
        assert changed is not app and app.enable_draft_sync_hook != changed.enable_draft_sync_hook
        assert service.app() is changed and service.repository.version("app") > version
        _assert_reads_are_stored(service)
    finally:
        service.close()


def test_a_damaged_invoice_row_is_still_named(tmp_path: Path) -> None:
    """Reading an invoice from its text fails as reading it parsed did."""
    service = scenario.build(tmp_path / "w.db", scenario.load(scenario.bundled("demo")))
    try:
        row = dict(service.invoice_rows()[0])
        for damage in ("not base64!", None):
            row["z"] = damage
            with pytest.raises(StoreError, match="cannot be decoded"):
                service.invoice_of(row)
    finally:
        service.close()
