"""`mlgw demo`: the whole loop: deploy, traffic, monitoring, drift → retrain."""

from __future__ import annotations

import argparse

from mlgw.args import config_from, policy_count, with_home


def register(sub) -> None:
    demo = with_home(
        sub.add_parser(
            "demo",
            help="the whole loop: deploy, traffic, Model Monitor, drift → retrain",
            description="Run the pipeline, replay normal traffic through the gateway and monitor it; "
            "with --drift, replay drifted traffic too: Model Monitor finds the drift, its "
            "event re-runs the pipeline through EventBridge and the new model is deployed "
            "as a canary.",
        )
    )
    demo.add_argument("--policies", type=policy_count, default=5000, help="initial dataset size (default 5000)")
    demo.add_argument("--traffic", type=policy_count, default=1000, help="policies per traffic batch (default 1000)")
    demo.add_argument(
        "--drift",
        nargs="?",
        const="total_claim_amount*1.4",
        metavar="SPEC",
        help="replay drifted traffic (default spec total_claim_amount*1.4; see `mlgw traffic --help`)",
    )
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from mlgw import demo

    return demo.demo(config_from(args), policies=args.policies, traffic_policies=args.traffic, drift=args.drift)
