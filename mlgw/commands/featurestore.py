"""`mlgw featurestore list|delete`: the feature groups, and which the run configuration uses."""

from __future__ import annotations

import argparse

from mlgw.args import CliError, config_from, running, with_home


def register(sub) -> None:
    fs = sub.add_parser(
        "featurestore",
        help="list feature groups, delete those no configuration uses",
        description="Feature groups of this localcloud. Each data contract gets its own groups "
        "(claims-<digest8>, customers-<digest8>; the default contract `claims`, `customers`), so "
        "older groups stay when the schema changes: list them, and delete the ones you no longer need.",
    )
    actions = fs.add_subparsers(dest="featurestore_action", required=True, metavar="ACTION")
    # --home/--port after the action, as on every command (`mlgw featurestore list --home DIR`).
    with_home(
        actions.add_parser("list", help="every group: status, features, created, in use by the current configuration")
    )
    delete = with_home(actions.add_parser("delete", help="delete a feature group (online and offline store)"))
    delete.add_argument("name", help="the feature group")
    delete.add_argument(
        "--force", action="store_true", help="also when the current run configuration uses it (retrains would fail)"
    )
    fs.set_defaults(func=cmd_featurestore)


def cmd_featurestore(args: argparse.Namespace) -> int:
    from botocore.exceptions import ClientError

    from mlgw import local_run
    from mlgw.target import Target

    config = running(config_from(args))
    target = Target.local(config)
    sm = target.client("sagemaker")
    in_use = set(local_run.current_config(config, target.client("s3")).feature_groups().values())
    if args.featurestore_action == "list":
        pages = sm.get_paginator("list_feature_groups").paginate()
        groups = [g for page in pages for g in page["FeatureGroupSummaries"]]
        if not groups:
            print("no feature groups (a run's FeatureStore step creates them)")
        for group in sorted(groups, key=lambda g: g["FeatureGroupName"]):
            name = group["FeatureGroupName"]
            described = sm.describe_feature_group(FeatureGroupName=name)
            print(
                f"{name:<24} {group['FeatureGroupStatus']:<10} {len(described['FeatureDefinitions']):>3} features  "
                f"created {group['CreationTime']:%Y-%m-%d %H:%M}" + ("  in use" if name in in_use else "")
            )
        return 0
    if args.name in in_use and not args.force:
        raise CliError(
            f"feature group {args.name} is used by the current run configuration (`mlgw config show`): "
            "the gateway and retrains read it. Run with another schema first, or say --force"
        )
    try:
        sm.delete_feature_group(FeatureGroupName=args.name)
    except ClientError as exc:
        raise CliError(f"cannot delete feature group {args.name}: {exc.response['Error'].get('Message')}") from None
    print(f"deleting feature group {args.name} (its offline-store files stay in S3, as on AWS)")
    return 0
