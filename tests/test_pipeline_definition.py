"""The pipeline definition, generated with the SageMaker SDK offline: the SDK's calls (default
bucket, code upload) land in a localcloud started by the test, and nothing reaches the network
(pytest-socket). Checks every step, parameter and the AUC condition of the JSON contract."""

from __future__ import annotations

import io
import json

import pytest

from localcloud.config import ACCOUNT_ID

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/ml-gateway-sagemaker-execution"
BUCKET = f"sagemaker-us-east-1-{ACCOUNT_ID}"


@pytest.fixture
def definition(localcloud, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    from pipelines.ml_gateway.run_pipeline import build

    pipeline = build("us-east-1", ROLE, BUCKET, "MLGatewayPipeline")
    return pipeline, json.loads(pipeline.definition())


def _steps(definition: dict) -> dict[str, dict]:
    found = {}

    def add(steps: list[dict]) -> None:
        for step in steps:
            found[step["Name"]] = step
            for branch in ("IfSteps", "ElseSteps"):
                add(step.get("Arguments", {}).get(branch, []))

    add(definition["Steps"])
    return found


def test_definition_has_every_step_parameter_and_the_auc_condition(definition):
    _, doc = definition
    steps = _steps(doc)
    assert {name: s["Type"] for name, s in steps.items()} == {
        "Ingest": "Processing",
        "FeatureStore": "Processing",
        "BuildDataset": "Processing",
        "Baseline": "Processing",
        "Train": "Training",
        "Evaluate": "Processing",
        "CheckAuc": "Condition",
        "CheckNewModel": "Condition",
        "RegisterModel": "RegisterModel",
        "CheckChampion": "Condition",
        "Deploy": "Processing",
        "AucBelowThreshold": "Fail",
    }

    params = {p["Name"]: p for p in doc["Parameters"]}
    assert {
        "ClaimsInputUri",
        "CustomersInputUri",
        "ProcessingInstanceType",
        "TrainingInstanceType",
        "MaxDepth",
        "Eta",
        "NumRound",
        "EarlyStoppingRounds",
        "AucThreshold",
        "ModelApprovalStatus",
        "EndpointName",
        "DeployStrategy",
        "NewVariantWeight",
    } <= set(params)
    assert params["DeployStrategy"]["EnumValues"] == ["replace", "canary", "ab"]
    assert params["AucThreshold"]["Type"] == "Float" and params["AucThreshold"]["DefaultValue"] == 0.75
    assert params["MaxDepth"]["Type"] == "Integer"

    condition = steps["CheckAuc"]["Arguments"]["Conditions"][0]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "binary_classification_metrics.auc.value"
    assert condition["RightValue"] == {"Get": "Parameters.AucThreshold"}
    assert [s["Name"] for s in steps["CheckAuc"]["Arguments"]["IfSteps"]] == ["CheckNewModel"]
    # A model the endpoint already serves (a cached Train) is not registered again.
    new = steps["CheckNewModel"]["Arguments"]
    assert [s["Name"] for s in new["IfSteps"]] == ["RegisterModel", "CheckChampion"] and not new.get("ElseSteps")
    assert new["Conditions"][0]["LeftValue"]["Std:JsonGet"]["Path"] == "champion_gate.model"
    # The champion gate: Deploy only if ChampionGate=skip or the AUC reaches the bound Evaluate
    # computed from the serving model's AUC on the same test split; else nothing (Succeeded).
    gate = steps["CheckChampion"]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == ["Deploy"] and not gate.get("ElseSteps")
    (either,) = gate["Conditions"]
    assert either["Type"] == "Or"
    skip, bound = either["Conditions"]
    assert skip == {"Type": "Equals", "LeftValue": {"Get": "Parameters.ChampionGate"}, "RightValue": "skip"}
    assert bound["RightValue"]["Std:JsonGet"]["Path"] == "champion_gate.min_auc"
    assert params["ChampionGate"]["EnumValues"] == ["enforce", "skip"]
    assert params["ChampionMargin"] == {"Name": "ChampionMargin", "Type": "Float", "DefaultValue": 0.01}
    assert steps["Evaluate"]["PropertyFiles"][0]["FilePath"] == "evaluation.json"
    # Evaluate runs in the processing image like every processing step (default: the account's
    # ml-gateway-processing:latest; tests/test_processing_image.py checks the images in detail).
    assert (
        steps["Evaluate"]["Arguments"]["AppSpecification"]["ImageUri"]
        == f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/ml-gateway-processing:latest"
    )
    assert "sagemaker-xgboost" in steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"]

    hyper = steps["Train"]["Arguments"]["HyperParameters"]
    # HyperParameters are strings: Integer parameters rendered as text (tests/test_string_fields.py)
    assert hyper["max_depth"] == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.MaxDepth"}]}}
    assert hyper["num_round"] == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.NumRound"}]}}
    channels = {c["ChannelName"] for c in steps["Train"]["Arguments"]["InputDataConfig"]}
    assert {"train", "validation"} <= channels

    # The model package carries its evaluation and its Model Monitor baseline.
    register = steps["RegisterModel"]["Arguments"]
    assert "Steps.Evaluate" in json.dumps(register["ModelMetrics"]["ModelQuality"]["Statistics"])
    drift = register["DriftCheckBaselines"]["ModelDataQuality"]
    assert "Steps.Baseline" in json.dumps(drift["Statistics"]) and "constraints.json" in json.dumps(
        drift["Constraints"]
    )

    # ...and its lineage: the execution, and the summary Evaluate wrote (evaluation.json).
    metadata = register["CustomerMetadataProperties"]
    assert metadata["PipelineExecutionArn"] == {"Get": "Execution.PipelineExecutionArn"}
    assert metadata["DatasetDigest"]["Std:JsonGet"]["Path"] == "lineage_properties.DatasetDigest"
    assert register["ModelApprovalStatus"]["Std:JsonGet"]["Path"] == "champion_gate.approval_status"
    evaluate_args = steps["Evaluate"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert {"Get": "Execution.PipelineExecutionId"} in evaluate_args

    # On AWS the XGBoost container serves with our inference contract, shipped beside the model.
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "serving.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"].endswith("/sourcedir.tar.gz")

    # The Fail step states both numbers the user needs.
    message = json.dumps(steps["AucBelowThreshold"]["Arguments"]["ErrorMessage"])
    assert "Parameters.AucThreshold" in message and "EvaluationReport" in message


def test_definition_is_accepted_by_the_pipelines_api(definition, client):
    pipeline, _ = definition
    pipeline.upsert(role_arn=ROLE)
    described = client("sagemaker").describe_pipeline(PipelineName="MLGatewayPipeline")
    stored = json.loads(described["PipelineDefinition"])
    assert {s["Name"] for s in stored["Steps"]} >= {"Ingest", "Train", "CheckAuc"}


def test_serving_code_shipped_with_the_model_runs_on_its_own(definition, localcloud, tmp_path):
    """The sourcedir.tar.gz the XGBoost container gets holds everything serving.py imports."""
    import subprocess
    import sys
    import tarfile

    _, doc = definition
    register = _steps(doc)["RegisterModel"]["Arguments"]
    uri = register["InferenceSpecification"]["Containers"][0]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]
    with tarfile.open(fileobj=io.BytesIO(localcloud.cloud.s3.read_bytes(uri))) as tar:
        tar.extractall(tmp_path, filter="data")
    check = (
        "import serving, processing.features as f, os; "
        "assert f.__file__.startswith(os.getcwd()), f.__file__; "
        'rows = serving.decode(b\'{"instances": [{"incident_severity": "Major"}]}\', \'application/json\'); '
        "print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_sdk_still_refuses_a_bad_defaults_config_after_validating_once():
    """validate_sdk_config_once only spares the SDK re-validating a config it already accepted:
    a config its schema refuses raises every time, and other schemas are validated as before."""
    import jsonschema
    from sagemaker.core.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA

    from pipelines.ml_gateway.pipeline import validate_sdk_config_once

    validate_sdk_config_once()
    validate_sdk_config_once()  # idempotent: one wrapper, not two
    good = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    bad = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": "yes"}}}}
    for _ in range(2):
        jsonschema.validate(good, SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"a": 1}, {"properties": {"a": {"type": "string"}}})
