"""`mlgw pipeline`: upsert, start, list, describe and retry pipeline executions."""

from __future__ import annotations

import argparse
import re

from mlgw.args import CliError, config_from, parse_pairs, running, with_home


def register(sub) -> None:
    pipe = with_home(
        sub.add_parser(
            "pipeline",
            help="upsert and start the pipeline; list, inspect or retry its executions",
            description="Inspect executions of the pipeline in localcloud.",
        )
    )
    pipe.description = (
        "Upsert and start the pipeline, list, inspect or retry its executions — "
        "on localcloud (default) or on AWS (--target aws, with the SageMaker SDK "
        "and your AWS credentials)."
    )
    pipe.add_argument(
        "action",
        choices=["upsert", "start", "executions", "describe", "retry"],
        help="upsert: create or update the definition; start: start an execution "
        "and follow it; executions: list them; describe: one execution's steps; "
        "retry: resume a failed execution from its failed step",
    )
    pipe.add_argument("execution_arn", nargs="?", help="execution ARN (default: the latest)")
    pipe.add_argument("--target", choices=["local", "aws"], default="local", help="localcloud (default) or AWS")
    pipe.add_argument("--pipeline-name", default="MLGatewayPipeline", help="the pipeline (default MLGatewayPipeline)")
    pipe.add_argument(
        "--config",
        metavar="FILE",
        help="aws: JSON file with any of stack_name, role_arn, region, default_bucket, "
        "model_package_group_name, processing_image_uri, tags {k: v}, "
        "parameters {name: value}; flags override it",
    )
    pipe.add_argument(
        "--stack-name",
        help="aws upsert: the deployed infra/ml-gateway.yaml stack whose Outputs name the events role "
        "and the endpoint (default ml-gateway)",
    )
    pipe.add_argument("--role-arn", help="pipeline execution role (aws: required)")
    pipe.add_argument("--region", help="AWS region (aws: default $AWS_REGION)")
    pipe.add_argument("--default-bucket", help="aws: bucket for code and artifacts (default: the SDK's)")
    pipe.add_argument("--model-package-group-name", help="aws: default MLGatewayFraud")
    pipe.add_argument(
        "--processing-image-uri",
        metavar="URI",
        help="aws upsert: container image for every processing step (Ingest, "
        "FeatureStore, BuildDataset, Baseline, Evaluate, Deploy), built from "
        "processing/Dockerfile and pushed to ECR (buildspec.yml does both). "
        "Default: ACCOUNT.dkr.ecr.REGION.amazonaws.com/ml-gateway-processing:"
        "latest, ACCOUNT from STS GetCallerIdentity. Training and serving keep "
        "SageMaker's XGBoost image; the local executor runs no image, so "
        "--target local rejects this flag",
    )
    pipe.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="aws upsert: tag for the pipeline (repeatable)"
    )
    pipe.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="pipeline parameter for start (repeatable)"
    )
    pipe.add_argument(
        "--wait",
        action="store_true",
        help="start/retry: stream step status until the execution ends; "
        "exit 1 if it fails (local start/retry always wait)",
    )
    pipe.add_argument(
        "--print-arn", action="store_true", help="start: print only the execution ARN (for scripts, e.g. buildspec.yml)"
    )
    pipe.set_defaults(func=cmd_pipeline)


# DescribePipelineExecution's PipelineExecutionArn pattern (SageMaker API reference,
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribePipelineExecution.html).
EXECUTION_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:pipeline/.+/execution/.+")


def cmd_pipeline(args: argparse.Namespace) -> int:
    if args.execution_arn is not None:
        if args.action not in ("describe", "retry"):
            raise CliError(f"{args.action} takes no execution ARN (describe and retry do)")
        if not EXECUTION_ARN.fullmatch(args.execution_arn):
            raise CliError(
                f"{args.execution_arn!r} is not a pipeline execution ARN "
                "(arn:aws:sagemaker:REGION:ACCOUNT:pipeline/NAME/execution/ID); "
                "`mlgw pipeline executions` lists them"
            )
    from botocore.exceptions import ClientError

    try:
        return _pipeline(args)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = error.get("Message", "")
        if args.target == "local" and error.get("Code") == "ResourceNotFound":
            if message.startswith("Pipeline execution"):
                raise CliError(
                    f"execution {args.execution_arn or ''} does not exist on this "
                    f"state directory ({config_from(args).home}); `mlgw pipeline "
                    "executions` lists them"
                ) from None
            if message.startswith("Pipeline"):
                raise CliError(
                    f"pipeline {args.pipeline_name} does not exist on this state "
                    f"directory ({config_from(args).home}); run `mlgw run` "
                    "first"
                ) from None
        raise


def _pipeline(args: argparse.Namespace) -> int:
    from mlgw import local_run

    if args.target == "aws":
        from mlgw.aws_run import run_aws

        return run_aws(args)
    if args.processing_image_uri:
        raise CliError(
            "--processing-image-uri applies to --target aws: the local executor "
            "runs the processing scripts without an image"
        )
    for flag, value in (
        ("--config", args.config),
        ("--stack-name", args.stack_name),
        ("--role-arn", args.role_arn),
        ("--region", args.region),
        ("--default-bucket", args.default_bucket),
        ("--model-package-group-name", args.model_package_group_name),
        ("--tag", args.tag),
    ):
        if value:  # never a flag that silently does nothing
            why = (
                "it tags the pipeline on AWS (upsert)"
                if flag == "--tag"
                else "locally the pipeline runs with localcloud's role, region and bucket "
                "(parameters: --param NAME=VALUE)"
            )
            raise CliError(f"{flag} applies to --target aws: {why}")
    config = running(config_from(args))
    if args.action in ("upsert", "start"):
        from mlgw.run_config import RunConfigError
        from pipelines.ml_gateway.run_pipeline import ParameterError

        try:
            result = local_run.upsert_or_start(
                config, args.action, args.pipeline_name, parse_pairs(args.param), args.print_arn
            )
        except (ParameterError, RunConfigError, local_run.RunInProgress) as exc:
            raise CliError(str(exc)) from None
        return 0 if result is None or result.succeeded else 1
    if args.action == "executions":
        local_run.print_executions(config, args.pipeline_name)
        return 0
    if args.action == "describe":
        local_run.print_execution(config, args.pipeline_name, args.execution_arn)
        return 0
    if args.action == "retry":
        result = local_run.retry(config, args.pipeline_name, args.execution_arn)
        return 0 if result.succeeded else 1
    raise CliError(f"unknown pipeline action {args.action}")
