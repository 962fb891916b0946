"""One documented input location (issue 11): the pipeline's default ClaimsInputUri /
CustomersInputUri, the drift → retrain rule's parameters (local and in the template), `mlgw run`
and the deploy guides all name the same landing prefixes, so a drift-triggered run reads
the CSVs the user uploaded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3

from localcloud.config import ACCOUNT_ID, Config
from pipelines.ml_gateway import locations
from tests.test_infra import load

ROOT = Path(__file__).resolve().parent.parent
BUCKET = f"sagemaker-us-east-1-{ACCOUNT_ID}"


def test_pipeline_defaults_and_the_local_retrain_rule_use_the_landing_prefixes(localcloud, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    from mlgw import local_run
    from pipelines.ml_gateway.run_pipeline import build

    definition = json.loads(
        build("us-east-1", f"arn:aws:iam::{ACCOUNT_ID}:role/R", BUCKET, "MLGatewayPipeline").definition()
    )
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    expected = {
        "ClaimsInputUri": f"s3://{BUCKET}/ml-gateway/landing/claims/",
        "CustomersInputUri": f"s3://{BUCKET}/ml-gateway/landing/customers/",
    }
    assert {k: defaults[k] for k in expected} == expected

    config: Config = localcloud.cloud.config
    assert {locations.INPUT_PARAMETERS[t]: u for t, u in local_run.landing_uris(config).items()} == expected
    session = boto3.Session(
        aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key, region_name=config.region
    )
    local_run.ensure_retrain_rule(config, session)
    events = session.client("events", endpoint_url=config.url)
    from mlgw.retrain import RULE_NAME

    target = events.list_targets_by_rule(Rule=RULE_NAME)["Targets"][0]
    passed = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
    assert {k: passed[k] for k in expected} == expected


def test_the_templates_retrain_rule_passes_the_landing_prefixes():
    template = load(ROOT / "infra" / "ml-gateway.yaml")
    target = template["Resources"]["RetrainRule"]["Properties"]["Targets"][0]
    passed = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
    for table, name in locations.INPUT_PARAMETERS.items():
        assert passed[name] == {"Fn::Sub": locations.landing_uri("${ArtifactBucket}", table)}


def test_the_guides_upload_to_the_landing_prefixes_and_nowhere_else():
    guide = (ROOT / "infra" / "README.md").read_text()
    for table in locations.TABLES:
        assert re.search(rf"aws s3 cp \S+\s+\"?s3://\$(?:\{{)?BUCKET\}}?/ml-gateway/landing/{table}/", guide), table
    for doc in (ROOT / "README.md", ROOT / "infra" / "README.md", ROOT / "buildspec.yml"):
        assert "/raw/" not in doc.read_text(), f"{doc.name} names another input location"
