"""RFC 3339 timestamps as OpenMeter prints them (UTC, ``Z``)."""

from datetime import UTC, datetime
from functools import lru_cache

from .errors import InvalidValue

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # local time: its text depends on the zone and ``fold``
        return _utc_text(moment)
    return _aware_text(moment)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_aware_text = lru_cache(maxsize=16384)(_utc_text)
"""``_utc_text`` of aware times, remembered: an invoice's JSON shows the same dozen times
at every step. Aware times are equal exactly when they name the same instant, which is
all their text shows."""


def parse_rfc3339(text: str, what: str = "time") -> datetime:
    """A timezone-aware UTC datetime from RFC 3339 text, or InvalidValue."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidValue(
            f"{what} must be an RFC 3339 time like 2026-01-31T12:00:00Z, got {text!r}"
        ) from None
    return in_range(moment, what, text)


def in_range(moment: datetime, what: str, text: str | None = None) -> datetime:
    """``moment`` in UTC if it has a time zone and falls in 1970–9998 (ids carry a Unix
    timestamp; the clock needs room to move); else InvalidValue quoting ``text``."""
    shown = repr(text) if text is not None else moment.isoformat()
    if moment.tzinfo is None:
        raise InvalidValue(f"{what} needs a time zone (for example a trailing Z), got {shown}")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # past either end of the calendar, e.g. 0001-01-01T00:00:00+14:00
        moment = EARLIEST.replace(year=1)
    if not EARLIEST <= moment < datetime(9999, 1, 1, tzinfo=UTC):
        raise InvalidValue(f"{what} must be between 1970 and 9998, got {shown}")
    return moment
