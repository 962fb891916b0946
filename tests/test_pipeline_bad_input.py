"""Bad input to the pipeline: each run is marked Failed with a reason naming the file, column,
row or parameter, and the registry, the feature groups, the endpoint and the current dataset
(what the next start and every retrain read) are as they were; a bad parameter fails before
anything is uploaded. And what a run trains on: exactly its current dataset (issue 15)."""

from __future__ import annotations

import io
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
from mlgw.progress import follow
from pipelines.ml_gateway.parameters import ParameterError
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
        "packages": [
            p["ModelPackageArn"]
            for p in sm.list_model_packages(ModelPackageGroupName="MLGatewayFraud")["ModelPackageSummaryList"]
        ],
        "endpoint_config": sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["EndpointConfigName"],
        "claim_1": fs.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="1")["Record"],
        "customer_1": fs.get_record(FeatureGroupName="customers", RecordIdentifierValueAsString="1")["Record"],
    }


def _objects(config: Config, prefix: str = "") -> dict[str, str]:
    """{key: ETag} of the default bucket's objects under prefix."""
    s3 = boto3.client("s3", endpoint_url=config.url, region_name=config.region)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=local_run.default_bucket(config), Prefix=prefix)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def _current_dataset(config: Config) -> dict[str, str]:
    return _objects(config, local_run.LANDING + "/")


def _trained_rows(config: Config, result) -> int:
    """How many policies BuildDataset gave the run (train + validation + test)."""
    execution_id = result.arn.rsplit("/", 1)[-1]
    s3 = boto3.client("s3", endpoint_url=config.url, region_name=config.region)
    bucket = local_run.default_bucket(config)
    rows = 0
    for key in _objects(config, f"ml-gateway/executions/{execution_id}/dataset/"):
        rows += len(pd.read_csv(s3.get_object(Bucket=bucket, Key=key)["Body"]))
    return rows


def _start(config: Config, parameters: dict[str, str]):
    """StartPipelineExecution on the pipeline the fixture's run upserted (as the drift rule
    starts it), followed to its end. `mlgw run` would build the same definition again first."""
    sm = boto3.client("sagemaker", endpoint_url=config.url, region_name=config.region)
    arn = sm.start_pipeline_execution(
        PipelineName=local_run.PIPELINE_NAME,
        PipelineParameters=[
            {"Name": k, "Value": v} for k, v in {"EndpointName": local_run.ENDPOINT_NAME, **parameters}.items()
        ],
    )["PipelineExecutionArn"]
    return follow(sm, arn, out=io.StringIO(), timeout_seconds=600)


def _run_files(config: Config, claims: str, customers: str):
    """`mlgw run --claims --customers` on the upserted pipeline: the files staged as the CLI
    stages them, the pipeline started with their prefixes."""
    s3 = boto3.client("s3", endpoint_url=config.url, region_name=config.region)
    staged = local_run.prepare_data(config, s3, 0, 0, claims, customers)
    return _start(config, {"ClaimsInputUri": staged["claims"], "CustomersInputUri": staged["customers"]})


def _summary(config: Config, result) -> str:
    """What `mlgw run` prints after the execution (its advice on what to do next)."""
    _, sm, s3 = local_run.clients(config)
    out = io.StringIO()
    local_run.print_summary(config, sm, s3, result, out=out)
    return out.getvalue()


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


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (_drop_column, ["claims.csv", "incident_severity"]),
        (_extra_column, ["claims.csv", "favourite_colour"]),
        (_wrong_type, ["claims.csv", "num_injuries", "row 6", "several"]),
        (_unknown_category, ["claims.csv", "incident_type", "row 11", "Thief"]),
        (_duplicate_id, ["claims.csv", "policy_id", "row 9"]),
    ],
    ids=["missing-column", "extra-column", "wrong-type", "unknown-category", "duplicate-id"],
)
def test_bad_csv_fails_the_run_with_the_reason_and_changes_nothing(deployed, tmp_path, corrupt, expected):
    before = _snapshot(deployed)
    current = _current_dataset(deployed)
    claims, customers = synthetic.generate(300, seed=11)
    claims_path, customers_path = _write(tmp_path, *corrupt(claims, customers))
    result = _run_files(deployed, claims_path, customers_path)
    assert result.status == "Failed"
    assert "Ingest" in result.failure_reason
    for text in expected:
        assert text in result.failure_reason
    assert _snapshot(deployed) == before
    assert _current_dataset(deployed) == current  # the bad file never became current
    summary = _summary(deployed, result)  # a retry re-reads the same staged files: say what helps
    assert "retry cannot help" in summary and "mlgw schema check" in summary
    assert "mlgw pipeline retry" not in summary


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DeployStrategy", "bogus", "parameter DeployStrategy='bogus' is not one of replace, canary, ab"),
        ("AucThreshold", "high", "parameter AucThreshold='high' is not a number"),
        ("NumRound", "2.5", "parameter NumRound='2.5' is not an integer"),
        ("DeployStrategey", "canary", "unknown pipeline parameter(s) DeployStrategey"),
        # values a run would only fail on after training, or at Deploy with a model registered
        ("NumRound", "-3", "parameter NumRound='-3' must be between 1 and 2147483647"),
        ("NewVariantWeight", "1.5", "parameter NewVariantWeight='1.5' must be between 0 and 1 (exclusive)"),
        ("EndpointName", "Bad_Name!", "parameter EndpointName='Bad_Name!' is not valid: up to 63"),
        ("DriftCheckSchedule", "garbage", "parameter DriftCheckSchedule='garbage' is not valid: rate("),
    ],
)
def test_a_bad_parameter_fails_before_anything_is_uploaded_or_started(deployed, name, value, message):
    """The pipeline's declared parameters (pipeline definition JSON: Type, EnumValues) are
    checked before the data is staged or the definition built."""
    objects = _objects(deployed)
    sm = boto3.client("sagemaker", endpoint_url=deployed.url, region_name=deployed.region)
    executions = sm.list_pipeline_executions(PipelineName=local_run.PIPELINE_NAME)["PipelineExecutionSummaries"]
    with pytest.raises(ParameterError) as raised:
        local_run.run(deployed, policies=5000, seed=99, claims=None, customers=None, parameters={name: value})
    assert message in str(raised.value)
    assert _objects(deployed) == objects
    assert sm.list_pipeline_executions(PipelineName=local_run.PIPELINE_NAME)["PipelineExecutionSummaries"] == executions
    assert not (deployed.home / "data" / "synthetic-5000-seed99").exists()


def test_empty_file_is_named(deployed, tmp_path):
    empty = tmp_path / "claims.csv"
    empty.write_text("")
    _, customers = synthetic.generate(50, seed=1)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    result = _run_files(deployed, str(empty), str(tmp_path / "customers.csv"))
    assert result.status == "Failed" and "claims.csv" in result.failure_reason
    assert "empty" in result.failure_reason


def test_after_a_bad_csv_a_start_trains_on_the_good_data_plus_the_batches_added_since(deployed, tmp_path, capsys):
    """One bad value fails Ingest; the next start with the drift retrain rule's parameters
    (StartPipelineExecution, as EventBridge calls it) reads the current dataset: the 1,200 good
    policies of the last accepted run plus a batch of 100 added since, not the bad file. With an
    unreachable AUC threshold it then fails at the condition, registering nothing."""
    claims, customers = synthetic.generate(300, seed=11)
    result = local_run.execute(
        deployed,
        policies=0,
        seed=0,
        parameters={},
        **dict(zip(("claims", "customers"), _write(tmp_path, *_wrong_type(claims, customers)))),
    )
    assert result.status == "Failed" and "Ingest" in result.failure_reason

    batch, batch_customers = synthetic.generate(100, seed=12)
    for frame in (batch, batch_customers):
        frame["policy_id"] += 1200
    s3 = boto3.client("s3", endpoint_url=deployed.url, region_name=deployed.region)
    local_run.add_batch(deployed, s3, batch, batch_customers, label="traffic")
    before = _snapshot(deployed)
    uris = local_run.landing_uris(deployed)
    result = _start(
        deployed,
        {
            "ClaimsInputUri": uris["claims"],
            "CustomersInputUri": uris["customers"],
            **local_run.RETRAIN_STRATEGY,
            "AucThreshold": "0.9999",
        },
    )
    assert result.status == "Failed"
    assert "is below the threshold 0.9999" in result.failure_reason
    # the AUC rounded, the sentence well formed
    assert re.search(r"Test AUC 0\.\d{4} is below the threshold 0\.9999; no model registered", result.failure_reason), (
        result.failure_reason
    )
    assert _trained_rows(deployed, result) == 1200 + 100
    after = _snapshot(deployed)
    assert after["packages"] == before["packages"]
    assert after["endpoint_config"] == before["endpoint_config"]
    summary = _summary(deployed, result)  # the same model against the same threshold: say what helps
    assert "retry cannot help" in summary and "--param AucThreshold=" in summary
    assert "mlgw pipeline retry" not in summary

    # A retry anyway says what it reused (every step before the Fail step) and what ran.
    capsys.readouterr()
    retried = local_run.retry(deployed, local_run.PIPELINE_NAME, result.arn)
    assert retried.status == "Failed"
    out = capsys.readouterr().out
    reused = re.search(r"reused from the previous attempt: (.*)", out).group(1).split(", ")
    assert {"Ingest", "Train", "Evaluate", "CheckAuc"} <= set(reused)
    assert "ran in this retry: AucBelowThreshold (Failed)" in out


def test_a_run_trains_on_the_policies_it_was_given_and_nothing_else(deployed):
    """After the 1,200-policy run (and a record the gateway would store for a new policy), a
    300-policy run trains on those 300: not on the earlier run's policies, nor on the gateway's
    record, which stay in the offline store (history is not deleted)."""
    fs = boto3.client("sagemaker-featurestore-runtime", endpoint_url=deployed.url, region_name=deployed.region)
    for group, features in (
        ("claims", {"fraud": "0", "total_claim_amount": "900.0"}),
        ("customers", {"customer_age": "40"}),
    ):
        fs.put_record(
            FeatureGroupName=group,
            Record=[
                {"FeatureName": "policy_id", "ValueAsString": "99999"},
                {"FeatureName": "event_time", "ValueAsString": f"{time.time():.3f}"},
                *[{"FeatureName": k, "ValueAsString": v} for k, v in features.items()],
            ],
        )
    out = io.StringIO()
    result = local_run.execute(
        deployed, policies=300, seed=12, claims=None, customers=None, parameters={"AucThreshold": "0.9999"}, out=out
    )
    assert result.status == "Failed" and "is below the threshold" in result.failure_reason
    assert "Ingest                 current dataset: claims replaced by the 1 accepted file(s)" in out.getvalue()
    assert _trained_rows(deployed, result) == 300
    # Ingest accepted the 300: they are the current dataset now.
    assert sorted(k.rsplit("/", 1)[-1] for k in _current_dataset(deployed)) == ["claims.csv", "customers.csv"]
    assert fs.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="1000")["Record"]


def test_executions_list_what_a_user_asks_next(deployed, capsys):
    """`mlgw pipeline executions`: per execution who started it, how long it took, its AUC and
    the parameters that were not at their default; `describe` names each job's log."""
    out = io.StringIO()
    local_run.print_executions(deployed, local_run.PIPELINE_NAME, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("started (UTC)") and "AUC" in lines[0]
    rows = lines[1:-1]
    first = rows[-1]  # the fixture's good run, oldest
    assert " Succeeded " in first and "CLI / SDK" in first
    assert re.search(r" \d+\.\d s | \d+\.\d min ", first) and re.search(r" 0\.\d{4} ", first), first
    threshold = [r for r in rows if "AucThreshold=0.9999" in r]
    assert threshold and all(" Failed " in r and re.search(r" 0\.\d{4} ", r) for r in threshold)
    assert any(" Failed " in r and re.search(r" - ", r) for r in rows)  # failed before Evaluate
    assert lines[-1].startswith("steps, failure reasons and job logs: mlgw pipeline describe")

    # The summary of a successful run: the traffic split with the version each variant serves,
    # and an invoke snippet with raw values, as a client sends them.
    from mlgw.progress import ExecutionResult

    summary = _summary(deployed, ExecutionResult(rows[-1].rsplit(" ", 1)[-1], "Succeeded", None))
    assert re.search(r"traffic +v1 100% \(version 1\)", summary), summary
    assert '"incident_severity": "Major"' in summary, summary

    local_run.print_execution(deployed, local_run.PIPELINE_NAME, None)
    described = capsys.readouterr().out
    assert re.search(r"log: \S+/jobs/pipelines-\S+-evaluate-\S+/job\.log", described), described


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
        rt.invoke_endpoint(EndpointName=local_run.ENDPOINT_NAME, ContentType="application/json", Body=body)

    def state() -> dict:
        bucket = local_run.default_bucket(deployed)
        return {
            "executions": [
                e["PipelineExecutionArn"]
                for e in sm.list_pipeline_executions(PipelineName=local_run.PIPELINE_NAME)["PipelineExecutionSummaries"]
            ],
            "alarms": [
                a["StateValue"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="ml-gateway-drift-")["MetricAlarms"]
            ],
            "metrics": cloudwatch.list_metrics(Namespace="aws/sagemaker/Endpoints/data-metrics")["Metrics"],
            "reports": s3.list_objects_v2(Bucket=bucket, Prefix="ml-gateway/monitoring-reports/").get("KeyCount", 0),
        }

    home = ["--home", str(deployed.home)]
    before = state()
    assert main(["monitor", "run", "--check-only", *home]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"traffic from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d to .*UTC \(the last 60 "
        r"minutes; another window: --window-minutes N\)",
        out,
    ), out
    assert int(re.search(r"^(\d+) records", out, re.M).group(1)) >= 40  # what was just sent
    assert (
        "would put ml-gateway-drift-total_claim_amount in ALARM and the retrain rule "
        "ml-gateway-retrain-on-drift would start MLGatewayPipeline" in out
    )
    assert state() == before  # nothing published

    assert main(["monitor", "run", *home]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"DriftCheck +\d+ records( \(\d+ warm-up requests left out\))? in "
        r"\d{4}-.* UTC: \d+ violations \(.*baseline_drift: [a-z_, ]*total_claim_amount",
        out,
    ), out  # each violation named: check and feature
    assert "drift alarm ml-gateway-drift-total_claim_amount: ALARM (changed by this check)" in out
    retrain = re.search(r"the retrain rule ml-gateway-retrain-on-drift started a retrain: (\S+)", out).group(1)
    assert retrain in state()["executions"] and retrain not in before["executions"]
    sm.stop_pipeline_execution(PipelineExecutionArn=retrain, ClientRequestToken=uuid.uuid4().hex)
    deadline = time.monotonic() + 120
    while sm.describe_pipeline_execution(PipelineExecutionArn=retrain)["PipelineExecutionStatus"] in (
        "Executing",
        "Stopping",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.5)
