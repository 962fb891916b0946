"""Names that differ only in case are one SageMaker resource (issue 24, class 1).

SageMaker writes names lower-cased in ARNs, so `R3Fg` and `r3fg` would be two resources with
one ARN (and two feature groups with one Glue table: an Athena query over one returned the
other's rows). The second Create* is refused with the error that Create* answers for a name
that exists; Describe*/Delete* find the resource by its name in any case and answer with the
name as created. AWS: "The name is case-insensitive in CreateEndpoint, but the case is
preserved and must be matched in InvokeEndpoint"
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html#sagemaker-CreateEndpoint-request-EndpointName);
ARNs lower-case the name (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html,
e.g. arn:aws:sagemaker:us-east-1:000000000000:endpoint/my-endpoint).
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.test_featurestore import create_group, record
from tests.localcloud.test_hosting import FAST, IMAGE, ROLE, _model_tar

DEFINITION = json.dumps(
    {"Version": "2020-12-01", "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "stop"}}]}
)


def _error(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def sm(client):
    return client("sagemaker")


@pytest.fixture
def model_uri(localcloud) -> str:
    localcloud.cloud.s3.create_bucket("models")
    localcloud.cloud.s3.put_object("models", "m1/model.tar.gz", _model_tar(1))
    return "s3://models/m1/model.tar.gz"


def _create_model(sm, name: str, uri: str) -> str:
    return sm.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": uri}
    )["ModelArn"]


def _create_config(sm, name: str, model: str) -> str:
    return sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "A", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )["EndpointConfigArn"]


def test_feature_groups(client, sm):
    """CreateFeatureGroup answers ResourceInUse for a name that exists
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateFeatureGroup.html#API_CreateFeatureGroup_Errors)."""
    first = create_group(sm, "R3FgClaims")
    with pytest.raises(ClientError) as caught:
        create_group(sm, "r3fgclaims")
    code, message = _error(caught)
    assert code == "ResourceInUse" and "r3fgclaims already exists" in message
    assert [g["FeatureGroupName"] for g in sm.list_feature_groups()["FeatureGroupSummaries"]] == ["R3FgClaims"]
    # One group, found by its name in any case or its (lower-cased) ARN.
    described = sm.describe_feature_group(FeatureGroupName="R3FGCLAIMS")
    assert described["FeatureGroupName"] == "R3FgClaims" and described["FeatureGroupArn"] == first["FeatureGroupArn"]
    runtime = client("sagemaker-featurestore-runtime")
    runtime.put_record(FeatureGroupName=first["FeatureGroupArn"], Record=record("7", 1.0))
    got = runtime.get_record(FeatureGroupName="R3FgClaims", RecordIdentifierValueAsString="7")
    assert {f["FeatureName"]: f["ValueAsString"] for f in got["Record"]}["policy_id"] == "7"
    sm.delete_feature_group(FeatureGroupName="r3fgCLAIMS")
    with pytest.raises(ClientError) as caught:
        sm.describe_feature_group(FeatureGroupName="R3FgClaims")
    assert _error(caught)[0] == "ResourceNotFound"
    create_group(sm, "r3fgclaims")  # the name is free again, in any case


def test_model_package_groups(sm):
    """CreateModelPackageGroup's refusal of an existing name is the ValidationException
    "Model Package Group already exists" (the message SageMaker answers; the API reference
    lists no other error: API_CreateModelPackageGroup.html#API_CreateModelPackageGroup_Errors)."""
    arn = sm.create_model_package_group(ModelPackageGroupName="R3Group")["ModelPackageGroupArn"]
    with pytest.raises(ClientError) as caught:
        sm.create_model_package_group(ModelPackageGroupName="r3group")
    code, message = _error(caught)
    assert code == "ValidationException" and message == f"Model Package Group already exists: {arn}"
    assert [g["ModelPackageGroupName"] for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]] == [
        "R3Group"
    ]
    assert sm.describe_model_package_group(ModelPackageGroupName="r3GROUP")["ModelPackageGroupName"] == "R3Group"
    sm.delete_model_package_group(ModelPackageGroupName="r3group")
    assert sm.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_pipelines(sm):
    """CreatePipeline refuses a name that exists with a ValidationException ("Pipeline names
    must be unique within an AWS account and region", the wording the SageMaker Python SDK's
    upsert() matches: aws/sagemaker-python-sdk#6256)."""
    arn = sm.create_pipeline(PipelineName="R3Pipe", PipelineDefinition=DEFINITION, RoleArn=ROLE)["PipelineArn"]
    with pytest.raises(ClientError) as caught:
        sm.create_pipeline(PipelineName="r3pipe", PipelineDefinition=DEFINITION, RoleArn=ROLE)
    code, message = _error(caught)
    assert code == "ValidationException" and "must be unique" in message
    assert [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]] == ["R3Pipe"]
    described = sm.describe_pipeline(PipelineName="R3PIPE")
    assert described["PipelineName"] == "R3Pipe" and described["PipelineArn"] == arn
    sm.delete_pipeline(PipelineName="r3pipe", ClientRequestToken="delete-r3pipe-token-000000000000")
    assert sm.list_pipelines()["PipelineSummaries"] == []


def test_models(sm, model_uri):
    """CreateModel: ValidationException "Cannot create already existing model"."""
    arn = _create_model(sm, "R3Model", model_uri)
    with pytest.raises(ClientError) as caught:
        _create_model(sm, "r3model", model_uri)
    assert _error(caught) == ("ValidationException", f'Cannot create already existing model "{arn}".')
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["R3Model"]
    assert sm.describe_model(ModelName="r3MODEL")["ModelName"] == "R3Model"
    sm.delete_model(ModelName="r3model")
    assert sm.list_models()["Models"] == []


def test_endpoint_configs(sm, model_uri):
    """CreateEndpointConfig: ValidationException "Cannot create already existing endpoint
    configuration"; a variant may name its model in any case."""
    _create_model(sm, "R3Model", model_uri)
    arn = _create_config(sm, "R3Config", "R3Model")
    with pytest.raises(ClientError) as caught:
        _create_config(sm, "r3config", "r3model")
    assert _error(caught) == (
        "ValidationException",
        f'Cannot create already existing endpoint configuration "{arn}".',
    )
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == ["R3Config"]
    assert sm.describe_endpoint_config(EndpointConfigName="r3config")["EndpointConfigName"] == "R3Config"
    sm.delete_endpoint_config(EndpointConfigName="R3CONFIG")
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []


def test_endpoints(client, sm, model_uri):
    """CreateEndpoint: ValidationException "Cannot create already existing endpoint". The name
    is case-insensitive in CreateEndpoint (and Describe/Update/Delete find it in any case), but
    InvokeEndpoint must match its case (API_CreateEndpoint, EndpointName)."""
    _create_model(sm, "R3Model", model_uri)
    _create_config(sm, "R3Config", "r3model")
    arn = sm.create_endpoint(EndpointName="R3Endpoint", EndpointConfigName="r3config")["EndpointArn"]
    with pytest.raises(ClientError) as caught:
        sm.create_endpoint(EndpointName="r3endpoint", EndpointConfigName="R3Config")
    assert _error(caught) == ("ValidationException", f'Cannot create already existing endpoint "{arn}".')
    sm.get_waiter("endpoint_in_service").wait(EndpointName="r3endpoint", WaiterConfig=FAST)
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["R3Endpoint"]
    described = sm.describe_endpoint(EndpointName="R3ENDPOINT")
    assert (described["EndpointName"], described["EndpointStatus"]) == ("R3Endpoint", "InService")

    runtime = client("sagemaker-runtime")
    body = json.dumps({"instances": [{"customer_age": 30, "num_injuries": 0, "total_claim_amount": 1.0}]})
    out = runtime.invoke_endpoint(EndpointName="R3Endpoint", ContentType="application/json", Body=body)
    assert json.loads(out["Body"].read())["predictions"]
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="r3endpoint", ContentType="application/json", Body=body)
    assert _error(caught)[0] == "ValidationError"

    # An update by another case updates the one endpoint, which goes on serving under its name.
    _create_config(sm, "R3Config2", "R3Model")
    sm.update_endpoint(EndpointName="r3endpoint", EndpointConfigName="R3Config2")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="R3Endpoint", WaiterConfig=FAST)
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["R3Endpoint"]
    assert sm.describe_endpoint(EndpointName="R3Endpoint")["EndpointConfigName"] == "R3Config2"
    out = runtime.invoke_endpoint(EndpointName="R3Endpoint", ContentType="application/json", Body=body)
    assert out["InvokedProductionVariant"] == "A"

    sm.delete_endpoint(EndpointName="r3ENDPOINT")
    assert sm.list_endpoints()["Endpoints"] == []
