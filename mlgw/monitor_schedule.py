"""The drift loop's AWS resources, made through boto3 exactly as infra/ml-gateway.yaml and the
Deploy step make them on AWS; locally the clients are aimed at localcloud.

* the DriftCheck pipeline (pipelines/drift_check), upserted beside the training pipeline;
* the endpoint's drift-check schedule: an EventBridge scheduled rule starting DriftCheck
  (processing/drift_schedule.py, which Deploy also calls);
* the drift alarms: one CloudWatch alarm per watched feature on Model Monitor's
  `feature_baseline_drift_<feature>` metric, named `ml-gateway-drift-<feature>` (the prefix
  the retrain rule's pattern matches), missing data not breaching — the template's
  DriftAlarm with its default parameters. Its `Baseline` dimension names the baseline the
  drift is measured against (processing/drift_metrics.py): Deploy re-points it at each new baseline
  (processing/drift_alarms.py), and ensure_alarms keeps the one an alarm watches.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from localcloud.config import Config
from pipelines.ml_gateway import locations
from processing import drift_metrics as metrics
from processing import drift_schedule
from processing.drift_metrics import ALARM_PREFIX

DEFAULT_ENDPOINT = "ml-gateway-fraud"
DRIFT_CHECK_PIPELINE = "DriftCheck"
__all__ = ["ALARM_PREFIX", "AlarmSpec", "ensure_alarms"]
DEFAULT_FEATURES = ("total_claim_amount",)
DEFAULT_THRESHOLD = 0.1  # infra/ml-gateway.yaml DriftThreshold's default
ALARM_PERIOD = 3600  # one drift check per hour by default


class MonitorError(Exception):
    """A request the user can fix (unknown endpoint or schedule, bad expression)."""


@dataclass(frozen=True)
class AlarmSpec:
    """One drift alarm, as infra/ml-gateway.yaml's DriftAlarm declares it; `baseline` is the
    Baseline dimension it watches (metrics.baseline_id of the deployed package, or
    metrics.NO_BASELINE before any deploy: the template's MonitoredBaseline default)."""

    endpoint: str
    feature: str
    threshold: float = DEFAULT_THRESHOLD
    period: int = ALARM_PERIOD
    baseline: str = metrics.NO_BASELINE

    @property
    def name(self) -> str:
        return f"{ALARM_PREFIX}{self.feature}"

    def request(self) -> dict[str, Any]:
        """PutMetricAlarm's arguments."""
        return {
            "AlarmName": self.name,
            "AlarmDescription": f"Model Monitor baseline drift of {self.feature} above {self.threshold:g}",
            "Namespace": metrics.METRIC_NAMESPACE,
            "MetricName": f"{metrics.DRIFT_METRIC_PREFIX}{self.feature}",
            "Dimensions": metrics.dimensions(self.endpoint, drift_schedule.schedule_name(self.endpoint), self.baseline),
            "Statistic": "Maximum",
            "Period": self.period,
            "EvaluationPeriods": 1,
            "Threshold": self.threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        }


def ensure_alarms(
    cloudwatch: Any,
    endpoint: str,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    threshold: float = DEFAULT_THRESHOLD,
    baseline: str | None = None,
) -> list[str]:
    """PutMetricAlarm for each feature (idempotent: an update keeps the alarm's state); the
    alarm names. `baseline` (a metrics.baseline_id) is the Baseline dimension watched; None
    keeps the one an existing alarm on `endpoint` watches (Deploy's re-pointing survives
    `mlgw run`), metrics.NO_BASELINE for a new alarm."""
    names = []
    for feature in features:
        spec = AlarmSpec(endpoint, feature, threshold)
        watched = baseline
        if watched is None:
            existing = cloudwatch.describe_alarms(AlarmNames=[spec.name])["MetricAlarms"]
            dims = existing[0].get("Dimensions") or [] if existing else []
            same_endpoint = {"Name": "Endpoint", "Value": endpoint} in dims
            watched = (metrics.baseline_of(dims) if same_endpoint else None) or metrics.NO_BASELINE
        spec = AlarmSpec(endpoint, feature, threshold, baseline=watched)
        cloudwatch.put_metric_alarm(**spec.request())
        names.append(spec.name)
    return names


# Where Deploy has endpoints capture, and publishes the monitored baseline: written once, in
# the pipeline's locations (the definition's Deploy arguments and DriftCheck's default too).
capture_uri = locations.capture_uri
monitoring_baseline_uri = locations.monitoring_baseline_uri


def drift_check_pipeline_arn(region: str, account_id: str) -> str:
    """The DriftCheck pipeline's ARN (SageMaker lower-cases pipeline names in ARNs)."""
    return f"arn:aws:sagemaker:{region}:{account_id}:pipeline/{DRIFT_CHECK_PIPELINE.lower()}"


def retrain_events_role_arn(account_id: str) -> str:
    """The role EventBridge passes to start pipelines (infra/ml-gateway.yaml RetrainRole)."""
    return f"arn:aws:iam::{account_id}:role/ml-gateway-retrain-events"


def drift_check_arn(config: Config) -> str:
    return drift_check_pipeline_arn(config.region, config.account_id)


def events_role_arn(config: Config) -> str:
    """The role EventBridge passes (infra: RetrainRole); localcloud records it."""
    return retrain_events_role_arn(config.account_id)


def schedule_settings(events: Any, endpoint: str, region: str, account_id: str) -> dict[str, Any]:
    """The endpoint's drift-check schedule as it is now, in drift_schedule.ensure's shape
    (pipeline_arn, role_arn, schedule_expression, window_minutes): read from its rule and
    target, so a redeploy keeps them; Deploy's defaults when the endpoint has no schedule yet
    (DriftCheck in `region`/`account_id`, the template's events role, hourly, 60 minutes)."""
    settings: dict[str, Any] = {
        "pipeline_arn": drift_check_pipeline_arn(region, account_id),
        "role_arn": retrain_events_role_arn(account_id),
        "schedule_expression": drift_schedule.DEFAULT_SCHEDULE,
        "window_minutes": 60,
    }
    name = drift_schedule.rule_name(endpoint)
    try:
        rule = events.describe_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        return settings
    if rule.get("ScheduleExpression"):
        settings["schedule_expression"] = rule["ScheduleExpression"]
    for target in events.list_targets_by_rule(Rule=name).get("Targets", []):
        if target.get("Id") != drift_schedule.TARGET_ID:
            continue
        settings["pipeline_arn"] = target["Arn"]
        settings["role_arn"] = target.get("RoleArn") or settings["role_arn"]
        for parameter in (target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList", []):
            if parameter["Name"] == "WindowMinutes" and parameter["Value"].isdigit():
                settings["window_minutes"] = int(parameter["Value"])
    return settings


DRIFT_CHECK_DESCRIPTION = "Scheduled drift check of the deployed endpoint"


def upsert_drift_check(config: Config, session, role_arn: str, default_bucket: str, phases) -> str:
    """Create or update the DriftCheck pipeline on localcloud: built by the SageMaker SDK, or
    from the definition cache when the same code was built before (mlgw/definition_cache.py);
    its ARN. `session`: a boto3 session signed for localcloud; `phases`: mlgw.progress.Phases."""
    from mlgw import definition_cache

    def build(boto_session):
        from pipelines.ml_gateway.run_pipeline import quiet_sdk

        with quiet_sdk():
            from pipelines.drift_check.pipeline import get_pipeline

            return get_pipeline(
                region=config.region,
                role=role_arn,
                default_bucket=default_bucket,
                pipeline_name=DRIFT_CHECK_PIPELINE,
                boto_session=boto_session,
            )

    return definition_cache.ensure_pipeline(
        session,
        session.client("s3", endpoint_url=config.url),
        session.client("sagemaker", endpoint_url=config.url),
        name=DRIFT_CHECK_PIPELINE,
        build_args={"region": config.region, "role": role_arn, "bucket": default_bucket},
        build=build,
        role_arn=role_arn,
        description=DRIFT_CHECK_DESCRIPTION,
        bucket=default_bucket,
        phases=phases,
    )


def create_schedule(
    config: Config, events: Any, endpoint: str, expression: str, window_minutes: int, capture_uri: str | None = None
) -> str:
    """The endpoint's scheduled rule (as Deploy makes it); EventBridge's refusal of a bad
    expression becomes a MonitorError with AWS's message."""
    from botocore.exceptions import ClientError

    try:
        return drift_schedule.ensure_schedule(
            events,
            endpoint_name=endpoint,
            pipeline_arn=drift_check_arn(config),
            role_arn=events_role_arn(config),
            schedule_expression=expression,
            window_minutes=window_minutes,
            capture_uri=capture_uri,
        )
    except ClientError as exc:
        raise MonitorError(exc.response["Error"].get("Message", str(exc))) from None


def delete_schedule(events: Any, endpoint: str) -> str:
    name = drift_schedule.rule_name(endpoint)
    try:
        events.describe_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        raise MonitorError(f"no drift-check schedule for endpoint {endpoint} (rule {name})") from None
    events.remove_targets(Rule=name, Ids=[drift_schedule.TARGET_ID])
    events.delete_rule(Name=name)
    return name


def list_schedules(events: Any) -> list[dict[str, Any]]:
    """Every drift-check rule with its target's pipeline parameters."""
    out = []
    for rule in events.list_rules().get("Rules", []):
        if not rule["Name"].endswith(drift_schedule.RULE_SUFFIX) or not rule.get("ScheduleExpression"):
            continue
        targets = events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
        params = {
            p["Name"]: p["Value"]
            for t in targets
            for p in (t.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList", [])
        }
        out.append(
            {
                "rule": rule["Name"],
                "expression": rule["ScheduleExpression"],
                "state": rule["State"],
                "targets": [t["Arn"] for t in targets],
                "parameters": params,
            }
        )
    return out


def alarm_states(cloudwatch: Any) -> list[dict[str, Any]]:
    """Each drift alarm: name, state, reason, updated (datetime) and the baseline it judges by
    (its Baseline dimension; metrics.NO_BASELINE before the first deploy)."""
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=ALARM_PREFIX)["MetricAlarms"]
    return [
        {
            "name": a["AlarmName"],
            "baseline": metrics.baseline_of(a.get("Dimensions") or []) or "",
            "state": a["StateValue"],
            "reason": a.get("StateReason", ""),
            "updated": a.get("StateUpdatedTimestamp"),
        }
        for a in alarms
    ]


def start_drift_check(sm: Any, endpoint: str, window_minutes: int) -> str:
    """Run a drift check now (what the schedule does on its own); the execution ARN."""
    return sm.start_pipeline_execution(
        PipelineName=DRIFT_CHECK_PIPELINE,
        PipelineExecutionDescription=f"on-demand drift check of {endpoint}",
        PipelineParameters=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "MonitoringScheduleName", "Value": drift_schedule.schedule_name(endpoint)},
            {"Name": "WindowMinutes", "Value": str(window_minutes)},
        ],
        ClientRequestToken=uuid.uuid4().hex,  # 32 to 128 characters (StartPipelineExecution)
    )["PipelineExecutionArn"]
