"""Where the workspace lives, and opening it (creating the demo one on first start)."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platformdirs import user_data_path

from .service import Service, scenario

ENV_VAR = "TUI_BILLING_DB"
DEFAULT_SCENARIO = "demo"


def data_dir() -> Path:
    """The user data dir: the default workspace and the last certify report live there."""
    return user_data_path("tui-billing", appauthor=False)


def default_path() -> Path:
    return data_dir() / "workspace.db"


def certify_report_path() -> Path:
    """Where every ``tui-billing certify`` run saves its report (the ``--json`` document);
    the dashboard's Certify screen reads it."""
    return data_dir() / "certify" / "last.json"


def resolve(explicit: str | None) -> tuple[Path, bool]:
    """The workspace path (``--db``, else ``$TUI_BILLING_DB``, else the user data dir) and
    whether it was chosen by the user."""
    if explicit:
        return Path(explicit).expanduser(), True
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), True
    return default_path(), False


def open_service(path: Path, *, create_demo: bool) -> Service:
    """Open the workspace; when it does not exist yet and ``create_demo``, build the demo."""
    if create_demo and not path.exists():
        return scenario.build(path, scenario.load(scenario.bundled(DEFAULT_SCENARIO)))
    return Service.open(path)


@contextmanager
def opened(explicit: str | None, *, create_demo: bool = False, read_only: bool = False) -> Iterator[Service]:
    """The service on the workspace ``resolve`` picks (the demo one when none was chosen
    and none exists yet), closed on exit; what opening tolerated is printed to stderr.
    ``read_only``: a command that only reads, so a workspace another process holds is read
    from a copy taken now (said on stderr) instead of refused."""
    path, chosen = resolve(explicit)
    if read_only and path.exists():
        service = Service.open_for_reading(path)
    else:
        service = open_service(path, create_demo=create_demo or not chosen)
    try:
        if service.snapshot_of is not None:
            print(
                f"tui-billing: note: {service.snapshot_of} is open in another tui-billing process; "
                "showing it as of now",
                file=sys.stderr,
            )
        else:
            for notice in service.notices:
                print(f"tui-billing: note: {notice}", file=sys.stderr)
        yield service
    finally:
        service.close()
