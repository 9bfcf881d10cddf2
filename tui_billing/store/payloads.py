"""Compact encodings: packed documents and the append-only payload file."""

import base64
import json
import os
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .journal import NO_FOLLOW, StoreError, dumps, fsync_dir, open_private, os_message
from .lock import READ_ONLY


def pack(document: dict[str, Any]) -> str:
    """A document as base64 zlib-compressed JSON (parses far faster than nested JSON)."""
    return pack_json(dumps(document))


def pack_json(raw: bytes) -> str:
    """``pack`` of a document given as its JSON (``dumps``'s bytes)."""
    text = base64.b64encode(zlib.compress(raw, 1)).decode("ascii")
    _PACKED[text] = raw
    if len(_PACKED) > PACKED_KEPT:
        _PACKED.popitem(last=False)
    return text


def unpack(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(unpack_json(text))
    return document


def unpack_json(text: str) -> bytes:
    """The JSON text of a packed document (``unpack`` parses it)."""
    raw = _PACKED.get(text)
    return zlib.decompress(base64.b64decode(text)) if raw is None else raw


PACKED_KEPT = 256
"""Documents packed last whose JSON ``unpack`` reads without decompressing (a command
reads back the invoice the one before wrote)."""
_PACKED: OrderedDict[str, bytes] = OrderedDict()
"""Packed text → its JSON: compression is lossless, so a text always stands for one JSON."""


MAX_DEPTH = 16
"""Longest chain of payloads one payload is read through (its bases, theirs...)."""
CHAINS_KEPT = 2048
"""Chains whose last payload is kept in memory to compress the next one against."""
READS_KEPT = 256
"""Payloads kept decompressed after a read (reading one invoice's events decodes each base once)."""
DELTA = b"d"
"""First byte of a delta as earlier versions wrote it (a zlib stream starts with 0x78):
the whole JSON compressed against its base's; still read, no longer written."""
SPLICE = b"s"
"""First byte of a splice: a delta that keeps its base's first and last bytes (``SPAN``)
and compresses only what lies between against what lay there in the base."""
DELTA_LEVEL = 6
"""zlib level of deltas: level 1 finds long matches against the base poorly (2.5x larger)."""
WHOLE_LEVEL = 3
"""zlib level of a splice that shares little with its base (a chain's first, against
another invoice's payload): half the time of ``DELTA_LEVEL`` for a seventh more bytes."""
WHOLE = 1024
"""Bytes between a splice's shared ends from which it is compressed at ``WHOLE_LEVEL``."""
BASE = struct.Struct("<QII")
"""A delta's base address: offset, length, crc32."""
SPAN = struct.Struct("<II")
"""A splice's bytes kept from its base: how many at the start, how many at the end."""


class Encoded(dict[str, Any]):
    """A JSON object with its text as ``dumps`` encodes it, which ``put`` stores as is (an
    event's data is rendered as text already), given in parts (``raw`` joins them): a
    part shared with the payload before it in its chain (the same bytes object, last)
    is known to be shared without comparing it, and is held only once meanwhile. Never
    change it."""

    def __init__(self, value: dict[str, Any], *parts: bytes) -> None:
        super().__init__(value)
        self.parts = parts

    @property
    def raw(self) -> bytes:
        return b"".join(self.parts)


@dataclass(frozen=True)
class _Link:
    address: list[int]
    raw: bytes
    depth: int
    last: bytes
    """The last part it was given in (see ``Encoded``)."""


class PayloadFile:
    """Append-only payloads (JSON values) addressed by ``[offset, length, crc32]``, never
    rewritten.

    A stored payload is zlib-compressed JSON, or a splice: ``SPLICE``, its base's address
    (``BASE``), how many of the base's first and last bytes it shares (``SPAN``), then the
    bytes between compressed with the base's bytes between as zlib's preset dictionary
    (``zdict``), so only what changed costs bytes, and costs time only where it changed (a
    step of an invoice changes its status and times, near the start of its JSON). Files
    written before splices hold ``DELTA`` deltas too, read as ever. Payloads of one chain (the caller's
    ``chain`` key: the events of one type of one invoice) are compressed against the
    chain's previous payload, a chain's first against its family's anchor (the family's
    first payload this session, stored without a base); a chain is cut after
    ``MAX_DEPTH`` links. Reading gives back the same JSON byte for byte."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._end = 0
        self._unsynced = False
        self._unwritable: OSError | None = None
        """Why the file was opened for reading only."""
        self._chains: OrderedDict[str, _Link] = OrderedDict()
        """Each recent chain's last payload, least recently written first."""
        self._anchors: dict[str, _Link] = {}
        """Each family's payload stored without a base: where its new chains start."""
        self._reads: OrderedDict[int, bytes] = OrderedDict()
        """Recently read payloads' JSON by offset."""

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

    def put(self, data: Any, chain: str, family: str) -> list[int]:
        """Append ``data`` (a JSON value, or ``Encoded``; not yet durable: call ``sync``);
        its address. ``chain``: the payloads it follows (compressed against the last of
        them); ``family``: payloads of the same shape (a new chain starts from the
        family's anchor)."""
        raw = data.raw if isinstance(data, Encoded) else dumps(data)
        last = data.parts[-1] if isinstance(data, Encoded) and data.parts else raw
        base = self._chains.get(chain)
        if base is None or base.depth >= MAX_DEPTH:
            base = self._anchors.get(family)
        if base is None:
            link = self._anchors[family] = _Link(self.append(zlib.compress(raw, DELTA_LEVEL)), raw, 0, last)
        else:
            shared = len(last) if base.last is last else 0
            link = _Link(self.append(_splice(base, raw, shared)), raw, base.depth + 1, last)
        self._chains[chain] = link
        self._chains.move_to_end(chain)
        if len(self._chains) > CHAINS_KEPT:
            self._chains.popitem(last=False)
        return link.address

    def get(self, address: list[int]) -> Any:
        """The payload at ``address``; StoreError if it (or a base) is damaged."""
        return json.loads(self._raw(address, MAX_DEPTH + 1))

    def _raw(self, address: list[int], budget: int) -> bytes:
        offset = address[0]
        raw = self._reads.get(offset)
        if raw is not None:
            self._reads.move_to_end(offset)
            return raw
        if budget <= 0:
            raise ValueError("a payload chain is too long")
        stored = self.read(address)
        kind = stored[:1]
        if kind in (DELTA, SPLICE) and len(stored) < 1 + BASE.size + SPAN.size * (kind == SPLICE):
            raise ValueError("a delta is cut short")
        if kind == SPLICE:
            base = self._raw(list(BASE.unpack_from(stored, 1)), budget - 1)
            head, tail = SPAN.unpack_from(stored, 1 + BASE.size)
            end = len(base) - tail
            if head > end:
                raise ValueError("a splice keeps more than its base holds")
            raw = base[:head] + _inflate(stored[1 + BASE.size + SPAN.size :], base[head:end]) + base[end:]
        elif kind == DELTA:
            base = self._raw(list(BASE.unpack_from(stored, 1)), budget - 1)
            raw = _inflate(stored[1 + BASE.size :], base)
        else:
            raw = zlib.decompress(stored)
        self._reads[offset] = raw
        if len(self._reads) > READS_KEPT:
            self._reads.popitem(last=False)
        return raw

    def reset(self) -> None:
        """Empty the file, durably: a new workspace starts without event data."""
        fd = self._open(create=True)
        os.ftruncate(fd, 0)
        os.fsync(fd)
        fsync_dir(self.path.parent)
        self._end = 0
        self._chains.clear()
        self._reads.clear()
        self._anchors.clear()

    def sync(self) -> None:
        """Make every appended byte durable (nothing to do if nothing was appended)."""
        if self._fd is not None and self._unsynced:
            self._unsynced = False  # first: an append meanwhile marks the file again
            os.fsync(self._fd)

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


def _splice(base: _Link, raw: bytes, shared: int = 0) -> bytes:
    """``raw`` stored as a splice of ``base`` (see ``PayloadFile``); ``shared``: how many
    last bytes the two are known to share."""
    if shared:  # what differs lies in the parts before the shared one: compare only those
        front, base_front = raw[: len(raw) - shared], base.raw[: len(base.raw) - shared]
        head = _shared_head(base_front, front)
        tail = shared + _shared_tail(base_front, front, min(len(base_front), len(front)) - head)
    else:
        head = _shared_head(base.raw, raw)
        tail = _shared_tail(base.raw, raw, min(len(base.raw), len(raw)) - head)
    between = _deflate(raw[head : len(raw) - tail], base.raw[head : len(base.raw) - tail])
    return SPLICE + BASE.pack(*base.address) + SPAN.pack(head, tail) + between


def _shared_head(one: bytes, other: bytes) -> int:
    """How many first bytes ``one`` and ``other`` share (halving: each step compares in C)."""
    low, high = 0, min(len(one), len(other))
    if one[:high] == other[:high]:
        return high
    while high - low > 1:  # the first ``low`` bytes are shared, the first ``high`` are not
        middle = (low + high) // 2
        if one[low:middle] == other[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _shared_tail(one: bytes, other: bytes, most: int) -> int:
    """How many last bytes, ``most`` at most, ``one`` and ``other`` share."""
    ends = len(one), len(other)
    if one[ends[0] - most :] == other[ends[1] - most :]:
        return most
    low, high = 0, most
    while high - low > 1:  # the last ``low`` bytes are shared, the last ``high`` are not
        middle = (low + high) // 2
        if one[ends[0] - middle : ends[0] - low] == other[ends[1] - middle : ends[1] - low]:
            low = middle
        else:
            high = middle
    return low


def _deflate(data: bytes, zdict: bytes) -> bytes:
    """``data`` compressed with ``zdict`` as preset dictionary, in a window just large
    enough for both: setting up zlib's default window costs more than compressing a few
    hundred bytes (any window inflates with the default one)."""
    wbits = min(15, max(10, (len(zdict) + len(data)).bit_length()))
    options: dict[str, Any] = {"wbits": wbits, "memLevel": min(8, wbits - 8)}
    if zdict:
        options["zdict"] = zdict
    packer = zlib.compressobj(WHOLE_LEVEL if len(data) >= WHOLE else DELTA_LEVEL, **options)
    return packer.compress(data) + packer.flush()


def _inflate(data: bytes, zdict: bytes) -> bytes:
    """What ``_deflate`` compressed with ``zdict``."""
    unpacker = zlib.decompressobj(zdict=zdict) if zdict else zlib.decompressobj()
    return unpacker.decompress(data) + unpacker.flush()
