"""`mlgw endpoint`: describe an endpoint, deploy a registered version on it, promote or roll
back a canary, set weights — on localcloud or, with --target aws, on AWS."""

from __future__ import annotations

import argparse
from typing import Any

from mlgw.args import (
    CliError,
    bounded_int,
    config_from,
    require_endpoint,
    running,
    with_endpoint,
    with_home,
)

DEFAULT_GROUP = "MLGatewayFraud"
DEPLOY_ONLY = ("version", "strategy", "role_arn", "instance_type", "force")


def register(sub) -> None:
    endpoint = with_home(
        sub.add_parser(
            "endpoint",
            help="show an endpoint's variants; deploy a registered version; promote or roll back a canary; set weights",
            description="describe: variants and their traffic shares. deploy --version N: serve "
            "version N of the model package group (it must be Approved) through the "
            "pipeline's own Deploy code: --strategy replace (default) gives it all "
            "traffic, canary or ab adds it beside the model serving at --weight W; the "
            "drift checks then judge by its baseline, data capture and the drift-check "
            "schedule stay. promote: the variant serving the newest model package "
            "(highest version; weights do not matter) takes all traffic, the others are "
            "removed. rollback: the newest variant is removed, its model package marked "
            "Rejected in the registry, and the previous model takes all traffic. "
            "weights: set variant weights in place (no redeploy; weights are relative). "
            "localcloud by default; --target aws acts on your AWS account.",
        )
    )
    endpoint.add_argument(
        "action",
        choices=["describe", "deploy", "promote", "rollback", "weights"],
        help="what to do (see above)",
    )
    with_endpoint(
        endpoint, "ml-gateway-fraud", "endpoint (default ml-gateway-fraud)", aliases=("--name", "--endpoint-name")
    )
    endpoint.add_argument(
        "--variant",
        help="promote/rollback: keep this variant instead (a rollback still marks removed newer packages Rejected)",
    )
    endpoint.add_argument(
        "--weight",
        action="append",
        metavar="VARIANT=W | W",
        help="weights: a variant's new weight (repeatable); deploy with canary or ab: the new "
        "version's traffic share, between 0 and 1 (default 0.1)",
    )
    endpoint.add_argument(
        "--version",
        type=bounded_int(1, 2**31 - 1, "SageMaker's ModelPackageVersion is a 32-bit Integer"),
        metavar="N",
        help="deploy: the model package version",
    )
    endpoint.add_argument(
        "--strategy", metavar="replace|canary|ab", help="deploy: replace (default), canary or ab (DeployStrategy)"
    )
    endpoint.add_argument(
        "--group", default=DEFAULT_GROUP, help=f"deploy: the model package group (default {DEFAULT_GROUP})"
    )
    endpoint.add_argument(
        "--role-arn", help="deploy: execution role of the new model (default: the serving model's role)"
    )
    endpoint.add_argument(
        "--instance-type", help="deploy: instance type of the new variant (default: the serving variant's)"
    )
    endpoint.add_argument(
        "--force",
        action="store_true",
        help="deploy: also a version trained on another data contract than the run configuration's "
        "(the gateway encodes requests with the configuration's: they would fail)",
    )
    endpoint.add_argument("--target", choices=["local", "aws"], default="local", help="localcloud (default) or AWS")
    endpoint.add_argument("--region", help="AWS region (aws: default $AWS_REGION)")
    endpoint.set_defaults(func=cmd_endpoint)


def _target(args: argparse.Namespace):
    """(Target, localcloud Config or None) of --target."""
    from mlgw.target import Target

    if args.target == "aws":
        return Target.aws(args.region), None
    if args.region:
        raise CliError("--region applies to --target aws: locally the region is localcloud's")
    config = running(config_from(args))
    return Target.local(config), config


def _require_endpoint(sm, name: str, target, config) -> None:
    if config is not None:
        require_endpoint(sm, name, config)
        return
    from processing import deploy

    if deploy.describe_endpoint(sm, name) is None:
        raise CliError(f"endpoint {name} does not exist on {target.describe()} (choose with --endpoint)")


def cmd_endpoint(args: argparse.Namespace) -> int:
    from botocore.exceptions import ClientError, NoCredentialsError

    if args.action != "deploy":
        given = [f"--{n.replace('_', '-')}" for n in DEPLOY_ONLY if getattr(args, n)]
        if given:
            raise CliError(f"{', '.join(given)} applies to deploy")
    target, config = _target(args)
    try:
        return _endpoint(args, target, config)
    except NoCredentialsError:
        raise CliError("no AWS credentials found (boto3's chain: environment, profile, instance role)") from None
    except ClientError as exc:
        if target.kind != "aws":
            raise
        error = exc.response.get("Error", {})
        raise CliError(f"AWS refused: {error.get('Code')}: {error.get('Message')}") from None


def _endpoint(args: argparse.Namespace, target, config) -> int:
    from mlgw import canary
    from processing import deploy
    from processing.job import JobError

    sm, aas = target.client("sagemaker"), target.client("application-autoscaling")
    _require_endpoint(sm, args.endpoint, target, config)
    try:
        if args.action == "deploy":
            deploy_version(args, target, sm, aas)
        elif args.action == "promote" or args.action == "rollback":
            promote = args.action == "promote"
            outcome = canary.finish(
                sm,
                args.endpoint,
                args.variant,
                promote=promote,
                aas=aas,
                s3=target.client("s3"),
                monitoring_baseline_uri=_baseline_uri(target),
                cloudwatch=target.client("cloudwatch"),
            )
            print("\n".join(canary.summary(args.endpoint, outcome, promote)))
        elif args.action == "weights":
            set_weights(sm, args.endpoint, args.weight)
    except (JobError, ValueError) as exc:
        raise CliError(str(exc)) from None
    endpoint = deploy.describe_endpoint(sm, args.endpoint)
    if endpoint is None:
        raise CliError(f"endpoint {args.endpoint} does not exist; `mlgw run` deploys it")
    print(f"{args.endpoint}  {endpoint['EndpointStatus']}  config {endpoint['EndpointConfigName']}")
    total = sum(v.get("CurrentWeight", 0) for v in endpoint.get("ProductionVariants", [])) or 1
    try:  # what each variant serves: endpoint config → model → model package
        serves = {v.name: v for v in canary.served_variants(sm, args.endpoint)}
    except JobError:
        serves = {}
    for variant in endpoint.get("ProductionVariants", []):
        share = variant.get("CurrentWeight", 0) / total
        served = serves.get(variant["VariantName"])
        what = ""
        if served is not None:
            what = (
                f"  serves {served.package_group} version {served.version} ({served.approval})"
                if served.package_arn
                else f"  serves model {served.model_name}"
            )
        print(
            f"  {variant['VariantName']:<10} weight {variant.get('CurrentWeight', 0):<6g} "
            f"({share:.0%} of traffic){what}"
        )
        if config is not None:
            for line in _instance_lines(config, args.endpoint, variant["VariantName"]):
                print(line)
    return 0


def _instance_lines(config, endpoint: str, variant: str) -> list[str]:
    """One line per instance process of a local variant: its pid, image, Python and xgboost
    versions and the requests it served (localcloud's own instance records, which
    DescribeEndpoint's shape has no place for; the count is written once a second). An
    in-process variant (multi-model, serverless, no SAGEMAKER_PROGRAM) has none."""
    from localcloud.sagemaker.hosting.instances import INSTANCE
    from localcloud.state import StateStore

    records = [
        r
        for r in StateStore(config.state_db).list(INSTANCE)
        if r.get("EndpointName") == endpoint and r.get("VariantName") == variant
    ]
    return [
        f"    instance {r['InstanceId']}  pid {r['Pid']}  image {r['Image']}  "
        f"Python {r['PythonVersion']}  xgboost {r['XgboostVersion']}  requests served {r['RequestsServed']}"
        for r in sorted(records, key=lambda r: r["Started"])
    ]


def _baseline_uri(target) -> str | None:
    """Where the monitored model's baseline is published on `target` (None: its bucket cannot
    be named, so nothing is published)."""
    from mlgw import monitor_schedule

    return monitor_schedule.monitoring_baseline_uri(target.bucket) if target.bucket else None


def set_weights(sm, endpoint_name: str, pairs: list[str] | None) -> None:
    """`weights --weight VARIANT=W ...`: UpdateEndpointWeightsAndCapacities, then wait InService."""
    from processing import deploy

    if not pairs:
        raise CliError("weights needs --weight VARIANT=W (repeatable)")
    desired = []
    variants = [
        v["VariantName"] for v in (deploy.describe_endpoint(sm, endpoint_name) or {}).get("ProductionVariants", [])
    ]
    for pair in pairs:
        variant, _, weight = pair.partition("=")
        try:
            value = float(weight)
        except ValueError:
            raise CliError(f"--weight takes VARIANT=WEIGHT, got {pair!r}") from None
        if variant not in variants:
            raise CliError(
                f"--weight {pair}: no variant {variant!r} on endpoint {endpoint_name} (it has {', '.join(variants)})"
            )
        # UpdateEndpointWeightsAndCapacities' DesiredWeight: a float of at least 0.
        if not value >= 0 or value == float("inf"):
            raise CliError(
                f"--weight {pair}: a weight is a number of at least 0 "
                "(weights are relative: each variant gets its weight / the sum)"
            )
        desired.append({"VariantName": variant, "DesiredWeight": value})
    sm.update_endpoint_weights_and_capacities(EndpointName=endpoint_name, DesiredWeightsAndCapacities=desired)
    deploy.wait_in_service(sm, endpoint_name, timeout=300)


def _new_weight(strategy: str, pairs: list[str] | None) -> float:
    """deploy's --weight: the new version's share for canary / ab (default 0.1, the pipeline's
    NewVariantWeight default), strictly between 0 and 1."""
    if not pairs:
        return 0.1
    if len(pairs) > 1:
        raise CliError("deploy takes one --weight W (the new version's share)")
    if strategy == "replace":
        raise CliError("--weight applies to --strategy canary or ab: replace gives the version all traffic")
    try:
        weight = float(pairs[0])
    except ValueError:
        raise CliError(f"--weight takes the new version's share, a number between 0 and 1, got {pairs[0]!r}") from None
    if not 0.0 < weight < 1.0:
        raise CliError(f"--weight must be between 0 and 1 (exclusive) for a {strategy} deployment, got {pairs[0]}")
    return weight


def _serving_main(sm, endpoint_name: str) -> dict[str, Any]:
    """The endpoint's main variant (highest weight) with its model's description."""
    from processing import deploy

    endpoint = deploy.describe_endpoint(sm, endpoint_name) or {}
    main = max(deploy.serving_variants(sm, endpoint), key=lambda v: v["InitialVariantWeight"])
    return {**main, "model": sm.describe_model(ModelName=main["ModelName"]), "endpoint": endpoint}


def _refuse_another_contract(package: dict, version: int, s3, bucket: str) -> None:
    """CliError when the version's lineage names a data contract (SchemaDigest, the SHA-256 of
    the schema.json in its model) other than the run configuration's: the gateway and traffic
    encode requests with the configuration's contract, so every request would fail."""
    import hashlib

    from mlgw import run_config
    from processing import contract

    trained = (package.get("CustomerMetadataProperties") or {}).get("SchemaDigest", "none")
    if trained == "none":
        return  # a version registered before lineage was recorded: nothing to compare
    configured = run_config.effective(s3, bucket)
    expected = configured.schema_digest or hashlib.sha256(contract.DEFAULT_PATH.read_bytes()).hexdigest()
    if not trained.removeprefix("sha256:").startswith(expected[:16]):
        raise CliError(
            f"version {version} was trained on another data contract ({trained[:23]}…) than the run "
            f"configuration's ({expected[:16]}, `mlgw config show`): the gateway encodes requests with the "
            "configuration's, so every request would fail. Run `mlgw run --schema FILE` with that version's "
            "schema first, or say --force"
        )


def deploy_version(args: argparse.Namespace, target, sm, aas) -> None:
    """`endpoint deploy --version N`: processing/deploy.deploy_and_monitor, the code of the
    pipeline's Deploy step, with what the endpoint runs now as the defaults (role, instance
    type and count, data capture, drift-check schedule); the drift alarms follow the new
    baseline (re-pointed, reset to OK if in ALARM)."""
    from mlgw import approval, monitor_schedule
    from processing import deploy

    if args.version is None:
        raise CliError("deploy needs --version N (`mlgw models list` shows the versions)")
    strategy = args.strategy or "replace"
    if strategy not in deploy.STRATEGIES:
        raise CliError(f"--strategy {strategy!r} is not one of {', '.join(deploy.STRATEGIES)}")
    weight = _new_weight(strategy, args.weight)
    try:
        package = approval.find_package(sm, args.group, str(args.version))
    except approval.ApprovalError as exc:
        raise CliError(str(exc)) from None
    status = package.get("ModelApprovalStatus", "")
    if status != "Approved":
        why = f" ({package['ApprovalDescription']})" if package.get("ApprovalDescription") else ""
        raise CliError(
            f"version {args.version} of {args.group} is {status}{why}; only an Approved version is deployed "
            f"(`mlgw models approve {args.version}` first)"
        )
    bucket = target.bucket
    if bucket is None:
        raise CliError(f"cannot name the workflow's bucket on {target.describe()} (STS GetCallerIdentity failed)")
    if not args.force:
        _refuse_another_contract(package, args.version, target.client("s3"), bucket)
    serving = _serving_main(sm, args.endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=serving["endpoint"]["EndpointConfigName"])
    capture = (config.get("DataCaptureConfig") or {}).get("DestinationS3Uri") or monitor_schedule.capture_uri(bucket)
    print(
        f"deploying {args.group} version {args.version} ({package['ModelPackageArn']}) on {args.endpoint}: {strategy}"
    )
    deploy.deploy_and_monitor(
        sm,
        target.client("sagemaker-runtime"),
        target.client("s3"),
        target.client("events"),
        package_arn=package["ModelPackageArn"],
        endpoint_name=args.endpoint,
        role_arn=args.role_arn or serving["model"]["ExecutionRoleArn"],
        strategy=strategy,
        new_weight=weight,
        instance_type=args.instance_type or serving.get("InstanceType") or "ml.m5.large",
        instance_count=int(serving.get("InitialInstanceCount") or 1),
        capture_uri=capture,
        timeout=1800,
        monitoring_baseline_uri=monitor_schedule.monitoring_baseline_uri(bucket),
        schedule=monitor_schedule.schedule_settings(
            target.client("events"), args.endpoint, str(target.region), target.account_id
        ),
        aas=aas,
        cloudwatch=target.client("cloudwatch"),
    )
