"""Ingest step: validate the raw claims and customers CSVs against the schema and land the
validated copies in S3 (this step's output). Nothing downstream runs on a file that fails."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from processing import schema
from processing.job import JobError, run, single_csv

ROOT = "/opt/ml/processing"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims-dir", default=f"{ROOT}/input/claims")
    parser.add_argument("--customers-dir", default=f"{ROOT}/input/customers")
    parser.add_argument("--validated-dir", default=f"{ROOT}/output/validated")
    args = parser.parse_args(argv)

    claims = schema.read_raw(single_csv(args.claims_dir, "claims input"), "claims")
    customers = schema.read_raw(single_csv(args.customers_dir, "customers input"), "customers")
    schema.check_join(claims, customers)
    if claims["fraud"].nunique() < 2:
        raise JobError("claims.csv: column 'fraud' has a single value; "
                       "training needs both fraud (1) and legitimate (0) claims")

    out = Path(args.validated_dir)
    out.mkdir(parents=True, exist_ok=True)
    claims.to_csv(out / "claims.csv", index=False)
    customers.to_csv(out / "customers.csv", index=False)
    print(f"validated {len(claims):,} claims ({int(claims['fraud'].sum()):,} fraud) and "
          f"{len(customers):,} customers", flush=True)


if __name__ == "__main__":
    sys.exit(run(main))
