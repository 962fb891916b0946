"""kill -9 of localcloud in the middle of a FeatureStore ingest (issue 14, crash safety).

The offline store must only ever hold records the online store accepted, and a retried ingest
must converge (idempotent per record and event time): after restart and retry, the dataset
BuildDataset reads joins this run's claims with this run's customers, never the old run's.
The new run's customers go in through the AWS ingest path (PutRecord from threads,
processing.feature_ingest._put_records), killed mid-way.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import boto3
import numpy as np
import pandas as pd
import pytest

from localcloud import daemon
from processing.bulk_ingest import bulk_ingest
from processing.feature_ingest import _put_records

ROLE = "arn:aws:iam::000000000000:role/FeatureStoreRole"
SIZES = {"claims": 20_000, "customers": 600}
DEFINITIONS = [
    {"FeatureName": "policy_id", "FeatureType": "Integral"},
    {"FeatureName": "event_time", "FeatureType": "Fractional"},
    {"FeatureName": "value", "FeatureType": "Fractional"},
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(home, port) -> subprocess.Popen:
    env = {**os.environ, "MLGW_OFFLINE_STORE_DELAY": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "--home", str(home), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not daemon.answers("127.0.0.1", port):
        assert proc.poll() is None and time.monotonic() < deadline, "localcloud did not start"
        time.sleep(0.1)
    # The Feature Store has recovered (it starts with the first call that needs it).
    boto3.client("sagemaker", region_name="us-east-1").list_feature_groups()
    return proc


def _frame(group: str, event_time: float, run: int) -> pd.DataFrame:
    ids = np.arange(SIZES[group])
    return pd.DataFrame({"policy_id": ids, "event_time": event_time, "value": ids * 10.0 + run})


def _db(home) -> sqlite3.Connection:
    return sqlite3.connect(home / "featurestore" / "online.db")


def _online(home, group: str) -> dict[int, float]:
    with _db(home) as db:
        return {
            int(r): t for r, t in db.execute("SELECT record_id, event_time FROM records WHERE group_name=?", (group,))
        }


def _wait_replicated(home, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with _db(home) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            pending = sum(
                db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("offline_journal", "offline_batches")
                if t in tables
            )
        if not pending:
            return
        assert time.monotonic() < deadline, f"{pending} journal entries never replicated"
        time.sleep(0.2)


def _offline(home, sm, group: str) -> pd.DataFrame:
    """The group's offline store as S3 holds it (its Parquet objects, read through S3)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    uri = sm.describe_feature_group(FeatureGroupName=group)["OfflineStoreConfig"]["S3StorageConfig"][
        "ResolvedOutputS3Uri"
    ]
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
        for o in page.get("Contents", [])
        if o["Key"].endswith(".parquet")
    ]
    if not keys:
        return pd.DataFrame(columns=["policy_id", "event_time", "value", "is_deleted"])
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]
    return pa.concat_tables(tables).to_pandas()


def _check_offline_is_what_online_accepted(home, sm, event_time: float) -> None:
    staging = home / "featurestore" / "staging"
    assert not staging.exists() or not list(staging.iterdir()), "staged batches left behind"
    for group in ("claims", "customers"):
        accepted = {pid for pid, t in _online(home, group).items() if t == event_time}
        offline = _offline(home, sm, group)
        replicated = set(offline.loc[offline["event_time"] == event_time, "policy_id"])
        # Never an offline row the online store did not accept, and every accepted one is there.
        assert replicated == accepted, (group, len(replicated), len(accepted))


def _latest_as_of(frame: pd.DataFrame, as_of: float) -> pd.DataFrame:
    """What BuildDataset's query keeps: the newest row per policy up to the ingest's event time."""
    frame = frame[frame["event_time"] <= as_of].sort_values(["event_time", "api_invocation_time"])
    return frame.groupby("policy_id").tail(1).set_index("policy_id")


@pytest.mark.slow
def test_kill_9_mid_ingest_then_restart_and_retry_converges(tmp_path, monkeypatch):
    home, port = tmp_path / "mlgw", _port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    creds = ("test", "test")
    proc = _start(home, port)
    try:
        sm = boto3.client("sagemaker", region_name="us-east-1")
        for group in ("claims", "customers"):
            sm.create_feature_group(
                FeatureGroupName=group,
                RecordIdentifierFeatureName="policy_id",
                EventTimeFeatureName="event_time",
                FeatureDefinitions=DEFINITIONS,
                OnlineStoreConfig={"EnableOnlineStore": True},
                OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://mlgw/feature-store"}},
                RoleArn=ROLE,
            )
        old, new = 1_700_000_000.0, 1_700_100_000.0
        for group in ("claims", "customers"):  # the previous run, fully replicated
            bulk_ingest(_frame(group, old, 0), group, endpoint_url=url, region="us-east-1", credentials=creds)
        _wait_replicated(home)

        # Kill 1: the new run's claims batch, as soon as the server has written its Parquet.
        before = set(home.rglob("*.parquet"))
        failures: list[BaseException] = []

        def in_background(fn, *args, **kwargs) -> threading.Thread:
            def target():
                try:
                    fn(*args, **kwargs)
                except BaseException as exc:  # the connection dies with the server
                    failures.append(exc)

            worker = threading.Thread(target=target)
            worker.start()
            return worker

        worker = in_background(
            bulk_ingest,
            _frame("claims", new, 1),
            "claims",
            endpoint_url=url,
            region="us-east-1",
            credentials=creds,
            batch_rows=SIZES["claims"],
        )
        deadline = time.monotonic() + 60
        while not set(home.rglob("*.parquet")) - before:
            assert time.monotonic() < deadline and worker.is_alive(), "no Parquet written"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        worker.join(60)
        assert failures, "the batch finished before the kill: the test proved nothing"
        proc = _start(home, port)
        _wait_replicated(home)
        sm = boto3.client("sagemaker", region_name="us-east-1")
        _check_offline_is_what_online_accepted(home, sm, new)

        # Retry the claims; kill 2: the customers, by PutRecord from threads, mid-way.
        bulk_ingest(_frame("claims", new, 1), "claims", endpoint_url=url, region="us-east-1", credentials=creds)
        failures.clear()
        worker = in_background(_put_records, _frame("customers", new, 1), "customers", max_workers=8)
        while sum(t == new for t in _online(home, "customers").values()) < SIZES["customers"] // 4:
            assert time.monotonic() < deadline + 60 and worker.is_alive()
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        worker.join(60)
        assert failures, "the ingest finished before the kill: the test proved nothing"
        proc = _start(home, port)
        _wait_replicated(home)
        _check_offline_is_what_online_accepted(home, sm, new)
        partial = len({pid for pid, t in _online(home, "customers").items() if t == new})
        assert 0 < partial < SIZES["customers"]

        # The retry (same records, same event time) converges: the dataset is this run's on both sides.
        _put_records(_frame("customers", new, 1), "customers", max_workers=8)
        _wait_replicated(home)
        for group in ("claims", "customers"):
            assert set(_online(home, group).values()) == {new}
            latest = _latest_as_of(_offline(home, sm, group), new)
            assert len(latest) == SIZES[group] and set(latest["event_time"]) == {new}, group
            assert (latest["value"] == latest.index * 10.0 + 1).all(), group
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
