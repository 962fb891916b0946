"""What a drift check tells the rest of the system: CloudWatch metrics, as Model Monitor's.

Model Monitor's data-quality jobs publish, per feature, `feature_baseline_drift_<feature>`
(the distance between the baseline and the current distribution) and
`feature_non_null_<feature>` (completeness, the share of non-null values) in the
`aws/sagemaker/Endpoints/data-metrics` namespace with the dimensions `Endpoint` and
`MonitoringSchedule` (SageMaker Developer Guide, "CloudWatch Metrics for Monitoring
Schedules"), and one more, `Baseline`, naming the baseline they were measured against
(processing/drift_metrics.py). The drift alarm (infra/ml-gateway.yaml; mlgw/monitor_schedule.py locally) watches
one of them, and its `CloudWatch Alarm State Change` event starts the retrain. No event is
published from here: AWS emits the alarm's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitoring import drift
from monitoring.baseline import completeness
from processing.drift_metrics import DRIFT_METRIC_PREFIX, METRIC_NAMESPACE, NON_NULL_METRIC_PREFIX, dimensions

__all__ = ["DRIFT_METRIC_PREFIX", "METRIC_NAMESPACE", "NON_NULL_METRIC_PREFIX", "cloudwatch_metric_data", "dimensions"]


def feature_distances(result: Any) -> dict[str, float]:
    """Baseline drift distance per feature (the value behind feature_baseline_drift_<f>)."""
    current = {f["name"]: f for f in result.statistics.get("features", [])}
    out: dict[str, float] = {}
    for base in (result.baseline or {}).get("features", []):
        cur = current.get(base["name"])
        if cur is None:
            continue
        distance = None
        if "numerical_statistics" in base and "numerical_statistics" in cur:
            distance = drift.numeric_distance(base["numerical_statistics"], cur["numerical_statistics"])
        elif "string_statistics" in base and "string_statistics" in cur:
            distance = drift.categorical_distance(base["string_statistics"], cur["string_statistics"])
        if distance is not None:
            out[base["name"]] = distance
    return out


def cloudwatch_metric_data(
    result: Any, endpoint: str, schedule_name: str, baseline: str, when: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """PutMetricData `MetricData` for one run (namespace METRIC_NAMESPACE), each metric with
    the dimensions of processing/drift_metrics.py: `baseline` names the package whose baseline the
    run was judged against (metrics.baseline_id). The caller sends
    cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=...)."""
    dims = dimensions(endpoint, schedule_name, baseline)
    stamp = when or dt.datetime.now(dt.timezone.utc)
    data = [
        {
            "MetricName": f"{DRIFT_METRIC_PREFIX}{feature}",
            "Dimensions": dims,
            "Timestamp": stamp,
            "Value": float(distance),
            "Unit": "None",
        }
        for feature, distance in sorted(feature_distances(result).items())
    ]
    for feature in result.statistics.get("features", []):
        data.append(
            {
                "MetricName": f"{NON_NULL_METRIC_PREFIX}{feature['name']}",
                "Dimensions": dims,
                "Timestamp": stamp,
                "Value": float(completeness(feature)),
                "Unit": "None",
            }
        )
    return data
