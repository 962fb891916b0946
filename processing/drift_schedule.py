"""The drift-check schedule of a deployed endpoint: an EventBridge scheduled rule that starts
the DriftCheck pipeline (pipelines/drift_check) for it. Deploy calls `ensure_schedule` after a
successful deployment, so a fresh endpoint is monitored without a manual step.

Idempotent: PutRule and PutTargets create or overwrite by name and target id, so deploying
again (or a retrain) updates the rule in place instead of adding a second one. The rule is
named `<endpoint>-drift-check`; its target passes the pipeline the endpoint, the
MonitoringSchedule dimension, the window and the capture location.

IAM (infra/ml-gateway.yaml): the Deploy job needs events:PutRule / PutTargets on
rule/<endpoint>-drift-check and iam:PassRole on the events role; the events role needs
sagemaker:StartPipelineExecution on the DriftCheck pipeline.
"""

from __future__ import annotations

import argparse
from typing import Any

RULE_SUFFIX = "-drift-check"
TARGET_ID = "DriftCheck"
DEFAULT_SCHEDULE = "rate(1 hour)"


def rule_name(endpoint_name: str) -> str:
    """`<endpoint>-drift-check`; EventBridge rule names are at most 64 characters."""
    return endpoint_name[: 64 - len(RULE_SUFFIX)] + RULE_SUFFIX


def schedule_name(endpoint_name: str) -> str:
    """The MonitoringSchedule dimension the DriftCheck metrics carry (and the alarm watches)."""
    return rule_name(endpoint_name)


def ensure_schedule(
    events: Any,
    *,
    endpoint_name: str,
    pipeline_arn: str,
    role_arn: str,
    schedule_expression: str = DEFAULT_SCHEDULE,
    window_minutes: int = 60,
    capture_uri: str | None = None,
) -> str:
    """Create or update the endpoint's scheduled rule and its DriftCheck target; the rule ARN.
    EventBridge's ValidationException (a bad expression) propagates with AWS's message."""
    name = rule_name(endpoint_name)
    rule = events.put_rule(
        Name=name,
        ScheduleExpression=schedule_expression,
        State="ENABLED",
        Description=f"Drift check of endpoint {endpoint_name} (DriftCheck pipeline)",
    )
    parameters = [
        {"Name": "EndpointName", "Value": endpoint_name},
        {"Name": "MonitoringScheduleName", "Value": schedule_name(endpoint_name)},
        {"Name": "WindowMinutes", "Value": str(window_minutes)},
    ]
    if capture_uri:
        parameters.append({"Name": "CaptureUri", "Value": capture_uri})
    reply = events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": TARGET_ID,
                "Arn": pipeline_arn,
                "RoleArn": role_arn,
                "SageMakerPipelineParameters": {"PipelineParameterList": parameters},
            }
        ],
    )
    if reply.get("FailedEntryCount"):
        failed = reply["FailedEntries"][0]
        raise RuntimeError(
            f"EventBridge refused the drift-check target of rule {name}: "
            f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
        )
    print(
        f"drift check of {endpoint_name}: rule {name} ({schedule_expression}, "
        f"{window_minutes}-minute window) → {pipeline_arn}",
        flush=True,
    )
    return rule["RuleArn"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Deploy's flags for the schedule (none given: no schedule is made)."""
    parser.add_argument("--drift-check-pipeline-arn", help="the DriftCheck pipeline the schedule starts")
    parser.add_argument("--drift-check-role-arn", help="role EventBridge assumes to start it")
    parser.add_argument(
        "--drift-check-schedule", default=DEFAULT_SCHEDULE, help="EventBridge schedule expression (default %(default)s)"
    )
    parser.add_argument(
        "--drift-check-window-minutes", type=int, default=60, help="minutes of capture each check reads (default 60)"
    )


def settings_from_args(args: argparse.Namespace) -> dict[str, Any] | None:
    """ensure_schedule's settings from Deploy's flags (None: no schedule asked for);
    ValueError when the pipeline is named without the role."""
    if not args.drift_check_pipeline_arn:
        return None
    if not args.drift_check_role_arn:
        raise ValueError("--drift-check-role-arn is required with --drift-check-pipeline-arn")
    return {
        "pipeline_arn": args.drift_check_pipeline_arn,
        "role_arn": args.drift_check_role_arn,
        "schedule_expression": args.drift_check_schedule,
        "window_minutes": args.drift_check_window_minutes,
    }


def ensure(events: Any, endpoint_name: str, capture_uri: str | None, settings: dict[str, Any]) -> str:
    """ensure_schedule with `settings` (settings_from_args' shape); EventBridge's refusal
    becomes a ValueError naming the endpoint, the expression and AWS's reason."""
    from botocore.exceptions import ClientError

    try:
        return ensure_schedule(events, endpoint_name=endpoint_name, capture_uri=capture_uri, **settings)
    except ClientError as exc:  # the job's failure reason, not a traceback
        error = exc.response["Error"]
        raise ValueError(
            f"cannot schedule the drift check of {endpoint_name} "
            f"({settings['schedule_expression']}): {error.get('Code')}: "
            f"{error.get('Message')}"
        ) from None


def ensure_from_args(args: argparse.Namespace, endpoint_name: str, capture_uri: str | None) -> str | None:
    """Deploy's hook: the schedule for `endpoint_name` when the flags ask for one."""
    settings = settings_from_args(args)
    if settings is None:
        return None
    import boto3

    return ensure(boto3.client("events"), endpoint_name, capture_uri, settings)
