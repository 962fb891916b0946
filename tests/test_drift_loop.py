"""The whole loop on small data, every link happening on its own: deploy (which schedules the
drift check) → normal traffic → the scheduled rule starts DriftCheck → metrics → the alarm stays
OK → drifted traffic → the next DriftCheck → the alarm goes to ALARM → CloudWatch's state-change
event → the retrain rule → the pipeline retrains and deploys a canary. Takes a few minutes: the
demo's schedule is rate(1 minute), EventBridge's smallest."""

from __future__ import annotations

import socket

import pytest

from localcloud import daemon
from localcloud.cloud import LocalCloud
from localcloud.config import Config
from mlgw import demo, local_run
from mlgw.retrain import RULE_NAME


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_drift_retrains_and_deploys_a_canary(tmp_path, capsys):
    config = Config(home=tmp_path / "mlgw", port=_free_port())
    try:
        # The demo's own sizes (`mlgw demo --drift`): on 2,000 policies (66 frauds) XGBoost 1.7.4, the
        # training image's, trains a retrain the champion gate rightly refuses (test AUC 0.84 vs 0.89).
        status = demo.demo(config, policies=5000, traffic_policies=1000, drift="total_claim_amount*1.5")
        out = capsys.readouterr().out
        assert status == 0, out
        session, sm, _ = local_run.clients(config)
        executions = sm.list_pipeline_executions(PipelineName=local_run.PIPELINE_NAME)
        assert len(executions["PipelineExecutionSummaries"]) == 2  # the run and one retrain
        variants = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["ProductionVariants"]
        assert {v["VariantName"]: v["CurrentWeight"] for v in variants} == {"v1": 0.8, "v2": 0.2}
        rules = session.client("events", endpoint_url=config.url).list_rules()["Rules"]
        schedule = next(r for r in rules if r["Name"] == "ml-gateway-fraud-drift-check")
        assert schedule["ScheduleExpression"] == "rate(1 hour)"  # the retrain's Deploy reset it
    finally:
        daemon.stop(config)
    assert "drift alarm ml-gateway-drift-total_claim_amount: OK" in out  # normal traffic
    assert "drift alarm ml-gateway-drift-total_claim_amount: ALARM" in out

    events = LocalCloud(config).events.list_events(200)
    scheduled = [e for e in events if e["detail-type"] == "Scheduled Event"]
    assert scheduled and all(m["rule"] == "ml-gateway-fraud-drift-check" for e in scheduled for m in e["matches"])
    assert any(
        m["outcome"].startswith("started arn:aws:sagemaker:us-east-1:000000000000:pipeline/driftcheck/execution/")
        for e in scheduled
        for m in e["matches"]
    )
    (alarm,) = [
        e
        for e in events
        if e["detail-type"] == "CloudWatch Alarm State Change" and e["detail"]["state"]["value"] == "ALARM"
    ]
    (match,) = alarm["matches"]
    assert match["rule"] == RULE_NAME
    assert match["outcome"].startswith(
        "started arn:aws:sagemaker:us-east-1:000000000000:pipeline/mlgatewaypipeline/execution/"
    )
