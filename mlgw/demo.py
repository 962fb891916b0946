"""`mlgw demo [--drift [SPEC]]`: the whole loop on a laptop.

run the pipeline → replay normal traffic through the gateway → Model Monitor finds nothing →
(with --drift) replay drifted traffic → Model Monitor finds drift → its event matches the retrain
rule → EventBridge starts the pipeline on the current dataset (now including the replayed,
labelled batches) → a new model is registered and deployed as a canary beside the old one.
"""
from __future__ import annotations

import datetime as dt
import sys
import time

from localcloud.config import Config
from mlgw import local_run, traffic
from mlgw.retrain import RULE_NAME
from mlgw.progress import follow



def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _replay_and_monitor(config: Config, *, policies: int, seed: int, drift: str | None, out):
    """Replay a batch, then monitor exactly the window it was captured in."""
    from mlgw.monitor_schedule import run_once
    time.sleep(1.0)   # capture times have one-second resolution: keep windows apart
    start = _now().replace(microsecond=0)   # a record stamped within this second is in
    summary = traffic.replay(config, policies=policies, seed=seed, drift=drift,
                             endpoint_name=local_run.ENDPOINT_NAME, out=out)
    traffic.print_summary(summary, out=out)
    time.sleep(1.0)
    outcome = run_once(config, endpoint=local_run.ENDPOINT_NAME, window=(start, _now()))
    print(f"Model Monitor: {outcome.summary()}", file=out, flush=True)
    return outcome


def demo(config: Config, *, policies: int, traffic_policies: int, drift: str | None, out=None) -> int:
    out = out or sys.stdout
    print("== 1. train and deploy", file=out, flush=True)
    first = local_run.run(config, policies=policies, seed=42, claims=None, customers=None,
                          parameters={}, out=out)
    if not first.succeeded:
        return 1
    _, sm, s3 = local_run.clients(config)
    before = {e["PipelineExecutionArn"] for e in sm.list_pipeline_executions(
        PipelineName=local_run.PIPELINE_NAME)["PipelineExecutionSummaries"]}

    print("\n== 2. normal traffic through the gateway, then Model Monitor", file=out, flush=True)
    _replay_and_monitor(config, policies=traffic_policies, seed=101, drift=None, out=out)
    if not drift:
        print("\nrun `mlgw demo --drift` to see drift re-train the model", file=out)
        return 0

    print(f"\n== 3. drifted traffic ({drift}), then Model Monitor", file=out, flush=True)
    outcome = _replay_and_monitor(config, policies=traffic_policies, seed=202, drift=drift, out=out)
    if outcome.status != "violations":
        print("no drift found: nothing to retrain (try a stronger --drift)", file=out)
        return 1

    started = [e["PipelineExecutionArn"] for e in sm.list_pipeline_executions(
        PipelineName=local_run.PIPELINE_NAME, SortBy="CreationTime",
        SortOrder="Descending")["PipelineExecutionSummaries"] if e["PipelineExecutionArn"] not in before]
    if not started:
        print("the drift event started no pipeline execution: see `mlgw events list`", file=out)
        return 1
    print(f"\n== 4. the drift event matched rule {RULE_NAME}: retraining\n{started[0]}",
          file=out, flush=True)
    result = follow(sm, started[0], out=out)
    local_run.print_summary(config, sm, s3, result, out=out)
    if result.succeeded:
        print("\nthe new model serves as a canary: `mlgw endpoint describe`, then "
              "`mlgw endpoint promote` or `mlgw endpoint rollback`", file=out)
    return 0 if result.succeeded else 1
