"""`mlgw segments deploy|invoke`: per-policy_state models behind one multi-model endpoint.

deploy trains one model per state (training/segments.py), uploads each as
s3://sagemaker-<region>-<account>/ml-gateway/segments/<STATE>.tar.gz, and points a MultiModel
SageMaker Model at that prefix; invoke sends a record with TargetModel=<STATE>.tar.gz.
Everything goes through boto3, so the same code runs against AWS or the running localcloud.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from localcloud.config import Config
from mlgw.args import config_from, policy_count, print_error, seed_number, with_endpoint, with_home
from pipelines import images

PREFIX = "ml-gateway/segments"
DEFAULT_ENDPOINT = "ml-gateway-segments"
ROLE_NAME = "ml-gateway-sagemaker-execution"  # infra/ml-gateway.yaml SageMakerExecutionRole


class SegmentsCliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def register(subparsers) -> None:
    seg = subparsers.add_parser(
        "segments",
        help="per-policy_state models on one multi-model endpoint",
        description="deploy: train one model per policy_state, upload them under one S3 prefix "
        "and serve them from a multi-model endpoint. invoke: score a record with "
        "one state's model (TargetModel=<STATE>.tar.gz).",
    )
    seg.add_argument("action", choices=["deploy", "invoke"], help="train and serve, or score a record")
    seg.add_argument("--policies", type=policy_count, default=5000, help="deploy: synthetic policies (default 5000)")
    seg.add_argument("--seed", type=seed_number, default=0, help="deploy: seed for the synthetic data (default 0)")
    with_endpoint(seg, DEFAULT_ENDPOINT, f"the multi-model endpoint (default {DEFAULT_ENDPOINT})")
    seg.add_argument("--state", help="invoke: the policy_state whose model answers (e.g. CA)")
    seg.add_argument("--json", help='invoke: the record, a JSON object (or {"instances": [...]})')
    with_home(seg)
    seg.set_defaults(func=cmd_segments)


# -- clients ---------------------------------------------------------------------------------


def _running_config(args: argparse.Namespace):
    from localcloud import daemon

    try:
        return daemon.require_running(config_from(args))
    except daemon.DaemonError as exc:
        raise SegmentsCliError(str(exc)) from None


def _clients(config: Config) -> tuple[Any, Any, Any]:
    """(s3, sagemaker, sagemaker-runtime) of the localcloud serving `config`."""
    from mlgw.target import Target

    target = Target.local(config)
    return target.client("s3"), target.client("sagemaker"), target.client("sagemaker-runtime")


# -- deploy ----------------------------------------------------------------------------------


def upload(s3, bucket: str, archives: dict[str, Path]) -> str:
    """Put <STATE>.tar.gz under the segments prefix; returns the prefix URI (ModelDataUrl)."""
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=bucket)
    for state, path in sorted(archives.items()):
        s3.upload_file(str(path), bucket, f"{PREFIX}/{state}.tar.gz")
    return f"s3://{bucket}/{PREFIX}/"


def _unique(endpoint_name: str) -> str:
    # A new model + config per deploy, so an update never mutates what is serving.
    suffix = f"-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:4]}"
    return endpoint_name[: 63 - len(suffix)] + suffix


def _endpoint_status(sm, name: str) -> str | None:
    try:
        return sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
    except sm.exceptions.ClientError as exc:
        if "Could not find" in str(exc) or "not found" in str(exc).lower():
            return None
        raise


def create_endpoint(
    sm,
    endpoint_name: str,
    model_data_url: str,
    *,
    role_arn: str,
    region: str,
    environment: dict[str, str] | None = None,
    timeout: float = 300,
) -> str:
    """MultiModel model + endpoint config + endpoint (create, or update in place); waits
    InService. Returns the model name."""
    name = _unique(endpoint_name)
    container = {
        "Image": images.xgboost_local_uri(),
        "Mode": "MultiModel",
        "ModelDataUrl": model_data_url,
        "Environment": environment or {},
    }
    sm.create_model(ModelName=name, ExecutionRoleArn=role_arn, PrimaryContainer=container)
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    status = _endpoint_status(sm, endpoint_name)
    if status is None:
        sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
    elif status == "InService":
        sm.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
    else:
        raise SegmentsCliError(f"endpoint {endpoint_name} is {status}; retry when it is InService")
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": int(timeout / 0.2)}
    )
    return name


def deploy(config, *, policies: int, seed: int, endpoint_name: str) -> dict[str, Path]:
    from processing import synthetic
    from training import segments

    s3, sm, _ = _clients(config)
    with tempfile.TemporaryDirectory(prefix="mlgw-segments-") as tmp:
        claims, customers = synthetic.generate(policies, seed)
        archives = segments.train_segments(claims, customers, tmp, seed=seed)
        prefix = upload(s3, f"sagemaker-{config.region}-{config.account_id}", archives)
    role = f"arn:aws:iam::{config.account_id}:role/{ROLE_NAME}"
    model = create_endpoint(sm, endpoint_name, prefix, role_arn=role, region=config.region)
    print(f"endpoint {endpoint_name} InService on {model}: {len(archives)} models under {prefix}")
    for state in sorted(archives):
        print(f"  {state}: TargetModel={state}.tar.gz")
    return archives


# -- invoke ----------------------------------------------------------------------------------


def invoke(runtime, endpoint_name: str, state: str, body: str) -> dict[str, Any]:
    response = runtime.invoke_endpoint(
        EndpointName=endpoint_name,
        TargetModel=f"{state}.tar.gz",
        ContentType="application/json",
        Accept="application/json",
        Body=body.encode(),
    )
    return json.loads(response["Body"].read())


def cmd_segments(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    user_errors: tuple[type[BaseException], ...] = (SegmentsCliError, ClientError, BotoCoreError)
    if args.action == "deploy":  # pandas/xgboost only when training
        from processing.features import FeatureError
        from training.segments import SegmentError

        user_errors += (SegmentError, FeatureError)
    try:
        config = _running_config(args)
        if args.action == "deploy":
            deploy(config, policies=args.policies, seed=args.seed, endpoint_name=args.endpoint)
            return 0
        if not args.state or not args.json:
            raise SegmentsCliError("invoke needs --state STATE and --json '{...}'")
        _, _, runtime = _clients(config)
        result = invoke(runtime, args.endpoint, args.state.upper(), args.json)
        print(json.dumps(result, indent=2))
        return 0
    except user_errors as exc:
        print_error(str(exc))
        return 1
