"""The whole loop on small data: deploy → normal traffic (no drift) → drifted traffic → Model
Monitor's event → EventBridge rule → the pipeline retrains and deploys a canary."""
from __future__ import annotations

import socket

import boto3
import pytest

from localcloud import daemon
from localcloud.config import Config
from localcloud.events.api import list_matches
from localcloud.cloud import LocalCloud
from mlgw import demo, local_run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_drift_retrains_and_deploys_a_canary(tmp_path, capsys):
    config = Config(home=tmp_path / "mlgw", port=_free_port())
    try:
        assert demo.demo(config, policies=2000, traffic_policies=800,
                         drift="total_claim_amount*1.5") == 0
    finally:
        out = capsys.readouterr().out
        daemon.stop(config)
    assert "ok: " in out and "no violations" in out              # normal traffic: no drift
    assert "baseline_drift_check" in out and "drift event" in out  # drifted traffic: drift found

    daemon.start(config)
    try:
        sm = boto3.client("sagemaker", endpoint_url=config.url, region_name=config.region)
        executions = sm.list_pipeline_executions(PipelineName=local_run.PIPELINE_NAME)
        assert len(executions["PipelineExecutionSummaries"]) == 2     # the run and one retrain
        variants = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["ProductionVariants"]
        assert {v["VariantName"]: v["CurrentWeight"] for v in variants} == {"v1": 0.8, "v2": 0.2}
        matches = list_matches(LocalCloud(config))
        assert any(m["outcome"].startswith("started") for m in matches)
    finally:
        daemon.stop(config)
