"""EventBridge scheduled rules: parse `ScheduleExpression` as AWS does and fire rules on time.

Syntax (EventBridge User Guide, "Creating an Amazon EventBridge rule that runs on a
schedule" → schedule expressions; all times UTC, one-minute granularity):

* `rate(value unit)`: a positive whole number and `minute | minutes | hour | hours | day |
  days`, singular exactly when the value is 1. The first run is one rate after the rule is
  created (or its expression changed), then every rate.
* `cron(Minutes Hours Day-of-month Month Day-of-week Year)`: six fields; one of
  Day-of-month and Day-of-week must be `?`; Day-of-week counts 1-7 from SUN (or SUN-SAT);
  Month 1-12 or JAN-DEC; Year 1970-2199; wildcards `, - * / ? L W #`.

croniter evaluates the first five fields (after renumbering Day-of-week to its 0 = SUN);
the Year field and AWS's field rules are checked here. Firing rules on time is the backend's
(`EventsBackend.tick`, localcloud/events/models.py).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from croniter import croniter  # type: ignore[import-untyped]  # no stubs installed

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_DOW_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MAX_YEAR_LOOKAHEAD = 2199


class ScheduleError(ValueError):
    """A ScheduleExpression AWS would refuse; the message says which part."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    rate_seconds: int | None = None  # rate(...)
    cron: str | None = None  # croniter's five fields, for cron(...)
    years: str = "*"

    def next_after(self, after: dt.datetime, created: dt.datetime | None = None) -> dt.datetime:
        """The first run strictly after `after` (UTC). For a rate, runs fall on `created` +
        k x rate (created defaults to `after`)."""
        after = after.astimezone(dt.timezone.utc)
        if self.rate_seconds is not None:
            origin = (created or after).astimezone(dt.timezone.utc)
            periods = int((after - origin).total_seconds() // self.rate_seconds) + 1
            return origin + dt.timedelta(seconds=periods * self.rate_seconds)
        it = croniter(self.cron, after.replace(second=0, microsecond=0))
        while True:
            candidate = it.get_next(dt.datetime).replace(tzinfo=dt.timezone.utc)
            if candidate.year > _MAX_YEAR_LOOKAHEAD:
                raise ScheduleError(f"{self.expression} never runs again")
            if candidate > after and _year_matches(self.years, candidate.year):
                return candidate


def _year_matches(spec: str, year: int) -> bool:
    for part in spec.split(","):
        if part == "*":
            return True
        base, _, step = part.partition("/")
        lo, _, hi = base.partition("-")
        start = 1970 if lo == "*" else int(lo)
        end = int(hi) if hi else (_MAX_YEAR_LOOKAHEAD if step or lo == "*" else start)
        if start <= year <= end and (year - start) % int(step or 1) == 0:
            return True
    return False


_LAST_DOW = re.compile(r"([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)?L", re.IGNORECASE)


def _day_number(day: str) -> int:
    """A Day-of-week as AWS numbers it (1-7 = SUN-SAT), from a number or a name."""
    return int(day) if day.isdigit() else _DOW_NAMES.index(day.upper()) + 1


def _dow(field: str) -> str:
    """AWS Day-of-week (1-7 = SUN-SAT) → croniter's (0-6 = SUN-SAT); names pass unchanged.
    `<day>#<n>` is the n-th such weekday of the month (n 1-5); `<day>L` the month's last such
    weekday (croniter spells it `L<day>`); `L` alone the last day of the week, SAT (7). AWS's
    own examples: cron(0 10 ? * 6L 2019-2022) "every last Friday of each month",
    cron(0 12 ? * 6#3 *) "the third Friday"."""
    last = _LAST_DOW.fullmatch(field)
    if last:
        day = last.group(1)
        return "6" if day is None else f"L{_day_number(day) - 1}"
    head, hash_, nth = field.partition("#")
    if hash_:
        if not re.fullmatch(r"[1-5]", nth):
            raise ScheduleError(f"Day-of-week {field!r}: the n in <day>#n is 1-5")
        if not re.fullmatch(r"[1-7]|SUN|MON|TUE|WED|THU|FRI|SAT", head, re.IGNORECASE):
            raise ScheduleError(f"Day-of-week {field!r}: <day>#n takes one day (1-7 or SUN-SAT)")
        return f"{_day_number(head) - 1}#{nth}"

    def renumber(match: re.Match[str]) -> str:
        value = int(match.group())
        if not 1 <= value <= 7:
            raise ScheduleError(f"Day-of-week value {value} is outside 1-7 (or SUN-SAT)")
        return str(value - 1)

    if "/" in head:  # a step: only the start is a day number
        start, _, step = head.partition("/")
        return re.sub(r"\d+", renumber, start) + "/" + step + hash_ + nth
    return re.sub(r"\d+", renumber, head) + hash_ + nth


def parse(expression: str) -> Schedule:
    """A ScheduleExpression → Schedule; ScheduleError names what AWS would refuse."""
    if not isinstance(expression, str):
        raise ScheduleError("ScheduleExpression must be a string")
    rate = _RATE.fullmatch(expression)
    if expression.startswith("rate("):
        if not rate:
            raise ScheduleError(f"{expression}: a rate is rate(<positive integer> <minute(s)|hour(s)|day(s)>)")
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise ScheduleError(f"{expression}: the value must be a positive integer")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleError(f"{expression}: the unit is singular for 1 and plural above")
        return Schedule(expression, rate_seconds=value * _UNIT_SECONDS[unit.rstrip("s")])
    if not (expression.startswith("cron(") and expression.endswith(")")):
        raise ScheduleError(f"{expression}: a schedule is rate(...) or cron(...)")
    fields = expression[5:-1].split()
    if len(fields) != 6:
        raise ScheduleError(
            f"{expression}: cron takes six fields (Minutes Hours "
            f"Day-of-month Month Day-of-week Year), not {len(fields)}"
        )
    minutes, hours, dom, month, dow, years = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"{expression}: exactly one of Day-of-month and Day-of-week must be '?'")
    if not re.fullmatch(r"[\d,\-*/]+", years):
        raise ScheduleError(f"{expression}: Year field {years!r} is not valid")
    for number in re.findall(r"\d+", years.split("/")[0]):
        if not 1970 <= int(number) <= 2199:
            raise ScheduleError(f"{expression}: Year {number} is outside 1970-2199")
    five = " ".join([minutes, hours, "*" if dom == "?" else dom, month, "*" if dow == "?" else _dow(dow)])
    try:
        valid = croniter.is_valid(five)
    except Exception:  # noqa: BLE001 — croniter raises various errors on odd input
        valid = False
    if not valid:
        raise ScheduleError(f"{expression}: not a valid cron expression")
    return Schedule(expression, cron=five, years=years)
