"""The drift loop's AWS side, without AWS: the DriftCheck definition built offline, and the
schedule, the alarm and the retrain rule created through boto3 against moto (in-process), with
the exact requests the Deploy step and the template make."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from mlgw import monitor_schedule, retrain
from mlgw.cli import main
from processing import drift_schedule
from tests.support.definition import step_named
from tests.test_aws_path import BUCKET, REGION, ROLE, aws_env, moto_aws, upsert_args  # noqa: F401

EVENTS_ROLE = "arn:aws:iam::000000000000:role/ml-gateway-retrain-events"
DRIFT_CHECK = f"arn:aws:sagemaker:{REGION}:000000000000:pipeline/driftcheck"


def test_drift_check_definition_builds_offline(moto_aws):  # noqa: F811
    """The SDK builds DriftCheck with no network and no AWS (moto answers STS and S3)."""
    from pipelines.drift_check.pipeline import get_pipeline
    from pipelines.ml_gateway.run_pipeline import quiet_sdk

    with quiet_sdk():
        pipeline = get_pipeline(REGION, ROLE, BUCKET, boto_session=boto3.Session())
        definition = json.loads(pipeline.definition())
    (step,) = definition["Steps"]
    assert step["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/drift_check.py",
    ]
    # AWS_DEFAULT_REGION: botocore's region for the job's clients (SageMaker sets none).
    assert step["Arguments"]["Environment"] == {
        "PYTHONPATH": "/opt/ml/processing/input/source",
        "AWS_DEFAULT_REGION": REGION,
    }
    source = next(i for i in step["Arguments"]["ProcessingInputs"] if i["InputName"] == "source")
    staged = source["S3Input"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    keys = {
        o["Key"].removeprefix(staged + "/")
        for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=staged)["Contents"]
    }
    # both packages the job imports, at the mount's root (PYTHONPATH)
    assert {
        "monitoring/drift_check.py",
        "monitoring/capture.py",
        "monitoring/__init__.py",
        "processing/job.py",
        "processing/__init__.py",
    } <= keys


@pytest.mark.slow
def test_upsert_creates_the_drift_check_pipeline_offline(moto_aws, capsys):  # noqa: F811
    """`mlgw pipeline upsert --target aws` also upserts DriftCheck; its definition is one
    processing step on the processing image whose window ends at the execution's start and
    whose reports land in Model Monitor's <reports>/<endpoint>/<schedule> layout."""
    assert main(upsert_args()) == 0
    captured = capsys.readouterr()
    assert "drift check pipeline arn:aws:sagemaker:us-east-1:000000000000:pipeline/DriftCheck" in captured.err
    sm = boto3.client("sagemaker")
    definition = json.loads(sm.describe_pipeline(PipelineName="DriftCheck")["PipelineDefinition"])
    (step,) = definition["Steps"]
    assert step["Type"] == "Processing" and step["Name"] == "DriftCheck"
    args = step["Arguments"]
    image = args["AppSpecification"]["ImageUri"]
    assert image.endswith(".amazonaws.com/ml-gateway-processing:latest")
    cli = args["AppSpecification"]["ContainerArguments"]
    assert cli[cli.index("--end") + 1] == {"Get": "Execution.StartDateTime"}
    # A string field: the Integer parameter rendered as a string (.to_string(), a Std:Join).
    assert cli[cli.index("--window-minutes") + 1] == {
        "Std:Join": {"On": "", "Values": [{"Get": "Parameters.WindowMinutes"}]}
    }
    (output,) = args["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == {
        "Std:Join": {
            "On": "/",
            "Values": [
                {"Get": "Parameters.ReportsUri"},
                {"Get": "Parameters.EndpointName"},
                {"Get": "Parameters.MonitoringScheduleName"},
            ],
        }
    }
    names = {p["Name"] for p in definition["Parameters"]}
    assert {"EndpointName", "MonitoringScheduleName", "WindowMinutes", "CaptureUri"} <= names

    main_definition = json.loads(sm.describe_pipeline(PipelineName="MLGatewayPipeline")["PipelineDefinition"])
    deploy = step_named(main_definition, "Deploy")
    deploy_cli = deploy["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert deploy_cli[deploy_cli.index("--drift-check-pipeline-arn") + 1] == DRIFT_CHECK
    assert deploy_cli[deploy_cli.index("--drift-check-role-arn") + 1] == EVENTS_ROLE


def test_deploy_creates_the_schedule_idempotently(aws_env):  # noqa: F811
    with mock_aws():
        events = boto3.client("events")
        for _ in range(2):  # a second deploy updates the same rule and target
            drift_schedule.ensure_schedule(
                events,
                endpoint_name="ml-gateway-fraud",
                pipeline_arn=DRIFT_CHECK,
                role_arn=EVENTS_ROLE,
                schedule_expression="rate(1 hour)",
                capture_uri=f"s3://{BUCKET}/ml-gateway/data-capture",
            )
        rules = events.list_rules()["Rules"]
        assert [(r["Name"], r["ScheduleExpression"]) for r in rules] == [
            ("ml-gateway-fraud-drift-check", "rate(1 hour)")
        ]
        (target,) = events.list_targets_by_rule(Rule="ml-gateway-fraud-drift-check")["Targets"]
        assert target["Arn"] == DRIFT_CHECK and target["RoleArn"] == EVENTS_ROLE
        params = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
        assert params == {
            "EndpointName": "ml-gateway-fraud",
            "MonitoringScheduleName": "ml-gateway-fraud-drift-check",
            "WindowMinutes": "60",
            "CaptureUri": f"s3://{BUCKET}/ml-gateway/data-capture",
        }


def test_alarm_and_rule_are_valid_aws_requests(aws_env):  # noqa: F811
    """The alarm the template declares (= AlarmSpec, tests/test_infra.py) and the retrain rule
    with its pattern, as moto accepts them; the rule matches AWS's state-change event for
    that alarm and no other."""
    with mock_aws():
        cloudwatch, events = boto3.client("cloudwatch"), boto3.client("events")
        names = monitor_schedule.ensure_alarms(cloudwatch, "ml-gateway-fraud")
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        assert alarm["MetricName"] == "feature_baseline_drift_total_claim_amount"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            "Endpoint": "ml-gateway-fraud",
            "MonitoringSchedule": "ml-gateway-fraud-drift-check",
            "Baseline": "none-deployed",  # until Deploy points it at a model's baseline
        }
        # Deploy's re-pointing is a request AWS takes, built from DescribeAlarms' answer (moto
        # resets an updated alarm's state, which AWS keeps: the reset is tested on localcloud,
        # tests/test_redeploy.py).
        from processing import drift_alarms

        package = f"arn:aws:sagemaker:{REGION}:000000000000:model-package/mlgatewayfraud/2"
        (line,) = drift_alarms.repoint(cloudwatch, "ml-gateway-fraud", package, "MLGatewayFraud version 2")
        assert "now judges drift against the baseline of MLGatewayFraud version 2 (mlgatewayfraud/2)" in line
        (moved,) = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        assert {"Name": "Baseline", "Value": "mlgatewayfraud/2"} in moved["Dimensions"]
        assert {k: moved[k] for k in ("Threshold", "Period", "Statistic", "TreatMissingData", "AlarmDescription")} == {
            k: alarm[k] for k in ("Threshold", "Period", "Statistic", "TreatMissingData", "AlarmDescription")
        }
        arn = f"arn:aws:sagemaker:{REGION}:000000000000:pipeline/mlgatewaypipeline"
        retrain.ensure_rule(events, arn, ROLE, {"DeployStrategy": "canary"})
        rule = events.describe_rule(Name=retrain.RULE_NAME)
        assert json.loads(rule["EventPattern"]) == retrain.pattern()
        # moto 5.2.5's TestEventPattern answers without a Result: match with localcloud's.
        from localcloud.events.patterns import compile_pattern

        pattern = compile_pattern(rule["EventPattern"])
        event = {
            "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change",
            "detail": {"alarmName": alarm["AlarmName"], "state": {"value": "ALARM"}, "previousState": {"value": "OK"}},
        }
        assert pattern.matches(event)
        for other in (
            {"alarmName": "cpu-high", "state": {"value": "ALARM"}},
            {"alarmName": alarm["AlarmName"], "state": {"value": "OK"}},
        ):
            assert not pattern.matches({**event, "detail": other})


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "cron(0 * * * *)"])
def test_a_bad_schedule_fails_deploy_with_awss_reason(localcloud, client, expression):
    """On localcloud (which refuses what EventBridge refuses), Deploy's hook turns the refusal
    into the job's failure reason naming the expression."""
    import argparse
    import os

    args = argparse.Namespace(
        drift_check_pipeline_arn=DRIFT_CHECK,
        drift_check_role_arn=EVENTS_ROLE,
        drift_check_schedule=expression,
        drift_check_window_minutes=60,
    )
    env = localcloud.cloud.config.client_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with pytest.raises(ValueError, match=r"ScheduleExpression is not valid") as err:
            drift_schedule.ensure_from_args(args, "ml-gateway-fraud", None)
        assert expression in str(err.value)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
