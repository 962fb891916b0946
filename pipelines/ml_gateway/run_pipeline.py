"""Upsert and start the ML Gateway pipeline: what CodeBuild runs on AWS and `mlgw run` runs
locally (with the SDK's clients aimed at localcloud by AWS_ENDPOINT_URL)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# ParameterError is part of this module's interface (the CLI catches it from here).
from pipelines.ml_gateway.parameters import ParameterError, validate  # noqa: F401

PIPELINE_DESCRIPTION = "ML Gateway: ingest → features → train → deploy"


@contextmanager
def quiet_sdk() -> Iterator[None]:
    """Hide the SDK's notes while it builds steps ("Popping out 'ProcessingJobName'...", "No Wait,
    No Logs" under a PipelineSession): true of every pipeline, actionable for none. Its errors
    still arrive as exceptions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


@contextmanager
def training_role_smoke_test_off() -> Iterator[None]:
    """Skip the SDK's client-side role check (SAGEMAKER_VALIDATE_ROLE=false) for the block.

    SageMaker SDK 3.x's ModelTrainer validates its role while the definition is built
    (sagemaker.core.helper.iam_role_resolver: iam:SimulatePrincipalPolicy, no resource, no
    context) against a generic training role's needs: the ec2:*NetworkInterface* / Describe*
    actions of VPC jobs and an unconditioned cloudwatch:PutMetricData. This pipeline runs no job
    in a VPC and infra/ml-gateway.yaml grants PutMetricData only for SageMaker's namespaces, so
    on a least-privilege role the check fails (RoleValidationError) whenever the caller may call
    iam:SimulatePrincipalPolicy. Granting ec2 network-interface rights on "*" to pass a smoke
    test would widen the role for nothing; instead tests/test_iam_conformance.py checks the
    role against every action the workflow really performs. The pipeline role's own check
    (its trust policy, at upsert) stays on: it is outside this block."""
    saved = os.environ.get("SAGEMAKER_VALIDATE_ROLE")
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SAGEMAKER_VALIDATE_ROLE", None)
        else:
            os.environ["SAGEMAKER_VALIDATE_ROLE"] = saved


def build(
    region: str,
    role_arn: str,
    default_bucket: str | None,
    pipeline_name: str,
    model_package_group_name: str = "MLGatewayFraud",
    boto_session=None,
    processing_image_uri: str | None = None,
    events_role_arn: str | None = None,
    endpoint_name: str | None = None,
):
    """The pipeline object (the SDK uploads code to the default bucket while building it).
    `processing_image_uri`: image of the processing steps (default: the account's
    ml-gateway-processing:latest; the local executor runs no image). `events_role_arn` and
    `endpoint_name`: the stack's RetrainRoleArn and EndpointName outputs (get_pipeline). The
    SDK's training-role smoke test is off while it builds (training_role_smoke_test_off says why)."""
    with quiet_sdk(), training_role_smoke_test_off():
        from pipelines.ml_gateway.pipeline import get_pipeline

        return get_pipeline(
            region=region,
            role=role_arn,
            default_bucket=default_bucket,
            pipeline_name=pipeline_name,
            model_package_group_name=model_package_group_name,
            boto_session=boto_session,
            processing_image_uri=processing_image_uri,
            events_role_arn=events_role_arn,
            endpoint_name=endpoint_name,
        )


@contextmanager
def compiled_once(pipeline) -> Iterator[str]:
    """Within the block, `pipeline.definition()` returns the JSON compiled on entry.

    The SDK's Pipeline.upsert compiles the definition in create() and, when the pipeline
    already exists (every run after the first), again in update(): about a second of step
    compilation each time for the same JSON. Shadowing the method on this one instance keeps
    everything else upsert does (role resolution and check, the S3 upload of a definition over
    100 KB, tags) as the SDK does it."""
    definition = pipeline.definition()
    pipeline.definition = lambda: definition
    try:
        yield definition
    finally:
        del pipeline.definition  # the class's method again


def upsert(pipeline, role_arn: str, tags: dict[str, str] | None = None) -> str:
    """Create the pipeline or update its definition (compiled once); its ARN."""
    tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()] or None
    with quiet_sdk(), compiled_once(pipeline):
        response = pipeline.upsert(role_arn=role_arn, tags=tag_list, description=PIPELINE_DESCRIPTION)
    return response["PipelineArn"]


def start(pipeline, parameters: dict[str, Any]) -> str:
    """Start an execution; its ARN."""
    validate(parameters)
    with quiet_sdk():
        return pipeline.start(parameters=parameters).arn


def upsert_and_start(
    region: str,
    role_arn: str,
    default_bucket: str | None,
    pipeline_name: str,
    parameters: dict[str, Any],
    tags: dict[str, str] | None = None,
    model_package_group_name: str = "MLGatewayFraud",
    boto_session=None,
    processing_image_uri: str | None = None,
) -> str:
    """Create or update the pipeline, start an execution with `parameters`; its ARN.
    ParameterError (naming the parameter) before anything is built or uploaded."""
    validate(parameters)
    pipeline = build(
        region, role_arn, default_bucket, pipeline_name, model_package_group_name, boto_session, processing_image_uri
    )
    upsert(pipeline, role_arn, tags)
    return start(pipeline, parameters)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ml_gateway.run_pipeline",
        description="Upsert the ML Gateway pipeline and start an execution (CodeBuild entry point).",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (default: $AWS_REGION)",
    )
    parser.add_argument("--role-arn", required=True, help="execution role for the pipeline and its jobs")
    parser.add_argument("--default-bucket", help="bucket for code and artifacts (default: the SDK's)")
    parser.add_argument("--pipeline-name", default="MLGatewayPipeline")
    parser.add_argument(
        "--processing-image-uri",
        metavar="URI",
        help="image for every processing step, built from processing/Dockerfile "
        "(default: ACCOUNT.dkr.ecr.REGION.amazonaws.com/"
        "ml-gateway-processing:latest, the account from STS); training "
        "and serving keep SageMaker's XGBoost image",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="pipeline parameter override (repeatable)"
    )
    parser.add_argument(
        "--definition-only", action="store_true", help="print the definition JSON and exit without calling upsert"
    )
    args = parser.parse_args(argv)
    if not args.region:
        parser.error("no region: pass --region or set AWS_REGION")
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--param {item!r}: expected NAME=VALUE")
        params[name] = value
    if args.definition_only:
        pipeline = build(
            args.region,
            args.role_arn,
            args.default_bucket,
            args.pipeline_name,
            processing_image_uri=args.processing_image_uri,
        )
        print(json.dumps(json.loads(pipeline.definition()), indent=2))
        return 0
    try:
        arn = upsert_and_start(
            args.region,
            args.role_arn,
            args.default_bucket,
            args.pipeline_name,
            params,
            processing_image_uri=args.processing_image_uri,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(arn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
