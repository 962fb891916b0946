"""`mlgw monitor run|schedule ...`: the local Model Monitor job and its schedules.

Wired into `mlgw` by mlgw/cli.py via `register(sub)`. Every command needs a
running localcloud (the capture, baseline and reports live in its S3 directory, and the drift
event goes to its EventBridge).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading

from localcloud.config import Config
from mlgw import monitor_schedule as sched


class MonitorCliError(Exception):
    """A problem the user can fix; printed without a traceback (exit 2)."""


def _running(args: argparse.Namespace) -> Config:
    from localcloud import daemon
    try:
        return daemon.require_running(Config.from_flags(args.home, args.port))
    except daemon.DaemonError as exc:
        raise MonitorCliError(str(exc)) from None


def _locations(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", default=sched.DEFAULT_ENDPOINT,
                   help=f"endpoint whose captured traffic is checked (default "
                        f"{sched.DEFAULT_ENDPOINT})")
    p.add_argument("--baseline", default=sched.DEFAULT_BASELINE_URI, metavar="URI",
                   help="folder with statistics.json and constraints.json (default %(default)s)")
    p.add_argument("--capture", default=sched.DEFAULT_CAPTURE_URI, metavar="URI",
                   help="data-capture destination; <endpoint>/<variant>/yyyy/mm/dd/hh under it "
                        "(default %(default)s)")
    p.add_argument("--output", default=sched.DEFAULT_OUTPUT_URI, metavar="URI",
                   help="reports go to <output>/<endpoint>/yyyy/mm/dd/hh/ (default %(default)s)")


def _hours(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _home(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", help="localcloud state directory (default: $MLGW_HOME or ./.mlgw)")
    p.add_argument("--port", type=int, help="localcloud port (default: $MLGW_PORT or 4777)")


def register(subparsers) -> None:
    monitor = subparsers.add_parser(
        "monitor", help="Model Monitor: check captured traffic against the baseline",
        description="Compare an endpoint's captured traffic with the training baseline, write "
                    "statistics.json / constraint_violations.json / report.html, export drift "
                    "metrics and, on violations, publish a 'Model Drift Detected' event that "
                    "the retrain rule turns into a pipeline execution.")
    msub = monitor.add_subparsers(dest="monitor_command", required=True, metavar="ACTION")

    run = msub.add_parser("run", help="one monitoring run now",
                          description="Run one monitoring execution over the last window of "
                                      "whole hours (or all captured data with --all).")
    _locations(run)
    span = run.add_mutually_exclusive_group()
    span.add_argument("--window-hours", type=_hours, default=1,
                      help="hours before the current hour to analyse (default 1)")
    span.add_argument("--all", action="store_true", help="analyse all captured data")
    run.add_argument("--json", action="store_true", help="print the outcome as JSON")
    _home(run)
    run.set_defaults(func=cmd_run)

    schedule = msub.add_parser("schedule", help="create, list, delete or start schedules",
                               description="Monitoring schedules, kept in "
                                           "<MLGW_HOME>/monitoring/schedules.json. `start` runs "
                                           "them in this terminal until Ctrl-C.")
    ssub = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")
    create = ssub.add_parser("create", help="save a schedule",
                             description="Save a monitoring schedule (hourly by default).")
    create.add_argument("--name", default=None,
                        help="schedule name (default <endpoint>-monitor)")
    create.add_argument("--cron", default=sched.DEFAULT_CRON,
                        help="5-field cron expression, UTC (default '%(default)s': hourly)")
    create.add_argument("--window-hours", type=_hours, default=1,
                        help="hours analysed per run (default 1)")
    _locations(create)
    _home(create)
    create.set_defaults(func=cmd_schedule_create)

    lst = ssub.add_parser("list", help="show saved schedules and their last run",
                          description="Show saved schedules, their next run and last outcome.")
    _home(lst)
    lst.set_defaults(func=cmd_schedule_list)

    delete = ssub.add_parser("delete", help="remove a schedule",
                             description="Remove a saved schedule (a running `start` stops "
                                         "running it within a minute).")
    delete.add_argument("name", nargs="?", default=None,
                        help=f"schedule name (default {sched.DEFAULT_ENDPOINT}-monitor)")
    _home(delete)
    delete.set_defaults(func=cmd_schedule_delete)

    start = ssub.add_parser("start", help="run the saved schedules (foreground)",
                            description="Run every saved schedule on its cron expression, "
                                        "logging each run, until interrupted. Schedules "
                                        "created or deleted meanwhile are picked up.")
    start.add_argument("--foreground", action="store_true",
                       help="run in this terminal (the only mode; accepted for symmetry with "
                            "`mlgw localcloud start`)")
    _home(start)
    start.set_defaults(func=cmd_schedule_start)


def _guard(func):
    """ScheduleError/MonitorCliError → message on stderr, exit 2, whichever `mlgw` calls us."""
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (MonitorCliError, sched.ScheduleError) as exc:
            print(f"mlgw monitor: {exc}", file=sys.stderr)
            return 2
    wrapper.__doc__ = func.__doc__
    return wrapper


@_guard
def cmd_run(args: argparse.Namespace) -> int:
    config = _running(args)
    outcome = sched.run_once(config, args.endpoint, args.baseline, args.capture, args.output,
                             None if args.all else args.window_hours)
    if args.json:
        print(json.dumps(outcome.to_dict(), indent=2))
    else:
        print(outcome.summary())
        for v in outcome.violations:
            print(f"  {v['feature_name']}: {v['constraint_check_type']}: {v['description']}")
    # no data / no baseline are not successes a script should miss
    return {"ok": 0, "violations": 0}.get(outcome.status, 1)


@_guard
def cmd_schedule_create(args: argparse.Namespace) -> int:
    config = _running(args)
    s = sched.create_schedule(config, sched.Schedule(
        args.name or f"{args.endpoint}-monitor", args.endpoint, args.cron, args.baseline,
        args.capture, args.output, args.window_hours))
    print(f"schedule {s.name} created ({s.cron}, {s.endpoint}); run it with "
          f"`mlgw monitor schedule start`")
    return 0


@_guard
def cmd_schedule_list(args: argparse.Namespace) -> int:
    import datetime as dt
    config = _running(args)
    schedules = sched.load_schedules(config)
    if not schedules:
        print("no schedules")
    now = dt.datetime.now(dt.timezone.utc)
    for s in schedules:
        nxt = sched.next_run(s.cron, now).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{s.name}  {s.cron}  endpoint={s.endpoint}  window={s.window_hours}h  next={nxt}")
        if s.last_run:
            print(f"    last: {s.last_run.get('status')} {s.last_run.get('window_end')}: "
                  f"{s.last_run.get('message')}")
    return 0


@_guard
def cmd_schedule_delete(args: argparse.Namespace) -> int:
    config = _running(args)
    name = args.name or f"{sched.DEFAULT_ENDPOINT}-monitor"
    sched.delete_schedule(config, name)
    print(f"schedule {name} deleted")
    return 0


@_guard
def cmd_schedule_start(args: argparse.Namespace) -> int:
    config = _running(args)
    if not sched.load_schedules(config):
        raise MonitorCliError("no schedules; create one with `mlgw monitor schedule create`")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    print(f"running monitoring schedules from {sched.schedules_file(config)}; Ctrl-C to stop")
    try:
        sched.run_saved_schedules(config, stop)
    except KeyboardInterrupt:
        stop.set()
        print("stopped")
    return 0
