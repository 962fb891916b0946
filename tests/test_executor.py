"""The local pipeline executor: expressions, conditions, parameters, ordering, branches,
retries, caching, stop and crash recovery. Executions run for real (scripts in subprocesses,
state in SQLite); the pipelines API is called in-process through the JSON API's own validation."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.config import Config
from localcloud.sagemaker.pipelines import conditions, expressions, graph, parameters, policies, wait_for
from localcloud.sagemaker.pipelines.models import execution_id
from localcloud.services import json_api
from tests.support.images import PROCESSING_URI, XGBOOST_URI

ROLE = "arn:aws:iam::000000000000:role/ml-gateway-sagemaker-execution"  # infra/ml-gateway.yaml
BUCKET = "artifacts"


# -- expressions ------------------------------------------------------------------------------


class Ctx:
    def __init__(self, params=None, steps=None, objects=None):
        self.params, self.steps, self.objects = params or {}, steps or {}, objects or {}

    def parameter(self, name):
        return self.params[name]

    def execution_variable(self, name):
        return {"PipelineExecutionId": "abc123def456", "StartDateTime": "2024-01-02T03:04:05.000Z"}[name]

    def step_properties(self, step):
        if step not in self.steps:
            raise expressions.ExpressionError(f"step {step} has not succeeded")
        return self.steps[step]

    def read_json(self, uri):
        return self.objects[uri]


PROCESSING_PROPS = {
    "ProcessingJobName": "job-1",
    "ProcessingOutputConfig": {
        "Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train", "LocalPath": "/opt/ml/processing/train"}},
            {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/test", "LocalPath": "/opt/ml/processing/test"}},
        ]
    },
    "PropertyFiles": {"EvaluationReport": "s3://b/eval/evaluation.json"},
}


def test_get_reads_parameters_execution_variables_and_step_properties():
    ctx = Ctx(
        {"Threshold": 0.75},
        {"Prep": PROCESSING_PROPS, "Train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"}}},
    )
    assert expressions.evaluate({"Get": "Parameters.Threshold"}, ctx) == 0.75
    assert expressions.evaluate({"Get": "Execution.PipelineExecutionId"}, ctx) == "abc123def456"
    assert (
        expressions.evaluate({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}, ctx)
        == "s3://b/test"
    )
    assert (
        expressions.evaluate({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri"}, ctx)
        == "s3://b/train"
    )
    assert expressions.evaluate({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, ctx) == "s3://b/m.tar.gz"
    # expressions nested anywhere in a structure are replaced in place
    assert expressions.evaluate({"A": [{"Get": "Parameters.Threshold"}, "x"], "B": 1}, ctx) == {
        "A": [0.75, "x"],
        "B": 1,
    }


def test_get_errors_name_the_missing_property():
    ctx = Ctx({}, {"Prep": PROCESSING_PROPS})
    with pytest.raises(expressions.ExpressionError, match="no item named 'valid'"):
        expressions.evaluate({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['valid'].S3Output.S3Uri"}, ctx)
    with pytest.raises(expressions.ExpressionError, match="has not succeeded"):
        expressions.evaluate({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, ctx)
    with pytest.raises(expressions.ExpressionError, match="does not start with"):
        expressions.evaluate({"Get": "Nothing.X"}, ctx)


def test_join_renders_values_and_nested_expressions():
    ctx = Ctx({"Bucket": "b", "Count": 3, "Flag": True}, {"Prep": PROCESSING_PROPS})
    join = {
        "Std:Join": {
            "On": "/",
            "Values": [
                "s3:/",
                {"Get": "Parameters.Bucket"},
                {"Get": "Execution.PipelineExecutionId"},
                {"Get": "Parameters.Count"},
                {"Get": "Parameters.Flag"},
                0.5,
            ],
        }
    }
    assert expressions.evaluate(join, ctx) == "s3://b/abc123def456/3/true/0.5"
    inner = {"Std:Join": {"On": "", "Values": ["run-", {"Std:Join": {"On": "-", "Values": ["a", "b"]}}]}}
    assert expressions.evaluate(inner, ctx) == "run-a-b"


def test_json_get_reads_property_files_and_s3_uris():
    report = {"binary_classification_metrics": {"auc": {"value": 0.91}}, "folds": [{"auc": 0.8}, {"auc": 0.9}]}
    ctx = Ctx({}, {"Eval": PROCESSING_PROPS}, {"s3://b/eval/evaluation.json": report})
    get = {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvaluationReport"},
            "Path": "binary_classification_metrics.auc.value",
        }
    }
    assert expressions.evaluate(get, ctx) == 0.91
    by_uri = {
        "Std:JsonGet": {
            "S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://b/eval", "evaluation.json"]}},
            "Path": "folds[1].auc",
        }
    }
    assert expressions.evaluate(by_uri, ctx) == 0.9
    with pytest.raises(expressions.ExpressionError, match="path 'metrics.auc' not found"):
        expressions.evaluate(
            {
                "Std:JsonGet": {
                    "PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvaluationReport"},
                    "Path": "metrics.auc",
                }
            },
            ctx,
        )
    with pytest.raises(expressions.ExpressionError, match="no property file 'Other'"):
        expressions.evaluate(
            {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.Other"}, "Path": "a"}}, ctx
        )


def test_step_references_find_data_dependencies():
    args = {
        "X": {"Std:Join": {"On": "/", "Values": [{"Get": "Steps.A.Foo"}, {"Get": "Parameters.P"}]}},
        "Y": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.B.PropertyFiles.R"}, "Path": "a"}},
    }
    assert expressions.step_references(args) == {"A", "B"}
    assert expressions.parameter_references(args) == {"P"}


# -- conditions -------------------------------------------------------------------------------


def _cond(kind, left, right):
    return {"Type": kind, "LeftValue": left, "RightValue": right}


@pytest.mark.parametrize(
    "kind,left,right,expected",
    [
        ("Equals", 1, 1.0, True),
        ("Equals", "a", "b", False),
        ("Equals", True, 1, False),
        ("GreaterThan", 0.8, 0.75, True),
        ("GreaterThan", 0.75, 0.75, False),
        ("GreaterThanOrEqualTo", 0.75, 0.75, True),
        ("LessThan", 1, 2, True),
        ("LessThanOrEqualTo", 3, 2, False),
        ("LessThan", "a", "b", True),
    ],
)
def test_comparisons(kind, left, right, expected):
    assert conditions.is_true(_cond(kind, left, right), lambda v: v) is expected


def test_in_not_or_and_nesting():
    ev = lambda v: v  # noqa: E731 - values are literals here
    assert conditions.is_true({"Type": "In", "QueryValue": "b", "Values": ["a", "b"]}, ev)
    assert not conditions.is_true({"Type": "In", "QueryValue": 1, "Values": [True, 2]}, ev)
    assert conditions.is_true({"Type": "Not", "Condition": _cond("Equals", 1, 2)}, ev)
    assert conditions.is_true({"Type": "Or", "Conditions": [_cond("Equals", 1, 2), _cond("LessThan", 1, 2)]}, ev)
    nested = {
        "Type": "Not",
        "Condition": {
            "Type": "Or",
            "Conditions": [_cond("GreaterThan", 1, 2), {"Type": "In", "QueryValue": "x", "Values": ["y"]}],
        },
    }
    assert conditions.is_true(nested, ev)
    # the Conditions list of a Condition step is an implicit And
    assert conditions.all_true([_cond("Equals", 1, 1), _cond("LessThan", 1, 2)], ev)
    assert not conditions.all_true([_cond("Equals", 1, 1), _cond("LessThan", 3, 2)], ev)


def test_conditions_evaluate_expressions_and_report_bad_comparisons():
    ctx = Ctx({"Threshold": 0.7, "Name": "x"})
    ev = lambda v: expressions.evaluate(v, ctx)  # noqa: E731
    assert conditions.is_true(_cond("GreaterThan", 0.8, {"Get": "Parameters.Threshold"}), ev)
    with pytest.raises(conditions.ConditionError, match=r"GreaterThan cannot compare 'x' \(string\) with 0.7"):
        conditions.is_true(_cond("GreaterThan", {"Get": "Parameters.Name"}, {"Get": "Parameters.Threshold"}), ev)
    with pytest.raises(conditions.ConditionError, match="unknown condition Type 'Between'"):
        conditions.is_true({"Type": "Between"}, ev)


# -- parameters -------------------------------------------------------------------------------

DEFINITION_PARAMS = {
    "Parameters": [
        {"Name": "Count", "Type": "Integer", "DefaultValue": 1},
        {"Name": "Rate", "Type": "Float", "DefaultValue": 0.5},
        {"Name": "Deploy", "Type": "Boolean", "DefaultValue": False},
        {"Name": "Mode", "Type": "String", "DefaultValue": "a", "EnumValues": ["a", "b"]},
        {"Name": "Input", "Type": "String"},
    ]
}


def test_parameters_take_defaults_and_typed_overrides():
    values = parameters.resolve(
        DEFINITION_PARAMS, {"Count": "4", "Rate": "1e-2", "Deploy": "true", "Input": "s3://b/k"}
    )
    assert values == {"Count": 4, "Rate": 0.01, "Deploy": True, "Mode": "a", "Input": "s3://b/k"}


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"Count": "abc", "Input": "x"}, "Parameter Count: value 'abc' is not a valid Integer"),
        # Python's parsers would read these; no AWS number grammar does
        ({"Count": "1_000", "Input": "x"}, "Parameter Count: value '1_000' is not a valid Integer"),
        ({"Count": " 4", "Input": "x"}, "Parameter Count: value ' 4' is not a valid Integer"),
        ({"Count": "\u0664", "Input": "x"}, "Parameter Count: value '\u0664' is not a valid Integer"),
        ({"Rate": "nan", "Input": "x"}, "Parameter Rate: value 'nan' is not a valid Float"),
        ({"Rate": "1e999", "Input": "x"}, "Parameter Rate: value '1e999' is not a valid Float"),
        ({"Rate": "0x1p-2", "Input": "x"}, "Parameter Rate: value '0x1p-2' is not a valid Float"),
        ({"Rate": "fast", "Input": "x"}, "Parameter Rate: value 'fast' is not a valid Float"),
        ({"Deploy": "yes", "Input": "x"}, "Parameter Deploy: value 'yes' is not a valid Boolean"),
        ({"Mode": "c", "Input": "x"}, r"Parameter Mode: value 'c' is not one of \['a', 'b'\]"),
        ({}, "Parameter Input has no default value"),
        ({"Input": "x", "Nope": "1"}, "Parameter Nope is not declared"),
    ],
)
def test_bad_parameters_name_the_parameter(overrides, message):
    with pytest.raises(parameters.PipelineParameterError, match=message):
        parameters.resolve(DEFINITION_PARAMS, overrides)


# -- graph ------------------------------------------------------------------------------------


def _fail(name, message="stop"):
    return {"Name": name, "Type": "Fail", "Arguments": {"ErrorMessage": message}}


def test_graph_orders_by_depends_on_and_data_references_and_flattens_branches():
    definition = {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [
            {
                "Name": "Check",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [_cond("Equals", {"Get": "Steps.B.Metadata"}, 1)],
                    "IfSteps": [
                        {
                            "Name": "Inner",
                            "Type": "Condition",
                            "Arguments": {
                                "Conditions": [_cond("Equals", 1, 1)],
                                "IfSteps": [_fail("Deep")],
                                "ElseSteps": [],
                            },
                        }
                    ],
                    "ElseSteps": [_fail("Else")],
                },
            },
            {"Name": "B", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Steps.A.X"}}},
            {"Name": "A", "Type": "Fail", "Arguments": {}, "DependsOn": []},
        ],
    }
    parsed = graph.parse(definition)
    order = parsed.order()
    assert order.index("A") < order.index("B") < order.index("Check") < order.index("Inner") < order.index("Deep")
    assert parsed.steps["Deep"].gate == graph.Gate("Inner", True)
    assert parsed.steps["Else"].gate == graph.Gate("Check", False)
    assert parsed.branches["Check"] == (["Inner"], ["Else"])


@pytest.mark.parametrize(
    "steps,message",
    [
        ([_fail("A"), _fail("A")], "step name 'A' is used twice"),
        ([{**_fail("A"), "DependsOn": ["Z"]}], "step A depends on unknown step 'Z'"),
        ([{**_fail("A"), "DependsOn": ["B"]}, {**_fail("B"), "DependsOn": ["A"]}], "cycle"),
        ([{"Name": "A", "Type": "EMR", "Arguments": {}}], "type 'EMR' is not supported"),
        (
            [{"Name": "A", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Nope"}}}],
            "reads Parameters.Nope",
        ),
    ],
)
def test_graph_rejects_broken_definitions(steps, message):
    with pytest.raises(graph.DefinitionError, match=message):
        graph.parse({"Version": "2020-12-01", "Steps": steps})


def test_policies_parse_durations_and_retry_delays():
    assert policies.parse_duration("PT1H") == 3600
    assert policies.parse_duration("P1DT30M") == 86400 + 1800
    assert policies.parse_duration("P2W") == 14 * 86400
    with pytest.raises(policies.StepPolicyError):
        policies.parse_duration("1 hour")
    policy = policies.RetryPolicy.parse(
        {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 2},
        "S",
    )
    assert [policy.delay(n, 0) for n in (1, 2, 3)] == [2, 6, None]
    assert policies.next_retry([policy], "Step.THROTTLING", 1, 0) is None
    expiring = policies.RetryPolicy.parse(
        {"ExceptionType": ["Step.THROTTLING"], "IntervalSeconds": 10, "ExpireAfterMin": 1}, "S"
    )
    assert expiring.delay(1, 0) == 10 and expiring.delay(1, 55) is None


# -- executions -------------------------------------------------------------------------------


@pytest.fixture
def cloud(tmp_path) -> LocalCloud:
    cloud = LocalCloud(Config(home=tmp_path / "home", port=9))
    cloud.s3.create_bucket(BUCKET)
    return cloud


def token() -> str:
    return uuid.uuid4().hex  # ClientRequestToken: 32 characters at least


def call(cloud: LocalCloud, operation: str, **params: Any) -> dict[str, Any]:
    return cloud.client("sagemaker").call(operation, params)


def put_object(cloud: LocalCloud, key: str, body: str | bytes) -> str:
    cloud.s3.put_object(BUCKET, key, body.encode() if isinstance(body, str) else body)
    return f"s3://{BUCKET}/{key}"


def get_object(cloud: LocalCloud, key: str) -> bytes:
    return cloud.s3.read_bytes(f"s3://{BUCKET}/{key}")


def processing(
    name: str, script: str, args: list[Any] | None = None, outputs: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """A Processing step as the SageMaker SDK emits one for `python3 <script>`."""
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
            },
            "AppSpecification": {
                "ImageUri": PROCESSING_URI,
                "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
                "ContainerArguments": args or [],
            },
            "RoleArn": ROLE,
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "AppManaged": False,
                    "S3Input": {
                        "S3Uri": f"s3://{BUCKET}/code/{script}",
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
                        "OutputName": out,
                        "AppManaged": False,
                        "S3Output": {
                            "S3Uri": uri,
                            "LocalPath": f"/opt/ml/processing/{out}",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                    for out, uri in (outputs or {}).items()
                ]
            },
        },
        **extra,
    }


def start(
    cloud: LocalCloud,
    steps: list[dict[str, Any]],
    params: list[dict[str, Any]] | None = None,
    overrides: dict[str, str] | None = None,
    name: str = "test-pipeline",
) -> str:
    definition = json.dumps({"Version": "2020-12-01", "Parameters": params or [], "Steps": steps})
    if call(cloud, "ListPipelines", PipelineNamePrefix=name)["PipelineSummaries"]:
        call(cloud, "UpdatePipeline", PipelineName=name, PipelineDefinition=definition)
    else:
        call(
            cloud,
            "CreatePipeline",
            PipelineName=name,
            PipelineDefinition=definition,
            RoleArn=ROLE,
            ClientRequestToken=token(),
        )
    return call(
        cloud,
        "StartPipelineExecution",
        PipelineName=name,
        ClientRequestToken=token(),
        PipelineParameters=[{"Name": k, "Value": v} for k, v in (overrides or {}).items()],
    )["PipelineExecutionArn"]


def steps_of(cloud: LocalCloud, arn: str) -> dict[str, dict[str, Any]]:
    return {
        s["StepName"]: s
        for s in call(cloud, "ListPipelineExecutionSteps", PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    }


# A script that appends its name and time span to a shared file, after an optional sleep.
TRACE = """
import os, sys, time
start = time.time()
time.sleep(float(sys.argv[2]))
with open(sys.argv[3], "a") as f:
    f.write(f"{sys.argv[1]} {start} {time.time()}\\n")
"""


def test_steps_run_in_dependency_order_and_independent_steps_overlap(cloud, tmp_path):
    put_object(cloud, "code/trace.py", TRACE)
    trace = tmp_path / "trace.txt"
    steps = [
        processing("Last", "trace.py", ["Last", "0", str(trace)], DependsOn=["Left", "Right"]),
        processing("Left", "trace.py", ["Left", "0.6", str(trace)], DependsOn=["First"]),
        processing("Right", "trace.py", ["Right", "0.6", str(trace)], DependsOn=["First"]),
        processing("First", "trace.py", ["First", "0", str(trace)]),
    ]
    arn = start(cloud, steps)
    assert wait_for(cloud, arn, 60)["PipelineExecutionStatus"] == "Succeeded"
    spans = {name: (float(a), float(b)) for name, a, b in (line.split() for line in trace.read_text().splitlines())}
    assert spans["First"][1] <= min(spans["Left"][0], spans["Right"][0])
    assert max(spans["Left"][1], spans["Right"][1]) <= spans["Last"][0]
    # Left and Right ran at the same time (2 workers at least)
    assert spans["Left"][0] < spans["Right"][1] and spans["Right"][0] < spans["Left"][1]
    listed = call(cloud, "ListPipelineExecutionSteps", PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert [s["StepName"] for s in listed][0] == "Last"  # newest first, as AWS lists them
    assert {s["StepStatus"] for s in listed} == {"Succeeded"}


def test_outputs_flow_to_later_steps_and_condition_picks_a_branch(cloud):
    put_object(
        cloud,
        "code/produce.py",
        """
import json, os, sys
json.dump({"metrics": {"auc": {"value": float(sys.argv[2])}}}, open(os.path.join(sys.argv[1], 'eval.json'), 'w'))
open(os.path.join(sys.argv[3], 'rows.csv'), 'w').write('a,b\\n1,2\\n')
""",
    )
    put_object(
        cloud,
        "code/consume.py",
        """
import os, sys
rows = open(os.path.join(sys.argv[1], 'rows.csv')).read()
assert rows.startswith('a,b'), rows
open(os.path.join(sys.argv[2], 'seen.txt'), 'w').write(sys.argv[1])
""",
    )
    produce = processing(
        "Produce",
        "produce.py",
        [
            "/opt/ml/processing/report",
            {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Auc"}]}},
            "/opt/ml/processing/data",
        ],
        {
            "report": {
                "Std:Join": {
                    "On": "/",
                    "Values": [f"s3://{BUCKET}/runs", {"Get": "Execution.PipelineExecutionId"}, "report"],
                }
            },
            "data": f"s3://{BUCKET}/data",
        },
        PropertyFiles=[{"PropertyFileName": "Report", "OutputName": "report", "FilePath": "eval.json"}],
    )
    consume = processing(
        "Consume",
        "consume.py",
        ["/opt/ml/processing/input/rows", "/opt/ml/processing/out"],
        {"out": f"s3://{BUCKET}/consumed"},
    )
    consume["Arguments"]["ProcessingInputs"].append(
        {
            "InputName": "rows",
            "S3Input": {
                "S3Uri": {"Get": "Steps.Produce.ProcessingOutputConfig.Outputs['data'].S3Output.S3Uri"},
                "LocalPath": "/opt/ml/processing/input/rows",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
    )
    check = {
        "Name": "Check",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                _cond(
                    "GreaterThanOrEqualTo",
                    {
                        "Std:JsonGet": {
                            "PropertyFile": {"Get": "Steps.Produce.PropertyFiles.Report"},
                            "Path": "metrics.auc.value",
                        }
                    },
                    {"Get": "Parameters.Threshold"},
                )
            ],
            "IfSteps": [consume],
            "ElseSteps": [
                _fail("TooLow", {"Std:Join": {"On": " ", "Values": ["AUC below", {"Get": "Parameters.Threshold"}]}})
            ],
        },
    }
    params = [
        {"Name": "Auc", "Type": "Float", "DefaultValue": 0.9},
        {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.75},
    ]

    good = start(cloud, [produce, check], params)
    assert wait_for(cloud, good, 60)["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_of(cloud, good)
    assert set(steps) == {"Produce", "Check", "Consume"}  # the Else branch never ran
    assert steps["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert cloud.s3.has_object(f"s3://{BUCKET}/consumed/seen.txt")
    job_arn = steps["Produce"]["Metadata"]["ProcessingJob"]["Arn"]
    job = call(cloud, "DescribeProcessingJob", ProcessingJobName=job_arn.rsplit("/", 1)[1])
    assert job["ProcessingJobStatus"] == "Completed"
    assert (
        job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        == f"s3://{BUCKET}/runs/{execution_id(good)}/report"
    )

    low = start(cloud, [produce, check], params, {"Auc": "0.5"})
    described = wait_for(cloud, low, 60)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "AUC below 0.75"
    steps = steps_of(cloud, low)
    assert set(steps) == {"Produce", "Check", "TooLow"}
    assert steps["TooLow"]["StepStatus"] == "Failed"
    assert steps["TooLow"]["Metadata"] == {"Fail": {"ErrorMessage": "AUC below 0.75"}}


def test_a_bad_parameter_override_fails_the_execution_naming_it(cloud):
    arn = start(cloud, [_fail("Never")], [{"Name": "Epochs", "Type": "Integer", "DefaultValue": 3}], {"Epochs": "abc"})
    described = wait_for(cloud, arn, 10)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "Parameter Epochs: value 'abc' is not a valid Integer" in described["FailureReason"]
    assert steps_of(cloud, arn) == {}


def test_a_failing_script_surfaces_its_failure_file_or_stderr(cloud):
    put_object(
        cloud,
        "code/explain.py",
        """
import os
open(os.environ['SM_FAILURE_FILE'], 'w').write('column total_claim_amount is missing in claims.csv')
raise SystemExit(3)
""",
    )
    put_object(cloud, "code/crash.py", "raise ValueError('bad row 7')\n")
    arn = start(cloud, [processing("Explain", "explain.py")])
    described = wait_for(cloud, arn, 30)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "column total_claim_amount is missing in claims.csv" in described["FailureReason"]
    assert "Explain" in described["FailureReason"]
    step = steps_of(cloud, arn)["Explain"]
    assert step["FailureReason"].startswith("AlgorithmError: column total_claim_amount")
    assert "exit code: 3" in step["FailureReason"]

    arn = start(cloud, [processing("Crash", "crash.py")])
    assert "ValueError: bad row 7" in wait_for(cloud, arn, 30)["FailureReason"]
    job_name = steps_of(cloud, arn)["Crash"]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[1]
    log = cloud.config.home / "jobs" / job_name / "job.log"
    assert "ValueError: bad row 7" in log.read_text()


def test_a_job_runs_as_its_role_and_a_role_sagemaker_cannot_assume_fails_the_step(localcloud):
    """SageMaker assumes the job's RoleArn: the job's AWS calls are that role's (STS
    GetCallerIdentity: assumed-role/<role>/...), and CreateProcessingJob refuses a role that
    does not exist or does not trust sagemaker.amazonaws.com ("Could not assume role", AWS
    SageMaker API reference, CreateProcessingJob RoleArn)."""
    cloud = localcloud.cloud
    cloud.s3.create_bucket(BUCKET)
    put_object(
        cloud,
        "code/whoami.py",
        """
import boto3, sys
arn = boto3.client("sts").get_caller_identity()["Arn"]
open(sys.argv[1], "w").write(arn)
""",
    )
    whoami = processing(
        "WhoAmI", "whoami.py", ["/opt/ml/processing/out/who.txt"], outputs={"out": f"s3://{BUCKET}/who"}
    )
    # botocore's region, as the pipeline's processors set it (SageMaker sets none).
    whoami["Arguments"]["Environment"] = {"AWS_DEFAULT_REGION": cloud.config.region}
    arn = start(cloud, [whoami])
    assert wait_for(cloud, arn, 60)["PipelineExecutionStatus"] == "Succeeded"
    who = get_object(cloud, "who/who.txt")
    assert who == b"arn:aws:sts::000000000000:assumed-role/ml-gateway-sagemaker-execution/localcloud"

    stranger = "arn:aws:iam::000000000000:role/ml-gateway-gateway-lambda"  # trusts Lambda only
    step = processing("Stranger", "whoami.py")
    step["Arguments"]["RoleArn"] = stranger
    arn = start(cloud, [step], name="stranger")
    described = wait_for(cloud, arn, 30)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert f"Could not assume role {stranger}" in described["FailureReason"]


def test_retry_policy_reruns_a_job_killed_by_a_signal(cloud, tmp_path):
    marker = tmp_path / "attempts"
    put_object(
        cloud,
        "code/flaky.py",
        f"""
import os, signal
path = {str(marker)!r}
n = int(open(path).read()) + 1 if os.path.exists(path) else 1
open(path, 'w').write(str(n))
if n < 3:
    os.kill(os.getpid(), signal.SIGKILL)
""",
    )
    step = processing(
        "Flaky",
        "flaky.py",
        RetryPolicies=[
            {
                "ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"],
                "IntervalSeconds": 0,
                "BackoffRate": 2,
                "MaxAttempts": 3,
            }
        ],
    )
    arn = start(cloud, [step])
    assert wait_for(cloud, arn, 30)["PipelineExecutionStatus"] == "Succeeded"
    assert marker.read_text() == "3"
    assert steps_of(cloud, arn)["Flaky"]["AttemptCount"] == 3

    # a script's own error (exit code) is not a job fault: no retry, as on SageMaker
    marker.unlink()
    put_object(cloud, "code/flaky.py", f"open({str(marker)!r}, 'a').write('x'); raise SystemExit(1)\n")
    arn = start(cloud, [step])
    assert wait_for(cloud, arn, 30)["PipelineExecutionStatus"] == "Failed"
    assert marker.read_text() == "x"


def test_cached_step_is_reused_until_it_expires(cloud, tmp_path):
    counter = tmp_path / "runs"
    put_object(cloud, "code/count.py", f"open({str(counter)!r}, 'a').write('x')\n")
    step = processing(
        "Count",
        "count.py",
        ["--size", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Size"}]}}],
        CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"},
    )
    params = [{"Name": "Size", "Type": "Integer", "DefaultValue": 1}]
    first = start(cloud, [step], params)
    assert wait_for(cloud, first, 30)["PipelineExecutionStatus"] == "Succeeded"
    second = start(cloud, [step], params)
    assert wait_for(cloud, second, 30)["PipelineExecutionStatus"] == "Succeeded"
    assert counter.read_text() == "x"  # not run again
    cached = steps_of(cloud, second)["Count"]
    assert cached["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert cached["Metadata"] == steps_of(cloud, first)["Count"]["Metadata"]
    # different evaluated arguments → a real run
    third = start(cloud, [step], params, {"Size": "2"})
    assert wait_for(cloud, third, 30)["PipelineExecutionStatus"] == "Succeeded"
    assert counter.read_text() == "xx"
    assert "CacheHitResult" not in steps_of(cloud, third)["Count"]


def test_cache_key_counts_only_awss_attributes_for_the_step_type(cloud, tmp_path):
    """Caching uses the attributes listed in "Default cache key attributes by pipeline step
    type" (https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html): for a
    Processing step AppSpecification, Environment and ProcessingInputs. An output S3 URI that
    joins in the execution id, the instance type or the role do not count; the environment does."""
    counter = tmp_path / "runs"
    put_object(cloud, "code/count.py", f"open({str(counter)!r}, 'a').write('x')\n")
    per_execution = {
        "Std:Join": {"On": "/", "Values": [f"s3://{BUCKET}/out", {"Get": "Execution.PipelineExecutionId"}, "result"]}
    }

    def step(instance: str = "ml.m5.large", env: dict[str, str] | None = None) -> dict[str, Any]:
        raw = processing(
            "Count", "count.py", outputs={"result": per_execution}, CacheConfig={"Enabled": True, "ExpireAfter": "P30D"}
        )
        raw["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceType"] = instance
        if env is not None:
            raw["Arguments"]["Environment"] = env
        return raw

    first = start(cloud, [step()])
    assert wait_for(cloud, first, 30)["PipelineExecutionStatus"] == "Succeeded"
    second = start(cloud, [step(instance="ml.m5.xlarge")])
    assert wait_for(cloud, second, 30)["PipelineExecutionStatus"] == "Succeeded"
    assert counter.read_text() == "x"
    assert steps_of(cloud, second)["Count"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    third = start(cloud, [step(env={"MODE": "full"})])
    assert wait_for(cloud, third, 30)["PipelineExecutionStatus"] == "Succeeded"
    assert counter.read_text() == "xx" and "CacheHitResult" not in steps_of(cloud, third)["Count"]


def test_cache_key_attributes_per_step_type():
    """Same page, other step types: Training counts HyperParameters and InputDataConfig but not
    OutputDataConfig or ResourceConfig; Tuning counts only five children of
    TrainingJobDefinition; step types the page does not list (Lambda, RegisterModel) are
    never cached."""
    train = {
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_URI},
        "HyperParameters": {"eta": "0.2"},
        "InputDataConfig": [{"ChannelName": "train"}],
        "OutputDataConfig": {"S3OutputPath": "s3://b/exec-1"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    moved = {
        **train,
        "OutputDataConfig": {"S3OutputPath": "s3://b/exec-2"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2},
    }
    tuned = {**train, "HyperParameters": {"eta": "0.3"}}
    assert policies.cache_key("Training", train) == policies.cache_key("Training", moved)
    assert policies.cache_key("Training", train) != policies.cache_key("Training", tuned)
    assert policies.cache_key("Processing", train) != policies.cache_key("Training", train)
    tuning = {
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian"},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"a": "1"},
            "OutputDataConfig": {"S3OutputPath": "s3://b/1"},
        },
    }
    tuning_moved = {
        **tuning,
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"a": "1"},
            "OutputDataConfig": {"S3OutputPath": "s3://b/2"},
        },
    }
    assert policies.cache_key("Tuning", tuning) == policies.cache_key("Tuning", tuning_moved)
    assert policies.cache_key("Lambda", {"FunctionArn": "f"}) is None
    assert policies.cache_key("RegisterModel", {}) is None


def test_retry_execution_reruns_only_the_failed_step(cloud, tmp_path):
    counter = tmp_path / "prep-runs"
    put_object(cloud, "code/prep.py", f"open({str(counter)!r}, 'a').write('x')\n")
    put_object(cloud, "code/train.py", "raise SystemExit('no data yet')\n")
    steps = [processing("Prep", "prep.py"), processing("Train", "train.py", DependsOn=["Prep"])]
    arn = start(cloud, steps)
    assert wait_for(cloud, arn, 30)["PipelineExecutionStatus"] == "Failed"
    first_prep = steps_of(cloud, arn)["Prep"]

    put_object(cloud, "code/train.py", "print('trained')\n")  # the user fixes the cause
    call(cloud, "RetryPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken=token())
    described = wait_for(cloud, arn, 30)
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert "FailureReason" not in described
    steps = steps_of(cloud, arn)
    assert counter.read_text() == "x"  # Prep was not run again
    assert steps["Prep"] == first_prep
    assert steps["Train"]["StepStatus"] == "Succeeded" and steps["Train"]["AttemptCount"] == 2


def test_stop_kills_the_running_job(cloud):
    put_object(cloud, "code/slow.py", "import time; time.sleep(60)\n")
    arn = start(cloud, [processing("Slow", "slow.py"), processing("After", "slow.py", DependsOn=["Slow"])])
    deadline = time.monotonic() + 10
    while steps_of(cloud, arn).get("Slow", {}).get("StepStatus") != "Executing":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    call(cloud, "StopPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken=token())
    began = time.monotonic()
    assert wait_for(cloud, arn, 20)["PipelineExecutionStatus"] == "Stopped"
    assert time.monotonic() - began < 10
    steps = steps_of(cloud, arn)
    assert steps["Slow"]["StepStatus"] == "Stopped" and "After" not in steps
    job = steps["Slow"]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[1]
    assert call(cloud, "DescribeProcessingJob", ProcessingJobName=job)["ProcessingJobStatus"] == "Stopped"


def test_an_execution_left_running_by_a_crash_is_failed_on_restart_and_can_be_retried(tmp_path):
    home = tmp_path / "home"
    first = LocalCloud(Config(home=home, port=9))
    first.s3.create_bucket(BUCKET)
    put_object(first, "code/ok.py", "print('ok')\n")
    definition = json.dumps({"Version": "2020-12-01", "Steps": [processing("Ok", "ok.py")]})
    call(
        first,
        "CreatePipeline",
        PipelineName="p",
        PipelineDefinition=definition,
        RoleArn=ROLE,
        ClientRequestToken=token(),
    )
    # What a crash leaves behind: an execution and a step marked Executing, with nobody running them.
    store = first.pipelines
    arn = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/crashed00001"
    store.put_execution(
        {
            "PipelineArn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p",
            "PipelineExecutionArn": arn,
            "PipelineExecutionStatus": "Executing",
            "CreationTime": time.time(),
            "LastModifiedTime": time.time(),
            "_PipelineName": "p",
            "_Definition": definition,
            "_Parameters": [],
        }
    )
    # ...and its job's script, still running in its own session with nobody to wait for it.
    folder = home / "jobs" / "pipelines-crashed00001-ok-abcdefghij"
    folder.mkdir(parents=True)
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(folder)], start_new_session=True
    )
    deadline = time.monotonic() + 5
    while str(folder) not in Path(f"/proc/{orphan.pid}/cmdline").read_bytes().decode(errors="replace"):
        assert time.monotonic() < deadline, "the stand-in job process did not start"
        time.sleep(0.01)
    job_arn = "arn:aws:sagemaker:us-east-1:000000000000:processing-job/pipelines-crashed00001-ok-abcdefghij"
    first.jobs.put_job(
        "processing-job",
        folder.name,
        {
            "ProcessingJobName": folder.name,
            "ProcessingJobArn": job_arn,
            "ProcessingJobStatus": "InProgress",
            "_Pid": orphan.pid,
            "_Folder": str(folder),
        },
    )
    store.put_step(
        "crashed00001",
        {
            "StepName": "Ok",
            "StepStatus": "Executing",
            "StartTime": time.time(),
            "AttemptCount": 1,
            "Metadata": {"ProcessingJob": {"Arn": job_arn}},
        },
    )

    restarted = LocalCloud(Config(home=home, port=9))  # the next server process
    described = call(restarted, "DescribePipelineExecution", PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "localcloud restarted during execution"
    assert steps_of(restarted, arn)["Ok"]["FailureReason"] == "localcloud restarted during execution"
    assert orphan.wait(timeout=5) == -9  # the orphaned job was killed
    job = call(restarted, "DescribeProcessingJob", ProcessingJobName=folder.name)
    assert job["ProcessingJobStatus"] == "Failed"
    call(restarted, "RetryPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken=token())
    assert wait_for(restarted, arn, 30)["PipelineExecutionStatus"] == "Succeeded"


def test_training_step_runs_a_script_mode_job_and_exposes_model_artifacts(cloud):
    put_object(cloud, "data/train/rows.csv", "x,y\n1,2\n")
    put_object(
        cloud,
        "code/train.py",
        """
import argparse, json, os
p = argparse.ArgumentParser()
p.add_argument('--max_depth', type=int)
p.add_argument('--eta', type=float)
a = p.parse_args()
rows = open(os.path.join(os.environ['SM_CHANNEL_TRAIN'], 'rows.csv')).read()
assert json.loads(os.environ['SM_HPS']) == {'max_depth': 4, 'eta': 0.3}, os.environ['SM_HPS']
assert json.loads(os.environ['SM_CHANNELS']) == ['train']
json.dump({'depth': a.max_depth, 'rows': rows}, open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.json'), 'w'))
print('validation-auc: 0.87')
""",
    )
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        source = get_object(cloud, "code/train.py")
        info = tarfile.TarInfo("train.py")
        info.size = len(source)
        tar.addfile(info, io.BytesIO(source))
    put_object(cloud, "code/sourcedir.tar.gz", buffer.getvalue())
    train = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": XGBOOST_URI,
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "validation:auc", "Regex": r"validation-auc: ([0-9.]+)"}],
            },
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
            "RoleArn": ROLE,
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": f"s3://{BUCKET}/data/train",
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "ContentType": "text/csv",
                }
            ],
            "HyperParameters": {
                "max_depth": {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Depth"}]}},
                "eta": "0.3",
                "sagemaker_program": '"train.py"',
                "sagemaker_submit_directory": f'"s3://{BUCKET}/code/sourcedir.tar.gz"',
            },
        },
    }
    use = {
        "Name": "UseModel",
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": {
                "Std:Join": {"On": " ", "Values": ["model at", {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}]}
            }
        },
    }
    arn = start(cloud, [train, use], [{"Name": "Depth", "Type": "Integer", "DefaultValue": 4}])
    described = wait_for(cloud, arn, 60)
    steps = steps_of(cloud, arn)
    assert steps["Train"]["StepStatus"] == "Succeeded", steps["Train"].get("FailureReason")
    job_name = steps["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    artifact = f"s3://{BUCKET}/models/{job_name}/output/model.tar.gz"
    assert described["FailureReason"] == f"model at {artifact}"  # the Fail step read the property
    job = call(cloud, "DescribeTrainingJob", TrainingJobName=job_name)
    assert job["TrainingJobStatus"] == "Completed"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == artifact
    assert job["FinalMetricDataList"][0]["MetricName"] == "validation:auc"
    assert job["FinalMetricDataList"][0]["Value"] == pytest.approx(0.87)
    with tarfile.open(fileobj=io.BytesIO(get_object(cloud, f"models/{job_name}/output/model.tar.gz"))) as tar:
        model = json.load(tar.extractfile("model.json"))
    assert model == {"depth": 4, "rows": "x,y\n1,2\n"}


def test_definitions_are_checked_when_created(cloud):
    with pytest.raises(Exception, match="depends on unknown step 'Ghost'"):
        call(
            cloud,
            "CreatePipeline",
            PipelineName="bad",
            RoleArn=ROLE,
            ClientRequestToken=token(),
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": [{**_fail("A"), "DependsOn": ["Ghost"]}]}),
        )
    with pytest.raises(Exception, match="not valid JSON"):
        call(
            cloud,
            "CreatePipeline",
            PipelineName="bad",
            RoleArn=ROLE,
            ClientRequestToken=token(),
            PipelineDefinition="{nope",
        )


def test_concurrent_executions_keep_separate_state(cloud):
    put_object(cloud, "code/ok.py", "import time; time.sleep(0.2)\n")
    arns = [start(cloud, [processing("A", "ok.py"), processing("B", "ok.py", DependsOn=["A"])]) for _ in range(3)]
    results = {}

    def follow(arn):
        results[arn] = wait_for(cloud, arn, 60)["PipelineExecutionStatus"]

    threads = [threading.Thread(target=follow, args=(a,)) for a in arns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results.values()) == {"Succeeded"}
    for arn in arns:
        assert {s["StepStatus"] for s in steps_of(cloud, arn).values()} == {"Succeeded"}
    listed = call(cloud, "ListPipelineExecutions", PipelineName="test-pipeline")["PipelineExecutionSummaries"]
    assert [s["PipelineExecutionArn"] for s in listed] == arns[::-1]


def test_shell_entrypoint_scripts_see_the_container_paths(cloud):
    """The SDK's FrameworkProcessor ships code as sourcedir.tar.gz plus a runproc.sh that cds
    into /opt/ml/processing/input/code and runs `python3 <script> "$@"`. In a private mount
    namespace it runs in the real /opt/ml; without one, in the job folder standing in for it."""
    import io
    import tarfile

    buffer = io.BytesIO()
    script = b"import sys, os; open(os.path.join(sys.argv[1], 'done.txt'), 'w').write(os.getcwd())\n"
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("job.py")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
    put_object(cloud, "code/sourcedir.tar.gz", buffer.getvalue())
    put_object(
        cloud,
        "entry/runproc.sh",
        '#!/bin/bash\nset -e\ncd /opt/ml/processing/input/code/\ntar -xzf sourcedir.tar.gz\npython3 job.py "$@"\n',
    )
    step = processing("Framework", "sourcedir.tar.gz", ["/opt/ml/processing/out"], {"out": f"s3://{BUCKET}/fw"})
    step["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = [
        "/bin/bash",
        "/opt/ml/processing/input/entrypoint/runproc.sh",
    ]
    step["Arguments"]["ProcessingInputs"].append(
        {
            "InputName": "entrypoint",
            "S3Input": {
                "S3Uri": f"s3://{BUCKET}/entry/runproc.sh",
                "LocalPath": "/opt/ml/processing/input/entrypoint",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
    )
    arn = start(cloud, [step])
    described = wait_for(cloud, arn, 30)
    assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")
    ran_in = get_object(cloud, "fw/done.txt").decode()
    from localcloud.sagemaker.jobs.container import namespace_support

    if namespace_support() is None:
        assert ran_in == "/opt/ml/processing/input/code"
    else:
        assert ran_in.endswith("/opt/ml/processing/input/code") and ran_in.startswith(str(cloud.config.home))


def test_model_trainer_jobs_run_the_entry_script_from_the_code_channel(cloud):
    """ModelTrainer ships the script as a `code` channel plus an `sm_drivers` channel whose
    sourcecode.json names the entry script; hyperparameters arrive as --name value."""
    put_object(
        cloud,
        "train-code/train.py",
        """
import argparse, os
p = argparse.ArgumentParser()
p.add_argument('--rounds', type=int)
p.add_argument('--objective')
a = p.parse_args()
assert os.getcwd() == os.environ['SM_SOURCE_DIR']
open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.txt'), 'w').write(f'{a.rounds} {a.objective}')
""",
    )
    put_object(
        cloud,
        "drivers/sourcecode.json",
        json.dumps(
            {
                "source_dir": "/home/me/training",
                "requirements": None,
                "entry_script": "train.py",
                "command": None,
                "args": None,
                "ignore_patterns": None,
            }
        ),
    )
    put_object(cloud, "drivers/sm_train.sh", "#!/bin/bash\nexit 99\n")  # not used locally
    put_object(cloud, "data/train.csv", "a\n1\n")

    def channel(name, prefix):
        return {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{BUCKET}/{prefix}",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "InputMode": "File",
        }

    train = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": XGBOOST_URI,
                "TrainingInputMode": "File",
                "ContainerEntrypoint": ["/bin/bash"],
                "ContainerArguments": [
                    "-c",
                    "chmod +x /opt/ml/input/data/sm_drivers/sm_train.sh && /opt/ml/input/data/sm_drivers/sm_train.sh",
                ],
            },
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "RoleArn": ROLE,
            "InputDataConfig": [
                channel("train", "data"),
                channel("code", "train-code"),
                channel("sm_drivers", "drivers"),
            ],
            "HyperParameters": {"rounds": "50", "objective": "binary:logistic"},
        },
    }
    arn = start(cloud, [train])
    described = wait_for(cloud, arn, 60)
    assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")
    job = steps_of(cloud, arn)["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(get_object(cloud, f"models/{job}/output/model.tar.gz"))) as tar:
        assert tar.extractfile("model.txt").read() == b"50 binary:logistic"


_OPS = json_api("sagemaker").operations


@pytest.mark.skipif(
    "CreateModelPackage" not in _OPS or "CreateModel" not in _OPS,
    reason="the model registry and hosting operations are not in this tree yet",
)
def test_register_model_and_model_steps_call_localcloud_with_wire_validation(cloud):
    put_object(cloud, "models/model.tar.gz", "not really a tarball")
    call(cloud, "CreateModelPackageGroup", ModelPackageGroupName="fraud")
    container = {"Image": "xgboost:3", "ModelDataUrl": f"s3://{BUCKET}/models/model.tar.gz"}
    register = {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": "fraud",
            "ModelApprovalStatus": {"Get": "Parameters.Approval"},
            "InferenceSpecification": {
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        },
    }
    model = {
        "Name": "Model",
        "Type": "Model",
        "Arguments": {"ExecutionRoleArn": ROLE, "PrimaryContainer": container},
        "DependsOn": ["Register"],
    }
    report = {
        "Name": "Report",
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": {
                "Std:Join": {
                    "On": " ",
                    "Values": [{"Get": "Steps.Register.ModelPackageArn"}, {"Get": "Steps.Model.ModelName"}],
                }
            }
        },
    }
    params = [{"Name": "Approval", "Type": "String", "DefaultValue": "Approved"}]
    arn = start(cloud, [register, model, report], params)
    described = wait_for(cloud, arn, 30)
    steps = steps_of(cloud, arn)
    package_arn = steps["Register"]["Metadata"]["RegisterModel"]["Arn"]
    model_name = steps["Model"]["Metadata"]["Model"]["Arn"].rsplit("/", 1)[1]
    assert described["FailureReason"] == f"{package_arn} {model_name}"
    assert call(cloud, "DescribeModelPackage", ModelPackageName=package_arn)["ModelApprovalStatus"] == "Approved"

    # bad arguments fail the step with the wire API's own validation message
    bad = start(cloud, [register], params, {"Approval": "Maybe"})
    described = wait_for(cloud, bad, 30)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "ValidationException" in described["FailureReason"] and "Maybe" in described["FailureReason"]


def _input(name: str, uri: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": f"/opt/ml/processing/input/{name}",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
        },
    }


def test_a_processing_job_reads_and_writes_under_prefixes_that_are_also_keys(cloud):
    """S3 keys are flat strings (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html):
    the object `d` and the prefix `d/`, `p/q` and `p/q/`, a prefix with a '..' segment are all
    usable job inputs and outputs; an input whose keys cannot all be files under the job's
    LocalPath (`kk` beside `kk/x` under the prefix `k`: a file and a folder `kk`) fails the step
    naming both keys."""
    put_object(
        cloud,
        "code/list.py",
        """
import os, sys
seen = []
for top in sys.argv[1:-1]:
    for folder, _, files in sorted(os.walk(top)):
        seen += [os.path.relpath(os.path.join(folder, f), top) + "=" + open(os.path.join(folder, f)).read()
                 for f in sorted(files)]
open(os.path.join(sys.argv[-1], "seen.txt"), "w").write("\\n".join(seen))
""",
    )
    for key, body in [("d", "the d"), ("d/e/in.csv", "d/e"), ("p/q", "the pq"), ("p/q/r.csv", "pq/r"), ("k", "k")]:
        put_object(cloud, key, body)
    step = processing(
        "List",
        "list.py",
        ["/opt/ml/processing/input/d", "/opt/ml/processing/input/pq", "/opt/ml/processing/out"],
        {"out": f"s3://{BUCKET}/out/../res"},
    )
    step["Arguments"]["ProcessingInputs"] += [_input("d", f"s3://{BUCKET}/d/"), _input("pq", f"s3://{BUCKET}/p/q/")]
    described = wait_for(cloud, start(cloud, [step]), 60)
    assert described["PipelineExecutionStatus"] == "Succeeded", steps_of(cloud, described["PipelineExecutionArn"])
    assert get_object(cloud, "out/../res/seen.txt") == b"e/in.csv=d/e\nr.csv=pq/r"
    for key, body in [("d", b"the d"), ("p/q", b"the pq"), ("k", b"k")]:  # the keys beside are untouched
        assert get_object(cloud, key) == body

    put_object(cloud, "kk", "kk")
    put_object(cloud, "kk/x", "kk/x")
    clash = processing("Clash", "list.py", ["/opt/ml/processing/input/k", "/opt/ml/processing/out"])
    clash["Arguments"]["ProcessingInputs"].append(_input("k", f"s3://{BUCKET}/k"))
    described = wait_for(cloud, start(cloud, [clash], name="clash"), 60)
    assert described["PipelineExecutionStatus"] == "Failed"
    reason = steps_of(cloud, described["PipelineExecutionArn"])["Clash"]["FailureReason"]
    assert f"s3://{BUCKET}/kk and s3://{BUCKET}/kk/x cannot both be staged" in reason, reason
