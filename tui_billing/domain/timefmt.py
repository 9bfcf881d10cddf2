"""RFC 3339 timestamps as OpenMeter prints them (UTC, ``Z``)."""

from datetime import UTC, datetime

from .errors import InvalidValue


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_rfc3339(text: str, what: str = "time") -> datetime:
    """A timezone-aware UTC datetime from RFC 3339 text, or InvalidValue."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidValue(f"{what} must be an RFC 3339 time like 2026-01-31T12:00:00Z, got {text!r}") from None
    if moment.tzinfo is None:
        raise InvalidValue(f"{what} needs a time zone (for example a trailing Z), got {text!r}")
    return moment.astimezone(UTC)
