"""CloudWatch's backend, reached as `cloud.cloudwatch`: metrics and metric alarms.

Alarms on a single metric with a standard statistic are evaluated
(localcloud/cloudwatch/evaluation.py) when created, when their metric gets data (PutMetricData,
or an AWS service's own metrics through `publish_service_metrics`) and every minute while
localcloud runs (`tick`), as CloudWatch evaluates each minute; each state change is recorded
in the alarm history and put on the default event bus as AWS's `CloudWatch Alarm State
Change` event (`cloud.events.put_service_event`). Alarms on metric math, percentiles or
anomaly bands are refused with a message saying so (AWS accepts them; localcloud could not
evaluate them, and an alarm that never evaluates would pass a test that fails on AWS).

Validation follows the API reference of each operation (PutMetricData: at most 1000 items,
no NaN/Infinity, timestamps at most two weeks old and two hours ahead, the `AWS/` namespace
prefix reserved; PutMetricAlarm: Period 10, 20, 30 or a multiple of 60, DatapointsToAlarm <=
EvaluationPeriods, Period x EvaluationPeriods at most one day (seven days for periods of an
hour or more)).

Data: datapoints and alarm history in the metric store (localcloud/cloudwatch/store.py);
alarm configurations and states as documents in the shared StateStore (kind ALARM).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localcloud.cloudwatch import evaluation
from localcloud.cloudwatch.exceptions import (
    InvalidFormat,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    ResourceNotFound,
)
from localcloud.cloudwatch.store import ALARM, MetricStore, dims_key, dims_list, metric_store

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger("localcloud.cloudwatch")

SOURCE = "aws.cloudwatch"
DETAIL_TYPE = "CloudWatch Alarm State Change"
MAX_PAST = 14 * 86400
MAX_FUTURE = 2 * 3600
_evaluating = threading.Lock()  # one evaluation at a time: a state change is emitted once

Row = tuple[str, str, str, float, float, float, float, float, str | None]
Timestamp = dt.datetime | float


def _epoch(value: Any, field: str) -> float:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise InvalidParameterValue(f"The parameter {field} must be a timestamp.")


def _finite(value: Any, field: str) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise InvalidParameterValue(f"The value {value} for parameter {field} is invalid.")
    return number


def _rows(namespace: str, datum: dict[str, Any], where: str, now: float) -> list[Row]:
    """A MetricDatum → metric store rows; InvalidParameterValue, InvalidParameterCombination,
    MissingParameter as PutMetricData answers them."""
    name = datum["MetricName"]
    stamp = _epoch(datum["Timestamp"], f"{where}.Timestamp") if "Timestamp" in datum else now
    if stamp < now - MAX_PAST or stamp > now + MAX_FUTURE:
        raise InvalidParameterValue(
            f"The parameter {where}.Timestamp must specify a time no more than two "
            f"weeks in the past and no more than two hours in the future."
        )
    dims = datum.get("Dimensions") or []
    if len({d["Name"] for d in dims}) != len(dims):
        raise InvalidParameterValue(f"The parameter {where}.Dimensions has duplicate dimension names.")
    key, unit = dims_key(dims), datum.get("Unit")
    given = [f for f in ("Value", "Values", "StatisticValues") if f in datum]
    if len(given) > 1:
        raise InvalidParameterCombination(
            f"The parameters {where}.{given[0]} and {where}.{given[1]} are "
            f"mutually exclusive and you have specified both."
        )
    if not given:
        raise MissingParameter(f"The parameter {where}.Value is required.")
    if "Value" in datum:
        v = _finite(datum["Value"], f"{where}.Value")
        return [(namespace, name, key, stamp, 1.0, v, v, v, unit)]
    if "Values" in datum:
        values = datum["Values"]
        counts = datum.get("Counts") or [1.0] * len(values)
        if len(counts) != len(values):
            raise InvalidParameterCombination(
                f"The parameters {where}.Values and {where}.Counts must be of the same size."
            )
        return [
            (namespace, name, key, stamp, float(c), _finite(v, f"{where}.Values") * c, float(v), float(v), unit)
            for v, c in zip(values, counts)
        ]
    stats = datum["StatisticValues"]
    return [
        (
            namespace,
            name,
            key,
            stamp,
            _finite(stats["SampleCount"], "SampleCount"),
            _finite(stats["Sum"], "Sum"),
            _finite(stats["Minimum"], "Minimum"),
            _finite(stats["Maximum"], "Maximum"),
            unit,
        )
    ]


def _service_row(namespace: str, datum: dict[str, Any]) -> Row:
    """An AWS service's own MetricDatum (Value or StatisticValues, Timestamp as epoch s) → a
    metric store row, unvalidated: the service computed it."""
    key = dims_key(datum.get("Dimensions"))
    stamp = float(datum["Timestamp"])
    if "Value" in datum:
        v = float(datum["Value"])
        return (namespace, datum["MetricName"], key, stamp, 1.0, v, v, v, datum.get("Unit"))
    s = datum["StatisticValues"]
    return (
        namespace,
        datum["MetricName"],
        key,
        stamp,
        float(s["SampleCount"]),
        float(s["Sum"]),
        float(s["Minimum"]),
        float(s["Maximum"]),
        datum.get("Unit"),
    )


def _period(value: int, field: str = "Period") -> int:
    if value not in (1, 5, 10, 20, 30) and (value < 60 or value % 60):
        raise InvalidParameterValue(f"The parameter {field} must be 1, 5, 10, 20, 30, or a multiple of 60.")
    return value


_CONFIG = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)


def _check_alarm(params: dict[str, Any]) -> None:
    name = params["AlarmName"]
    if params.get("Metrics") or params.get("ExtendedStatistic") or params.get("ThresholdMetricId"):
        raise InvalidParameterValue(
            f"alarm {name}: localcloud evaluates alarms on one metric with a "
            f"standard statistic only (no Metrics, ExtendedStatistic or anomaly "
            f"bands)."
        )
    for field in ("MetricName", "Namespace", "Statistic", "Period", "Threshold"):
        if params.get(field) is None:
            raise MissingParameter(f"The parameter {field} is required.")
    if params["ComparisonOperator"] not in evaluation.COMPARISONS:
        raise InvalidParameterValue(
            f"The value {params['ComparisonOperator']} for parameter "
            f"ComparisonOperator is invalid for a static-threshold alarm."
        )
    period = _period(params["Period"])
    if period < 10:
        raise InvalidParameterValue("The parameter Period must be 10, 20, 30, or a multiple of 60.")
    n = params["EvaluationPeriods"]
    m = params.get("DatapointsToAlarm") or n
    if m > n:
        raise InvalidParameterValue("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
    limit = 7 * 86400 if period >= 3600 else 86400
    if period * n > limit:
        raise InvalidParameterValue(
            f"The evaluation period (Period x EvaluationPeriods = {period * n} s) must not exceed {limit} seconds."
        )
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in evaluation.TREAT_MISSING:
        raise InvalidParameterValue(
            f"The value {treat} for parameter TreatMissingData is invalid; valid "
            f"values are {', '.join(evaluation.TREAT_MISSING)}."
        )


def _public(doc: dict[str, Any], wire: bool = True) -> dict[str, Any]:
    """The MetricAlarm shape: datetimes for the wire, CloudWatch's ISO text for history data."""
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    for key in ("AlarmConfigurationUpdatedTimestamp", "StateUpdatedTimestamp", "StateTransitionedTimestamp"):
        if key in out:
            out[key] = dt.datetime.fromtimestamp(out[key], dt.timezone.utc) if wire else evaluation.iso_millis(out[key])
    return out


def state_change_detail(alarm: dict[str, Any], previous: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The `detail` of AWS's "CloudWatch Alarm State Change" event for a single-metric alarm
    (CloudWatch User Guide, "Alarm events and EventBridge")."""
    metric = {
        "namespace": alarm["Namespace"],
        "name": alarm["MetricName"],
        "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []},
    }
    configuration: dict[str, Any] = {
        "metrics": [
            {
                "id": f"{alarm['AlarmName']}-m1",
                "metricStat": {"metric": metric, "period": alarm["Period"], "stat": alarm["Statistic"]},
                "returnData": True,
            }
        ]
    }
    if alarm.get("AlarmDescription"):
        configuration["description"] = alarm["AlarmDescription"]
    return {"alarmName": alarm["AlarmName"], "state": state, "previousState": previous, "configuration": configuration}


class CloudWatchBackend:
    """CloudWatch for one LocalCloud (`cloud.cloudwatch`). Metric data and alarms are AWS's
    shapes (MetricDatum, MetricAlarm, AlarmHistoryItem); times are epoch seconds or datetimes."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud

    @property
    def store(self) -> MetricStore:
        """Datapoints and alarm history of this cloud's home."""
        return metric_store(self.cloud)

    # -- metrics -------------------------------------------------------------------------------

    def put_metric_data(self, *, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        """Store a customer's MetricDatum items and evaluate the alarms on their metrics.
        InvalidParameterValue (an `AWS/` namespace, more than 1000 items, a bad value or
        timestamp), InvalidParameterCombination, MissingParameter (AWS: PutMetricData)."""
        if namespace.startswith("AWS/"):
            raise InvalidParameterValue(f"The value {namespace} for parameter Namespace is invalid.")
        if len(metric_data) > 1000:
            raise InvalidParameterValue("The collection MetricData must not have a size greater than 1000.")
        now = time.time()
        rows = [
            row
            for i, datum in enumerate(metric_data, 1)
            for row in _rows(namespace, datum, f"MetricData.member.{i}", now)
        ]
        self._store_and_evaluate(rows, None)

    def publish_service_metrics(self, namespace: str, metric_data: list[dict[str, Any]], now: float) -> None:
        """An AWS service's own metrics (the `AWS/` namespaces allowed): MetricDatum dicts
        (MetricName, Dimensions, Unit, Timestamp as epoch s, and Value or StatisticValues),
        stored as they are, then the alarms on those metrics evaluated at `now`."""
        self._store_and_evaluate([_service_row(namespace, d) for d in metric_data], now)

    def _store_and_evaluate(self, rows: list[Row], now: float | None) -> None:
        if not rows:
            return
        self.store.put(rows)
        touched = {(r[0], r[1], r[2]) for r in rows}
        self.evaluate_alarms(
            lambda a: (a["Namespace"], a["MetricName"], dims_key(a.get("Dimensions"))) in touched, now=now
        )

    def _series(
        self, metric: dict[str, Any], start: float, end: float, period: int, unit: str | None
    ) -> dict[float, dict[str, float]]:
        return self.store.aggregate(
            metric["Namespace"], metric["MetricName"], dims_key(metric.get("Dimensions")), start, end, period, unit
        )

    def get_metric_statistics(
        self,
        *,
        namespace: str,
        metric_name: str,
        start_time: Timestamp,
        end_time: Timestamp,
        period: int,
        dimensions: list[dict[str, str]] | None = None,
        statistics: list[str] | None = None,
        extended_statistics: list[str] | None = None,
        unit: str | None = None,
    ) -> dict[str, Any]:
        """GetMetricStatistics' response ({Label, Datapoints}). InvalidParameterValue,
        MissingParameter (no Statistics), InvalidParameterCombination (over 1,440 points)."""
        start, end = _epoch(start_time, "StartTime"), _epoch(end_time, "EndTime")
        if start >= end:
            raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        period = _period(period)
        stats = statistics or []
        if extended_statistics:
            raise InvalidParameterValue("localcloud does not compute ExtendedStatistics (percentiles).")
        if not stats:
            raise MissingParameter("The parameter Statistics is required.")
        if (end - start) / period > 1440:
            raise InvalidParameterCombination(
                "You have requested up to "
                f"{int((end - start) / period)} datapoints, which exceeds the "
                "limit of 1,440. You may reduce the datapoints requested by "
                "increasing Period, or decreasing the time range."
            )
        # One datapoint per period and Unit: AWS does not merge units (LocalStack's AWS-recorded
        # test_handle_different_units: three units in one period, three datapoints).
        series = self.store.aggregate_by_unit(namespace, metric_name, dims_key(dimensions), start, end, period, unit)
        points = []
        for (stamp, stored_unit), aggregate in series:
            point: dict[str, Any] = {
                "Timestamp": dt.datetime.fromtimestamp(stamp, dt.timezone.utc),
                "Unit": stored_unit,
            }
            for stat in stats:
                point[stat] = evaluation.statistic(aggregate, stat)
            points.append(point)
        return {"Label": metric_name, "Datapoints": points}

    def get_metric_data(
        self,
        *,
        metric_data_queries: list[dict[str, Any]],
        start_time: Timestamp,
        end_time: Timestamp,
        scan_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """GetMetricData's MetricDataResults for MetricStat queries; InvalidParameterValue for
        metric math or a statistic localcloud does not compute."""
        start, end = _epoch(start_time, "StartTime"), _epoch(end_time, "EndTime")
        if start >= end:
            raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        descending = (scan_by or "TimestampDescending") == "TimestampDescending"
        results = []
        for query in metric_data_queries:
            if "MetricStat" not in query:
                raise InvalidParameterValue(
                    f"localcloud evaluates MetricStat queries only; query "
                    f"{query['Id']} uses an Expression (metric math)."
                )
            stat = query["MetricStat"]
            if stat["Stat"] not in evaluation.STATISTICS:
                raise InvalidParameterValue(
                    f"localcloud does not compute the statistic {stat['Stat']} (query {query['Id']})."
                )
            series = self._series(stat["Metric"], start, end, _period(stat["Period"]), stat.get("Unit"))
            stamps = sorted(series, reverse=descending)
            if query.get("ReturnData", True):
                results.append(
                    {
                        "Id": query["Id"],
                        "Label": query.get("Label") or stat["Metric"]["MetricName"],
                        "Timestamps": [dt.datetime.fromtimestamp(s, dt.timezone.utc) for s in stamps],
                        "Values": [evaluation.statistic(series[s], stat["Stat"]) for s in stamps],
                        "StatusCode": "Complete",
                    }
                )
        return results

    def list_metrics(
        self,
        *,
        namespace: str | None = None,
        metric_name: str | None = None,
        dimensions: list[dict[str, str]] | None = None,
        recently_active: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every metric (ListMetrics' Metric shape) matching the filters, ordered by namespace,
        name and dimensions; "PT3H" keeps those with data in the last three hours."""
        since = time.time() - 3 * 3600 if recently_active == "PT3H" else None
        wanted = dimensions or []
        metrics = []
        for ns, name, key in self.store.metrics(namespace, metric_name, since):
            dims = dims_list(key)
            have = {d["Name"]: d["Value"] for d in dims}
            if all(f["Name"] in have and ("Value" not in f or have[f["Name"]] == f["Value"]) for f in wanted):
                metrics.append({"Namespace": ns, "MetricName": name, "Dimensions": dims})
        return metrics

    # -- alarms --------------------------------------------------------------------------------

    def put_metric_alarm(
        self,
        *,
        alarm_name: str,
        evaluation_periods: int,
        comparison_operator: str,
        metric_name: str | None = None,
        namespace: str | None = None,
        statistic: str | None = None,
        period: int | None = None,
        threshold: float | None = None,
        dimensions: list[dict[str, str]] | None = None,
        unit: str | None = None,
        datapoints_to_alarm: int | None = None,
        treat_missing_data: str | None = None,
        alarm_description: str | None = None,
        actions_enabled: bool | None = None,
        ok_actions: list[str] | None = None,
        alarm_actions: list[str] | None = None,
        insufficient_data_actions: list[str] | None = None,
        extended_statistic: str | None = None,
        metrics: list[dict[str, Any]] | None = None,
        threshold_metric_id: str | None = None,
    ) -> None:
        """Create or overwrite an alarm (PutMetricAlarm). AWS: a new alarm starts
        INSUFFICIENT_DATA and is then evaluated; an update overwrites the configuration and
        leaves the state unchanged. InvalidParameterValue for what localcloud cannot evaluate
        (metric math, percentiles, anomaly bands) or AWS refuses, MissingParameter."""
        given: dict[str, Any] = {
            "AlarmName": alarm_name,
            "EvaluationPeriods": evaluation_periods,
            "ComparisonOperator": comparison_operator,
            "MetricName": metric_name,
            "Namespace": namespace,
            "Statistic": statistic,
            "Period": period,
            "Threshold": threshold,
            "Dimensions": dimensions,
            "Unit": unit,
            "DatapointsToAlarm": datapoints_to_alarm,
            "TreatMissingData": treat_missing_data,
            "AlarmDescription": alarm_description,
            "ActionsEnabled": actions_enabled,
            "OKActions": ok_actions,
            "AlarmActions": alarm_actions,
            "InsufficientDataActions": insufficient_data_actions,
            "ExtendedStatistic": extended_statistic,
            "Metrics": metrics,
            "ThresholdMetricId": threshold_metric_id,
        }
        alarm = {k: v for k, v in given.items() if v is not None}
        _check_alarm(alarm)
        cloud = self.cloud
        name, now = alarm["AlarmName"], time.time()
        with cloud.state.transaction():
            existing = cloud.state.get(ALARM, name)
            doc = {k: alarm[k] for k in _CONFIG if k in alarm}
            doc.setdefault("ActionsEnabled", True)
            for key in ("OKActions", "AlarmActions", "InsufficientDataActions", "Dimensions"):
                doc.setdefault(key, [])
            doc["AlarmArn"] = cloud.config.arn("cloudwatch", f"alarm:{name}")
            doc["AlarmConfigurationUpdatedTimestamp"] = now
            if existing:
                for key in (
                    "StateValue",
                    "StateReason",
                    "StateReasonData",
                    "StateUpdatedTimestamp",
                    "StateTransitionedTimestamp",
                ):
                    if key in existing:
                        doc[key] = existing[key]
            else:
                doc.update(
                    StateValue=evaluation.INSUFFICIENT,
                    StateReason="Unchecked: Initial alarm creation",
                    StateUpdatedTimestamp=now,
                    StateTransitionedTimestamp=now,
                )
            cloud.state.put(ALARM, name, doc)
        self.store.add_history(
            name,
            now,
            "ConfigurationUpdate",
            f'Alarm "{name}" {"updated" if existing else "created"}',
            {"version": "1.0", "type": "Update" if existing else "Create", "updatedAlarm": _public(doc, wire=False)},
        )
        if not existing:
            # A new alarm is evaluated at once; an update leaves the state as it is until the
            # next evaluation (the clock's minute tick), as AWS: "When you update an existing
            # alarm, its state is left unchanged" (API_PutMetricAlarm.html).
            self.evaluate_alarms(lambda a: a["AlarmName"] == name)

    def describe_alarms(
        self,
        *,
        alarm_names: list[str] | None = None,
        alarm_name_prefix: str | None = None,
        state_value: str | None = None,
        action_prefix: str | None = None,
        alarm_types: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The metric alarms (MetricAlarm shape) the filters select, by name;
        InvalidParameterCombination for both names and a prefix."""
        if alarm_names and alarm_name_prefix:
            raise InvalidParameterCombination("AlarmNames and AlarmNamePrefix cannot be specified together.")
        alarms = self.cloud.state.list(ALARM, alarm_name_prefix or "")
        if alarm_names:
            alarms = [a for a in alarms if a["AlarmName"] in set(alarm_names)]
        if state_value:
            alarms = [a for a in alarms if a["StateValue"] == state_value]
        if action_prefix:
            alarms = [a for a in alarms if any(x.startswith(action_prefix) for x in a["AlarmActions"] + a["OKActions"])]
        alarms.sort(key=lambda a: a["AlarmName"])
        if "MetricAlarm" not in (alarm_types or ["MetricAlarm"]):
            alarms = []
        return [_public(a) for a in alarms]

    def delete_alarms(self, *, alarm_names: list[str]) -> None:
        """AWS: if any name is wrong, no alarm is deleted (ResourceNotFound)."""
        with self.cloud.state.transaction():
            missing = [n for n in alarm_names if self.cloud.state.get(ALARM, n) is None]
            if missing:
                raise ResourceNotFound(f"Alarm(s) not found: {', '.join(missing)}")
            for name in alarm_names:
                self.cloud.state.delete(ALARM, name)

    def set_alarm_state(
        self, *, alarm_name: str, state_value: str, state_reason: str, state_reason_data: str | None = None
    ) -> None:
        """Sets the state until the next evaluation says otherwise, as on AWS. InvalidFormat
        (StateReasonData not JSON), ResourceNotFound."""
        data = state_reason_data
        if data is not None:
            try:
                json.loads(data)
            except ValueError:
                raise InvalidFormat("StateReasonData is not valid JSON.") from None
        with _evaluating:
            alarm = self.cloud.state.get(ALARM, alarm_name)
            if alarm is None:
                raise ResourceNotFound(f"Alarm {alarm_name} not found")
            self._transition(alarm, state_value, state_reason, json.loads(data) if data else None, time.time())

    def describe_alarm_history(
        self,
        *,
        alarm_name: str | None = None,
        history_item_type: str | None = None,
        start_date: Timestamp | None = None,
        end_date: Timestamp | None = None,
        scan_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """The history items (AlarmHistoryItem shape) the filters select, newest first unless
        scan_by is "TimestampAscending"."""
        start = _epoch(start_date, "StartDate") if start_date is not None else None
        end = _epoch(end_date, "EndDate") if end_date is not None else None
        items = self.store.history(
            alarm_name, history_item_type, start, end, (scan_by or "TimestampDescending") == "TimestampDescending"
        )
        return [
            {
                "AlarmName": i["alarm"],
                "AlarmType": "MetricAlarm",
                "Timestamp": dt.datetime.fromtimestamp(i["ts"], dt.timezone.utc),
                "HistoryItemType": i["type"],
                "HistorySummary": i["summary"],
                "HistoryData": i["data"],
            }
            for i in items
        ]

    # -- evaluation and state changes ----------------------------------------------------------

    def evaluate_alarms(
        self, which: Callable[[dict[str, Any]], bool] = lambda alarm: True, now: float | None = None
    ) -> int:
        """Evaluate the alarms `which` selects (given the alarm document) at `now` (epoch s,
        default the clock's); the number whose state changed."""
        now = time.time() if now is None else now
        changed = 0
        with _evaluating:
            for alarm in self.cloud.state.list(ALARM):
                if not which(alarm):
                    continue
                try:
                    changed += self._evaluate_one(alarm, now)
                except Exception:  # noqa: BLE001 — one alarm never stops the evaluation of the others
                    log.exception("alarm %s: evaluation failed", alarm.get("AlarmName"))
        return changed

    def tick(self, now: float | None = None) -> None:
        """Called every minute by the server's background clock: missing data and the passing
        of periods change alarm states too."""
        self.evaluate_alarms(now=now)

    def _evaluate_one(self, alarm: dict[str, Any], now: float) -> bool:
        period = int(alarm["Period"])
        n = int(alarm["EvaluationPeriods"])
        # Periods aligned to multiples of Period; the newest is the one `now` is in.
        newest = math.floor(now / period) * period
        starts = [newest - period * i for i in range(n + evaluation.EXTRA_PERIODS - 1, -1, -1)]
        series = self.store.aggregate(
            alarm["Namespace"],
            alarm["MetricName"],
            dims_key(alarm.get("Dimensions")),
            starts[0],
            newest + period,
            period,
            alarm.get("Unit"),
        )
        points: list[tuple[float, float | None]] = [
            (s, evaluation.statistic(series[s], alarm["Statistic"]) if s in series else None) for s in starts
        ]
        outcome = evaluation.evaluate(alarm, points, alarm["StateValue"], now)
        if outcome is None:
            return False
        return self._transition(alarm, outcome.state, outcome.reason, outcome.reason_data, now)

    def _transition(
        self, alarm: dict[str, Any], state: str, reason: str, reason_data: dict[str, Any] | None, now: float
    ) -> bool:
        """Record the new state; on a change, the history item and the EventBridge event."""
        cloud = self.cloud
        name = alarm["AlarmName"]
        with cloud.state.transaction():
            current = cloud.state.get(ALARM, name)
            if current is None:
                return False  # deleted meanwhile
            previous = current["StateValue"]
            if state == current["StateValue"]:
                # AWS keeps the reason and timestamps of the last transition until the next one.
                return False
            old = {
                "value": previous,
                "reason": current.get("StateReason", ""),
                "timestamp": evaluation.iso_millis(current.get("StateUpdatedTimestamp", now)),
            }
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
        self.store.add_history(
            name,
            now,
            "StateUpdate",
            f"Alarm updated from {previous} to {state}",
            {
                "version": "1.0",
                "oldState": {"stateValue": previous, "stateReason": old["reason"]},
                "newState": {"stateValue": state, "stateReason": reason},
            },
        )
        cloud.events.put_service_event(
            SOURCE, DETAIL_TYPE, state_change_detail(current, old, new), [current["AlarmArn"]], when=now
        )
        log.info("alarm %s: %s -> %s: %s", name, previous, state, reason)
        return True
