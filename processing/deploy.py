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
does not pay for a cold model; warm-up requests are marked so that monitoring skips them
(processing/warm_up.py says how and why).

`deploy_and_monitor` is the whole step: the endpoint update, then the monitoring baseline, the
drift-check schedule and the drift alarms (re-pointed at the new baseline and reset:
processing/drift_alarms.py). `mlgw endpoint deploy --version N` calls the same function, so a
redeploy from the CLI and the pipeline's Deploy cannot diverge.

Idempotent and crash-safe: a retry (after the job was killed mid-deploy, say) first waits for
an endpoint left Creating/Updating, and if the endpoint already serves this model package as
planned it deploys nothing a second time. Every model / endpoint config this step names
(`<endpoint>-v<version>-<UTC stamp>-<hex>`) that the endpoint does not use and that predates
this run is deleted, so an interrupted run leaves nothing behind for long.

Autoscaling: UpdateEndpoint refuses to remove, or change the instance type of, a variant
registered with Application Auto Scaling
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html). Such a
variant's scalable target is deregistered first (its scaling policies are read beforehand)
and registered again afterwards, with the same capacities and policies, on the variant that
takes its place (itself if it stays). Scheduled actions and CloudWatch alarms that name the
old variant are the stack's: update it with VariantName=<new variant> (infra/README.md).
"""

from __future__ import annotations

import argparse
import json
import re
import time
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError

from processing import drift_alarms, drift_schedule, warm_up
from processing.job import JobError, finish, run

STRATEGIES = ("replace", "canary", "ab")
VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_SETTLING = ("Creating", "Updating", "SystemUpdating", "RollingBack")
WARM_REQUEST = {"instances": [{"total_claim_amount": 5000.0, "incident_severity": "Minor"}]}


def resource_name(endpoint_name: str, variant: str) -> str:
    """A unique model / endpoint-config name that says which endpoint and variant it is for."""
    suffix = f"-{variant}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:4]}"
    return endpoint_name[: 63 - len(suffix)] + suffix


def describe_endpoint(sm, name: str) -> dict | None:
    try:
        return sm.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if "Could not find endpoint" in str(exc) or exc.response["Error"]["Code"] in (
            "ResourceNotFound",
            "ValidationException",
        ):
            return None
        raise


# What resource_name produces: <endpoint name, truncated to fit 63>-v<version>-<stamp>-<hex>.
_RESOURCE_NAME = re.compile(r"(?P<prefix>.+)-v\d+-\d{14}-[0-9a-f]{4}")


def is_deploy_resource(endpoint_name: str, name: str) -> bool:
    """Whether `name` is a model / endpoint config Deploy named for this endpoint."""
    match = _RESOURCE_NAME.fullmatch(name)
    return (
        bool(match)
        and endpoint_name.startswith(match["prefix"])
        and (match["prefix"] == endpoint_name or len(name) == 63)
    )


def _poll_delays():
    """Seconds to sleep between DescribeEndpoint calls: every 0.25 s while the wait is young (a
    local endpoint is up in a second or two, and a doubling back-off from 0.1 s saw one that was
    InService at 1.6 s only at 3.1 s), then backing off to every 15 s (an AWS endpoint takes
    minutes; DescribeEndpoint is a cheap read either way)."""
    started, delay = time.monotonic(), 0.25
    while True:
        yield delay
        if time.monotonic() - started >= 30:
            delay = min(delay * 2, 15)


def wait_in_service(sm, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    delays = _poll_delays()
    while True:
        endpoint = sm.describe_endpoint(EndpointName=name)
        status = endpoint["EndpointStatus"]
        if status == "InService":
            return endpoint
        if status == "Failed":
            raise JobError(f"endpoint {name} failed: {endpoint.get('FailureReason', 'no reason given')}")
        if time.monotonic() > deadline:
            raise JobError(f"endpoint {name} still {status} after {timeout:.0f} s")
        time.sleep(next(delays))


def wait_settled(sm, name: str, timeout: float) -> dict:
    """The endpoint once it is no longer Creating/Updating (an interrupted earlier deploy may
    have left it so)."""
    deadline = time.monotonic() + timeout
    delays = _poll_delays()
    while True:
        endpoint = sm.describe_endpoint(EndpointName=name)
        if endpoint["EndpointStatus"] not in _SETTLING:
            return endpoint
        if time.monotonic() > deadline:
            raise JobError(f"endpoint {name} still {endpoint['EndpointStatus']} after {timeout:.0f} s")
        time.sleep(next(delays))


def model_package_of(sm, model_name: str) -> str | None:
    """The model package a model was created from (None if it names none or is gone)."""
    try:
        model = sm.describe_model(ModelName=model_name)
    except ClientError:
        return None
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    return next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)


def clean_up(sm, endpoint_name: str, before: float) -> list[str]:
    """Delete the models and endpoint configs Deploy named for this endpoint that the endpoint
    does not use (left by an interrupted or failed run, or replaced), created before `before`
    (epoch seconds: a concurrent run's fresh resources are not touched). The names deleted."""
    endpoint = describe_endpoint(sm, endpoint_name)
    if endpoint is None or endpoint["EndpointStatus"] != "InService":
        return []
    in_use_config = endpoint["EndpointConfigName"]
    config = sm.describe_endpoint_config(EndpointConfigName=in_use_config)
    in_use_models = {v["ModelName"] for v in config["ProductionVariants"]}
    deleted = []
    for kind, lister, key, in_use, delete in (
        (
            "EndpointConfigs",
            sm.list_endpoint_configs,
            "EndpointConfigName",
            {in_use_config},
            lambda n: sm.delete_endpoint_config(EndpointConfigName=n),
        ),
        ("Models", sm.list_models, "ModelName", in_use_models, lambda n: sm.delete_model(ModelName=n)),
    ):
        token = None
        while True:
            page = lister(NameContains=endpoint_name[:40], MaxResults=100, **({"NextToken": token} if token else {}))
            for item in page[kind]:
                name = item[key]
                created = item["CreationTime"].timestamp()
                if name in in_use or created >= before or not is_deploy_resource(endpoint_name, name):
                    continue
                try:
                    delete(name)
                    deleted.append(name)
                except ClientError as exc:
                    print(f"could not delete {name}: {exc}", flush=True)
            token = page.get("NextToken")
            if not token:
                break
    if deleted:
        print(f"cleaned up {len(deleted)} unused model(s)/endpoint config(s): {', '.join(deleted)}", flush=True)
    return deleted


def _variant_id(endpoint_name: str, variant: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{variant}"


def suspend_autoscaling(
    aas, endpoint_name: str, current: list[dict[str, Any]], planned: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Deregister the scalable targets of the variants the update would remove or re-type;
    return what was registered (target + policies + the variant that takes over) so
    resume_autoscaling can register it again."""
    if aas is None:
        return []
    planned_by_name = {v["VariantName"]: v for v in planned}
    primary = max(planned, key=lambda v: v["InitialVariantWeight"])["VariantName"]
    ids = [_variant_id(endpoint_name, v["VariantName"]) for v in current]
    targets = aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=ids, ScalableDimension=VARIANT_DIMENSION
    )["ScalableTargets"]
    moved = []
    for target in targets:
        variant = target["ResourceId"].rsplit("/", 1)[1]
        old = next(v for v in current if v["VariantName"] == variant)
        new = planned_by_name.get(variant)
        if new is not None and new.get("InstanceType") == old.get("InstanceType"):
            continue  # a model change alone is allowed
        policies = aas.describe_scaling_policies(
            ServiceNamespace="sagemaker", ResourceId=target["ResourceId"], ScalableDimension=VARIANT_DIMENSION
        )["ScalingPolicies"]
        aas.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=target["ResourceId"], ScalableDimension=VARIANT_DIMENSION
        )
        successor = variant if new is not None else primary
        print(
            f"autoscaling: deregistered variant {variant} for the update (it moves to {successor} afterwards)",
            flush=True,
        )
        moved.append({"variant": variant, "successor": successor, "target": target, "policies": policies})
    return moved


def resume_autoscaling(aas, endpoint_name: str, moved: list[dict[str, Any]], restore: bool) -> None:
    """Register the deregistered targets again: on their successors after a successful update,
    on their own variants (restore=True) when the update did not happen."""
    for entry in moved:
        variant = entry["variant"] if restore else entry["successor"]
        resource_id = _variant_id(endpoint_name, variant)
        target = entry["target"]
        aas.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension=VARIANT_DIMENSION,
            MinCapacity=target["MinCapacity"],
            MaxCapacity=target["MaxCapacity"],
        )
        for policy in entry["policies"]:
            config = {
                k: policy[k]
                for k in (
                    "StepScalingPolicyConfiguration",
                    "TargetTrackingScalingPolicyConfiguration",
                    "PredictiveScalingPolicyConfiguration",
                )
                if k in policy
            }
            aas.put_scaling_policy(
                PolicyName=policy["PolicyName"],
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension=VARIANT_DIMENSION,
                PolicyType=policy["PolicyType"],
                **config,
            )
        print(
            f"autoscaling: registered variant {variant} "
            f"(min {target['MinCapacity']}, max {target['MaxCapacity']}, "
            f"{len(entry['policies'])} policies)"
            + (
                ""
                if restore or variant == entry["variant"]
                else f"; update the stack with VariantName={variant} so its scheduled actions and idle alarm follow"
            ),
            flush=True,
        )


def serving_variants(sm, endpoint: dict) -> list[dict[str, Any]]:
    """The endpoint's variants as config entries, with the weights they serve at now."""
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    current = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants", [])}
    variants = []
    for variant in config["ProductionVariants"]:
        entry = {
            k: variant[k] for k in ("VariantName", "ModelName", "InitialInstanceCount", "InstanceType") if k in variant
        }
        weight = current.get(variant["VariantName"])
        entry["InitialVariantWeight"] = float(
            weight if weight is not None else variant.get("InitialVariantWeight", 1.0)
        )
        variants.append(entry)
    return variants


def plan_variants(
    strategy: str, new: dict[str, Any], serving: list[dict[str, Any]], new_weight: float
) -> list[dict[str, Any]]:
    """The production variants of the config to deploy."""
    if strategy not in STRATEGIES:
        raise JobError(f"DeployStrategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if strategy == "replace" or not serving:
        return [{**new, "InitialVariantWeight": 1.0}]
    if not 0.0 < new_weight < 1.0:
        raise JobError(
            f"NewVariantWeight must be between 0 and 1 (exclusive) for a {strategy} deployment, got {new_weight}"
        )
    primary = max(serving, key=lambda v: v["InitialVariantWeight"])
    if primary["VariantName"] == new["VariantName"]:
        raise JobError(f"variant {new['VariantName']} already serves on this endpoint")
    return [
        {**primary, "InitialVariantWeight": round(1.0 - new_weight, 6)},
        {**new, "InitialVariantWeight": new_weight},
    ]


def apply_config(
    sm,
    endpoint_name: str,
    config_name: str,
    variants: list[dict[str, Any]],
    capture: dict | None,
    existing: dict | None,
    timeout: float,
    aas=None,
) -> dict:
    """Create the endpoint config and create or update the endpoint with it; wait InService.
    The config is deleted again if the endpoint never accepted it. With an Application Auto
    Scaling client, autoscaled variants the update removes or re-types are deregistered
    around it (suspend_autoscaling / resume_autoscaling)."""
    request: dict[str, Any] = {"EndpointConfigName": config_name, "ProductionVariants": variants}
    if capture:
        request["DataCaptureConfig"] = capture
    sm.create_endpoint_config(**request)
    moved: list[dict[str, Any]] = []
    try:
        if existing is None:
            print(f"creating endpoint {endpoint_name} with {config_name}", flush=True)
            sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
        else:
            current = sm.describe_endpoint_config(EndpointConfigName=existing["EndpointConfigName"])[
                "ProductionVariants"
            ]
            moved = suspend_autoscaling(aas, endpoint_name, current, variants)
            print(f"updating endpoint {endpoint_name}: {existing['EndpointConfigName']} → {config_name}", flush=True)
            sm.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
    except Exception:
        sm.delete_endpoint_config(EndpointConfigName=config_name)
        resume_autoscaling(aas, endpoint_name, moved, restore=True)
        raise
    endpoint = wait_in_service(sm, endpoint_name, timeout)
    if endpoint["EndpointConfigName"] != config_name:
        resume_autoscaling(aas, endpoint_name, moved, restore=True)
        raise JobError(
            f"endpoint {endpoint_name} rolled back to {endpoint['EndpointConfigName']}: "
            f"{endpoint.get('FailureReason', 'no reason given')}"
        )
    resume_autoscaling(aas, endpoint_name, moved, restore=False)
    return endpoint


def warm(runtime, endpoint_name: str, variants: list[str], requests: int = 5) -> dict[str, dict[str, float]]:
    """Invoke each variant a few times; first-request vs warm latency (ms) per variant. Each
    request carries a warm-up InferenceId (processing/warm_up.py), so the drift check leaves
    it out of monitoring."""
    body = json.dumps(WARM_REQUEST)
    timings = {}
    for variant in variants:
        samples = []
        for n in range(requests):
            t0 = time.perf_counter()
            runtime.invoke_endpoint(
                EndpointName=endpoint_name,
                TargetVariant=variant,
                ContentType="application/json",
                Body=body,
                InferenceId=warm_up.inference_id(variant, n),
            )["Body"].read()
            samples.append((time.perf_counter() - t0) * 1000)
        timings[variant] = {"first_ms": round(samples[0], 2), "warm_ms": round(min(samples[1:]), 2)}
    return timings


def capture_config(uri: str | None) -> dict | None:
    if not uri:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": uri,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"], "CsvContentTypes": ["text/csv"]},
    }


def deploy(
    sm,
    runtime,
    *,
    package_arn: str,
    endpoint_name: str,
    role_arn: str,
    strategy: str,
    new_weight: float,
    instance_type: str,
    instance_count: int,
    capture_uri: str | None,
    timeout: float,
    aas=None,
) -> dict | None:
    started = time.time()
    package = sm.describe_model_package(ModelPackageName=package_arn)
    if package.get("ModelApprovalStatus") != "Approved":
        print(
            f"{package_arn} is {package.get('ModelApprovalStatus')}; endpoint {endpoint_name} left unchanged",
            flush=True,
        )
        return None
    existing = describe_endpoint(sm, endpoint_name)
    if existing is not None and existing["EndpointStatus"] in _SETTLING:
        print(
            f"endpoint {endpoint_name} is {existing['EndpointStatus']} (an earlier deploy may have "
            "been interrupted); waiting for it to settle",
            flush=True,
        )
        existing = wait_settled(sm, endpoint_name, timeout)
    if existing is not None and existing["EndpointStatus"] != "InService":
        raise JobError(
            f"endpoint {endpoint_name} is {existing['EndpointStatus']}"
            + (f" ({existing['FailureReason']})" if existing.get("FailureReason") else "")
            + "; deploy again when it is InService (or delete it)"
        )
    version = package.get("ModelPackageVersion", 0)
    name = resource_name(endpoint_name, f"v{version}")
    serving = serving_variants(sm, existing) if existing else []
    if _already_deployed(sm, package_arn, strategy, serving):
        print(
            f"endpoint {endpoint_name} already serves {package_arn} "
            f"({', '.join(v['VariantName'] for v in serving)}); nothing to deploy",
            flush=True,
        )
        clean_up(sm, endpoint_name, started)
        return existing
    new = {
        "VariantName": f"v{version}",
        "ModelName": name,
        "InitialInstanceCount": instance_count,
        "InstanceType": instance_type,
    }
    variants = plan_variants(strategy, new, serving, new_weight)

    sm.create_model(ModelName=name, ExecutionRoleArn=role_arn, Containers=[{"ModelPackageName": package_arn}])
    try:
        endpoint = apply_config(sm, endpoint_name, name, variants, capture_config(capture_uri), existing, timeout, aas)
    except Exception:
        sm.delete_model(ModelName=name)
        raise
    clean_up(sm, endpoint_name, started)
    shares = ", ".join(f"{v['VariantName']} {v['InitialVariantWeight']:.0%}" for v in variants)
    print(f"endpoint {endpoint_name} InService on {name} ({strategy}: {shares})", flush=True)
    for variant, t in warm(runtime, endpoint_name, [v["VariantName"] for v in variants]).items():
        print(f"warmed {variant}: first request {t['first_ms']} ms, warm {t['warm_ms']} ms", flush=True)
    return endpoint


def _already_deployed(sm, package_arn: str, strategy: str, serving: list[dict[str, Any]]) -> bool:
    """Whether the endpoint serves this package as the strategy would leave it: alone for
    replace, as one of the variants for canary / ab (a retry after a crash finds it so)."""
    ours = [v for v in serving if model_package_of(sm, v["ModelName"]) == package_arn]
    if not ours:
        return False
    return strategy != "replace" or len(serving) == 1


def finish_test(sm, endpoint_name: str, keep: str | None, promote: bool, timeout: float = 900, aas=None) -> str:
    """End a canary or A/B test: one variant takes all traffic. `promote` keeps the newest
    (lowest-weight) variant, rollback the one serving most traffic; `keep` names it outright."""
    endpoint = describe_endpoint(sm, endpoint_name)
    if endpoint is None:
        raise JobError(f"endpoint {endpoint_name} does not exist")
    variants = serving_variants(sm, endpoint)
    if len(variants) < 2 and keep is None:
        raise JobError(
            f"endpoint {endpoint_name} has one variant ({variants[0]['VariantName']}); there is no test to end"
        )
    by_weight = sorted(variants, key=lambda v: v["InitialVariantWeight"])
    chosen = by_weight[0] if promote else by_weight[-1]
    if keep is not None:
        chosen = next((v for v in variants if v["VariantName"] == keep), None)
        if chosen is None:
            raise JobError(
                f"endpoint {endpoint_name} has no variant {keep!r} "
                f"(it has {', '.join(v['VariantName'] for v in variants)})"
            )
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    name = resource_name(endpoint_name, chosen["VariantName"])
    apply_config(
        sm,
        endpoint_name,
        name,
        [{**chosen, "InitialVariantWeight": 1.0}],
        config.get("DataCaptureConfig"),
        endpoint,
        timeout,
        aas,
    )
    return chosen["VariantName"]


def package_baseline(package: dict[str, Any]) -> tuple[str, str] | None:
    """(statistics URI, constraints URI) of a DescribeModelPackage answer's
    DriftCheckBaselines.ModelDataQuality (what RegisterModel records from the Baseline step);
    None when the package has none."""
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    statistics = (quality.get("Statistics") or {}).get("S3Uri")
    constraints = (quality.get("Constraints") or {}).get("S3Uri")
    return (statistics, constraints) if statistics and constraints else None


def publish_baseline(s3, statistics_uri: str, constraints_uri: str, target_uri: str) -> None:
    """Copy a model's data baseline (Model Monitor's statistics.json and constraints.json) to
    `target_uri`/, the prefix the monitoring pages read as the deployed model's baseline."""
    target_bucket, _, target_prefix = target_uri.removeprefix("s3://").partition("/")
    for uri, name in ((statistics_uri, "statistics.json"), (constraints_uri, "constraints.json")):
        source_bucket, _, source_key = uri.removeprefix("s3://").partition("/")
        s3.copy_object(
            Bucket=target_bucket,
            Key=f"{target_prefix.rstrip('/')}/{name}",
            CopySource={"Bucket": source_bucket, "Key": source_key},
        )
    print(f"monitoring baseline → {target_uri}", flush=True)


def monitored_package(sm, endpoint: dict) -> str | None:
    """The model package whose DriftCheckBaselines the drift check judges the endpoint's
    traffic by: the one its main variant (highest weight now) serves, as
    monitoring/drift_check.py chooses it. None if that model names no package."""
    variants = serving_variants(sm, endpoint)
    if not variants:
        return None
    main = max(variants, key=lambda v: v["InitialVariantWeight"])
    return model_package_of(sm, main["ModelName"])


def publish_monitored_baseline(sm, s3, endpoint_name: str, endpoint: dict, target_uri: str) -> str | None:
    """Publish (publish_baseline) the DriftCheckBaselines of the package the drift check judges
    `endpoint` by (monitored_package) to `target_uri`; that package's ARN, or None when there
    is no baseline to publish (said on stdout)."""
    monitored = monitored_package(sm, endpoint)
    if monitored is None:
        return None
    baseline = package_baseline(sm.describe_model_package(ModelPackageName=monitored))
    if baseline is None:
        print(f"{monitored} has no DriftCheckBaselines; monitoring baseline left as it was", flush=True)
        return None
    print(f"drift checks of {endpoint_name} judge by the baseline of {monitored}", flush=True)
    publish_baseline(s3, *baseline, target_uri)
    return monitored


def repoint_drift_alarms(sm, cloudwatch, endpoint_name: str, endpoint: dict) -> list[str]:
    """Point the endpoint's drift alarms at the baseline of the package the drift check now
    judges it by (monitored_package) and reset those in ALARM (processing/drift_alarms.py);
    the lines said on stdout. Nothing when that model names no package."""
    monitored = monitored_package(sm, endpoint)
    if monitored is None:
        return []
    package = sm.describe_model_package(ModelPackageName=monitored)
    label = f"{package.get('ModelPackageGroupName', '?')} version {package.get('ModelPackageVersion', '?')}"
    lines = drift_alarms.repoint(cloudwatch, endpoint_name, monitored, label)
    for line in lines:
        print(line, flush=True)
    return lines


def deploy_and_monitor(
    sm,
    runtime,
    s3,
    events,
    *,
    package_arn: str,
    endpoint_name: str,
    role_arn: str,
    strategy: str,
    new_weight: float,
    instance_type: str,
    instance_count: int,
    capture_uri: str | None,
    timeout: float,
    monitoring_baseline_uri: str | None,
    schedule: dict[str, Any] | None,
    aas=None,
    cloudwatch=None,
) -> dict | None:
    """What the pipeline's Deploy step does, and `mlgw endpoint deploy` with it: `deploy` the
    package (same arguments), then, once the endpoint serves it,

    1. the data baseline at `monitoring_baseline_uri` becomes the DriftCheckBaselines of the
       package the drift check now judges by (`monitored_package`: the new one after a
       replace, still the serving one while a canary takes the smaller share);
    2. the endpoint's drift-check schedule is created or updated with `schedule`
       (drift_schedule.ensure's settings; None leaves the schedule as it is) and
       `capture_uri`, so data capture and monitoring stay on;
    3. with a `cloudwatch` client, the endpoint's drift alarms watch the drift measured against
       that package's baseline, and one in ALARM (drift against the previous baseline) is reset
       to OK with a reason naming the version (repoint_drift_alarms).

    The endpoint (DescribeEndpoint) or None when the package is not Approved (nothing changed).
    JobError for an endpoint that cannot take the update; ValueError (with EventBridge's
    reason) for a schedule it refuses."""
    endpoint = deploy(
        sm,
        runtime,
        package_arn=package_arn,
        endpoint_name=endpoint_name,
        role_arn=role_arn,
        strategy=strategy,
        new_weight=new_weight,
        instance_type=instance_type,
        instance_count=instance_count,
        capture_uri=capture_uri,
        timeout=timeout,
        aas=aas,
    )
    if endpoint is None:
        return None
    if monitoring_baseline_uri:
        publish_monitored_baseline(sm, s3, endpoint_name, endpoint, monitoring_baseline_uri)
    if schedule is not None:
        drift_schedule.ensure(events, endpoint_name, capture_uri, schedule)
    if cloudwatch is not None:
        repoint_drift_alarms(sm, cloudwatch, endpoint_name, endpoint)
    return endpoint


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-package-arn", required=True)
    parser.add_argument("--endpoint-name", required=True)
    parser.add_argument("--strategy", default="replace", help=f"one of {', '.join(STRATEGIES)}")
    parser.add_argument(
        "--new-variant-weight",
        type=float,
        default=0.1,
        help="traffic share of the new model for canary and ab (default 0.1)",
    )
    parser.add_argument("--instance-type", default="ml.m5.large")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--role-arn", required=True)
    parser.add_argument("--data-capture-uri", help="capture requests and responses here (Model Monitor)")
    parser.add_argument(
        "--baseline-uri",
        help="the Baseline step's output; superseded: the baseline published is the monitored "
        "package's DriftCheckBaselines, which RegisterModel recorded from this output",
    )
    parser.add_argument("--monitoring-baseline-uri", help="where the monitoring pages read the deployed baseline")
    parser.add_argument("--timeout", type=float, default=1800)
    drift_schedule.add_arguments(parser)
    args = parser.parse_args(argv)
    deploy_and_monitor(
        boto3.client("sagemaker"),
        boto3.client("sagemaker-runtime"),
        boto3.client("s3"),
        boto3.client("events"),
        package_arn=args.model_package_arn,
        endpoint_name=args.endpoint_name,
        role_arn=args.role_arn,
        strategy=args.strategy,
        new_weight=args.new_variant_weight,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        capture_uri=args.data_capture_uri,
        timeout=args.timeout,
        monitoring_baseline_uri=args.monitoring_baseline_uri,
        schedule=drift_schedule.settings_from_args(args),
        aas=boto3.client("application-autoscaling"),
        cloudwatch=boto3.client("cloudwatch"),
    )


if __name__ == "__main__":
    finish(run(main))
