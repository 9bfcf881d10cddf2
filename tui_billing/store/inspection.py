"""Look at a workspace with TinyDB's own query API, read-only.

    from tinydb import Query, TinyDB
    from tui_billing.store.inspection import WorkspaceStorage

    db = TinyDB("workspace.db", storage=WorkspaceStorage)
    paid = db.table("invoices").search(Query().status == "paid")

The storage reads a copy of the workspace taken when it is opened, so it never takes the
workspace's lock: it works beside a running dashboard or server and can never change the
workspace. Every row is shown as the application knows it: an invoice is its whole
document, an event has its ``data`` (the webhook body or InvoiceGenerated payload).
"""

import shutil
import tempfile
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from .journal import StoreError
from .repository import TABLES, Repository, payloads_path, real_path


class WorkspaceStorage(Storage):
    """A TinyDB storage over a snapshot of a tui-billing workspace; writing is refused."""

    def __init__(self, path: str | Path) -> None:
        self.path = real_path(path)
        self._tables = _snapshot_tables(self.path)

    def read(self) -> dict[str, dict[str, Any]]:
        return self._tables

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        raise StoreError(f"{self.path} is open for inspection only: change it with tui-billing's commands")

    def close(self) -> None:
        self._tables = {}


def copy_workspace(path: Path, directory: Path) -> Path:
    """Copy the workspace at ``path`` (and its payloads) into ``directory``, without its
    lock: a consistent snapshot even while another process writes it. Returns the copy."""
    if not path.is_file():
        raise StoreError(f"no workspace at {path}")
    copy = directory / path.name
    # The workspace first, then its payloads: payloads are written before the journal
    # records that point at them, so every record copied finds its payload.
    shutil.copyfile(path, copy)
    if payloads_path(path).exists():
        shutil.copyfile(payloads_path(path), payloads_path(copy))
    return copy


def _snapshot_tables(path: Path) -> dict[str, dict[str, Any]]:
    """Every table of the workspace at ``path``, decoded, keyed by TinyDB document ids."""
    with tempfile.TemporaryDirectory(prefix="tui-billing-inspect-") as scratch:
        repository = Repository.open(copy_workspace(path, Path(scratch)))
        try:
            return {
                name: {
                    str(number): repository.decode(name, row)
                    for number, row in enumerate(repository.rows(name), start=1)
                }
                for name in TABLES
            }
        finally:
            repository.close()
