"""ISO-8601 durations (``P1M``, ``PT1H``, ``P0D``) and the CLI's shorthand (``1h30m``).

Months and years are calendar units, so a duration is kept as (months, timedelta) and
added with calendar arithmetic: ``2026-01-31 + P1M`` is ``2026-02-28``.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import InvalidValue

_ISO = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_SHORT_UNIT = re.compile(r"(\d+)(mo|y|w|d|h|m|s)")
_SHORT = re.compile(r"^(?:\d+(?:mo|y|w|d|h|m|s))+$")
_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}
_SHORT_NAMES = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
MAX_YEARS = 10
"""The longest duration accepted anywhere (a clock move, a workflow period)."""
_AVERAGE_MONTH_SECONDS = 2_629_746  # a Gregorian year / 12: compares months with seconds


@dataclass(frozen=True)
class Duration:
    months: int = 0
    delta: timedelta = timedelta()

    def after(self, moment: datetime) -> datetime:
        """``moment`` moved forward by this duration; InvalidValue past the year 9999."""
        try:
            return add_months(moment, self.months) + self.delta
        except (OverflowError, ValueError):
            raise InvalidValue(f"{self.iso()} after {moment.date()} is past the year 9999") from None

    @property
    def is_zero(self) -> bool:
        return self.months == 0 and not self.delta

    def iso(self) -> str:
        """The canonical ISO-8601 text of this duration."""
        if self.is_zero:
            return "P0D"
        years, months = divmod(self.months, 12)
        days = self.delta.days
        hours, rest = divmod(self.delta.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        date = "".join(f"{n}{u}" for n, u in ((years, "Y"), (months, "M"), (days, "D")) if n)
        time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
        return "P" + date + (f"T{time}" if time else "")


def parse_duration(text: str) -> Duration:
    """Parse ISO-8601 (``P1DT2H``) or shorthand (``1d2h``, ``1mo``), at most ``MAX_YEARS``
    long; InvalidValue if neither or longer."""
    raw = text.strip()
    months, seconds = 0, 0
    match = _ISO.match(raw.upper())
    if match:
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
        months = parts.pop("years", 0) * 12 + parts.pop("months", 0)
        seconds = sum(_SECONDS[unit] * n for unit, n in parts.items())
    elif _SHORT.match(raw.lower()):
        for amount, unit in _SHORT_UNIT.findall(raw.lower()):
            n = int(amount)
            if unit in ("y", "mo"):
                months += 12 * n if unit == "y" else n
            else:
                seconds += _SECONDS[_SHORT_NAMES[unit]] * n
    else:
        raise InvalidValue(
            f"{text!r} is not a duration: use ISO-8601 like P1D, PT1H, P1M, or shorthand like 2h, 3d, 1mo"
        )
    if months * _AVERAGE_MONTH_SECONDS + seconds > MAX_YEARS * 12 * _AVERAGE_MONTH_SECONDS:
        raise InvalidValue(f"{text!r} is longer than the limit of {MAX_YEARS} years")
    return Duration(months, timedelta(seconds=seconds))


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar month arithmetic, clamping the day to the target month's length."""
    if not months:
        return moment
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
