"""Model registry, hosting and InvokeEndpoint against a real localcloud server, through boto3."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time

import boto3
import numpy as np
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import start_server

FEATURES = ["customer_age", "num_injuries", "total_claim_amount", "num_witnesses"]
ROLE = "arn:aws:iam::000000000000:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
FAST = {"Delay": 0.1, "MaxAttempts": 200}


def _model_tar(seed: int, flip: bool = False) -> bytes:
    """A tiny xgboost model (200 rows, 4 features) packed as SageMaker's model.tar.gz."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, len(FEATURES)))
    y = ((x[:, 2] > 0) != flip).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgb.DMatrix(x, label=y, feature_names=FEATURES),
        num_boost_round=5,
    )
    raw = bytes(booster.save_raw("json"))
    meta = json.dumps({"features": FEATURES, "label": "fraud"}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (("xgboost-model", raw), ("features.json", meta)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _put(cloud, uri: str, data: bytes) -> None:
    """Store an object through localcloud's S3 backend (its bucket created if needed)."""
    bucket, key = cloud.s3.split_uri(uri)
    cloud.s3.create_bucket(bucket)
    cloud.s3.put_object(bucket, key, data)


def _captured(cloud, uri: str) -> list[dict]:
    """Every captured record under an s3:// prefix, in key order."""
    bucket, prefix = cloud.s3.split_uri(uri)
    keys = [k for k in cloud.s3.list_keys(bucket, prefix) if k.endswith(".jsonl")]
    return [json.loads(line) for k in keys for line in cloud.s3.read_bytes(f"s3://{bucket}/{k}").splitlines()]


def _clients(url: str):
    make = lambda service: boto3.client(  # noqa: E731
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(retries={"max_attempts": 1}),
    )
    return make("sagemaker"), make("sagemaker-runtime")


def _model(sm, name: str, uri: str, mode: str = "SingleModel") -> None:
    sm.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": uri, "Mode": mode}
    )


def _config(sm, name: str, variants: list[tuple[str, str, float]], **extra) -> None:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": v,
                "ModelName": m,
                "InitialVariantWeight": w,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
            for v, m, w in variants
        ],
        **extra,
    )


def _wait(sm, endpoint: str) -> dict:
    sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=FAST)
    return sm.describe_endpoint(EndpointName=endpoint)


def _scores(response) -> list[float]:
    return [p["score"] for p in json.loads(response["Body"].read())["predictions"]]


def _code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def stack(localcloud):
    cloud = localcloud.cloud
    _put(cloud, "s3://models/m1/model.tar.gz", _model_tar(1))
    _put(cloud, "s3://models/m2/model.tar.gz", _model_tar(2, flip=True))
    _put(cloud, "s3://models/multi/a.tar.gz", _model_tar(3))
    _put(cloud, "s3://models/multi/b.tar.gz", _model_tar(4, flip=True))
    cloud.s3.create_bucket("capture")
    sm, rt = _clients(localcloud.url)
    return localcloud, sm, rt


def test_registry(stack):
    _, sm, _ = stack
    sm.create_model_package_group(ModelPackageGroupName="fraud-models")
    spec = {
        "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://models/m1/model.tar.gz"}],
        "SupportedContentTypes": ["text/csv", "application/json"],
        "SupportedResponseMIMETypes": ["application/json"],
        "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
    }
    arns = [
        sm.create_model_package(
            ModelPackageGroupName="fraud-models",
            InferenceSpecification=spec,
            CustomerMetadataProperties={"run": str(i)},
        )["ModelPackageArn"]
        for i in range(2)
    ]
    assert arns[1].endswith(":model-package/fraud-models/2")
    described = sm.describe_model_package(ModelPackageName=arns[0])
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelPackageStatus"] == "Completed" and described["ModelPackageVersion"] == 1
    sm.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Approved", ApprovalDescription="ok")
    approved = sm.list_model_packages(ModelPackageGroupName="fraud-models", ModelApprovalStatus="Approved")
    assert [p["ModelPackageArn"] for p in approved["ModelPackageSummaryList"]] == [arns[1]]
    newest = sm.list_model_packages(ModelPackageGroupName="fraud-models", SortOrder="Descending", MaxResults=1)
    assert newest["ModelPackageSummaryList"][0]["ModelPackageVersion"] == 2 and "NextToken" in newest
    with pytest.raises(ClientError):
        sm.create_model_package(ModelPackageGroupName="missing", InferenceSpecification=spec)
    # A model from a package resolves the package's container.
    sm.create_model(ModelName="from-package", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": arns[1]})
    assert sm.describe_model(ModelName="from-package")["PrimaryContainer"]["ModelPackageName"] == arns[1]


def test_endpoint_lifecycle_and_invoke(stack):
    server, sm, rt = stack
    _model(sm, "m1", "s3://models/m1/model.tar.gz")
    _model(sm, "m2", "s3://models/m2/model.tar.gz")
    with pytest.raises(ClientError, match="Could not find model"):
        _config(sm, "bad", [("A", "nope", 1.0)])
    _config(
        sm,
        "c1",
        [("A", "m1", 1.0), ("B", "m2", 0.0)],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://capture/dc",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    described = _wait(sm, "ep")
    assert described["EndpointStatus"] == "InService"
    assert {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]} == {"A": 1.0, "B": 0.0}
    assert described["DataCaptureConfig"]["CaptureStatus"] == "Started"

    record = {"customer_age": 40, "num_injuries": 1, "total_claim_amount": 2.0, "num_witnesses": 0}
    out = rt.invoke_endpoint(
        EndpointName="ep",
        ContentType="application/json",
        Body=json.dumps({"instances": [record, {"customer_age": 30}]}),
    )
    scores = _scores(out)
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    assert out["InvokedProductionVariant"] == "A"
    csv = rt.invoke_endpoint(
        EndpointName="ep", ContentType="text/csv", Accept="text/csv", Body="40,1,2.0,0\n30,,-2,1\n"
    )
    assert len(csv["Body"].read().decode().split()) == 2 and csv["ContentType"] == "text/csv"
    assert {rt.invoke_endpoint(EndpointName="ep", Body="1,2,3,4")["InvokedProductionVariant"] for _ in range(20)} == {
        "A"
    }
    targeted = rt.invoke_endpoint(EndpointName="ep", Body="1,2,3,4", TargetVariant="B")
    assert targeted["InvokedProductionVariant"] == "B"
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="ep", Body="1,2,3,4", TargetVariant="C")
    assert _code(err) == "ValidationError"

    sm.update_endpoint_weights_and_capacities(
        EndpointName="ep",
        DesiredWeightsAndCapacities=[
            {"VariantName": "A", "DesiredWeight": 0.0},
            {"VariantName": "B", "DesiredWeight": 1.0},
        ],
    )
    assert {rt.invoke_endpoint(EndpointName="ep", Body="1,2,3,4")["InvokedProductionVariant"] for _ in range(20)} == {
        "B"
    }
    _wait(sm, "ep")

    # Errors: unknown endpoint, bad JSON, too large — and the server keeps serving.
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="nope", Body="1,2,3,4")
    assert _code(err) == "ValidationError" and "not found" in str(err.value)
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="ep", ContentType="application/json", Body="{not json")
    assert _code(err) == "ModelError" and err.value.response["OriginalStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="ep", Body=b"0" * (6 * 1024 * 1024 + 1))
    assert _code(err) == "ValidationError"
    assert rt.invoke_endpoint(EndpointName="ep", Body="1,2,3,4")["ResponseMetadata"]["HTTPStatusCode"] == 200

    lines = _captured(server.cloud, "s3://capture/dc/ep/")
    assert lines and lines[0]["captureData"]["endpointInput"]["mode"] == "INPUT"
    assert {line["captureData"]["endpointInput"]["encoding"] for line in lines} >= {"CSV", "JSON"}
    assert server.cloud.sagemaker.stats("ep")["A"]["invocations"] >= 20

    # UpdateEndpoint while a client invokes continuously: no request fails.
    _config(sm, "c2", [("C", "m2", 1.0)])
    failures, served, stop = [], set(), threading.Event()

    def hammer() -> None:
        _, client = _clients(server.url)
        while not stop.is_set():
            try:
                served.add(client.invoke_endpoint(EndpointName="ep", Body="1,2,3,4")["InvokedProductionVariant"])
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        time.sleep(0.2)
        sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
        described = _wait(sm, "ep")
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert not failures and described["EndpointConfigName"] == "c2" and "C" in served

    # A config whose model cannot load: the endpoint stays on the old config, with a reason.
    _model(sm, "broken", "s3://models/m1/model.tar.gz")
    _put(server.cloud, "s3://models/m1/model.tar.gz", b"not a tarball")
    _config(sm, "c3", [("D", "broken", 1.0)])
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c3")
    described = _wait(sm, "ep")
    assert described["EndpointConfigName"] == "c2" and "FailureReason" in described
    assert rt.invoke_endpoint(EndpointName="ep", Body="1,2,3,4")["InvokedProductionVariant"] == "C"
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["ep"]
    sm.delete_endpoint(EndpointName="ep")
    with pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName="ep")


def test_multi_model_endpoint(stack):
    _, sm, rt = stack
    _model(sm, "mme", "s3://models/multi/", mode="MultiModel")
    _config(sm, "mme", [("AllTraffic", "mme", 1.0)])
    sm.create_endpoint(EndpointName="mme", EndpointConfigName="mme")
    _wait(sm, "mme")
    a = _scores(
        rt.invoke_endpoint(EndpointName="mme", TargetModel="a.tar.gz", Accept="application/json", Body="0,0,3,0")
    )
    b = _scores(
        rt.invoke_endpoint(EndpointName="mme", TargetModel="b.tar.gz", Accept="application/json", Body="0,0,3,0")
    )
    assert a[0] > 0.5 > b[0]  # b was trained on flipped labels
    for bad in ("../x.tar.gz", "/etc/passwd"):
        with pytest.raises(ClientError) as err:
            rt.invoke_endpoint(EndpointName="mme", TargetModel=bad, Body="0,0,3,0")
        assert _code(err) == "ValidationError"
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="mme", Body="0,0,3,0")
    assert _code(err) == "ValidationError"


def test_target_model_errors_carry_sagemakers_texts(stack):
    """InvokeEndpoint's TargetModel refusals in SageMaker's words: on a single-model endpoint
    "Endpoint <name> is not a multi-model endpoint and does not support target model header."
    (aws/amazon-sagemaker-examples#1026 and #1216, as AWS answered), and on a multi-model
    endpoint without one "Request <request id> is missing a target model header."
    (aws/sagemaker-tensorflow-serving-container#166), naming the request's own id."""
    _, sm, rt = stack
    _model(sm, "single", "s3://models/m1/model.tar.gz")
    _config(sm, "single", [("AllTraffic", "single", 1.0)])
    sm.create_endpoint(EndpointName="single", EndpointConfigName="single")
    _model(sm, "mme", "s3://models/multi/", mode="MultiModel")
    _config(sm, "mme", [("AllTraffic", "mme", 1.0)])
    sm.create_endpoint(EndpointName="mme", EndpointConfigName="mme")
    _wait(sm, "single")
    _wait(sm, "mme")
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="single", TargetModel="a.tar.gz", ContentType="text/csv", Body="1,2,3,4")
    assert _code(err) == "ValidationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Message"] == (
        "Endpoint single is not a multi-model endpoint and does not support target model header."
    )
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="mme", ContentType="text/csv", Body="1,2,3,4")
    assert _code(err) == "ValidationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    request_id = err.value.response["ResponseMetadata"]["RequestId"]
    assert request_id
    assert err.value.response["Error"]["Message"] == f"Request {request_id} is missing a target model header."


def test_single_model_refuses_target_model_and_survives_restart(tmp_path):
    home = tmp_path / "home"
    server = start_server(home)
    try:
        _put(server.cloud, "s3://models/m1/model.tar.gz", _model_tar(1))
        sm, rt = _clients(server.url)
        _model(sm, "m1", "s3://models/m1/model.tar.gz")
        _config(sm, "c1", [("A", "m1", 1.0)])
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
        _wait(sm, "ep")
        with pytest.raises(ClientError) as err:
            rt.invoke_endpoint(EndpointName="ep", TargetModel="a.tar.gz", Body="1,2,3,4")
        assert _code(err) == "ValidationError"
    finally:
        server.stop()
    server = start_server(home)
    try:
        sm, rt = _clients(server.url)
        assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
        out = rt.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body="1,2,3,4")
        assert 0 <= _scores(out)[0] <= 1
    finally:
        server.stop()


def test_data_capture_records_the_inference_id(stack):
    """InvokeEndpoint's InferenceId "is added to the captured data when you enable data
    capture" (API_runtime_InvokeEndpoint); SageMaker writes it as eventMetadata.inferenceId
    ("Capture data from real-time endpoint", model-monitor-data-capture-endpoint.html). Its
    constraints: length 1-64, pattern \\A\\S[\\p{Print}]*\\z."""
    server, sm, rt = stack
    _model(sm, "m1", "s3://models/m1/model.tar.gz")
    _config(
        sm,
        "cap",
        [("A", "m1", 1.0)],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://capture/ids",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint(EndpointName="cap-ep", EndpointConfigName="cap")
    _wait(sm, "cap-ep")
    ids = ["policy-17", "req 2 retry", "x" * 64]
    for inference_id in ids:
        rt.invoke_endpoint(EndpointName="cap-ep", Body="1,2,3,4", InferenceId=inference_id)
    rt.invoke_endpoint(EndpointName="cap-ep", Body="1,2,3,4")  # none given: none recorded
    for bad in ("tab\tinside", "x" * 65):
        with pytest.raises(ClientError) as err:
            rt.invoke_endpoint(EndpointName="cap-ep", Body="1,2,3,4", InferenceId=bad)
        assert _code(err) == "ValidationError", bad
    records = _captured(server.cloud, "s3://capture/ids/cap-ep/")
    assert [r["eventMetadata"].get("inferenceId") for r in records] == ids + [None]
    assert all(set(r["eventMetadata"]) >= {"eventId", "inferenceTime"} for r in records)
