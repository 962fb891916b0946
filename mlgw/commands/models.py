"""`mlgw models list|describe|compare|approve|reject`: the model registry's versions, approval
and metrics."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from mlgw.args import CliError, config_from, running, with_home


def register(sub) -> None:
    models = with_home(
        sub.add_parser(
            "models",
            help="registered model versions: approval status and evaluation metrics",
            description="list: every version of the model package group, newest first, with its "
            "approval status, test AUC and PR-AUC. describe VERSION: one version's "
            "package, metrics, confusion matrix and lineage (execution, rows and digest of "
            "each split, schema digest, parameters, champion gate; VERSION is a number or a "
            "model package ARN; default the newest). compare A B: two versions side by side, "
            "whether their datasets, test sets and schemas are the same and the parameters "
            "that differ; a metric's change only when both were scored on the same test set. "
            "approve VERSION / reject VERSION [--reason TEXT]: set its ModelApprovalStatus "
            "(UpdateModelPackage, with the reason as its ApprovalDescription); a version an "
            "endpoint serves is not rejected unless --force. "
            "Reads and writes localcloud by default, AWS with --target aws (your credentials).",
        )
    )
    models.add_argument(
        "action",
        choices=["list", "describe", "compare", "approve", "reject"],
        help="list versions, describe one, compare two, approve or reject one (see above)",
    )
    models.add_argument(
        "versions",
        nargs="*",
        metavar="VERSION",
        help="describe: one version (default the newest); compare: two; approve, reject: one",
    )
    models.add_argument("--reason", help="approve/reject: why (recorded as the package's ApprovalDescription)")
    models.add_argument(
        "--force", action="store_true", help="reject: even a version an endpoint serves (it keeps serving)"
    )
    models.add_argument("--group", default="MLGatewayFraud", help="model package group (default MLGatewayFraud)")
    models.add_argument("--target", choices=["local", "aws"], default="local", help="localcloud (default) or AWS")
    models.add_argument("--region", help="AWS region (aws: default $AWS_REGION)")
    models.set_defaults(func=cmd_models)


def _clients(args: argparse.Namespace) -> tuple[Any, Any]:
    """(sagemaker, s3) of the target: AWS (boto3's credentials, --region) or the localcloud
    already serving --home."""
    from mlgw.target import Target

    target = Target.aws(args.region) if args.target == "aws" else Target.local(running(config_from(args)))
    return target.client("sagemaker"), target.client("s3")


# CreateModelPackage / DescribeModelPackage: a package is named by its ARN (or, within a group,
# by its version, a positive integer). https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModelPackage.html
PACKAGE_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:model-package/\S+")


def check_version(text: str) -> str:
    """VERSION as the user typed it, if it is a version number (1, 2, ...) or a model package
    ARN; otherwise CliError saying what is expected."""
    if (text.isdigit() and int(text) >= 1) or PACKAGE_ARN.fullmatch(text):
        return text
    raise CliError(
        f"{text!r} is not a model version: give a version number (1, 2, ...; "
        "`mlgw models list` shows them) or a model package ARN"
    )


def cmd_models(args: argparse.Namespace) -> int:
    from mlgw import registry_view as registry

    for version in args.versions:
        check_version(version)
    if args.action in ("approve", "reject"):
        return cmd_approval(args)
    for flag, value in (("--reason", args.reason), ("--force", args.force)):
        if value:
            raise CliError(f"{flag} applies to approve and reject")
    sm, s3 = _clients(args)
    out = sys.stdout
    try:
        if args.action == "list":
            if args.versions:
                raise CliError("list takes no VERSION; use `mlgw models describe VERSION`")
            registry.print_list(sm, s3, args.group, out)
        elif args.action == "describe":
            if len(args.versions) > 1:
                raise CliError("describe takes one VERSION")
            version = args.versions[0] if args.versions else _newest(registry, sm, args.group)
            registry.print_describe(registry.describe(sm, s3, version, args.group), out)
        else:
            if len(args.versions) != 2:
                raise CliError("compare takes two versions, e.g. `mlgw models compare 1 2`")
            a, b = (registry.describe(sm, s3, v, args.group) for v in args.versions)
            registry.print_compare(a, b, out)
    except registry.RegistryError as exc:
        raise CliError(str(exc)) from None
    return 0


def _newest(registry, sm, group: str) -> str:
    summaries = registry.versions(sm, group)
    if not summaries:
        raise CliError(f"model package group {group} has no versions yet; `mlgw run` registers one")
    return summaries[0]["ModelPackageArn"]


def cmd_approval(args: argparse.Namespace) -> int:
    """approve / reject VERSION: mlgw/approval.py, the studio's buttons' code."""
    from mlgw import approval

    if len(args.versions) != 1:
        raise CliError(f"{args.action} takes one VERSION, e.g. `mlgw models {args.action} 3`")
    if args.force and args.action != "reject":
        raise CliError("--force applies to reject (a version an endpoint serves)")
    sm, _ = _clients(args)
    status = "Approved" if args.action == "approve" else "Rejected"
    try:
        change = approval.set_approval(
            sm,
            args.group,
            args.versions[0],
            status,
            args.reason or "",
            force=args.force,
            via=f"mlgw models {args.action}",
        )
    except approval.ApprovalError as exc:
        raise CliError(str(exc)) from None
    print(approval.summary(change))
    return 0
