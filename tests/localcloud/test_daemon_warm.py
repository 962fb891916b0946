"""The localcloud daemon imports the serving code's libraries (xgboost...) while it idles, so the
first CreateEndpoint does not pay for them; it waits until it has answered a first request and
gone quiet, and an import that fails is logged, never fatal."""

from __future__ import annotations

import logging
import threading

import boto3
import pytest

from localcloud import __main__ as daemon_main
from localcloud.sagemaker import model_server
from tests.conftest import start_server


def _sagemaker(server):
    return boto3.client(
        "sagemaker",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _warmer(server) -> threading.Thread:
    thread = threading.Thread(target=daemon_main._warm, args=(server,), daemon=True)
    thread.start()
    return thread


@pytest.mark.slow  # imports xgboost (2-3 s) unless the process already has it
def test_the_serving_libraries_are_imported_after_the_first_answer_once_quiet(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="localcloud")
    server = start_server(tmp_path / "mlgw")
    try:
        warmer = _warmer(server)
        warmer.join(timeout=1.0)
        assert warmer.is_alive(), "imported before the daemon answered its first request"
        assert "imported the serving code's libraries" not in caplog.text
        assert _sagemaker(server).list_endpoints()["Endpoints"] == []
        warmer.join(timeout=120)
        assert not warmer.is_alive()
        assert "imported the serving code's libraries (numpy, xgboost)" in caplog.text
    finally:
        server.stop()


def test_a_failed_import_is_logged_and_the_daemon_keeps_serving(tmp_path, caplog, monkeypatch):
    def broken() -> list[str]:
        raise ImportError("No module named 'xgboost'")

    monkeypatch.setattr(model_server, "preload_serving", broken)
    caplog.set_level(logging.INFO, logger="localcloud")
    server = start_server(tmp_path / "mlgw")
    try:
        warmer = _warmer(server)
        sm = _sagemaker(server)
        sm.list_endpoints()
        warmer.join(timeout=60)
        assert not warmer.is_alive()
        assert (
            "could not import the serving code's libraries ahead of the first endpoint: "
            "ImportError: No module named 'xgboost'"
        ) in caplog.text
        assert sm.list_endpoints()["Endpoints"] == []
    finally:
        server.stop()


@pytest.mark.parametrize("served", [0, 1])
def test_activity_waits_for_a_first_answer(served):
    from localcloud.server import Activity

    activity = Activity()
    for _ in range(served):
        activity.begin()
        activity.end()
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    assert activity.wait_idle(0.1, stop) is bool(served)


def test_a_started_execution_is_the_warmers_moment_without_waiting_for_idle(tmp_path):
    """The daemon waits for job subprocesses once an execution runs: the warmer goes then,
    not after PRELOAD_AFTER_IDLE_SECONDS of silence a polling client never leaves."""
    import json
    import uuid

    from localcloud.server import Activity

    server = start_server(tmp_path / "mlgw")
    try:
        sm = _sagemaker(server)
        assert not server.cloud.execution_launched.is_set()
        definition = {
            "Version": "2020-12-01",
            "Parameters": [],
            "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "done"}}],
        }
        sm.create_pipeline(
            PipelineName="P",
            PipelineDefinition=json.dumps(definition),
            RoleArn="arn:aws:iam::000000000000:role/SageMakerExecutionRole",
            ClientRequestToken=uuid.uuid4().hex,
        )
        sm.start_pipeline_execution(PipelineName="P", ClientRequestToken=uuid.uuid4().hex)
        assert server.cloud.execution_launched.is_set()
        busy = Activity()
        busy.begin()  # a request always in flight: never idle
        assert busy.wait_idle(daemon_main.PRELOAD_AFTER_IDLE_SECONDS, server.cloud.execution_launched) is False
    finally:
        server.stop()
