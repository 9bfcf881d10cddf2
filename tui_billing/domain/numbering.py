"""Invoice numbers: ``DRAFT-<PREFIX>-<n>`` and ``INV-<PREFIX>-<n>`` (docs/callbacks-and-hooks.md)."""

import re
import unicodedata

DRAFT = "DRAFT"
INVOICE = "INV"


def customer_prefix(name: str) -> str:
    """ASCII-folded, upper-cased: one word → first 4 letters; more → 2 of each of the first two.

    Words are separated by whitespace, as in OpenMeter (``Gould-Foster`` is one word: GOUL);
    The rule counts letters, so other characters inside a word are dropped (OpenMeter keeps them).
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()
    words = [word for word in (re.sub(r"[^A-Z0-9]", "", part) for part in folded.split()) if word]
    if not words:
        return "UNKN"
    if len(words) == 1:
        return words[0][:4]
    return words[0][:2] + words[1][:2]


def format_number(kind: str, prefix: str, sequence: int) -> str:
    return f"{kind}-{prefix}-{sequence}"


def is_draft_number(number: str) -> bool:
    return number.startswith(f"{DRAFT}-")
