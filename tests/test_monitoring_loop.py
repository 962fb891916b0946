"""The back half of the drift loop against localcloud, on small data and without an endpoint:
DriftCheck's check (capture in S3 → Model Monitor's outputs → PutMetricData) → the drift
alarm → CloudWatch's `Alarm State Change` event → the retrain rule → a pipeline execution.
The endpoint → model package → DriftCheckBaselines lookup is checked with botocore's Stubber.
The whole loop with a real endpoint is tests/test_drift_loop.py (slow)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid

import pytest
from botocore.stub import Stubber

from benchmarks.monitor import capture_lines, feature_frame
from mlgw import monitor_schedule, retrain
from monitoring import drift_check
from monitoring.baseline import write_baseline
from processing.job import JobError

ENDPOINT = "ml-gateway-fraud"
SCHEDULE = "ml-gateway-fraud-drift-check"
BUCKET = "sagemaker-us-east-1-000000000000"
CAPTURE = f"s3://{BUCKET}/ml-gateway/data-capture"
BASELINE = f"s3://{BUCKET}/ml-gateway/executions/x/baseline"
ROLE = "arn:aws:iam::000000000000:role/ml-gateway-sagemaker-execution"  # infra/ml-gateway.yaml
# The Baseline dimension of the deployed package (processing/drift_metrics.baseline_id): the drift
# check measures against it and Deploy points the alarm at it.
WATCHED = "mlgatewayfraud/1"
FAIL_PIPELINE = {
    "Version": "2020-12-01",
    "Parameters": [],
    "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "retrain requested"}}],
}
ROWS = 1_500


def _put_capture(s3, frame, when: dt.datetime, seed: int) -> None:
    key = (
        f"ml-gateway/data-capture/{ENDPOINT}/v1/{when:%Y/%m/%d/%H}/{when:%M-%S}-{seed:03d}-{uuid.uuid4().hex[:8]}.jsonl"
    )
    body = "\n".join(capture_lines(frame, when, seed=seed)) + "\n"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())


@pytest.fixture
def world(localcloud, client, tmp_path):
    """Baseline in S3, normal traffic 40 minutes ago, drifted traffic 10 minutes ago, the drift
    alarm, and the retrain rule aimed at a one-step pipeline."""
    s3, sm = client("s3"), client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    write_baseline(feature_frame(8_000, seed=1), str(tmp_path / "baseline"))
    for name in ("statistics.json", "constraints.json"):
        s3.upload_file(str(tmp_path / "baseline" / name), BUCKET, f"ml-gateway/executions/x/baseline/{name}")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    _put_capture(s3, feature_frame(ROWS, seed=2), now - dt.timedelta(minutes=40), seed=2)
    drifted = feature_frame(ROWS, seed=3)
    drifted["total_claim_amount"] = drifted["total_claim_amount"] * 1.5
    _put_capture(s3, drifted, now - dt.timedelta(minutes=10), seed=3)

    cloudwatch, events = client("cloudwatch"), client("events")
    monitor_schedule.ensure_alarms(cloudwatch, ENDPOINT, baseline=WATCHED)
    arn = sm.create_pipeline(
        PipelineName="retrain",
        RoleArn=ROLE,
        PipelineDefinition=json.dumps(FAIL_PIPELINE),
        ClientRequestToken=uuid.uuid4().hex,
    )["PipelineArn"]
    retrain.ensure_rule(events, arn, ROLE, {})
    return s3, sm, cloudwatch, now, tmp_path / "reports"


def _check(world, start, end, stats=f"{BASELINE}/statistics.json"):
    s3, _, cloudwatch, _, reports = world
    return drift_check.check(
        s3,
        cloudwatch,
        endpoint_name=ENDPOINT,
        schedule_name=SCHEDULE,
        capture_uri=CAPTURE,
        reports_dir=reports,
        start=start,
        end=end,
        statistics_uri=stats,
        constraints_uri=f"{BASELINE}/constraints.json",
        baseline=WATCHED,
    )


def _alarm(cloudwatch):
    return cloudwatch.describe_alarms(AlarmNamePrefix="ml-gateway-drift-")["MetricAlarms"][0]


def _executions(sm):
    return sm.list_pipeline_executions(PipelineName="retrain")["PipelineExecutionSummaries"]


def test_drift_alarm_starts_retrain_only_on_drift(world, localcloud):
    s3, sm, cloudwatch, now, reports = world
    normal = _check(world, now - dt.timedelta(minutes=50), now - dt.timedelta(minutes=20))
    assert normal.report.records == ROWS and normal.violations == []
    stamp = now - dt.timedelta(minutes=20)
    folder = reports / f"{stamp:%Y}" / f"{stamp:%m}" / f"{stamp:%d}" / f"{stamp:%H}"
    assert {p.name for p in folder.iterdir()} == {"statistics.json", "constraint_violations.json", "report.html"}
    assert _alarm(cloudwatch)["StateValue"] == "OK"
    assert _executions(sm) == []
    names = {
        m["MetricName"]
        for m in cloudwatch.list_metrics(
            Namespace="aws/sagemaker/Endpoints/data-metrics",
            Dimensions=[{"Name": "Endpoint", "Value": ENDPOINT}, {"Name": "MonitoringSchedule", "Value": SCHEDULE}],
        )["Metrics"]
    }
    assert {"feature_baseline_drift_total_claim_amount", "feature_non_null_total_claim_amount"} <= names

    drifted = _check(world, now - dt.timedelta(minutes=20), now)
    assert any(
        v["feature_name"] == "total_claim_amount" and v["constraint_check_type"] == "baseline_drift_check"
        for v in drifted.violations
    )
    alarm = _alarm(cloudwatch)
    assert alarm["StateValue"] == "ALARM", alarm["StateReason"]
    assert len(_executions(sm)) == 1

    change = next(
        e
        for e in localcloud.cloud.events.list_events(200)  # SageMaker's own events share the log
        if e["detail-type"] == "CloudWatch Alarm State Change" and e["detail"]["state"]["value"] == "ALARM"
    )
    assert change["source"] == "aws.cloudwatch"
    assert change["detail"]["alarmName"] == "ml-gateway-drift-total_claim_amount"
    (match,) = change["matches"]
    assert match["rule"] == retrain.RULE_NAME and match["outcome"].startswith("started ")
    # The INSUFFICIENT_DATA → OK change was an event too, and started nothing.
    ok = next(
        e
        for e in localcloud.cloud.events.list_events(200)  # SageMaker's own events share the log
        if e["detail-type"] == "CloudWatch Alarm State Change" and e["detail"]["state"]["value"] == "OK"
    )
    assert ok["matches"] == []


def test_empty_window_publishes_nothing_and_missing_baseline_names_its_uri(world, capsys):
    _, _, cloudwatch, now, _ = world
    start = (now - dt.timedelta(hours=5)).replace(minute=0, second=0)
    assert _check(world, start, start + dt.timedelta(hours=1)) is None
    out = capsys.readouterr().out
    assert "no metrics published" in out
    # The window in UTC as a reader says it, where the capture was looked for (the S3 URI, not
    # the job's scratch folder).
    assert f"in {start:%Y-%m-%d %H}:00:00 to " in out and ":00:00 UTC under " in out
    assert f"under {CAPTURE}/{ENDPOINT}/" in out and "/tmp" not in out
    assert cloudwatch.list_metrics(Namespace="aws/sagemaker/Endpoints/data-metrics")["Metrics"] == []
    assert _alarm(cloudwatch)["StateValue"] == "OK"  # missing data is not breaching
    missing = f"s3://{BUCKET}/nowhere/statistics.json"
    with pytest.raises(JobError, match=f"cannot read the baseline {missing}: NoSuchKey"):
        _check(world, now - dt.timedelta(minutes=20), now, stats=missing)
    world[0].put_object(Bucket=BUCKET, Key="bad/statistics.json", Body=b"{not json")
    bad = f"s3://{BUCKET}/bad/statistics.json"
    with pytest.raises(JobError, match=f"cannot read the baseline {bad}: not valid JSON"):
        _check(world, now - dt.timedelta(minutes=20), now, stats=bad)


def _describe_stubs(sm, model: dict, package: dict | None):
    stub = Stubber(sm)
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": "arn:aws:sagemaker:us-east-1:0:endpoint/e",
            "EndpointConfigName": "cfg",
            "EndpointStatus": "InService",
            "CreationTime": dt.datetime(2026, 1, 1),
            "LastModifiedTime": dt.datetime(2026, 1, 1),
            "ProductionVariants": [
                {"VariantName": "v1", "CurrentWeight": 0.8},
                {"VariantName": "v2", "CurrentWeight": 0.2},
            ],
        },
    )
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "cfg",
            "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:0:x/cfg",
            "CreationTime": dt.datetime(2026, 1, 1),
            "ProductionVariants": [
                {"VariantName": "v1", "ModelName": "model-v1", "InitialVariantWeight": 0.8},
                {"VariantName": "v2", "ModelName": "model-v2", "InitialVariantWeight": 0.2},
            ],
        },
    )
    stub.add_response(
        "describe_model",
        {
            "ModelName": "model-v1",
            "CreationTime": dt.datetime(2026, 1, 1),
            "ModelArn": "arn:aws:sagemaker:us-east-1:0:model/m",
            **model,
        },
        {"ModelName": "model-v1"},
    )
    if package is not None:
        stub.add_response("describe_model_package", package)
    return stub


def test_baseline_is_the_main_variants_model_package(client):
    sm = client("sagemaker")
    package = "arn:aws:sagemaker:us-east-1:0:model-package/mlgatewayfraud/1"
    quality = {
        "Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/s.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://b/c.json"},
    }
    with _describe_stubs(
        sm,
        {"Containers": [{"ModelPackageName": package}]},
        {
            "ModelPackageName": "mlgatewayfraud",
            "ModelPackageArn": package,
            "CreationTime": dt.datetime(2026, 1, 1),
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "DriftCheckBaselines": {"ModelDataQuality": quality},
        },
    ):
        assert drift_check.baseline_uris(sm, ENDPOINT) == (package, "s3://b/s.json", "s3://b/c.json")
    with _describe_stubs(sm, {"PrimaryContainer": {"Image": "x"}}, None):
        with pytest.raises(JobError, match="not created from a model package"):
            drift_check.baseline_uris(sm, ENDPOINT)


def test_monitor_cli_schedule_and_alarms(world, localcloud, monkeypatch, capsys):
    from localcloud import daemon
    from mlgw.commands.monitor import register

    config = localcloud.cloud.config
    monkeypatch.setattr(daemon, "require_running", lambda _config: config)
    parser = argparse.ArgumentParser(prog="mlgw")
    register(parser.add_subparsers(dest="command", required=True))

    def mlgw(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return args.func(args)

    assert mlgw("monitor", "schedule", "create", "--schedule", "cron(0 * * * ? *)") == 0
    assert mlgw("monitor", "schedule", "create", "--schedule", "cron(0 * * * ? *)") == 0  # idempotent
    assert mlgw("monitor", "schedule", "create", "--schedule", "rate(1 minutes)") == 2
    assert "ScheduleExpression is not valid" in capsys.readouterr().err
    assert mlgw("monitor", "schedule", "list") == 0
    listed = capsys.readouterr().out
    assert (
        "ml-gateway-fraud-drift-check  ENABLED  cron(0 * * * ? *)  endpoint=ml-gateway-fraud" in listed
        and listed.count("drift-check  ENABLED") == 1
    )
    assert mlgw("monitor", "alarms") == 0
    assert "ml-gateway-drift-total_claim_amount  OK" in capsys.readouterr().out
    assert mlgw("monitor", "schedule", "delete") == 0
    assert mlgw("monitor", "schedule", "delete") == 2
    assert "no drift-check schedule for endpoint ml-gateway-fraud" in capsys.readouterr().err


def test_events_rules_reports_a_missing_target_pipeline(localcloud, client, capsys):
    from mlgw.cli import main

    client("events").put_rule(Name="orphan", ScheduleExpression="rate(1 hour)")
    client("events").put_targets(
        Rule="orphan",
        Targets=[{"Id": "t", "Arn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/gone", "RoleArn": ROLE}],
    )
    assert main(["events", "rules", "--home", str(localcloud.cloud.config.home)]) == 0
    assert "(target pipeline gone does not exist)" in capsys.readouterr().out
