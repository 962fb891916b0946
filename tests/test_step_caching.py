"""Step caching as SageMaker Pipelines does it
(https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-caching.html): a second `mlgw run` on
the same data and parameters reuses BuildDataset, Baseline and Train from the first execution
(`CacheHitResult` in ListPipelineExecutionSteps, the first execution's jobs in the steps'
Metadata), while Ingest and FeatureStore, which change the current dataset and the feature
groups, run again; the model the endpoint already serves is not registered again (no duplicate
version) nor redeployed; a batch added under the landing prefix (the same input URI, other bytes)
makes a retrain compute everything afresh."""

from __future__ import annotations

import socket

import boto3
import pytest

from localcloud import daemon
from localcloud.config import Config
from mlgw import local_run
from processing import synthetic

CACHED = ("BuildDataset", "Baseline", "Train")
ALWAYS_RUN = ("Ingest", "FeatureStore", "Evaluate")
LENIENT = {"AucThreshold": "0.5"}  # a small dataset: the AUC gate is not what is tested here


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def config(tmp_path):
    cfg = Config(home=tmp_path / "mlgw", port=_free_port())
    yield cfg
    daemon.stop(cfg)


def _steps(sm, arn: str) -> dict[str, dict]:
    pages = sm.get_paginator("list_pipeline_execution_steps").paginate(PipelineExecutionArn=arn)
    return {s["StepName"]: s for page in pages for s in page["PipelineExecutionSteps"]}


@pytest.mark.slow
def test_identical_data_reuses_the_dataset_and_model_and_a_new_batch_does_not(config, capsys):
    first = local_run.run(config, policies=600, seed=11, claims=None, customers=None, parameters=LENIENT)
    assert first.succeeded, capsys.readouterr().out
    sm = boto3.client("sagemaker", endpoint_url=config.url, region_name=config.region)
    s3 = boto3.client("s3", endpoint_url=config.url, region_name=config.region)
    before = _steps(sm, first.arn)
    assert not any("CacheHitResult" in s for s in before.values())

    second = local_run.run(config, policies=600, seed=11, claims=None, customers=None, parameters=LENIENT)
    out = capsys.readouterr().out
    assert second.succeeded, out
    assert "the endpoint already serves this model" in out and "nothing registered or deployed" in out
    steps = _steps(sm, second.arn)
    for name in CACHED:
        assert steps[name]["StepStatus"] == "Succeeded"
        assert steps[name].get("CacheHitResult") == {"SourcePipelineExecutionArn": first.arn}, name
        assert steps[name]["Metadata"] == before[name]["Metadata"], name  # the first execution's job
    for name in ALWAYS_RUN:
        assert "CacheHitResult" not in steps[name], name
        assert steps[name]["Metadata"] != before[name]["Metadata"], name
    # The model the second execution evaluated and deployed is the first's artifact.
    job = sm.describe_training_job(TrainingJobName=steps["Train"]["Metadata"]["TrainingJob"]["Arn"].split("/")[-1])
    evaluate = sm.describe_processing_job(
        ProcessingJobName=steps["Evaluate"]["Metadata"]["ProcessingJob"]["Arn"].split("/")[-1]
    )
    model_input = next(i for i in evaluate["ProcessingInputs"] if i["InputName"] == "model")
    assert model_input["S3Input"]["S3Uri"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert first.arn.rsplit("/", 1)[1] in job["ModelArtifacts"]["S3ModelArtifacts"]
    # That model is the one the endpoint serves: no second version, no redeploy.
    assert "RegisterModel" not in steps and "Deploy" not in steps
    versions = sm.list_model_packages(ModelPackageGroupName="MLGatewayFraud")["ModelPackageSummaryList"]
    assert len(versions) == 1

    # A batch of new policies under the landing prefix: a retrain reads the same URI, other bytes.
    claims, customers = synthetic.generate(700, seed=12)
    claims, customers = claims.iloc[600:], customers.iloc[600:]  # policy ids 601..700
    local_run.add_batch(config, s3, claims, customers, "traffic")
    capsys.readouterr()
    retrain = local_run.upsert_or_start(config, "start", "MLGatewayPipeline", {})
    assert retrain is not None and retrain.succeeded, capsys.readouterr().out
    steps = _steps(sm, retrain.arn)
    assert not any("CacheHitResult" in s for s in steps.values()), [
        n for n, s in steps.items() if "CacheHitResult" in s
    ]
    rows = sm.describe_training_job(TrainingJobName=steps["Train"]["Metadata"]["TrainingJob"]["Arn"].split("/")[-1])
    assert retrain.arn.rsplit("/", 1)[1] in rows["ModelArtifacts"]["S3ModelArtifacts"]
