"""BuildDataset step: wait until the offline store holds every record of the FeatureStore step's
ingest, then one Athena query joins this ingest's `claims` and `customers` records per policy,
then a stratified train / validation / test split. CSVs carry a header; the label `fraud`
comes first.

What a run trains on: the current dataset as this run's Ingest accepted it — the data the run
was given (`mlgw run --policies N` or `--claims/--customers`: exactly those policies) or, for a
retrain or `mlgw pipeline start`, the landing prefixes (the data the last run was given plus the
batches added since, e.g. replayed traffic with its labels). Nothing else the offline store
holds counts: not earlier runs' records, not traffic batches no longer in the current dataset,
not raw records the gateway stored for scoring. The offline store keeps that history (nothing
is deleted); the query selects this ingest's records by its event time, which the FeatureStore
step gives every record it writes (one event time per ingest, in its manifest) and which no
other writer shares: earlier ingests and the gateway's PutRecords carry their own times.

The wait: Feature Store replicates to the offline store asynchronously (AWS: "within 15
minutes", https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-offline.html), so the
step polls (Athena counts of this ingest's event time, DescribeFeatureGroup's OfflineStoreStatus)
until every group holds all its records, printing progress; it fails clearly if a store is
Blocked or the bounded wait (--offline-wait-seconds, default 30 min) runs out.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

from processing import athena, contract, features
from processing.job import JobError, finish, run

ROOT = "/opt/ml/processing"
LABEL = "fraud"

# Trino SQL (Athena engine v3); localcloud runs the same text on DuckDB through sqlglot.
# One row per policy: its latest record (row_number over event time, then write time), deleted
# ones left out. The offline store may hold a record more than once (the same record id and event
# time): AWS's own dataset builder removes such duplicates by default ("Create a dataset from your
# feature groups", https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-create-a-dataset.html),
# and so does rn = 1 here (tests/test_offline_store_wait.py).
QUERY = """
WITH claims AS (
    SELECT *, row_number() OVER (PARTITION BY policy_id
                                 ORDER BY event_time DESC, api_invocation_time DESC) AS rn
    FROM "{claims_table}"{this_ingest}
), customers AS (
    SELECT *, row_number() OVER (PARTITION BY policy_id
                                 ORDER BY event_time DESC, api_invocation_time DESC) AS rn
    FROM "{customers_table}"{this_ingest}
)
SELECT {columns}
FROM claims AS c
JOIN customers AS u ON c.policy_id = u.policy_id
WHERE c.rn = 1 AND u.rn = 1 AND NOT c.is_deleted AND NOT u.is_deleted
ORDER BY c.policy_id
"""


# Event times are Fractional epoch seconds written with millisecond precision.
EVENT_TIME_TOLERANCE = 0.0005
# How often the offline store is polled: every half second while replication is likely (locally
# a few seconds; on AWS usually well under a minute), then backing off to at most every 30 s
# (AWS allows up to 15 minutes; each poll is an Athena query).
FIRST_POLL_SECONDS, STEADY_POLL_UNTIL_SECONDS, MAX_POLL_SECONDS = 0.5, 20.0, 30.0


def dataset_query(claims_table: str, customers_table: str, ingest_time: float | None = None) -> str:
    """The dataset SQL. With `ingest_time` (epoch seconds, the FeatureStore step's event time)
    only that ingest's records count: the run's current dataset, never an earlier run's
    policies, a later ingest or a record the gateway wrote. Without it (a hand-run without a
    manifest), the latest record of every policy the store holds; either way a policy whose
    latest selected record is a deletion is left out, and the offline store's duplicate
    copies of a record are counted once."""
    # The feature columns come from the data contract (processing/schema.json).
    columns = ", ".join(
        [f"c.{LABEL}"]
        + [f"c.{f}" for f in features.table_features("claims")]
        + [f"u.{f}" for f in features.table_features("customers")]
    )
    condition = (
        f"\n    WHERE abs(event_time - {ingest_time!r}) < {EVENT_TIME_TOLERANCE!r}" if ingest_time is not None else ""
    )
    return QUERY.format(
        claims_table=claims_table, customers_table=customers_table, columns=columns, this_ingest=condition
    )


def ingest_counts_query(tables: dict[str, str], event_time: float) -> str:
    """One statement counting, in each group's offline table (`tables`: group name -> Glue
    table), the distinct policies with this ingest's `event_time`: one row per group,
    (feature_group varchar, records bigint). One query per poll rather than one per group:
    each Athena query pays its own start and completion polling."""

    def quoted(text: str) -> str:  # a SQL string literal
        return "'" + text.replace("'", "''") + "'"

    return "\nUNION ALL\n".join(
        f'SELECT {quoted(name)} AS feature_group, count(DISTINCT policy_id) AS records FROM "{table}" '
        f"WHERE abs(event_time - {event_time!r}) < {EVENT_TIME_TOLERANCE!r}"
        for name, table in tables.items()
    )


def wait_for_offline_store(
    groups: dict[str, dict],
    event_time: float,
    *,
    output_location: str,
    region: str | None,
    timeout: float,
    sm=None,
    connection=None,
    clock=time.monotonic,
    sleep=time.sleep,
) -> None:
    """Block until each group's offline table holds `records` distinct policies with this
    ingest's `event_time` (`groups`: name -> {"records": n, "table": glue table}), querying on
    `connection` (athena.connect(); default a new one). Raises JobError if an offline store is
    Blocked or `timeout` seconds pass."""
    import boto3

    sm = sm or boto3.client("sagemaker")
    started = clock()
    poll = FIRST_POLL_SECONDS
    waiting = dict(groups)
    if connection is None:
        connection = athena.connect(output_location=output_location, region=region)
    while True:
        for name in list(waiting):
            status = sm.describe_feature_group(FeatureGroupName=name).get("OfflineStoreStatus", {})
            if status.get("Status") == "Blocked":
                raise JobError(
                    f"the offline store of feature group {name!r} is Blocked: "
                    f"{status.get('BlockedReason', 'no reason given')}"
                )
        found = athena.query(
            ingest_counts_query({n: g["table"] for n, g in waiting.items()}, event_time),
            output_location=output_location,
            region=region,
            connection=connection,
        )
        by_group = dict(zip(found["feature_group"], found["records"]))
        counts = {name: int(by_group[name]) for name in waiting}
        elapsed = clock() - started
        progress = ", ".join(f"{name} {counts[name]:,}/{waiting[name]['records']:,}" for name in counts)
        print(f"offline store: waiting for this ingest's records: {progress} ({elapsed:.0f} s)", flush=True)
        for name in list(waiting):
            if counts[name] >= waiting[name]["records"]:
                del waiting[name]
        if not waiting:
            print(f"offline store: every record of this ingest is there after {elapsed:.0f} s", flush=True)
            return
        if elapsed > timeout:
            raise JobError(
                f"the offline store still lacks records of this ingest after "
                f"{timeout:.0f} s ({progress}); Feature Store replicates within 15 "
                "minutes on AWS: raise --offline-wait-seconds or check the groups' "
                "OfflineStoreStatus"
            )
        sleep(min(poll, max(0.0, timeout - elapsed) + 0.01))
        if elapsed >= STEADY_POLL_UNTIL_SECONDS:
            poll = min(poll * 1.5, MAX_POLL_SECONDS)


def import_split_library() -> threading.Thread:
    """Start importing scikit-learn (~2 s of CPU, scipy included) on a background thread, so
    the import overlaps the offline-store wait, which mostly sleeps, instead of following it.
    A failed import is left for split()'s own import to raise."""

    def load() -> None:
        try:
            import sklearn.model_selection  # noqa: F401
        except Exception:  # noqa: BLE001 - split() imports it again and reports the error
            pass

    thread = threading.Thread(target=load, name="import-sklearn", daemon=True)
    thread.start()
    return thread


def split(frame, validation: float, test: float, seed: int):
    """Stratified train / validation / test frames."""
    from sklearn.model_selection import train_test_split

    positives = int(frame[LABEL].sum())
    if positives < 3 or positives == len(frame):
        raise JobError(
            f"the dataset has {len(frame):,} rows and {positives} fraud labels; "
            "a stratified split needs at least 3 of each class"
        )
    rest, test_part = train_test_split(frame, test_size=test, stratify=frame[LABEL], random_state=seed)
    train_part, valid_part = train_test_split(
        rest, test_size=validation / (1 - test), stratify=rest[LABEL], random_state=seed
    )
    return train_part, valid_part, test_part


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims-group", default="claims")
    parser.add_argument("--customers-group", default="customers")
    parser.add_argument("--athena-output", required=True, help="S3 URI for Athena query results")
    parser.add_argument(
        "--manifest-dir",
        default=None,
        help="the FeatureStore step's manifest (manifest.json: the ingest's event time "
        "and record counts); without it, no wait, and the dataset is the "
        "latest record of every policy in the store",
    )
    parser.add_argument(
        "--offline-wait-seconds",
        type=float,
        default=1800.0,
        help="how long to wait for the offline store to hold the ingest",
    )
    for part in ("train", "validation", "test"):
        parser.add_argument(f"--{part}-dir", default=f"{ROOT}/output/{part}")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--schema-dir", help="folder holding the schema.json")
    args = parser.parse_args(argv)
    import_split_library()
    contract.activate(args.schema_dir)

    region = os.environ.get("AWS_DEFAULT_REGION")  # the processor's Environment sets it (pipeline.py)
    tables = {name: athena.table_name(name) for name in (args.claims_group, args.customers_group)}
    ingest_time = None
    connection = athena.connect(output_location=args.athena_output, region=region)
    if args.manifest_dir:
        manifest = json.loads((Path(args.manifest_dir) / "manifest.json").read_text())
        ingest_time = float(manifest["event_time"])
        groups = {
            name: {"records": int(manifest["groups"][name]["record_ids"]), "table": tables[name]} for name in tables
        }
        wait_for_offline_store(
            groups,
            ingest_time,
            output_location=args.athena_output,
            region=region,
            timeout=args.offline_wait_seconds,
            connection=connection,
        )
    sql = dataset_query(tables[args.claims_group], tables[args.customers_group], ingest_time)
    frame = athena.query(sql, output_location=args.athena_output, region=region, connection=connection)
    if frame.empty:
        raise JobError(
            f"the dataset query over {args.claims_group!r} and {args.customers_group!r} "
            "returned no rows: are both feature groups populated for the same policies?"
        )
    unlabelled = frame[LABEL].isna()
    if unlabelled.any():  # policies scored by the gateway whose outcome is not known yet
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
    finish(run(main))
