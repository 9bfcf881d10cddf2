"""The workspace file: a header, one snapshot line per table, then journal records.

Layout (UTF-8 text, one JSON document per line)::

    {"format": "tui-billing/workspace", "schema_version": 2, "tables": ["meta", ...]}   header
    <crc32> {"1": {...}, "2": {...}}                               one snapshot line per table,
    ...                                                            in the header's order
    <crc32> [["put", table, key, row], ...]                         one line per command
    ...
    <zeros>                                                         room for the next records

Why not TinyDB's ``JSONStorage``: it rewrites the whole file in place on every write
(about 115 ms at 10k invoices) and a kill mid-write corrupts it. Here a command costs one
appended line and one ``fsync``; when the journal outgrows the snapshot, a new file is
written beside the old one and atomically renamed over it. A large file keeps zeros after its
last record (``PAD_BYTES``, written and fsynced once): a record then overwrites bytes the
file already has, so its fsync commits no new size or blocks (measured on ext4: 0.15 ms
instead of 0.20). The records end at the first line holding a zero byte (JSON text never
does). A torn tail (whatever follows the last whole record up to the zeros: the process
was killed while writing a record, so the command was never acknowledged) is reported,
ignored and cut off before the next append; a complete line with a bad checksum, anywhere,
is damage and the file is refused untouched. A file cut at
a line boundary looks whole; the lock file remembers the length each writer left, which
catches that (see ``lock``).

Opening maps the file into memory (no copy of it is made), verifies every line's
checksum but parses only the journal: a table's snapshot line is parsed when the table is
first used (``parse``), so a large workspace opens in the time it takes to checksum it.
"""

import errno
import gc
import json
import mmap
import os
import stat
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..domain.errors import WorkspaceUnusable

FORMAT = "tui-billing/workspace"
SCHEMA_VERSION = 6
# 3: event payloads are zlib-compressed; 4: lines with detailed lines; 5: event payloads
# may be deltas (compressed against an earlier payload, see ``payloads``); 6: zeros may
# follow the records (``PAD_BYTES``: a version 5 reader would call a write interrupted
# over them damage)
UPGRADABLE_VERSIONS = frozenset({3, 4, 5})
"""Older versions opened by upgrading them (``migrations.py``)."""

Op = list[Any]
Body = bytes | memoryview | Iterable[bytes | memoryview]
"""A snapshot line's body to write: whole, or in chunks (a large table is never one string)."""
COPY_BYTES = 1 << 20
"""Bytes copied from file to file at a time."""
PAD_FROM_BYTES = 4 << 20
"""A workspace file at least this long keeps zeros after its records (smaller files are
cheap to grow, and stay byte for byte what they hold)."""
PAD_BYTES = 1 << 20
"""Zeros written after a record that does not fit in the room left (a thousand commands'
records, at the cost of one larger append)."""
SYNC_BYTES = 4 << 20
"""Bytes a compaction writes between two flushes to disk (see ``_sync_every``)."""
_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class StoreError(WorkspaceUnusable):
    """The workspace file cannot be used; the message says why and what to do. Front doors
    know it as the domain's ``WorkspaceUnusable``: they never import the store."""


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""``json.dumps`` with these options builds an encoder per call; a compaction calls it per row."""


def dumps(value: Any) -> bytes:
    """Compact JSON, as every line stores it."""
    return _ENCODER.encode(value).encode()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector: parsing a large table (or a long command building many
    documents) allocates many containers and would otherwise trigger collections that
    rescan everything allocated so far."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse(body: bytes | memoryview) -> Any:
    """A verified line's JSON body as Python values."""
    with gc_paused():
        return json.loads(bytes(body))


def frame(body: bytes) -> bytes:
    """A journal line: checksum, space, body, newline."""
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def _unframe(line: memoryview) -> memoryview:
    """The body of a checksummed line (without its newline), or ValueError if damaged."""
    if len(line) < 9 or line[8] != ord(" "):
        raise ValueError("malformed line")
    body = line[9:]
    crc = line[:8].tobytes()
    if crc.strip(b"0123456789abcdef") or int(crc, 16) != zlib.crc32(body):
        raise ValueError("checksum mismatch")
    return body


def _mapped(path: Path) -> bytes | mmap.mmap:
    """The file's bytes, mapped read-only rather than copied (a 500 MB workspace is copied
    in a quarter of a second, mapped in a twentieth). The mapping outlives a rename over
    the file (a compaction's); only the file's acknowledged part is read through it, and
    that part is never cut while the workspace is held (a program other than tui-billing
    cutting a workspace in use short would make reading the cut part fail with SIGBUS).
    Windows cannot rename over a mapped file, and an empty file cannot be mapped: those
    are read."""
    with open(path, "rb") as handle:
        if os.name == "nt" or os.fstat(handle.fileno()).st_size == 0:
            return handle.read()
        populate = getattr(mmap, "MAP_POPULATE", 0)  # Linux: read the whole file ahead in one call
        return mmap.mmap(handle.fileno(), 0, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ)


def _written_end(raw: bytes | mmap.mmap, start: int) -> int:
    """Where the bytes of ``raw`` from ``start`` on end once the zeros after them are left
    out (``start`` if they are all zeros)."""
    end = len(raw)
    while end > start:
        chunk = raw[max(start, end - COPY_BYTES) : end]
        kept = len(chunk.rstrip(b"\0"))
        if kept:
            return end - len(chunk) + kept
        end -= len(chunk)
    return start


def _lines(raw: bytes | mmap.mmap) -> list[tuple[int, int]]:
    """(start, end) of each newline-terminated line of ``raw``, the newline excluded."""
    bounds, start = [], 0
    while (end := raw.find(b"\n", start)) >= 0:
        bounds.append((start, end))
        start = end + 1
    return bounds


NO_FOLLOW = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
"""Flags for every file of a workspace: not inherited by children, never through a link."""


def open_private(path: Path, flags: int) -> int:
    """``os.open`` for a workspace file: created 0600 (less if the umask says so), an
    existing one made private too, never through a symbolic link (OSError ELOOP)."""
    fd = os.open(path, flags | NO_FOLLOW, 0o600)
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & 0o077 and hasattr(os, "fchmod"):
        with suppress(OSError):  # someone else's file: leave its mode alone
            os.fchmod(fd, mode & 0o700)
    return fd


def os_message(path: Path, error: OSError, doing: str) -> str:
    """Why ``path`` cannot be ``doing`` (open, write…), in words; a symbolic link is
    named as such."""
    if error.errno == errno.ELOOP:
        return f"{path} is a symbolic link; tui-billing does not follow links for its own files"
    return f"cannot {doing} {path}: {error.strerror or error}"


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
        self._room = 0
        """Where the zeros after the records end: the file's size once open for appending."""
        self.snapshot_bytes = 0
        self.journal_bytes = 0
        self.schema_version = SCHEMA_VERSION
        """The version the file was written with (an upgradable one until it is upgraded)."""
        self.torn_bytes = 0
        """Bytes of a torn last record found by ``load`` (cut off before the next append;
        the zeros after it are not counted)."""
        self.snapshot_id = 0
        """Identifies the snapshot (header and table checksums): tells a compacted or
        replaced file from a truncated one."""
        self._record_starts: list[int] = []
        """Where each record read by ``load`` starts."""
        self.lines: dict[str, Line] = {}
        """Where each table's snapshot line is in the file (a compaction copies an
        unchanged prefix of it instead of encoding its rows again)."""

    # --- reading ---------------------------------------------------------------------
    def load(self) -> tuple[dict[str, memoryview], list[list[Op]]]:
        """Each table's snapshot body (verified, not parsed: a view of the file's bytes) and
        the journal's records, oldest first."""
        try:
            raw = _mapped(self.path)
        except OSError as error:
            raise StoreError(f"cannot read workspace {self.path}: {error.strerror}") from None
        view = memoryview(raw)
        bounds = _lines(raw)
        names = self._check_header(raw[: bounds[0][1] if bounds else len(raw)])
        if len(bounds) < 1 + len(names):
            raise StoreError(f"{self.path} is damaged: its snapshot is incomplete; it was left as it is")
        snapshot: dict[str, memoryview] = {}
        lines: dict[str, Line] = {}
        # bounds go on with the journal's lines after the tables' snapshot lines
        for number, (name, (start, end)) in enumerate(zip(names, bounds[1:], strict=False), start=2):
            try:
                snapshot[name] = _unframe(view[start:end])
            except ValueError:
                raise StoreError(
                    f"{self.path} is damaged at line {number} (its snapshot of {name}); it was left as it is"
                ) from None
            lines[name] = Line(start, end, int(raw[start : start + 8], 16))
        self.lines = lines
        self.snapshot_bytes = self._valid_length = bounds[len(names)][1] + 1
        self.snapshot_id = zlib.crc32(
            b"".join(view[start : start + 8] for start, _ in bounds[1 : 1 + len(names)])
        )
        records: list[list[Op]] = []
        self._record_starts = []
        for index, (start, end) in enumerate(bounds[1 + len(names) :]):
            number = index + 2 + len(names)
            if raw.find(b"\0", start, end) >= 0:
                break  # the room after the records, where a write was interrupted
            try:
                record = parse(_unframe(view[start:end]))
            except ValueError:
                raise StoreError(
                    f"{self.path} is damaged at line {number} (a complete journal "
                    "record that fails its checksum or is not JSON); it was left as it is"
                ) from None
            if not isinstance(record, list):
                raise StoreError(
                    f"{self.path} is damaged at line {number}: a journal record is "
                    "not a list of operations; it was left as it is"
                )
            records.append(record)
            self._record_starts.append(start)
            self._valid_length = end + 1
        self.journal_bytes = self._valid_length - self.snapshot_bytes
        self.torn_bytes = _written_end(raw, self._valid_length) - self._valid_length
        return snapshot, records

    def record_start(self, index: int) -> int:
        """Where the record ``index`` (of those ``load`` returned) starts in the file."""
        return self._record_starts[index]

    def forget_records_from(self, index: int) -> None:
        """Treat the records ``load`` returned from ``index`` on as a torn tail: ignored,
        and cut off before the next append."""
        start = self._record_starts[index]
        self.torn_bytes += self._valid_length - start
        self.journal_bytes -= self._valid_length - start
        self._valid_length = start
        del self._record_starts[index:]

    def probe(self) -> None:
        """Refuse, reading only the header, a file that is not a workspace we read: so
        nothing is created beside a foreign file."""
        try:
            with open(self.path, "rb") as handle:
                line = handle.readline(64 * 1024)
        except OSError as error:
            raise StoreError(f"cannot read workspace {self.path}: {error.strerror}") from None
        self._check_header(line)

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
        self.append_lines([frame(dumps(ops))])

    def append_lines(self, lines: list[bytes]) -> None:
        """Append framed records (``frame``) with one ``fsync`` for all of them: a group
        commit. Durable when this returns; if the disk refuses, none of them is kept."""
        records = b"".join(lines)
        fd = self._open_for_append()
        end = self._valid_length + len(records)
        data = records
        if end > self._room and end >= PAD_FROM_BYTES:
            data += bytes(PAD_BYTES)  # room for the next records, made durable with this one
        try:
            written = 0
            while written < len(data):
                written += os.pwrite(fd, data[written:], self._valid_length + written)
            os.fsync(fd)
        except OSError:
            with suppress(OSError):
                os.ftruncate(fd, self._valid_length)
                self._room = self._valid_length
            raise
        self._room = max(self._room, self._valid_length + len(data))
        self._valid_length = end
        self.journal_bytes += len(records)

    def retract(self, length: int) -> None:
        """Take back, durably, the records appended after byte ``length``; OSError if the
        disk refuses."""
        fd = self._open_for_append()
        os.ftruncate(fd, length)
        os.fsync(fd)
        self.journal_bytes -= self._valid_length - length
        self._valid_length = self._room = length

    def _open_for_append(self) -> int:
        if self._fd is None:
            fd = open_private(self.path, os.O_WRONLY)
            try:
                self._room = os.fstat(fd).st_size
                if self.torn_bytes or self._room < self._valid_length:
                    os.ftruncate(fd, self._valid_length)  # drop a torn tail (and the zeros after it)
                    self._room = self._valid_length
                    self.torn_bytes = 0
            except OSError:
                os.close(fd)
                raise
            self._fd = fd
        return self._fd

    def write_snapshot(self, bodies: Mapping[str, Body]) -> None:
        """Replace the file with a header and one line per table, atomically (write
        beside, fsync, rename); on failure the old file stays as it was."""
        self.install(self.prepare_snapshot(bodies), self.length)

    def prepare_snapshot(self, bodies: Mapping[str, Body], records: Iterable[list[Op]] = ()) -> "Prepared":
        """Write a header, one line per table and then ``records`` (journal records the
        snapshot does not hold) beside the file and fsync it; the file itself is untouched
        until ``install``. A body is bytes or an iterable of byte chunks (written as they
        come, so a large table is never one string in memory)."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        header = (
            json.dumps({"format": FORMAT, "schema_version": SCHEMA_VERSION, "tables": list(bodies)}).encode()
            + b"\n"
        )
        checksums: list[bytes] = []
        lines: dict[str, Line] = {}
        synced = 0
        try:
            temporary.unlink(missing_ok=True)  # a leftover of a killed run (or a planted link)
            with open(open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as handle:
                handle.write(header)
                for name, body in bodies.items():
                    start = handle.tell()
                    handle.write(b"00000000 ")
                    crc = 0
                    for chunk in (body,) if isinstance(body, bytes | memoryview) else body:
                        crc = zlib.crc32(chunk, crc)
                        for start_of in range(0, len(chunk), SYNC_BYTES):
                            handle.write(chunk[start_of : start_of + SYNC_BYTES])
                            synced = _sync_every(handle, synced)
                    handle.write(b"\n")
                    end = handle.tell()
                    checksums.append(b"%08x" % crc)
                    lines[name] = Line(start, end - 1, crc)
                    handle.seek(start)
                    handle.write(checksums[-1])
                    handle.seek(end)
                for record in records:
                    handle.write(frame(dumps(record)))
                handle.flush()
                os.fsync(handle.fileno())
                size = handle.tell()
        except BaseException:
            with suppress(OSError):
                temporary.unlink()
            raise
        return Prepared(temporary, size, zlib.crc32(b"".join(checksums)), lines)

    def catch_up(self, prepared: "Prepared", since: int) -> tuple["Prepared", int]:
        """Copy to a prepared snapshot the records appended from byte ``since`` on, fsynced,
        without holding up appends (bytes below ``length`` never change): ``install`` then
        copies only what is appended meanwhile. The prepared file and the new ``since``."""
        end = self._valid_length
        if end <= since:
            return prepared, since
        with open(self.path, "rb") as source, open(prepared.path, "r+b") as target:
            source.seek(since)
            target.seek(prepared.size)
            while since < end:
                chunk = source.read(min(COPY_BYTES, end - since))
                if not chunk:
                    raise OSError(errno.EIO, f"{self.path} is shorter than its records")
                target.write(chunk)
                since += len(chunk)
            target.flush()
            os.fsync(target.fileno())
            size = target.tell()
        return replace(prepared, size=size), since

    def install(self, prepared: "Prepared", since: int) -> None:
        """Rename a prepared snapshot over the file, after copying to it the journal
        records appended from byte ``since`` on (those not in the snapshot), fsynced;
        on failure the old file stays as it was and the prepared one is removed."""
        try:
            tail = b""
            if since < self._valid_length:
                with open(self.path, "rb") as handle:
                    handle.seek(since)
                    tail = handle.read(self._valid_length - since)
            if tail:
                with open(prepared.path, "r+b") as handle:
                    handle.seek(prepared.size)
                    handle.write(tail)
                    handle.flush()
                    os.fsync(handle.fileno())
            self.close()
            os.replace(prepared.path, self.path)
        except BaseException:
            with suppress(OSError):
                prepared.path.unlink()
            raise
        fsync_dir(self.path.parent)
        # records carried into the snapshot count as snapshot: compaction cannot shorten them
        self.snapshot_bytes = prepared.size
        self._valid_length = prepared.size + len(tail)
        self.journal_bytes = len(tail)
        self.torn_bytes = 0
        self.snapshot_id = prepared.snapshot_id
        self.lines = prepared.lines

    @property
    def length(self) -> int:
        """Bytes of the file that hold whole, acknowledged records."""
        return self._valid_length

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _sync_every(handle: BinaryIO, synced: int) -> int:
    """Flush a file being written to disk each ``SYNC_BYTES``: a final fsync of hundreds of
    megabytes would hold up every command's fsync on the same disk for as long. The
    offset synced up to."""
    if handle.tell() - synced < SYNC_BYTES:
        return synced
    handle.flush()
    _datasync(handle.fileno())
    return handle.tell()


@dataclass(frozen=True)
class Line:
    """A snapshot line in the file: its body is ``[start + 9, end)`` (after the checksum and
    its space, before the newline); ``crc`` is the body's checksum."""

    start: int
    end: int
    crc: int

    @property
    def body_start(self) -> int:
        return self.start + 9


@dataclass(frozen=True)
class Prepared:
    """A snapshot written and fsynced beside the workspace, not yet renamed over it;
    ``size`` bytes long (its records included)."""

    path: Path
    size: int
    snapshot_id: int
    lines: dict[str, Line]


def iter_ops(records: list[list[Op]]) -> Iterator[Op]:
    for record in records:
        yield from record
