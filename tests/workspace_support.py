"""What the tests compare to prove that a refused command changed nothing."""

import json
from pathlib import Path

from tui_billing.service import Service
from tui_billing.store.repository import TABLES


def workspace_files(path: Path) -> dict[str, bytes | None]:
    """The bytes of the workspace and its payload file (None: absent)."""
    payloads = path.with_name(path.name + ".payloads")
    return {p.name: p.read_bytes() if p.is_file() else None for p in (path, payloads)}


def workspace_state(service: Service) -> str:
    """Everything a command could change: every table's rows and the files on disk."""
    tables = {name: service.repository.rows(name) for name in TABLES}
    return json.dumps(tables, sort_keys=True, default=str) + repr(
        workspace_files(Path(service.repository.path))
    )
