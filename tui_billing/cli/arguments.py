"""Checks of option values the parser cannot make: a refusal is an InvalidValue (exit 1)
naming the option, like every other refused value."""

from ..domain.errors import InvalidValue


def in_range(value: int, low: int, high: int, option: str) -> int:
    """``value`` if it lies from ``low`` to ``high`` inclusive."""
    if not low <= value <= high:
        raise InvalidValue(f"{option} must be between {low:,} and {high:,}, got {value:,}")
    return value


def not_blank(value: str | None, option: str, meaning: str) -> str | None:
    """``value`` unless it is given but blank (``meaning`` says what blank would do)."""
    if value is not None and not value.strip():
        raise InvalidValue(f"{option} must not be empty ({meaning})")
    return value
