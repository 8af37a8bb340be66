"""Time bands on the week: `time bands in Europe/Warsaw { peak monday to friday 08:00
to 20:00, off_peak otherwise }` as minutes of the week, and the checks of their misuse.

Input: a contract's `ast.TimeBands` and its products. Output: each band's intervals
of the week (`week_of`, for the plan), and diagnostics through the checker
(`check_time_bands`): hours that are not a clock time or run backwards, bands that
overlap or leave hours of the week in no band (each named, with its days and hours),
an unknown time zone, a band no product prices, a clause `during` an unknown band,
a band a product that prices by band leaves without a clause, and bands on a
subscription (its units are periods, not moments).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from clearline import codes
from clearline.compiler.checker import Checker
from clearline.diagnostics import did_you_mean
from clearline.grammar import ast

__all__ = ["DAY", "WEEK", "check_time_bands", "describe", "week_of"]

DAY = 24 * 60
WEEK = 7 * DAY
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# rules that price records (the others are period-level and cannot follow a band)
_PRICING = (ast.Charge, ast.Pay, ast.Vat, ast.Round, ast.LinePer)


def _hours(h: ast.BandHours) -> list[tuple[int, int]]:
    """Minutes of the week [from, until) that `monday to friday 08:00 to 20:00` covers."""
    first = 0 if h.first_day is None else h.first_day
    last = 6 if h.last_day is None else h.last_day
    return [(d * DAY + h.start, d * DAY + h.end) for d in range(first, last + 1)]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def week_of(tb: ast.TimeBands) -> dict[str, tuple[tuple[int, int], ...]]:
    """Per band, its minutes of the week [from, until), merged and in order; the band
    that says `otherwise` takes every minute no other band has."""
    own: dict[str, list[tuple[int, int]]] = {}
    rest = None
    for band in tb.bands:
        if any(h.first_day is None for h in band.hours):
            rest = band.name.name
        spans = [s for h in band.hours if h.first_day is not None for s in _hours(h)]
        own.setdefault(band.name.name, []).extend(spans)
    week = {name: _merge(spans) for name, spans in own.items()}
    if rest is not None:
        taken = _merge([s for name, spans in week.items() if name != rest for s in spans])
        free, at = [], 0
        for start, end in taken:
            if start > at:
                free.append((at, start))
            at = max(at, end)
        if at < WEEK:
            free.append((at, WEEK))
        week[rest] = _merge(week[rest] + free)
    return {name: tuple(spans) for name, spans in week.items()}


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def describe(start: int, end: int) -> str:
    """Minutes of the week as the days and hours they are: `Saturday 00:00 to Sunday 24:00`."""
    day, last = start // DAY, (end - 1) // DAY
    if day == last:
        return f"{_DAYS[day]} {_clock(start % DAY)} to {_clock(end - day * DAY)}"
    return f"{_DAYS[day]} {_clock(start % DAY)} to {_DAYS[last]} {_clock(end - last * DAY)}"


def check_time_bands(ck: Checker) -> None:
    """Each misuse of time bands, with its span (see the module's docstring)."""
    c = ck.c
    for extra in c.time_bands[1:]:
        ck.error(codes.DUPLICATE_NAME, "`time bands` are declared twice", extra.span,
                 "declare the bands once; a contract has one clock of bands")  # fmt: skip
    tb = c.time_bands[0] if c.time_bands else None
    names = [b.name.name for b in tb.bands] if tb else []
    for product in c.products:
        for clause in product.clauses:
            if clause.band is None:
                continue
            if tb is None:
                ck.error(codes.UNKNOWN_NAME, f"clause \"{clause.label}\" is priced during "
                         f"`{clause.band.name}`, and the contract declares no time bands",
                         clause.band.span, "declare them: `time bands in Europe/Warsaw { peak monday "
                         "to friday 08:00 to 20:00  off_peak otherwise }`")  # fmt: skip
            elif clause.band.name not in names:
                ck.error(codes.UNKNOWN_NAME, f"`{clause.band.name}` is not a time band",
                         clause.band.span, did_you_mean(clause.band.name, names)
                         or f"the bands are {', '.join(names)}")  # fmt: skip
            if product.subscription:
                ck.error(codes.MISPLACED_RULE, f"clause \"{clause.label}\" is priced during a time "
                         f"band, and {product.name.name} is a subscription: its units are periods, not "
                         "moments of the day", clause.band.span, "price a usage product by band, "
                         "or remove `during`")  # fmt: skip
            for rule in clause.rules:
                if not isinstance(rule, _PRICING):
                    ck.error(codes.MISPLACED_RULE, "a rule of the whole period cannot stand in a "
                             f"clause priced during `{clause.band.name}`", rule.span,
                             "move it to a clause without `during`")  # fmt: skip
    if tb is None:
        return
    try:
        zoneinfo.ZoneInfo(tb.zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        ck.error(codes.UNKNOWN_TIME_ZONE, f"`{tb.zone}` is not a time zone", tb.zone_span,
                 did_you_mean(tb.zone, sorted(zoneinfo.available_timezones()))
                 or "use an IANA name like Europe/Warsaw")  # fmt: skip
    if _check_hours(ck, tb):
        _check_week(ck, tb)
    _check_holidays(ck, tb)
    declared: set[str] = set()
    for band in tb.bands:
        if band.name.name in declared:
            ck.error(codes.DUPLICATE_NAME, f"the time band `{band.name.name}` is declared twice",
                     band.name.span, "give each band one line; a band may list several spans, "
                     "separated by commas")  # fmt: skip
        declared.add(band.name.name)
    banded = [p for p in c.products if any(cl.band for cl in p.clauses)]
    if any(cl.band.name not in declared for p in banded for cl in p.clauses if cl.band):
        return  # a clause names an unknown band (reported): which band lacks a price is unclear
    for band in tb.bands:
        if not any(cl.band and cl.band.name == band.name.name for p in banded for cl in p.clauses):
            ck.error(codes.MISSING_DECLARATION, f"the time band `{band.name.name}` has no price: no "
                     "clause is priced during it", band.name.span, f"add a clause `during "
                     f"{band.name.name}` to each product priced by band, or remove the band")  # fmt: skip
    for product in banded:
        priced = {cl.band.name for cl in product.clauses if cl.band}
        for band in tb.bands:
            if band.name.name not in priced and any(
                cl.band and cl.band.name == band.name.name for p in banded for cl in p.clauses
            ):
                ck.error(codes.MISSING_DECLARATION, f"product {product.name.name} is priced by time "
                         f"band and has no clause during `{band.name.name}`: its records in that band "
                         "would be priced by no rule", product.name.span, f"add a clause `during "
                         f"{band.name.name}`")  # fmt: skip


def _check_hours(ck: Checker, tb: ast.TimeBands) -> bool:
    """Each span's hours are a clock time (00:00 to 24:00) and run forwards; its days too."""
    ok = True
    for band in tb.bands:
        for h in band.hours:
            if h.start < 0 or h.end < 0:
                ck.error(codes.TIME_BANDS, "a time band's hours are 00:00 to 24:00", h.span,
                         "write a clock time such as 08:00 or 24:00 (the end of the day)")  # fmt: skip
                ok = False
            elif not h.start < h.end:
                ck.error(codes.TIME_BANDS, f"the hours {_clock(h.start)} to {_clock(h.end)} run "
                         "backwards or are empty", h.span, "a span ends later the same day; for hours "
                         "across midnight write two: `20:00 to 24:00, 00:00 to 08:00`")  # fmt: skip
                ok = False
            elif h.first_day is not None and h.last_day is not None and h.first_day > h.last_day:
                ck.error(codes.TIME_BANDS, f"the days {_DAYS[h.first_day]} to {_DAYS[h.last_day]} "
                         "run backwards", h.span, "the week runs Monday to Sunday; write two spans "
                         "for days across the weekend")  # fmt: skip
                ok = False
        if sum(h.first_day is None for h in band.hours) and len(band.hours) > 1:
            ck.error(codes.TIME_BANDS, f"the band `{band.name.name}` says `otherwise` and other "
                     "hours", band.span, "`otherwise` is every hour no other band has: alone")  # fmt: skip
            ok = False
    rests = [b for b in tb.bands if any(h.first_day is None for h in b.hours)]
    for band in rests[1:]:
        ck.error(codes.TIME_BANDS, "two bands say `otherwise`", band.span,
                 "one band takes the hours the others leave")  # fmt: skip
        ok = False
    return ok


def _check_week(ck: Checker, tb: ast.TimeBands) -> None:
    """No minute of the week in two bands, none in no band."""
    spans = sorted(
        (start, end, band.name.name, h)
        for band in tb.bands
        for h in band.hours
        if h.first_day is not None
        for start, end in _hours(h)
    )
    reported: set[tuple[str, str]] = set()
    for i, (start, end, name, h) in enumerate(spans):
        for other_start, other_end, other, _ in spans[i + 1 :]:
            if other_start >= end:
                break
            if other == name and other_start >= start:
                continue  # a band's own spans may touch or repeat
            pair = (min(name, other), max(name, other))
            if pair in reported:
                continue
            reported.add(pair)
            both = (max(start, other_start), min(end, other_end))
            ck.error(codes.TIME_BANDS, f"the time bands `{name}` and `{other}` overlap: "
                     f"{describe(*both)} is in both", h.span, "give each hour of the week to one "
                     "band")  # fmt: skip
    if reported or any(h.first_day is None for b in tb.bands for h in b.hours):
        return
    gaps, at = [], 0
    for start, end in _merge([(s, e) for s, e, _, _ in spans]):
        if start > at:
            gaps.append((at, start))
        at = max(at, end)
    if at < WEEK:
        gaps.append((at, WEEK))
    if gaps:
        more = f"; and {len(gaps) - 8} more" if len(gaps) > 8 else ""
        shown = "; ".join(describe(s, e) for s, e in gaps[:8]) + more
        ck.error(codes.TIME_BANDS, f"the time bands leave hours of the week in no band: {shown}",
                 tb.span, "add a band for them, or let one band take the rest: `off_peak "
                 "otherwise`")  # fmt: skip


def _check_holidays(ck: Checker, tb: ast.TimeBands) -> None:
    """`holidays DATE, ...` are real dates, each once, and one band says `on holidays`."""
    seen: set[str] = set()
    for day, span in tb.holidays:
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            ck.error(codes.INVALID_DATE, f"{day} is not a date in the calendar", span,
                     "write a real date, YYYY-MM-DD")  # fmt: skip
        if day in seen:
            ck.error(codes.DUPLICATE_NAME, f"the holiday {day} is listed twice", span, "keep one")
        seen.add(day)
    takers = [b for b in tb.bands if b.on_holidays is not None]
    for band in takers[1:]:
        assert band.on_holidays is not None
        ck.error(codes.TIME_BANDS, "two bands say `on holidays`", band.on_holidays,
                 "one band takes the holidays, all day")  # fmt: skip
    if takers and not tb.holidays:
        ck.error(codes.MISSING_DECLARATION, f"the band `{takers[0].name.name}` is `on holidays`, and "
                 "the bands list no holidays", takers[0].on_holidays or takers[0].span,
                 "list them in the bands: `holidays 2026-01-01, 2026-01-06, ...`")  # fmt: skip
    if tb.holidays and not takers:
        ck.error(codes.MISPLACED_RULE, "the holidays have no effect: no band says `on holidays`",
                 tb.holidays[0][1], "add `, on holidays` to the band they are in, e.g. `off_peak "
                 "otherwise, on holidays`")  # fmt: skip
