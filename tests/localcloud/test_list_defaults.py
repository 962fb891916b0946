"""List operations use AWS's documented defaults for the parameters a caller leaves out, and
refuse NextTokens they never issued.

Sources: API_ListModelPackages (ModelPackageType: "UNVERSIONED - List only unversioned models.
This is the default value if no ModelPackageType is specified"; ModelPackageGroupName "returns
only model versions that belong to the specified model group"; SortBy default CreationTime,
SortOrder default Ascending), API_ListEndpoints (MaxResults "defaults to 10", SortOrder default
Descending), API_ListModelPackageGroups (SortOrder default Ascending).
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

SPEC = {
    "Containers": [{"Image": "xgboost:1.7", "ModelDataUrl": "s3://models/m1/model.tar.gz"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
ROLE = "arn:aws:iam::000000000000:role/R"


def _names(listing: dict) -> list[str]:
    return [p["ModelPackageArn"].split("model-package/", 1)[1] for p in listing["ModelPackageSummaryList"]]


def test_list_model_packages_defaults(client):
    sm = client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="fraud")
    for _ in range(2):
        sm.create_model_package(ModelPackageGroupName="fraud", InferenceSpecification=SPEC)
    sm.create_model_package(ModelPackageName="standalone", InferenceSpecification=SPEC)

    assert _names(sm.list_model_packages()) == ["standalone"]
    assert _names(sm.list_model_packages(ModelPackageType="Versioned")) == ["fraud/1", "fraud/2"]
    assert _names(sm.list_model_packages(ModelPackageType="Both")) == ["fraud/1", "fraud/2", "standalone"]
    assert _names(sm.list_model_packages(ModelPackageGroupName="fraud")) == ["fraud/1", "fraud/2"]
    assert _names(sm.list_model_packages(ModelPackageGroupName="fraud", SortOrder="Descending")) == [
        "fraud/2",
        "fraud/1",
    ]


def test_list_endpoints_defaults_to_ten_newest_first(client, localcloud):
    import time

    from localcloud.sagemaker.models import ENDPOINT

    state = localcloud.cloud.state
    with state.transaction():  # the listing only; creating 12 real endpoints would load 12 models
        for i in range(12):
            state.put(
                ENDPOINT,
                f"ep-{i:02d}",
                {
                    "EndpointName": f"ep-{i:02d}",
                    "EndpointArn": f"arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep-{i:02d}",
                    "EndpointConfigName": "c",
                    "EndpointStatus": "InService",
                    "CreationTime": time.time() + i,
                    "LastModifiedTime": time.time() + i,
                },
            )
    sm = client("sagemaker")
    first = sm.list_endpoints()
    assert [e["EndpointName"] for e in first["Endpoints"]] == [f"ep-{i:02d}" for i in range(11, 1, -1)]
    rest = sm.list_endpoints(NextToken=first["NextToken"])
    assert [e["EndpointName"] for e in rest["Endpoints"]] == ["ep-01", "ep-00"] and "NextToken" not in rest


@pytest.mark.parametrize("token", ["-1", "+1", "1_0", "\u0661", " 1", "abc"])
def test_tokens_we_never_issued_are_refused(client, token):
    sm, events = client("sagemaker"), client("events")
    for call in (
        lambda: sm.list_model_packages(NextToken=token),
        lambda: sm.list_endpoints(NextToken=token),
        lambda: sm.list_pipelines(NextToken=token),
        lambda: events.list_rules(NextToken=token),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "ValidationException", token


@pytest.mark.parametrize(
    "service,call,kwargs,code",
    [
        # AWS answers a token it did not issue with a client error, never a 500 (issue 24 class 6).
        # CloudWatch API Reference: ListMetrics / DescribeAlarms / DescribeAlarmHistory list
        # InvalidNextToken ("The next token specified is invalid", 400).
        ("cloudwatch", "list_metrics", {}, "InvalidNextToken"),
        ("cloudwatch", "describe_alarms", {}, "InvalidNextToken"),
        ("cloudwatch", "describe_alarm_history", {}, "InvalidNextToken"),
        ("sagemaker", "list_feature_groups", {}, "ValidationException"),
        ("events", "list_rules", {}, "ValidationException"),
        # Application Auto Scaling API Reference: InvalidNextTokenException.
        (
            "application-autoscaling",
            "describe_scalable_targets",
            {"ServiceNamespace": "sagemaker"},
            "InvalidNextTokenException",
        ),
    ],
)
@pytest.mark.parametrize("token", ["not-ours", "-5", "1_0"])
def test_a_next_token_we_did_not_issue_is_a_client_error(client, service, call, kwargs, code, token):
    with pytest.raises(ClientError) as err:
        getattr(client(service), call)(NextToken=token, **kwargs)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Code"] == code


def test_a_member_sent_as_null_is_absent(localcloud):
    """AWS's JSON protocols read a null member as an absent one (SortBy null once answered 500)."""
    sm = localcloud.cloud.client("sagemaker")
    assert sm.call("ListFeatureGroups", {"SortBy": None, "SortOrder": None}) == {"FeatureGroupSummaries": []}


def test_put_metric_data_without_metric_data_is_missing_parameter(client):
    with pytest.raises(ClientError) as err:
        client("cloudwatch").put_metric_data(Namespace="App")
    assert err.value.response["Error"]["Code"] == "MissingParameter"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
