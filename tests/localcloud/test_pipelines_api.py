"""SageMaker Pipelines over the wire: a real boto3 `sagemaker` client against the running
localcloud creates a pipeline, starts executions, follows them to the end, reads the steps as
ListPipelineExecutionSteps returns them, sees a failing script's reason, and retries."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.support.images import PROCESSING_URI

ROLE = "arn:aws:iam::000000000000:role/ml-gateway-sagemaker-execution"  # infra/ml-gateway.yaml
BUCKET = "pipeline-artifacts"

EVALUATE = """
import json, os, sys
auc = float(sys.argv[sys.argv.index('--auc') + 1])
if auc < 0:
    with open(os.environ['SM_FAILURE_FILE'], 'w') as f:
        f.write(f'evaluation needs a non-negative AUC, got {auc}')
    sys.exit(2)
with open(os.path.join(os.environ['EVALUATION_DIR'], 'evaluation.json'), 'w') as f:
    json.dump({'binary_classification_metrics': {'auc': {'value': auc}}}, f)
"""


def definition() -> dict:
    evaluate = {
        "Name": "Evaluate",
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 30}
            },
            "AppSpecification": {
                "ImageUri": PROCESSING_URI,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/evaluate.py"],
                # A Float parameter in a string field goes in as text
                # (Std:Join, the SDK's .to_string()), as AWS requires.
                "ContainerArguments": ["--auc", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Auc"}]}}],
            },
            "Environment": {"EVALUATION_DIR": "/opt/ml/processing/evaluation"},
            "RoleArn": ROLE,
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "AppManaged": False,
                    "S3Input": {
                        "S3Uri": f"s3://{BUCKET}/code/evaluate.py",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    },
                }
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "evaluation",
                        "AppManaged": False,
                        "S3Output": {
                            "S3Uri": {
                                "Std:Join": {
                                    "On": "/",
                                    "Values": [
                                        f"s3://{BUCKET}/runs",
                                        {"Get": "Execution.PipelineExecutionId"},
                                        "evaluation",
                                    ],
                                }
                            },
                            "LocalPath": "/opt/ml/processing/evaluation",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        },
        "PropertyFiles": [
            {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
        ],
    }
    check = {
        "Name": "CheckAuc",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": {
                        "Std:JsonGet": {
                            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                            "Path": "binary_classification_metrics.auc.value",
                        }
                    },
                    "RightValue": {"Get": "Parameters.AucThreshold"},
                }
            ],
            "IfSteps": [],
            "ElseSteps": [
                {
                    "Name": "AucTooLow",
                    "Type": "Fail",
                    "Arguments": {
                        "ErrorMessage": {
                            "Std:Join": {
                                "On": " ",
                                "Values": ["AUC is below the threshold", {"Get": "Parameters.AucThreshold"}],
                            }
                        }
                    },
                }
            ],
        },
    }
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": "Auc", "Type": "Float", "DefaultValue": 0.9},
            {"Name": "AucThreshold", "Type": "Float", "DefaultValue": 0.75},
        ],
        "PipelineExperimentConfig": {
            "ExperimentName": {"Get": "Execution.PipelineName"},
            "TrialName": {"Get": "Execution.PipelineExecutionId"},
        },
        "Steps": [evaluate, check],
    }


@pytest.fixture
def sm(localcloud, client):
    localcloud.cloud.s3.create_bucket(BUCKET)
    localcloud.cloud.s3.put_object(BUCKET, "code/evaluate.py", EVALUATE.encode())
    return client("sagemaker")


def follow(sm, arn: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return described
        assert time.monotonic() < deadline, described
        time.sleep(0.1)


def steps_by_name(sm, arn: str) -> dict[str, dict]:
    return {
        s["StepName"]: s for s in sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    }


def test_pipeline_crud(sm):
    text = json.dumps(definition())
    arn = sm.create_pipeline(
        PipelineName="Claims-Fraud", PipelineDefinition=text, RoleArn=ROLE, ClientRequestToken=uuid.uuid4().hex
    )["PipelineArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:000000000000:pipeline/claims-fraud"
    described = sm.describe_pipeline(PipelineName="Claims-Fraud")
    assert json.loads(described["PipelineDefinition"]) == definition()
    assert described["PipelineStatus"] == "Active" and isinstance(described["CreationTime"], dt.datetime)
    assert sm.describe_pipeline(PipelineName=arn)["PipelineName"] == "Claims-Fraud"

    with pytest.raises(ClientError) as error:  # the SDK's upsert relies on this code and wording
        sm.create_pipeline(
            PipelineName="Claims-Fraud", PipelineDefinition=text, RoleArn=ROLE, ClientRequestToken=uuid.uuid4().hex
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "already exists" in error.value.response["Error"]["Message"]

    updated = sm.update_pipeline(PipelineName="Claims-Fraud", PipelineDescription="v2", PipelineDefinition=text)
    assert updated["PipelineVersionId"] == 2
    assert [p["PipelineName"] for p in sm.list_pipelines(PipelineNamePrefix="Claims")["PipelineSummaries"]] == [
        "Claims-Fraud"
    ]

    with pytest.raises(ClientError, match="depends on unknown step"):
        broken = definition()
        broken["Steps"][1]["DependsOn"] = ["Nowhere"]
        sm.update_pipeline(PipelineName="Claims-Fraud", PipelineDefinition=json.dumps(broken))

    sm.delete_pipeline(PipelineName="Claims-Fraud", ClientRequestToken=uuid.uuid4().hex)
    with pytest.raises(ClientError) as error:
        sm.describe_pipeline(PipelineName="Claims-Fraud")
    assert error.value.response["Error"]["Code"] == "ResourceNotFound"


def test_definition_from_s3_location(localcloud, sm):
    localcloud.cloud.s3.put_object(BUCKET, "definitions/big.json", json.dumps(definition()).encode())
    sm.create_pipeline(
        PipelineName="from-s3",
        RoleArn=ROLE,
        ClientRequestToken=uuid.uuid4().hex,
        PipelineDefinitionS3Location={"Bucket": BUCKET, "ObjectKey": "definitions/big.json"},
    )
    assert json.loads(sm.describe_pipeline(PipelineName="from-s3")["PipelineDefinition"]) == definition()
    with pytest.raises(ClientError, match="does not exist"):
        sm.create_pipeline(
            PipelineName="missing",
            RoleArn=ROLE,
            ClientRequestToken=uuid.uuid4().hex,
            PipelineDefinitionS3Location={"Bucket": BUCKET, "ObjectKey": "nope.json"},
        )


def test_execution_runs_to_completion_and_lists_its_steps(localcloud, sm):
    sm.create_pipeline(
        PipelineName="eval",
        PipelineDefinition=json.dumps(definition()),
        RoleArn=ROLE,
        ClientRequestToken=uuid.uuid4().hex,
    )
    arn = sm.start_pipeline_execution(
        PipelineName="eval", ClientRequestToken=uuid.uuid4().hex, PipelineParameters=[{"Name": "Auc", "Value": "0.82"}]
    )["PipelineExecutionArn"]
    assert arn.startswith("arn:aws:sagemaker:us-east-1:000000000000:pipeline/eval/execution/")
    described = follow(sm, arn)
    assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")

    listed = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert [s["StepName"] for s in listed] == ["CheckAuc", "Evaluate"]  # newest first
    check, evaluate = listed
    assert check["StepStatus"] == "Succeeded" and check["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert evaluate["StepStatus"] == "Succeeded" and evaluate["AttemptCount"] == 1
    assert isinstance(evaluate["StartTime"], dt.datetime) and evaluate["EndTime"] >= evaluate["StartTime"]
    job_arn = evaluate["Metadata"]["ProcessingJob"]["Arn"]
    job = sm.describe_processing_job(ProcessingJobName=job_arn.rsplit("/", 1)[1])
    assert job["ProcessingJobArn"] == job_arn and job["ProcessingJobStatus"] == "Completed"
    output = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    exec_id = arn.rsplit("/", 1)[1]
    assert output == f"s3://{BUCKET}/runs/{exec_id}/evaluation"
    report = localcloud.cloud.s3.read_json(f"s3://{BUCKET}/runs/{exec_id}/evaluation/evaluation.json")
    assert report == {"binary_classification_metrics": {"auc": {"value": 0.82}}}

    ascending = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending")
    assert [s["StepName"] for s in ascending["PipelineExecutionSteps"]] == ["Evaluate", "CheckAuc"]
    summaries = sm.list_pipeline_executions(PipelineName="eval")["PipelineExecutionSummaries"]
    assert summaries[0]["PipelineExecutionArn"] == arn and summaries[0]["PipelineExecutionStatus"] == "Succeeded"
    assert (
        json.loads(sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)["PipelineDefinition"])
        == definition()
    )
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in params} == {"Auc": "0.82", "AucThreshold": "0.75"}


def test_condition_else_branch_fails_with_the_fail_steps_message(sm):
    sm.create_pipeline(
        PipelineName="eval",
        PipelineDefinition=json.dumps(definition()),
        RoleArn=ROLE,
        ClientRequestToken=uuid.uuid4().hex,
    )
    arn = sm.start_pipeline_execution(
        PipelineName="eval", ClientRequestToken=uuid.uuid4().hex, PipelineParameters=[{"Name": "Auc", "Value": "0.6"}]
    )["PipelineExecutionArn"]
    described = follow(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "AUC is below the threshold 0.75"
    steps = steps_by_name(sm, arn)
    assert steps["CheckAuc"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert steps["AucTooLow"]["StepStatus"] == "Failed"
    assert steps["AucTooLow"]["Metadata"] == {"Fail": {"ErrorMessage": "AUC is below the threshold 0.75"}}


def test_failing_script_reason_surfaces_and_retry_reruns_from_the_failed_step(localcloud, sm):
    sm.create_pipeline(
        PipelineName="eval",
        PipelineDefinition=json.dumps(definition()),
        RoleArn=ROLE,
        ClientRequestToken=uuid.uuid4().hex,
    )
    arn = sm.start_pipeline_execution(
        PipelineName="eval", ClientRequestToken=uuid.uuid4().hex, PipelineParameters=[{"Name": "Auc", "Value": "-1"}]
    )["PipelineExecutionArn"]
    described = follow(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "Step Evaluate failed" in described["FailureReason"]
    assert "evaluation needs a non-negative AUC, got -1.0" in described["FailureReason"]
    failed = steps_by_name(sm, arn)
    assert set(failed) == {"Evaluate"}  # nothing after the failure started
    assert failed["Evaluate"]["StepStatus"] == "Failed"
    assert failed["Evaluate"]["FailureReason"].startswith("AlgorithmError: evaluation needs a non-negative AUC")
    summary = sm.list_pipeline_executions(PipelineName="eval")["PipelineExecutionSummaries"][0]
    assert "non-negative AUC" in summary["PipelineExecutionFailureReason"]

    # Fix the script so the same parameters now pass, then retry the execution in place.
    fixed = EVALUATE.replace("auc = float(", "auc = abs(float(").replace("+ 1])", "+ 1]))")
    localcloud.cloud.s3.put_object(BUCKET, "code/evaluate.py", fixed.encode())
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    described = follow(sm, arn)
    assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")
    steps = steps_by_name(sm, arn)
    assert steps["Evaluate"]["StepStatus"] == "Succeeded" and steps["Evaluate"]["AttemptCount"] == 2
    assert "FailureReason" not in steps["Evaluate"]
    assert steps["CheckAuc"]["Metadata"] == {"Condition": {"Outcome": "True"}}

    with pytest.raises(ClientError, match="only a Failed or Stopped execution can be retried"):
        sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)


def test_bad_start_requests_are_refused(sm):
    sm.create_pipeline(
        PipelineName="eval",
        PipelineDefinition=json.dumps(definition()),
        RoleArn=ROLE,
        ClientRequestToken=uuid.uuid4().hex,
    )
    with pytest.raises(ClientError, match="Parameter 'Epochs' is not defined"):
        sm.start_pipeline_execution(
            PipelineName="eval",
            ClientRequestToken=uuid.uuid4().hex,
            PipelineParameters=[{"Name": "Epochs", "Value": "3"}],
        )
    with pytest.raises(ClientError) as error:
        sm.start_pipeline_execution(PipelineName="nope", ClientRequestToken=uuid.uuid4().hex)
    assert error.value.response["Error"]["Code"] == "ResourceNotFound"
    arn = sm.start_pipeline_execution(
        PipelineName="eval", ClientRequestToken=uuid.uuid4().hex, PipelineParameters=[{"Name": "Auc", "Value": "high"}]
    )["PipelineExecutionArn"]
    described = follow(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Parameter Auc: value 'high' is not a valid Float"
    with pytest.raises(ClientError) as error:
        sm.describe_pipeline_execution(PipelineExecutionArn=arn[:-12] + "000000000000")
    assert error.value.response["Error"]["Code"] == "ResourceNotFound"


def test_an_empty_parameter_value_is_refused_as_aws_refuses_it(sm):
    """SageMaker refuses an empty PipelineParameters Value, a String parameter's included:
    'ValidationException ... [string "" is too short (length: 0, required minimum: 1)]'
    (aws/sagemaker-python-sdk#4016, recorded against AWS; the SDK's local mode copied the check in
    #4354). botocore's model lets "" through (String1024, min 0): the service refuses it, and
    starts nothing."""
    text = json.dumps(
        {
            "Version": "2020-12-01",
            "Parameters": [{"Name": "Reason", "Type": "String", "DefaultValue": "x"}],
            "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Reason"}}}],
        }
    )
    sm.create_pipeline(PipelineName="strings", PipelineDefinition=text, RoleArn=ROLE)
    with pytest.raises(ClientError) as error:
        sm.start_pipeline_execution(PipelineName="strings", PipelineParameters=[{"Name": "Reason", "Value": ""}])
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["Error"]["Message"] == '[string "" is too short (length: 0, required minimum: 1)]'
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sm.list_pipeline_executions(PipelineName="strings")["PipelineExecutionSummaries"] == []
    # A one-character value is a value.
    arn = sm.start_pipeline_execution(PipelineName="strings", PipelineParameters=[{"Name": "Reason", "Value": " "}])[
        "PipelineExecutionArn"
    ]
    assert follow(sm, arn)["FailureReason"] == " "
