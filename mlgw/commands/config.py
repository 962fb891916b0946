"""`mlgw config show|set|history`: the run configuration every path reads (mlgw/run_config.py)."""

from __future__ import annotations

import argparse

from mlgw.args import CliError, config_from, parse_pairs, running, with_home


def _check_groups(sm, s3, changed, cache) -> None:
    """CliError when a feature group the configuration would name does not exist or holds other
    features than its contract's: the gateway follows the configuration at once and would answer
    every request with an error. (A run creates new groups: `mlgw run --param NAME=GROUP`.)"""
    from botocore.exceptions import ClientError

    from mlgw import run_config
    from processing import contract

    for parameter, name in changed.feature_groups().items():
        try:
            sm.describe_feature_group(FeatureGroupName=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("ResourceNotFound", "ResourceNotFoundException"):
                raise
            raise CliError(
                f"{parameter}={name}: no such feature group here; the gateway follows the configuration at once "
                f"and would answer every request with an error. A run creates it: `mlgw run --param {parameter}={name}`"
            ) from None
    try:
        run_config.check_feature_groups(sm, changed, contract.load(run_config.schema_file(s3, changed, cache)))
    except run_config.RunConfigError as exc:
        raise CliError(str(exc)) from None


def _flags(action):
    """--home/--port and the target flags, after the action as on every command."""
    with_home(action)
    action.add_argument(
        "--target",
        choices=["local", "aws"],
        default="local",
        help="localcloud (default) or AWS (the run configuration in your workflow bucket; "
        "`mlgw pipeline start --target aws` reads it)",
    )
    action.add_argument("--region", help="aws: the region (default: boto3's, $AWS_REGION)")
    action.add_argument(
        "--default-bucket", help="aws: the workflow bucket (default: the SDK's, sagemaker-REGION-ACCOUNT)"
    )
    return action


def register(sub) -> None:
    cfg = sub.add_parser(
        "config",
        help="show, change or list the run configuration (data, schema, parameters)",
        description="The run configuration: the data source, the data contract and the pipeline "
        "parameters that `mlgw run`, `mlgw pipeline start`, the drift → retrain rule, `mlgw traffic`, "
        "the gateway and the studio's Start form all read. `mlgw run` creates and updates it; "
        "each change is a new version, stored in the workflow bucket "
        "(s3://BUCKET/ml-gateway/run-config/).",
    )
    actions = cfg.add_subparsers(dest="config_action", required=True, metavar="ACTION")
    # --home/--port after the action, as on every command (`mlgw config show --home DIR`).
    _flags(
        actions.add_parser("show", help="every setting of the current version (and where it differs from the default)")
    )
    change = actions.add_parser(
        "set",
        help="set or unset pipeline parameters (a new version; the retrain rule and gateway follow)",
        description="Set pipeline parameters in the configuration without running: later runs, "
        "`pipeline start` and retrains use them. The data source and the schema change only "
        "through `mlgw run` (their data must pass Ingest first).",
    )
    change.add_argument("pairs", nargs="*", metavar="NAME=VALUE", help="parameters to set")
    change.add_argument(
        "--unset", action="append", default=[], metavar="NAME", help="back to the definition's default (repeatable)"
    )
    _flags(change)
    _flags(actions.add_parser("history", help="every version: when, why, by which execution, what changed"))
    cfg.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    from mlgw import local_run, run_config
    from mlgw.target import Target

    if args.target == "aws":
        target = Target.aws(args.region, bucket=args.default_bucket)
        config = None
    else:
        if args.region or args.default_bucket:
            raise CliError("--region and --default-bucket apply to --target aws: localcloud has its own")
        config = running(config_from(args))
        target = Target.local(config)
    s3 = target.client("s3")
    bucket = target.bucket
    if bucket is None:
        raise CliError("AWS cannot name your account (no credentials?): give --default-bucket")
    if args.config_action == "show":
        current = run_config.current(s3, bucket)
        print(
            f"version {current.version} ({current.created}, {current.reason})"
            if current
            else "no configuration stored yet: the defaults below apply (`mlgw run` stores one)"
        )
        shown = current or run_config.RunConfig()
        defaults = run_config.defaults()
        for name, value in shown.settings().items():
            mark = "  (set)" if name in shown.parameters or (name in defaults and defaults[name] != value) else ""
            print(f"  {name:<26} {value}{mark}")
        return 0
    if args.config_action == "history":
        versions = run_config.history(s3, bucket)
        if not versions:
            print("no configuration stored yet (`mlgw run` stores one)")
        previous = None
        for version in versions:
            execution = f" · {version.execution_arn.rsplit('/', 1)[-1]}" if version.execution_arn else ""
            print(f"version {version.version}  {version.created}  {version.reason}{execution}")
            # Each version against the one before; the first against the defaults, with its data.
            lines = run_config.changes(previous, version)
            if previous is None:
                lines = [f"data source: {version.source.describe()}"] + [
                    line for line in lines if not line.startswith("data source: ")
                ]
            for line in lines:
                print(f"    {line}")
            previous = version
        return 0
    if not args.pairs and not args.unset:
        raise CliError("config set needs NAME=VALUE pairs or --unset NAME")
    current = run_config.effective(s3, bucket)
    try:
        changed = run_config.with_parameters(current, parse_pairs(args.pairs, "config set"), tuple(args.unset))
    except run_config.RunConfigError as exc:
        raise CliError(str(exc)) from None
    if config is not None and changed.feature_groups() != current.feature_groups():
        _check_groups(target.client("sagemaker"), s3, changed, config.home / "schemas")
    lines = run_config.changes(current, changed)
    if not lines:
        print(f"nothing changed (version {current.version})")
        return 0
    if config is not None:
        local_run.ensure_bucket(s3, bucket)
    stored = run_config.save(s3, bucket, changed, reason="mlgw config set")
    print(f"version {stored.version}:")
    for line in lines:
        print(f"  {line}")
    if config is None:
        print("`mlgw pipeline start --target aws` runs with it")
        return 0
    local_run.ensure_retrain_rule(config, target.session, stored)
    local_run.publish_function_environment(config, s3, stored)
    print("the retrain rule and the gateway follow it; the next run uses it")
    return 0
