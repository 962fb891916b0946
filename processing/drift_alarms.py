"""Deploy's part in the drift alarms: when the baseline the drift check judges an endpoint by
changes, its drift alarms (`ml-gateway-drift-<feature>`, made by infra/ml-gateway.yaml
DriftAlarm or mlgw/monitor_schedule.py) are pointed at the new baseline's metrics and reset.

The drift metrics carry the baseline they were measured against as a dimension
(processing/drift_metrics.py), so the alarm is

1. re-pointed: PutMetricAlarm with the alarm's own configuration (DescribeAlarms) and the
   Baseline dimension of the new package — "When you update an existing alarm, its state is left
   unchanged, but the update completely overwrites the previous configuration of the alarm"
   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html);
2. reset, if it is in ALARM: SetAlarmState(OK) with a reason naming the new package version, as
   a person would after a redeploy. CloudWatch then evaluates the alarm on the new baseline's
   metric, which has no datapoint yet: missing data is notBreaching, so it stays OK ("the alarm
   returns to its actual state", which is now OK:
   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html),
   and no OK -> ALARM change starts an unwanted retrain. The next drift check, judged against
   the new baseline, can set it off again.

Re-pointing first means an evaluation between the two calls can only find the new metric
(no data: OK), never the stale datapoint. The role needs cloudwatch:DescribeAlarms,
PutMetricAlarm and SetAlarmState on the drift alarms' ARNs (infra/ml-gateway.yaml
DeployRepointsDriftAlarms).
"""

from __future__ import annotations

from typing import Any

from processing import drift_metrics as metrics

# The DescribeAlarms (MetricAlarm) fields PutMetricAlarm takes back unchanged.
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
    "ExtendedStatistic",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
)


def endpoint_alarms(cloudwatch, endpoint_name: str) -> list[dict[str, Any]]:
    """The drift alarms (metrics.ALARM_PREFIX) on `endpoint_name`'s drift metrics, as
    DescribeAlarms returns them (MetricAlarm shape)."""
    found = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=metrics.ALARM_PREFIX):
        for alarm in page["MetricAlarms"]:
            dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
            if alarm.get("Namespace") == metrics.METRIC_NAMESPACE and dims.get("Endpoint") == endpoint_name:
                found.append(alarm)
    return found


def repoint(cloudwatch, endpoint_name: str, package_arn: str, version_label: str) -> list[str]:
    """Point `endpoint_name`'s drift alarms at the drift measured against `package_arn`'s
    baseline and reset those in ALARM (module docstring); `version_label` (e.g.
    "MLGatewayFraud version 2") goes into the reason. One line per alarm changed, for the
    user; none when the alarms already watch that baseline (a canary, a retried deploy).
    ValueError for an ARN that names no package version; botocore's ClientError as CloudWatch
    answers (e.g. AccessDenied without the permissions above)."""
    baseline = metrics.baseline_id(package_arn)
    lines = []
    for alarm in endpoint_alarms(cloudwatch, endpoint_name):
        previous = metrics.baseline_of(alarm.get("Dimensions") or [])
        if previous == baseline:
            continue
        request = {key: alarm[key] for key in _CONFIG if alarm.get(key) is not None}
        others = [d for d in alarm.get("Dimensions") or [] if d["Name"] != metrics.BASELINE_DIMENSION]
        request["Dimensions"] = [*others, {"Name": metrics.BASELINE_DIMENSION, "Value": baseline}]
        cloudwatch.put_metric_alarm(**request)
        name = alarm["AlarmName"]
        line = f"drift alarm {name}: now judges drift against the baseline of {version_label} ({baseline})"
        (now,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if now["StateValue"] == "ALARM":
            reason = (
                f"Reset by Deploy: {endpoint_name} is now monitored against the baseline of {version_label} "
                f"({baseline}); drift measured against {previous or 'the previous baseline'} no longer applies"
            )
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason=reason)
            line += "; was in ALARM (drift against the previous baseline), reset to OK"
        lines.append(line)
    return lines
