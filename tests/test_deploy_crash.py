"""kill -9 of localcloud while the pipeline's Deploy step updates the endpoint (issue 14, crash
safety): what a user sees after the restart, and what a retry does.

AWS behaviour relied on:
- UpdateEndpoint is asynchronous: "When SageMaker receives the request, it sets the endpoint
  status to Updating. After updating the endpoint, it sets the status to InService. To check
  the status of an endpoint, use the DescribeEndpoint API"
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html), whose
  EndpointStatus "Updating: UpdateEndpoint or UpdateEndpointWeightsAndCapacities is executing"
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html): an
  update in flight completes whatever happens to its caller.
- RetryPipelineExecution: "Retry the execution of the pipeline"
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_RetryPipelineExecution.html):
  the failed steps run again, the succeeded ones keep their results (RegisterModel's package).

So after the crash the execution and its Deploy step are Failed while the endpoint finishes the
update to this execution's model. The crashed step's job must not go on after the restart (a
job paused between two polls would reach the new server: localcloud kills such orphans and
fails their executions before it listens). The retried Deploy must see the endpoint already
serving that model package, deploy nothing a second time, and delete the models and endpoint
configs left unused (the previous model's).

Run: PYTHONPATH=. python -m pytest -n0 tests/test_deploy_crash.py  (about a minute; slow)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
import uuid

import boto3
import pytest

from localcloud.config import Config
from mlgw import local_run
from tests.test_crash_safety import _free_port, _kill9, _spawn

POLICIES = 1000
# This test is about Deploy, not model quality: every trained model passes the AUC check.
PARAMETERS = {"AucThreshold": "0.5"}
FAST = {"MLGW_OFFLINE_STORE_DELAY": "0"}
# Long enough that the update is still in flight whenever the test looks: the kill point is
# "the endpoint is Updating", not a guessed sleep.
SLOW_ENDPOINT = {**FAST, "MLGW_ENDPOINT_DELAY": "600"}


def _deploy_resources(sm) -> tuple[set[str], set[str]]:
    prefix = local_run.ENDPOINT_NAME
    models = {m["ModelName"] for m in sm.list_models(NameContains=prefix, MaxResults=100)["Models"]}
    configs = {
        c["EndpointConfigName"]
        for c in sm.list_endpoint_configs(NameContains=prefix, MaxResults=100)["EndpointConfigs"]
    }
    return models, configs


def _served_packages(sm) -> set[str]:
    """The model packages the endpoint's current config serves."""
    endpoint = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    packages = set()
    for variant in config["ProductionVariants"]:
        model = sm.describe_model(ModelName=variant["ModelName"])
        packages |= {c["ModelPackageName"] for c in model.get("Containers", []) if "ModelPackageName" in c}
    return packages


def _steps(sm, arn: str) -> dict[str, dict]:
    return {
        s["StepName"]: s
        for s in sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, MaxResults=100)["PipelineExecutionSteps"]
    }


def _crashed_job_pids(home, arn: str) -> list[int]:
    """Live processes of this execution's Deploy jobs (a job runs in its own session, named
    by its folder under <home>/jobs on its command line)."""
    import psutil

    folders = [str(p) for p in (home / "jobs").glob(f"pipelines-{arn.rsplit('/', 1)[1]}-deploy-*")]
    assert folders, "no Deploy job ran"
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(f in cmdline for f in folders):
            found.append(proc.info["pid"])
    return found


def _wait(predicate, what: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_kill_9_while_deploy_updates_the_endpoint_then_retry_deploys_once_and_cleans_up(tmp_path, monkeypatch):
    home, port = tmp_path / "mlgw", _free_port()
    config = Config(home=home, port=port)
    for key, value in config.client_env().items():  # execute() sets them; undone after the test
        monkeypatch.setenv(key, value)
    args = ["-m", "localcloud", "--port", str(port), "--home", str(home)]
    sm = boto3.client("sagemaker", endpoint_url=config.url, region_name=config.region)
    rt = boto3.client("sagemaker-runtime", endpoint_url=config.url, region_name=config.region)
    job_groups: set[int] = set()

    server = _spawn(args, port, FAST)
    try:
        # A first execution deploys v1.
        first = local_run.execute(
            config, policies=POLICIES, seed=7, claims=None, customers=None, parameters=PARAMETERS, out=io.StringIO()
        )
        assert first.succeeded, first.failure_reason
        v1_config = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["EndpointConfigName"]
    finally:
        _kill9(server)

    # A second execution on new data, on a localcloud whose endpoint updates stay in flight.
    server = _spawn(args, port, SLOW_ENDPOINT)
    try:
        _, _, s3 = local_run.clients(config)
        uris = local_run.prepare_data(config, s3, POLICIES, 8, None, None)
        params = {
            "ClaimsInputUri": uris["claims"],
            "CustomersInputUri": uris["customers"],
            "EndpointName": local_run.ENDPOINT_NAME,
            **PARAMETERS,
        }
        arn = sm.start_pipeline_execution(
            PipelineName=local_run.PIPELINE_NAME,
            ClientRequestToken=uuid.uuid4().hex,
            PipelineParameters=[{"Name": k, "Value": v} for k, v in params.items()],
        )["PipelineExecutionArn"]

        def updating() -> bool:
            status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
            assert status == "Executing", f"execution {status} before Deploy updated the endpoint"
            return sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["EndpointStatus"] == "Updating"

        _wait(updating, "Deploy to update the endpoint")
        package = _steps(sm, arn)["RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
        models, configs = _deploy_resources(sm)
        [new_config] = configs - {v1_config}  # what the crashed Deploy created
        # The Deploy job polls the endpoint with growing pauses (up to 15 s, processing/deploy.py):
        # held in one (SIGSTOP) while localcloud dies and comes back, as a job in a long pause is.
        job_groups = {os.getpgid(pid) for pid in _crashed_job_pids(home, arn)}
        assert job_groups, "the Deploy job is not running"
        for group in job_groups:
            os.killpg(group, signal.SIGSTOP)
    finally:
        _kill9(server)  # mid-update

    server = _spawn(args, port, FAST)
    try:
        for group in job_groups:  # the pause ends
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGCONT)
        # What a user sees after the restart: the endpoint finishes the update the crashed step
        # started, on this execution's model; the execution and its Deploy step are Failed.
        endpoint = _wait(
            lambda: (
                (e := sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME))["EndpointStatus"] != "Updating" and e
            ),
            "the interrupted update to finish",
        )
        assert endpoint["EndpointStatus"] == "InService"
        assert endpoint["EndpointConfigName"] == new_config
        assert _served_packages(sm) == {package}
        # The crashed step's job did nothing after the restart, whatever API the user called
        # first: it is not running, and what it would have done next (delete the previous
        # model's resources, warm, publish the baseline) is left to the retry.
        _wait(lambda: not _crashed_job_pids(home, arn), "the crashed Deploy job to be killed", 10)
        assert _deploy_resources(sm) == (models, configs)
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        assert described["PipelineExecutionStatus"] == "Failed"
        assert "restarted" in described["FailureReason"]
        assert _steps(sm, arn)["Deploy"]["StepStatus"] == "Failed"
        shown = io.StringIO()  # `mlgw pipeline describe`
        with contextlib.redirect_stdout(shown):
            local_run.print_execution(config, local_run.PIPELINE_NAME, arn)
        deploy_line = next(line for line in shown.getvalue().splitlines() if line.split()[:1] == ["Deploy"])
        assert "Failed" in deploy_line and "localcloud restarted" in deploy_line, shown.getvalue()

        # The retry: Deploy succeeds without a second copy, and removes what is left unused.
        sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
        retried = _wait(
            lambda: (
                (d := sm.describe_pipeline_execution(PipelineExecutionArn=arn))["PipelineExecutionStatus"]
                != "Executing"
                and d
            ),
            "the retry to finish",
        )
        assert retried["PipelineExecutionStatus"] == "Succeeded", retried.get("FailureReason")
        steps = _steps(sm, arn)
        assert steps["Deploy"]["StepStatus"] == "Succeeded"
        assert steps["RegisterModel"]["Metadata"]["RegisterModel"]["Arn"] == package
        endpoint = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)
        assert endpoint["EndpointStatus"] == "InService"
        assert endpoint["EndpointConfigName"] == new_config
        assert _served_packages(sm) == {package}
        in_use = {
            v["ModelName"] for v in sm.describe_endpoint_config(EndpointConfigName=new_config)["ProductionVariants"]
        }
        assert _deploy_resources(sm) == (in_use, {new_config})
        assert len(in_use) == 1 and in_use <= models
        reply = rt.invoke_endpoint(
            EndpointName=local_run.ENDPOINT_NAME,
            ContentType="application/json",
            Body=json.dumps({"instances": [{"total_claim_amount": 80000.0}]}),
        )
        assert 0.0 <= json.loads(reply["Body"].read())["predictions"][0]["score"] <= 1.0
    finally:
        _kill9(server)
        for group in job_groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def test_a_server_that_cannot_listen_leaves_the_running_servers_executions_alone(tmp_path):
    """Starting localcloud a second time on the port of the running one (by mistake) fails to
    listen; it must not first fail the running server's executions and kill their jobs, as it
    does for executions a killed server left behind."""
    from localcloud.server import LocalCloudServer
    from tests.conftest import start_server

    home = tmp_path / "mlgw"
    running = start_server(home)
    try:
        arn = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/running00001"
        store = running.cloud.pipelines
        store.put_execution(
            {
                "PipelineArn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p",
                "PipelineExecutionArn": arn,
                "PipelineExecutionStatus": "Executing",
                "CreationTime": time.time(),
                "LastModifiedTime": time.time(),
                "_PipelineName": "p",
                "_Definition": "{}",
                "_Parameters": [],
            }
        )
        with pytest.raises(OSError):
            LocalCloudServer(Config(home=home, port=running.cloud.config.port))
        assert store.execution("running00001")["PipelineExecutionStatus"] == "Executing"
    finally:
        running.stop()
