"""Ingest step: validate the raw claims and customers CSVs against the schema and land the
validated copies in S3 (this step's output). Nothing downstream runs on a file that fails.

Each input may be one CSV or a prefix of several (the first dataset plus later batches, e.g.
replayed traffic); a policy_id may appear in only one of them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from processing import contract, schema
from processing.job import JobError, csv_files, run

ROOT = "/opt/ml/processing"


def read_all(directory: str, table: str):
    """Every CSV of one table, validated file by file, as one frame."""
    import pandas as pd
    files = csv_files(directory, f"{table} input")
    frames = [schema.read_raw(path, table) for path in files]
    for path, frame in zip(files, frames):
        for column, count in frame.attrs.get("unknown_categories", {}).items():
            # The contract maps unknown categories to missing here; say how many.
            print(f"{path.name}: column '{column}': {count:,} unknown categor"
                  f"{'y' if count == 1 else 'ies'} mapped to missing", flush=True)
    if len(frames) == 1:
        return frames[0]
    sources = pd.Series([path.name for path, frame in zip(files, frames) for _ in range(len(frame))])
    combined = pd.concat(frames, ignore_index=True)
    repeated = combined["policy_id"].duplicated(keep=False)
    if repeated.any():
        first = combined.loc[repeated, "policy_id"].iloc[0]
        where = sorted(set(sources[(combined["policy_id"] == first).to_numpy()]))
        raise JobError(f"{table}: policy_id {first} appears in more than one file ({', '.join(where)}); "
                       f"{int(repeated.sum())} rows repeat an id across files")
    return combined


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims-dir", default=f"{ROOT}/input/claims")
    parser.add_argument("--customers-dir", default=f"{ROOT}/input/customers")
    parser.add_argument("--validated-dir", default=f"{ROOT}/output/validated")
    parser.add_argument("--schema-dir", help="folder holding the schema.json to validate "
                                             "against (default: the one shipped here)")
    args = parser.parse_args(argv)
    contract.activate(args.schema_dir)

    claims = read_all(args.claims_dir, "claims")
    customers = read_all(args.customers_dir, "customers")
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
