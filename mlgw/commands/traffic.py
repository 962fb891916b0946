"""`mlgw traffic`: replay claims through the gateway."""

from __future__ import annotations

import argparse

from mlgw.args import (
    CliError,
    bounded_int,
    check_input_file,
    config_from,
    policy_count,
    require_endpoint,
    running,
    seed_number,
    with_endpoint,
    with_home,
)

# Parallel requests are threads of this process, each with its own connection to the gateway
# (urllib3's pool keeps that many); the gateway serves a few at a time per worker, so more
# than this only queue there while costing a thread and a socket each here.
MAX_CONCURRENCY = 64
concurrency = bounded_int(1, MAX_CONCURRENCY, "a thread and a connection each")


def register(sub) -> None:
    traffic = with_home(
        sub.add_parser(
            "traffic",
            help="replay new claims through the gateway, optionally drifted",
            description="Send new policies (raw claim + customer records) through the ML Gateway "
            "Lambda handler to the endpoint, in the run configuration's schema and feature groups, "
            "then add the labelled batch to the current dataset if every request was answered. "
            "The policies are your held-out rows (--claims/--customers: policies not in the current "
            "dataset) or, when the configuration's data source is synthetic, generated ones; a "
            "configuration on your own data refuses synthetic traffic. --drift shifts the data: "
            "COLUMN*FACTOR (e.g. total_claim_amount*1.4) or COLUMN=VALUE:SHARE (e.g. "
            "policy_state=NV:0.5), comma-separated.",
        )
    )
    traffic.add_argument(
        "--policies",
        type=policy_count,
        help="requests to send (default 1000 synthetic policies, or every held-out row given)",
    )
    traffic.add_argument("--claims", help="held-out claims to replay (with --customers)")
    traffic.add_argument("--customers", help="the held-out claims' customers (with --claims)")
    traffic.add_argument("--seed", type=seed_number, default=1, help="seed for the replayed policies (default 1)")
    traffic.add_argument("--drift", help="shift the replayed data (see above)")
    with_endpoint(traffic, "ml-gateway-fraud", "endpoint the gateway calls (default ml-gateway-fraud)")
    traffic.add_argument("--concurrency", type=concurrency, default=4, help="parallel requests (default 4)")
    traffic.set_defaults(func=cmd_traffic)


def cmd_traffic(args: argparse.Namespace) -> int:
    from mlgw import traffic
    from mlgw.local_run import clients

    if bool(args.claims) != bool(args.customers):
        raise CliError("--claims and --customers go together: give both held-out CSVs or neither")
    for flag, path in (("--claims", args.claims), ("--customers", args.customers)):
        if path:
            check_input_file(flag, path)
    from processing.schema import SchemaError

    config = running(config_from(args))
    require_endpoint(clients(config)[1], args.endpoint, config)
    try:
        summary = traffic.replay(
            config,
            policies=args.policies,
            seed=args.seed,
            drift=args.drift,
            endpoint_name=args.endpoint,
            concurrency=args.concurrency,
            claims=args.claims,
            customers=args.customers,
        )
    except (traffic.TrafficError, SchemaError) as exc:
        raise CliError(str(exc)) from None
    traffic.print_summary(summary)
    return 0 if summary.batch_added else 1
