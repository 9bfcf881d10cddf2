"""The workspace store: journal framing, torn tails, corruption, foreign files, the lock,
compaction and lazy tables. Every refusal leaves the files byte-identical."""

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXED_CLOCK, SEED
from tinydb import TinyDB
from workspace_support import workspace_files as files

from tui_billing.domain.ids import is_ulid
from tui_billing.domain.linespec import FlatFee
from tui_billing.service import Service
from tui_billing.service.commands import (
    AdvanceClock,
    Collect,
    CreateInvoice,
    DraftSynchronized,
    PaymentStatus,
    SetHooks,
)
from tui_billing.store import journal as journal_module
from tui_billing.store import payloads as payloads_module
from tui_billing.store import repository as repository_module
from tui_billing.store.journal import SCHEMA_VERSION, UPGRADABLE_VERSIONS, StoreError
from tui_billing.store.repository import TABLES, Delete, Put, Repository


# --- helpers ---------------------------------------------------------------------------------
def payloads_of(path: Path) -> Path:
    return path.with_name(path.name + ".payloads")


def state(service: Service) -> dict[str, Any]:
    """Everything the workspace holds: every table's rows and every event's data."""
    repository = service.repository
    tables = {name: repository.rows(name) for name in TABLES}
    data = [repository.decode("events", row)["data"] for row in tables["events"]]
    return json.loads(json.dumps({"tables": tables, "event_data": data}))


def journal_lines(path: Path) -> tuple[int, list[bytes]]:
    """The number of snapshot lines and all lines of the file (without newlines)."""
    lines = path.read_bytes().split(b"\n")
    assert lines.pop() == b"", "a workspace file ends with a newline"
    return len(json.loads(lines[0])["tables"]), lines


def work(service: Service, rounds: int = 3) -> None:
    """A mix of commands: creations, payments, hook toggles and clock moves."""
    keys = [customer.key for customer in service.customers()]
    service.execute(SetHooks(draft=False, issuing=False))
    for index in range(rounds):
        invoice = service.execute(CreateInvoice(keys[index % len(keys)]))
        flat = service.execute(
            CreateInvoice(keys[(index + 1) % len(keys)], [FlatFee("Setup", Decimal("99.00"))])
        )
        service.execute(PaymentStatus(flat.id, "paid" if index % 2 else "payment_overdue"))
        service.execute(Collect(invoice.id))
        service.execute(SetHooks(draft=True))
        service.execute(SetHooks(draft=False))
        service.execute(AdvanceClock("1d"))


@pytest.fixture
def built(workspace_path: Path) -> Path:
    """A closed workspace whose journal holds a few dozen commands after its snapshot."""
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    work(service)
    service.close()
    return workspace_path


def reopen_state(path: Path) -> dict[str, Any]:
    service = Service.open(path)
    try:
        return state(service)
    finally:
        service.close()


# --- round trips -------------------------------------------------------------------------------
def test_reopen_equals_before_close(demo_service: Service, workspace_path: Path) -> None:
    work(demo_service)
    before = state(demo_service)
    demo_service.close()
    assert reopen_state(workspace_path) == before


def test_journal_ops_on_unparsed_tables_apply_when_parsed(built: Path) -> None:
    service = Service.open(built)
    try:
        created = service.execute(CreateInvoice(service.customers()[0].key))  # events not parsed yet
        events = service.event_rows(created.id)
        assert [row["type"] for row in events][-1] == "invoice.created"
        assert service.event(events[-1]).data["id"] == created.id
    finally:
        service.close()


def test_closing_twice_is_harmless_and_a_closed_workspace_refuses_writes(built: Path) -> None:
    service = Service.open(built)
    service.close()
    service.close()
    with pytest.raises(StoreError, match="closed"):
        service.execute(SetHooks(draft=True))
    reopened = Service.open(built)  # the lock was released once, not stolen twice
    reopened.close()


# --- torn tails --------------------------------------------------------------------------------
def _torn_tails(path: Path) -> dict[str, bytes]:
    _, lines = journal_lines(path)
    last = lines[-1]
    return {
        "unterminated record": last[: len(last) // 2],
        "zeros": b"\0" * 300,
        "lone checksum": last[:5],
    }


@pytest.mark.parametrize("kind", ["unterminated record", "lone checksum"])
def test_torn_tail_is_ignored_then_cut_before_the_next_append(built: Path, kind: str) -> None:
    expected = reopen_state(built)
    intact = built.read_bytes()
    tail = _torn_tails(built)[kind]
    torn = intact + tail
    built.write_bytes(torn)

    service = Service.open(built)
    assert service.repository.notices == [
        f"{built} ended in a torn record ({len(tail)} bytes of a command that was interrupted "
        "before it was acknowledged); it was ignored and is cut off at the next change"
    ]
    assert state(service) == expected
    assert built.read_bytes() == torn, "reading alone leaves the file as it is"
    service.execute(SetHooks(issuing=True))
    expected_after = state(service)
    service.close()

    data = built.read_bytes()
    assert data.startswith(intact) and data.endswith(b"\n")
    assert len(data.split(b"\n")) == len(intact.split(b"\n")) + 1, "one new record, torn bytes gone"
    assert reopen_state(built) == expected_after


@pytest.mark.parametrize("before", ["", "unterminated record"])
def test_zeros_after_the_records_are_room_for_the_next_ones(built: Path, before: str) -> None:
    """Zeros after the last record (a large file keeps some, see ``PAD_BYTES``) are not
    a torn record: the next record is written over them. Bytes of an interrupted record
    before them are torn: cut off, zeros and all."""
    expected = reopen_state(built)
    intact = built.read_bytes()
    torn = _torn_tails(built)[before] if before else b""
    built.write_bytes(intact + torn + bytes(4000))

    service = Service.open(built)
    assert bool(service.repository.notices) == bool(torn)
    assert state(service) == expected
    service.execute(SetHooks(issuing=True))
    expected_after = state(service)
    service.close()

    data = built.read_bytes()
    assert data.startswith(intact)
    record = data[len(intact) :].rstrip(b"\0")
    assert record.count(b"\n") == 1 and record.endswith(b"\n")
    if torn:
        assert data == intact + record, "the torn bytes cut off, the zeros after them too"
    else:
        assert len(data) == len(intact) + 4000, "the record written over the zeros"
    assert reopen_state(built) == expected_after


def test_a_large_file_keeps_zeros_after_its_records_and_writes_over_them(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``PAD_FROM_BYTES`` an append that does not fit adds ``PAD_BYTES`` zeros after
    its record in the same fsync; the next appends overwrite them, the file's size unchanged."""
    monkeypatch.setattr(journal_module, "PAD_FROM_BYTES", 0)
    monkeypatch.setattr(journal_module, "PAD_BYTES", 64 * 1024)
    intact = built.read_bytes()
    service = Service.open(built)
    service.execute(SetHooks(issuing=True))
    size = built.stat().st_size
    assert size == service.repository._journal.length + 64 * 1024
    service.execute(SetHooks(issuing=False))
    assert built.stat().st_size == size, "written over the zeros"
    expected = state(service)
    service.repository._closed = True  # as if killed: no compaction on close
    service.repository._journal.close()
    service.repository._lock.release()
    data = built.read_bytes()
    assert data.startswith(intact) and data.rstrip(b"\0").count(b"\n") == intact.count(b"\n") + 2
    reopened = Service.open(built)
    try:
        assert reopened.repository.notices == [] and state(reopened) == expected
    finally:
        reopened.close()


def test_a_record_zeroed_where_acknowledged_records_were_is_refused(built: Path) -> None:
    """Records end at the first line holding a zero byte; the lock remembers where the
    acknowledged ones ended, so zeros written over one are damage, not room."""
    service = Service.open(built)
    service.execute(SetHooks(issuing=True))
    service.execute(SetHooks(issuing=False))
    service.repository._closed = True  # as if killed: no compaction on close
    service.repository._journal.close()
    service.repository._lock.release()
    _, lines = journal_lines(built)
    lines[-2] = lines[-2][:20] + b"\0" + lines[-2][21:]
    built.write_bytes(b"\n".join(lines) + b"\n")
    before = files(built)
    with pytest.raises(StoreError, match="acknowledged commands are missing"):
        Service.open(built)
    assert files(built) == before


# --- damage --------------------------------------------------------------------------------------
def test_a_complete_last_record_with_a_bad_checksum_is_damage_not_a_torn_write(built: Path) -> None:
    """A whole line was written (its newline too), so its command was acknowledged:
    dropping it silently would lose it."""
    _, lines = journal_lines(built)
    lines[-1] = _flip(lines[-1], len(lines[-1]) // 2)
    built.write_bytes(b"\n".join(lines) + b"\n")
    before = files(built)
    with pytest.raises(StoreError, match=f"damaged at line {len(lines)} \\(a complete journal record"):
        Service.open(built)
    assert files(built) == before


def _flip(line: bytes, at: int) -> bytes:
    return line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]


@pytest.mark.parametrize("where", ["first record", "middle record", "snapshot"])
def test_damage_before_the_last_line_is_refused_untouched(built: Path, where: str) -> None:
    snapshot_count, lines = journal_lines(built)
    journal_start = 1 + snapshot_count
    index = {
        "first record": journal_start,
        "middle record": (journal_start + len(lines)) // 2,
        "snapshot": 1 + TABLES.index("invoices"),
    }[where]
    assert index < len(lines) - 1
    lines[index] = _flip(lines[index], len(lines[index]) // 2)
    built.write_bytes(b"\n".join(lines) + b"\n")
    before = files(built)

    with pytest.raises(StoreError, match=f"damaged at line {index + 1}.*left as it is"):
        Service.open(built)
    assert files(built) == before


def test_a_record_cut_in_the_middle_of_the_file_is_damage(built: Path) -> None:
    snapshot_count, lines = journal_lines(built)
    middle = (1 + snapshot_count + len(lines)) // 2
    lines[middle] = lines[middle][:-10]  # as if bytes went missing, newline kept
    built.write_bytes(b"\n".join(lines) + b"\n")
    before = files(built)
    with pytest.raises(StoreError, match="damaged"):
        Service.open(built)
    assert files(built) == before


def test_missing_snapshot_lines_are_damage(built: Path) -> None:
    _, lines = journal_lines(built)
    built.write_bytes(lines[0] + b"\n" + lines[1] + b"\n")
    before = files(built)
    with pytest.raises(StoreError, match="snapshot is incomplete"):
        Service.open(built)
    assert files(built) == before


def test_damaged_event_data_is_a_clear_error(built: Path) -> None:
    payloads = payloads_of(built)
    data = bytearray(payloads.read_bytes())
    data[len(data) // 2] ^= 0x01
    payloads.write_bytes(bytes(data))
    before = files(built)
    service = Service.open(built)
    try:
        with pytest.raises(StoreError, match="payloads is damaged at byte"):
            service.events()
    finally:
        service.close()
    assert files(built) == before


def test_missing_event_data_is_a_clear_error_and_not_recreated(built: Path) -> None:
    payloads_of(built).unlink()
    before = files(built)
    service = Service.open(built)
    try:
        with pytest.raises(StoreError, match=r"cannot open .*payloads: No such file"):
            service.events()
    finally:
        service.close()
    assert files(built) == before


def _a_last_record_without_its_event_data(built: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Leave a last record durable and its event data not (a crash between the two fsyncs,
    before the lock noted the length); the workspace's state before that command."""
    service = Service.open(built)
    expected = state(service)
    size = payloads_of(built).stat().st_size
    monkeypatch.setattr(Repository, "_record_length", lambda self: None)  # killed before noting it
    service.execute(CreateInvoice(service.customers()[0].key))
    service.close()
    monkeypatch.undo()
    os.truncate(payloads_of(built), size)  # its event data never reached the disk
    return expected


def test_a_last_record_whose_event_data_never_reached_the_disk_is_torn(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal and the payload file are fsynced at once: a crash between the two can
    leave the last record durable and its event data not. That command was never
    acknowledged (the lock never noted its length): opening drops it as a torn record."""
    expected = _a_last_record_without_its_event_data(built, monkeypatch)
    reopened = Service.open(built)
    try:
        assert any("torn record" in notice for notice in reopened.repository.notices)
        assert state(reopened) == expected
        created = reopened.execute(CreateInvoice(reopened.customers()[0].key)).id  # cuts the torn record off
        expected = state(reopened)
    finally:
        reopened.close()
    assert reopen_state(built) == expected and created


def test_acknowledged_records_whose_event_data_is_missing_are_refused(built: Path) -> None:
    service = Service.open(built)
    size = payloads_of(built).stat().st_size
    service.execute(CreateInvoice(service.customers()[0].key))
    service.close()
    os.truncate(payloads_of(built), size)
    before = files(built)
    with pytest.raises(StoreError, match="event data of acknowledged commands is missing"):
        Service.open(built)
    assert files(built) == before


def test_a_refused_payload_fsync_takes_the_record_back(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service.open(built)
    expected = state(service)
    length = built.stat().st_size
    real_fsync = os.fsync

    def refusing(fd: int) -> None:
        if threading.current_thread().name.startswith("payload-sync"):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(journal_module.os, "fsync", refusing)
    try:
        with pytest.raises(StoreError, match="nothing was changed"):
            service.execute(CreateInvoice(service.customers()[0].key))
        assert built.stat().st_size == length
        assert state(service) == expected
    finally:
        monkeypatch.undo()
        service.close()
    assert reopen_state(built) == expected


# --- foreign files -------------------------------------------------------------------------------
def _tinydb_file(path: Path) -> None:
    db = TinyDB(path)
    db.table("invoices").insert({"id": "01HZ", "status": "paid"})
    db.close()


FOREIGN: dict[str, Any] = {
    "tinydb json": _tinydb_file,
    "random text": lambda path: path.write_text("Dear diary,\nthe invoices are fine.\n"),
    "random bytes": lambda path: path.write_bytes(bytes(range(256)) * 8),
    "empty": lambda path: path.write_bytes(b""),
    "json without newline": lambda path: path.write_text('{"format": "tui-billing/workspace"'),
    "other json": lambda path: path.write_text('["format", "tui-billing/workspace"]\n'),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_file_is_refused_untouched(workspace_path: Path, kind: str) -> None:
    FOREIGN[kind](workspace_path)
    before = files(workspace_path)
    with pytest.raises(StoreError, match="is not a tui-billing workspace; it was left as it is"):
        Service.open(workspace_path)
    assert files(workspace_path) == before


def test_a_directory_is_refused(workspace_path: Path) -> None:
    workspace_path.mkdir()
    with pytest.raises(StoreError, match=r"cannot read workspace .*: Is a directory"):
        Service.open(workspace_path)
    assert workspace_path.is_dir() and not any(workspace_path.iterdir())


def test_an_unreadable_file_is_refused(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = files(built)
    built.chmod(0)
    if os.access(built, os.R_OK):  # root reads anything: make the read fail as it would
        real = journal_module._mapped

        def refuse(path: Path) -> Any:
            if path == built:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(journal_module, "_mapped", refuse)
    try:
        with pytest.raises(StoreError, match=r"cannot read workspace .*: Permission denied"):
            Service.open(built)
    finally:
        monkeypatch.undo()
        built.chmod(0o644)
    assert files(built) == before


def test_missing_workspace_is_a_clear_error(workspace_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no workspace at .*tui-billing init"):
        Service.open(workspace_path)
    assert not workspace_path.exists()


@pytest.mark.parametrize("version", [min(UPGRADABLE_VERSIONS) - 1, SCHEMA_VERSION + 1, None])
def test_schema_version_mismatch_is_a_clear_error(built: Path, version: int | None) -> None:
    _, lines = journal_lines(built)
    header = json.loads(lines[0])
    header["schema_version"] = version
    lines[0] = json.dumps(header).encode()
    built.write_bytes(b"\n".join(lines) + b"\n")
    before = files(built)
    with pytest.raises(
        StoreError, match=f"schema version {version}; this tui-billing reads version {SCHEMA_VERSION}"
    ):
        Service.open(built)
    assert files(built) == before


# --- upgrading a workspace of the previous schema ----------------------------------------------
SCHEMA3 = Path(__file__).parent / "data" / "schema3-workspace"
"""Written by tui-billing at schema 3 (one amount per line): a month billed, a draft waiting
for the draft hook, an invalid draft (negative usage), a sync failure, line external ids."""


SCHEMA4 = Path(__file__).parent / "data" / "schema4-workspace"
"""Written by tui-billing at schema 4: three customers, a synced draft, a month billed."""


@pytest.fixture
def schema3(tmp_path: Path) -> Path:
    path = tmp_path / "partner.db"
    path.write_bytes(SCHEMA3.read_bytes())
    payloads_of(path).write_bytes(payloads_of(SCHEMA3).read_bytes())
    return path


def test_a_schema3_workspace_is_upgraded_when_opened(schema3: Path) -> None:
    """Nothing is lost: every invoice, total, external id and event; the old file is kept."""
    old_bytes = schema3.read_bytes()
    service = Service.open(schema3)
    try:
        invoices = service.invoices()
        # The totals schema 3 listed; the negative usage line now bills nothing (OpenMeter's
        # unit pricer details positive usage only) and still makes its draft invalid.
        assert {i.number: str(i.totals.total) for i in invoices} == {
            "INV-GOUL-1": "458.80",
            "INV-ROAN-2": "525.32",
            "INV-GOLD-3": "566.03",
            "DRAFT-GOUL-4": "109.77",
            "DRAFT-ROAN-5": "0.00",
            "DRAFT-GOLD-6": "12.00",
            "INV-ROAN-4": "302.50",
        }
        assert [i.code for i in invoices[4].validation_issues] == ["line_amount_negative"]
        for invoice in invoices:
            assert invoice.app_id == service.app().id
            assert invoice.billing_profile_id == service.workspace().billing_profile_id
            assert invoice.customer.subject_keys == [invoice.customer.key]
            for line in invoice.lines:
                assert len(line.children) == (0 if line.is_usage and line.quantity <= 0 else 1)
            assert all(is_ulid(i.id) for i in invoice.validation_issues)
        by_number = {i.number: i for i in invoices}
        synced = by_number["INV-ROAN-4"]
        assert synced.external_invoicing_id == "erp-7"
        assert synced.lines[0].external_id == "erp-line-7"  # on the line it was given for
        assert by_number["DRAFT-GOUL-4"].totals.total == Decimal("109.77")
        assert by_number["DRAFT-GOLD-6"].validation_issues[-1].message == "ERP rejected it"
        assert len(service.events()) == 66  # every event's data still reads
        # The upgraded workspace works: a detailed line's external id through the callback.
        waiting = by_number["DRAFT-GOUL-4"]
        child = waiting.lines[1].children[0]
        done = service.execute(DraftSynchronized(waiting.id, line_external_ids={child.id: "erp-usage"}))
        assert done.line(child.id).external_id == "erp-usage"  # type: ignore[union-attr]
    finally:
        service.close()
    assert json.loads(schema3.read_bytes().split(b"\n")[0])["schema_version"] == SCHEMA_VERSION
    assert schema3.with_name("partner.db.schema3").read_bytes() == old_bytes
    Service.open(schema3).close()  # upgraded once: opens as it is


def test_a_schema3_upgrade_is_reproducible(schema3: Path, tmp_path: Path) -> None:
    """Derived ids: the same old file upgrades to the same documents."""
    other = tmp_path / "again" / "partner.db"
    other.parent.mkdir()
    other.write_bytes(schema3.read_bytes())
    payloads_of(other).write_bytes(payloads_of(schema3).read_bytes())
    states = []
    for path in (schema3, other):
        service = Service.open(path)
        states.append(state(service))
        service.close()
    assert states[0] == states[1]


def test_unknown_table_in_the_snapshot_is_refused(built: Path) -> None:
    _, lines = journal_lines(built)
    header = json.loads(lines[0])
    header["tables"][0] = "ledgers"
    lines[0] = json.dumps(header).encode()
    built.write_bytes(b"\n".join(lines) + b"\n")
    before = files(built)
    with pytest.raises(StoreError, match="unknown table 'ledgers'"):
        Service.open(built)
    assert files(built) == before


# --- one process per workspace ------------------------------------------------------------------
def test_second_opener_in_the_same_process_is_refused(built: Path) -> None:
    service = Service.open(built)
    try:
        with pytest.raises(
            StoreError,
            match=re.escape(f"{built} is already open in another tui-billing process (pid {os.getpid()})"),
        ):
            Service.open(built)
    finally:
        service.close()
    Service.open(built).close()


HOLDER = textwrap.dedent("""
    import sys
    from tui_billing.service import Service
    service = Service.open(sys.argv[1])
    print("open", flush=True)
    sys.stdin.readline()
    service.close()
""")

OPENER = textwrap.dedent("""
    import sys
    from tui_billing.service import Service
    from tui_billing.store.journal import StoreError
    try:
        Service.open(sys.argv[1]).close()
    except StoreError as error:
        print(error)
        sys.exit(3)
    print("opened")
""")


def _holder(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "open\n"
    return holder


def test_a_workspace_open_in_another_process_is_refused(built: Path) -> None:
    holder = _holder(built)
    try:
        before = files(built)
        with pytest.raises(
            StoreError,
            match=re.escape(
                f"already open in another tui-billing process (pid {holder.pid}); close it first"
            ),
        ):
            Service.open(built)
        assert files(built) == before
    finally:
        holder.communicate("\n", timeout=30)
    Service.open(built).close()


def test_another_process_is_refused_while_this_one_holds_it(built: Path) -> None:
    service = Service.open(built)
    try:
        result = subprocess.run(
            [sys.executable, "-c", OPENER, str(built)], capture_output=True, text=True, timeout=60
        )
    finally:
        service.close()
    assert result.returncode == 3, result.stderr
    assert f"already open in another tui-billing process (pid {os.getpid()})" in result.stdout
    again = subprocess.run(
        [sys.executable, "-c", OPENER, str(built)], capture_output=True, text=True, timeout=60
    )
    assert again.stdout == "opened\n", again.stderr


def test_a_killed_holder_releases_the_workspace(built: Path) -> None:
    holder = _holder(built)
    holder.kill()
    holder.wait(timeout=30)
    Service.open(built).close()


# --- compaction ------------------------------------------------------------------------------------
def test_compaction_keeps_every_document_and_event(
    workspace_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository_module, "COMPACT_MIN_BYTES", 0)
    replaced: list[Path] = []
    real_replace = os.replace

    def counting_replace(source: Any, target: Any) -> None:
        replaced.append(Path(target))
        real_replace(source, target)

    monkeypatch.setattr(journal_module.os, "replace", counting_replace)
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    work(service, rounds=6)
    before = state(service)
    service.close()
    compactions = len(replaced)
    assert compactions >= 3, "the low threshold makes the journal compact several times"

    reopened = Service.open(workspace_path)
    reopened.execute(SetHooks(issuing=True))  # parses meta and app; invoices and events stay unparsed
    assert {"invoices", "events"} <= set(reopened.repository._unparsed)
    reopened.repository._compact()  # writes the unparsed tables back as they were read
    reopened.close()
    assert len(replaced) == compactions + 1
    after = reopen_state(workspace_path)
    assert after["tables"]["app"][0]["enable_issuing_sync_hook"] is True
    assert after == before | {"tables": {**before["tables"], "app": after["tables"]["app"]}}
    assert not workspace_path.with_name(workspace_path.name + ".tmp").exists()


def test_compacted_file_is_one_snapshot(workspace_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    work(service)
    before = state(service)
    monkeypatch.setattr(repository_module, "COMPACT_MIN_BYTES", 0)
    service.close()  # the journal is longer than a quarter of the snapshot: close compacts
    snapshot_count, lines = journal_lines(workspace_path)
    assert len(lines) == 1 + snapshot_count
    assert reopen_state(workspace_path) == before


def test_a_failed_compaction_keeps_the_command(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repository_module, "COMPACT_MIN_BYTES", 0)

    attempts: list[Any] = []

    def full_disk(source: Any, target: Any) -> None:
        attempts.append(target)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module.os, "replace", full_disk)
    service = Service.open(built)
    keys = [customer.key for customer in service.customers()]
    created = [service.execute(CreateInvoice(keys[0])).id for _ in range(8)]  # outgrows the snapshot
    expected = state(service)
    service.close()
    monkeypatch.undo()
    assert attempts, "the commands outgrew the snapshot: compaction was tried"
    assert not built.with_name(built.name + ".tmp").exists()
    reopened = reopen_state(built)
    assert reopened == expected
    assert {row["id"] for row in reopened["tables"]["invoices"]} >= set(created)


# --- writes the disk refuses -----------------------------------------------------------------------
def test_a_refused_append_changes_nothing(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service.open(built)
    try:
        service.execute(SetHooks(draft=True))  # the journal file is open for appending
        before_state, before_bytes = state(service), built.read_bytes()
        real_fsync = os.fsync

        def failing_fsync(fd: int) -> None:
            if os.fstat(fd).st_ino == built.stat().st_ino:
                raise OSError(5, "Input/output error")
            real_fsync(fd)

        monkeypatch.setattr(journal_module.os, "fsync", failing_fsync)
        with pytest.raises(StoreError, match="Input/output error; nothing was changed"):
            service.execute(CreateInvoice(service.customers()[0].key))
        assert state(service) == before_state
        assert built.read_bytes() == before_bytes, "the partial record was cut off"

        monkeypatch.undo()
        created = service.execute(CreateInvoice(service.customers()[0].key))
        expected = state(service)
    finally:
        service.close()
    reopened = reopen_state(built)
    assert reopened == expected
    assert created.id in {row["id"] for row in reopened["tables"]["invoices"]}


# --- creating ------------------------------------------------------------------------------------
def test_create_refuses_an_existing_file_without_force(built: Path) -> None:
    before = files(built)
    with pytest.raises(StoreError, match="already exists; pass --force"):
        Service.create(built, seed=SEED, now=FIXED_CLOCK)
    assert files(built) == before


def test_create_with_force_replaces_the_workspace_and_its_event_data(built: Path) -> None:
    Service.create(built, seed=SEED, now=FIXED_CLOCK, force=True).close()
    assert payloads_of(built).read_bytes() == b""
    fresh = reopen_state(built)
    assert fresh["tables"]["invoices"] == [] and fresh["tables"]["events"] == []


def test_create_refuses_a_workspace_open_elsewhere(built: Path) -> None:
    holder = _holder(built)
    try:
        before = files(built)
        with pytest.raises(StoreError, match="already open"):
            Service.create(built, seed=SEED, now=FIXED_CLOCK, force=True)
        assert files(built) == before
    finally:
        holder.communicate("\n", timeout=30)


def test_a_new_workspace_starts_without_events(workspace_path: Path) -> None:
    with pytest.raises(ValueError, match="without events"):
        Repository.create(workspace_path, [Put("events", {"id": "e", "data": {}})])
    assert not workspace_path.exists()


def test_the_tinydb_private_method_the_store_overrides_is_still_there() -> None:
    """InPlaceTable overrides TinyDB's private ``Table._update_table(updater)`` so a write is
    not a copy of the whole table: if a TinyDB release renames it or changes what the
    updater receives, this fails (TinyDB is pinned exactly for that reason)."""
    import inspect

    import tinydb
    from tinydb.table import Table

    from tui_billing.store.repository import InPlaceTable, WorkspaceDB

    assert list(inspect.signature(Table._update_table).parameters) == ["self", "updater"]
    assert InPlaceTable._update_table is not Table._update_table
    db = WorkspaceDB(storage=tinydb.storages.MemoryStorage)
    db.storage.write({})
    table = db.table("t")
    doc_id = table.insert({"a": 1})
    raw = db.storage.read()["t"]
    table.update({"a": 2}, doc_ids=[doc_id])
    assert db.storage.read()["t"] is raw  # updated in place, not replaced by a copy
    assert table.get(doc_id=doc_id) == {"a": 2}


# --- indexes, tails, background compaction, group commit -------------------------------------------
def test_events_of_one_invoice_come_from_the_index(built: Path) -> None:
    service = Service.open(built)
    try:
        rows = service.repository.rows("events")
        for invoice_id in {row["invoice_id"] for row in rows}:
            assert service.event_rows(invoice_id) == [r for r in rows if r["invoice_id"] == invoice_id]
        assert service.event_rows("no such invoice") == []
        assert service.recent_event_rows(5) == rows[::-1][:5]
        created = service.execute(CreateInvoice(service.customers()[0].key))  # the index follows writes
        rows = service.repository.rows("events")
        assert service.event_rows(created.id) == [r for r in rows if r["invoice_id"] == created.id] != []
        assert service.recent_event_rows(1)[0]["invoice_id"] == created.id
    finally:
        service.close()


def test_the_tail_of_the_event_log_is_read_without_parsing_it(built: Path) -> None:
    service = Service.open(built)
    try:
        service.execute(SetHooks(draft=True))  # parses meta and app only
        service.execute(CreateInvoice(service.customers()[0].key))  # events waiting for the table
        tails = [service.recent_event_rows(count) for count in (1, 3, 40)]
        assert "events" in service.repository._unparsed, "the tail was read without parsing"
        everything = service.recent_event_rows(10_000)  # more than there are: parsed whole
        rows = service.repository.rows("events")
        assert tails == [rows[::-1][:count] for count in (1, 3, 40)]
        assert everything == rows[::-1]
    finally:
        service.close()


def test_rows_after_reads_only_the_end_of_the_event_log(built: Path) -> None:
    service = Service.open(built)
    try:
        service.execute(SetHooks(draft=True))  # parses meta and app only
        service.execute(CreateInvoice(service.customers()[0].key))  # events waiting for the table
        last = service.recent_event_rows(1)[0]["seq"]
        newest = [service.repository.rows_after("events", "seq", last - n) for n in (0, 2, 20)]
        assert "events" in service.repository._unparsed, "read without parsing the event log"
        rows = service.repository.rows("events")
        assert len(rows) > 20
        assert newest == [[row for row in rows if row["seq"] > last - n] for n in (0, 2, 20)]
        assert newest[1] and newest[0] == []
        assert service.repository.rows_after("events", "seq", 0) == rows  # parsed now
        with pytest.raises(ValueError, match="not an append-only table"):
            service.repository.rows_after("invoices", "number", "")
    finally:
        service.close()


def _snapshot_tables(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows as the file's snapshot lines hold them (journal records aside)."""
    count, lines = journal_lines(path)
    names = json.loads(lines[0])["tables"]
    return {
        name: list(json.loads(line[9:]).values())
        for name, line in zip(names, lines[1 : 1 + count], strict=True)
    }


def test_a_compaction_writes_the_tables_as_they_were_when_it_began(built: Path) -> None:
    """Freezing takes no copy: rows replaced, deleted or added after the compaction began
    are written as they were then (their records follow the snapshot), and the workspace
    reopens as it is now."""
    service = Service.open(built)
    repository = service.repository
    try:
        service.invoice_rows(), service.event_rows()  # parsed: frozen as key order lists
        repository.commit([Put("rules", {"id": f"r{n}", "n": n}) for n in range(3)])
        then = json.loads(json.dumps({name: repository.rows(name) for name in TABLES}))
        with repository._io:
            since, frozen = repository._journal.length, repository._frozen()
        repository.commit([Put("rules", {"id": "r1", "n": 10}), Delete("rules", "r0")])
        repository.commit([Put("rules", {"id": "r3", "n": 3}), Delete("rules", "r2")])
        work(service, rounds=2)  # replaced invoices, new events
        repository._compact_from(frozen, since)
        now = state(service)
    finally:
        service.close()
    assert _snapshot_tables(built) == then
    assert reopen_state(built) == now


def test_a_compaction_copies_the_event_log_line_and_encodes_only_new_rows(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Service.open(built)
    try:
        service.repository._compact()  # the event log's snapshot line now holds every event
        before = len(service.event_rows())
        work(service, rounds=1)
        added = len(service.event_rows()) - before
        encoded: list[Any] = []
        real_dumps = repository_module.dumps

        def counting_dumps(value: Any) -> bytes:  # a chunk of rows: {doc id: row}
            if isinstance(value, dict):
                encoded.extend(row for row in value.values() if isinstance(row, dict) and "seq" in row)
            return real_dumps(value)

        monkeypatch.setattr(repository_module, "dumps", counting_dumps)
        service.repository._compact()
        assert encoded == service.event_rows()[before:] and added
        now = state(service)
    finally:
        service.close()
    assert reopen_state(built) == now


def _change_the_event_log_and_compact(service: Service, built: Path) -> None:
    """Change a byte of the event log's snapshot line on disk, then compact: the
    compaction must stop and leave the workspace as it is."""
    line = service.repository._journal.lines["events"]
    with open(built, "r+b") as handle:
        handle.seek(line.body_start + 5)
        byte = handle.read(1)
        handle.seek(line.body_start + 5)
        handle.write(b"x" if byte != b"x" else b"y")
    length = built.stat().st_size
    service.repository._compact()
    assert built.stat().st_size == length, "the workspace was not replaced"
    assert not built.with_name(built.name + ".tmp").exists()


def test_a_snapshot_line_changed_on_disk_stops_the_compaction(built: Path) -> None:
    """The old line is checked while it is copied: a changed byte is never copied on."""
    service = Service.open(built)
    try:
        service.repository._compact()  # the event log's snapshot line now holds every event
        work(service, rounds=1)
        service.event_rows()  # parsed: its line is copied from the file, not written from memory
        _change_the_event_log_and_compact(service, built)
    finally:
        service.close()


def test_a_compaction_adds_new_events_to_an_unparsed_event_log_without_parsing_it(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event log is only appended to: a compaction writes its line as read plus the
    rows its waiting operations add, never parsing it, and carries no record for it."""
    service = Service.open(built)
    try:
        service.repository._compact()
        work(service, rounds=1)
        assert "events" not in service.repository._index and service.repository._waiting["events"]
        parsed: list[str] = []
        real_table = Repository.table

        def watching(self: Repository, name: str) -> Any:
            if name not in self._index:
                parsed.append(name)
            return real_table(self, name)

        monkeypatch.setattr(Repository, "table", watching)
        service.repository._compact()
        monkeypatch.undo()
        assert "events" not in parsed and not service.repository._carried
        snapshot_count, lines = journal_lines(built)
        assert not any(b'"events"' in line for line in lines[1 + snapshot_count :]), "no event carried"
        now = state(service)
        assert [row["seq"] for row in now["tables"]["events"]] == list(
            range(1, len(now["tables"]["events"]) + 1)
        )
    finally:
        service.close()
    assert reopen_state(built) == now


def test_closing_compacts_a_journal_longer_than_replay_bytes_however_long_the_snapshot(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening replays the journal: close leaves little of it even when the snapshot is far
    longer (a large workspace after a month of billing)."""
    monkeypatch.setattr(repository_module, "COMPACT_MIN_BYTES", 0)
    service = Service.open(built)
    snapshot_count, lines = journal_lines(built)
    journal_bytes = sum(len(line) + 1 for line in lines[1 + snapshot_count :])
    service.repository._journal.snapshot_bytes = 1 << 40  # as if the snapshot were huge
    monkeypatch.setattr(repository_module, "REPLAY_BYTES", journal_bytes - 1)
    expected = state(service)
    service.close()
    snapshot_count, lines = journal_lines(built)
    assert len(lines) == 1 + snapshot_count, "compacted on close"
    assert reopen_state(built) == expected


def test_a_table_changed_on_disk_while_open_is_refused_when_parsed(built: Path) -> None:
    """The file is mapped, not copied: a snapshot line is checked again when its table is
    parsed, so bytes changed behind the process's back are never read as the table."""
    compacting = Service.open(built)
    compacting.repository._compact()  # the event log in the snapshot
    compacting.close()
    service = Service.open(built)
    try:
        assert "events" not in service.repository._index
        line = service.repository._journal.lines["events"]
        with open(built, "r+b") as handle:
            handle.seek(line.body_start + 5)
            byte = handle.read(1)
            handle.seek(line.body_start + 5)
            handle.write(b"x" if byte != b"x" else b"y")
        with pytest.raises(StoreError, match="its events table changed on disk while it was open"):
            service.repository.rows("events")
    finally:
        service.repository._closed = True  # nothing more to write: the file is damaged
        service.repository._lock.release()


def test_an_unparsed_line_changed_on_disk_while_open_stops_the_compaction(built: Path) -> None:
    """A table never parsed is written from the mapped old file: its line is checked
    against its checksum first, and a changed byte is never written on."""
    compacting = Service.open(built)
    compacting.repository._compact()  # the event log in the snapshot
    compacting.close()
    service = Service.open(built)
    try:
        work(service, rounds=1)  # new events wait for the unparsed event log
        assert "events" not in service.repository._index
        _change_the_event_log_and_compact(service, built)
    finally:
        service.repository._closed = True  # nothing more to write: the file is damaged
        service.repository._journal.close()
        service.repository._lock.release()


def test_background_compaction_keeps_every_command(
    workspace_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compactions start after commands and run beside the next ones; carried operations
    of tables never parsed are folded in when the workspace closes."""
    monkeypatch.setattr(repository_module, "COMPACT_MIN_BYTES", 0)
    monkeypatch.setattr(repository_module, "ROWS_PER_CHUNK", 3)  # many chunks, many interleavings
    started: list[object] = []
    real_compact_from = Repository._compact_from

    def counting(self: Repository, *args: Any) -> None:
        started.append(self._compactor)
        real_compact_from(self, *args)

    monkeypatch.setattr(Repository, "_compact_from", counting)
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    work(service, rounds=4)
    before = state(service)
    service.close()
    assert sum(thread is not None for thread in started) >= 2, "compactions ran in the background, again"
    assert reopen_state(workspace_path) == before
    snapshot_count, lines = journal_lines(workspace_path)
    snapshot, journal = lines[: 1 + snapshot_count], lines[1 + snapshot_count :]
    assert sum(map(len, journal)) <= sum(map(len, snapshot)) // 4, "close compacts a long journal"


def test_group_commit_applies_at_once_and_is_durable_after_flush(built: Path) -> None:
    repository = Repository.open(built)
    try:
        length = repository._journal.length
        first = repository.commit([Put("rules", {"id": "r1", "n": 1})], durable=False)
        second = repository.commit([Put("rules", {"id": "r2", "n": 2})], durable=False)
        assert repository.get("rules", "r2") == {"id": "r2", "n": 2}  # applied, not yet written
        assert repository._journal.length == length and repository.unflushed == second
        repository.flush(first)  # one write and one fsync for both
        assert repository.unflushed == 0
        lines = built.read_bytes()[length:].splitlines()
        assert len(lines) == 2
        repository.flush(second)  # already durable: nothing to do
        assert repository._journal.length == length + sum(len(line) + 1 for line in lines)
        repository.commit([Put("rules", {"id": "r3", "n": 3})], durable=False)
    finally:
        repository.close()  # flushes the queue
    reopened = Repository.open(built)
    try:
        assert [reopened.get("rules", key)["n"] for key in ("r1", "r2", "r3")] == [1, 2, 3]
    finally:
        reopened.close()


def test_a_failed_group_commit_refuses_every_later_change(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = Repository.open(built)
    try:
        ticket = repository.commit([Put("rules", {"id": "r1"})], durable=False)

        def full_disk(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(journal_module.os, "fsync", full_disk)
        with pytest.raises(StoreError, match="reopen the workspace"):
            repository.flush(ticket)
        monkeypatch.undo()
        with pytest.raises(StoreError, match="reopen the workspace"):
            repository.commit([Put("rules", {"id": "r2"})])
    finally:
        repository.close()
    reopened = Repository.open(built)
    try:
        assert reopened.get("rules", "r1") is None  # never acknowledged, never written
    finally:
        reopened.close()


# --- event payloads: deltas, read back byte for byte ---------------------------------------------
def test_event_data_reads_back_byte_for_byte_and_mostly_as_deltas(
    workspace_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: dict[str, bytes] = {}
    real_event_row = Repository._event_row

    def recording(self: Repository, document: dict[str, Any]) -> dict[str, Any]:
        # every event's data, written at its commit or before (``write_payloads``)
        written[document["id"]] = journal_module.dumps(document["data"])
        return real_event_row(self, document)

    monkeypatch.setattr(Repository, "_event_row", recording)
    service = Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK)
    work(service, rounds=4)
    service.close()
    reopened = Service.open(workspace_path)  # a fresh session: nothing cached
    try:
        events = reopened.repository.rows("events")
        assert {row["id"] for row in events} == set(written)
        for row in reversed(events):  # newest first: each read walks its chain of bases
            assert (
                journal_module.dumps(reopened.repository.decode("events", row)["data"]) == written[row["id"]]
            )
        payloads = reopened.repository._payloads
        deltas = [row for row in events if payloads.read(row["payload"])[:1] == payloads_module.SPLICE]
        assert len(deltas) > len(events) * 0.9
    finally:
        reopened.close()


def test_a_schema4_workspace_is_upgraded_and_its_events_read_as_they_were(tmp_path: Path) -> None:
    """Written by tui-billing at schema 4 (every payload plain zlib): it opens as the
    current schema, its old events read as before and new ones are stored as deltas beside
    them."""
    path = tmp_path / "partner.db"
    path.write_bytes(SCHEMA4.read_bytes())
    payloads_of(path).write_bytes(payloads_of(SCHEMA4).read_bytes())
    service = Service.open(path)
    try:
        old = [event.model_dump(mode="json") for event in service.events()]
        stored = payloads_of(SCHEMA4).read_bytes()
        assert (
            [event["data"] for event in old]
            == [  # schema 4: each payload plain zlib
                json.loads(zlib.decompress(stored[row["payload"][0] : row["payload"][0] + row["payload"][1]]))
                for row in service.event_rows()
            ]
        )
        assert len(old) == 15
        invoice = service.execute(CreateInvoice(service.customers()[0].key))
        assert [event.model_dump(mode="json") for event in service.events()][: len(old)] == old
        assert service.events(invoice.id)
    finally:
        service.close()
    assert json.loads(path.read_bytes().split(b"\n")[0])["schema_version"] == SCHEMA_VERSION == 6
    assert path.with_name("partner.db.schema4").read_bytes() == SCHEMA4.read_bytes()


def _as_schema5(path: Path) -> bytes:
    """Rewrite the header of the workspace at ``path`` as a schema 5 file's (the versions
    differ only in what may follow the records); the file's bytes."""
    header, rest = path.read_bytes().split(b"\n", 1)
    fields = json.loads(header)
    fields["schema_version"] = 5
    path.write_bytes(json.dumps(fields).encode() + b"\n" + rest)
    return path.read_bytes()


def test_a_schema5_workspace_is_upgraded_when_opened(built: Path) -> None:
    """Schema 6 files may keep zeros after their records, which a schema 5 reader would
    misread after an interrupted write: the version says so. A schema 5 file opens as it
    was, is kept beside as ``.schema5`` and written as schema 6."""
    expected = reopen_state(built)
    old_bytes = _as_schema5(built)
    service = Service.open(built)
    try:
        assert state(service) == expected
    finally:
        service.close()
    assert json.loads(built.read_bytes().split(b"\n")[0])["schema_version"] == SCHEMA_VERSION == 6
    assert built.with_name(built.name + ".schema5").read_bytes() == old_bytes
    assert reopen_state(built) == expected


def test_a_schema5_last_record_whose_event_data_never_reached_the_disk_is_torn(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schema 5 files were written with the journal and the payload file fsynced at once
    too: a last record whose event data is missing is dropped as torn before the upgrade."""
    expected = _a_last_record_without_its_event_data(built, monkeypatch)
    _as_schema5(built)
    reopened = Service.open(built)
    try:
        assert any("torn record" in notice for notice in reopened.repository.notices)
        assert state(reopened) == expected
    finally:
        reopened.close()
