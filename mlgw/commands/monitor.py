"""`mlgw monitor run | schedule create|list|delete | alarms`: the drift check, its EventBridge
schedule and its CloudWatch alarms, through boto3 against the running localcloud — the same
calls the template and the Deploy step make on AWS (mlgw/monitor_schedule.py)."""

from __future__ import annotations

import argparse
from typing import Any

from localcloud.config import Config
from mlgw import monitor_schedule as monitor
from mlgw.args import (
    CliError,
    config_from,
    print_error,
    require_endpoint,
    running,
    window_minutes,
    with_endpoint,
    with_home,
)
from processing.drift_schedule import DEFAULT_SCHEDULE


def _endpoint(p: argparse.ArgumentParser) -> None:
    with_endpoint(
        p, monitor.DEFAULT_ENDPOINT, f"endpoint whose captured traffic is checked (default {monitor.DEFAULT_ENDPOINT})"
    )


def register(subparsers) -> None:
    top = subparsers.add_parser(
        "monitor",
        help="drift checks: run one, manage their schedule, show the drift alarms",
        description="The DriftCheck pipeline compares an endpoint's captured traffic with the "
        "deployed model's baseline, writes Model Monitor's reports and publishes "
        "Model Monitor's CloudWatch metrics; a drift alarm on them starts the "
        "retrain through EventBridge.",
    )
    sub = top.add_subparsers(dest="monitor_command", required=True, metavar="ACTION")

    run = with_home(
        sub.add_parser(
            "run",
            help="start a DriftCheck execution now, follow it and say what it started",
            description="Start the DriftCheck pipeline now (what the schedule does) on the captured "
            "traffic of the last --window-minutes up to now, so traffic just sent is "
            "included. It publishes Model Monitor's metrics: a drift alarm going to "
            "ALARM starts a retrain through the retrain rule, which deploys a canary; "
            "the command prints that execution's ARN. --check-only runs the same check "
            "here and publishes nothing.",
        )
    )
    _endpoint(run)
    run.add_argument(
        "--window-minutes",
        type=window_minutes,
        default=60,
        help="minutes of captured traffic before now to check (default 60)",
    )
    run.add_argument(
        "--check-only",
        action="store_true",
        help="run the check and report what a published check would set off "
        "(alarm, retrain), but publish nothing: no metrics, no report in S3, "
        "no alarm change, no retrain",
    )
    run.set_defaults(func=cmd_run)

    schedule = sub.add_parser(
        "schedule",
        help="the endpoint's drift-check schedule",
        description="The EventBridge scheduled rule <endpoint>-drift-check that starts DriftCheck (Deploy creates it).",
    )
    ssub = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")
    create = with_home(
        ssub.add_parser(
            "create",
            help="create or update the schedule",
            description="Create or update the endpoint's scheduled rule (idempotent).",
        )
    )
    _endpoint(create)
    create.add_argument(
        "--schedule",
        default=DEFAULT_SCHEDULE,
        metavar="EXPRESSION",
        help="EventBridge schedule expression, rate(...) or 6-field cron(...), UTC (default '%(default)s')",
    )
    create.add_argument(
        "--window-minutes", type=window_minutes, default=60, help="minutes of capture each check reads (default 60)"
    )
    create.set_defaults(func=cmd_schedule_create)
    lst = with_home(ssub.add_parser("list", help="show drift-check schedules"))
    lst.set_defaults(func=cmd_schedule_list)
    delete = with_home(ssub.add_parser("delete", help="delete the endpoint's schedule"))
    _endpoint(delete)
    delete.set_defaults(func=cmd_schedule_delete)

    alarms = with_home(
        sub.add_parser(
            "alarms",
            help="drift alarms and their state",
            description="The CloudWatch drift alarms (ml-gateway-drift-<feature>) and why they are in their state.",
        )
    )
    alarms.set_defaults(func=cmd_alarms)


def _clients(args: argparse.Namespace) -> tuple[Config, Any, Any, Any]:
    """(config, sagemaker, events, cloudwatch) of the localcloud already serving --home."""
    from mlgw.target import Target

    config = running(config_from(args))
    target = Target.local(config)
    return (config, target.client("sagemaker"), target.client("events"), target.client("cloudwatch"))


def _guard(func):
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (CliError, monitor.MonitorError) as exc:
            print_error(str(exc))
            return 2

    wrapper.__doc__ = func.__doc__
    return wrapper


@_guard
def cmd_run(args: argparse.Namespace) -> int:
    import datetime as dt

    from mlgw import drift_report
    from mlgw.local_run import clients, default_bucket
    from mlgw.progress import follow
    from processing import drift_schedule
    from processing.job import JobError

    config, sm, events, cloudwatch = _clients(args)
    require_endpoint(sm, args.endpoint, config)
    if args.check_only:
        _, _, s3 = clients(config)
        try:
            lines = drift_report.check_only(
                sm,
                s3,
                cloudwatch,
                events,
                endpoint=args.endpoint,
                schedule=drift_schedule.schedule_name(args.endpoint),
                bucket=default_bucket(config),
                window_minutes=args.window_minutes,
            )
        except JobError as exc:
            raise CliError(str(exc)) from None
        print("\n".join(lines))
        return 0
    try:
        arn = monitor.start_drift_check(sm, args.endpoint, args.window_minutes)
    except sm.exceptions.ResourceNotFound:
        raise CliError("no DriftCheck pipeline: `mlgw run` creates it") from None
    since = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["CreationTime"]
    print(f"started DriftCheck {arn}")
    print(
        drift_report.window_line(
            args.endpoint, since - dt.timedelta(minutes=args.window_minutes), since, args.window_minutes
        ),
        flush=True,
    )
    progress = drift_report.DriftCheckLines(config)
    result = follow(sm, arn, step_lines=progress)
    if not result.succeeded:
        print(f"DriftCheck {result.status}: {result.failure_reason}; nothing was published")
        return 1
    if progress.no_data:
        print(drift_report.NO_DATA_HINT)
    print("\n".join(drift_report.after_check(sm, events, cloudwatch, since)))
    return 0


@_guard
def cmd_schedule_create(args: argparse.Namespace) -> int:
    config, _, events, _ = _clients(args)
    arn = monitor.create_schedule(config, events, args.endpoint, args.schedule, args.window_minutes)
    print(arn)
    return 0


@_guard
def cmd_schedule_list(args: argparse.Namespace) -> int:
    _, _, events, _ = _clients(args)
    schedules = monitor.list_schedules(events)
    if not schedules:
        print("no drift-check schedules")
    for s in schedules:
        params = s["parameters"]
        print(
            f"{s['rule']}  {s['state']}  {s['expression']}  endpoint="
            f"{params.get('EndpointName', '?')}  window={params.get('WindowMinutes', '?')}m"
        )
        for target in s["targets"]:
            print(f"    -> {target}")
    return 0


@_guard
def cmd_schedule_delete(args: argparse.Namespace) -> int:
    _, _, events, _ = _clients(args)
    print(f"deleted {monitor.delete_schedule(events, args.endpoint)}")
    return 0


@_guard
def cmd_alarms(args: argparse.Namespace) -> int:
    _, _, _, cloudwatch = _clients(args)
    alarms = monitor.alarm_states(cloudwatch)
    if not alarms:
        print("no drift alarms")
    for alarm in alarms:
        print(f"{alarm['name']}  {alarm['state']}  (baseline {alarm['baseline'] or '-'})  {alarm['reason']}")
    return 0
