"""Support hours, and when a new request can expect its first answer."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Day names, "every day" and "from-to" by language (the reader's locale; 简体 when unknown).
DAY_WORDS = {
    "zh-Hans": (["周一", "周二", "周三", "周四", "周五", "周六", "周日"], "每天", "{0}至{1}"),
    "zh-Hant": (["週一", "週二", "週三", "週四", "週五", "週六", "週日"], "每天", "{0}至{1}"),
    "en": (["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "Every day", "{0}–{1}"),
}
_SPEC_RE = re.compile(r"^\s*(mon|tue|wed|thu|fri|sat|sun)\s*-\s*(mon|tue|wed|thu|fri|sat|sun)\s+"
                      r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class SupportHours:
    days: frozenset[int]
    start: dt.time
    end: dt.time
    tz: ZoneInfo

    @classmethod
    def parse(cls, spec: str, timezone: str) -> "SupportHours":
        m = _SPEC_RE.match(spec.lower())
        if not m:
            raise ValueError(f"cannot read {spec!r}; write it like 'mon-fri 09:00-18:00'")
        d0, d1 = DAYS.index(m.group(1)), DAYS.index(m.group(2))
        days = frozenset((d0 + i) % 7 for i in range((d1 - d0) % 7 + 1))
        start, end = dt.time(int(m.group(3)), int(m.group(4))), dt.time(int(m.group(5)), int(m.group(6)))
        if end <= start:
            raise ValueError(f"{spec!r}: the day must end after it starts")
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        return cls(days, start, end, tz)

    def describe(self, locale: str = "zh-Hans") -> str:
        names, every, between = DAY_WORDS.get(locale) or DAY_WORDS.get(locale.split("-")[0]) or DAY_WORDS["zh-Hans"]
        ordered = sorted(self.days)
        span = (names[ordered[0]] if len(ordered) == 1
                else every if len(ordered) == 7 else between.format(names[ordered[0]], names[ordered[-1]]))
        return f"{span} {self.start:%H:%M}–{self.end:%H:%M}"

    def response_due(self, now: dt.datetime, working_hours: float) -> dt.datetime:
        """The moment ``working_hours`` of support time have passed after ``now``."""
        t = now.astimezone(self.tz)
        left = dt.timedelta(hours=working_hours)
        for _ in range(366 * 2):
            day_start = t.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
            day_end = t.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
            if t.weekday() in self.days and t < day_end:
                begin = max(t, day_start)
                if begin + left <= day_end:
                    return begin + left
                left -= day_end - begin
            t = (t + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        raise ValueError("support hours never open")
