"""The names of the drift metrics and alarms, written once for DriftCheck (which publishes the
metrics), Deploy (which re-points the alarms) and `mlgw` (which creates the alarms and reads the
metrics). No pandas here: the CLI imports it. In processing/ because both the Deploy and the
DriftCheck steps ship processing/ (drift_check imports processing.job), not monitoring/.

Model Monitor publishes `feature_baseline_drift_<feature>` and `feature_non_null_<feature>` in
`aws/sagemaker/Endpoints/data-metrics` with the dimensions `Endpoint` and `MonitoringSchedule`
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-cloudwatch.html).
DriftCheck adds one: `Baseline`, the model package whose DriftCheckBaselines the drift was
measured against (`<model package group>/<version>`). CloudWatch keeps each dimension
combination as its own metric, so a drift alarm watches the drift measured against one baseline;
Deploy re-points the alarms when the monitored baseline changes (processing/drift_alarms.py), and
drift measured against the previous baseline no longer counts.
"""

from __future__ import annotations

METRIC_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
DRIFT_METRIC_PREFIX = "feature_baseline_drift_"
NON_NULL_METRIC_PREFIX = "feature_non_null_"
ALARM_PREFIX = "ml-gateway-drift-"  # the retrain rule (mlgw/retrain_rule.json) matches alarm names by this prefix
BASELINE_DIMENSION = "Baseline"
# The Baseline a drift alarm watches before any model is deployed (infra/ml-gateway.yaml
# MonitoredBaseline's default): no drift check publishes it, so the alarm stays OK until Deploy
# points it at the deployed model's baseline.
NO_BASELINE = "none-deployed"
_PACKAGE = ":model-package/"


def baseline_id(package_arn: str) -> str:
    """`<model package group>/<version>` of a versioned model package ARN
    (arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION), the Baseline dimension's
    value. ValueError for an ARN that names no package version."""
    _, found, resource = package_arn.partition(_PACKAGE)
    group, _, version = resource.partition("/")
    if not found or not group or not version.isdigit():
        raise ValueError(f"{package_arn!r} is not a versioned model package ARN (…:model-package/GROUP/VERSION)")
    return f"{group}/{version}"


def dimensions(endpoint: str, schedule_name: str, baseline: str) -> list[dict[str, str]]:
    """The drift metrics' dimensions: Model Monitor's two, then the monitored baseline
    (`baseline_id` of its package, or NO_BASELINE)."""
    return [
        {"Name": "Endpoint", "Value": endpoint},
        {"Name": "MonitoringSchedule", "Value": schedule_name},
        {"Name": BASELINE_DIMENSION, "Value": baseline},
    ]


def baseline_of(dims: list[dict[str, str]]) -> str | None:
    """The Baseline dimension's value in a metric's or alarm's Dimensions, if any."""
    return next((d["Value"] for d in dims if d.get("Name") == BASELINE_DIMENSION), None)
