"""The workspace repository: TinyDB tables in memory, made durable by the journal.

The service is its only writer. A command hands ``commit`` the documents it changed; they
are appended to the journal as one fsynced record and only then applied to the TinyDB
tables, so a command is either wholly durable or not at all. Inside ``group_commit()``
(the API's requests) a record is queued and applied at once, and ``flush`` writes every
queued record with one fsync: the caller acknowledges only after it.

Opening is cheap at any size: each table is parsed from its snapshot line when it is
first used, and journal operations on a table not parsed yet wait until it is. A command
that only appends events never parses the event log.

Two tables are stored in a compact form so that large tables parse fast (measured at
10k invoices: full invoice documents 0.84 s, these rows 0.11 s):

* ``invoices`` rows hold the summary fields lists need plus ``z``, the full document as
  base64 zlib-compressed JSON, decoded only when one invoice is read.
* ``events`` rows hold the envelope fields; each event's ``data`` lives in the append-only
  payload file ``<workspace>.payloads`` (mostly as a delta against the previous payload of
  the same invoice and type, see ``payloads``), read on demand. Payloads are written and
  fsynced before the journal record that points at them. An index by invoice finds one
  invoice's events without a scan.

A command's record and the event data it points at are fsynced at once, the payload file
in a helper thread (``_append``): opening drops as torn a last record whose data never
reached the disk.

When the journal outgrows the snapshot, a compaction runs in a background thread. It
starts in constant time: each table's keys are kept in insertion order (``_order``), a
compaction reads the first keys there were, and commands record each row they replace or
delete meanwhile as it was (``_before``). A table only added to since its snapshot line
(the event log) is written as that line, copied, plus its new rows; not parsed, as its
body plus the rows its waiting operations add. The new file is renamed over the workspace
only after copying to it the records appended since, the last of them holding the journal
(see ``_compact_from``). Closing compacts a journal of more than ``REPLAY_BYTES`` too, so
the next open has little to replay.
"""

import errno
import gc
import itertools
import json
import os
import re
import shutil
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tinydb import TinyDB
from tinydb.storages import MemoryStorage
from tinydb.table import Table

from . import migrations
from .journal import (
    COPY_BYTES,
    NO_FOLLOW,
    SCHEMA_VERSION,
    Body,
    Journal,
    Line,
    Op,
    StoreError,
    dumps,
    frame,
    fsync_dir,
    iter_ops,
    os_message,
    parse,
)
from .lock import WorkspaceLock
from .payloads import PayloadFile, pack, pack_json, unpack, unpack_json

TABLES = (
    "meta",
    "app",
    "customers",
    "plans",
    "subscriptions",
    "invoices",
    "events",
    "webhooks",
    "deliveries",
    "channels",
    "rules",
    "notifications",
)
COMPACT_MIN_BYTES = 4 * 1024 * 1024
REPLAY_BYTES = 16 * 1024 * 1024
"""A journal longer than this (and than ``COMPACT_MIN_BYTES``) is compacted on close even
when the snapshot is far longer: opening parses and replays the journal, about 9 ms per
MB of bulk records (a month of billing at 100k invoices writes 8 MB)."""
INDEXED = {"events": "invoice_id"}
"""Secondary indexes kept in memory (table → field): built when the table is parsed,
maintained by every write, so one invoice's events are found without a scan."""
FREEZE_ROWS = 10_000
"""A table this large, once parsed, is moved out of the cyclic collector's sight: a full
collection rescanning a million rows pauses a command for a quarter of a second."""
APPEND_ONLY = frozenset({"events"})
"""Tables whose rows are only ever added, never replaced: their tail can be read alone."""
ROWS_PER_CHUNK = 100
"""Rows a compaction encodes before it lets other threads run (a command waiting for the
interpreter after an fsync waits for at most this many rows)."""


def _let_commands_run() -> None:
    """Hand the interpreter to a waiting command now, not at the next switch interval."""
    time.sleep(0)


def _no_pause() -> None:
    """Nothing waits for a compaction run on close."""


_GROUP_COMMIT: ContextVar[bool] = ContextVar("group_commit", default=False)


@contextmanager
def group_commit() -> Iterator[None]:
    """Inside this block (in this thread or asyncio task only), ``Repository.commit``
    defaults to ``durable=False``: the caller must ``flush`` before it acknowledges anything."""
    token = _GROUP_COMMIT.set(True)
    try:
        yield
    finally:
        _GROUP_COMMIT.reset(token)


class _IntKeys(MutableMapping[int, Any]):
    """A view of a raw table (string keys) with the int keys TinyDB's updaters expect."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def __getitem__(self, key: int) -> Any:
        return self.raw[str(key)]

    def __setitem__(self, key: int, value: Any) -> None:
        self.raw[str(key)] = value

    def __delitem__(self, key: int) -> None:
        del self.raw[str(key)]

    def __iter__(self) -> Iterator[int]:
        return (int(key) for key in self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, key: object) -> bool:
        return str(key) in self.raw


class InPlaceTable(Table):
    """TinyDB's table, updating the in-memory table in place.

    TinyDB's own ``_update_table`` copies the whole table twice per write (fine for its
    JSON file, O(n) per command here); the in-memory storage makes a copy pointless.
    """

    def _update_table(self, updater: Callable[[dict[int, Mapping[str, Any]]], None]) -> None:
        tables = self._storage.read()
        assert tables is not None  # the repository writes {} before any table is used
        raw = tables.setdefault(self.name, {})
        updater(_IntKeys(raw))  # type: ignore[arg-type]
        self.clear_cache()


class WorkspaceDB(TinyDB):
    table_class = InPlaceTable


def payloads_path(workspace: Path) -> Path:
    """Where a workspace keeps its event data."""
    return workspace.with_name(workspace.name + ".payloads")


def real_path(path: Path | str) -> Path:
    """The workspace's real path: every name beside it (lock, payloads, temporary files)
    derives from it, so a symbolic link to a workspace shares the workspace's lock, and
    compaction writes the link's target, not over the link."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _damaged(path: Path, what: str) -> StoreError:
    return StoreError(f"{path} is damaged: {what}; it was left as it is")


@dataclass(frozen=True)
class Put:
    """Store ``document`` (keyed by its ``id``); invoices carry their list ``summary``,
    and may come as their JSON ``text`` (``dumps``'s bytes of the document) with a
    ``document`` of their ``id`` alone."""

    table: str
    document: dict[str, Any]
    summary: dict[str, Any] | None = None
    text: bytes | None = None


@dataclass(frozen=True)
class Delete:
    """Remove the document ``key`` from ``table`` (nothing happens when there is none)."""

    table: str
    key: str


Change = Put | Delete

_INVOICE_EVENTS = frozenset({"invoice.created", "invoice.updated"})
"""Event types whose data is the whole invoice: one payload chain per invoice."""


class Repository:
    """Open with ``Repository.open(path)`` or ``Repository.create(path, changes)``; close when done."""

    def __init__(
        self, path: Path, journal: Journal, lock: WorkspaceLock, snapshot: dict[str, memoryview]
    ) -> None:
        unknown = sorted(set(snapshot) - set(TABLES))
        if unknown:
            raise StoreError(f"{path} holds an unknown table {unknown[0]!r}; it was left as it is")
        self.path = path
        self._journal = journal
        self._lock = lock
        self._payloads = PayloadFile(payloads_path(path))
        self._db = WorkspaceDB(storage=MemoryStorage)
        self._db.storage.write({})
        self._unparsed = dict(snapshot)
        """Snapshot bodies of the tables not parsed yet."""
        self._body_crc = {name: line.crc for name, line in journal.lines.items() if name in snapshot}
        """The checksum of each body of ``_unparsed``: the file is mapped, not copied, so
        a body is checked again when it is used."""
        self._line_rows = {name: (crc, 0) for name, crc in self._body_crc.items()}
        """For each table not parsed yet: the checksum of its snapshot line in the file, and
        how many of the operations waiting for it that line holds after the rows of its
        body (a compaction adds an append-only table's new rows to its line)."""
        self._waiting: dict[str, list[Op]] = {name: [] for name in TABLES}
        """Operations on each table not parsed yet, in order."""
        self._index: dict[str, dict[str, int]] = {}
        """For each parsed table: document key → TinyDB doc id."""
        self._by: dict[str, dict[Any, list[int]]] = {}
        """For each parsed table of ``INDEXED``: field value → doc ids, in insertion order."""
        self._order: dict[str, list[str]] = {}
        """For each parsed table: its raw keys in insertion order, only ever appended to (a
        deleted row's key stays; doc ids are never reused), so a compaction can read the
        rows a table held when it began while commands go on."""
        self._next_id: dict[str, int] = {}
        """For each parsed table: the doc id of its next row."""
        self._rewrites: dict[str, int] = {}
        """For each parsed table: rows replaced or deleted since it was parsed."""
        self._written: dict[str, tuple[int, int]] = {}
        """For each parsed table whose snapshot line in the file holds exactly its first
        rows: (how many rows, ``_rewrites`` then). While no row was rewritten since, a
        compaction copies that line and encodes only the rows added after it."""
        self._before: dict[str, dict[str, Any]] = {}
        """While a compaction runs, for each table it reads: raw key → the row as it was
        when the compaction began (None: absent), recorded before a command replaces or
        deletes it."""
        self._closed = False
        self._broken: StoreError | None = None
        """Why a group commit failed after its commands were applied: nothing more is written."""
        self._io = threading.Lock()
        """Held while the journal file is written, fsynced or replaced."""
        self._queue = threading.Lock()
        """Held while ``_pending`` changes."""
        self._pending: list[bytes] = []
        """Framed records applied in memory, not written yet (``commit(durable=False)``)."""
        self._queued = 0
        """Records ever queued; ``_durable`` of them are durable."""
        self._versions: dict[str, int] = {}
        """Per table, the operations applied to it since opening (``version``)."""
        self._durable = 0
        self._compactor: threading.Thread | None = None
        self._syncer: ThreadPoolExecutor | None = None
        """Fsyncs the payload file beside the journal's fsync (``_append``)."""
        self._carried = False
        """Whether a compaction carried operations of unparsed tables as records (close
        folds them in)."""
        self.notices: list[str] = []
        """What opening found and tolerated (a torn last record), for the user to read."""

    # --- opening and closing -----------------------------------------------------------
    @classmethod
    def open(cls, path: Path) -> "Repository":
        """The workspace at ``path``, held by this process until ``close``."""
        path = real_path(path)
        if not path.exists():
            raise StoreError(f"no workspace at {path}; create one with `tui-billing init`")
        journal = Journal(path)
        journal.probe()
        lock = WorkspaceLock(path)
        lock.acquire()
        try:
            snapshot, records = journal.load()
            _check_not_truncated(path, journal, lock)
            repository = cls(path, journal, lock, snapshot)
            repository._apply(iter_ops(repository._without_unbacked(records, lock.recorded)))
            torn = journal.torn_bytes  # before an upgrade writes the file anew
            if journal.schema_version != SCHEMA_VERSION:
                repository._upgrade(journal.schema_version)
            repository._record_length()  # a replaced file is checked from now on too
        except BaseException:
            lock.release()
            raise
        if torn:
            repository.notices.append(
                f"{path} ended in a torn record ({torn} bytes of a command that "
                "was interrupted before it was acknowledged); it was ignored and is cut off at "
                "the next change"
            )
        return repository

    @classmethod
    def create(cls, path: Path, changes: list[Put], *, force: bool = False) -> "Repository":
        """A new workspace holding ``changes`` (no events: they come from commands);
        refuses to replace a file unless forced."""
        if any(change.table == "events" for change in changes):
            raise ValueError("a new workspace starts without events")
        path = real_path(path)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create {path.parent}: {error.strerror}") from None
        lock = WorkspaceLock(path)
        lock.acquire()
        try:
            _check_replaceable(path, force)
            repository = cls(path, Journal(path), lock, {})
            repository._apply(repository._encode(change) for change in changes)
            repository._write_snapshot()
            repository._payloads.reset()  # a replaced workspace's event data goes with it
            repository._record_length()
        except OSError as error:
            lock.release()
            raise StoreError(os_message(path, error, "write")) from None
        except BaseException:
            lock.release()
            raise
        return repository

    @staticmethod
    def install(built: Path, path: Path, *, force: bool = False) -> None:
        """Move the closed workspace ``built`` (and its event data) to ``path``, replacing
        what is there only if forced: two renames in the same directory, the workspace
        last, so a kill leaves either the old workspace or the new one (or, between the
        two renames, a pair whose checksums refuse the mix instead of showing it)."""
        built, path = real_path(built), real_path(path)
        lock = WorkspaceLock(path)
        lock.acquire()
        try:
            _check_replaceable(path, force)
            os.replace(payloads_path(built), payloads_path(path))
            os.replace(built, path)
            fsync_dir(path.parent)
            lock.forget()  # a rebuilt demo can share the old snapshot's id and be shorter
            WorkspaceLock(built).path.unlink(missing_ok=True)
        except OSError as error:
            raise StoreError(os_message(path, error, "write")) from None
        finally:
            lock.release()

    def close(self) -> None:
        """Compact a long journal into a fresh snapshot (one longer than a quarter of the
        snapshot, or than ``REPLAY_BYTES``: the next open replays little), then release the
        workspace. Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._join_compactor()
            if self._pending and self._broken is None:
                with self._io:
                    self._flush_pending()
            if self._carried or self._journal.journal_bytes > max(
                COMPACT_MIN_BYTES, min(self._journal.snapshot_bytes // 4, REPLAY_BYTES)
            ):
                self._compact()
        finally:
            if self._syncer is not None:
                self._syncer.shutdown()
            self._journal.close()
            self._payloads.close()
            self._lock.release()

    def _tables(self) -> dict[str, dict[str, Any]]:
        """TinyDB's in-memory tables (the storage holds them from the start)."""
        tables = self._db.storage.read()
        assert tables is not None
        return tables

    # --- reading -------------------------------------------------------------------------
    def table(self, name: str) -> Table:
        """The TinyDB table ``name``, parsed from the snapshot on first use."""
        if name not in self._index:
            if name not in self._waiting:
                raise KeyError(f"no table {name!r}")
            body = self._unparsed.pop(name, None)
            if body is not None and zlib.crc32(body) != self._body_crc.pop(name, None):
                raise _damaged(self.path, f"its {name} table changed on disk while it was open")
            raw: dict[str, Any] = {} if body is None else parse(body)
            if not isinstance(raw, dict) or not all(
                key.isdigit() and isinstance(doc, dict) and isinstance(doc.get("id"), str)
                for key, doc in raw.items()
            ):
                raise _damaged(self.path, f"its {name} table is not a table of documents")
            self._tables()[name] = raw
            self._order[name] = list(raw)
            self._next_id[name] = max(map(int, raw), default=0) + 1
            self._rewrites[name] = 0
            with self._io:  # not while a compaction installs a new line
                line, held = self._journal.lines.get(name), self._line_rows.pop(name, None)
                if body is not None and line is not None and held is not None and held[0] == line.crc:
                    self._written[name] = (len(raw) + held[1], 0)
            self._index[name] = {doc["id"]: int(doc_id) for doc_id, doc in raw.items()}
            if name in INDEXED:
                by: dict[Any, list[int]] = {}
                field = INDEXED[name]
                for doc_id, doc in raw.items():
                    by.setdefault(doc.get(field), []).append(int(doc_id))
                self._by[name] = by
            version = self.version(name)
            self._apply(self._waiting.pop(name))
            self._versions[name] = version  # counted when they came: the table holds what it did
            if len(raw) >= FREEZE_ROWS:
                gc.freeze()  # a large table's rows hold no cycles: full collections need not rescan them
        return self._db.table(name)

    def version(self, table: str) -> int:
        """How many operations applied since opening changed ``table``: whatever was read
        of it at one version is still true (a change of other tables leaves it)."""
        return self._versions.get(table, 0)

    def row(self, table: str, key: str) -> dict[str, Any] | None:
        """The stored row (for invoices: the summary; for events: the envelope)."""
        rows = self.table(table)
        doc_id = self._index[table].get(key)
        return None if doc_id is None else rows.get(doc_id=doc_id)

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        """The whole document, decoded."""
        row = self.row(table, key)
        return None if row is None else self.decode(table, row)

    def invoice_json(self, row: Mapping[str, Any]) -> bytes:
        """The JSON text of an invoice row's document (what ``decode`` parses)."""
        try:
            return unpack_json(row["z"])
        except (KeyError, TypeError, ValueError, zlib.error):
            raise _damaged(self.path, f"its invoices row {row.get('id')!r} cannot be decoded") from None

    def decode(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        try:
            if table == "invoices":
                return unpack(row["z"])
            if table == "events":
                document = {k: v for k, v in row.items() if k != "payload"}
                document["data"] = self._payloads.get(row["payload"])
                return document
        except (KeyError, TypeError, ValueError, zlib.error):  # binascii.Error is a ValueError
            raise _damaged(self.path, f"its {table} row {row.get('id')!r} cannot be decoded") from None
        return dict(row)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` in insertion order (read-only: do not mutate)."""
        self.table(table)
        return list(self._tables()[table].values())

    def rows_where(self, table: str, value: Any) -> list[dict[str, Any]]:
        """The rows of an ``INDEXED`` table whose indexed field is ``value``, in insertion
        order, found through the index (read-only: do not mutate)."""
        self.table(table)
        raw = self._tables()[table]
        return [raw[str(doc_id)] for doc_id in self._by[table].get(value, ())]

    def tail(self, table: str, count: int) -> list[dict[str, Any]]:
        """The last ``count`` rows of ``table``, newest first (read-only: do not mutate).
        An ``APPEND_ONLY`` table not parsed yet stays so: only the end of its snapshot line
        is read."""
        if table in APPEND_ONLY and table not in self._index:
            inserted = [op[3] for op in itertools.islice(reversed(self._waiting[table]), count)]
            if len(inserted) >= count:
                return inserted[:count]
            older = _last_rows(self._unparsed.get(table, b"{}"), count - len(inserted))
            if older is not None:
                return inserted + older
        self.table(table)
        return list(itertools.islice(reversed(self._tables()[table].values()), count))

    def rows_after(self, table: str, field: str, value: Any) -> list[dict[str, Any]]:
        """The rows of an ``APPEND_ONLY`` table whose ``field`` (increasing in insertion
        order, like the events' ``seq``) is above ``value``, oldest first; read from the
        table's end (``tail``), so the cost follows the rows returned, not the table."""
        if table not in APPEND_ONLY:
            raise ValueError(f"{table!r} is not an append-only table")
        count = 64
        while True:
            newest = self.tail(table, count)
            if len(newest) < count or newest[-1][field] <= value:
                break
            count *= 4
        after = list(itertools.takewhile(lambda row: row[field] > value, newest))
        after.reverse()
        return after

    def count(self, table: str) -> int:
        self.table(table)
        return len(self._index[table])

    # --- writing -------------------------------------------------------------------------
    def commit(self, changes: Sequence[Change], *, durable: bool | None = None) -> int:
        """Make ``changes`` durable, then apply them; StoreError (nothing changed) if the
        disk refuses.

        ``durable=False`` is a group commit: the changes are applied now and their record
        queued; they are durable once ``flush`` with the returned ticket returns (which
        writes every queued record with one fsync). Acknowledge nothing before that. A
        later durable commit or ``close`` flushes the queue too. By default a commit is
        durable, except inside ``group_commit()``."""
        if durable is None:
            durable = not _GROUP_COMMIT.get()
        if self._closed:
            raise StoreError(f"{self.path} is closed; nothing was changed")
        if self._broken is not None:
            raise self._broken
        if not changes:
            return self._queued
        try:
            ops = [self._encode(change) for change in changes]
        except OSError as error:
            raise StoreError(f"{os_message(self.path, error, 'write')}; nothing was changed") from None
        line = frame(dumps(ops))
        if durable:
            with self._io:
                try:
                    self._flush_pending()
                    self._append([line])
                except OSError as error:
                    message = os_message(self.path, error, "write")
                    raise StoreError(f"{message}; nothing was changed") from None
            self._record_length()
            self._apply(ops)
            self._maybe_compact()
            return self._queued
        with self._queue:
            self._pending.append(line)
            self._queued += 1
            ticket = self._queued
        self._apply(ops)
        self._maybe_compact()
        return ticket

    def flush(self, ticket: int) -> None:
        """Return once the record of ``ticket`` (from ``commit(durable=False)``) is durable:
        every record queued by then is written with one fsync. Thread-safe, meant to run
        beside the thread that commits; StoreError if the disk refused (the workspace then
        takes no more changes: reopen it)."""
        with self._io:
            if self._durable < ticket:
                self._flush_pending()

    @property
    def unflushed(self) -> int:
        """The ticket of the last queued record if it is not durable yet, else 0."""
        return self._queued if self._queued > self._durable else 0

    def _flush_pending(self) -> None:
        """Write and fsync every queued record (caller holds ``_io``)."""
        if self._broken is not None:
            raise self._broken
        with self._queue:
            lines, self._pending = self._pending, []
            queued = self._queued
        if not lines:
            return
        try:
            self._append(lines)
        except OSError as error:
            self._broken = StoreError(
                f"{os_message(self.path, error, 'write')}; the last {len(lines)} unacknowledged "
                "changes are lost: reopen the workspace"
            )
            raise self._broken from None
        self._durable = queued
        self._record_length()

    def _append(self, lines: list[bytes]) -> None:
        """Append framed records to the journal, fsynced while the payload file is fsynced
        beside it (caller holds ``_io``): the disk commits both at once, where one fsync
        after the other cost two commits. Durable when this returns; OSError, nothing
        kept, if the disk refuses. A crash meanwhile can leave the last records durable
        and their event data not: opening drops them as torn (``_without_unbacked``)."""
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(1, thread_name_prefix="payload-sync")
        length = self._journal.length
        payloads = self._syncer.submit(self._payloads.sync)
        try:
            self._journal.append_lines(lines)
        finally:
            refused = payloads.exception()
        if refused is not None:
            try:
                self._journal.retract(length)
            except OSError:
                self._broken = StoreError(
                    f"{self.path}: the event data of the last change could not be written and its "
                    "record not taken back; reopen the workspace"
                )
                raise self._broken from None
            raise refused

    def _without_unbacked(self, records: list[list[Op]], recorded: tuple[int, int] | None) -> list[list[Op]]:
        """The journal's records less the last ones whose event data never reached the
        disk (a crash between the two fsyncs of ``_append``: never acknowledged), which
        are then cut off as torn. A record the last writer acknowledged (``recorded``, the
        lock's) with its data missing is damage, refused."""
        if self._journal.schema_version < 5:
            return records  # written one fsync after the other
        try:
            fd = os.open(self._payloads.path, os.O_RDONLY | NO_FOLLOW)
        except OSError:
            return records  # no readable event data at all: reading an event says why
        try:
            kept = len(records)
            while kept and not _backed(records[kept - 1], fd):
                kept -= 1
        finally:
            os.close(fd)
        if kept == len(records):
            return records
        if (
            recorded is not None
            and recorded[0] == self._journal.snapshot_id
            and self._journal.record_start(kept) < recorded[1]
        ):
            raise _damaged(self.path, "the event data of acknowledged commands is missing")
        self._journal.forget_records_from(kept)
        return records[:kept]

    def write_payloads(self, changes: list[Change], start: int = 0) -> None:
        """Write the data of the events ``changes[start:]`` put to the payload file now,
        each event's ``Put`` then carrying its payload's address instead (a long command
        need not hold every event's data until its commit). Not durable yet: the commit
        that records them fsyncs the payload file before its record counts. If that
        commit never comes (the command fails or is stopped), the bytes written stay in
        the file unreferenced, as a refused commit's do: nothing reads them, and payloads
        compressed against them later make them durable with their own commit.
        StoreError (nothing changed) if the disk refuses."""
        try:
            for index in range(start, len(changes)):
                change = changes[index]
                if isinstance(change, Put) and change.table == "events" and "data" in change.document:
                    changes[index] = Put("events", self._event_row(change.document))
        except OSError as error:
            raise StoreError(f"{os_message(self.path, error, 'write')}; nothing was changed") from None

    def _event_row(self, document: dict[str, Any]) -> dict[str, Any]:
        """An event's row: its data written to the payload file, its address in its place."""
        row = {k: v for k, v in document.items() if k != "data"}
        kind = str(row.get("type"))
        # chained per invoice and shape (an invoice.created carries what its invoice.updated
        # events do): payloads of one shape compress best against each other
        shape = "invoice" if kind in _INVOICE_EVENTS else kind
        row["payload"] = self._payloads.put(document["data"], f"{row.get('invoice_id')}/{shape}", kind)
        return row

    def _encode(self, change: Change) -> Op:
        if isinstance(change, Delete):
            return ["delete", change.table, change.key, {}]
        document = change.document
        if change.table == "invoices":
            packed = pack(document) if change.text is None else pack_json(change.text)
            row = {**(change.summary or {}), "id": document["id"], "z": packed}
        elif change.table == "events" and "data" in document:
            row = self._event_row(document)
        else:
            row = document  # an event's already carries its payload's address (``write_payloads``)
        return ["put", change.table, document["id"], row]

    def _apply(self, ops: Iterable[Op]) -> None:
        for op in ops:
            if not (
                isinstance(op, list)
                and len(op) == 4
                and isinstance(op[1], str)
                and isinstance(op[2], str)
                and isinstance(op[3], dict)
            ):
                raise _damaged(
                    self.path, f"a journal operation is not [kind, table, key, row]: {str(op)[:80]}"
                )
            kind, table_name, key = op[0], op[1], op[2]
            if kind not in ("put", "delete"):
                raise StoreError(f"{self.path} holds an unknown operation {kind!r}")
            self._versions[table_name] = self._versions.get(table_name, 0) + 1
            if table_name in self._waiting:
                self._waiting[table_name].append(op)
                continue
            if table_name not in self._index:
                raise StoreError(f"{self.path} holds an unknown table {table_name!r}")
            table = self._db.table(table_name)
            index = self._index[table_name]
            raw = self._tables()[table_name]
            by = self._by.get(table_name)
            doc_id = index.get(key)
            if doc_id is None and kind == "put":
                doc_id = index[key] = self._next_id[table_name]
                self._next_id[table_name] = doc_id + 1
                raw_key = str(doc_id)
                raw[raw_key] = dict(op[3])
                self._order[table_name].append(raw_key)
                if by is not None:
                    by.setdefault(op[3].get(INDEXED[table_name]), []).append(doc_id)
                table.clear_cache()
                continue
            if doc_id is None:  # deleting what is not there
                continue
            raw_key = str(doc_id)
            self._rewrites[table_name] += 1
            before = self._before.get(table_name)
            if before is not None and raw_key not in before:
                before[raw_key] = raw[raw_key]  # first, so a compaction reading meanwhile sees it
            if kind == "delete":
                del index[key]
                if by is not None:  # an indexed table: the row leaves its index too
                    by[raw[raw_key].get(INDEXED[table_name])].remove(doc_id)
                del raw[raw_key]
                table.clear_cache()
                continue
            if by is not None:
                field = INDEXED[table_name]
                old, new = raw[str(doc_id)].get(field), op[3].get(field)
                if old != new:
                    by[old].remove(doc_id)
                    by.setdefault(new, []).append(doc_id)
                    by[new].sort()
            # a new row object, never a changed one: a background compaction may be
            # encoding the old one
            raw[raw_key] = dict(op[3])
            table.clear_cache()

    def _write_snapshot(self) -> None:
        """Replace the file with every table as a snapshot line, now (opening and creating:
        no compaction runs); one never parsed and unchanged is written back as read."""
        bodies: dict[str, bytes | memoryview] = {}
        for name in TABLES:
            if name in self._unparsed and not self._waiting.get(name):
                bodies[name] = self._unparsed[name]
            else:
                self.table(name)
                bodies[name] = dumps(self._tables()[name])
        self._journal.write_snapshot(bodies)
        for name, order in self._order.items():
            self._written[name] = (len(order), self._rewrites[name])

    def _frozen(self) -> dict[str, "Frozen"]:
        """The tables as they are now, for a compaction, in time independent of their size
        (caller holds ``_io``): an unparsed table as its body as read and how many of the
        operations waiting for it there are; a parsed one as how many keys of its order
        there are, commands recording from now on how each row they replace or delete was
        (``_before``), and which prefix of its snapshot line is still true."""
        frozen: dict[str, Frozen] = {}
        before: dict[str, dict[str, Any]] = {}
        for name in TABLES:
            if name not in self._index:
                frozen[name] = self._frozen_unparsed(name)
                continue
            written = self._written.get(name)
            line = self._journal.lines.get(name)
            copy = None
            if written is not None and line is not None and written[1] == self._rewrites[name]:
                copy = (line, written[0])
            before[name] = {}
            order = self._order[name]
            frozen[name] = _Rows(
                self._tables()[name], order, len(order), before[name], copy, self._rewrites[name]
            )
        self._before = before
        return frozen

    def _frozen_unparsed(self, name: str) -> "_Unparsed":
        waiting = self._waiting.get(name, [])
        body = self._unparsed.get(name, b"{}")
        return _Unparsed(body, self._body_crc.get(name), waiting, len(waiting), name in APPEND_ONLY)

    def _maybe_compact(self) -> None:
        """Start a background compaction once the journal outgrows the snapshot (again,
        once the last one has finished)."""
        if self._compactor is not None:
            if self._compactor.is_alive():
                return
            self._join_compactor()
        if self._journal.journal_bytes <= max(COMPACT_MIN_BYTES, self._journal.snapshot_bytes):
            return
        with self._io:
            self._flush_pending()  # the tables frozen below must hold nothing not in the file
            since, frozen = self._journal.length, self._frozen()
        self._compactor = threading.Thread(
            target=self._compact_from, args=(frozen, since), name="compaction", daemon=True
        )
        self._compactor.start()

    def _compact_from(
        self, frozen: dict[str, "Frozen"], since: int, pause: Callable[[], None] = _let_commands_run
    ) -> None:
        """Write the tables of ``frozen`` (the state at journal byte ``since``) beside the
        workspace, copy to it the records appended meanwhile, then, holding the journal,
        the last few and rename it over the workspace. Crash safe at every step: until the
        rename the old file is whole; after it the new one holds the same acknowledged
        commands. Only an optimisation: if the disk refuses, the journal simply stays longer.

        A table whose snapshot line still holds its first rows unchanged (the event log
        always: it is only appended to) is not encoded again: that line is copied from the
        old file and only the rows added since are encoded. The event log not parsed is
        written as its body as read plus the rows its waiting operations add; the waiting
        operations of another unparsed table are carried as records after the snapshot."""
        first_ids = {name: t.first_new_id() for name, t in frozen.items() if isinstance(t, _Unparsed)}
        carried = (
            table.ops[start : min(start + ROWS_PER_CHUNK, table.count)]
            for name, table in frozen.items()
            if isinstance(table, _Unparsed) and first_ids[name] is None
            for start in range(0, table.count, ROWS_PER_CHUNK)
        )
        try:
            with suppress(OSError), open(self.path, "rb") as source:
                bodies = {
                    name: _body(table, source, first_ids.get(name), pause) for name, table in frozen.items()
                }
                prepared = self._journal.prepare_snapshot(bodies, carried)
                prepared, since = self._journal.catch_up(prepared, since)
                with self._io:
                    self._journal.install(prepared, since)
                    self._carried = any(
                        isinstance(t, _Unparsed) and t.count and first_ids[name] is None
                        for name, t in frozen.items()
                    )
                    for name, table in frozen.items():
                        if isinstance(table, _Rows):
                            self._written[name] = (table.count, table.rewrites)
                        elif name not in self._index:
                            folded = 0 if first_ids[name] is None else table.count
                            self._line_rows[name] = (self._journal.lines[name].crc, folded)
                        elif first_ids[name] is not None:  # parsed meanwhile: its new line holds more
                            self._written.pop(name, None)
                    self._record_length()
        finally:
            self._before = {}

    def _join_compactor(self) -> None:
        """Wait for a background compaction to finish."""
        if self._compactor is not None:
            self._compactor.join()
            self._compactor = None

    def _upgrade(self, version: int) -> None:
        """Bring a workspace of an older schema version to this one: the file as it was is
        kept beside it (``<name>.schema<version>``), then the upgraded tables replace it."""
        tables = {name: self.rows(name) for name in ("meta", "app", "invoices")}
        puts = migrations.upgrade(version, tables, lambda row: self.decode("invoices", row))
        backup = self.path.with_name(f"{self.path.name}.schema{version}")
        try:
            if not backup.exists():
                shutil.copy2(self.path, backup)
            self._apply([self._encode(Put(table, document, summary)) for table, document, summary in puts])
            self._write_snapshot()
        except OSError as error:
            raise StoreError(
                f"cannot upgrade {self.path} from schema version {version}: "
                f"{error.strerror}; it was left as it is"
            ) from None

    def _compact(self) -> None:
        """Rewrite the file as one fresh snapshot, now. Only an optimisation: if the disk
        refuses, the journal simply stays longer."""
        self._join_compactor()
        for name, waiting in list(self._waiting.items()):
            if waiting and self._frozen_unparsed(name).first_new_id() is None:
                self.table(name)  # off the command path: fold every operation into its table
        with self._io:
            self._flush_pending()
            since, frozen = self._journal.length, self._frozen()
        self._compact_from(frozen, since, _no_pause)

    def _record_length(self) -> None:
        """Let the lock file remember how long the workspace is (see ``WorkspaceLock``)."""
        with suppress(OSError):  # only a check for later: never a reason to fail a command
            self._lock.record(self._journal.snapshot_id, self._journal.length)


def _backed(record: list[Op], payloads: int) -> bool:
    """Whether the data of every event row a journal record puts is whole in the payload
    file ``payloads`` (an address that is no address is left for reading to report)."""
    for op in record:
        if isinstance(op, list) and len(op) == 4 and op[:2] == ["put", "events"] and isinstance(op[3], dict):
            try:
                offset, length, crc = op[3]["payload"]
                data = os.pread(payloads, length, offset)
            except (KeyError, TypeError, ValueError, OSError):
                continue
            if len(data) != length or zlib.crc32(data) != crc:
                return False
    return True


def _check_not_truncated(path: Path, journal: Journal, lock: WorkspaceLock) -> None:
    """Refuse a workspace whose whole records end before its last writer's did (same
    snapshot): cut short, or zeroed where records were (read as the room after them)."""
    if lock.recorded is None:
        return
    snapshot_id, length = lock.recorded
    if snapshot_id == journal.snapshot_id and journal.length < length:
        raise StoreError(
            f"{path} is truncated: it held {length} bytes of records when last written and now holds "
            f"{journal.length}, so acknowledged commands are missing; it was "
            f"left as it is. Restore it from a copy, or if you put an older copy there on "
            f"purpose, delete {lock.path} and open it again"
        )


def _check_replaceable(path: Path, force: bool) -> None:
    """Refuse to overwrite a workspace, or event data beside no workspace, unless forced."""
    if force:
        return
    if path.exists():
        raise StoreError(f"{path} already exists; pass --force to replace it")
    payloads = payloads_path(path)
    if payloads.exists() and payloads.stat().st_size:
        raise StoreError(
            f"{payloads} exists without its workspace {path.name}; move it away or pass --force to replace it"
        )


_ROW_START = re.compile(rb',"\d+":\{')


def _last_rows(body: bytes | memoryview, count: int) -> list[dict[str, Any]] | None:
    """The last ``count`` rows of a table's snapshot body, newest first, parsing only its
    end; None when that cannot be done (a short table: parse it whole)."""
    items = _last_items(body, count)
    return None if items is None else [row for _, row in items]


def _last_items(body: bytes | memoryview, count: int) -> list[tuple[str, dict[str, Any]]] | None:
    """The last ``count`` (doc id, row) of a table's snapshot body, newest first, parsing
    only its end; None when that cannot be done (a short table). A ``,"<id>":{`` inside a
    row would make the parse fail, never give a wrong row."""
    size = len(body)
    window = 512 * count
    while True:
        end = bytes(body[max(0, size - window) :])
        starts = [match.start() for match in _ROW_START.finditer(end)]
        if len(starts) >= count or window >= size:
            break
        window *= 4
    if len(starts) < count:
        return None
    try:
        rows = json.loads(b"{" + end[starts[-count] + 1 :])
    except ValueError:
        return None
    return list(reversed(rows.items())) if isinstance(rows, dict) and len(rows) == count else None


@dataclass(frozen=True)
class _Rows:
    """A parsed table as a compaction reads it: the rows of the first ``count`` keys of
    ``order`` as they were when it began (``before``, else as ``raw`` holds them; absent:
    deleted); ``copy``: a snapshot line holding exactly the rows of the first ``n`` keys,
    and ``n``; ``rewrites``: the table's ``_rewrites`` then."""

    raw: dict[str, Any]
    order: list[str]
    count: int
    before: dict[str, Any]
    copy: tuple[Line, int] | None
    rewrites: int

    def row(self, key: str) -> Any:
        row = self.raw.get(key)  # read first: a command records ``before`` before it changes ``raw``
        return self.before.get(key, row)


@dataclass(frozen=True)
class _Unparsed:
    """A table not parsed when a compaction began: its body as read and the body's
    checksum (None: an empty body of a table the file lacks), the first ``count`` of the
    operations waiting for it (the list only grows), and whether it is one of
    ``APPEND_ONLY``."""

    body: bytes | memoryview
    crc: int | None
    ops: list[Op]
    count: int
    append_only: bool

    def first_new_id(self) -> int | None:
        """For an append-only table whose waiting operations are all puts (each of a new
        row): the doc id the first of them takes, found at the end of the body without
        parsing it; else None."""
        if not self.append_only or not self.count:
            return None
        if any(op[0] != "put" for op in itertools.islice(self.ops, self.count)):
            return None
        if len(self.body) <= 2:  # an empty table: "{}"
            return 1
        last = _last_items(self.body, 1)
        return None if last is None else int(last[0][0]) + 1


Frozen = _Rows | _Unparsed


def _body(table: Frozen, source: BinaryIO, first_id: int | None, pause: Callable[[], None]) -> Body:
    """What a compaction writes as a frozen table's snapshot line body: a parsed table
    encoded, an unparsed one as read (with its new rows when ``first_id`` says where
    they are numbered from)."""
    if isinstance(table, _Rows):
        return _encoded(table, source, pause)
    if table.crc is not None and zlib.crc32(table.body) != table.crc:  # it is mapped from the old file
        raise OSError(errno.EIO, "a snapshot line changed on disk since it was read")
    if first_id is None:
        return table.body
    return _appended(table, first_id, pause)


def _appended(table: _Unparsed, first_id: int, pause: Callable[[], None]) -> Iterator[bytes | memoryview]:
    """An unparsed append-only table's body with the rows of its first ``count`` waiting
    puts added, numbered on from ``first_id``, without parsing the body."""
    yield table.body[:-1]
    rows = (
        (str(first_id + index), op[3]) for index, op in enumerate(itertools.islice(table.ops, table.count))
    )
    yield from _rows_json(rows, b"," if len(table.body) > 2 else b"", pause)
    yield b"}"


def _rows_json(
    items: Iterable[tuple[str, Any]], separator: bytes, pause: Callable[[], None]
) -> Iterator[bytes]:
    """``"<doc id>":<row>`` for each of ``items`` (a None row, deleted, is skipped),
    comma-separated, ``separator`` before the first, in chunks of ``ROWS_PER_CHUNK`` rows
    (each encoded in one call), calling ``pause`` between chunks."""
    chunk: dict[str, Any] = {}
    for key, row in items:
        if row is None:
            continue
        chunk[key] = row
        if len(chunk) == ROWS_PER_CHUNK:
            yield separator + dumps(chunk)[1:-1]  # the rows without the object's braces
            separator, chunk = b",", {}
            pause()
    if chunk:
        yield separator + dumps(chunk)[1:-1]


def _encoded(table: _Rows, source: BinaryIO, pause: Callable[[], None]) -> Iterator[bytes]:
    """A frozen table's JSON body (as ``dumps`` writes it) in chunks: the reusable part
    of its snapshot line copied from ``source`` (the old file), then ``ROWS_PER_CHUNK``
    rows at a time, so that other threads run between chunks."""
    first = 0
    separator = b""
    if table.copy is None:
        yield b"{"
    else:
        line, first = table.copy
        yield from _copied_prefix(source, line)
        separator = b"," if line.end - line.body_start > 2 else b""
    keys = itertools.islice(table.order, first, table.count)
    yield from _rows_json(((key, table.row(key)) for key in keys), separator, pause)
    yield b"}"


def _copied_prefix(source: BinaryIO, line: Line) -> Iterator[bytes]:
    """A snapshot line's body from the old file without its closing brace, checked
    against the line's checksum (OSError if it no longer matches: nothing is copied on)."""
    crc = 0
    position, end = line.body_start, line.end
    pending = b""
    while position < end:
        source.seek(position)
        chunk = source.read(min(COPY_BYTES, end - position))
        if not chunk:
            break
        position += len(chunk)
        crc = zlib.crc32(chunk, crc)
        if pending:
            yield pending
        pending = chunk
    if position != end or not pending.endswith(b"}") or crc != line.crc:
        raise OSError(errno.EIO, "a snapshot line changed on disk during compaction")
    yield pending[:-1]
