"""CloudWatch API: metrics and metric alarms, over AWS's JSON 1.0 protocol.

botocore 1.44's CloudWatch model lists `protocols: [smithy-rpc-v2-cbor, json, query]`; the
client takes the first in botocore's own priority order (json before CBOR and query), so
boto3 sends `X-Amz-Target: GraniteServiceVersion20100801.<Operation>` with a JSON body —
the dispatch every JSON service here shares (json_api.JsonApi, validated against the model).

PutMetricData, GetMetricData, GetMetricStatistics, ListMetrics; PutMetricAlarm,
DescribeAlarms, DeleteAlarms, SetAlarmState, DescribeAlarmHistory. Alarms on a single
metric with a standard statistic are evaluated (localcloud/cloudwatch/evaluation.py) when
created, when their metric gets data and every minute while localcloud runs (`tick`), as
CloudWatch evaluates each minute; each state change is recorded in the alarm history and put
on the default event bus as AWS's `CloudWatch Alarm State Change` event. Alarms on metric
math, percentiles or anomaly bands are refused with a message saying so (AWS accepts them;
localcloud could not evaluate them, and an alarm that never evaluates would pass a test
that fails on AWS).

Validation follows the API reference of each operation (PutMetricData: at most 1000 items,
no NaN/Infinity, timestamps at most two weeks old and two hours ahead, the `AWS/` namespace
prefix reserved; PutMetricAlarm: Period 10, 20, 30 or a multiple of 60, DatapointsToAlarm <=
EvaluationPeriods, Period x EvaluationPeriods at most one day (seven days for periods of an
hour or more)).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
from typing import Any

from localcloud.cloudwatch import evaluation
from localcloud.cloudwatch.store import ALARM, dims_key, dims_list, metric_store
from localcloud.errors import AwsError
from localcloud.protocol import Request, Response
from localcloud.json_api import JsonApi

log = logging.getLogger("localcloud.cloudwatch")

SOURCE = "aws.cloudwatch"
DETAIL_TYPE = "CloudWatch Alarm State Change"
MAX_PAST = 14 * 86400
MAX_FUTURE = 2 * 3600
_evaluating = threading.Lock()   # one evaluation at a time: a state change is emitted once


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def _combination(message: str) -> AwsError:
    return AwsError("InvalidParameterCombination", message)


def _epoch(value: Any, field: str) -> float:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _invalid(f"The parameter {field} must be a timestamp.")


def _finite(value: Any, field: str) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise _invalid(f"The value {value} for parameter {field} is invalid.")
    return number


# -- metrics ---------------------------------------------------------------------------------

def _rows(namespace: str, datum: dict[str, Any], where: str, now: float) -> list[tuple]:
    name = datum["MetricName"]
    stamp = _epoch(datum["Timestamp"], f"{where}.Timestamp") if "Timestamp" in datum else now
    if stamp < now - MAX_PAST or stamp > now + MAX_FUTURE:
        raise _invalid(f"The parameter {where}.Timestamp must specify a time no more than two "
                       f"weeks in the past and no more than two hours in the future.")
    dims = datum.get("Dimensions") or []
    if len({d["Name"] for d in dims}) != len(dims):
        raise _invalid(f"The parameter {where}.Dimensions has duplicate dimension names.")
    key, unit = dims_key(dims), datum.get("Unit")
    given = [f for f in ("Value", "Values", "StatisticValues") if f in datum]
    if len(given) > 1:
        raise _combination(f"The parameters {where}.{given[0]} and {where}.{given[1]} are "
                           f"mutually exclusive and you have specified both.")
    if not given:
        raise AwsError("MissingParameter", f"The parameter {where}.Value is required.")
    if "Value" in datum:
        v = _finite(datum["Value"], f"{where}.Value")
        return [(namespace, name, key, stamp, 1.0, v, v, v, unit)]
    if "Values" in datum:
        values = datum["Values"]
        counts = datum.get("Counts") or [1.0] * len(values)
        if len(counts) != len(values):
            raise _combination(f"The parameters {where}.Values and {where}.Counts must be "
                               f"of the same size.")
        return [(namespace, name, key, stamp, float(c), _finite(v, f"{where}.Values") * c,
                 float(v), float(v), unit) for v, c in zip(values, counts)]
    stats = datum["StatisticValues"]
    return [(namespace, name, key, stamp, _finite(stats["SampleCount"], "SampleCount"),
             _finite(stats["Sum"], "Sum"), _finite(stats["Minimum"], "Minimum"),
             _finite(stats["Maximum"], "Maximum"), unit)]


def put_metric_data(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    namespace = params["Namespace"]
    if namespace.startswith("AWS/"):
        raise _invalid(f"The value {namespace} for parameter Namespace is invalid.")
    data = params["MetricData"]
    if len(data) > 1000:
        raise _invalid("The collection MetricData must not have a size greater than 1000.")
    now = time.time()
    rows = [row for i, datum in enumerate(data, 1)
            for row in _rows(namespace, datum, f"MetricData.member.{i}", now)]
    metric_store(cloud).put(rows)
    touched = {(namespace, r[1], r[2]) for r in rows}
    evaluate_alarms(cloud, lambda a: (a["Namespace"], a["MetricName"],
                                      dims_key(a.get("Dimensions"))) in touched)
    return {}


def _period(value: int, field: str = "Period") -> int:
    if value not in (1, 5, 10, 20, 30) and (value < 60 or value % 60):
        raise _invalid(f"The parameter {field} must be 1, 5, 10, 20, 30, or a multiple of 60.")
    return value


def _series(cloud: Any, metric: dict[str, Any], start: float, end: float, period: int,
            unit: str | None) -> dict[float, dict[str, float]]:
    return metric_store(cloud).aggregate(metric["Namespace"], metric["MetricName"],
                                         dims_key(metric.get("Dimensions")), start, end,
                                         period, unit)


def get_metric_statistics(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    start, end = _epoch(params["StartTime"], "StartTime"), _epoch(params["EndTime"], "EndTime")
    if start >= end:
        raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
    period = _period(params["Period"])
    stats = params.get("Statistics") or []
    if params.get("ExtendedStatistics"):
        raise _invalid("localcloud does not compute ExtendedStatistics (percentiles).")
    if not stats:
        raise AwsError("MissingParameter", "The parameter Statistics is required.")
    if (end - start) / period > 1440:
        raise _combination("You have requested up to "
                           f"{int((end - start) / period)} datapoints, which exceeds the "
                           "limit of 1,440. You may reduce the datapoints requested by "
                           "increasing Period, or decreasing the time range.")
    series = _series(cloud, params, start, end, period, params.get("Unit"))
    points = []
    for stamp, aggregate in series.items():
        point: dict[str, Any] = {"Timestamp": dt.datetime.fromtimestamp(stamp, dt.timezone.utc),
                                 "Unit": params.get("Unit") or "None"}
        for stat in stats:
            point[stat] = evaluation.statistic(aggregate, stat)
        points.append(point)
    return {"Label": params["MetricName"], "Datapoints": points}


def get_metric_data(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    start, end = _epoch(params["StartTime"], "StartTime"), _epoch(params["EndTime"], "EndTime")
    if start >= end:
        raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
    descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
    results = []
    for query in params["MetricDataQueries"]:
        if "MetricStat" not in query:
            raise _invalid(f"localcloud evaluates MetricStat queries only; query "
                           f"{query['Id']} uses an Expression (metric math).")
        stat = query["MetricStat"]
        if stat["Stat"] not in evaluation.STATISTICS:
            raise _invalid(f"localcloud does not compute the statistic {stat['Stat']} "
                           f"(query {query['Id']}).")
        series = _series(cloud, stat["Metric"], start, end, _period(stat["Period"]),
                         stat.get("Unit"))
        stamps = sorted(series, reverse=descending)
        if query.get("ReturnData", True):
            results.append({
                "Id": query["Id"], "Label": query.get("Label") or stat["Metric"]["MetricName"],
                "Timestamps": [dt.datetime.fromtimestamp(s, dt.timezone.utc) for s in stamps],
                "Values": [evaluation.statistic(series[s], stat["Stat"]) for s in stamps],
                "StatusCode": "Complete"})
    return {"MetricDataResults": results, "Messages": []}


def list_metrics(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    since = time.time() - 3 * 3600 if params.get("RecentlyActive") == "PT3H" else None
    wanted = params.get("Dimensions") or []
    metrics = []
    for namespace, name, key in metric_store(cloud).metrics(params.get("Namespace"),
                                                            params.get("MetricName"), since):
        dims = dims_list(key)
        have = {d["Name"]: d["Value"] for d in dims}
        if all(f["Name"] in have and ("Value" not in f or have[f["Name"]] == f["Value"])
               for f in wanted):
            metrics.append({"Namespace": namespace, "MetricName": name, "Dimensions": dims})
    start = int(params.get("NextToken") or 0)
    page = metrics[start:start + 500]
    return {"Metrics": page, **({"NextToken": str(start + 500)}
                                if start + 500 < len(metrics) else {})}


# -- alarms ----------------------------------------------------------------------------------

_CONFIG = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
           "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "Dimensions",
           "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
           "ComparisonOperator", "TreatMissingData")


def _check_alarm(params: dict[str, Any]) -> None:
    name = params["AlarmName"]
    if params.get("Metrics") or params.get("ExtendedStatistic") or params.get("ThresholdMetricId"):
        raise _invalid(f"alarm {name}: localcloud evaluates alarms on one metric with a "
                       f"standard statistic only (no Metrics, ExtendedStatistic or anomaly "
                       f"bands).")
    for field in ("MetricName", "Namespace", "Statistic", "Period", "Threshold"):
        if params.get(field) is None:
            raise AwsError("MissingParameter", f"The parameter {field} is required.")
    if params["ComparisonOperator"] not in evaluation.COMPARISONS:
        raise _invalid(f"The value {params['ComparisonOperator']} for parameter "
                       f"ComparisonOperator is invalid for a static-threshold alarm.")
    period = _period(params["Period"])
    if period < 10:
        raise _invalid("The parameter Period must be 10, 20, 30, or a multiple of 60.")
    n = params["EvaluationPeriods"]
    m = params.get("DatapointsToAlarm") or n
    if m > n:
        raise _invalid("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
    limit = 7 * 86400 if period >= 3600 else 86400
    if period * n > limit:
        raise _invalid(f"The evaluation period (Period x EvaluationPeriods = {period * n} s) "
                       f"must not exceed {limit} seconds.")
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in evaluation.TREAT_MISSING:
        raise _invalid(f"The value {treat} for parameter TreatMissingData is invalid; valid "
                       f"values are {', '.join(evaluation.TREAT_MISSING)}.")


def put_metric_alarm(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Create or overwrite an alarm. AWS: a new alarm starts INSUFFICIENT_DATA and is then
    evaluated; an update overwrites the configuration and leaves the state unchanged."""
    _check_alarm(params)
    name, now = params["AlarmName"], time.time()
    with cloud.state.transaction():
        existing = cloud.state.get(ALARM, name)
        doc = {k: params[k] for k in _CONFIG if k in params}
        doc.setdefault("ActionsEnabled", True)
        for key in ("OKActions", "AlarmActions", "InsufficientDataActions", "Dimensions"):
            doc.setdefault(key, [])
        doc["AlarmArn"] = cloud.config.arn("cloudwatch", f"alarm:{name}")
        doc["AlarmConfigurationUpdatedTimestamp"] = now
        if existing:
            for key in ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp",
                        "StateTransitionedTimestamp"):
                if key in existing:
                    doc[key] = existing[key]
        else:
            doc.update(StateValue=evaluation.INSUFFICIENT,
                       StateReason="Unchecked: Initial alarm creation",
                       StateUpdatedTimestamp=now, StateTransitionedTimestamp=now)
        cloud.state.put(ALARM, name, doc)
    metric_store(cloud).add_history(
        name, now, "ConfigurationUpdate", f'Alarm "{name}" {"updated" if existing else "created"}',
        {"version": "1.0", "type": "Update" if existing else "Create",
         "updatedAlarm": _public(doc, wire=False)})
    evaluate_alarms(cloud, lambda a: a["AlarmName"] == name)
    return {}


def _public(doc: dict[str, Any], wire: bool = True) -> dict[str, Any]:
    """The MetricAlarm shape: datetimes for the wire, CloudWatch's ISO text for history data."""
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    for key in ("AlarmConfigurationUpdatedTimestamp", "StateUpdatedTimestamp",
                "StateTransitionedTimestamp"):
        if key in out:
            out[key] = dt.datetime.fromtimestamp(out[key], dt.timezone.utc) if wire \
                else evaluation.iso_millis(out[key])
    return out


def describe_alarms(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("AlarmNames") and params.get("AlarmNamePrefix"):
        raise _combination("AlarmNames and AlarmNamePrefix cannot be specified together.")
    alarms = cloud.state.list(ALARM, params.get("AlarmNamePrefix") or "")
    if params.get("AlarmNames"):
        alarms = [a for a in alarms if a["AlarmName"] in set(params["AlarmNames"])]
    if params.get("StateValue"):
        alarms = [a for a in alarms if a["StateValue"] == params["StateValue"]]
    if params.get("ActionPrefix"):
        alarms = [a for a in alarms if any(x.startswith(params["ActionPrefix"]) for x in
                                           a["AlarmActions"] + a["OKActions"])]
    alarms.sort(key=lambda a: a["AlarmName"])
    if "MetricAlarm" not in (params.get("AlarmTypes") or ["MetricAlarm"]):
        alarms = []
    start, size = int(params.get("NextToken") or 0), params.get("MaxRecords") or 50
    page = alarms[start:start + size]
    reply: dict[str, Any] = {"MetricAlarms": [_public(a) for a in page], "CompositeAlarms": []}
    if start + size < len(alarms):
        reply["NextToken"] = str(start + size)
    return reply


def delete_alarms(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    """AWS: if any name is wrong, no alarm is deleted."""
    names = params["AlarmNames"]
    with cloud.state.transaction():
        missing = [n for n in names if cloud.state.get(ALARM, n) is None]
        if missing:
            raise AwsError("ResourceNotFound", f"Alarm(s) not found: {', '.join(missing)}")
        for name in names:
            cloud.state.delete(ALARM, name)
    return {}


def set_alarm_state(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Sets the state until the next evaluation says otherwise, as on AWS."""
    name = params["AlarmName"]
    data = params.get("StateReasonData")
    if data is not None:
        try:
            json.loads(data)
        except ValueError:
            raise AwsError("InvalidFormat", "StateReasonData is not valid JSON.") from None
    with _evaluating:
        alarm = cloud.state.get(ALARM, name)
        if alarm is None:
            raise AwsError("ResourceNotFound", f"Alarm {name} not found")
        _transition(cloud, alarm, params["StateValue"], params["StateReason"],
                    json.loads(data) if data else None, time.time())
    return {}


def describe_alarm_history(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    start = _epoch(params["StartDate"], "StartDate") if "StartDate" in params else None
    end = _epoch(params["EndDate"], "EndDate") if "EndDate" in params else None
    items = metric_store(cloud).history(
        params.get("AlarmName"), params.get("HistoryItemType"), start, end,
        (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending")
    offset, size = int(params.get("NextToken") or 0), params.get("MaxRecords") or 100
    page = [{"AlarmName": i["alarm"], "AlarmType": "MetricAlarm",
             "Timestamp": dt.datetime.fromtimestamp(i["ts"], dt.timezone.utc),
             "HistoryItemType": i["type"], "HistorySummary": i["summary"],
             "HistoryData": i["data"]} for i in items[offset:offset + size]]
    reply: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + size < len(items):
        reply["NextToken"] = str(offset + size)
    return reply


# -- evaluation and state changes ------------------------------------------------------------

def evaluate_alarms(cloud: Any, which=lambda alarm: True, now: float | None = None) -> int:
    """Evaluate the alarms `which` selects at `now`; the number whose state changed."""
    now = time.time() if now is None else now
    changed = 0
    with _evaluating:
        for alarm in cloud.state.list(ALARM):
            if which(alarm):
                changed += _evaluate_one(cloud, alarm, now)
    return changed


def _evaluate_one(cloud: Any, alarm: dict[str, Any], now: float) -> bool:
    period = int(alarm["Period"])
    n = int(alarm["EvaluationPeriods"])
    # Periods aligned to multiples of Period; the newest is the one `now` is in.
    newest = math.floor(now / period) * period
    starts = [newest - period * i for i in range(n + evaluation.EXTRA_PERIODS - 1, -1, -1)]
    series = metric_store(cloud).aggregate(alarm["Namespace"], alarm["MetricName"],
                                           dims_key(alarm.get("Dimensions")), starts[0],
                                           newest + period, period, alarm.get("Unit"))
    points = [(s, evaluation.statistic(series[s], alarm["Statistic"]) if s in series else None)
              for s in starts]
    outcome = evaluation.evaluate(alarm, points, alarm["StateValue"], now)
    if outcome is None:
        return False
    return _transition(cloud, alarm, outcome.state, outcome.reason, outcome.reason_data, now)


def _transition(cloud: Any, alarm: dict[str, Any], state: str, reason: str,
                reason_data: dict[str, Any] | None, now: float) -> bool:
    """Record the new state; on a change, the history item and the EventBridge event."""
    name = alarm["AlarmName"]
    with cloud.state.transaction():
        current = cloud.state.get(ALARM, name)
        if current is None:
            return False   # deleted meanwhile
        previous = current["StateValue"]
        if state == current["StateValue"]:
            # AWS keeps the reason and timestamps of the last transition until the next one.
            return False
        old = {"value": previous, "reason": current.get("StateReason", ""),
               "timestamp": evaluation.iso_millis(current.get("StateUpdatedTimestamp", now))}
        if current.get("StateReasonData"):
            old["reasonData"] = current["StateReasonData"]
        current.update(StateValue=state, StateReason=reason, StateUpdatedTimestamp=now)
        if reason_data is not None:
            current["StateReasonData"] = json.dumps(reason_data, separators=(",", ":"))
        else:
            current.pop("StateReasonData", None)
        current["StateTransitionedTimestamp"] = now
        cloud.state.put(ALARM, name, current)
    new = {"value": state, "reason": reason, "timestamp": evaluation.iso_millis(now)}
    if current.get("StateReasonData"):
        new["reasonData"] = current["StateReasonData"]
    metric_store(cloud).add_history(name, now, "StateUpdate",
                                    f"Alarm updated from {previous} to {state}",
                                    {"version": "1.0", "oldState": {"stateValue": previous,
                                                                    "stateReason": old["reason"]},
                                     "newState": {"stateValue": state, "stateReason": reason}})
    from localcloud.events.api import emit_service_event
    emit_service_event(cloud, SOURCE, DETAIL_TYPE, state_change_detail(current, old, new),
                       [current["AlarmArn"]], now)
    log.info("alarm %s: %s -> %s: %s", name, previous, state, reason)
    return True


def state_change_detail(alarm: dict[str, Any], previous: dict[str, Any],
                        state: dict[str, Any]) -> dict[str, Any]:
    """The `detail` of AWS's "CloudWatch Alarm State Change" event for a single-metric alarm
    (CloudWatch User Guide, "Alarm events and EventBridge")."""
    metric = {"namespace": alarm["Namespace"], "name": alarm["MetricName"],
              "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}}
    configuration: dict[str, Any] = {
        "metrics": [{"id": f"{alarm['AlarmName']}-m1",
                     "metricStat": {"metric": metric, "period": alarm["Period"],
                                    "stat": alarm["Statistic"]},
                     "returnData": True}]}
    if alarm.get("AlarmDescription"):
        configuration["description"] = alarm["AlarmDescription"]
    return {"alarmName": alarm["AlarmName"], "state": state, "previousState": previous,
            "configuration": configuration}


def tick(cloud: Any, now: float | None = None) -> None:
    """Called every minute by the server's background clock: missing data and the passing of
    periods change alarm states too."""
    evaluate_alarms(cloud, now=now)


OPERATIONS = {
    "PutMetricData": put_metric_data,
    "GetMetricStatistics": get_metric_statistics,
    "GetMetricData": get_metric_data,
    "ListMetrics": list_metrics,
    "PutMetricAlarm": put_metric_alarm,
    "DescribeAlarms": describe_alarms,
    "DeleteAlarms": delete_alarms,
    "SetAlarmState": set_alarm_state,
    "DescribeAlarmHistory": describe_alarm_history,
}

API = JsonApi("cloudwatch", "GraniteServiceVersion20100801", OPERATIONS)


def handle(cloud: Any, request: Request) -> Response:
    return API.handle(cloud, request)
