"""Integer and Float pipeline parameters in string fields (issue 11).

CreateTrainingJob's HyperParameters is a "String to string map" and CreateProcessingJob's
AppSpecification.ContainerArguments an "Array of strings"
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html).
A `{"Get": "Parameters.MaxDepth"}` of an Integer parameter there puts a number in a string
field; SDK v2 rendered such values with `.to_string()` (a one-value `Std:Join`), which
yields text. The definition must do so, and the local executor must refuse the number as
AWS does rather than run it.
"""

from __future__ import annotations

import json

import pytest

from localcloud.config import ACCOUNT_ID
from localcloud.sagemaker.pipelines import wait_for
from tests.support.definition import all_steps
from tests.support.images import XGBOOST_URI
from tests.test_executor import BUCKET, ROLE, cloud, processing, put_object, start, steps_of  # noqa: F401


def _string_typed(value, parameters: dict[str, str]) -> bool:
    """Whether a definition value evaluates to a string: a literal string, a Std:Join, a Get
    of a String parameter, or of a step property (ARNs and S3 URIs here)."""
    if isinstance(value, dict) and str(value.get("Get", "")).startswith(("Steps.", "Execution.")):
        return True  # step properties here and execution variables (PipelineName, ...) are strings
    if isinstance(value, str):
        return True
    if isinstance(value, dict) and "Std:Join" in value:
        return True
    if isinstance(value, dict) and str(value.get("Get", "")).startswith("Parameters."):
        return parameters[value["Get"].split(".", 1)[1]] == "String"
    return False


def test_numeric_parameters_are_rendered_as_strings_in_the_definition(localcloud, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    from pipelines.ml_gateway.run_pipeline import build

    definition = json.loads(
        build(
            "us-east-1", f"arn:aws:iam::{ACCOUNT_ID}:role/R", f"sagemaker-us-east-1-{ACCOUNT_ID}", "MLGatewayPipeline"
        ).definition()
    )
    parameters = {p["Name"]: p["Type"] for p in definition["Parameters"]}
    checked = []
    for step in all_steps(definition):
        args = step.get("Arguments", {})
        for name, value in (args.get("HyperParameters") or {}).items():
            checked.append((step["Name"], f"HyperParameters.{name}", value))
        for i, value in enumerate((args.get("AppSpecification") or {}).get("ContainerArguments") or []):
            checked.append((step["Name"], f"ContainerArguments[{i}]", value))
    wrong = [(step, field, value) for step, field, value in checked if not _string_typed(value, parameters)]
    assert not wrong
    hps = next(s for s in all_steps(definition) if s["Name"] == "Train")["Arguments"]["HyperParameters"]
    assert hps["max_depth"] == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.MaxDepth"}]}}


def test_the_executor_refuses_a_number_in_container_arguments(cloud):  # noqa: F811
    put_object(cloud, "code/job.py", "import sys\nassert sys.argv[1] == '0.9'\n")
    bare = processing("Bare", "job.py", [{"Get": "Parameters.Weight"}])
    arn = start(cloud, [bare], [{"Name": "Weight", "Type": "Float", "DefaultValue": 0.9}])
    assert wait_for(cloud, arn, 30)["PipelineExecutionStatus"] == "Failed"
    reason = steps_of(cloud, arn)["Bare"]["FailureReason"]
    assert "AppSpecification.ContainerArguments[0] must be a string, got Float 0.9" in reason

    joined = processing("Joined", "job.py", [{"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Weight"}]}}])
    arn = start(cloud, [joined], [{"Name": "Weight", "Type": "Float", "DefaultValue": 0.9}], name="joined")
    assert wait_for(cloud, arn, 30)["PipelineExecutionStatus"] == "Succeeded"


def test_the_executor_refuses_a_number_in_hyperparameters(cloud):  # noqa: F811
    put_object(cloud, "code/train.py", "print('never runs')\n")
    train = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": XGBOOST_URI, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
            "RoleArn": ROLE,
            "InputDataConfig": [],
            "HyperParameters": {"max_depth": {"Get": "Parameters.Depth"}, "sagemaker_program": '"train.py"'},
        },
    }
    arn = start(cloud, [train], [{"Name": "Depth", "Type": "Integer", "DefaultValue": 4}])
    assert wait_for(cloud, arn, 30)["PipelineExecutionStatus"] == "Failed"
    reason = steps_of(cloud, arn)["Train"]["FailureReason"]
    assert "HyperParameters['max_depth'] must be a string, got Integer 4" in reason


@pytest.mark.parametrize("value", [True, 3])
def test_environment_values_must_be_strings(cloud, value):  # noqa: F811
    put_object(cloud, "code/job.py", "pass\n")
    step = processing("Env", "job.py", [])
    step["Arguments"]["Environment"] = {"FLAG": value}
    arn = start(cloud, [step])
    assert wait_for(cloud, arn, 30)["PipelineExecutionStatus"] == "Failed"
    assert "Environment['FLAG'] must be a string" in steps_of(cloud, arn)["Env"]["FailureReason"]
