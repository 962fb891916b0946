"""CreatePipeline and UpdatePipeline check the whole definition against the pipeline definition
JSON schema and refuse a bad one with ValidationException naming the JSON path at fault.

Expected values: AWS's "Pipeline definition JSON schema"
(https://aws-sagemaker-mlops.github.io/sagemaker-model-building-pipeline-definition-JSON-schema/,
the PipelineDefinition of API_CreatePipeline links it): conditions are typed objects with no
other members, step types and settings are enumerated, parameter defaults have their declared
type, CacheConfig and RetryPolicies belong to job steps only; and the SageMaker SDK's own
condition encoding (ConditionNot: {"Type": "Not", "Condition": ...}; ConditionIn: QueryValue and
Values), which the service accepts.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.test_pipelines_api import ROLE, definition

CONDITION_PATH = "$.Steps[1].Arguments.Conditions[0]"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """One localcloud (in-process API) for the refusals: none of them changes state."""
    from localcloud.cloud import LocalCloud
    from localcloud.config import Config

    return LocalCloud(Config(home=tmp_path_factory.mktemp("schema") / "mlgw", port=9))


def _with_condition(condition: dict[str, Any]) -> dict[str, Any]:
    doc = definition()
    doc["Steps"][1]["Arguments"]["Conditions"] = [condition]
    return doc


AUC = {
    "Std:JsonGet": {
        "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
        "Path": "binary_classification_metrics.auc.value",
    }
}
GTE = {"Type": "GreaterThanOrEqualTo", "LeftValue": AUC, "RightValue": {"Get": "Parameters.AucThreshold"}}


def _mutated(change) -> dict[str, Any]:
    doc = definition()
    change(doc)
    return doc


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "Not with an Expression member",
        _with_condition({"Type": "Not", "Expression": GTE}),
        CONDITION_PATH,
        "'Expression' was unexpected",
    ),
    (
        "unknown condition type",
        _with_condition({"Type": "NotEquals", "LeftValue": 1, "RightValue": 2}),
        CONDITION_PATH + ".Type",
        "'NotEquals' is not one of",
    ),
    (
        "comparison without RightValue",
        _with_condition({"Type": "Equals", "LeftValue": 1}),
        CONDITION_PATH,
        "'RightValue' is a required property",
    ),
    (
        "In as Value/In",
        _with_condition({"Type": "In", "Value": 1, "In": [1, 2]}),
        CONDITION_PATH,
        "'QueryValue' is a required property",
    ),
    (
        "Or nesting a bad condition",
        _with_condition({"Type": "Or", "Conditions": [GTE, {"Type": "Xor"}]}),
        CONDITION_PATH + ".Conditions[1].Type",
        "'Xor' is not one of",
    ),
    (
        "unknown step member",
        _mutated(lambda d: d["Steps"][0].update(Retries=3)),
        "$.Steps[0]",
        "'Retries' was unexpected",
    ),
    (
        "unknown step type",
        _mutated(lambda d: d["Steps"][0].update(Type="Sleep")),
        "$.Steps[0].Type",
        "'Sleep' is not one of",
    ),
    (
        "CacheConfig on a Condition step",
        _mutated(lambda d: d["Steps"][1].update(CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"})),
        "$.Steps[1]",
        "CacheConfig is not a setting of a Condition step",
    ),
    (
        "fractional IntervalSeconds",
        _mutated(
            lambda d: d["Steps"][0].update(
                RetryPolicies=[{"ExceptionType": ["Step.THROTTLING"], "IntervalSeconds": 0.5}]
            )
        ),
        "$.Steps[0].RetryPolicies[0].IntervalSeconds",
        "is not of type 'integer'",
    ),
    (
        "unknown retry exception type",
        _mutated(lambda d: d["Steps"][0].update(RetryPolicies=[{"ExceptionType": ["Step.TIMEOUT"]}])),
        "$.Steps[0].RetryPolicies[0].ExceptionType[0]",
        "'Step.TIMEOUT' is not one of",
    ),
    (
        "Float parameter with a string default",
        _mutated(lambda d: d["Parameters"][0].update(DefaultValue="0.9")),
        "$.Parameters[0].DefaultValue",
        "is not of type 'number'",
    ),
    (
        "step name with a trailing newline",
        _mutated(lambda d: d["Steps"][0].update(Name="Evaluate\n")),
        "$.Steps[0].Name",
        "does not match",
    ),
    (
        "malformed Get in a job's arguments",
        _mutated(lambda d: d["Steps"][0]["Arguments"]["Environment"].update(X={"Get": "Parameter.Auc"})),
        "$.Steps[0].Arguments.Environment.X.Get",
        "does not match",
    ),
    (
        "Std:Join without Values",
        _mutated(lambda d: d["Steps"][0]["Arguments"]["Environment"].update(X={"Std:Join": {"On": "/"}})),
        "$.Steps[0].Arguments.Environment.X['Std:Join']",
        "'Values' is a required property",
    ),
    ("unknown top-level member", _mutated(lambda d: d.update(Triggers=[])), "$", "'Triggers' was unexpected"),
    ("unknown Version", _mutated(lambda d: d.update(Version="2021-01-01")), "$.Version", "'2021-01-01' is not one of"),
]


@pytest.mark.parametrize("label,doc,path,reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_create_pipeline_refuses_definitions_outside_the_schema(cloud, label, doc, path, reason):
    from localcloud.errors import AwsError

    with pytest.raises(AwsError) as raised:
        cloud.client("sagemaker").call(
            "CreatePipeline",
            {
                "PipelineName": "schema-check",
                "PipelineDefinition": json.dumps(doc),
                "RoleArn": ROLE,
                "ClientRequestToken": uuid.uuid4().hex,
            },
        )
    assert raised.value.code == "ValidationException"
    assert f"at {path}:" in raised.value.message and reason in raised.value.message, raised.value.message


@pytest.mark.parametrize(
    "condition",
    [
        {"Type": "Not", "Condition": GTE},
        {
            "Type": "Or",
            "Conditions": [GTE, {"Type": "In", "QueryValue": {"Get": "Parameters.Auc"}, "Values": [0.9, 0.95]}],
        },
        {"Type": "LessThan", "LeftValue": {"Get": "Parameters.Auc"}, "RightValue": 1},
    ],
    ids=["Not", "Or-In", "LessThan"],
)
def test_sdk_condition_shapes_are_accepted(localcloud, client, condition):
    sm = client("sagemaker")
    sm.create_pipeline(
        PipelineName="ok",
        PipelineDefinition=json.dumps(_with_condition(condition)),
        RoleArn=ROLE,
        ClientRequestToken=uuid.uuid4().hex,
    )
    assert sm.describe_pipeline(PipelineName="ok")["PipelineStatus"] == "Active"


def test_update_pipeline_refuses_and_keeps_the_definition(localcloud, client):
    sm = client("sagemaker")
    good = json.dumps(definition())
    sm.create_pipeline(PipelineName="kept", PipelineDefinition=good, RoleArn=ROLE, ClientRequestToken=uuid.uuid4().hex)
    bad = copy.deepcopy(definition())
    bad["Steps"][1]["Arguments"]["Conditions"] = [{"Type": "Not", "Expression": GTE}]
    with pytest.raises(ClientError) as raised:
        sm.update_pipeline(PipelineName="kept", PipelineDefinition=json.dumps(bad))
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException" and CONDITION_PATH in error["Message"]
    assert sm.describe_pipeline(PipelineName="kept")["PipelineDefinition"] == good
