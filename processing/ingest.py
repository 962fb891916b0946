"""Ingest step: validate the raw claims and customers CSVs against the schema and land the
validated copies in S3 (this step's output). Nothing downstream runs on a file that fails.

Each input may be one CSV or a prefix of several (the first dataset plus later batches, e.g.
replayed traffic); a policy_id may appear in only one of them.

Once every file is accepted (and only then), the run's inputs become the current dataset: with
--claims-uri/--current-claims-uri (and the customers pair) the step replaces the objects under
the current prefix (the landing prefix that retrains read) with the input's objects, by
server-side copy, unless the input already is the current prefix (a retrain). A file that
fails validation therefore never replaces the data retrains use."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlparse

from processing import contract, schema
from processing.job import JobError, csv_files, finish, run

ROOT = "/opt/ml/processing"


def read_all(directory: str, table: str):
    """Every CSV of one table, validated file by file, as one frame."""
    import pandas as pd

    files = csv_files(directory, f"{table} input")
    frames = [schema.read_raw(path, table) for path in files]
    for path, frame in zip(files, frames):
        for column, count in frame.attrs.get("unknown_categories", {}).items():
            # The contract maps unknown categories to missing here; say how many.
            print(
                f"{path.name}: column '{column}': {count:,} unknown categor"
                f"{'y' if count == 1 else 'ies'} mapped to missing",
                flush=True,
            )
    if len(frames) == 1:
        return frames[0]
    sources = pd.Series([path.name for path, frame in zip(files, frames) for _ in range(len(frame))])
    combined = pd.concat(frames, ignore_index=True)
    repeated = combined["policy_id"].duplicated(keep=False)
    if repeated.any():
        first = combined.loc[repeated, "policy_id"].iloc[0]
        where = sorted(set(sources[(combined["policy_id"] == first).to_numpy()]))
        raise JobError(
            f"{table}: policy_id {first} appears in more than one file ({', '.join(where)}); "
            f"{int(repeated.sum())} rows repeat an id across files"
        )
    return combined


# CopyObject copies up to 5 GiB in one request
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html); larger files take the
# managed multipart copy.
COPY_OBJECT_LIMIT = 5 * 1024**3


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise JobError(f"{uri!r} is not an s3:// URI")
    return parsed.netloc, parsed.path.lstrip("/")


def _list(s3, bucket: str, prefix: str) -> list[dict]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o for page in pages for o in page.get("Contents", [])]


def plan_publish(s3, table: str, input_uri: str, current_uri: str, local_dir: str):
    """What making `input_uri`'s objects the only ones under `current_uri` (a prefix) takes:
    (destination bucket, prefix, [(source object, destination key)]), or None when the input
    is the current prefix already. The objects must be the files this job validated
    (`local_dir`, where the S3Prefix input put them: same relative names and sizes), else
    JobError: the input changed while it was validated."""
    src_bucket, src_prefix = _split(input_uri)
    dst_bucket, dst_prefix = _split(current_uri.rstrip("/") + "/")
    if src_bucket == dst_bucket and (src_prefix.rstrip("/") + "/").startswith(dst_prefix):
        return None
    sources = {}
    for obj in _list(s3, src_bucket, src_prefix):
        # An S3Prefix input lands each object at LocalPath + the key after the prefix; an input
        # naming one object lands it under its own name.
        relative = obj["Key"][len(src_prefix) :].lstrip("/") or obj["Key"].rsplit("/", 1)[-1]
        if relative.endswith(".csv"):
            sources[relative] = {**obj, "Bucket": src_bucket}
    folder = Path(local_dir)
    validated = {
        str(p.relative_to(folder)) if folder.is_dir() else p.name: p.stat().st_size
        for p in csv_files(folder, f"{table} input")
    }
    if {name: obj["Size"] for name, obj in sources.items()} != validated:
        raise JobError(
            f"{table}: the objects under {input_uri} changed while they were "
            f"validated ({sorted(sources)} now, {sorted(validated)} validated); "
            "the current dataset is unchanged: start the run again"
        )
    return dst_bucket, dst_prefix, [(obj, dst_prefix + name) for name, obj in sources.items()]


def apply_publish(s3, plan) -> int:
    """Copy the planned objects (server-side), then delete what else the current prefix held,
    so the prefix never goes empty; the number of files copied."""
    dst_bucket, dst_prefix, copies = plan
    for obj, key in copies:
        source = {"Bucket": obj["Bucket"], "Key": obj["Key"]}
        if obj["Size"] > COPY_OBJECT_LIMIT:
            s3.copy(source, dst_bucket, key)
        else:  # exactly the version listed (and validated), or PreconditionFailed
            s3.copy_object(Bucket=dst_bucket, Key=key, CopySource=source, CopySourceIfMatch=obj["ETag"])
    copied = {key for _, key in copies}
    stale = [{"Key": o["Key"]} for o in _list(s3, dst_bucket, dst_prefix) if o["Key"] not in copied]
    for start in range(0, len(stale), 1000):  # DeleteObjects takes at most 1,000 keys
        s3.delete_objects(Bucket=dst_bucket, Delete={"Objects": stale[start : start + 1000], "Quiet": True})
    return len(copies)


def publish(args) -> None:
    """Make the run's accepted inputs the current dataset (both tables planned, then both
    switched, so a listing problem leaves both as they were)."""
    pairs = {t: (getattr(args, f"{t}_uri"), getattr(args, f"current_{t}_uri")) for t in ("claims", "customers")}
    pairs = {t: pair for t, pair in pairs.items() if all(pair)}
    if not pairs:
        return
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3")
    try:
        plans = {
            t: plan_publish(s3, t, source, current, getattr(args, f"{t}_dir")) for t, (source, current) in pairs.items()
        }
        for table, plan in plans.items():
            source, current = pairs[table]
            # `current dataset:` lines are shown in `mlgw run`'s progress (local_run.JobProgress).
            if plan is None:
                print(f"current dataset: {table} read from it ({current})", flush=True)
                continue
            copied = apply_publish(s3, plan)
            print(
                f"current dataset: {table} replaced by the {copied} accepted file(s) of {source} ({current})",
                flush=True,
            )
    except ClientError as exc:
        raise JobError(f"the input was accepted but could not be made the current dataset: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims-dir", default=f"{ROOT}/input/claims")
    parser.add_argument("--customers-dir", default=f"{ROOT}/input/customers")
    parser.add_argument("--validated-dir", default=f"{ROOT}/output/validated")
    parser.add_argument(
        "--schema-dir", help="folder holding the schema.json to validate against (default: the one shipped here)"
    )
    for table in ("claims", "customers"):
        parser.add_argument(f"--{table}-uri", help=f"the S3 URI the {table} input came from")
        parser.add_argument(
            f"--current-{table}-uri",
            help=f"the {table} prefix of the current dataset (the landing prefix "
            f"retrains read): the input replaces it once accepted",
        )
    args = parser.parse_args(argv)
    contract.activate(args.schema_dir)

    claims = read_all(args.claims_dir, "claims")
    customers = read_all(args.customers_dir, "customers")
    schema.check_join(claims, customers)
    if claims["fraud"].nunique() < 2:
        raise JobError(
            "claims.csv: column 'fraud' has a single value; training needs both fraud (1) and legitimate (0) claims"
        )

    out = Path(args.validated_dir)
    out.mkdir(parents=True, exist_ok=True)
    claims.to_csv(out / "claims.csv", index=False)
    customers.to_csv(out / "customers.csv", index=False)
    print(
        f"validated {len(claims):,} claims ({int(claims['fraud'].sum()):,} fraud) and {len(customers):,} customers",
        flush=True,
    )
    publish(args)


if __name__ == "__main__":
    finish(run(main))
