"""A clock advance writes its events' data to the payload file at each progress report,
its one journal record at the end (``Repository.write_payloads``): an advance stopped
part way or refused leaves only unreferenced bytes, and what is committed later reads
back the same."""

from pathlib import Path

import pytest
from conftest import FIXED_CLOCK, SEED

from tui_billing.domain.errors import Conflict
from tui_billing.service import Service
from tui_billing.service.commands import AdvanceClock, SetHooks
from tui_billing.store.journal import dumps
from tui_billing.store.repository import payloads_path


def _log(path: Path) -> list[tuple[str, str, bytes]]:
    """Every event of the workspace, read afresh: its id, type and data as stored JSON."""
    service = Service.open(path)
    try:
        return [(event.id, event.type, dumps(event.data)) for event in service.events()]
    finally:
        service.close()


def test_an_advance_stopped_part_way_changes_nothing_and_later_advances_read_back_the_same(
    tmp_path: Path,
) -> None:
    stopped, twin = tmp_path / "stopped.db", tmp_path / "twin.db"
    for path in (stopped, twin):
        Service.create(path, seed=SEED, now=FIXED_CLOCK, customers=6).close()
    service = Service.open(stopped)
    try:
        steps = service.execute_in_steps(AdvanceClock("2mo"), every=1)
        for _ in range(8):
            next(steps)
        steps.close()  # esc in the dashboard
        assert payloads_path(stopped).stat().st_size > 0  # written, referenced by nothing
        assert service.events() == []
        assert service.now() == FIXED_CLOCK
        # The same invoices again, with the same ids: their payloads are spliced against
        # the stopped advance's, which this commit makes durable with its own.
        service.execute(AdvanceClock("2mo"))
    finally:
        service.close()
    other = Service.open(twin)
    try:
        other.execute(AdvanceClock("2mo"))
    finally:
        other.close()
    log = _log(stopped)
    assert log and log == _log(twin)


def test_an_advance_refused_at_its_commit_leaves_its_data_unreferenced(tmp_path: Path) -> None:
    path = tmp_path / "workspace.db"
    Service.create(path, seed=SEED, now=FIXED_CLOCK, customers=3).close()
    service = Service.open(path)
    try:
        steps = service.execute_in_steps(AdvanceClock("1mo"), every=1)
        next(steps)
        service.execute(SetHooks(draft=True, issuing=False))  # another command meanwhile
        with pytest.raises(Conflict):
            for _ in steps:
                pass
        assert service.events() == []
        service.execute(AdvanceClock("1mo"))
        committed = [(event.id, dumps(event.data)) for event in service.events()]
    finally:
        service.close()
    assert committed and [(event_id, data) for event_id, _, data in _log(path)] == committed
