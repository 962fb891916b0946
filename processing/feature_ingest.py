"""Put a frame of records into a feature group: the equivalent of the SDK's FeatureGroup.ingest.

Two providers behind one function, as Feast splits its stores: on AWS, PutRecord from a few
threads (what the SDK does); on localcloud, its bulk route (one signed Arrow request per batch),
because per-record HTTP would spend minutes on what the store writes in a second.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import boto3


def on_localcloud() -> bool:
    # localcloud exports MLGW_HOME to every job it runs; AWS never sets it.
    return bool(os.environ.get("MLGW_HOME") and os.environ.get("AWS_ENDPOINT_URL"))


def ingest(frame, feature_group_name: str, *, max_workers: int = 8) -> int:
    """Write every row of `frame` (columns = feature names) to the group; the count written."""
    if frame.empty:
        return 0
    if on_localcloud():
        from processing.bulk_ingest import bulk_ingest

        session = boto3.Session()
        return bulk_ingest(
            frame,
            feature_group_name,
            endpoint_url=os.environ["AWS_ENDPOINT_URL"],
            region=session.region_name,
            credentials=session.get_credentials().get_frozen_credentials(),
        )
    return _put_records(frame, feature_group_name, max_workers)


def _as_record(row: dict) -> list[dict[str, str]]:
    # Feature Store takes strings; a missing value is an absent feature, not "nan".
    return [{"FeatureName": k, "ValueAsString": str(v)} for k, v in row.items() if v is not None and v == v]


def _put_records(frame, feature_group_name: str, max_workers: int) -> int:
    client = boto3.client("sagemaker-featurestore-runtime")
    rows = frame.to_dict("records")

    def put(row: dict) -> None:
        client.put_record(FeatureGroupName=feature_group_name, Record=_as_record(row))

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        for _ in pool.map(put, rows):
            pass
    return len(rows)
