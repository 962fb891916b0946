"""Metric alarm evaluation, as CloudWatch documents it (pure functions, no state).

Sources: "Using Amazon CloudWatch alarms" → "Evaluating an alarm" (Period, EvaluationPeriods
N, DatapointsToAlarm M: ALARM when at least M of the last N datapoints breach) and
"Configuring how CloudWatch alarms treat missing data"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html):

* CloudWatch retrieves more periods than N (the *evaluation range*; the page's worked example
  uses N + 2 for N = 3, which is what we use).
* At least N real datapoints in the range: the most recent N real ones are evaluated and
  TreatMissingData plays no part.
* Fewer than N: every real datapoint is evaluated and the missing ones are filled in
  (as few as possible) according to TreatMissingData: `breaching` counts them as breaching,
  `notBreaching` as within the threshold, `ignore` keeps the current state unless the real
  datapoints decide it, `missing` (the default) goes to INSUFFICIENT_DATA when every
  datapoint of the range is missing and otherwise decides on the real datapoints alone.
  The page's table (3 of 3) is reproduced in tests/localcloud/test_cloudwatch.py.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
EXTRA_PERIODS = 2  # evaluation range = N + 2 periods (the documented worked example)


def statistic(aggregate: dict[str, float], name: str) -> float:
    """One statistic of a period's aggregate {SampleCount, Sum, Minimum, Maximum}."""
    if name == "Average":
        return aggregate["Sum"] / aggregate["SampleCount"]
    return aggregate[name]


@dataclass(frozen=True)
class Outcome:
    state: str
    reason: str
    reason_data: dict[str, Any]


def _stamp(epoch: float) -> str:
    # CloudWatch writes datapoint times in reasons as dd/mm/yy HH:MM:SS (UTC).
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%d/%m/%y %H:%M:%S")


def iso_millis(epoch: float) -> str:
    """CloudWatch's reason-data / event timestamp spelling: 2019-10-02T17:04:40.985+0000."""
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def evaluate(
    alarm: dict[str, Any], datapoints: list[tuple[float, float | None]], current: str, now: float
) -> Outcome | None:
    """The alarm's state given `datapoints` — (period start, statistic value or None when the
    period has no data) for each period of the evaluation range, oldest first. None means
    "keep the current state" (TreatMissingData=ignore without deciding datapoints)."""
    n = int(alarm["EvaluationPeriods"])
    m = int(alarm.get("DatapointsToAlarm") or n)
    treat = alarm.get("TreatMissingData") or "missing"
    compare, phrase = COMPARISONS[alarm["ComparisonOperator"]]
    threshold = float(alarm["Threshold"])
    real = [(t, v) for t, v in datapoints if v is not None]
    if len(real) >= n:
        evaluated = real[-n:]
        breaching = sum(compare(v, threshold) for _, v in evaluated)
        fills = 0
        state = ALARM if breaching >= m else OK
    else:
        evaluated, fills = real, n - len(real)
        breaching = sum(compare(v, threshold) for _, v in real)
        within = len(real) - breaching
        if treat == "breaching":
            state = ALARM if breaching + fills >= m else OK
        elif treat == "notBreaching":
            state = ALARM if breaching >= m else OK
        elif treat == "ignore":
            if breaching >= m:
                state = ALARM
            elif within > n - m:  # ALARM is out of reach whatever the missing ones were
                state = OK
            else:
                return None
        else:  # missing
            if not real:
                state = INSUFFICIENT
            else:
                state = ALARM if breaching >= min(m, len(real)) else OK
    reason = _reason(state, current, evaluated, fills, n, m, phrase, threshold, treat)
    period = int(alarm["Period"])
    start = datapoints[0][0] if datapoints else now
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": iso_millis(now),
        "startDate": iso_millis(start),
        "statistic": alarm.get("Statistic"),
        "period": period,
        "recentDatapoints": [round(v, 10) for _, v in evaluated],
        "threshold": threshold,
        "evaluatedDatapoints": [{"timestamp": iso_millis(t), "value": round(v, 10)} for t, v in reversed(evaluated)],
    }
    return Outcome(state, reason, data)


def _reason(
    state: str,
    current: str,
    evaluated: list[tuple[float, float]],
    fills: int,
    n: int,
    m: int,
    phrase: str,
    threshold: float,
    treat: str,
) -> str:
    if state == INSUFFICIENT:
        return f"Insufficient Data: {n} datapoint{'s' if n != 1 else ''} {'were' if n != 1 else 'was'} unknown."
    if not evaluated:
        label = "Breaching" if treat == "breaching" else "NonBreaching"
        return (
            f"Threshold Crossed: no datapoints were received for {n} period"
            f"{'s' if n != 1 else ''} and {fills} missing datapoint"
            f"{'s were' if fills != 1 else ' was'} treated as [{label}]."
        )
    values = ", ".join(f"{v:.10g} ({_stamp(t)})" for t, v in reversed(evaluated))
    missing = (
        f" and {fills} missing datapoint{'s' if fills != 1 else ''} treated as {treat}"
        if fills and treat in ("breaching", "notBreaching")
        else ""
    )
    verb = "was" if state == ALARM else "was not"
    return (
        f"Threshold Crossed: {len(evaluated)} out of the last {n} datapoints [{values}]"
        f"{missing} {verb} {phrase} the threshold ({threshold:g}) (minimum {m} "
        f"datapoint{'s' if m != 1 else ''} for {current} -> {state} transition)."
    )


def reason_data_json(outcome: Outcome) -> str:
    return json.dumps(outcome.reason_data, separators=(",", ":"))
