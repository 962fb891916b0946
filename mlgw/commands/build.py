"""`mlgw build lambda`: build the deployment artifacts AWS runs, from their one definition."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlgw.args import CliError


def register(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build a deployment artifact (the gateway Lambda's zip)",
        description="Build what AWS runs from its one definition. `lambda`: the gateway "
        "function's zip, holding the handler the CloudFormation template names "
        "(infra/ml-gateway.yaml, GatewayFunction) and every module of this project it imports, "
        "with the schema they read; boto3 is the Lambda runtime's own. Prints the zip's path, "
        "its SHA-256 and the S3 key to upload it under (infra/README.md step 2).",
    )
    what = p.add_subparsers(dest="artifact", required=True, metavar="ARTIFACT")
    lam = what.add_parser(
        "lambda",
        help="the gateway Lambda's zip",
        description="Write gateway-lambda.zip (reproducible: the same sources give the same bytes).",
    )
    lam.add_argument(
        "--out", default="build", metavar="DIR", help="folder to write gateway-lambda.zip to (default: build)"
    )
    lam.set_defaults(func=cmd_build_lambda)


def cmd_build_lambda(args: argparse.Namespace) -> int:
    from mlgw import lambda_package

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out}: not a folder")
    try:
        package = lambda_package.build(out)
    except (FileNotFoundError, KeyError) as exc:
        raise CliError(f"cannot build the Lambda package: {exc}") from None
    except OSError as exc:
        raise CliError(f"cannot write {out / lambda_package.ZIP_NAME}: {exc.strerror or exc}") from None
    print(f"{package.path}  ({len(package.files)} files, handler {package.handler})")
    print(f"sha256  {package.sha256}")
    print(f"s3 key  {package.s3_key}")
    return 0
