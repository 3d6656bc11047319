"""NCRONTAB, the six-field schedule format of Azure Functions timer triggers (no third-party parser):

``{second} {minute} {hour} {day} {month} {day-of-week}`` — each field ``*``, a value, a list ``a,b``, a
range ``a-b``, a step ``*/n`` or ``a-b/n``; month and day-of-week also by name (``Jan``, ``Mon``);
day-of-week 0–6 from Sunday (7 is Sunday too). As NCrontab does, a date must match both the day and the
day-of-week field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (low, high, names, name offset) per field
_FIELDS = [
    (0, 59, None, 0),
    (0, 59, None, 0),
    (0, 23, None, 0),
    (1, 31, None, 0),
    (1, 12, _MONTHS, 1),
    (0, 7, _DAYS, 0),
]


class ScheduleError(ValueError):
    pass


def _value(text: str, low: int, high: int, names: list[str] | None, offset: int) -> int:
    lowered = text.lower()
    if names and not lowered.isdigit() and lowered[:3] in names:
        return names.index(lowered[:3]) + offset
    if not text.isdigit():
        raise ScheduleError(f"'{text}' is not a number")
    number = int(text)
    if not low <= number <= high:
        raise ScheduleError(f"{number} is outside {low}-{high}")
    return number


def _field(text: str, low: int, high: int, names: list[str] | None, offset: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"empty list item in '{text}'")
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"bad step in '{part}'")
            step = int(step_text)
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = _value(first, low, high, names, offset), _value(last, low, high, names, offset)
            if start > end:
                raise ScheduleError(f"range '{body}' runs backwards")
        else:
            start = _value(body, low, high, names, offset)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        parts = expression.split()
        if len(parts) != 6:
            raise ScheduleError(
                f"'{expression}' is not a six-field NCRONTAB expression "
                "({second} {minute} {hour} {day} {month} {day-of-week})"
            )
        fields = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in fields[5])
        return cls(expression, *fields[:5], weekdays)

    def _day_matches(self, day: dt.date) -> bool:
        return day.month in self.months and day.day in self.days and (day.isoweekday() % 7) in self.weekdays

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first occurrence strictly after ``moment`` (same tzinfo; whole seconds)."""
        t = moment.replace(microsecond=0) + dt.timedelta(seconds=1)
        limit = t + dt.timedelta(days=366 * 5)
        while t < limit:
            if not self._day_matches(t.date()):
                t = (t + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if t.hour not in self.hours:
                t = (t + dt.timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if t.minute not in self.minutes:
                t = (t + dt.timedelta(minutes=1)).replace(second=0)
                continue
            if t.second not in self.seconds:
                t += dt.timedelta(seconds=1)
                continue
            return t
        raise ScheduleError(f"'{self.expression}' has no occurrence in the next five years")
