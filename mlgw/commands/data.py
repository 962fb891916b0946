"""`mlgw data`: generate synthetic data."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlgw.args import policy_count, seed_number


def register(sub) -> None:
    data = sub.add_parser(
        "data",
        help="generate synthetic claims and customers CSVs",
        description="Write claims.csv and customers.csv in the raw schema of "
        "the auto-insurance sample, with a learnable fraud signal.",
    )
    data.add_argument("action", choices=["generate"], help="write the two CSVs")
    data.add_argument("--policies", type=policy_count, default=5000, help="number of policies (default 5000)")
    data.add_argument("--seed", type=seed_number, default=42, help="random seed (default 42)")
    data.add_argument("--out", default="data", help="output directory (default ./data)")
    data.set_defaults(func=cmd_data)


def cmd_data(args: argparse.Namespace) -> int:
    from processing import synthetic

    out = Path(args.out)
    synthetic.write(out, policies=args.policies, seed=args.seed)
    print(f"wrote {out / 'claims.csv'} and {out / 'customers.csv'} ({args.policies:,} policies, seed {args.seed})")
    return 0
