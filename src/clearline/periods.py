"""Settlement periods: a label like `2026-03` -> half-open bounds in a time zone.

>>> p = period_bounds("2026-03", "monthly", "Europe/Warsaw")
>>> p.start.isoformat(), p.end.isoformat(), p.days
('2026-03-01T00:00:00+01:00', '2026-04-01T00:00:00+02:00', 31)
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

__all__ = ["Period", "period_bounds", "period_of"]


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    first_day: dt.date
    end_day: dt.date  # exclusive
    start: dt.datetime
    end: dt.datetime

    @property
    def days(self) -> int:
        return (self.end_day - self.first_day).days

    @property
    def last_day(self) -> dt.date:
        return self.end_day - dt.timedelta(days=1)


def _month_add(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_bounds(label: str, kind: str, time_zone: str) -> Period:
    """Bounds of the period `label` for a contract settling `kind`.

    Labels: monthly `2026-03`, quarterly `2026-Q1`, weekly `2026-W10` (ISO
    week), daily `2026-03-05`. Raises ValueError with a readable message.
    """
    tz = zoneinfo.ZoneInfo(time_zone)
    first: dt.date
    end: dt.date
    if kind == "monthly" and (m := re.fullmatch(r"([0-9]{4})-([0-9]{2})", label)):
        first = dt.date(int(m[1]), int(m[2]), 1) if 1 <= int(m[2]) <= 12 else _bad(label, kind)
        end = _month_add(first, 1)
    elif kind == "quarterly" and (m := re.fullmatch(r"([0-9]{4})-Q([1-4])", label)):
        first = dt.date(int(m[1]), 3 * int(m[2]) - 2, 1)
        end = _month_add(first, 3)
    elif kind == "weekly" and (m := re.fullmatch(r"([0-9]{4})-W([0-9]{2})", label)):
        try:
            first = dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError:
            _bad(label, kind)
        end = first + dt.timedelta(days=7)
    elif kind == "daily" and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", label):
        try:
            first = dt.date.fromisoformat(label)
        except ValueError:
            _bad(label, kind)
        end = first + dt.timedelta(days=1)
    else:
        _bad(label, kind)
    return Period(
        label,
        first,
        end,
        dt.datetime.combine(first, dt.time(), tz),
        dt.datetime.combine(end, dt.time(), tz),
    )


def period_of(moment: dt.datetime, kind: str, time_zone: str) -> str:
    """The label of the period of `kind` that holds `moment` in `time_zone`.

    >>> period_of(dt.datetime.fromisoformat("2026-03-31T23:05:00+01:00"), "monthly", "Europe/Warsaw")
    '2026-04'
    >>> period_of(dt.datetime.fromisoformat("2026-03-31T12:00:00+02:00"), "weekly", "Europe/Warsaw")
    '2026-W14'
    """
    day = moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()
    if kind == "monthly":
        return f"{day.year:04d}-{day.month:02d}"
    if kind == "quarterly":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    if kind == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return day.isoformat()


_EXAMPLES = {
    "monthly": "2026-03",
    "quarterly": "2026-Q1",
    "weekly": "2026-W10",
    "daily": "2026-03-05",
}


def _bad(label: str, kind: str) -> dt.date:
    raise ValueError(f"`{label}` is not a {kind} period; write e.g. {_EXAMPLES.get(kind, '2026-03')}")
