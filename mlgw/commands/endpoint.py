"""`mlgw endpoint`: describe an endpoint, promote or roll back a canary, set weights."""

from __future__ import annotations

import argparse

from mlgw.args import CliError, config_from, require_endpoint, running, with_endpoint, with_home


def register(sub) -> None:
    endpoint = with_home(
        sub.add_parser(
            "endpoint",
            help="show an endpoint's variants; promote or roll back a canary; set weights",
            description="describe: variants and their traffic shares. promote: the variant serving "
            "the newest model package (highest version; weights do not matter) takes "
            "all traffic, the others are removed. rollback: the newest variant is "
            "removed, its model package marked Rejected in the registry, and the "
            "previous model takes all traffic. weights: set variant weights in place "
            "(no redeploy; weights are relative).",
        )
    )
    endpoint.add_argument(
        "action", choices=["describe", "promote", "rollback", "weights"], help="what to do (see above)"
    )
    with_endpoint(
        endpoint, "ml-gateway-fraud", "endpoint (default ml-gateway-fraud)", aliases=("--name", "--endpoint-name")
    )
    endpoint.add_argument(
        "--variant",
        help="promote/rollback: keep this variant instead (a rollback still marks removed newer packages Rejected)",
    )
    endpoint.add_argument(
        "--weight", action="append", metavar="VARIANT=W", help="weights: a variant's new weight (repeatable)"
    )
    endpoint.set_defaults(func=cmd_endpoint)


def cmd_endpoint(args: argparse.Namespace) -> int:
    from mlgw import canary
    from mlgw.target import Target
    from processing import deploy
    from processing.job import JobError

    config = running(config_from(args))
    target = Target.local(config)
    sm, aas = target.client("sagemaker"), target.client("application-autoscaling")
    require_endpoint(sm, args.endpoint, config)
    try:
        if args.action == "promote" or args.action == "rollback":
            promote = args.action == "promote"
            outcome = canary.finish(sm, args.endpoint, args.variant, promote=promote, aas=aas)
            print("\n".join(canary.summary(args.endpoint, outcome, promote)))
        elif args.action == "weights":
            if not args.weight:
                raise CliError("weights needs --weight VARIANT=W (repeatable)")
            desired = []
            variants = [
                v["VariantName"]
                for v in (deploy.describe_endpoint(sm, args.endpoint) or {}).get("ProductionVariants", [])
            ]
            for pair in args.weight:
                variant, _, weight = pair.partition("=")
                try:
                    value = float(weight)
                except ValueError:
                    raise CliError(f"--weight takes VARIANT=WEIGHT, got {pair!r}") from None
                if variant not in variants:
                    raise CliError(
                        f"--weight {pair}: no variant {variant!r} on endpoint "
                        f"{args.endpoint} (it has {', '.join(variants)})"
                    )
                # UpdateEndpointWeightsAndCapacities' DesiredWeight: a float of at least 0.
                if not value >= 0 or value == float("inf"):
                    raise CliError(
                        f"--weight {pair}: a weight is a number of at least 0 "
                        "(weights are relative: each variant gets its weight / the sum)"
                    )
                desired.append({"VariantName": variant, "DesiredWeight": value})
            sm.update_endpoint_weights_and_capacities(EndpointName=args.endpoint, DesiredWeightsAndCapacities=desired)
            deploy.wait_in_service(sm, args.endpoint, timeout=300)
    except JobError as exc:
        raise CliError(str(exc)) from None
    endpoint = deploy.describe_endpoint(sm, args.endpoint)
    if endpoint is None:
        raise CliError(f"endpoint {args.endpoint} does not exist; `mlgw run` deploys it")
    print(f"{args.endpoint}  {endpoint['EndpointStatus']}  config {endpoint['EndpointConfigName']}")
    total = sum(v.get("CurrentWeight", 0) for v in endpoint.get("ProductionVariants", [])) or 1
    from mlgw.canary import served_variants

    try:  # what each variant serves: endpoint config → model → model package
        serves = {v.name: v for v in served_variants(sm, args.endpoint)}
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
    return 0
