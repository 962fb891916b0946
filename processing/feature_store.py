"""FeatureStore step: raw → features (processing.features, the transform the gateway also uses),
create the `claims` and `customers` feature groups if absent, and ingest every record.

Groups that already exist must have the definitions this code would create; a mismatch fails the
step before a single record is written, so a store is never half-migrated.

The manifest (the ingest's event time and record counts, which BuildDataset waits for) is this
step's output, and with --ingests-uri it is also stored under a name made of what was ingested:
`<ingests-uri>/<digest>/manifest.json`, the digest a SHA-256 of the validated CSVs' and the
schema's bytes and the feature group names. The output's manifest.json names that copy
(`content_uri`), and BuildDataset reads it from there: the same data ingested into the same
groups under the same contract gives BuildDataset the same input URI, so its cached result is
reused (SageMaker's cache key holds the step's input URIs, not the bytes behind them:
https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html), while any other
data gives another URI and a fresh dataset.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from processing import contract, features, schema
from processing.feature_ingest import ingest
from processing.job import JobError, finish, run

ROOT = "/opt/ml/processing"
RECORD_ID = "policy_id"
EVENT_TIME = "event_time"


def feature_definitions(frame) -> list[dict[str, str]]:
    """The definitions a frame's dtypes imply (checked against the contract's before use)."""
    kinds = []
    for name, dtype in frame.dtypes.items():
        kind = "Integral" if dtype.kind in "iu" else "Fractional" if dtype.kind == "f" else "String"
        kinds.append({"FeatureName": name, "FeatureType": kind})
    return kinds


def ensure_group(
    sm, name: str, definitions: list[dict[str, str]], offline_uri: str, role_arn: str, timeout: float = 300
) -> dict:
    """The group's description, creating it (online + offline) if it does not exist."""
    try:
        existing = sm.describe_feature_group(FeatureGroupName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("ResourceNotFound", "ResourceNotFoundException"):
            raise
        existing = None
    if existing is not None:
        have = {d["FeatureName"]: d["FeatureType"] for d in existing["FeatureDefinitions"]}
        want = {d["FeatureName"]: d["FeatureType"] for d in definitions}
        if have != want:
            missing = sorted(set(want) - set(have))
            extra = sorted(set(have) - set(want))
            retyped = sorted(k for k in set(have) & set(want) if have[k] != want[k])
            raise JobError(
                f"feature group {name!r} exists with different features "
                f"(missing {missing or 'none'}, unexpected {extra or 'none'}, "
                f"retyped {retyped or 'none'}); delete it or use another group name"
            )
    else:
        print(f"creating feature group {name}", flush=True)
        sm.create_feature_group(
            FeatureGroupName=name,
            RecordIdentifierFeatureName=RECORD_ID,
            EventTimeFeatureName=EVENT_TIME,
            FeatureDefinitions=definitions,
            OnlineStoreConfig={"EnableOnlineStore": True},
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": offline_uri}, "DisableGlueTableCreation": False},
            RoleArn=role_arn,
            Description=f"ml-gateway {name} features",
        )
    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_feature_group(FeatureGroupName=name)
        status = described["FeatureGroupStatus"]
        if status == "Created":
            return described
        if status in ("CreateFailed", "DeleteFailed", "Deleting"):
            raise JobError(f"feature group {name!r} is {status}: {described.get('FailureReason', '')}")
        if time.monotonic() > deadline:
            raise JobError(f"feature group {name!r} still {status} after {timeout:.0f} s")
        time.sleep(1)


def content_digest(files: list[Path], groups: list[str]) -> str:
    """SHA-256 (hex) of the files' names and bytes, in the order given, and the group names."""
    digest = hashlib.sha256()
    for name in groups:
        digest.update(f"group:{name}\n".encode())
    for path in files:
        digest.update(f"file:{path.name}:{path.stat().st_size}\n".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def store_manifest(s3, manifest: dict, ingests_uri: str, digest: str) -> str:
    """Put the manifest at `<ingests_uri>/<digest>/manifest.json`; that folder's URI."""
    bucket, _, prefix = ingests_uri.removeprefix("s3://").partition("/")
    if not ingests_uri.startswith("s3://") or not bucket:
        raise JobError(f"--ingests-uri {ingests_uri!r} is not an s3:// URI")
    key = f"{prefix.strip('/')}/{digest}/manifest.json".lstrip("/")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
    return f"s3://{bucket}/{key.rsplit('/', 1)[0]}/"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validated-dir", default=f"{ROOT}/input/validated")
    parser.add_argument("--manifest-dir", default=f"{ROOT}/output/manifest")
    parser.add_argument("--claims-group", default="claims")
    parser.add_argument("--customers-group", default="customers")
    parser.add_argument("--offline-store-uri", required=True, help="S3 URI of the offline store")
    parser.add_argument("--role-arn", required=True, help="role the feature groups use")
    parser.add_argument("--schema-dir", help="folder holding the schema.json (default: the one shipped here)")
    parser.add_argument(
        "--ingests-uri", help="S3 prefix where the manifest is also stored under the digest of what was ingested"
    )
    args = parser.parse_args(argv)
    active = contract.activate(args.schema_dir)

    source = Path(args.validated_dir)
    event_time = round(time.time(), 3)  # one event time per ingest: the run that wrote a record
    tables = {args.claims_group: "claims", args.customers_group: "customers"}
    frames = {
        group: features.encode_table(schema.read_raw(source / f"{table}.csv", table), table)
        for group, table in tables.items()
    }
    sm = boto3.client("sagemaker")
    # Every group is checked (or created) before any record is written.
    described = {}
    for name, frame in frames.items():
        frame[EVENT_TIME] = event_time
        definitions = active.feature_definitions(tables[name])
        if feature_definitions(frame) != definitions:  # the transform and contract disagree
            raise JobError(
                f"{name}: encoded columns {list(frame.columns)} do not match the "
                f"contract's features {[d['FeatureName'] for d in definitions]}"
            )
        described[name] = ensure_group(sm, name, definitions, args.offline_store_uri, args.role_arn)
    manifest = {"event_time": event_time, "groups": {}}
    for name, frame in frames.items():
        started = time.perf_counter()
        written = ingest(frame, name)
        seconds = time.perf_counter() - started
        print(f"ingested {written:,} records into {name} in {seconds:.2f} s", flush=True)
        catalog = described[name].get("OfflineStoreConfig", {}).get("DataCatalogConfig", {})
        # BuildDataset waits until the offline store holds `record_ids` records at `event_time`.
        manifest["groups"][name] = {
            "records": written,
            "record_ids": int(frame[RECORD_ID].nunique()),
            "table": catalog.get("TableName"),
            "arn": described[name]["FeatureGroupArn"],
        }
    if args.ingests_uri:
        # What BuildDataset's dataset is made of: the data, its contract and the groups (the
        # transform's code is BuildDataset's own `source` input, content-addressed already).
        contract_file = [] if not args.schema_dir else [contract.schema_in(args.schema_dir)]
        if args.schema_dir and not Path(args.schema_dir).is_dir():
            contract_file = [Path(args.schema_dir)]
        files = [source / f"{table}.csv" for table in tables.values()] + contract_file
        digest = content_digest(files, list(tables))
        manifest["content_uri"] = store_manifest(boto3.client("s3"), manifest, args.ingests_uri, digest)
        print(f"ingest manifest: {manifest['content_uri']}manifest.json", flush=True)
    out = Path(args.manifest_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    finish(run(main))
