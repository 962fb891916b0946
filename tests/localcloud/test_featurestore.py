"""SageMaker Feature Store against a running localcloud with real boto3 clients: the control
plane, the online store (newest event time wins, TTL, validation), restart persistence, the
offline Parquet store, bulk ingest, and Athena-style SQL over the offline store via DuckDB."""

from __future__ import annotations

import functools
import time

import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from tests.conftest import start_server

ROLE = "arn:aws:iam::000000000000:role/FeatureStoreRole"
DEFINITIONS = [
    {"FeatureName": "policy_id", "FeatureType": "String"},
    {"FeatureName": "event_time", "FeatureType": "Fractional"},
    {"FeatureName": "claim_amount", "FeatureType": "Fractional"},
    {"FeatureName": "num_claims", "FeatureType": "Integral"},
    {"FeatureName": "region", "FeatureType": "String"},
]


def create_group(sm, name: str = "claims", **extra) -> dict:
    sm.create_feature_group(
        FeatureGroupName=name,
        RecordIdentifierFeatureName="policy_id",
        EventTimeFeatureName="event_time",
        FeatureDefinitions=DEFINITIONS,
        OnlineStoreConfig={"EnableOnlineStore": True, **extra.pop("online", {})},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://feature-store/offline"}},
        RoleArn=ROLE,
        **extra,
    )
    return sm.describe_feature_group(FeatureGroupName=name)


def record(
    policy_id: str, event_time: float, amount: float = 10.5, claims: int = 1, region: str = "north"
) -> list[dict]:
    values = {
        "policy_id": policy_id,
        "event_time": repr(event_time),
        "claim_amount": repr(amount),
        "num_claims": str(claims),
        "region": region,
    }
    return [{"FeatureName": k, "ValueAsString": v} for k, v in values.items()]


def as_dict(response: dict) -> dict:
    return {f["FeatureName"]: f["ValueAsString"] for f in response["Record"]}


def parquet_files(cloud, uri: str, at_least: int = 1, timeout: float = 15.0) -> list:
    """The Parquet objects' files under the offline store's S3 prefix `uri` (through the S3
    backend) once replication (asynchronous, after the configured delay) has written at least
    `at_least` of them."""
    deadline = time.monotonic() + timeout
    while True:
        files = cloud.s3.object_files(uri.rstrip("/") + "/", ".parquet")
        if len(files) >= at_least or time.monotonic() > deadline:
            return files
        time.sleep(0.1)


def test_control_plane(client):
    sm = client("sagemaker")
    described = create_group(sm, Description="claims features", Tags=[{"Key": "team", "Value": "risk"}])
    assert described["FeatureGroupStatus"] == "Created"
    assert described["FeatureGroupArn"].endswith(":feature-group/claims")
    created = int(described["CreationTime"].timestamp())
    offline = described["OfflineStoreConfig"]
    assert offline["S3StorageConfig"]["ResolvedOutputS3Uri"] == (
        f"s3://feature-store/offline/000000000000/sagemaker/us-east-1/offline-store/claims-{created}/data"
    )
    assert offline["DataCatalogConfig"] == {
        "Catalog": "AwsDataCatalog",
        "Database": "sagemaker_featurestore",
        "TableName": f"claims_{created}",
    }
    assert described["OnlineStoreTotalSizeBytes"] == 0
    assert described["Description"] == "claims features"

    with pytest.raises(ClientError) as err:
        create_group(sm)
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as err:
        create_group(sm, name="../x")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as err:
        sm.create_feature_group(
            FeatureGroupName="bad",
            RecordIdentifierFeatureName="missing",
            EventTimeFeatureName="event_time",
            FeatureDefinitions=DEFINITIONS,
            OnlineStoreConfig={"EnableOnlineStore": True},
        )
    assert "missing" in err.value.response["Error"]["Message"]

    create_group(sm, name="claims-b")
    create_group(sm, name="policies")
    listed = sm.list_feature_groups(NameContains="claims", SortBy="Name", SortOrder="Ascending")
    assert [g["FeatureGroupName"] for g in listed["FeatureGroupSummaries"]] == ["claims", "claims-b"]
    page = sm.list_feature_groups(MaxResults=2)
    assert len(page["FeatureGroupSummaries"]) == 2 and page["NextToken"]
    rest = sm.list_feature_groups(MaxResults=2, NextToken=page["NextToken"])
    assert len(rest["FeatureGroupSummaries"]) == 1

    sm.delete_feature_group(FeatureGroupName="claims-b")
    with pytest.raises(ClientError) as err:
        sm.describe_feature_group(FeatureGroupName="claims-b")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"


def test_online_records(client):
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    create_group(sm)
    now = time.time()
    rt.put_record(FeatureGroupName="claims", Record=record("p1", now, amount=99.5, claims=3))
    got = rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p1")
    assert as_dict(got) == {
        "policy_id": "p1",
        "event_time": repr(now),
        "claim_amount": "99.5",
        "num_claims": "3",
        "region": "north",
    }
    only = rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p1", FeatureNames=["num_claims"])
    assert as_dict(only) == {"num_claims": "3"}

    # An older event time does not overwrite the online record; a newer one does.
    rt.put_record(FeatureGroupName="claims", Record=record("p1", now - 60, claims=1))
    assert as_dict(rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p1"))["num_claims"] == "3"
    rt.put_record(FeatureGroupName="claims", Record=record("p1", now + 1, claims=4))
    assert as_dict(rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p1"))["num_claims"] == "4"

    missing = rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="nobody")
    assert "Record" not in missing

    rt.put_record(FeatureGroupName="claims", Record=record("p2", now))
    batch = rt.batch_get_record(
        Identifiers=[{"FeatureGroupName": "claims", "RecordIdentifiersValueAsString": ["p1", "p2", "nobody"]}]
    )
    assert sorted(r["RecordIdentifierValueAsString"] for r in batch["Records"]) == ["p1", "p2"]
    assert batch["Errors"] == [] and batch["UnprocessedIdentifiers"] == []

    rt.delete_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p2", EventTime=repr(now + 5))
    assert "Record" not in rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p2")
    assert sm.describe_feature_group(FeatureGroupName="claims")["OnlineStoreTotalSizeBytes"] > 0

    with pytest.raises(ClientError) as err:
        rt.get_record(FeatureGroupName="unknown", RecordIdentifierValueAsString="p1")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_bad_records_name_the_feature(client):
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    create_group(sm)
    now = time.time()
    bad = record("p1", now) + [{"FeatureName": "colour", "ValueAsString": "red"}]
    with pytest.raises(ClientError) as err:
        rt.put_record(FeatureGroupName="claims", Record=bad)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "colour" in err.value.response["Error"]["Message"]
    bad = [f if f["FeatureName"] != "num_claims" else {**f, "ValueAsString": "2.5"} for f in record("p1", now)]
    with pytest.raises(ClientError) as err:
        rt.put_record(FeatureGroupName="claims", Record=bad)
    assert "num_claims" in err.value.response["Error"]["Message"]
    bad = [f for f in record("p1", now) if f["FeatureName"] != "event_time"]
    with pytest.raises(ClientError) as err:
        rt.put_record(FeatureGroupName="claims", Record=bad)
    assert "event_time" in err.value.response["Error"]["Message"]


def test_iso_event_times(client):
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    sm.create_feature_group(
        FeatureGroupName="events",
        RecordIdentifierFeatureName="id",
        EventTimeFeatureName="ts",
        FeatureDefinitions=[
            {"FeatureName": "id", "FeatureType": "Integral"},
            {"FeatureName": "ts", "FeatureType": "String"},
        ],
        OnlineStoreConfig={"EnableOnlineStore": True},
    )
    put = lambda ts: rt.put_record(  # noqa: E731
        FeatureGroupName="events",
        Record=[
            {"FeatureName": "id", "ValueAsString": "1"},
            {"FeatureName": "ts", "ValueAsString": ts},
        ],
    )
    put("2024-05-01T10:00:00Z")
    put("2024-04-30T10:00:00.123Z")  # older: ignored by the online store
    got = rt.get_record(FeatureGroupName="events", RecordIdentifierValueAsString="1")
    assert as_dict(got)["ts"] == "2024-05-01T10:00:00Z"
    with pytest.raises(ClientError) as err:
        put("yesterday")
    assert "ts" in err.value.response["Error"]["Message"]


def test_ttl_expiry(client):
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    create_group(sm, online={"TtlDuration": {"Unit": "Minutes", "Value": 1}})
    now = time.time()
    # ExpiresAt = EventTime + TtlDuration, as on AWS.
    rt.put_record(FeatureGroupName="claims", Record=record("old", now - 120))
    rt.put_record(FeatureGroupName="claims", Record=record("fresh", now))
    assert "Record" not in rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="old")
    fresh = rt.get_record(
        FeatureGroupName="claims", RecordIdentifierValueAsString="fresh", ExpirationTimeResponse="Enabled"
    )
    assert as_dict(fresh)["policy_id"] == "fresh" and fresh["ExpiresAt"].endswith("Z")
    # A per-put TtlDuration overrides the group's.
    rt.put_record(
        FeatureGroupName="claims", Record=record("short", now - 5), TtlDuration={"Unit": "Seconds", "Value": 1}
    )
    assert "Record" not in rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="short")


def test_a_ttl_past_year_9999_is_read_back_not_a_500(client):
    """TtlDuration's Value is any integer >= 1 (API_TtlDuration): a week-unit TTL of 2**31 - 1 is
    valid and puts ExpiresAt past year 9999. GetRecord and BatchGetRecord with
    ExpirationTimeResponse once answered 500 for it (and one such record failed the whole batch)."""
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    create_group(sm)
    now = time.time()
    rt.put_record(
        FeatureGroupName="claims", Record=record("far", now), TtlDuration={"Unit": "Weeks", "Value": 2**31 - 1}
    )
    rt.put_record(FeatureGroupName="claims", Record=record("near", now))
    got = rt.get_record(
        FeatureGroupName="claims", RecordIdentifierValueAsString="far", ExpirationTimeResponse="Enabled"
    )
    assert got["ExpiresAt"] == "9999-12-31T23:59:59.999Z"
    batch = rt.batch_get_record(
        Identifiers=[{"FeatureGroupName": "claims", "RecordIdentifiersValueAsString": ["far", "near"]}],
        ExpirationTimeResponse="Enabled",
    )
    assert sorted(as_dict(r)["policy_id"] for r in batch["Records"]) == ["far", "near"]
    assert not batch["Errors"]


def test_restart_keeps_records_and_offline_parquet(tmp_path):
    import boto3

    home = tmp_path / "mlgw"
    server = start_server(home)
    kwargs = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    sm = boto3.client("sagemaker", endpoint_url=server.url, **kwargs)
    rt = boto3.client("sagemaker-featurestore-runtime", endpoint_url=server.url, **kwargs)
    described = create_group(sm)
    now = time.time()
    rt.put_record(FeatureGroupName="claims", Record=record("p1", now, claims=7))
    server.stop()

    server = start_server(home)
    try:
        rt = boto3.client("sagemaker-featurestore-runtime", endpoint_url=server.url, **kwargs)
        got = rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p1")
        assert as_dict(got)["num_claims"] == "7"
        resolved = described["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
        files = parquet_files(server.cloud, resolved)  # replicated after the delay, by the restarted process
        bucket, prefix = server.cloud.s3.split_uri(resolved.rstrip("/") + "/")
        keys = [k for k in server.cloud.s3.list_keys(bucket, prefix) if k.endswith(".parquet")]
    finally:
        server.stop()
    assert len(files) == 1
    stamp = time.gmtime(now)
    assert keys[0].removeprefix(prefix).rsplit("/", 1)[0] == time.strftime("year=%Y/month=%m/day=%d/hour=%H", stamp)
    import pyarrow.parquet as pq

    table = pq.read_table(files[0])
    assert table.column_names == [
        "policy_id",
        "event_time",
        "claim_amount",
        "num_claims",
        "region",
        "write_time",
        "api_invocation_time",
        "is_deleted",
    ]
    assert table.column("num_claims").to_pylist() == [7]


def test_journaled_offline_rows_survive_a_crash(tmp_path):
    """Single puts are journaled in SQLite with the online write; a process that dies before
    replicating leaves them for the next one to write as Parquet."""
    from localcloud.cloud import LocalCloud
    from localcloud.config import Config

    home = tmp_path / "mlgw"
    crashed = LocalCloud(Config(home=home, port=0))
    crashed.featurestore.create_group(
        {
            "FeatureGroupName": "claims",
            "RecordIdentifierFeatureName": "policy_id",
            "EventTimeFeatureName": "event_time",
            "FeatureDefinitions": DEFINITIONS,
            "OnlineStoreConfig": {"EnableOnlineStore": True},
            "OfflineStoreConfig": {"S3StorageConfig": {"S3Uri": "s3://feature-store/offline"}},
        }
    )
    crashed.featurestore.put_record("claims", record("p1", time.time()))
    assert not crashed.s3.object_files("s3://feature-store/", ".parquet")  # accepted, not yet replicated (the delay)
    crashed.featurestore.replicator.stop()  # as if the process died

    restarted = LocalCloud(Config(home=home, port=0))
    restarted.featurestore  # replication resumes on start
    assert len(parquet_files(restarted, "s3://feature-store/")) == 1
    restarted.close()
    crashed.featurestore.replicator.replicate(force=True)  # its journal is empty now
    assert len(crashed.s3.object_files("s3://feature-store/", ".parquet")) == 1


def test_bulk_ingest_and_athena_sql(client, localcloud, monkeypatch):
    from processing import athena
    from processing.bulk_ingest import BulkIngestError, bulk_ingest

    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    table = create_group(sm)["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
    rows, now = 20_000, time.time()
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "policy_id": [f"p{i % 10_000}" for i in range(rows)],  # every id twice
            "event_time": now - 3600 + np.arange(rows, dtype=float) / 10,  # the second copy is newer
            "claim_amount": rng.random(rows) * 1000,
            "num_claims": np.arange(rows) // 10_000,  # 0 for the first copy, 1 for the newer
            "region": rng.choice(["north", "south"], rows),
        }
    )
    creds = dict(access_key="test", secret_key="test")
    assert (
        bulk_ingest(
            frame, "claims", endpoint_url=localcloud.url, region="us-east-1", credentials=creds, batch_rows=8000
        )
        == rows
    )
    for pid in ("p0", "p1234", "p9999"):
        got = as_dict(rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString=pid))
        assert got["num_claims"] == "1"

    bad = frame.head(3).assign(num_claims=["1", "two", "3"])
    with pytest.raises(BulkIngestError, match="num_claims"):
        bulk_ingest(bad, "claims", endpoint_url=localcloud.url, region="us-east-1", credentials=creds)
    with pytest.raises(BulkIngestError, match="colour"):
        bulk_ingest(
            frame.head(3).assign(colour="red"),
            "claims",
            endpoint_url=localcloud.url,
            region="us-east-1",
            credentials=creds,
        )

    rt.delete_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p5", EventTime=repr(now))
    localcloud.cloud.featurestore.flush_offline()  # replicate now instead of after the delay

    # Athena through PyAthena against localcloud's Athena API, as BuildDataset runs it.
    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    client("s3").create_bucket(Bucket="athena-results")
    query = functools.partial(
        athena.query, output_location="s3://athena-results/q/", region="us-east-1", poll_interval=0.05
    )
    latest = query(
        f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY policy_id "
        f'ORDER BY event_time DESC, api_invocation_time DESC) AS rn FROM "{table}") '
        f"WHERE rn = 1 AND NOT is_deleted"
    )
    assert len(latest) == 9_999
    assert set(latest["num_claims"]) == {1}
    assert "p5" not in set(latest["policy_id"])
    # A group with no offline data yet is an empty table with the right columns.
    empty = create_group(sm, name="empty")["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
    nothing = query(f'SELECT policy_id, num_claims, is_deleted FROM "{empty}"')
    assert list(nothing.columns) == ["policy_id", "num_claims", "is_deleted"] and nothing.empty
    counted = query(
        f"SELECT count(*) AS n, approx_distinct(policy_id) AS ids "
        f'FROM "sagemaker_featurestore"."{table}" WHERE NOT is_deleted'
    )
    assert counted["n"][0] == rows


def test_a_row_not_yet_due_is_never_dropped_with_an_earlier_id(tmp_path):
    """PutRecord takes its write time before it waits for the write lock, so with concurrent
    puts a lower journal id can carry a later write time. Replicating what is due must leave
    that row for later, not drop it (a record the online store accepted never reached the
    offline store: found by tests/test_featurestore_crash.py under load)."""
    from localcloud.cloud import LocalCloud
    from localcloud.config import Config

    cloud = LocalCloud(Config(home=tmp_path / "mlgw", port=0, offline_store_delay=60))
    store = cloud.featurestore
    store.replicator.stop()  # this test drives replication itself
    store.create_group(
        {
            "FeatureGroupName": "claims",
            "RecordIdentifierFeatureName": "policy_id",
            "EventTimeFeatureName": "event_time",
            "FeatureDefinitions": DEFINITIONS,
            "OnlineStoreConfig": {"EnableOnlineStore": True},
            "OfflineStoreConfig": {"S3StorageConfig": {"S3Uri": "s3://feature-store/offline"}},
        }
    )
    now = time.time()
    store.put_record("claims", record("late", now))  # lower id, its write time after the cutoff
    store.put_record("claims", record("due", now))
    with store._tx() as conn:
        conn.execute("UPDATE offline_journal SET write_time=? WHERE record LIKE '%\"late\"%'", (now + 1,))
        conn.execute("UPDATE offline_journal SET write_time=? WHERE record LIKE '%\"due\"%'", (now - 120,))
    assert store.replicator.replicate() == 1
    assert store.replicator.pending("claims") == 1  # "late" waits for its delay
    store.replicator.replicate(force=True)
    import pyarrow.parquet as pq

    ids = sorted(
        v
        for f in (tmp_path / "mlgw" / "s3").rglob("*.parquet")
        for v in pq.read_table(f).column("policy_id").to_pylist()
    )
    assert ids == ["due", "late"]
    cloud.close()
