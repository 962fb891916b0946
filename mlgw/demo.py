"""`mlgw demo [--drift [SPEC]]`: the whole loop on a laptop, through the events AWS emits.

run the pipeline (its Deploy schedules the DriftCheck pipeline every minute for the demo) →
normal traffic through the gateway → the scheduled rule starts DriftCheck → Model Monitor's
metrics in CloudWatch → the drift alarm stays OK → (with --drift) drifted traffic → the next
scheduled DriftCheck publishes a drift above the threshold → the alarm goes to ALARM →
CloudWatch's "Alarm State Change" event matches the retrain rule → EventBridge starts the
pipeline on the current dataset → a new model is deployed as a canary (and its Deploy puts
the drift check back on its hourly schedule). Nothing here calls a later link directly:
each waits for the previous one to happen on its own.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import Any

from localcloud.config import Config
from mlgw import local_run, monitor_schedule, traffic
from mlgw.progress import follow
from mlgw.retrain import RULE_NAME
from mlgw.target import Target

# The demo's schedule: a drift check every minute over the minute before it (AWS's
# smallest rate), so the loop closes in minutes instead of hours.
DEMO_SCHEDULE = {"DriftCheckSchedule": "rate(1 minute)", "DriftCheckWindowMinutes": "1"}
STEP_TIMEOUT_S = 300.0


class DemoError(Exception):
    """A link of the loop that did not happen; the message says which and where to look."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _wait(what: str, probe: Callable[[], Any], timeout: float = STEP_TIMEOUT_S, poll: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(
                f"{what} did not happen within {timeout:.0f} s: see `mlgw events list` and `mlgw pipeline executions`"
            )
        time.sleep(poll)


def _executions_since(sm, pipeline: str, since: dt.datetime) -> list[dict[str, Any]]:
    summaries = sm.list_pipeline_executions(
        PipelineName=pipeline, SortBy="CreationTime", SortOrder="Ascending", CreatedAfter=since
    )["PipelineExecutionSummaries"]
    return [s for s in summaries if s["StartTime"] >= since]


def _next_drift_check(sm, since: dt.datetime, out) -> dict[str, Any]:
    """Wait for the first scheduled DriftCheck execution started after `since`, then for it
    to finish; its summary."""
    first = _wait(
        "a scheduled DriftCheck execution", lambda: _executions_since(sm, monitor_schedule.DRIFT_CHECK_PIPELINE, since)
    )[0]
    arn = first["PipelineExecutionArn"]
    print(f"the schedule started DriftCheck: {arn}", file=out, flush=True)
    result = follow(sm, arn, out=out)
    if not result.succeeded:
        raise DemoError(f"DriftCheck execution {arn} {result.status}: `mlgw pipeline describe {arn}`")
    return first


def _alarm(cloudwatch) -> dict[str, Any]:
    alarms = monitor_schedule.alarm_states(cloudwatch)
    if not alarms:
        raise DemoError("no drift alarm: `mlgw run` creates it")
    return alarms[0]


def _traffic(config: Config, *, policies: int, seed: int, drift: str | None, out) -> dt.datetime:
    summary = traffic.replay(
        config, policies=policies, seed=seed, drift=drift, endpoint_name=local_run.ENDPOINT_NAME, out=out
    )
    traffic.print_summary(summary, out=out)
    return _now()


def demo(config: Config, *, policies: int, traffic_policies: int, drift: str | None, out=None) -> int:
    out = out or sys.stdout
    try:
        return _demo(config, policies=policies, traffic_policies=traffic_policies, drift=drift, out=out)
    except DemoError as exc:
        print(f"demo stopped: {exc}", file=out, flush=True)
        return 1


def _demo(config: Config, *, policies: int, traffic_policies: int, drift: str | None, out) -> int:
    print("== 1. train and deploy (Deploy schedules the drift check every minute)", file=out, flush=True)
    first = local_run.run(
        config, policies=policies, seed=42, claims=None, customers=None, parameters={}, once=DEMO_SCHEDULE, out=out
    )
    if not first.succeeded:
        return 1
    target = Target.local(config)
    sm, cloudwatch = target.client("sagemaker"), target.client("cloudwatch")
    started = _now()

    print("\n== 2. normal traffic through the gateway, then the scheduled drift check", file=out, flush=True)
    sent = _traffic(config, policies=traffic_policies, seed=101, drift=None, out=out)
    _next_drift_check(sm, sent, out)
    alarm = _alarm(cloudwatch)
    print(f"drift alarm {alarm['name']}: {alarm['state']} ({alarm['reason']})", file=out, flush=True)
    if alarm["state"] != "OK":
        raise DemoError(f"normal traffic left the drift alarm {alarm['state']}, not OK")
    if not drift:
        print("\nrun `mlgw demo --drift` to see drift re-train the model", file=out)
        return 0

    print(f"\n== 3. drifted traffic ({drift}), then the scheduled drift check", file=out, flush=True)
    sent = _traffic(config, policies=traffic_policies, seed=202, drift=drift, out=out)
    _next_drift_check(sm, sent, out)
    alarm = _wait(
        "the drift alarm going to ALARM", lambda: (a := _alarm(cloudwatch))["state"] == "ALARM" and a, timeout=90
    )
    print(f"drift alarm {alarm['name']}: ALARM ({alarm['reason']})", file=out, flush=True)

    print(f"\n== 4. the alarm's state-change event matched rule {RULE_NAME}: retraining", file=out, flush=True)
    retrain = _wait(
        "the retrain execution", lambda: _executions_since(sm, local_run.PIPELINE_NAME, started), timeout=60
    )
    arn = retrain[0]["PipelineExecutionArn"]
    print(arn, file=out, flush=True)
    result = follow(sm, arn, out=out)
    local_run.print_summary(config, sm, target.client("s3"), result, out=out)
    if result.succeeded:
        print(
            "\nthe new model serves as a canary: `mlgw endpoint describe`, then "
            "`mlgw endpoint promote` or `mlgw endpoint rollback`; each link of the loop is "
            "in `mlgw events list` and `mlgw pipeline executions`",
            file=out,
        )
    return 0 if result.succeeded else 1
