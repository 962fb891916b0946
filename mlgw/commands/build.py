"""`mlgw build lambda|images`: build the deployment artifacts AWS runs, from their one definition."""

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
    img = what.add_parser(
        "images",
        help="the local environment of every container image the pipeline runs",
        description="Build, once, the local environment of each image the pipeline names, from "
        "its one definition (processing/image.toml: the processing image; training/image.toml: "
        "SageMaker's XGBoost 1.7-1 image, which trains and serves): a venv of the image's Python "
        "with its pinned requirements, cached by the definition's digest (MLGW_IMAGE_CACHE, "
        "default ~/.cache/mlgw/images). localcloud runs every job in its image's environment and "
        "builds a missing one on first use; this command does it ahead, with progress. An image "
        "already built is only looked up.",
    )
    img.set_defaults(func=cmd_build_images)


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


def cmd_build_images(args: argparse.Namespace) -> int:
    from localcloud.sagemaker import images

    try:
        for image in images.definitions():
            python = images.built(image)
            if python is None:
                python = images.build(image, lambda line: print(line, flush=True))
            else:
                print(f"image {image.name} (Python {image.python}): {python}")
    except images.ImageError as exc:
        raise CliError(str(exc)) from None
    return 0
