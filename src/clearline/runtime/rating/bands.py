"""Time bands at run time: which band a moment is in, on the bands' own clock, and
where a record measured in time crosses into the next band.

Input: a product's `ir.TimeBandsPlan` (every minute of the week in one band,
Monday 00:00 being minute 0, on the clock of its zone). Output: `BandClock.band_of`
(the band at a moment) and `BandClock.cuts` (the moments a span of time changes
band). Local wall-clock time decides: on a day the clocks go forward, 08:00 is
still the first minute of peak.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from bisect import bisect_right

from clearline.compiler import ir

__all__ = ["BandClock"]

_DAY = 24 * 60
_WEEK = 7 * _DAY


class BandClock:
    """The week of a product's time bands, and its holidays, for finding a moment's band."""

    def __init__(self, plan: ir.TimeBandsPlan) -> None:
        self.plan = plan
        self.zone = zoneinfo.ZoneInfo(plan.zone)
        marks = sorted((start, band.name) for band in plan.bands for start, _ in band.week)
        self.starts = [start for start, _ in marks]
        self.names = [name for _, name in marks]
        self.labels = {band.name: band.label for band in plan.bands}
        self.holidays = {dt.date.fromisoformat(day) for day in plan.holidays}
        self.holiday_band = plan.holiday_band

    def band_of(self, ts: dt.datetime) -> str:
        local = ts.astimezone(self.zone)
        if self.holiday_band is not None and local.date() in self.holidays:
            return self.holiday_band
        minute = local.weekday() * _DAY + local.hour * 60 + local.minute
        return self.names[bisect_right(self.starts, minute) - 1]

    def clock(self, ts: dt.datetime) -> str:
        """The moment on the bands' clock, as a trace shows it: `2026-03-16T19:50:00+01:00`."""
        return ts.astimezone(self.zone).isoformat()

    def cuts(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """The moments in (start, end) at which the band changes, in order: where the week
        passes from one band to another, and at the midnights around a holiday."""
        found: list[dt.datetime] = []
        band = self.band_of(start)
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            midnight = dt.datetime.combine(day, dt.time())
            week = day.weekday() * _DAY
            offsets = [0] + [m - week for m in self.starts if week < m < week + _DAY]
            for offset in offsets:
                moment = (midnight + dt.timedelta(minutes=offset)).replace(tzinfo=self.zone)
                if moment <= start:
                    continue
                if moment >= end:
                    return found
                now = self.band_of(moment)
                if now != band:
                    found.append(moment)
                    band = now
            day += dt.timedelta(days=1)
        return found
