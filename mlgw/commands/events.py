"""`events list` / `events rules`: read EventBridge state straight from the state directory
(no server needed — the log and the rules are plain SQLite, safe to read while it runs)."""

from __future__ import annotations

import argparse
import json

from localcloud.cloud import LocalCloud
from mlgw.args import CliError, bounded_int, config_from, fresh_state_hint, with_home

# Each event is read with its deliveries (a query each) and printed: past a screenful of
# thousands the list is for a database tool, not this command.
MAX_EVENTS = 10_000
event_limit = bounded_int(1, MAX_EVENTS, "each is read with its deliveries and printed")


def register(subparsers) -> None:
    events = subparsers.add_parser(
        "events",
        help="EventBridge: recent events, rules and deliveries",
        description="Show events put to localcloud's EventBridge, the rules they matched and what each target did.",
    )
    events.add_argument(
        "action",
        choices=["list", "rules"],
        help="list: recent events and what each rule did with them; rules: the rules and their targets",
    )
    events.add_argument("--limit", type=event_limit, default=20, help="events to show (default 20)")
    with_home(events, port=False)
    events.set_defaults(func=cmd_events)


def _cloud(args: argparse.Namespace) -> LocalCloud:
    """The state directory's EventBridge, read in this process; CliError on a directory where
    nothing has run (opening it would create an empty state there)."""
    config = config_from(args)
    if not config.state_db.exists():
        raise CliError(fresh_state_hint(config))
    return LocalCloud(config)


def _missing(cloud: LocalCloud, arn: str) -> str:
    """A note when a rule's target pipeline does not exist (its events would fail to start
    anything)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sagemaker" or not parts[5].startswith("pipeline/"):
        return ""
    from localcloud.errors import AwsError

    name = parts[5].split("/", 1)[1]
    try:  # by ARN: the ARN's name is lower-cased, the pipeline's need not be
        cloud.client("sagemaker").call("DescribePipeline", {"PipelineName": arn})
    except AwsError:
        return f"  (target pipeline {name} does not exist)"
    return ""


def cmd_events(args: argparse.Namespace) -> int:
    cloud = _cloud(args)
    if args.action == "rules":
        rules = cloud.events.rules()
        if not rules:
            print("no rules")
        for rule in rules:
            what = rule.get("EventPattern") or rule.get("ScheduleExpression") or ""
            print(f"{rule['Name']}  {rule['State']}  {what}")
            for target in rule["Targets"]:
                params = (target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList")
                extra = f"  params={json.dumps(params)}" if params else ""
                print(f"    -> {target['Id']}: {target['Arn']}{extra}{_missing(cloud, target['Arn'])}")
        return 0
    events = cloud.events.list_events(args.limit)
    if not events:
        print("no events")
    for event in events:
        print(f"{event['time']}  {event['id']}  {event['source']}  {event['detail-type']}")
        if not event["matches"]:
            print("    (no rule matched)")
        for match in event["matches"]:
            print(f"    {match['rule']} -> {match['target_id']}: {match['outcome']}")
    return 0
