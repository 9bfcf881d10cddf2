"""The last certify run's report: the ``tui-billing certify --json`` document, saved by every
run (``save``) and read back by the dashboard's Certify screen (``load``).

Only the file's format is shared: the dashboard reads the document, it never loads the
certify package (which serves HTTP).
"""

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from ..domain.errors import InvalidValue


class Check(BaseModel):
    """One check of the run and how it ended."""

    name: str
    """``suite.check``"""
    suite: str
    check: str
    title: str
    status: Literal["passed", "failed", "skipped"]
    seconds: float
    message: str = ""
    """Why it failed, or why it was skipped."""
    evidence: list[str] = []
    production: str = ""
    """What OpenMeter does in production (the check's premise)."""
    why: str = ""
    """Why it matters to the partner."""


class Report(BaseModel):
    api: str
    """The URL the run served the API on."""
    partner_url: str = ""
    finished_at: datetime | None = None
    seed: int
    passed: bool
    checks: list[Check]

    def count(self, status: str) -> int:
        return sum(check.status == status for check in self.checks)


def save(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically (a private temporary file renamed over it): a
    reader sees the previous report or this one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: Path) -> Report | None:
    """The report saved at ``path``; None when no run saved one yet. A file that is not a
    certify report is refused in one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidValue(f"{path}: cannot read the certify report: {error}") from None
    try:
        return Report.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidValue(
            f"{path}: not a certify report ({where + ': ' if where else ''}{first['msg']})"
        ) from None
