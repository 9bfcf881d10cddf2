"""Deterministic ULIDs: the clock's millisecond plus randomness drawn from the seed.

A workspace replayed from the same seed and commands gets the same ids, byte for byte,
which is what makes fixtures, snapshots and screenshots reproducible.
"""

import hashlib
import re
from datetime import datetime

from ulid import ULID

ULID_PATTERN = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def make_ulid(seed: int, counter: int, moment: datetime) -> str:
    """The ULID for the ``counter``-th id of a workspace seeded with ``seed``."""
    randomness = hashlib.blake2b(f"{seed}:{counter}".encode(), digest_size=10).digest()
    millis = int(moment.timestamp() * 1000)
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + randomness))


def is_ulid(text: str) -> bool:
    return bool(ULID_PATTERN.match(text))
