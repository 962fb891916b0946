"""`mlgw pipeline ACTION --target aws`: the same pipeline on SageMaker, with your AWS credentials.

upsert builds the definition with the SDK (which uploads code to the default bucket) and
creates or updates the pipeline; everything else speaks plain boto3 SageMaker APIs, so `start`
never changes the definition it starts — CodeBuild runs `upsert` then `start`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mlgw import executions
from mlgw.progress import ExecutionResult
from mlgw.target import Target

DEFAULT_MODEL_PACKAGE_GROUP = "MLGatewayFraud"  # run_pipeline.build's default
DEFAULT_STACK = "ml-gateway"  # infra/README.md's STACK
CONFIG_KEYS = {
    "stack_name",
    "role_arn",
    "region",
    "default_bucket",
    "model_package_group_name",
    "processing_image_uri",
    "tags",
    "parameters",
}


def _error(message: str) -> Exception:
    from mlgw.args import CliError

    return CliError(message)


# -- settings --------------------------------------------------------------------------------


@dataclass
class Settings:
    region: str | None = None
    stack_name: str = DEFAULT_STACK
    role_arn: str | None = None
    default_bucket: str | None = None
    model_package_group_name: str = DEFAULT_MODEL_PACKAGE_GROUP
    processing_image_uri: str | None = None  # None: the account's ml-gateway-processing:latest
    tags: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)


def load_config(path: str | None) -> dict[str, Any]:
    """The --config file, checked: a typo'd key must not be silently ignored."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise _error(f"config file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise _error(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _error(f"config file {path} must hold a JSON object")
    unknown = sorted(set(data) - CONFIG_KEYS)
    if unknown:
        raise _error(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(CONFIG_KEYS))}"
        )
    for key in ("tags", "parameters"):
        if key in data and not isinstance(data[key], dict):
            raise _error(f"config file {path}: {key} must be an object of name: value")
    for key in CONFIG_KEYS - {"tags", "parameters"}:
        if key in data and not isinstance(data[key], str):
            raise _error(f"config file {path}: {key} must be a string")
    return data


def resolve(args: argparse.Namespace) -> Settings:
    """Config file, then flags over it; region falls back to $AWS_REGION / $AWS_DEFAULT_REGION."""
    from mlgw.args import parse_pairs

    config = load_config(args.config)
    tags = {k: str(v) for k, v in config.get("tags", {}).items()}
    tags.update(parse_pairs(args.tag, "--tag"))
    parameters = {k: _param_value(v) for k, v in config.get("parameters", {}).items()}
    parameters.update(parse_pairs(args.param, "--param"))
    return Settings(
        region=(
            args.region or config.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        ),
        stack_name=getattr(args, "stack_name", None) or config.get("stack_name") or DEFAULT_STACK,
        role_arn=args.role_arn or config.get("role_arn"),
        default_bucket=args.default_bucket or config.get("default_bucket"),
        model_package_group_name=(
            args.model_package_group_name or config.get("model_package_group_name") or DEFAULT_MODEL_PACKAGE_GROUP
        ),
        processing_image_uri=(getattr(args, "processing_image_uri", None) or config.get("processing_image_uri")),
        tags=tags,
        parameters=parameters,
    )


def _param_value(value: Any) -> str:
    # PipelineParameters values are strings on the wire; JSON numbers are a convenience.
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _require(value: str | None, flag: str, action: str) -> str:
    if not value:
        raise _error(f"{flag} is required for {action} on AWS (or set it in --config)")
    return value


# -- clients ---------------------------------------------------------------------------------


def warn_endpoint_overrides(err: TextIO | None = None) -> None:
    """AWS_ENDPOINT_URL (e.g. left over from `mlgw localcloud env`) silently redirects boto3."""
    err = err or sys.stderr
    for name in sorted(os.environ):
        if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_"):
            print(
                f"mlgw: warning: {name}={os.environ[name]} redirects AWS calls away from AWS; "
                f"unset it to reach SageMaker",
                file=err,
            )


def target(settings: Settings) -> Target:
    """The AWS account of `settings`: boto3's credential chain (never localcloud's), the
    region required, the default bucket if given (else the SDK's, asked of STS when needed)."""
    region = _require(settings.region, "--region", "--target aws")
    return Target.aws(region, bucket=settings.default_bucket)


def session(settings: Settings) -> Any:
    """A real boto3 session of target(settings), for the SageMaker SDK."""
    return target(settings).session


# The stack Outputs (infra/ml-gateway.yaml) the definition takes: the role EventBridge starts
# DriftCheck as, and Deploy's endpoint (the one the gateway and alarms name).
STACK_OUTPUTS = ("RetrainRoleArn", "EndpointName")


def stack_outputs(settings: Settings) -> dict[str, str]:
    """{OutputKey: OutputValue} of the deployed stack `settings.stack_name` (CloudFormation
    DescribeStacks); CliError naming the stack when it is not deployed or lacks an output of
    STACK_OUTPUTS (an older template: update the stack)."""
    from botocore.exceptions import ClientError

    name = settings.stack_name
    try:
        stacks = target(settings).client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise _error(
            f"stack {name}: {message} (deploy infra/ml-gateway.yaml first, infra/README.md step 3, "
            "or name yours with --stack-name)"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [key for key in STACK_OUTPUTS if key not in outputs]
    if missing:
        raise _error(f"stack {name} has no output {', '.join(missing)}: update it with infra/ml-gateway.yaml")
    return outputs


def sagemaker_client(settings: Settings) -> Any:
    """The SageMaker client every action but upsert uses."""
    return target(settings).client("sagemaker")


# -- actions ---------------------------------------------------------------------------------


def run_aws(args: argparse.Namespace) -> int:
    settings = resolve(args)
    warn_endpoint_overrides()
    action = args.action
    if action == "upsert":
        if args.param:  # config-file parameters are for start; a flag here is a mistake
            raise _error("--param applies to start, not upsert: the definition keeps its defaults")
        print(upsert(settings, args.pipeline_name))
        return 0
    if getattr(args, "processing_image_uri", None):
        # The image is part of the definition: only upsert can change it.
        raise _error(
            f"--processing-image-uri applies to upsert, not {action}: {action} uses the definition SageMaker holds"
        )
    if action == "start":
        return _finish(start(settings, args.pipeline_name, args.print_arn, args.wait))
    if action == "executions":
        executions.print_executions(target(settings), args.pipeline_name, sm=sagemaker_client(settings))
        return 0
    if action == "describe":
        executions.print_execution(
            target(settings), args.pipeline_name, args.execution_arn, sm=sagemaker_client(settings)
        )
        return 0
    if action == "retry":
        return _finish(retry(settings, args.pipeline_name, args.execution_arn, args.wait))
    raise _error(f"unknown pipeline action {action}")


def _finish(result: ExecutionResult | None) -> int:
    if result is None:
        return 0
    if not result.succeeded:
        reason = f": {result.failure_reason}" if result.failure_reason else ""
        print(f"mlgw: execution {result.arn} {result.status}{reason}", file=sys.stderr)
    return 0 if result.succeeded else 1


def upsert(settings: Settings, pipeline_name: str) -> str:
    """Build the definition with the SDK (the events role and endpoint name from the stack's
    Outputs) and create or update the pipeline; its ARN."""
    from pipelines.ml_gateway import run_pipeline

    role = _require(settings.role_arn, "--role-arn", "upsert")
    region = _require(settings.region, "--region", "upsert")
    outputs = stack_outputs(settings)
    from sagemaker.core.helper.iam_role_resolver import RoleValidationError

    try:
        # The SDK checks roles while building and upserting. Its training-role smoke test
        # (ec2 VPC actions, unconditioned PutMetricData) is off while the definition is built:
        # run_pipeline.training_role_smoke_test_off says why; the pipeline role's trust check
        # at upsert still runs. tests/test_iam_conformance.py checks the role instead.
        pipeline = run_pipeline.build(
            region,
            role,
            settings.default_bucket,
            pipeline_name,
            settings.model_package_group_name,
            session(settings),
            settings.processing_image_uri,
            events_role_arn=outputs["RetrainRoleArn"],
            endpoint_name=outputs["EndpointName"],
        )
    except RoleValidationError as exc:
        raise _error(f"role {role} cannot run the pipeline: {exc}") from None
    arn = run_pipeline.upsert(pipeline, role, settings.tags)
    upsert_drift_check(settings, role, region)
    return arn


def upsert_drift_check(settings: Settings, role: str, region: str) -> str:
    """The DriftCheck pipeline that Deploy schedules for its endpoint; its ARN (on stderr:
    stdout stays the training pipeline's ARN for scripts)."""
    from pipelines.drift_check.pipeline import get_pipeline
    from pipelines.ml_gateway import run_pipeline

    with run_pipeline.quiet_sdk():
        pipeline = get_pipeline(
            region=region,
            role=role,
            default_bucket=settings.default_bucket,
            boto_session=session(settings),
            processing_image_uri=settings.processing_image_uri,
        )
    arn = run_pipeline.upsert(pipeline, role, settings.tags)
    print(f"drift check pipeline {arn}", file=sys.stderr)
    return arn


def pipeline_parameters(sm, pipeline_name: str) -> list[dict[str, Any]]:
    """The parameters of the definition SageMaker holds (what `start` will run)."""
    from botocore.exceptions import ClientError

    try:
        described = sm.describe_pipeline(PipelineName=pipeline_name)
    except ClientError as exc:
        if not _is_missing(exc):
            raise
        raise _error(
            f"pipeline {pipeline_name} does not exist on AWS; run `mlgw pipeline upsert --target aws` first"
        ) from None
    return json.loads(described["PipelineDefinition"]).get("Parameters", [])


def _is_missing(exc) -> bool:
    # AWS says ResourceNotFound; some stand-ins say ValidationException "Could not find ...".
    error = exc.response.get("Error", {})
    message = error.get("Message", "").lower()
    return error.get("Code") == "ResourceNotFound" or (
        error.get("Code") == "ValidationException" and ("could not find" in message or "does not exist" in message)
    )


def check_parameters(declared: list[dict[str, Any]], given: dict[str, str]) -> None:
    """Unknown names, values not of the declared type and values outside an enum fail here,
    before anything runs (the checks `mlgw run` makes, against the definition AWS holds)."""
    from pipelines.ml_gateway.parameters import ParameterError, validate

    try:
        validate(given, declared)
    except ParameterError as exc:
        raise _error(str(exc)) from None


def configured_parameters(settings: Settings) -> dict[str, str]:
    """The run configuration's parameters from the workflow bucket; {} when none is stored
    there (or the bucket does not exist yet)."""
    from mlgw import run_config

    where = target(settings)
    bucket = where.bucket
    if bucket is None:
        return {}
    configured = run_config.current(where.client("s3"), bucket)
    return configured.pipeline_parameters() if configured else {}


def start(
    settings: Settings, pipeline_name: str, print_arn: bool = False, wait: bool = False, sm: Any = None
) -> ExecutionResult | None:
    """Start the pipeline as SageMaker holds it (start never changes the definition), with the
    run configuration stored in the workflow bucket (mlgw/run_config.py; `mlgw config --target
    aws`), the config file's and --param's parameters over it."""
    sm = sm or sagemaker_client(settings)
    parameters = {**configured_parameters(settings), **settings.parameters}
    check_parameters(pipeline_parameters(sm, pipeline_name), parameters)
    response = sm.start_pipeline_execution(
        PipelineName=pipeline_name,
        ClientRequestToken=uuid.uuid4().hex,
        PipelineParameters=[{"Name": k, "Value": v} for k, v in parameters.items()],
    )
    arn = response["PipelineExecutionArn"]
    print(arn, flush=True)
    if not wait:
        return None
    # With --print-arn stdout holds only the ARN (for $(...)); progress goes to stderr.
    return executions.following(target(settings), arn, sm, out=sys.stderr if print_arn else sys.stdout)


def retry(
    settings: Settings, pipeline_name: str, arn: str | None, wait: bool = False, sm: Any = None
) -> ExecutionResult | None:
    """Retry a failed execution from its failed steps (default: the latest execution)."""
    sm = sm or sagemaker_client(settings)
    where = target(settings)
    arn, before = executions.start_retry(where, pipeline_name, arn, sm)
    print(arn, flush=True)
    if not wait:
        return None
    return executions.follow_retry(where, arn, before, sm)
