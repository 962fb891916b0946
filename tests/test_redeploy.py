"""Redeploy and approval on localcloud, through the CLI a user types: `mlgw endpoint deploy
--version N` serves any Approved version through the pipeline's own Deploy code (the monitoring
baseline, data capture and the drift-check schedule follow), `mlgw models approve|reject`
change the registry as UpdateModelPackage does, and `--target aws` runs the same commands
against an AWS endpoint URL (here localcloud's, with boto3's own credential chain)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from processing import deploy
from tests.test_deploy_strategies import ROLE, _model_tar

GROUP = "MLGatewayFraud"
ENDPOINT = "ml-gateway-fraud"
BUCKET = "sagemaker-us-east-1-000000000000"
CAPTURE = f"s3://{BUCKET}/ml-gateway/data-capture"
PUBLISHED = f"s3://{BUCKET}/ml-gateway/baseline"
DRIFT_CHECK = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/driftcheck"
EVENTS_ROLE = "arn:aws:iam::000000000000:role/ml-gateway-retrain-events"


def _baseline(s3, version: int) -> dict:
    """A package's DriftCheckBaselines, its files in S3 (statistics mark the version)."""
    prefix = f"ml-gateway/executions/run{version}/baseline"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/statistics.json", Body=json.dumps({"version": version, "features": []}))
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/constraints.json", Body=json.dumps({"features": []}))
    return {
        "ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{prefix}/statistics.json"},
            "Constraints": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{prefix}/constraints.json"},
        }
    }


@pytest.fixture
def registry(localcloud, client, monkeypatch):
    """Versions 1-3 of MLGatewayFraud (1, 2 Approved, 3 PendingManualApproval), each with its
    own model and baseline; the drift alarm and the retrain rule (aimed at a one-step pipeline,
    `retrain`) made first, as `mlgw run` makes them; version 1 deployed by the pipeline's Deploy
    code with data capture and a two-hourly drift-check schedule. The CLI finds this localcloud
    for --home."""
    from localcloud import daemon
    from mlgw import monitor_schedule, retrain
    from tests.test_monitoring_loop import FAIL_PIPELINE

    monkeypatch.setattr(daemon, "require_running", lambda _config: localcloud.cloud.config)
    sm, s3 = client("sagemaker"), client("s3")
    monitor_schedule.ensure_alarms(client("cloudwatch"), ENDPOINT)
    pipeline = sm.create_pipeline(
        PipelineName="retrain",
        RoleArn=ROLE,
        PipelineDefinition=json.dumps(FAIL_PIPELINE),
        ClientRequestToken=uuid.uuid4().hex,
    )["PipelineArn"]
    retrain.ensure_rule(client("events"), pipeline, ROLE, {})
    s3.create_bucket(Bucket=BUCKET)
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    arns = []
    for version, approval in ((1, "Approved"), (2, "Approved"), (3, "PendingManualApproval")):
        s3.put_object(Bucket=BUCKET, Key=f"models/v{version}/model.tar.gz", Body=_model_tar(version))
        arns.append(
            sm.create_model_package(
                ModelPackageGroupName=GROUP,
                ModelApprovalStatus=approval,
                InferenceSpecification={
                    "Containers": [
                        {"Image": "xgboost", "ModelDataUrl": f"s3://{BUCKET}/models/v{version}/model.tar.gz"}
                    ],
                    "SupportedContentTypes": ["application/json"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
                DriftCheckBaselines=_baseline(s3, version),
            )["ModelPackageArn"]
        )
    deploy.deploy_and_monitor(
        sm,
        client("sagemaker-runtime"),
        s3,
        client("events"),
        package_arn=arns[0],
        endpoint_name=ENDPOINT,
        role_arn=ROLE,
        strategy="replace",
        new_weight=0.1,
        instance_type="ml.m5.large",
        instance_count=1,
        capture_uri=CAPTURE,
        timeout=60,
        monitoring_baseline_uri=PUBLISHED,
        schedule={
            "pipeline_arn": DRIFT_CHECK,
            "role_arn": EVENTS_ROLE,
            "schedule_expression": "rate(2 hours)",
            "window_minutes": 120,
        },
        cloudwatch=client("cloudwatch"),
    )
    return sm, s3, client("events"), arns


def _published_version(s3) -> int:
    return json.loads(s3.get_object(Bucket=BUCKET, Key="ml-gateway/baseline/statistics.json")["Body"].read())["version"]


def _serves(sm) -> dict[str, str]:
    """variant -> model package ARN, as the endpoint serves them now."""
    endpoint = sm.describe_endpoint(EndpointName=ENDPOINT)
    return {
        v["VariantName"]: deploy.model_package_of(sm, v["ModelName"]) for v in deploy.serving_variants(sm, endpoint)
    }


def _cli(localcloud, capsys, *argv: str) -> tuple[int, str, str]:
    from mlgw.cli import main

    code = main([*argv, "--home", str(localcloud.cloud.config.home)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_redeploy_any_approved_version_and_approve_reject(localcloud, registry, client, capsys):
    sm, s3, events, (v1, v2, v3) = registry
    assert _published_version(s3) == 1

    # refusals name what is wrong; nothing changes
    for argv, says in (
        (
            ("endpoint", "deploy", "--version", "9"),
            "model package group MLGatewayFraud has no version 9 (it has 1, 2, 3",
        ),
        (("endpoint", "deploy", "--version", "3"), "version 3 of MLGatewayFraud is PendingManualApproval"),
        (("endpoint", "deploy", "--version", "2", "--endpoint", "nope"), "endpoint nope does not exist"),
        (("endpoint", "deploy", "--version", "2", "--weight", "0.3"), "--weight applies to --strategy canary or ab"),
        (("endpoint", "deploy", "--version", "2", "--strategy", "blue"), "--strategy 'blue' is not one of"),
        (("endpoint", "deploy"), "deploy needs --version N"),
        (("endpoint", "describe", "--version", "2"), "--version applies to deploy"),
        (("models", "approve", "9"), "has no version 9"),
    ):
        code, _, err = _cli(localcloud, capsys, *argv)
        assert code == 2 and says in err and err.count("\n") == 1, (argv, err)
    assert _serves(sm) == {"v1": v1}

    # redeploy version 2: it takes all traffic; what Deploy does after the update follows
    code, out, err = _cli(localcloud, capsys, "endpoint", "deploy", "--version", "2")
    assert code == 0, err
    assert _serves(sm) == {"v2": v2}
    assert "v2         weight 1      (100% of traffic)  serves MLGatewayFraud version 2 (Approved)" in out, out
    assert _published_version(s3) == 2  # the monitoring baseline is version 2's DriftCheckBaselines
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    )
    assert config["DataCaptureConfig"]["EnableCapture"] and config["DataCaptureConfig"]["DestinationS3Uri"] == CAPTURE
    rule = events.describe_rule(Name=f"{ENDPOINT}-drift-check")
    assert rule["ScheduleExpression"] == "rate(2 hours)"  # the schedule stays as it was
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    params = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
    assert params["WindowMinutes"] == "120" and params["CaptureUri"] == CAPTURE and target["Arn"] == DRIFT_CHECK

    # rejecting the served version is refused, saying why; --force does it and says it still serves
    code, _, err = _cli(localcloud, capsys, "models", "reject", "2", "--reason", "bad")
    assert code == 2 and "serves ml-gateway-fraud/v2" in err and "--force" in err, err
    assert sm.describe_model_package(ModelPackageName=v2)["ModelApprovalStatus"] == "Approved"

    # approve 3 (with a reason), then a canary of it at 20 %
    code, out, _ = _cli(localcloud, capsys, "models", "approve", "3", "--reason", "checked by hand")
    assert code == 0 and "version 3 was PendingManualApproval; now Approved: checked by hand" in out, out
    package = sm.describe_model_package(ModelPackageName=v3)
    assert (package["ModelApprovalStatus"], package["ApprovalDescription"]) == ("Approved", "checked by hand")
    code, out, err = _cli(
        localcloud, capsys, "endpoint", "deploy", "--version", "3", "--strategy", "canary", "--weight", "0.2"
    )
    assert code == 0, err
    assert _serves(sm) == {"v2": v2, "v3": v3}
    assert _published_version(s3) == 2  # the drift check still judges by the main variant's baseline
    code, out, err = _cli(localcloud, capsys, "endpoint", "promote")
    assert code == 0 and _serves(sm) == {"v3": v3}, err
    assert _published_version(s3) == 3  # promoted: now version 3's baseline

    # back to version 1 (an older one): the canary ends, version 1 alone
    code, _, err = _cli(localcloud, capsys, "endpoint", "deploy", "--version", "1")
    assert code == 0, err
    assert _serves(sm) == {"v1": v1} and _published_version(s3) == 1
    code, out, _ = _cli(localcloud, capsys, "models", "reject", "3")
    assert code == 0 and "now Rejected: Rejected with mlgw models reject at " in out, out
    code, _, err = _cli(localcloud, capsys, "endpoint", "deploy", "--version", "3")
    assert code == 2 and "version 3 of MLGatewayFraud is Rejected (Rejected with mlgw models reject" in err, err

    code, out, _ = _cli(localcloud, capsys, "models", "reject", "1", "--force")
    assert code == 0 and "ml-gateway-fraud/v1 still serve it; the endpoint is unchanged" in out, out
    assert "still serving ml-gateway-fraud/v1" in sm.describe_model_package(ModelPackageName=v1)["ApprovalDescription"]
    assert _serves(sm) == {"v1": v1}


def _drift_check(sm, s3, cloudwatch, tmp_path, end: dt.datetime):
    """What the DriftCheck step runs (monitoring/drift_check.main): the baseline of the package
    the endpoint's main variant serves, the last 30 minutes of capture, metrics published."""
    from monitoring import drift_check
    from processing import drift_metrics as metrics

    package, statistics, constraints = drift_check.baseline_uris(sm, ENDPOINT)
    return drift_check.check(
        s3,
        cloudwatch,
        endpoint_name=ENDPOINT,
        schedule_name=f"{ENDPOINT}-drift-check",
        capture_uri=CAPTURE,
        reports_dir=tmp_path / "reports",
        start=end - dt.timedelta(minutes=30),
        end=end,
        statistics_uri=statistics,
        constraints_uri=constraints,
        baseline=metrics.baseline_id(package),
    )


def test_a_redeploy_resets_the_drift_alarm_and_the_next_check_judges_by_the_new_baseline(
    localcloud, registry, client, capsys, tmp_path
):
    """Drift against version 1's baseline: ALARM, one retrain. `endpoint deploy --version 2`
    points the alarm at version 2's baseline and resets it to OK with a reason; CloudWatch's next
    evaluation keeps it OK (the stale drift belongs to version 1's baseline) and starts nothing;
    the next drift check, against version 2's baseline, on drifted traffic sets it off again."""
    from benchmarks.monitor import capture_lines, feature_frame
    from monitoring.baseline import write_baseline

    sm, s3, _, _ = registry
    cloudwatch = client("cloudwatch")
    alarm = "ml-gateway-drift-total_claim_amount"
    # Real Model Monitor baselines for versions 1 and 2 (their DriftCheckBaselines' files).
    write_baseline(feature_frame(4_000, seed=1), str(tmp_path / "baseline"))
    for version in (1, 2):
        for name in ("statistics.json", "constraints.json"):
            s3.upload_file(
                str(tmp_path / "baseline" / name), BUCKET, f"ml-gateway/executions/run{version}/baseline/{name}"
            )
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    drifted = feature_frame(800, seed=3)
    drifted["total_claim_amount"] = drifted["total_claim_amount"] * 1.5
    when = now - dt.timedelta(minutes=10)
    s3.put_object(
        Bucket=BUCKET,
        Key=f"ml-gateway/data-capture/{ENDPOINT}/v1/{when:%Y/%m/%d/%H}/{when:%M-%S}-003.jsonl",
        Body=("\n".join(capture_lines(drifted, when, seed=3)) + "\n").encode(),
    )

    def state() -> dict:
        return cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]

    def retrains() -> int:
        return len(sm.list_pipeline_executions(PipelineName="retrain")["PipelineExecutionSummaries"])

    assert {"Name": "Baseline", "Value": "mlgatewayfraud/1"} in state()["Dimensions"]  # Deploy pointed it
    assert _drift_check(sm, s3, cloudwatch, tmp_path, now) is not None
    assert state()["StateValue"] == "ALARM" and retrains() == 1

    code, out, err = _cli(localcloud, capsys, "endpoint", "deploy", "--version", "2")
    assert code == 0, err
    assert (
        f"drift alarm {alarm}: now judges drift against the baseline of MLGatewayFraud version 2 "
        "(mlgatewayfraud/2); was in ALARM (drift against the previous baseline), reset to OK"
    ) in out, out
    after = state()
    assert after["StateValue"] == "OK", after
    assert after["StateReason"].startswith(
        f"Reset by Deploy: {ENDPOINT} is now monitored against the baseline of MLGatewayFraud version 2"
    ), after["StateReason"]
    assert {"Name": "Baseline", "Value": "mlgatewayfraud/2"} in after["Dimensions"]

    # CloudWatch's next evaluation (the clock's minute tick) finds no drift measured against
    # version 2's baseline: it stays OK, and no OK -> ALARM change starts a second retrain.
    localcloud.cloud.cloudwatch.tick(now=(now + dt.timedelta(minutes=1)).timestamp())
    assert state()["StateValue"] == "OK" and retrains() == 1
    code, out, _ = _cli(localcloud, capsys, "monitor", "alarms")
    assert f"{alarm}  OK  (baseline mlgatewayfraud/2)  Reset by Deploy" in out, out

    # The next check judges the still-drifted traffic by version 2's baseline: ALARM, a retrain.
    assert _drift_check(sm, s3, cloudwatch, tmp_path, now) is not None
    assert state()["StateValue"] == "ALARM" and retrains() == 2

    # Redeploying what already serves changes nothing: the alarm keeps its state.
    code, out, err = _cli(localcloud, capsys, "endpoint", "deploy", "--version", "2")
    assert code == 0 and "drift alarm" not in out, out
    assert state()["StateValue"] == "ALARM"


def test_target_aws_runs_the_same_commands_against_an_aws_endpoint_url(localcloud, registry, capsys, monkeypatch):
    """--target aws takes boto3's own chain (no --home, no localcloud lookup): pointed by
    AWS_ENDPOINT_URL at localcloud here, where it would be AWS."""
    sm, s3, _, (v1, v2, _) = registry
    config = localcloud.cloud.config
    for name in ("MLGW_HOME", "MLGW_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", config.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", config.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", config.secret_key)
    from localcloud import daemon
    from mlgw.cli import main

    monkeypatch.setattr(daemon, "require_running", lambda _config: pytest.fail("--target aws looked for localcloud"))

    def aws(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--target", "aws", "--region", config.region])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, _, err = aws("endpoint", "deploy", "--version", "2", "--endpoint", "other")
    assert code == 2 and f"endpoint other does not exist on AWS {config.region}" in err, err
    code, out, err = aws("endpoint", "deploy", "--version", "2")
    assert code == 0, err
    assert _serves(sm) == {"v2": v2} and _published_version(s3) == 2
    code, out, _ = aws("endpoint", "describe")
    assert code == 0 and "serves MLGatewayFraud version 2 (Approved)" in out
    code, _, err = aws("models", "reject", "2")
    assert code == 2 and "serves ml-gateway-fraud/v2" in err
    code, out, _ = aws("models", "reject", "1", "--reason", "superseded")
    assert code == 0 and sm.describe_model_package(ModelPackageName=v1)["ModelApprovalStatus"] == "Rejected"
    code, _, err = aws("endpoint", "deploy", "--version", "1")
    assert code == 2 and "version 1 of MLGatewayFraud is Rejected (superseded)" in err


def test_the_studios_reject_button_is_refused_as_the_cli_is(localcloud, registry):
    """The studio's Approve / Reject buttons run mlgw/approval.py's set_approval: the same
    refusal for the served version, the same --force (a checkbox)."""
    import html

    from mlgw.studio.backend import Backend
    from mlgw.studio.server import Background
    from mlgw.target import Target
    from tests.test_studio import get, post

    sm, _, _, (v1, _, _) = registry
    server = Background(Backend(Target.local(localcloud.cloud.config)))
    try:
        _, page = get(f"{server.url}/models/{GROUP}/1")
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        url = f"{server.url}/models/{GROUP}/1/approval"
        status, page = post(url, {"csrf_token": token, "status": "Rejected", "description": "worse"})
        assert status == 200 and "serves ml-gateway-fraud/v1" in html.unescape(page), page
        assert sm.describe_model_package(ModelPackageName=v1)["ModelApprovalStatus"] == "Approved"
        status, page = post(url, {"csrf_token": token, "status": "Rejected", "description": "worse", "force": "1"})
        assert status == 200 and "version 1 is now Rejected" in page
        package = sm.describe_model_package(ModelPackageName=v1)
        assert package["ModelApprovalStatus"] == "Rejected"
        assert package["ApprovalDescription"] == "worse (still serving ml-gateway-fraud/v1)"
    finally:
        server.stop()
