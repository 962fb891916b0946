"""SageMaker's own EventBridge events (issue 25 class 7): a model package's creation and approval
change, a pipeline execution's and its steps' status changes, put on the default bus with
source "aws.sagemaker" and the detail shapes of "Events that Amazon SageMaker sends to Amazon
EventBridge" (SageMaker developer guide,
https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html),
so an approve -> deploy rule fires locally as it does on AWS."""

from __future__ import annotations

import json
import re
import time

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/PipelineRole"
SPEC = {
    "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": "s3://models/fraud/model.tar.gz"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
# A one-step pipeline that ends at once (its Fail step), the deploy pipeline's stand-in.
DEPLOY = {
    "Version": "2020-12-01",
    "Parameters": [{"Name": "Reason", "Type": "String", "DefaultValue": "deploy"}],
    "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Reason"}}}],
}
# The rule the developer guide gives for model registry approvals ("Get event notifications
# for ModelLifeCycle" / the MLOps project templates' approval rule), narrowed to one group.
APPROVED = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Package State Change"],
    "detail": {"ModelPackageGroupName": ["fraud"], "ModelApprovalStatus": ["Approved"]},
}


def _events(localcloud, detail_type: str) -> list[dict]:
    """Events of one detail type, oldest first."""
    found = [e for e in localcloud.cloud.events.list_events(500) if e["detail-type"] == detail_type]
    return list(reversed(found))


def _executions(sm, pipeline: str) -> list[dict]:
    return sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]


def test_approving_a_package_fires_the_deploy_rule(client, localcloud):
    sm, events = client("sagemaker"), client("events")
    sm.create_pipeline(PipelineName="Deploy", PipelineDefinition=json.dumps(DEPLOY), RoleArn=ROLE)
    events.put_rule(Name="on-approval", EventPattern=json.dumps(APPROVED))
    events.put_targets(
        Rule="on-approval",
        Targets=[
            {
                "Id": "deploy",
                "Arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/Deploy",
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events",
            }
        ],
    )
    sm.create_model_package_group(ModelPackageGroupName="fraud")
    arn = sm.create_model_package(
        ModelPackageGroupName="fraud",
        InferenceSpecification=SPEC,
        ModelApprovalStatus="PendingManualApproval",
        Tags=[{"Key": "team", "Value": "risk"}],
    )["ModelPackageArn"]

    [created] = _events(localcloud, "SageMaker Model Package State Change")
    assert created["source"] == "aws.sagemaker" and created["resources"] == [arn]
    detail = created["detail"]
    assert detail["ModelPackageArn"] == arn and detail["ModelPackageGroupName"] == "fraud"
    assert detail["ModelPackageVersion"] == 1 and detail["ModelPackageStatus"] == "Completed"
    assert detail["ModelApprovalStatus"] == "PendingManualApproval"
    assert detail["InferenceSpecification"] == SPEC and detail["CertifyForMarketplace"] is False
    assert detail["ModelPackageStatusDetails"] == {"ValidationStatuses": [], "ImageScanStatuses": []}
    # The guide's example: "CreationTime": "2021-02-24T17:00:14Z" (ISO strings, not epochs).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", detail["CreationTime"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", detail["LastModifiedTime"])
    assert created["matches"] == [] and _executions(sm, "Deploy") == []  # pending: no deploy

    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok")
    approved = _events(localcloud, "SageMaker Model Package State Change")[-1]
    assert approved["detail"]["ModelApprovalStatus"] == "Approved"
    assert approved["detail"]["ApprovalDescription"] == "ok"
    [execution] = _executions(sm, "Deploy")
    assert [m["outcome"] for m in approved["matches"]] == [f"started {execution['PipelineExecutionArn']}"]

    # An update that changes nothing is no state change: no event, no second deploy.
    count = len(_events(localcloud, "SageMaker Model Package State Change"))
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok")
    assert len(_events(localcloud, "SageMaker Model Package State Change")) == count
    assert len(_executions(sm, "Deploy")) == 1


def test_pipeline_execution_and_step_status_changes(client, localcloud):
    sm = client("sagemaker")
    pipeline_arn = sm.create_pipeline(PipelineName="Deploy", PipelineDefinition=json.dumps(DEPLOY), RoleArn=ROLE)[
        "PipelineArn"
    ]
    arn = sm.start_pipeline_execution(
        PipelineName="Deploy",
        PipelineExecutionDisplayName="nightly",
        PipelineExecutionDescription="a run",
        PipelineParameters=[{"Name": "Reason", "Value": "no model"}],
    )["PipelineExecutionArn"]
    deadline = time.time() + 10
    while sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Executing":
        assert time.time() < deadline
        time.sleep(0.05)

    runs = _events(localcloud, "SageMaker Model Building Pipeline Execution Status Change")
    assert [
        (e["detail"].get("previousPipelineExecutionStatus"), e["detail"]["currentPipelineExecutionStatus"])
        for e in runs
    ] == [
        (None, "Executing"),
        ("Executing", "Failed"),
    ]
    for event in runs:
        assert event["source"] == "aws.sagemaker" and event["resources"] == [pipeline_arn, arn]
        detail = event["detail"]
        assert detail["pipelineArn"] == pipeline_arn and detail["pipelineExecutionArn"] == arn
        assert detail["pipelineExecutionDisplayName"] == "nightly"
        assert detail["pipelineExecutionDescription"] == "a run"
        assert detail["executionStartTime"].endswith("Z")
    assert "executionEndTime" not in runs[0]["detail"] and runs[1]["detail"]["executionEndTime"].endswith("Z")

    steps = _events(localcloud, "SageMaker Model Building Pipeline Execution Step Status Change")
    assert [(e["detail"].get("previousStepStatus"), e["detail"]["currentStepStatus"]) for e in steps] == [
        (None, "Starting"),
        ("Starting", "Executing"),
        ("Executing", "Failed"),
    ]
    last = steps[-1]["detail"]
    assert last["stepName"] == "Stop" and last["stepType"] == "Fail"
    assert last["failureReason"] == "no model" and last["stepEndTime"].endswith("Z")
    assert last["pipelineArn"] == pipeline_arn and last["pipelineExecutionArn"] == arn
    assert steps[-1]["resources"] == [pipeline_arn, arn]


def test_endpoint_state_changes(client, localcloud):
    """ "SageMaker Endpoint State Change": the endpoint as DescribeEndpoint has it, with the
    status spelled as the guide's example spells it ("EndpointStatus": "IN_SERVICE"), times as
    epoch milliseconds ("CreationTime": 1592411992203.0) and "Tags" as a map."""
    from tests.localcloud.test_hosting import _config, _model, _model_tar, _put, _wait

    sm = client("sagemaker")
    _put(localcloud.cloud, "s3://models/m1/model.tar.gz", _model_tar(1))
    _model(sm, "m1", "s3://models/m1/model.tar.gz")
    _config(sm, "c1", [("AllTraffic", "m1", 1.0)])
    arn = sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1", Tags=[{"Key": "team", "Value": "risk"}])[
        "EndpointArn"
    ]
    _wait(sm, "ep")
    _put(localcloud.cloud, "s3://models/broken/model.tar.gz", b"not a tarball")
    _model(sm, "broken", "s3://models/broken/model.tar.gz")
    _config(sm, "c2", [("AllTraffic", "broken", 1.0)])
    sm.create_endpoint(EndpointName="bad", EndpointConfigName="c2")
    deadline = time.time() + 30
    while sm.describe_endpoint(EndpointName="bad")["EndpointStatus"] == "Creating":
        assert time.time() < deadline
        time.sleep(0.05)
    sm.delete_endpoint(EndpointName="ep")

    changes = _events(localcloud, "SageMaker Endpoint State Change")
    ep = [e for e in changes if e["detail"]["EndpointName"] == "ep"]
    assert [e["detail"]["EndpointStatus"] for e in ep] == ["CREATING", "IN_SERVICE", "DELETING"]
    served = ep[1]
    assert served["source"] == "aws.sagemaker" and served["resources"] == [arn]
    detail = served["detail"]
    assert detail["EndpointArn"] == arn and detail["EndpointConfigName"] == "c1"
    assert detail["Tags"] == {"team": "risk"}
    assert detail["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert detail["ProductionVariants"][0]["DesiredInstanceCount"] == 1
    assert isinstance(detail["CreationTime"], float) and detail["CreationTime"] > 1e12
    bad = [e["detail"] for e in changes if e["detail"]["EndpointName"] == "bad"]
    assert [d["EndpointStatus"] for d in bad] == ["CREATING", "FAILED"]
    assert bad[-1]["FailureReason"].startswith("Failed to load model")


def test_a_rule_that_feeds_itself_does_not_recurse_inside_the_call(client, localcloud):
    """A rule on a pipeline's own status changes whose target is that pipeline loops on AWS too
    (delivery is asynchronous there). Locally the event caused by a delivery is delivered after
    it, by a background thread: StartPipelineExecution answers at once instead of recursing
    until the stack runs out (it started 365 executions inside one call before)."""
    sm, events = client("sagemaker"), client("events")
    sm.create_pipeline(PipelineName="Deploy", PipelineDefinition=json.dumps(DEPLOY), RoleArn=ROLE)
    events.put_rule(
        Name="loop",
        EventPattern=json.dumps(
            {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
                "detail": {"currentPipelineExecutionStatus": ["Executing"]},
            }
        ),
    )
    events.put_targets(
        Rule="loop", Targets=[{"Id": "again", "Arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/Deploy"}]
    )
    started = time.perf_counter()
    sm.start_pipeline_execution(PipelineName="Deploy")
    assert time.perf_counter() - started < 5
    events.disable_rule(Name="loop")
    time.sleep(0.5)
    count = len(_executions(sm, "Deploy"))
    assert count < 200  # a chain at the executor's pace, not a recursion
    time.sleep(0.5)
    assert len(_executions(sm, "Deploy")) <= count + 1  # disabled: the chain stops
