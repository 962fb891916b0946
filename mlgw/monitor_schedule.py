"""The local monitoring schedule: Model Monitor's hourly job, run against localcloud.

`run_once` is one execution: captured traffic in the last window vs the baseline, outputs under
`<output>/<endpoint>/yyyy/mm/dd/hh/` (Model Monitor's layout), drift metrics, and — only when
there are violations — a "Model Drift Detected" event that the retrain rule turns into a
pipeline execution. `run_schedule` / `run_saved_schedules` repeat it on a cron expression.
Schedules persist in `<MLGW_HOME>/monitoring/schedules.json` so the CLI can manage them.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from croniter import croniter

from localcloud.config import Config
from monitoring import publish
from monitoring.monitor import BaselineMissingError, MonitoringError, NoDataError, run_monitoring

log = logging.getLogger("mlgw.monitor_schedule")

DEFAULT_ENDPOINT = "ml-gateway-fraud"
DEFAULT_BUCKET = "sagemaker-us-east-1-000000000000"
DEFAULT_CAPTURE_URI = f"s3://{DEFAULT_BUCKET}/ml-gateway/data-capture"
DEFAULT_BASELINE_URI = f"s3://{DEFAULT_BUCKET}/ml-gateway/baseline"
DEFAULT_OUTPUT_URI = f"s3://{DEFAULT_BUCKET}/ml-gateway/monitoring-reports"
DEFAULT_CRON = "0 * * * *"
MAX_SLEEP = 60.0   # the loop re-reads saved schedules at least this often
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")   # SageMaker schedule name rule


class ScheduleError(Exception):
    """A schedule request the user can fix (bad cron, unknown or duplicate name)."""


# --- locations --------------------------------------------------------------------------------

def local_path(config: Config, uri: str) -> Path:
    """Where a URI's objects live on disk: s3://bucket/key -> <s3_root>/bucket/key (localcloud
    stores objects as plain files); anything else is taken as a local path."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return Path(config.s3_root, bucket, *[p for p in key.split("/") if p])
    return Path(uri.removeprefix("file://")).resolve()


def _join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def window_for(now: dt.datetime, window_hours: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of whole hours ending at `now`'s hour, as an hourly Model Monitor run
    analyses the hour(s) before its scheduled time."""
    now = now.astimezone(dt.timezone.utc) if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - dt.timedelta(hours=window_hours), end


def metrics_dir(config: Config) -> Path:
    return config.home / "monitoring" / "metrics"


# --- one run ----------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    endpoint: str
    status: str                     # "ok" | "violations" | "no_data" | "baseline_missing" | "error"
    window_start: str | None
    window_end: str | None
    output_uri: str
    message: str
    records: int = 0
    violation_count: int = 0
    violations: list[dict[str, str]] = field(default_factory=list)
    event_id: str | None = None
    metrics_path: str | None = None

    def summary(self) -> str:
        window = f"[{self.window_start or '-inf'}, {self.window_end or '+inf'})"
        event = f"; drift event {self.event_id} published" if self.event_id else ""
        return f"{self.endpoint} {window}: {self.status}: {self.message}{event}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def events_client(config: Config) -> Any:
    """boto3 EventBridge client aimed at the running localcloud (same code path as AWS)."""
    import boto3
    return boto3.client("events", endpoint_url=config.url, region_name=config.region,
                        aws_access_key_id=config.access_key,
                        aws_secret_access_key=config.secret_key)


def run_once(config: Config, endpoint: str = DEFAULT_ENDPOINT,
             baseline_uri: str = DEFAULT_BASELINE_URI, capture_uri: str = DEFAULT_CAPTURE_URI,
             output_uri: str = DEFAULT_OUTPUT_URI, window_hours: int | None = 1,
             now: dt.datetime | None = None, events: Any = None,
             window: tuple[dt.datetime, dt.datetime] | None = None) -> RunOutcome:
    """One monitoring execution. `window_hours=None` analyses all captured data; an explicit
    `window` (start, end) wins over both (a demo checks exactly the traffic it sent).

    NoData / BaselineMissing are outcomes, not exceptions: a schedule keeps running through an
    idle hour or a baseline not yet written, and no event is sent for them."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if window_hours is not None and window_hours < 1:
        raise ValueError(f"window_hours must be at least 1, not {window_hours}")
    start, end = (None, None) if window_hours is None else window_for(now, window_hours)
    if window is not None:
        start, end = window
    stamp = window_for(now, 0)[1]   # output folder: the run's scheduled hour
    out_uri = _join(output_uri, endpoint, f"{stamp:%Y}", f"{stamp:%m}", f"{stamp:%d}",
                    f"{stamp:%H}")
    if window is not None:          # an on-demand window gets its own folder within the hour
        out_uri = _join(out_uri, f"{window[1]:%M%S}")
    base = RunOutcome(endpoint, "ok", _iso(start), _iso(end), out_uri, "")
    try:
        result = run_monitoring(local_path(config, capture_uri) / endpoint,
                                local_path(config, baseline_uri),
                                local_path(config, out_uri), start, end)
    except BaselineMissingError as exc:
        base.status, base.message = "baseline_missing", (
            f"{exc}; write the baseline to {baseline_uri} (the pipeline's baseline step does)")
        return base
    except NoDataError as exc:
        base.status, base.message = "no_data", str(exc)
        return base
    except MonitoringError as exc:
        base.status, base.message = "error", str(exc)
        return base

    base.records, base.violation_count = result.report.records, len(result.violations)
    base.violations = result.violations
    base.metrics_path = str(publish.emit_metrics(result, endpoint, metrics_dir(config), now))
    if not result.violations:
        base.message = f"{result.report.records} records, no violations"
        return base
    base.status = "violations"
    checks = sorted({v["constraint_check_type"] for v in result.violations})
    base.message = (f"{result.report.records} records, {len(result.violations)} violations "
                    f"({', '.join(checks)}); report {_join(out_uri, 'report.html')}")
    entry = publish.drift_event(result, endpoint, (start, end), _join(out_uri, "report.html"))
    base.event_id = publish.publish(events or events_client(config), entry)
    return base


# --- cron -------------------------------------------------------------------------------------

def validate_cron(expr: str) -> str:
    if not croniter.is_valid(expr):
        raise ScheduleError(f"invalid cron expression {expr!r} (5 fields, e.g. '0 * * * *' "
                            f"for hourly)")
    return expr


def next_run(cron: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after `after` that `cron` fires (UTC)."""
    after = after if after.tzinfo else after.replace(tzinfo=dt.timezone.utc)
    return croniter(cron, after.astimezone(dt.timezone.utc)).get_next(dt.datetime)


# --- persisted schedules ----------------------------------------------------------------------

@dataclass
class Schedule:
    name: str
    endpoint: str = DEFAULT_ENDPOINT
    cron: str = DEFAULT_CRON
    baseline_uri: str = DEFAULT_BASELINE_URI
    capture_uri: str = DEFAULT_CAPTURE_URI
    output_uri: str = DEFAULT_OUTPUT_URI
    window_hours: int = 1
    created: str = ""
    last_run: dict[str, Any] | None = None

    def run(self, config: Config, now: dt.datetime, events: Any = None) -> RunOutcome:
        return run_once(config, self.endpoint, self.baseline_uri, self.capture_uri,
                        self.output_uri, self.window_hours, now, events)


def schedules_file(config: Config) -> Path:
    return config.home / "monitoring" / "schedules.json"


@contextlib.contextmanager
def _locked(config: Config) -> Iterator[Path]:
    """Serialise read-modify-write of schedules.json between the CLI and a running loop."""
    path = schedules_file(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> list[Schedule]:
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return [Schedule(**s) for s in doc.get("schedules", [])]
    except (ValueError, TypeError, AttributeError) as exc:
        raise ScheduleError(f"cannot read {path}: {exc}; fix or delete the file") from None


def _write(path: Path, schedules: list[Schedule]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"schedules": [asdict(s) for s in schedules]}, indent=2),
                       encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_schedules(config: Config) -> list[Schedule]:
    with _locked(config) as path:
        return _read(path)


def create_schedule(config: Config, schedule: Schedule) -> Schedule:
    if not _NAME.fullmatch(schedule.name):
        raise ScheduleError(f"invalid schedule name {schedule.name!r}: letters, digits and "
                            f"hyphens, at most 63 characters")
    validate_cron(schedule.cron)
    schedule.created = schedule.created or _iso(dt.datetime.now(dt.timezone.utc))
    with _locked(config) as path:
        schedules = _read(path)
        if any(s.name == schedule.name for s in schedules):
            raise ScheduleError(f"schedule {schedule.name!r} already exists; delete it first")
        _write(path, schedules + [schedule])
    return schedule


def delete_schedule(config: Config, name: str) -> None:
    with _locked(config) as path:
        schedules = _read(path)
        if not any(s.name == name for s in schedules):
            raise ScheduleError(f"no schedule named {name!r} in {path}")
        _write(path, [s for s in schedules if s.name != name])


def _record_run(config: Config, name: str, outcome: RunOutcome) -> None:
    """Keep the last outcome on the schedule (`schedule list` shows it); a schedule deleted
    while it ran is simply not written back."""
    with _locked(config) as path:
        schedules = _read(path)
        for s in schedules:
            if s.name == name:
                s.last_run = {k: v for k, v in outcome.to_dict().items() if k != "violations"}
        _write(path, schedules)


# --- the loop ---------------------------------------------------------------------------------

def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _safe_run(config: Config, schedule: Schedule, due: dt.datetime, events: Any) -> RunOutcome:
    """A failing run (localcloud down, rejected event) is logged; the loop keeps its cadence."""
    try:
        outcome = schedule.run(config, due, events)
    except Exception as exc:   # noqa: BLE001 - one bad hour must not stop the schedule
        log.exception("schedule %s: run for %s failed", schedule.name, _iso(due))
        start, end = window_for(due, schedule.window_hours)
        outcome = RunOutcome(schedule.endpoint, "error", _iso(start), _iso(end),
                             schedule.output_uri, f"{type(exc).__name__}: {exc}")
    level = logging.WARNING if outcome.status in ("violations", "error") else logging.INFO
    log.log(level, "schedule %s: %s", schedule.name, outcome.summary())
    return outcome


def _loop(config: Config, provide: Callable[[], list[Schedule]], stop_event: threading.Event,
          clock: Callable[[], dt.datetime], events: Any, max_runs: int | None,
          persist: bool) -> list[RunOutcome]:
    due: dict[str, tuple[str, dt.datetime]] = {}   # name -> (cron, next due time)
    outcomes: list[RunOutcome] = []
    while not stop_event.is_set():
        now = clock()
        schedules = provide()
        for s in schedules:   # new or re-created schedules start counting from now
            if s.name not in due or due[s.name][0] != s.cron:
                due[s.name] = (s.cron, next_run(s.cron, now))
                log.info("schedule %s (%s, %s): next run %s", s.name, s.endpoint, s.cron,
                         _iso(due[s.name][1]))
        for name in set(due) - {s.name for s in schedules}:
            del due[name]
        for s in schedules:
            when = due[s.name][1]
            if when <= now:
                # Window aligned to the scheduled time even when late; missed slots are
                # skipped, not backfilled, as Model Monitor does.
                outcomes.append(_safe_run(config, s, when, events))
                if persist:
                    _record_run(config, s.name, outcomes[-1])
                due[s.name] = (s.cron, next_run(s.cron, max(now, when)))
                if max_runs is not None and len(outcomes) >= max_runs:
                    return outcomes
        soonest = min((d for _, d in due.values()), default=None)
        wait = MAX_SLEEP if soonest is None else (soonest - clock()).total_seconds()
        stop_event.wait(min(max(wait, 0.0), MAX_SLEEP))
    return outcomes


def run_schedule(config: Config, cron: str = DEFAULT_CRON, endpoint: str = DEFAULT_ENDPOINT,
                 baseline_uri: str = DEFAULT_BASELINE_URI,
                 capture_uri: str = DEFAULT_CAPTURE_URI, output_uri: str = DEFAULT_OUTPUT_URI,
                 window_hours: int = 1, stop_event: threading.Event | None = None,
                 clock: Callable[[], dt.datetime] = _utcnow, events: Any = None,
                 max_runs: int | None = None, name: str = "adhoc") -> list[RunOutcome]:
    """Run one schedule until `stop_event` is set (or `max_runs` runs); the outcomes."""
    schedule = Schedule(name, endpoint, validate_cron(cron), baseline_uri, capture_uri,
                        output_uri, window_hours)
    return _loop(config, lambda: [schedule], stop_event or threading.Event(), clock, events,
                 max_runs, persist=False)


def run_saved_schedules(config: Config, stop_event: threading.Event | None = None,
                        clock: Callable[[], dt.datetime] = _utcnow, events: Any = None,
                        max_runs: int | None = None) -> list[RunOutcome]:
    """Run every schedule in schedules.json, picking up creates/deletes while running."""
    return _loop(config, lambda: load_schedules(config), stop_event or threading.Event(),
                 clock, events, max_runs, persist=True)

