"""Compact encodings: packed documents and the append-only payload file."""

import base64
import json
import os
import zlib
from pathlib import Path
from typing import Any

from .journal import NO_FOLLOW, StoreError, dumps, fsync_dir, open_private, os_message
from .lock import READ_ONLY


def pack(document: dict[str, Any]) -> str:
    """A document as base64 zlib-compressed JSON (parses far faster than nested JSON)."""
    raw = dumps(document)
    return base64.b64encode(zlib.compress(raw, 1)).decode("ascii")


def unpack(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(text)))
    return document


def compress(data: Any) -> bytes:
    """An event's data as stored in the payload file: zlib-compressed JSON (about a third)."""
    return zlib.compress(dumps(data), 1)


def decompress(stored: bytes) -> Any:
    return json.loads(zlib.decompress(stored))


class PayloadFile:
    """Append-only bytes addressed by (offset, length, crc32); never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._end = 0
        self._unsynced = False
        self._unwritable: OSError | None = None
        """Why the file was opened for reading only."""

    def _open(self, *, create: bool) -> int:
        if self._fd is None:
            try:
                self._fd = open_private(self.path, os.O_RDWR | (os.O_CREAT if create else 0))
            except OSError as error:
                if create or error.errno not in READ_ONLY:
                    raise StoreError(os_message(self.path, error, "open")) from None
                self._fd = self._open_read_only()
                self._unwritable = error
            self._end = os.fstat(self._fd).st_size
        return self._fd

    def _open_read_only(self) -> int:
        """The file for reading where this process may not write it."""
        try:
            return os.open(self.path, os.O_RDONLY | NO_FOLLOW)
        except OSError as error:
            raise StoreError(os_message(self.path, error, "open")) from None

    def append(self, data: bytes) -> list[int]:
        """Write ``data`` at the end (not yet durable: call ``sync``); its address."""
        fd = self._open(create=True)
        if self._unwritable is not None:
            raise self._unwritable
        written = 0
        while written < len(data):
            written += os.pwrite(fd, data[written:], self._end + written)
        address = [self._end, len(data), zlib.crc32(data)]
        self._end += len(data)
        self._unsynced = True
        return address

    def reset(self) -> None:
        """Empty the file, durably: a new workspace starts without event data."""
        fd = self._open(create=True)
        os.ftruncate(fd, 0)
        os.fsync(fd)
        fsync_dir(self.path.parent)
        self._end = 0

    def sync(self) -> None:
        """Make every appended byte durable (nothing to do if nothing was appended)."""
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False

    def read(self, address: list[int]) -> bytes:
        offset, length, crc = address
        data = os.pread(self._open(create=False), length, offset)
        if len(data) != length or zlib.crc32(data) != crc:
            raise StoreError(f"{self.path} is damaged at byte {offset}; the event's data is lost")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
