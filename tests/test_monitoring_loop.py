"""The monitoring loop end to end against localcloud: capture → run_once → drift event →
retrain rule → pipeline execution; plus the schedule's cron, persistence and metrics."""
from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.events.api import list_events
from mlgw import monitor_schedule as schedule
from mlgw import retrain
from monitoring import publish
from monitoring.baseline import write_baseline
from benchmarks.monitor import capture_lines, capture_path, feature_frame
from monitoring.monitor import MonitoringResult

ENDPOINT = schedule.DEFAULT_ENDPOINT
ROLE = "arn:aws:iam::000000000000:role/ml-gateway-sagemaker-execution"   # infra/ml-gateway.yaml
FAIL_PIPELINE = {"Version": "2020-12-01", "Parameters": [], "Steps": [
    {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "retrain requested"}}]}
WINDOW = 2_000
NORMAL_HOUR = dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc)
DRIFT_HOUR = NORMAL_HOUR + dt.timedelta(hours=1)


def _capture(config, frame, hour: dt.datetime, seed: int) -> None:
    """Capture lines for `frame` in `hour`'s folder where the endpoint's capture lands."""
    root = schedule.local_path(config, schedule.DEFAULT_CAPTURE_URI)
    path = capture_path(root, hour + dt.timedelta(minutes=7), f"07-00-{seed:03d}.jsonl",
                        endpoint=ENDPOINT)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = capture_lines(frame, hour + dt.timedelta(minutes=7), seed=seed)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def world(localcloud, client):
    """Baseline in S3, normal traffic in NORMAL_HOUR, drifted in DRIFT_HOUR, and the retrain
    rule aimed at a one-step pipeline."""
    config = localcloud.cloud.config
    write_baseline(feature_frame(20_000, seed=1),
                   str(schedule.local_path(config, schedule.DEFAULT_BASELINE_URI)))
    _capture(config, feature_frame(WINDOW, seed=2), NORMAL_HOUR, seed=2)
    drifted = feature_frame(WINDOW, seed=3)
    drifted["total_claim_amount"] = drifted["total_claim_amount"] * 1.4
    _capture(config, drifted, DRIFT_HOUR, seed=3)

    sm, events = client("sagemaker"), client("events")
    arn = sm.create_pipeline(PipelineName="retrain", RoleArn=ROLE,
                             PipelineDefinition=json.dumps(FAIL_PIPELINE),
                             ClientRequestToken=uuid.uuid4().hex)["PipelineArn"]
    retrain.ensure_rule(events, arn, ROLE, {})
    return config, sm, events


def world_cloud(config) -> LocalCloud:
    """Read-only view of the server's state (the event log is SQLite in its home)."""
    return LocalCloud(config)


def _executions(sm) -> list:
    return sm.list_pipeline_executions(PipelineName="retrain")["PipelineExecutionSummaries"]


def test_drift_event_starts_retrain_only_on_violations(world) -> None:
    config, sm, events = world
    cloud = world_cloud(config)

    ok = schedule.run_once(config, now=NORMAL_HOUR + dt.timedelta(hours=1, minutes=5),
                           events=events)
    assert ok.status == "ok", ok.summary()
    assert ok.records == WINDOW and ok.violation_count == 0 and ok.event_id is None
    assert ok.output_uri.endswith(f"/{ENDPOINT}/2026/11/25/13")
    assert (schedule.local_path(config, ok.output_uri) / "report.html").is_file()
    assert _executions(sm) == []

    bad = schedule.run_once(config, now=DRIFT_HOUR + dt.timedelta(hours=1, minutes=5),
                            events=events)
    assert bad.status == "violations", bad.summary()
    assert bad.records == WINDOW and bad.event_id
    assert any(v["feature_name"] == "total_claim_amount"
               and v["constraint_check_type"] == "baseline_drift_check" for v in bad.violations)
    assert len(_executions(sm)) == 1

    logged = list_events(cloud, 5)
    assert [e["id"] for e in logged] == [bad.event_id]   # the normal hour sent nothing
    assert logged[0]["matches"][0]["rule"] == retrain.RULE_NAME
    assert logged[0]["matches"][0]["outcome"].startswith("started ")

    metrics = Path(bad.metrics_path).read_text()
    assert f'monitoring_feature_baseline_drift{{endpoint="{ENDPOINT}",' \
           f'feature="total_claim_amount"}}' in metrics
    assert f'monitoring_violations{{endpoint="{ENDPOINT}",check="all"}} ' \
           f'{bad.violation_count}' in metrics


def test_missing_baseline_and_no_data_send_nothing(world) -> None:
    config, sm, events = world
    missing = schedule.run_once(config, baseline_uri="s3://nowhere/baseline",
                                now=DRIFT_HOUR + dt.timedelta(hours=1), events=events)
    assert missing.status == "baseline_missing"
    assert "statistics.json" in missing.message and missing.event_id is None
    idle = schedule.run_once(config, now=DRIFT_HOUR + dt.timedelta(hours=5), events=events)
    assert idle.status == "no_data" and "no captured records" in idle.message
    assert _executions(sm) == []


def test_event_matches_rule_and_stays_small() -> None:
    from localcloud.events.patterns import compile_pattern
    violations = [{"feature_name": f"f{i}", "constraint_check_type": "baseline_drift_check",
                   "description": "x" * 5000} for i in range(2000)]
    result = MonitoringResult(violations, {"features": []},
                              type("R", (), {"records": 10})(), Path("s"), Path("v"), Path("r"))
    entry = publish.drift_event(result, ENDPOINT, (NORMAL_HOUR, DRIFT_HOUR),
                                "s3://b/out/report.html")
    detail = json.loads(entry["Detail"])
    assert len(entry["Detail"].encode()) < 256 * 1024
    assert detail["violation_count"] == 2000 and detail["violations_truncated"]
    assert detail["window"] == {"start": "2026-11-25T12:00:00Z", "end": "2026-11-25T13:00:00Z"}
    matcher = compile_pattern(json.dumps(retrain.pattern()))
    envelope = {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": detail}
    assert matcher.matches(envelope)


class _FakeTime(threading.Event):
    """A stop event whose wait() advances a fake clock instead of sleeping."""

    def __init__(self, start: dt.datetime):
        super().__init__()
        self.now = start

    def wait(self, timeout=None) -> bool:
        self.now += dt.timedelta(seconds=timeout or 0)
        return self.is_set()


def test_cron_loop_and_saved_schedules(world) -> None:
    config, sm, events = world
    assert schedule.next_run("0 * * * *", dt.datetime(2026, 11, 25, 13, 59, 30,
                                                      tzinfo=dt.timezone.utc)) \
        == dt.datetime(2026, 11, 25, 14, tzinfo=dt.timezone.utc)
    with pytest.raises(schedule.ScheduleError):
        schedule.validate_cron("every hour")

    fake = _FakeTime(DRIFT_HOUR + dt.timedelta(minutes=58))
    outcomes = schedule.run_schedule(config, stop_event=fake, clock=lambda: fake.now,
                                     events=events, max_runs=1)
    assert [o.window_start for o in outcomes] == ["2026-11-25T13:00:00Z"]
    assert outcomes[0].status == "violations" and len(_executions(sm)) == 1

    schedule.create_schedule(config, schedule.Schedule("fraud-hourly"))
    with pytest.raises(schedule.ScheduleError, match="already exists"):
        schedule.create_schedule(config, schedule.Schedule("fraud-hourly"))
    assert [s.name for s in schedule.load_schedules(config)] == ["fraud-hourly"]
    fake = _FakeTime(NORMAL_HOUR + dt.timedelta(minutes=59))
    ran = schedule.run_saved_schedules(config, fake, clock=lambda: fake.now, events=events,
                                       max_runs=1)
    assert ran[0].status == "ok"
    assert schedule.load_schedules(config)[0].last_run["status"] == "ok"
    schedule.delete_schedule(config, "fraud-hourly")
    assert schedule.load_schedules(config) == []


def test_cloudwatch_metric_data_shape(world) -> None:
    config, _, events = world
    from monitoring.monitor import run_monitoring
    result = run_monitoring(schedule.local_path(config, schedule.DEFAULT_CAPTURE_URI) / ENDPOINT,
                            schedule.local_path(config, schedule.DEFAULT_BASELINE_URI),
                            config.home / "out")
    data = publish.cloudwatch_metric_data(result, ENDPOINT)
    names = {d["MetricName"] for d in data}
    assert "feature_baseline_drift_total_claim_amount" in names
    assert data[0]["Dimensions"] == [{"Name": "Endpoint", "Value": ENDPOINT},
                                     {"Name": "MonitoringSchedule",
                                      "Value": f"{ENDPOINT}-monitor"}]


def test_cli_schedule_commands(world, monkeypatch, capsys) -> None:
    import argparse

    from localcloud import daemon
    from mlgw.commands.monitor import register
    config, _, _ = world
    monkeypatch.setattr(daemon, "running_config", lambda _config: config)
    parser = argparse.ArgumentParser(prog="mlgw")
    register(parser.add_subparsers(dest="command", required=True))

    def mlgw(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return args.func(args)

    assert mlgw("monitor", "schedule", "create", "--cron", "30 */2 * * *") == 0
    assert mlgw("monitor", "schedule", "create", "--cron", "bad") == 2
    assert mlgw("monitor", "schedule", "list") == 0
    assert "ml-gateway-fraud-monitor  30 */2 * * *" in capsys.readouterr().out
    assert mlgw("monitor", "schedule", "delete") == 0
    assert mlgw("monitor", "schedule", "delete") == 2
    assert "no schedule named" in capsys.readouterr().err
    # nothing captured there: a clear message and a non-zero exit, no event
    assert mlgw("monitor", "run", "--all", "--capture", "s3://empty/capture") == 1
    assert "no_data" in capsys.readouterr().out
