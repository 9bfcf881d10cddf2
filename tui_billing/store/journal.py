"""The workspace file: a header, one snapshot line per table, then journal records.

Layout (UTF-8 text, one JSON document per line)::

    {"format": "tui-billing/workspace", "schema_version": 2, "tables": ["meta", ...]}   header
    <crc32> {"1": {...}, "2": {...}}                               one snapshot line per table,
    ...                                                            in the header's order
    <crc32> [["put", table, key, row], ...]                         one line per command
    ...

Why not TinyDB's ``JSONStorage``: it rewrites the whole file in place on every write
(about 115 ms at 10k invoices) and a kill mid-write corrupts it. Here a command costs one
appended line and one ``fsync``; when the journal outgrows the snapshot, a new file is
written beside the old one and atomically renamed over it. A torn last line (the process
was killed while writing it, so the command was never acknowledged) is ignored and cut
off before the next append; damage anywhere else is corruption and the file is refused
untouched.

Opening verifies every line's checksum but parses only the journal: a table's snapshot
line is parsed when the table is first used (``parse``), so a large workspace opens in
the time it takes to read it.
"""

import gc
import json
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

FORMAT = "tui-billing/workspace"
SCHEMA_VERSION = 4  # 3: event payloads are zlib-compressed; 4: lines with detailed lines
UPGRADABLE_VERSIONS = frozenset({3})
"""Older versions opened by upgrading them (``migrations.py``)."""

Op = list[Any]


class StoreError(Exception):
    """The workspace file cannot be used; the message says why and what to do."""


def dumps(value: Any) -> bytes:
    """Compact JSON, as every line stores it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector: parsing a large table allocates many containers and
    would otherwise trigger collections that rescan everything parsed so far."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse(body: bytes | memoryview) -> Any:
    """A verified line's JSON body as Python values."""
    with _gc_paused():
        return json.loads(bytes(body))


def _frame(body: bytes) -> bytes:
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def _unframe(line: memoryview) -> memoryview:
    """The body of a checksummed line (without its newline), or ValueError if damaged."""
    if len(line) < 9 or line[8:9] != b" ":
        raise ValueError("malformed line")
    body = line[9:]
    crc = line[:8].tobytes()
    if crc.strip(b"0123456789abcdef") or int(crc, 16) != zlib.crc32(body):
        raise ValueError("checksum mismatch")
    return body


def _lines(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of each newline-terminated line of ``raw``, the newline excluded."""
    bounds, start = [], 0
    while (end := raw.find(b"\n", start)) >= 0:
        bounds.append((start, end))
        start = end + 1
    return bounds


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    with suppress(OSError):  # not every platform can fsync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Journal:
    """Reads a workspace file and appends durable records to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._valid_length = 0
        self.snapshot_bytes = 0
        self.journal_bytes = 0
        self.schema_version = SCHEMA_VERSION
        """The version the file was written with (an upgradable one until it is upgraded)."""

    # --- reading ---------------------------------------------------------------------
    def load(self) -> tuple[dict[str, memoryview], list[list[Op]]]:
        """Each table's snapshot body (verified, not parsed: a view of the file's bytes) and
        the journal's records, oldest first."""
        try:
            raw = self.path.read_bytes()
        except OSError as error:
            raise StoreError(f"cannot read workspace {self.path}: {error.strerror}") from None
        view = memoryview(raw)
        bounds = _lines(raw)
        torn = (bounds[-1][1] + 1 if bounds else 0) < len(raw)  # bytes after the last newline
        names = self._check_header(raw[:bounds[0][1]] if bounds else raw)
        if len(bounds) < 1 + len(names):
            raise StoreError(f"{self.path} is damaged: its snapshot is incomplete; it was left as it is")
        snapshot: dict[str, memoryview] = {}
        for number, (name, (start, end)) in enumerate(zip(names, bounds[1:]), start=2):
            try:
                snapshot[name] = _unframe(view[start:end])
            except ValueError:
                raise StoreError(f"{self.path} is damaged at line {number} (its snapshot of "
                                 f"{name}); it was left as it is") from None
        self.snapshot_bytes = self._valid_length = bounds[len(names)][1] + 1
        records: list[list[Op]] = []
        journal = bounds[1 + len(names):]
        for index, (start, end) in enumerate(journal):
            try:
                records.append(parse(_unframe(view[start:end])))
            except ValueError:
                if index == len(journal) - 1 and not torn:
                    break  # a damaged last line is a torn write: never acknowledged
                number = index + 2 + len(names)
                raise StoreError(f"{self.path} is damaged at line {number}; it was left as it is") from None
            self._valid_length = end + 1
        self.journal_bytes = self._valid_length - self.snapshot_bytes
        return snapshot, records

    def _check_header(self, line: bytes) -> list[str]:
        """The snapshot's table names, once the header says this is a workspace we read."""
        try:
            header = json.loads(line)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise StoreError(f"{self.path} is not a tui-billing workspace; it was left as it is")
        version = header.get("schema_version")
        if version != SCHEMA_VERSION and version not in UPGRADABLE_VERSIONS:
            raise StoreError(
                f"{self.path} has schema version {version}; this tui-billing reads version "
                f"{SCHEMA_VERSION} and upgrades {', '.join(map(str, sorted(UPGRADABLE_VERSIONS)))}. "
                f"It was left as it is: open it with the tui-billing that wrote it, or start "
                f"anew with `tui-billing init --force`"
            )
        self.schema_version = version
        names = header.get("tables")
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise StoreError(f"{self.path} is damaged: its header lists no tables; it was left as it is")
        return names

    # --- writing ---------------------------------------------------------------------
    def append(self, ops: list[Op]) -> None:
        """Append one record; durable (fsynced) when this returns. If the disk refuses,
        the file is cut back to its last whole record and OSError is raised."""
        line = _frame(dumps(ops))
        fd = self._open_for_append()
        try:
            written = 0
            while written < len(line):
                written += os.pwrite(fd, line[written:], self._valid_length + written)
            os.fsync(fd)
        except OSError:
            with suppress(OSError):
                os.ftruncate(fd, self._valid_length)
            raise
        self._valid_length += len(line)
        self.journal_bytes += len(line)

    def _open_for_append(self) -> int:
        if self._fd is None:
            fd = os.open(self.path, os.O_WRONLY)
            try:
                if os.fstat(fd).st_size != self._valid_length:
                    os.ftruncate(fd, self._valid_length)  # drop a torn tail
            except OSError:
                os.close(fd)
                raise
            self._fd = fd
        return self._fd

    def write_snapshot(self, bodies: dict[str, bytes | memoryview]) -> None:
        """Replace the file with a header and one line per table, atomically (write
        beside, fsync, rename); on failure the old file stays as it was."""
        self.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        header = json.dumps({"format": FORMAT, "schema_version": SCHEMA_VERSION,
                             "tables": list(bodies)}).encode() + b"\n"
        try:
            with open(temporary, "wb") as handle:
                handle.write(header)
                for body in bodies.values():
                    handle.write(b"%08x " % zlib.crc32(body))
                    handle.write(body)
                    handle.write(b"\n")
                handle.flush()
                os.fsync(handle.fileno())
                size = handle.tell()
            os.replace(temporary, self.path)
        except BaseException:
            with suppress(OSError):
                temporary.unlink()
            raise
        fsync_dir(self.path.parent)
        self._valid_length = self.snapshot_bytes = size
        self.journal_bytes = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def iter_ops(records: list[list[Op]]) -> Iterator[Op]:
    for record in records:
        yield from record
