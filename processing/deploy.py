"""Deploy step: serve an approved model package on the endpoint — create the endpoint on the
first run, update it in place on later ones (SageMaker swaps configs without downtime).

Strategies (pipeline parameter DeployStrategy):
  replace — the new model takes all traffic;
  canary  — the new model is added as a second variant at NewVariantWeight, beside the
            model now serving most traffic; `mlgw endpoint promote | rollback` ends the test;
  ab      — the same two-variant layout, meant to stay (weights fixed, e.g. 0.5).
Variants are named after model package versions (`v3`, `v4`) so a reader of DescribeEndpoint
knows which model serves what share.

A package that is not Approved leaves the endpoint as it is. If anything fails before the
endpoint accepts the new config, what this step created is deleted again. After deploying,
each variant is warmed (and the first-request latency reported) so the first user request
does not pay for a cold model.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError

from processing import drift_schedule
from processing.job import JobError, run

STRATEGIES = ("replace", "canary", "ab")
WARM_REQUEST = {"instances": [{"total_claim_amount": 5000.0, "incident_severity": "Minor"}]}


def resource_name(endpoint_name: str, variant: str) -> str:
    """A unique model / endpoint-config name that says which endpoint and variant it is for."""
    suffix = f"-{variant}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:4]}"
    return endpoint_name[:63 - len(suffix)] + suffix


def describe_endpoint(sm, name: str) -> dict | None:
    try:
        return sm.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if "Could not find endpoint" in str(exc) or exc.response["Error"]["Code"] in (
                "ResourceNotFound", "ValidationException"):
            return None
        raise


def wait_in_service(sm, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    delay = 0.1   # a local endpoint is up in a second; an AWS one takes minutes
    while True:
        endpoint = sm.describe_endpoint(EndpointName=name)
        status = endpoint["EndpointStatus"]
        if status == "InService":
            return endpoint
        if status == "Failed":
            raise JobError(f"endpoint {name} failed: {endpoint.get('FailureReason', 'no reason given')}")
        if time.monotonic() > deadline:
            raise JobError(f"endpoint {name} still {status} after {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 15)


def serving_variants(sm, endpoint: dict) -> list[dict[str, Any]]:
    """The endpoint's variants as config entries, with the weights they serve at now."""
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    current = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants", [])}
    variants = []
    for variant in config["ProductionVariants"]:
        entry = {k: variant[k] for k in ("VariantName", "ModelName", "InitialInstanceCount",
                                         "InstanceType") if k in variant}
        weight = current.get(variant["VariantName"])
        entry["InitialVariantWeight"] = float(weight if weight is not None
                                              else variant.get("InitialVariantWeight", 1.0))
        variants.append(entry)
    return variants


def plan_variants(strategy: str, new: dict[str, Any], serving: list[dict[str, Any]],
                  new_weight: float) -> list[dict[str, Any]]:
    """The production variants of the config to deploy."""
    if strategy not in STRATEGIES:
        raise JobError(f"DeployStrategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if strategy == "replace" or not serving:
        return [{**new, "InitialVariantWeight": 1.0}]
    if not 0.0 < new_weight < 1.0:
        raise JobError(f"NewVariantWeight must be between 0 and 1 (exclusive) for a {strategy} "
                       f"deployment, got {new_weight}")
    primary = max(serving, key=lambda v: v["InitialVariantWeight"])
    if primary["VariantName"] == new["VariantName"]:
        raise JobError(f"variant {new['VariantName']} already serves on this endpoint")
    return [{**primary, "InitialVariantWeight": round(1.0 - new_weight, 6)},
            {**new, "InitialVariantWeight": new_weight}]


def apply_config(sm, endpoint_name: str, config_name: str, variants: list[dict[str, Any]],
                 capture: dict | None, existing: dict | None, timeout: float) -> dict:
    """Create the endpoint config and create or update the endpoint with it; wait InService.
    The config is deleted again if the endpoint never accepted it."""
    request: dict[str, Any] = {"EndpointConfigName": config_name, "ProductionVariants": variants}
    if capture:
        request["DataCaptureConfig"] = capture
    sm.create_endpoint_config(**request)
    try:
        if existing is None:
            print(f"creating endpoint {endpoint_name} with {config_name}", flush=True)
            sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
        else:
            print(f"updating endpoint {endpoint_name}: {existing['EndpointConfigName']} → {config_name}",
                  flush=True)
            sm.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
    except Exception:
        sm.delete_endpoint_config(EndpointConfigName=config_name)
        raise
    endpoint = wait_in_service(sm, endpoint_name, timeout)
    if endpoint["EndpointConfigName"] != config_name:
        raise JobError(f"endpoint {endpoint_name} rolled back to {endpoint['EndpointConfigName']}: "
                       f"{endpoint.get('FailureReason', 'no reason given')}")
    return endpoint


def warm(runtime, endpoint_name: str, variants: list[str], requests: int = 5) -> dict[str, dict[str, float]]:
    """Invoke each variant a few times; first-request vs warm latency (ms) per variant."""
    body = json.dumps(WARM_REQUEST)
    timings = {}
    for variant in variants:
        samples = []
        for _ in range(requests):
            t0 = time.perf_counter()
            runtime.invoke_endpoint(EndpointName=endpoint_name, TargetVariant=variant,
                                    ContentType="application/json", Body=body)["Body"].read()
            samples.append((time.perf_counter() - t0) * 1000)
        timings[variant] = {"first_ms": round(samples[0], 2), "warm_ms": round(min(samples[1:]), 2)}
    return timings


def capture_config(uri: str | None) -> dict | None:
    if not uri:
        return None
    return {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"],
                                         "CsvContentTypes": ["text/csv"]}}


def deploy(sm, runtime, *, package_arn: str, endpoint_name: str, role_arn: str, strategy: str,
           new_weight: float, instance_type: str, instance_count: int, capture_uri: str | None,
           timeout: float) -> dict | None:
    package = sm.describe_model_package(ModelPackageName=package_arn)
    if package.get("ModelApprovalStatus") != "Approved":
        print(f"{package_arn} is {package.get('ModelApprovalStatus')}; "
              f"endpoint {endpoint_name} left unchanged", flush=True)
        return None
    existing = describe_endpoint(sm, endpoint_name)
    if existing is not None and existing["EndpointStatus"] != "InService":
        raise JobError(f"endpoint {endpoint_name} is {existing['EndpointStatus']}"
                       + (f" ({existing['FailureReason']})" if existing.get("FailureReason") else "")
                       + "; deploy again when it is InService (or delete it)")
    version = package.get("ModelPackageVersion", 0)
    name = resource_name(endpoint_name, f"v{version}")
    serving = serving_variants(sm, existing) if existing else []
    new = {"VariantName": f"v{version}", "ModelName": name,
           "InitialInstanceCount": instance_count, "InstanceType": instance_type}
    variants = plan_variants(strategy, new, serving, new_weight)

    sm.create_model(ModelName=name, ExecutionRoleArn=role_arn,
                    Containers=[{"ModelPackageName": package_arn}])
    try:
        endpoint = apply_config(sm, endpoint_name, name, variants, capture_config(capture_uri),
                                existing, timeout)
    except Exception:
        sm.delete_model(ModelName=name)
        raise
    shares = ", ".join(f"{v['VariantName']} {v['InitialVariantWeight']:.0%}" for v in variants)
    print(f"endpoint {endpoint_name} InService on {name} ({strategy}: {shares})", flush=True)
    for variant, t in warm(runtime, endpoint_name, [v["VariantName"] for v in variants]).items():
        print(f"warmed {variant}: first request {t['first_ms']} ms, warm {t['warm_ms']} ms", flush=True)
    return endpoint


def finish_test(sm, endpoint_name: str, keep: str | None, promote: bool, timeout: float = 900) -> str:
    """End a canary or A/B test: one variant takes all traffic. `promote` keeps the newest
    (lowest-weight) variant, rollback the one serving most traffic; `keep` names it outright."""
    endpoint = describe_endpoint(sm, endpoint_name)
    if endpoint is None:
        raise JobError(f"endpoint {endpoint_name} does not exist")
    variants = serving_variants(sm, endpoint)
    if len(variants) < 2 and keep is None:
        raise JobError(f"endpoint {endpoint_name} has one variant ({variants[0]['VariantName']}); "
                       "there is no test to end")
    by_weight = sorted(variants, key=lambda v: v["InitialVariantWeight"])
    chosen = by_weight[0] if promote else by_weight[-1]
    if keep is not None:
        chosen = next((v for v in variants if v["VariantName"] == keep), None)
        if chosen is None:
            raise JobError(f"endpoint {endpoint_name} has no variant {keep!r} "
                           f"(it has {', '.join(v['VariantName'] for v in variants)})")
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    name = resource_name(endpoint_name, chosen["VariantName"])
    apply_config(sm, endpoint_name, name, [{**chosen, "InitialVariantWeight": 1.0}],
                 config.get("DataCaptureConfig"), endpoint, timeout)
    return chosen["VariantName"]


def publish_baseline(s3, source_uri: str, target_uri: str) -> None:
    """Make the deployed model's data baseline the one the monitoring schedule checks against."""
    source_bucket, _, source_prefix = source_uri.removeprefix("s3://").partition("/")
    target_bucket, _, target_prefix = target_uri.removeprefix("s3://").partition("/")
    for name in ("statistics.json", "constraints.json"):
        s3.copy_object(Bucket=target_bucket, Key=f"{target_prefix.rstrip('/')}/{name}",
                       CopySource={"Bucket": source_bucket, "Key": f"{source_prefix.rstrip('/')}/{name}"})
    print(f"monitoring baseline → {target_uri}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-package-arn", required=True)
    parser.add_argument("--endpoint-name", required=True)
    parser.add_argument("--strategy", default="replace", help=f"one of {', '.join(STRATEGIES)}")
    parser.add_argument("--new-variant-weight", type=float, default=0.1,
                        help="traffic share of the new model for canary and ab (default 0.1)")
    parser.add_argument("--instance-type", default="ml.m5.large")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--role-arn", required=True)
    parser.add_argument("--data-capture-uri", help="capture requests and responses here (Model Monitor)")
    parser.add_argument("--baseline-uri", help="this model's data baseline (statistics/constraints)")
    parser.add_argument("--monitoring-baseline-uri", help="where the monitoring schedule reads its baseline")
    parser.add_argument("--timeout", type=float, default=1800)
    drift_schedule.add_arguments(parser)
    args = parser.parse_args(argv)
    endpoint = deploy(boto3.client("sagemaker"), boto3.client("sagemaker-runtime"),
           package_arn=args.model_package_arn, endpoint_name=args.endpoint_name,
           role_arn=args.role_arn, strategy=args.strategy, new_weight=args.new_variant_weight,
           instance_type=args.instance_type, instance_count=args.instance_count,
           capture_uri=args.data_capture_uri, timeout=args.timeout)
    if endpoint is not None and args.baseline_uri and args.monitoring_baseline_uri:
        publish_baseline(boto3.client("s3"), args.baseline_uri, args.monitoring_baseline_uri)
    if endpoint is not None:
        drift_schedule.ensure_from_args(args, args.endpoint_name, args.data_capture_uri)


if __name__ == "__main__":
    sys.exit(run(main))
