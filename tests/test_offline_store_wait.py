"""BuildDataset against an offline store that replicates late, as AWS's does.

AWS: "Feature Store ... the data is written to the offline store within 15 minutes" of PutRecord
(Amazon SageMaker Developer Guide, "Offline store",
https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-offline.html), and
DescribeFeatureGroup reports OfflineStoreStatus Active or Blocked with a BlockedReason
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeFeatureGroup.html).

The FeatureStore and BuildDataset job scripts run as the pipeline runs them (manifest between
them, boto3 and PyAthena pointed at localcloud), with a 20 s replication delay.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from localcloud.config import Config
from localcloud.server import LocalCloudServer
from processing import athena, build_dataset, feature_store, features, schema, synthetic
from processing.job import JobError

ROLE = "arn:aws:iam::000000000000:role/FeatureStoreRole"
BUCKET = "mlgw-test"
POLICIES = 600


def _ingest(tmp_path, server, seed: int) -> dict:
    data = tmp_path / f"seed{seed}"
    synthetic.write(data, policies=POLICIES, seed=seed)
    manifest_dir = tmp_path / f"manifest{seed}"
    feature_store.main(
        [
            "--validated-dir",
            str(data),
            "--manifest-dir",
            str(manifest_dir),
            "--offline-store-uri",
            f"s3://{BUCKET}/feature-store",
            "--role-arn",
            ROLE,
        ]
    )
    return {
        "data": data,
        "manifest_dir": manifest_dir,
        "manifest": json.loads((manifest_dir / "manifest.json").read_text()),
    }


def _amounts(frame) -> list[float]:
    return sorted(round(float(v), 2) for v in frame["total_claim_amount"].dropna())


@pytest.mark.slow
def test_build_dataset_waits_for_this_ingest_with_a_20_s_replication_delay(tmp_path, monkeypatch, capsys):
    home = tmp_path / "mlgw"
    server = LocalCloudServer(Config(home=home, port=0, offline_store_delay=20))
    server.start_background()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        monkeypatch.setenv("MLGW_HOME", str(home))  # what localcloud exports to its jobs
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)

        first = _ingest(tmp_path, server, seed=7)
        server.cloud.featurestore.flush_offline()  # an earlier run, long replicated
        second = _ingest(tmp_path, server, seed=8)  # same policy ids, new values
        output = f"s3://{BUCKET}/athena"
        tables = {g: v["table"] for g, v in second["manifest"]["groups"].items()}

        # Right after the ingest the offline store still holds the earlier run's values: a
        # dataset read now would train on stale data (the defect).
        stale = athena.query(
            build_dataset.dataset_query(tables["claims"], tables["customers"]),
            output_location=output,
            region="us-east-1",
        )
        expected_first = _amounts(features.encode_claims(schema.read_raw(first["data"] / "claims.csv", "claims")))
        assert _amounts(stale) == expected_first

        # A bounded wait that runs out fails clearly, naming what is missing.
        groups = {g: {"records": v["record_ids"], "table": v["table"]} for g, v in second["manifest"]["groups"].items()}
        with pytest.raises(JobError, match=r"still lacks records of this ingest.*claims 0/600"):
            build_dataset.wait_for_offline_store(
                groups, second["manifest"]["event_time"], output_location=output, region="us-east-1", timeout=0.5
            )

        out_dirs = {part: tmp_path / "dataset" / part for part in ("train", "validation", "test")}
        started = time.monotonic()
        build_dataset.main(
            [
                "--manifest-dir",
                str(second["manifest_dir"]),
                "--athena-output",
                output,
                *[a for part, d in out_dirs.items() for a in (f"--{part}-dir", str(d))],
            ]
        )
        waited = time.monotonic() - started
    finally:
        server.stop()

    printed = capsys.readouterr().out
    assert "offline store: waiting for this ingest's records: claims 0/600" in printed
    assert "offline store: every record of this ingest is there" in printed
    assert waited > 5
    import pandas as pd

    dataset = pd.concat([pd.read_csv(d / f"{part}.csv") for part, d in out_dirs.items()])
    assert len(dataset) == POLICIES
    expected = _amounts(features.encode_claims(schema.read_raw(second["data"] / "claims.csv", "claims")))
    assert expected != expected_first
    assert _amounts(dataset) == expected


def test_one_count_query_per_poll_counts_each_groups_records_of_this_ingest(tmp_path, monkeypatch, capsys):
    """The wait's single Athena statement (one UNION ALL branch per feature group, run through
    PyAthena against localcloud's Athena) gives each group its own count of the distinct policies
    carrying this ingest's event time: an earlier ingest's records, a policy written twice (two
    PutRecords, two rows in the append-only offline store,
    https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-offline.html) and another
    group's records never count. The wait returns once every group has all of its records and
    otherwise names each group's count."""
    home = tmp_path / "mlgw"
    server = LocalCloudServer(Config(home=home, port=0))
    server.start_background()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        monkeypatch.setenv("MLGW_HOME", str(home))
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        first = _ingest_small(tmp_path, seed=7, policies=40)
        second = _ingest_small(tmp_path, seed=8, policies=40)
        event_time = second["manifest"]["event_time"]
        # Two more claims of this ingest (one of them twice) and none for customers.
        rt = boto3.client("sagemaker-featurestore-runtime", region_name="us-east-1")
        for policy in ("900001", "900002", "900002"):
            rt.put_record(
                FeatureGroupName="claims",
                Record=[
                    {"FeatureName": "policy_id", "ValueAsString": policy},
                    {"FeatureName": "event_time", "ValueAsString": repr(event_time)},
                ],
            )
        server.cloud.featurestore.flush_offline()
        tables = {g: v["table"] for g, v in second["manifest"]["groups"].items()}
        output = f"s3://{BUCKET}/athena"

        sql = build_dataset.ingest_counts_query(tables, event_time)
        found = athena.query(sql, output_location=output, region="us-east-1")
        assert dict(zip(found["feature_group"], found["records"].astype(int))) == {"claims": 42, "customers": 40}
        earlier = athena.query(
            build_dataset.ingest_counts_query(tables, first["manifest"]["event_time"]),
            output_location=output,
            region="us-east-1",
        )
        assert dict(zip(earlier["feature_group"], earlier["records"].astype(int))) == {"claims": 40, "customers": 40}

        groups = {g: {"records": n, "table": tables[g]} for g, n in (("claims", 42), ("customers", 40))}
        build_dataset.wait_for_offline_store(groups, event_time, output_location=output, region="us-east-1", timeout=60)
        assert "every record of this ingest is there" in capsys.readouterr().out
        groups["customers"]["records"] = 41
        with pytest.raises(JobError, match=r"still lacks records of this ingest.*customers 40/41"):
            build_dataset.wait_for_offline_store(
                groups, event_time, output_location=output, region="us-east-1", timeout=0.5
            )
    finally:
        server.stop()


def _ingest_small(tmp_path, seed: int, policies: int) -> dict:
    data = tmp_path / f"small{seed}"
    synthetic.write(data, policies=policies, seed=seed)
    manifest_dir = tmp_path / f"small-manifest{seed}"
    feature_store.main(
        [
            "--validated-dir",
            str(data),
            "--manifest-dir",
            str(manifest_dir),
            "--offline-store-uri",
            f"s3://{BUCKET}/feature-store",
            "--role-arn",
            ROLE,
        ]
    )
    return {"manifest_dir": manifest_dir, "manifest": json.loads((manifest_dir / "manifest.json").read_text())}


def test_duplicate_offline_rows_do_not_change_the_dataset(tmp_path, monkeypatch):
    """The offline store may hold a record twice (the same record id and event time): AWS says
    so where it builds datasets ("Create a dataset from your feature groups": by default the SDK's
    create_dataset "doesn't include duplicated records. A duplicate record has the record ID and
    timestamp value in the event time column",
    https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-create-a-dataset.html), and
    localcloud's replication, replayed after a crash, can write a range twice (issue 24 class 9).
    BuildDataset's query keeps one row per policy: a duplicated Parquet file changes nothing."""

    home = tmp_path / "mlgw"
    server = LocalCloudServer(Config(home=home, port=0, offline_store_delay=0))
    server.start_background()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        monkeypatch.setenv("MLGW_HOME", str(home))
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        ingest = _ingest(tmp_path, server, seed=7)
        server.cloud.featurestore.flush_offline()
        tables = {g: v["table"] for g, v in ingest["manifest"]["groups"].items()}
        query = build_dataset.dataset_query(tables["claims"], tables["customers"])
        output = f"s3://{BUCKET}/athena"
        before = athena.query(query, output_location=output, region="us-east-1")
        s3 = server.cloud.s3
        keys = [k for k in s3.list_keys(BUCKET, "feature-store/") if k.endswith(".parquet")]
        assert keys, "the offline store wrote no Parquet file"
        for key in keys:  # every row twice, in objects whose names differ only in their suffix
            replayed = key.removesuffix(".parquet") + "-replayed.parquet"
            s3.put_object(BUCKET, replayed, s3.read_bytes(f"s3://{BUCKET}/{key}"))
        after = athena.query(query, output_location=output, region="us-east-1")
    finally:
        server.stop()
    assert len(before) == POLICIES
    assert len(after) == POLICIES
    assert _amounts(after) == _amounts(before)
