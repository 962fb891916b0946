"""Endpoint instances as processes behind SageMaker's container contract, end to end through
botocore: each instance of a variant is a serving process of the XGBoost 1.7-1 image's
environment (Python 3.9, sagemaker-containers' Transformer and Worker under gunicorn), routed
by least outstanding requests; a request the model refuses gets the runtime's ModelError with
the container's status; instances follow DesiredInstanceCount and go with the endpoint."""

from __future__ import annotations

import concurrent.futures
import json
import time

import psutil
import pytest
from botocore.exceptions import ClientError

from benchmarks.invoke import model_tar_1_7, serving_code_archive
from localcloud.sagemaker.hosting.instances import INSTANCE, serving_python
from mlgw.commands.endpoint import _instance_lines
from tests.conftest import start_server
from tests.localcloud.test_hosting import IMAGE, ROLE, _captured, _clients, _put

CODE_URI = "s3://models/code/sourcedir.tar.gz"
MODEL_URI = "s3://models/m17/model.tar.gz"

SLOW = pytest.mark.slow  # starts Python 3.9 serving processes (a few seconds each)


@pytest.fixture(scope="module")
def model_tar() -> bytes:
    """A small booster trained and saved by the serving image's own xgboost (1.7)."""
    return model_tar_1_7(serving_python(IMAGE))


def _deploy(localcloud, model_tar: bytes, name: str, count: int, program: str = "serving.py", **config):
    cloud = localcloud.cloud
    _put(cloud, MODEL_URI, model_tar)
    _put(cloud, CODE_URI, serving_code_archive())
    sm, rt = _clients(localcloud.url)
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": MODEL_URI,
            "Environment": {"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": CODE_URI},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
                "ContainerStartupHealthCheckTimeoutInSeconds": 60,
            }
        ],
        **config,
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return sm, rt


def _wait_status(sm, name: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = sm.describe_endpoint(EndpointName=name)
        if doc["EndpointStatus"] not in ("Creating", "Updating"):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"{name} still {doc['EndpointStatus']}")


def _until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _serving_pids(cloud, endpoint: str) -> set[int]:
    return {i.proc.pid for i in cloud.sagemaker.hosting.live(endpoint) if psutil.pid_exists(i.proc.pid)}


@SLOW
def test_instances_are_processes_routed_scaled_and_stopped(localcloud, model_tar):
    cloud = localcloud.cloud
    cloud.s3.create_bucket("capture")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://capture/dc",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    sm, rt = _deploy(localcloud, model_tar, "fraud", 2, DataCaptureConfig=capture)
    assert _wait_status(sm, "fraud")["EndpointStatus"] == "InService"

    # InitialInstanceCount=2: two live serving processes, each its own gunicorn on the 1.7 image.
    instances = cloud.sagemaker.hosting.live("fraud")
    assert len(instances) == 2 and len(_serving_pids(cloud, "fraud")) == 2
    root = psutil.Process(instances[0].proc.pid)
    tree = [root, *root.children(recursive=True)]
    assert any("gunicorn" in " ".join(p.cmdline()) for p in tree)
    assert {i.python_version.rsplit(".", 1)[0] for i in instances} == {"3.9"}
    assert {i.xgboost_version.split(".")[0] for i in instances} == {"1"}
    records = cloud.state.list(INSTANCE)
    assert sorted(r["Pid"] for r in records) == sorted(i.proc.pid for i in instances)

    # Least outstanding requests: 16 concurrent requests are spread over both instances.
    body = json.dumps({"instances": [{"customer_age": 40, "num_injuries": 1, "total_claim_amount": 9.0}]})

    def invoke(_):
        answer = rt.invoke_endpoint(EndpointName="fraud", Body=body, ContentType="application/json")
        return json.loads(answer["Body"].read())["predictions"][0]["score"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        scores = list(pool.map(invoke, range(64)))
    assert len(set(scores)) == 1 and 0.0 < scores[0] < 1.0
    assert all(i.served > 0 for i in instances), [i.served for i in instances]
    assert sum(i.served for i in instances) == 64
    # Data capture records what each instance answered.
    captured = _captured(cloud, "s3://capture/dc/fraud/")
    assert len(captured) == 64
    output = captured[0]["captureData"]["endpointOutput"]
    assert json.loads(output["data"])["predictions"][0]["score"] == scores[0]
    # `mlgw endpoint describe` lists each instance from localcloud's records.
    cloud.sagemaker.hosting.save_served()
    lines = _instance_lines(cloud.config, "fraud", "AllTraffic")
    assert len(lines) == 2
    assert all(f"image {IMAGE}" in line and "Python 3.9." in line and "xgboost 1.7" in line for line in lines)
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == 64

    # A bad request: the container answers 400 with serving.py's message, the runtime ModelError 424.
    with pytest.raises(ClientError) as error:
        rt.invoke_endpoint(EndpointName="fraud", Body=b"{not json", ContentType="application/json")
    response = error.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert response["OriginalMessage"].startswith("The request body is not valid JSON")
    assert response["LogStreamArn"].endswith("log-group:/aws/sagemaker/Endpoints/fraud")
    with pytest.raises(ClientError) as error:
        rt.invoke_endpoint(EndpointName="fraud", Body=b"1,2", ContentType="application/x-parquet")
    assert error.value.response["OriginalStatusCode"] == 415

    # Per-instance metrics: OverheadLatency with the invocation metrics, CPU and memory per variant.
    assert cloud.sagemaker.publish_invocation_metrics(time.time(), force=True) > 0
    cw = localcloud_client(localcloud, "cloudwatch")
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SageMaker")["Metrics"]}
    assert {"Invocations", "InvocationsPerInstance", "ModelLatency", "OverheadLatency", "Invocation4XXErrors"} <= names
    usage = cw.list_metrics(Namespace="/aws/sagemaker/Endpoints")["Metrics"]
    assert {m["MetricName"] for m in usage} == {"CPUUtilization", "MemoryUtilization"}
    assert all({d["Name"] for d in m["Dimensions"]} == {"EndpointName", "VariantName"} for m in usage)

    # DesiredInstanceCount=1 leaves one process.
    old = _serving_pids(cloud, "fraud")
    sm.update_endpoint_weights_and_capacities(
        EndpointName="fraud", DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 1}]
    )
    doc = _wait_status(sm, "fraud")
    assert doc["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    _until(lambda: sum(psutil.pid_exists(p) for p in old) == 1)
    _until(lambda: len(cloud.state.list(INSTANCE)) == 1)
    assert invoke(0) == scores[0]

    # DeleteEndpoint leaves none.
    sm.delete_endpoint(EndpointName="fraud")
    _until(lambda: not any(psutil.pid_exists(p) for p in old))
    _until(lambda: not cloud.state.list(INSTANCE))


@SLOW
def test_an_instance_that_never_answers_ping_fails_the_endpoint(localcloud, model_tar):
    sm, _ = _deploy(localcloud, model_tar, "broken", 1, program="missing_module.py")
    doc = _wait_status(sm, "broken")
    assert doc["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in doc["FailureReason"] or "exited" in doc["FailureReason"]
    assert not localcloud.cloud.sagemaker.hosting.live("broken")


def localcloud_client(localcloud, service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=localcloud.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@SLOW
def test_a_restart_kills_orphans_and_brings_instances_back(tmp_path, model_tar):
    home = tmp_path / "mlgw"
    first = start_server(home)
    try:
        sm, _ = _deploy(first, model_tar, "fraud", 1)
        assert _wait_status(sm, "fraud")["EndpointStatus"] == "InService"
        orphans = {i.proc.pid for i in first.cloud.sagemaker.hosting.live("fraud")}
        assert len(orphans) == 1
        first.cloud.sagemaker.hosting._live.clear()  # a crash: nothing stops the instance
    finally:
        first.stop()
    assert all(psutil.pid_exists(p) for p in orphans)

    second = start_server(home)
    try:
        assert second.cloud.sagemaker.warm() == ["fraud"]  # what the daemon does at start
        _until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in orphans))
        _, rt = _clients(second.url)
        answer = rt.invoke_endpoint(EndpointName="fraud", Body=b"40,1,9.0,0", ContentType="text/csv", Accept="text/csv")
        assert 0.0 < float(answer["Body"].read().decode()) < 1.0
        back = second.cloud.sagemaker.hosting.live("fraud")
        assert len(back) == 1 and back[0].proc.pid not in orphans
        assert [r["Pid"] for r in second.cloud.state.list(INSTANCE)] == [back[0].proc.pid]
    finally:
        second.stop()
    _until(lambda: not psutil.pid_exists(back[0].proc.pid) or psutil.Process(back[0].proc.pid).status() == "zombie")


def test_the_entry_point_is_python_3_9_code_importing_only_the_images_libraries():
    """container_entry.py runs in the serving image: Python 3.9 syntax, and nothing of this
    checkout (localcloud, mlgw, job code) among its imports."""
    import ast

    from localcloud.sagemaker.hosting.instances import ENTRY

    tree = ast.parse(ENTRY.read_text(), feature_version=(3, 9))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= {"__future__", "importlib", "logging", "os", "sys", "sagemaker_containers"}, imported


@SLOW
def test_update_endpoint_brings_the_new_fleet_up_before_the_old_retires(localcloud, model_tar):
    cloud = localcloud.cloud
    sm, rt = _deploy(localcloud, model_tar, "fraud", 1)
    assert _wait_status(sm, "fraud")["EndpointStatus"] == "InService"
    old = _serving_pids(cloud, "fraud")
    sm.create_endpoint_config(
        EndpointConfigName="fraud-v2",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "fraud",
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.update_endpoint(EndpointName="fraud", EndpointConfigName="fraud-v2")
    failures, answered = [], 0
    while sm.describe_endpoint(EndpointName="fraud")["EndpointStatus"] == "Updating":
        try:  # every request during the update is answered, by the old fleet until the new one serves
            rt.invoke_endpoint(EndpointName="fraud", Body=b"40,1,9.0,0", ContentType="text/csv", Accept="text/csv")
            answered += 1
        except ClientError as exc:
            failures.append(exc.response["Error"])
        assert all(psutil.pid_exists(p) for p in old) or len(_serving_pids(cloud, "fraud") - old) == 2
    assert not failures and answered > 0
    assert sm.describe_endpoint(EndpointName="fraud")["EndpointStatus"] == "InService"
    new = _serving_pids(cloud, "fraud") - old
    assert len(new) == 2
    _until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in old))


def test_an_endpoint_whose_image_localcloud_cannot_run_fails_naming_it(localcloud):
    """SageMaker fails CreateEndpoint for an image it cannot pull; locally, one with no definition."""
    cloud = localcloud.cloud
    _put(cloud, MODEL_URI, b"not read: the image fails first")
    sm, _ = _clients(localcloud.url)
    image = "000000000000.dkr.ecr.us-east-1.amazonaws.com/no-such-image:1"
    sm.create_model(
        ModelName="m",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": MODEL_URI,
            "Environment": {"SAGEMAKER_PROGRAM": "serving.py"},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="m",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sm.create_endpoint(EndpointName="m", EndpointConfigName="m")
    doc = _wait_status(sm, "m")
    assert doc["EndpointStatus"] == "Failed"
    assert image in doc["FailureReason"]


@SLOW
def test_an_instance_that_dies_is_replaced(localcloud, model_tar):
    """SageMaker replaces an instance that fails; here the server's clock finds the process
    gone within a second, takes it out of the rotation and starts another."""
    import os
    import signal

    cloud = localcloud.cloud
    sm, rt = _deploy(localcloud, model_tar, "fraud", 2)
    assert _wait_status(sm, "fraud")["EndpointStatus"] == "InService"
    victim, survivor = cloud.sagemaker.hosting.live("fraud")
    os.killpg(victim.proc.pid, signal.SIGKILL)
    _until(lambda: len(_serving_pids(cloud, "fraud") - {survivor.proc.pid, victim.proc.pid}) == 1, timeout=60)
    live = cloud.sagemaker.hosting.live("fraud")
    assert len(live) == 2 and victim.proc.pid not in {i.proc.pid for i in live}
    for _ in range(8):  # both instances answer
        rt.invoke_endpoint(EndpointName="fraud", Body=b"40,1,9.0,0", ContentType="text/csv", Accept="text/csv")
    _until(lambda: len(cloud.state.list(INSTANCE)) == 2)


@SLOW
def test_a_container_that_does_not_answer_in_time_gets_the_runtimes_timeout(localcloud, model_tar, monkeypatch):
    """InvokeEndpoint waits 60 s for the container; then ModelError with OriginalStatusCode 0
    and the runtime's text (here the wait is shortened so the test does not take a minute)."""
    from localcloud.sagemaker.hosting import instances

    monkeypatch.setattr(instances, "INVOKE_TIMEOUT", 0.0005)
    sm, rt = _deploy(localcloud, model_tar, "fraud", 1)
    assert _wait_status(sm, "fraud")["EndpointStatus"] == "InService"
    with pytest.raises(ClientError) as error:
        rt.invoke_endpoint(EndpointName="fraud", Body=b"40,1,9.0,0", ContentType="text/csv")
    response = error.value.response
    assert response["Error"]["Code"] == "ModelError" and response["OriginalStatusCode"] == 0
    assert response["Error"]["Message"].startswith("Received server error (0) from primary with message")
    assert "timed out while waiting for a response from container primary" in response["OriginalMessage"]


@SLOW
def test_scaling_out_runs_exactly_the_desired_instances_within_the_quota(localcloud, model_tar, monkeypatch):
    """DesiredInstanceCount 1 → 2 runs two processes, never a third (a health check running
    while the scale-out starts its instances must not start them again); a count past the
    account's "<type> for endpoint usage" quota is refused with SageMaker's ResourceLimitExceeded
    (wording: aws-samples/aws-genai-llm-chatbot#244) and nothing is started."""
    from botocore.exceptions import ClientError

    monkeypatch.setenv("MLGW_ENDPOINT_INSTANCE_QUOTA", "3")
    cloud = localcloud.cloud
    sm, rt = _deploy(localcloud, model_tar, "fraud", 1)
    assert _wait_status(sm, "fraud")["EndpointStatus"] == "InService"
    sm.update_endpoint_weights_and_capacities(
        EndpointName="fraud", DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}]
    )
    assert _wait_status(sm, "fraud")["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    time.sleep(3)  # several clock ticks: nothing more starts
    assert len(_serving_pids(cloud, "fraud")) == 2 and len(cloud.sagemaker.hosting.live("fraud")) == 2

    with pytest.raises(ClientError) as refused:
        sm.update_endpoint_weights_and_capacities(
            EndpointName="fraud",
            DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 100}],
        )
    assert refused.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert refused.value.response["Error"]["Message"].startswith(
        "The account-level service limit 'ml.m5.large for endpoint usage' is 3 Instances, with current "
        "utilization of 2 Instances and a request delta of 98 Instances."
    )
    assert sm.describe_endpoint(EndpointName="fraud")["EndpointStatus"] == "InService"
    assert len(_serving_pids(cloud, "fraud")) == 2
    # Zero instances only for endpoints hosting inference components
    # (sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html): refused for a model's variant.
    with pytest.raises(ClientError) as zero:
        sm.update_endpoint_weights_and_capacities(
            EndpointName="fraud", DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}]
        )
    assert zero.value.response["Error"]["Code"] == "ValidationException"
    assert "only if it hosts inference components" in zero.value.response["Error"]["Message"]


def test_a_kept_alive_connection_the_instance_closed_is_retried_on_a_new_one():
    """A pooled connection the instance drops as it is reused (gunicorn's keep-alive ends
    while the next request is sent) fails before any answer; the request goes again on a new
    connection, as the container's nginx, which opens one per request, would send it."""
    import socket
    import struct
    import threading

    import urllib3

    from localcloud.sagemaker.hosting.instances import post_invocation

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    seen: list[int] = []

    def serve() -> None:
        for attempt in range(2):
            conn, _ = server.accept()
            conn.recv(65536)
            seen.append(attempt)
            if attempt == 0:  # reset, no answer: a connection closed under the request
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 4\r\n\r\n0.25")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=4, retries=False, timeout=5.0)
    answer = post_invocation(pool, b"1,2,3", {"Content-Type": "text/csv"})
    assert (answer.status, answer.data) == (200, b"0.25") and seen == [0, 1]
    thread.join(timeout=5)
    server.close()
