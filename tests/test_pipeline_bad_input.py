"""Bad input to the pipeline: each run is marked Failed with a reason naming the file, column,
row or parameter, and the registry, the feature groups and the endpoint are as they were."""
from __future__ import annotations

import json
import re
import socket
import time
import uuid

import boto3
import pandas as pd
import pytest

from localcloud import daemon
from localcloud.config import Config
from mlgw import local_run
from processing import synthetic

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """One good run: a registered model, populated feature groups and an endpoint."""
    config = Config(home=tmp_path_factory.mktemp("bad-input") / "mlgw", port=_free_port())
    result = local_run.run(config, policies=1200, seed=3, claims=None, customers=None, parameters={})
    assert result.succeeded, result.failure_reason
    yield config
    daemon.stop(config)


def _snapshot(config: Config) -> dict:
    kw = dict(endpoint_url=config.url, region_name=config.region)
    sm = boto3.client("sagemaker", **kw)
    fs = boto3.client("sagemaker-featurestore-runtime", **kw)
    return {
        "packages": [p["ModelPackageArn"] for p in sm.list_model_packages(
            ModelPackageGroupName="MLGatewayFraud")["ModelPackageSummaryList"]],
        "endpoint_config": sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["EndpointConfigName"],
        "claim_1": fs.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="1")["Record"],
        "customer_1": fs.get_record(FeatureGroupName="customers", RecordIdentifierValueAsString="1")["Record"],
    }


def _write(tmp_path, claims: pd.DataFrame, customers: pd.DataFrame) -> tuple[str, str]:
    claims_path, customers_path = tmp_path / "claims.csv", tmp_path / "customers.csv"
    claims.to_csv(claims_path, index=False)
    customers.to_csv(customers_path, index=False)
    return str(claims_path), str(customers_path)


def _drop_column(claims, customers):
    return claims.drop(columns=["incident_severity"]), customers


def _extra_column(claims, customers):
    return claims.assign(favourite_colour="blue"), customers


def _wrong_type(claims, customers):
    claims = claims.astype({"num_injuries": "object"})
    claims.loc[4, "num_injuries"] = "several"
    return claims, customers


def _unknown_category(claims, customers):
    claims.loc[9, "incident_type"] = "Thief"
    return claims, customers


def _duplicate_id(claims, customers):
    claims.loc[7, "policy_id"] = claims.loc[2, "policy_id"]
    return claims, customers


@pytest.mark.parametrize("corrupt, expected", [
    (_drop_column, ["claims.csv", "incident_severity"]),
    (_extra_column, ["claims.csv", "favourite_colour"]),
    (_wrong_type, ["claims.csv", "num_injuries", "row 6", "several"]),
    (_unknown_category, ["claims.csv", "incident_type", "row 11", "Thief"]),
    (_duplicate_id, ["claims.csv", "policy_id", "row 9"]),
], ids=["missing-column", "extra-column", "wrong-type", "unknown-category", "duplicate-id"])
def test_bad_csv_fails_the_run_with_the_reason_and_changes_nothing(deployed, tmp_path, corrupt,
                                                                   expected, capsys):
    before = _snapshot(deployed)
    claims, customers = synthetic.generate(300, seed=11)
    claims_path, customers_path = _write(tmp_path, *corrupt(claims, customers))
    result = local_run.execute(deployed, policies=0, seed=0, claims=claims_path,
                               customers=customers_path, parameters={})
    assert result.status == "Failed"
    assert "Ingest" in result.failure_reason
    for text in expected:
        assert text in result.failure_reason
    assert _snapshot(deployed) == before
    out = capsys.readouterr().out   # a retry re-reads the same staged files: say what helps
    assert "retry cannot help" in out and "mlgw schema check" in out
    assert "mlgw pipeline retry" not in out


def test_empty_file_is_named(deployed, tmp_path):
    empty = tmp_path / "claims.csv"
    empty.write_text("")
    _, customers = synthetic.generate(50, seed=1)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    result = local_run.execute(deployed, policies=0, seed=0, claims=str(empty),
                               customers=str(tmp_path / "customers.csv"), parameters={})
    assert result.status == "Failed" and "claims.csv" in result.failure_reason
    assert "empty" in result.failure_reason


def test_unreachable_threshold_fails_with_auc_and_threshold_and_registers_nothing(deployed, capsys):
    before = _snapshot(deployed)
    result = local_run.execute(deployed, policies=1200, seed=3, claims=None, customers=None,
                               parameters={"AucThreshold": "0.9999"})
    assert result.status == "Failed"
    assert "is below the threshold 0.9999" in result.failure_reason
    assert "Test AUC 0." in result.failure_reason
    after = _snapshot(deployed)
    assert after["packages"] == before["packages"]
    assert after["endpoint_config"] == before["endpoint_config"]
    out = capsys.readouterr().out   # the same model against the same threshold: say what helps
    assert "retry cannot help" in out and "--param AucThreshold=" in out
    assert "mlgw pipeline retry" not in out

    # A retry anyway says what it reused (every step before the Fail step) and what ran.
    retried = local_run.retry(deployed, local_run.PIPELINE_NAME, result.arn)
    assert retried.status == "Failed"
    out = capsys.readouterr().out
    reused = re.search(r"reused from the previous attempt: (.*)", out).group(1).split(", ")
    assert {"Ingest", "Train", "Evaluate", "CheckAuc"} <= set(reused)
    assert "ran in this retry: AucBelowThreshold (Failed)" in out


def test_monitor_run_checks_the_traffic_just_sent_and_says_what_it_started(deployed, capsys):
    """`mlgw monitor run` right after traffic checks that traffic (the window is the last
    hour up to now, said in UTC with the flag to change it); --check-only publishes nothing;
    a real run names the retrain the drift alarm started. Last in this module: it starts a
    retrain (stopped at the end)."""
    from mlgw.cli import main
    session, sm, s3 = local_run.clients(deployed)
    rt = session.client("sagemaker-runtime", endpoint_url=deployed.url)
    cloudwatch = session.client("cloudwatch", endpoint_url=deployed.url)
    body = json.dumps({"instances": [{"total_claim_amount": 90000.0, "incident_severity": "Major"}]})
    for _ in range(40):
        rt.invoke_endpoint(EndpointName=local_run.ENDPOINT_NAME, ContentType="application/json",
                           Body=body)

    def state() -> dict:
        bucket = local_run.default_bucket(deployed)
        return {"executions": [e["PipelineExecutionArn"] for e in sm.list_pipeline_executions(
                    PipelineName=local_run.PIPELINE_NAME)["PipelineExecutionSummaries"]],
                "alarms": [a["StateValue"] for a in cloudwatch.describe_alarms(
                    AlarmNamePrefix="ml-gateway-drift-")["MetricAlarms"]],
                "metrics": cloudwatch.list_metrics(
                    Namespace="aws/sagemaker/Endpoints/data-metrics")["Metrics"],
                "reports": s3.list_objects_v2(Bucket=bucket, Prefix="ml-gateway/monitoring-reports/"
                                              ).get("KeyCount", 0)}

    home = ["--home", str(deployed.home)]
    before = state()
    assert main(["monitor", "run", "--check-only", *home]) == 0
    out = capsys.readouterr().out
    assert re.search(r"traffic from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d to .*UTC \(the last 60 "
                     r"minutes; another window: --window-minutes N\)", out), out
    assert int(re.search(r"^(\d+) records", out, re.M).group(1)) >= 40   # what was just sent
    assert "would put ml-gateway-drift-total_claim_amount in ALARM and the retrain rule " \
           "ml-gateway-retrain-on-drift would start MLGatewayPipeline" in out
    assert state() == before                                             # nothing published

    assert main(["monitor", "run", *home]) == 0
    out = capsys.readouterr().out
    assert re.search(r"DriftCheck +\d+ records in \d{4}-.* UTC: \d+ violations", out), out
    assert "drift alarm ml-gateway-drift-total_claim_amount: ALARM (changed by this check)" in out
    retrain = re.search(r"the retrain rule ml-gateway-retrain-on-drift started a retrain: (\S+)",
                        out).group(1)
    assert retrain in state()["executions"] and retrain not in before["executions"]
    sm.stop_pipeline_execution(PipelineExecutionArn=retrain, ClientRequestToken=uuid.uuid4().hex)
    deadline = time.monotonic() + 120
    while sm.describe_pipeline_execution(PipelineExecutionArn=retrain)[
            "PipelineExecutionStatus"] in ("Executing", "Stopping"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
