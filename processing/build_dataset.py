"""BuildDataset step: one Athena query joins the latest `claims` and `customers` records per
policy (records whose latest version is a deletion are left out), then a stratified
train / validation / test split. CSVs carry a header; the label `fraud` comes first."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from processing import athena, contract, features
from processing.job import JobError, run

ROOT = "/opt/ml/processing"
LABEL = "fraud"

# Trino SQL (Athena engine v3); localcloud runs the same text on DuckDB through sqlglot.
QUERY = """
WITH claims AS (
    SELECT *, row_number() OVER (PARTITION BY policy_id
                                 ORDER BY event_time DESC, api_invocation_time DESC) AS rn
    FROM "{claims_table}"
), customers AS (
    SELECT *, row_number() OVER (PARTITION BY policy_id
                                 ORDER BY event_time DESC, api_invocation_time DESC) AS rn
    FROM "{customers_table}"
)
SELECT {columns}
FROM claims AS c
JOIN customers AS u ON c.policy_id = u.policy_id
WHERE c.rn = 1 AND u.rn = 1 AND NOT c.is_deleted AND NOT u.is_deleted
ORDER BY c.policy_id
"""


def dataset_query(claims_table: str, customers_table: str) -> str:
    # The feature columns come from the data contract (processing/schema.json).
    columns = ", ".join([f"c.{LABEL}"] + [f"c.{f}" for f in features.table_features("claims")]
                        + [f"u.{f}" for f in features.table_features("customers")])
    return QUERY.format(claims_table=claims_table, customers_table=customers_table, columns=columns)


def split(frame, validation: float, test: float, seed: int):
    """Stratified train / validation / test frames."""
    from sklearn.model_selection import train_test_split
    positives = int(frame[LABEL].sum())
    if positives < 3 or positives == len(frame):
        raise JobError(f"the dataset has {len(frame):,} rows and {positives} fraud labels; "
                       "a stratified split needs at least 3 of each class")
    rest, test_part = train_test_split(frame, test_size=test, stratify=frame[LABEL], random_state=seed)
    train_part, valid_part = train_test_split(rest, test_size=validation / (1 - test),
                                              stratify=rest[LABEL], random_state=seed)
    return train_part, valid_part, test_part


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims-group", default="claims")
    parser.add_argument("--customers-group", default="customers")
    parser.add_argument("--athena-output", required=True, help="S3 URI for Athena query results")
    for part in ("train", "validation", "test"):
        parser.add_argument(f"--{part}-dir", default=f"{ROOT}/output/{part}")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--schema-dir", help="folder holding the schema.json")
    args = parser.parse_args(argv)
    contract.activate(args.schema_dir)

    sql = dataset_query(athena.table_name(args.claims_group), athena.table_name(args.customers_group))
    frame = athena.query(sql, output_location=args.athena_output,
                         region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    if frame.empty:
        raise JobError(f"the dataset query over {args.claims_group!r} and {args.customers_group!r} "
                       "returned no rows: are both feature groups populated for the same policies?")
    unlabelled = frame[LABEL].isna()
    if unlabelled.any():   # policies scored by the gateway whose outcome is not known yet
        print(f"left out {int(unlabelled.sum()):,} policies with no fraud label yet", flush=True)
        frame = frame[~unlabelled]
    frame[LABEL] = frame[LABEL].astype("int64")
    parts = split(frame, args.validation_fraction, args.test_fraction, args.seed)
    for name, part in zip(("train", "validation", "test"), parts):
        out = Path(getattr(args, f"{name}_dir"))
        out.mkdir(parents=True, exist_ok=True)
        part.to_csv(out / f"{name}.csv", index=False)
        print(f"{name}: {len(part):,} rows, {int(part[LABEL].sum()):,} fraud", flush=True)


if __name__ == "__main__":
    sys.exit(run(main))
