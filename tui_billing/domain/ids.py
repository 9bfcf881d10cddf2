"""Deterministic ULIDs: the clock's millisecond plus randomness drawn from the seed.

A workspace replayed from the same seed and commands gets the same ids, byte for byte,
which is what makes fixtures, snapshots and screenshots reproducible.
"""

import hashlib
import re
from datetime import datetime
from functools import lru_cache

from ulid import ULID

ULID_PATTERN = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def make_ulid(seed: int, counter: int, moment: datetime) -> str:
    """The ULID for the ``counter``-th id of a workspace seeded with ``seed``."""
    return _ulid(f"{seed}:{counter}", moment)


def _ulid(key: str, moment: datetime) -> str:
    randomness = hashlib.blake2b(key.encode(), digest_size=10).digest()
    return _crockford(_millis(moment) + randomness)


@lru_cache(maxsize=256)
def _millis(moment: datetime) -> bytes:
    """A ULID's time part: the moment's milliseconds (remembered: a command makes many ids
    at one moment)."""
    return int(moment.timestamp() * 1000).to_bytes(6, "big")


def _crockford(value: bytes) -> str:
    """16 bytes as a ULID's 26 characters: Crockford's base 32 of the 128-bit number (two
    zero bits in front), two characters (ten bits) at a time from a table."""
    number = int.from_bytes(value, "big")
    return "".join([_PAIRS[(number >> shift) & 1023] for shift in _SHIFTS])


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [first + second for first in _CROCKFORD for second in _CROCKFORD]
_SHIFTS = range(120, -10, -10)


def is_ulid(text: str) -> bool:
    return bool(ULID_PATTERN.match(text))


def derived_ulid(key: str, moment: datetime) -> str:
    """A ULID at ``moment`` whose randomness is a hash of ``key``: the same key gives the same
    id, so ids made outside a command's counter (validation issues, subscription items, a
    migrated workspace's detailed lines) are reproducible too."""
    return _ulid(f"derived:{key}", moment)


def ulid_time(ulid: str) -> datetime:
    """The moment a ULID was made at."""
    return ULID.from_str(ulid).datetime
