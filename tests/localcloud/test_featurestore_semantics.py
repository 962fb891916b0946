"""Feature Store value checks and DeleteRecord semantics as AWS documents them, against a running
localcloud with boto3 as the client; and the poison case: one bad record never damages the
store for anyone else, across a restart."""

from __future__ import annotations

import json
import sqlite3
import time

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from tests.conftest import start_server
from tests.localcloud.test_featurestore import ROLE, as_dict, create_group, record

CLIENT = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def _put(rt, group: str, **values: str) -> None:
    rt.put_record(FeatureGroupName=group, Record=[{"FeatureName": k, "ValueAsString": v} for k, v in values.items()])


def _refused(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as err:
        call(*args, **kwargs)
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, response
    return response["Error"]


def _string_event_group(sm, name: str = "events") -> None:
    sm.create_feature_group(
        FeatureGroupName=name,
        RecordIdentifierFeatureName="id",
        EventTimeFeatureName="ts",
        FeatureDefinitions=[
            {"FeatureName": "id", "FeatureType": "String"},
            {"FeatureName": "ts", "FeatureType": "String"},
            {"FeatureName": "score", "FeatureType": "Fractional"},
        ],
        OnlineStoreConfig={"EnableOnlineStore": True},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://feature-store/offline"}},
        RoleArn=ROLE,
    )


def test_string_event_times_take_only_the_two_documented_formats(client):
    """CreateFeatureGroup, EventTimeFeatureName
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateFeatureGroup.html):
    "String: EventTime feature values must be an ISO-8601 string in the format ...
    yyyy-MM-dd'T'HH:mm:ssZ and yyyy-MM-dd'T'HH:mm:ss.SSSZ". DeleteRecord's EventTime is an
    event time of the same group, so the same formats."""
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    _string_event_group(sm)
    for good in ("2024-03-01T12:00:00Z", "2024-03-01T12:00:01.123Z"):
        _put(rt, "events", id="a", ts=good)
    assert (
        as_dict(rt.get_record(FeatureGroupName="events", RecordIdentifierValueAsString="a"))["ts"]
        == "2024-03-01T12:00:01.123Z"
    )
    for bad in (
        "2024-03-01",
        "2024-03-01 12:00:00",
        "2024-03-01T12:00:00+02:00",
        "2024-03-01T12:00:00",
        "2024-03-01T12:00:00.1Z",
        "2024-03-01T12:00:00.123456Z",
        "2024-02-30T12:00:00Z",
        "20240301T120000Z",
        " 2024-03-01T12:00:00Z",
        "yesterday",
    ):
        error = _refused(_put, rt, "events", id="b", ts=bad)
        assert error["Code"] == "ValidationError" and "ts" in error["Message"], (bad, error)
        error = _refused(rt.delete_record, FeatureGroupName="events", RecordIdentifierValueAsString="a", EventTime=bad)
        assert "EventTime" in error["Message"], (bad, error)
    assert rt.get_record(FeatureGroupName="events", RecordIdentifierValueAsString="b").get("Record") is None


def test_fractional_values_are_decimal_or_scientific_and_finite(client):
    """Feature Store data types
    (https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-quotas.html): Fractional is
    a 64-bit IEEE 754 floating point value in decimal or scientific notation; the event time as
    Fractional is "a Unix timestamp in seconds" (CreateFeatureGroup, EventTimeFeatureName).
    Python's float() also takes nan, inf, Infinity, digit separators: AWS refuses them."""
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    create_group(sm)
    now = time.time()
    for good in ("10.5", "-2", "1e3", "1.5E-3", ".5", "5.", "+7"):
        rt.put_record(
            FeatureGroupName="claims",
            Record=record("p1", now, amount=0.0)[:2] + [{"FeatureName": "claim_amount", "ValueAsString": good}],
        )
    for bad in ("nan", "NaN", "inf", "-Infinity", "Infinity", "1e400", "1_000", "0x10", "1.5.2", ""):
        error = _refused(
            rt.put_record,
            FeatureGroupName="claims",
            Record=record("p2", now)[:2] + [{"FeatureName": "claim_amount", "ValueAsString": bad}],
        )
        assert "claim_amount" in error["Message"], (bad, error)
    for bad in ("inf", "1e300", "nan", "-inf", "Infinity", "1e20", "-1e12"):
        error = _refused(
            rt.put_record,
            FeatureGroupName="claims",
            Record=[
                {"FeatureName": "policy_id", "ValueAsString": "p3"},
                {"FeatureName": "event_time", "ValueAsString": bad},
            ],
        )
        assert "event_time" in error["Message"] and "constraint" not in error["Message"], (bad, error)
    assert "Record" not in rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString="p3")


def test_bulk_ingest_applies_the_same_value_rules(client, localcloud):
    """The local bulk route is a faster PutRecord: it must refuse what PutRecord refuses."""
    import pandas as pd

    from processing.bulk_ingest import BulkIngestError, bulk_ingest

    sm = client("sagemaker")
    create_group(sm)
    _string_event_group(sm)
    ingest = lambda frame, group: bulk_ingest(  # noqa: E731
        frame,
        group,
        endpoint_url=localcloud.url,  # noqa: E731
        region="us-east-1",
        credentials=("test", "test"),
    )
    with pytest.raises(BulkIngestError, match="event_time"):
        ingest(pd.DataFrame({"policy_id": ["a"], "event_time": [float("inf")]}), "claims")
    with pytest.raises(BulkIngestError, match="event_time"):
        ingest(pd.DataFrame({"policy_id": ["a"], "event_time": [1e300]}), "claims")
    with pytest.raises(BulkIngestError, match="claim_amount"):
        ingest(pd.DataFrame({"policy_id": ["a"], "event_time": [1.0e9], "claim_amount": ["nan"]}), "claims")
    with pytest.raises(BulkIngestError, match="claim_amount"):
        ingest(pd.DataFrame({"policy_id": ["a"], "event_time": [1.0e9], "claim_amount": [float("inf")]}), "claims")
    with pytest.raises(BulkIngestError, match="ts"):
        ingest(pd.DataFrame({"id": ["a"], "ts": ["2024-03-01 12:00:00"]}), "events")
    assert (
        ingest(pd.DataFrame({"id": ["a", "b"], "ts": ["2024-03-01T12:00:00Z", "2024-03-01T12:00:00.500Z"]}), "events")
        == 2
    )
    # Missing values (pandas NaN in a float column) are absent features, not "nan".
    assert (
        ingest(pd.DataFrame({"policy_id": ["a"], "event_time": [1.0e9], "claim_amount": [float("nan")]}), "claims") == 1
    )


def _offline_rows(localcloud, sm, group: str) -> list[dict]:
    localcloud.cloud.featurestore.flush_offline()
    resolved = sm.describe_feature_group(FeatureGroupName=group)["OfflineStoreConfig"]["S3StorageConfig"][
        "ResolvedOutputS3Uri"
    ]
    files = localcloud.cloud.s3.object_files(resolved.rstrip("/") + "/", ".parquet")
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: (r["event_time"], r["write_time"]))


def test_delete_record_semantics(client, localcloud):
    """DeleteRecord
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_feature_store_DeleteRecord.html):
    "In both cases [SoftDelete and HardDelete], Feature Store appends the deleted record marker
    to the OfflineStore ... with is_deleted value set to True, EventTime set to the delete input
    EventTime, and other feature values set to null." If the delete's EventTime is not later
    than the stored record's: "For SoftDelete, the existing (not deleted) record remains in the
    OnlineStore, though the delete record marker is still written to the OfflineStore";
    "HardDelete returns EventTime: 400 ValidationException ... No delete record marker is
    written to the OfflineStore." After a SoftDelete, "feature columns are set to null and the
    record is no longer retrievable", so an older put cannot bring it back."""
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    create_group(sm)
    t = 1_700_000_000.0
    get = lambda pid: rt.get_record(FeatureGroupName="claims", RecordIdentifierValueAsString=pid)  # noqa: E731

    # HardDelete older than the stored record: 400 ValidationException, record kept, no marker.
    rt.put_record(FeatureGroupName="claims", Record=record("hard", t + 10))
    error = _refused(
        rt.delete_record,
        FeatureGroupName="claims",
        RecordIdentifierValueAsString="hard",
        EventTime=repr(t + 5),
        DeletionMode="HardDelete",
    )
    assert error["Code"] == "ValidationException"
    assert as_dict(get("hard"))["policy_id"] == "hard"
    # HardDelete later than it: gone online, marker offline.
    rt.delete_record(
        FeatureGroupName="claims",
        RecordIdentifierValueAsString="hard",
        EventTime=repr(t + 20),
        DeletionMode="HardDelete",
    )
    assert "Record" not in get("hard")

    # SoftDelete: gone, and an older put does not resurrect it; a newer one does.
    rt.put_record(FeatureGroupName="claims", Record=record("soft", t + 10))
    rt.delete_record(FeatureGroupName="claims", RecordIdentifierValueAsString="soft", EventTime=repr(t + 20))
    assert "Record" not in get("soft")
    rt.put_record(FeatureGroupName="claims", Record=record("soft", t + 15, claims=3))
    assert "Record" not in get("soft")
    rt.put_record(FeatureGroupName="claims", Record=record("soft", t + 30, claims=4))
    assert as_dict(get("soft"))["num_claims"] == "4"

    # SoftDelete older than the stored record: the record stays, the marker is written anyway.
    rt.put_record(FeatureGroupName="claims", Record=record("late", t + 10))
    rt.delete_record(FeatureGroupName="claims", RecordIdentifierValueAsString="late", EventTime=repr(t + 5))
    assert as_dict(get("late"))["policy_id"] == "late"

    rows = _offline_rows(localcloud, sm, "claims")
    markers = {(r["policy_id"], r["event_time"]) for r in rows if r["is_deleted"]}
    assert markers == {("hard", t + 20), ("soft", t + 20), ("late", t + 5)}
    for r in rows:
        if r["is_deleted"]:
            assert r["claim_amount"] is None and r["num_claims"] is None and r["region"] is None
    # The older put after the SoftDelete is history in the offline store, not the latest state.
    assert ("soft", t + 15) in {(r["policy_id"], r["event_time"]) for r in rows if not r["is_deleted"]}


@pytest.mark.slow
def test_one_bad_record_never_poisons_the_store(tmp_path, monkeypatch):
    """Issue 13's poison case: a Fractional event time of inf / 1e300 / nan used to be accepted,
    then the offline flush failed for every group and after a restart every Feature Store call
    answered 500. Now the edge refuses it (400), and a bad record that is already journaled (as an
    older localcloud wrote it) is isolated: its group's OfflineStoreStatus becomes Blocked with
    the reason, every other record and group replicates, every call keeps answering."""
    home = tmp_path / "mlgw"
    monkeypatch.setenv("MLGW_OFFLINE_STORE_DELAY", "0")
    server = start_server(home)
    sm = boto3.client("sagemaker", endpoint_url=server.url, **CLIENT)
    rt = boto3.client("sagemaker-featurestore-runtime", endpoint_url=server.url, **CLIENT)
    for group in ("claims", "customers", "policies"):
        create_group(sm, name=group)
    now = time.time()
    for bad in ("inf", "1e300", "nan"):
        _refused(
            rt.put_record,
            FeatureGroupName="claims",
            Record=[
                {"FeatureName": "policy_id", "ValueAsString": "evil"},
                {"FeatureName": "event_time", "ValueAsString": bad},
            ],
        )
    rt.put_record(FeatureGroupName="customers", Record=record("c1", now))
    server.stop()

    # What an older localcloud let through: a journaled record its offline store cannot hold.
    with sqlite3.connect(home / "featurestore" / "online.db") as db:
        db.execute(
            "INSERT INTO offline_journal(group_name, event_time, write_time, api_invocation_time, "
            "is_deleted, record) VALUES ('claims', 1e300, ?, ?, 0, ?)",
            (now, now, json.dumps({"policy_id": "evil", "event_time": "1e300"})),
        )
        db.execute(
            "INSERT INTO offline_journal(group_name, event_time, write_time, api_invocation_time, "
            "is_deleted, record) VALUES ('claims', ?, ?, ?, 0, ?)",
            (now, now, now, json.dumps({"policy_id": "good", "event_time": repr(now)})),
        )

    server = start_server(home)
    try:
        sm = boto3.client("sagemaker", endpoint_url=server.url, **CLIENT)
        rt = boto3.client("sagemaker-featurestore-runtime", endpoint_url=server.url, **CLIENT)
        server.cloud.featurestore.flush_offline()
        listed = sm.list_feature_groups(SortBy="Name", SortOrder="Ascending")["FeatureGroupSummaries"]
        assert [g["FeatureGroupName"] for g in listed] == ["claims", "customers", "policies"]
        for group in ("claims", "customers", "policies"):
            described = sm.describe_feature_group(FeatureGroupName=group)
            rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="c1")
        assert as_dict(rt.get_record(FeatureGroupName="customers", RecordIdentifierValueAsString="c1"))
        status = sm.describe_feature_group(FeatureGroupName="claims")["OfflineStoreStatus"]
        assert status["Status"] == "Blocked" and "evil" in status["BlockedReason"]
        assert sm.describe_feature_group(FeatureGroupName="customers")["OfflineStoreStatus"] == {"Status": "Active"}
        # The good record journaled beside the bad one reached the offline store.
        described = sm.describe_feature_group(FeatureGroupName="claims")
        resolved = described["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
        files = server.cloud.s3.object_files(resolved.rstrip("/") + "/", ".parquet")
        ids = {r["policy_id"] for f in files for r in pq.read_table(f).to_pylist()}
        assert ids == {"good"}
        # The pipeline's BuildDataset stops on a Blocked offline store with its reason.
        from processing import build_dataset
        from processing.job import JobError

        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        with pytest.raises(JobError, match="'claims' is Blocked: .*evil"):
            build_dataset.wait_for_offline_store(
                {"claims": {"records": 1, "table": "t"}},
                now,
                output_location="s3://x/athena",
                region="us-east-1",
                timeout=60,
                sm=sm,
            )
    finally:
        server.stop()
