"""The workspace file: a snapshot line followed by journal records, each checksummed.

Layout (UTF-8 text, one JSON document per line)::

    {"format": "tui-billing/workspace", "schema_version": 1}      header
    <crc32> {"meta": {...}, "invoices": {...}, ...}                  snapshot (TinyDB tables)
    <crc32> [["put", table, doc_id, doc], ["del", table, doc_id]]    one line per command
    ...

Why not TinyDB's ``JSONStorage``: it rewrites the whole file in place on every write
(about 115 ms at 10k invoices) and a kill mid-write corrupts it. Here a command costs one
appended line and one ``fsync``; when the journal outgrows the snapshot, a new file is
written beside the old one and atomically renamed over it. A torn last line (the process
was killed while writing it, so the command was never acknowledged) is ignored and cut
off before the next append; damage anywhere else is corruption and the file is refused
untouched.
"""

import json
import os
import zlib
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

FORMAT = "tui-billing/workspace"
SCHEMA_VERSION = 1

Op = list[Any]
Tables = dict[str, dict[str, Any]]


class StoreError(Exception):
    """The workspace file cannot be used; the message says why and what to do."""


def _encode(payload: Any) -> bytes:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def _decode(line: bytes) -> Any:
    """The payload of a checksummed line, or ValueError if it is damaged."""
    if len(line) < 10 or line[8:9] != b" " or not line.endswith(b"\n"):
        raise ValueError("malformed line")
    body = line[9:-1]
    if int(line[:8], 16) != zlib.crc32(body):
        raise ValueError("checksum mismatch")
    return json.loads(body)


def _header() -> bytes:
    return json.dumps({"format": FORMAT, "schema_version": SCHEMA_VERSION}).encode() + b"\n"


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):  # not every platform can fsync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Journal:
    """Reads a workspace file into tables and appends durable records to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._valid_length = 0
        self.snapshot_bytes = 0
        self.journal_bytes = 0

    # --- reading ---------------------------------------------------------------------
    def load(self) -> tuple[Tables, list[list[Op]]]:
        """The snapshot's tables and the journal's records, oldest first."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"no workspace at {self.path}") from None
        except OSError as error:
            raise StoreError(f"cannot read workspace {self.path}: {error.strerror}") from None
        lines = raw.splitlines(keepends=True)
        self._check_header(lines[0] if lines else b"")
        if len(lines) < 2:
            raise StoreError(f"{self.path} is damaged: its snapshot is missing")
        try:
            tables = _decode(lines[1])
        except ValueError:
            raise StoreError(f"{self.path} is damaged: its snapshot fails its checksum") from None
        offset = len(lines[0]) + len(lines[1])
        self.snapshot_bytes = offset
        records: list[list[Op]] = []
        for index, line in enumerate(lines[2:], start=3):
            try:
                records.append(_decode(line))
            except ValueError:
                if index == len(lines):  # torn tail: never acknowledged
                    break
                raise StoreError(
                    f"{self.path} is damaged at line {index}; it was left as it is"
                ) from None
            offset += len(line)
        self._valid_length = offset
        self.journal_bytes = offset - self.snapshot_bytes
        return tables, records

    def _check_header(self, line: bytes) -> None:
        try:
            header = json.loads(line)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise StoreError(f"{self.path} is not a tui-billing workspace; it was left as it is")
        version = header.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}; this tui-billing reads version "
                f"{SCHEMA_VERSION}"
            )

    # --- writing ---------------------------------------------------------------------
    def append(self, ops: list[Op]) -> None:
        """Append one record; durable (fsynced) when this returns."""
        line = _encode(ops)
        fd = self._open_for_append()
        os.write(fd, line)
        os.fsync(fd)
        self._valid_length += len(line)
        self.journal_bytes += len(line)

    def _open_for_append(self) -> int:
        if self._fd is None:
            fd = os.open(self.path, os.O_WRONLY)
            if os.fstat(fd).st_size != self._valid_length:
                os.ftruncate(fd, self._valid_length)  # drop a torn tail
            os.lseek(fd, self._valid_length, os.SEEK_SET)
            self._fd = fd
        return self._fd

    def write_snapshot(self, tables: Tables) -> None:
        """Replace the file with header + snapshot, atomically (write, fsync, rename)."""
        self.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        body = _header() + _encode(tables)
        with open(temporary, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        _fsync_dir(self.path.parent)
        self._valid_length = self.snapshot_bytes = len(body)
        self.journal_bytes = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def iter_ops(records: list[list[Op]]) -> Iterator[Op]:
    for record in records:
        yield from record
