"""Lineage on every model package and the champion gate, as a user meets them: `mlgw models
describe` and the studio's version page show which execution trained a version on which data
(row counts and digests), schema and parameters; `mlgw models compare` says when the datasets,
test sets or schemas differ and prints no metric change across different test sets; a worse
model is registered but not deployed, the endpoint keeps serving the previous version, and
`ChampionGate=skip` deploys it anyway."""

from __future__ import annotations

import json
import os
import socket

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import daemon
from localcloud.config import Config
from mlgw import local_run
from mlgw.cli import main
from processing import lineage
from tests.test_studio import get

BUCKET = "sagemaker-us-east-1-000000000000"
GROUP = "MLGatewayFraud"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
EXECUTION = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/mlgatewaypipeline/execution/"


def _digest(text: str) -> str:
    return lineage.digest_bytes(text.encode())


def _report(auc: float, data: str, schema: str, execution: str, champion: dict | None = None) -> dict:
    """evaluation.json as Evaluate writes it (processing/evaluate.py), for the data named `data`."""
    splits = {
        "train": {"digest": _digest(f"{data}-train"), "rows": 1400},
        "validation": {"digest": _digest(f"{data}-validation"), "rows": 300},
        "test": {"digest": _digest(f"{data}-test"), "rows": 300},
    }
    report = {
        "binary_classification_metrics": {
            "auc": {"value": auc, "standard_deviation": "NaN"},
            "pr_auc": {"value": auc / 2, "standard_deviation": "NaN"},
        },
        "lineage": {
            "pipeline_name": "MLGatewayPipeline",
            "execution_id": execution,
            "execution_arn": EXECUTION + execution,
            "dataset_digest": lineage.dataset_digest(splits),
            "splits": splits,
            "schema_digest": _digest(schema),
            "parameters": {"MaxDepth": "5" if data == "a" else "3", "SchemaUri": f"s3://{BUCKET}/{schema}.json"},
            "metrics": {"train": {"auc": 0.97}, "validation": {"auc": 0.93}, "test": {"auc": auc}},
        },
        "champion": champion or {"endpoint": "ml-gateway-fraud", "status": "none", "auc": None},
        "champion_gate": {
            "reason": "deployed: no model serving on endpoint ml-gateway-fraud to compare with (first deploy)"
        },
    }
    report["lineage_properties"] = lineage.properties(report)
    return report


def _register(sm, s3, version: int, report: dict) -> str:
    key = f"ml-gateway/evaluation/v{version}/evaluation.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(report).encode())
    return sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model/v{version}/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
        },
        # what RegisterModel copies from evaluation.json (pipelines/ml_gateway/pipeline.py)
        CustomerMetadataProperties={
            "PipelineExecutionArn": report["lineage"]["execution_arn"],
            **report["lineage_properties"],
        },
    )["ModelPackageArn"]


def _cli(localcloud, capsys, *argv: str) -> str:
    code = main([*argv, "--home", str(localcloud.cloud.config.home)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_describe_compare_and_the_studio_show_lineage(localcloud, client, capsys):
    config = localcloud.cloud.config
    daemon.write_record(daemon.run_file(config), os.getpid(), "127.0.0.1", config.port)
    sm, s3 = client("sagemaker"), client("s3")
    s3.create_bucket(Bucket=BUCKET)
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    first = _register(sm, s3, 1, _report(0.91, "a", "schema-1", "run1"))
    _register(sm, s3, 2, _report(0.93, "a", "schema-1", "run2"))
    # v3: other data under another schema; its Evaluate re-scored v1 (then serving) on v3's test set
    champion = {
        "endpoint": "ml-gateway-fraud",
        "status": "scored",
        "auc": 0.9,
        "model_package_arn": first,
        "model_package_version": 1,
    }
    _register(sm, s3, 3, _report(0.97, "b", "schema-2", "run3", champion))

    out = _cli(localcloud, capsys, "models", "describe", "3")
    assert f"execution     {EXECUTION}run3" in out, out
    assert "train       1,400 rows" in out and "test        300 rows" in out
    assert f"schema        {_digest('schema-2')}" in out
    assert "validation  auc 0.9300" in out and "MaxDepth                 3" in out

    # the same test set: the change is printed
    out = _cli(localcloud, capsys, "models", "compare", "1", "2")
    assert next(line for line in out.splitlines() if line.startswith("auc ")).split() == [
        "auc",
        "0.9100",
        "0.9300",
        "+0.0200",
    ]
    assert "test set   same" in out and "dataset    same" in out and "schema     same" in out

    # different test sets: both figures, no change, and why; the comparison Evaluate made instead
    out = _cli(localcloud, capsys, "models", "compare", "1", "3")
    assert next(line for line in out.splitlines() if line.startswith("auc ")).split() == [
        "auc",
        "0.9100",
        "0.9700",
        "n/a",
    ]
    assert "+0.0600" not in out
    assert "dataset    DIFFERENT" in out and "test set   DIFFERENT" in out and "schema     DIFFERENT" in out
    assert "no change printed: v1 and v3 were scored on different test sets" in out
    assert (
        "on v3's test set (its Evaluate re-scored v1, then serving): auc v1 0.9000, v3 0.9700, v3 - v1 +0.0700" in out
    )
    assert "MaxDepth" in out.split("parameters that differ", 1)[1]

    # the studio's version page shows the same lineage
    from mlgw.studio.backend import Backend
    from mlgw.studio.server import Background
    from mlgw.target import Target

    server = Background(Backend(Target.local(config)))
    try:
        status, page = get(f"{server.url}/models/{GROUP}/3")
        compare_status, compared = get(f"{server.url}/models/{GROUP}/compare?a=1&b=3")
    finally:
        server.stop()
    # and its side by side view prints no change across different test sets either
    assert compare_status == 200 and 'id="no-change"' in compared and "+0.0600" not in compared
    assert status == 200 and 'id="package-lineage"' in page
    assert "/pipelines/MLGatewayPipeline/executions/run3" in page
    assert "1,400 rows" in page and _digest("schema-2") in page
    assert 'id="lineage-parameters"' in page and "s3://sagemaker-us-east-1-000000000000/schema-2.json" in page
    assert "version 1</a> on ml-gateway-fraud: AUC 0.9000" in page


def test_metadata_values_fit_create_model_packages_limits(localcloud, client):
    """CustomerMetadataProperties values: 1-256 characters of letters, digits, spaces and
    `_.:/=+-@` (API_CreateModelPackage); localcloud refuses others as SageMaker does, and the
    lineage's values (a gate reason with parentheses, `;`, `−`) are made to fit."""
    sm = client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    spec = {
        "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    reason = "not deployed: AUC 0.7235 < 0.9307 − 0.01 (version 1); keep it" + "x" * 300
    with pytest.raises(ClientError) as refused:
        sm.create_model_package(
            ModelPackageGroupName=GROUP,
            InferenceSpecification=spec,
            CustomerMetadataProperties={"ChampionGate": reason},
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "customerMetadataProperties" in refused.value.response["Error"]["Message"]
    value = lineage.metadata_value(reason)
    assert len(value) == 256 and value.startswith("not deployed: AUC 0.7235 0.9307 0.01 version 1 keep it")
    arn = sm.create_model_package(
        ModelPackageGroupName=GROUP, InferenceSpecification=spec, CustomerMetadataProperties={"ChampionGate": value}
    )["ModelPackageArn"]
    assert sm.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"] == {"ChampionGate": value}
    assert lineage.metadata_value("()") == "none"  # never empty: AWS refuses an empty value


def test_the_gate_holds_back_a_worse_model_not_one_within_the_test_sets_noise():
    """On 300 rows with 9 fraud cases: a model as good as the champion but 0.02 below it on
    this split deploys (the noise of the paired difference is larger); a clearly worse one
    does not, whatever the noise; DeLong's noise agrees with a paired bootstrap."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from processing import champion as champions

    rng = np.random.default_rng(18)
    y = np.zeros(300, dtype="int64")
    y[:9] = 1
    base = y * 2.5 + rng.normal(size=300)
    serving, similar = base + 0.3 * rng.normal(size=300), base + 0.3 * rng.normal(size=300)
    worse = y * 0.4 + rng.normal(size=300)
    resampled = []
    for _ in range(400):
        rows = np.concatenate([rng.choice(9, 9), 9 + rng.choice(291, 291)])
        resampled.append(roc_auc_score(y[rows], similar[rows]) - roc_auc_score(y[rows], serving[rows]))
    noise = champions.paired_noise(y, similar, serving)
    assert noise == pytest.approx(1.6449 * np.std(resampled), rel=0.2)

    def gate(new):
        champion = {
            "endpoint": "e",
            "status": "scored",
            "auc": roc_auc_score(y, serving),
            "new_auc": roc_auc_score(y, new),
            "noise": champions.paired_noise(y, new, serving),
            "model_package_version": 1,
            "rows_compared": 300,
            "training_rows_known": True,
        }
        return champions.decide(0.0, champion, "enforce", 0.01, "Approved"), champion

    decision, champion = gate(similar)
    assert champion["new_auc"] < champion["auc"] - 0.01 and decision["deploy"], (champion, decision)
    assert decision["approval_status"] == "Approved"
    decision, champion = gate(worse)
    assert not decision["deploy"] and decision["approval_status"] == "PendingManualApproval"
    assert decision["min_auc"] == pytest.approx(champion["auc"] - 0.01 - champion["noise"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def config(tmp_path):
    cfg = Config(home=tmp_path / "mlgw", port=_free_port())
    yield cfg
    daemon.stop(cfg)


def _package(result) -> str:
    return next(s["Metadata"]["RegisterModel"]["Arn"] for s in result.steps if "RegisterModel" in s.get("Metadata", {}))


def _serving(sm) -> list[str | None]:
    from processing.deploy import model_package_of

    endpoint = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    return [model_package_of(sm, v["ModelName"]) for v in config["ProductionVariants"]]


@pytest.mark.slow
def test_a_worse_model_is_registered_but_not_deployed_unless_the_gate_is_skipped(config, capsys):
    sm = boto3.client("sagemaker", endpoint_url=config.url, region_name=config.region)

    good = local_run.run(config, policies=1500, seed=7, claims=None, customers=None, parameters={})
    out = capsys.readouterr().out
    assert good.succeeded, out
    assert "champion gate   deployed: no model serving on endpoint ml-gateway-fraud to compare with" in out
    assert _serving(sm) == [_package(good)]

    # One boosting round on one split: a clearly worse model, above AucThreshold=0.5.
    worse = {"NumRound": "1", "MaxDepth": "1", "AucThreshold": "0.5"}
    bad = local_run.run(config, policies=1500, seed=7, claims=None, customers=None, parameters=worse)
    out = capsys.readouterr().out
    assert bad.succeeded, out
    steps = {s["StepName"]: s["StepStatus"] for s in bad.steps}
    assert steps["CheckChampion"] == "Succeeded" and "Deploy" not in steps, steps
    assert _serving(sm) == [_package(good)]  # the endpoint still serves the previous version
    report = json.loads(json.dumps(_evaluation(sm, config, _package(bad))))
    new_auc, champion_auc = report["champion_gate"]["auc"], report["champion"]["auc"]
    assert new_auc < champion_auc - 0.01 - report["champion"]["noise"]
    # the summary gives both figures and why
    assert f"AUC {champion_auc:.4f} re-scored on this run's test split" in out, out
    assert f"not deployed: worse than the serving model by more than the margin and the noise: AUC {new_auc:.4f}" in out
    assert "version 2 is registered PendingManualApproval, not deployed" in out
    held = sm.describe_model_package(ModelPackageName=_package(bad))
    assert held["ModelApprovalStatus"] == "PendingManualApproval"
    meta = held["CustomerMetadataProperties"]
    assert meta["PipelineExecutionArn"] == bad.arn and meta["ChampionAuc"] == f"{champion_auc:.4f}"
    assert meta["TestRows"] == str(report["lineage"]["splits"]["test"]["rows"])

    # the same data: compare prints the change, and the parameters that made it
    main(["models", "compare", "1", "2", "--home", str(config.home)])
    out = capsys.readouterr().out
    assert "test set   same" in out and "NumRound" in out.split("parameters that differ", 1)[1]

    # the explicit override deploys it anyway, registered with the run's approval status
    skipped = local_run.run(
        config, policies=1500, seed=7, claims=None, customers=None, parameters={**worse, "ChampionGate": "skip"}
    )
    out = capsys.readouterr().out
    assert skipped.succeeded, out
    assert "champion gate   deployed although worse: ChampionGate=skip" in out
    assert _serving(sm) == [_package(skipped)]
    assert sm.describe_model_package(ModelPackageName=_package(skipped))["ModelApprovalStatus"] == "Approved"


def _evaluation(sm, config, package_arn: str) -> dict:
    from mlgw import registry_view

    s3 = boto3.client("s3", endpoint_url=config.url, region_name=config.region)
    report = registry_view.evaluation(sm, s3, package_arn)
    assert report is not None
    return report
