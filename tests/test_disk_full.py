"""Issue 24, class 3: a full disk must never hang a run.

A job, step or execution that cannot write ends Failed with a reason naming the file ("No space
left on device"), even when the state database itself is full at that moment (its end is
recorded as soon as the disk has room again); a retry after space is freed converges; and the
offline store is not Blocked for good by a disk that was full for a while. The full disk is
simulated in-process: an upload raises OSError(ENOSPC) and, for a moment, every SQLite write
fails as SQLite fails on a full disk (SQLITE_FULL, "database or disk is full"). No network.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from typing import Any

import boto3
import pytest

from localcloud.featurestore import replication
from localcloud.sagemaker.pipelines import wait_for
from localcloud.state import ThreadConnections
from tests.conftest import start_server
from tests.localcloud.test_featurestore import create_group, record
from tests.test_executor import BUCKET, call, cloud, processing, put_object, start, steps_of, token

__all__ = ["cloud"]  # the fixture

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "COMMIT")


class _FullDisk:
    """A sqlite3 connection whose writes fail, while `full` is set, as on a full disk."""

    def __init__(self, conn: sqlite3.Connection, full: threading.Event):
        self._conn, self._full = conn, full

    def execute(self, sql: str, *args: Any) -> Any:
        if self._full.is_set() and sql.split(None, 1)[0].upper() in _WRITES:
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorcode = sqlite3.SQLITE_FULL  # what sqlite3 sets on SQLITE_FULL
            raise error
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self.execute(sql) if self._full.is_set() else self._conn.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _fill_sqlite_while(full: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ThreadConnections.__call__
    monkeypatch.setattr(ThreadConnections, "__call__", lambda self: _FullDisk(real(self), full))


def test_a_full_disk_fails_the_job_step_and_execution_naming_the_file_and_a_retry_converges(cloud, monkeypatch):
    put_object(cloud, "code/write.py", "open('/opt/ml/processing/out/result.txt', 'w').write('done')\n")
    full = threading.Event()
    _fill_sqlite_while(full, monkeypatch)
    blocked = cloud.s3.object_path(BUCKET, "out/result.txt")
    real_upload = cloud.s3.upload_dir
    uploads: list[str] = []

    def upload_dir(source, uri):
        uploads.append(uri)
        if len(uploads) == 1:  # the disk fills as the job uploads its output; freed 1.5 s later
            full.set()
            threading.Timer(1.5, full.clear).start()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(blocked))
        return real_upload(source, uri)

    monkeypatch.setattr(cloud.s3, "upload_dir", upload_dir)
    arn = start(cloud, [processing("Write", "write.py", outputs={"out": f"s3://{BUCKET}/out"})])

    # The old executor lost the job's end (its record could not be written, the job thread
    # died), so the execution stayed Executing for ever, even once the disk had room again.
    described = wait_for(cloud, arn, 30)
    assert described["PipelineExecutionStatus"] == "Failed", described
    assert "No space left on device" in described["FailureReason"]
    assert str(blocked) in described["FailureReason"]
    step = steps_of(cloud, arn)["Write"]
    assert step["StepStatus"] == "Failed" and str(blocked) in step["FailureReason"]
    job = step["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[1]
    described_job = call(cloud, "DescribeProcessingJob", ProcessingJobName=job)
    assert described_job["ProcessingJobStatus"] == "Failed"
    assert "No space left on device" in described_job["FailureReason"]

    # Space freed: a retry converges.
    call(cloud, "RetryPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken=token())
    assert wait_for(cloud, arn, 30)["PipelineExecutionStatus"] == "Succeeded"
    assert blocked.read_text() == "done"


def test_a_job_whose_record_cannot_be_written_fails_naming_the_database(cloud, monkeypatch):
    """The disk is full before the job's process starts: the job's process must not run on
    unrecorded, and the job fails naming the state database once its end can be written."""
    put_object(cloud, "code/slow.py", "import time; time.sleep(30)\n")
    full = threading.Event()
    _fill_sqlite_while(full, monkeypatch)
    from localcloud.sagemaker.jobs import container

    real_run = container.run

    def run(*args, **kwargs):
        full.set()
        threading.Timer(1.0, full.clear).start()
        return real_run(*args, **kwargs)

    monkeypatch.setattr(container, "run", run)
    began = time.monotonic()
    arn = start(cloud, [processing("Slow", "slow.py")])
    described = wait_for(cloud, arn, 30)
    assert described["PipelineExecutionStatus"] == "Failed", described
    assert time.monotonic() - began < 20  # the 30 s script did not run on
    assert "No space left on device" in described["FailureReason"]
    assert str(cloud.config.home) in described["FailureReason"]


def test_a_full_disk_delays_offline_replication_but_never_blocks_the_store(tmp_path, monkeypatch):
    """AWS blocks an offline store only for records it cannot hold (DescribeFeatureGroup,
    OfflineStoreStatus: "Blocked" ... "the offline store ... cannot be written to", see
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_OfflineStoreStatus.html);
    a full local disk is this machine's transient failure: the journal keeps the records and
    replication resumes once there is room. A Blocked store failed every later BuildDataset."""
    monkeypatch.setenv("MLGW_OFFLINE_STORE_DELAY", "0")
    server = start_server(tmp_path / "mlgw")
    try:
        options: dict[str, Any] = {
            "endpoint_url": server.url,
            "region_name": "us-east-1",
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        }
        sm = boto3.client("sagemaker", **options)
        rt = boto3.client("sagemaker-featurestore-runtime", **options)
        create_group(sm, name="claims")
        full = threading.Event()
        real_write = replication.OfflineReplicator._write_journal_rows

        def write(self, meta, uri, rows):  # uri: the offline store's S3 prefix
            if full.is_set():
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"{uri}/part.parquet")
            return real_write(self, meta, uri, rows)

        monkeypatch.setattr(replication.OfflineReplicator, "_write_journal_rows", write)
        full.set()
        rt.put_record(FeatureGroupName="claims", Record=record("p1", time.time()))
        server.cloud.featurestore.flush_offline()
        assert sm.describe_feature_group(FeatureGroupName="claims")["OfflineStoreStatus"] == {"Status": "Active"}
        assert server.cloud.featurestore.replicator.pending("claims") == 1

        full.clear()  # space freed
        server.cloud.featurestore.flush_offline()
        assert server.cloud.featurestore.replicator.pending("claims") == 0
        assert sm.describe_feature_group(FeatureGroupName="claims")["OfflineStoreStatus"] == {"Status": "Active"}
    finally:
        server.stop()
