"""Multi-model endpoints: per-policy_state models (training/segments.py) behind one endpoint,
loaded lazily, loaded once under concurrency, LRU-evicted under a memory bound, and a corrupt
artifact failing alone."""

from __future__ import annotations

import json
import tarfile
import threading
import time

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from localcloud.sagemaker.models import SageMakerBackend
from mlgw.commands import segments as segments_cli
from processing import synthetic
from tests.conftest import start_server
from training import segments

STATES = ("AZ", "CA", "ID", "NV", "OR", "WA")
ROLE = "arn:aws:iam::000000000000:role/sagemaker"
BUCKET = "sagemaker-us-east-1-000000000000"


@pytest.fixture(scope="module")
def data():
    return synthetic.generate(2000, seed=3)


@pytest.fixture(scope="module")
def archives(data, tmp_path_factory):
    claims, customers = data
    return segments.train_segments(
        claims,
        customers,
        tmp_path_factory.mktemp("segments"),
        min_rows=100,
        seed=3,
        train_args=["--max_depth", "3", "--num_round", "12", "--early_stopping_rounds", "0", "--nthread", "1"],
        report=lambda _: None,
    )


@pytest.fixture(scope="module")
def server(archives, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("mlgw"))
    make = lambda service: boto3.client(  # noqa: E731
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        config=BotoConfig(retries={"max_attempts": 1}, max_pool_connections=32),
    )
    s3, sm, rt = make("s3"), make("sagemaker"), make("sagemaker-runtime")
    prefix = segments_cli.upload(s3, BUCKET, archives)
    yield server, s3, sm, rt, prefix
    server.stop()


def _endpoint(server, name: str, **environment: str) -> str:
    _, _, sm, _, prefix = server
    segments_cli.create_endpoint(
        sm, name, prefix, role_arn=ROLE, region="us-east-1", environment=environment, timeout=30
    )
    return name


def _record(data) -> str:
    """One raw claim + customer (a fraud one), as the JSON a gateway would send."""
    claims, customers = data
    row = claims[claims.fraud == 1].iloc[0].to_dict()
    row.update(customers[customers.policy_id == row["policy_id"]].iloc[0].to_dict())
    clean = {k: (None if v != v else v) for k, v in row.items()}  # NaN → null
    return json.dumps(clean, default=lambda v: v.item() if hasattr(v, "item") else str(v))


def _score(rt, endpoint: str, target: str, body: str) -> float:
    response = rt.invoke_endpoint(
        EndpointName=endpoint, TargetModel=target, Body=body, ContentType="application/json", Accept="application/json"
    )
    return json.loads(response["Body"].read())["predictions"][0]["score"]


def _stats(server, endpoint: str) -> dict[str, int]:
    return server[0].cloud.sagemaker.cache_stats(endpoint)["AllTraffic"]


def test_each_state_answers_and_bad_targets_fail(server, archives, data):
    assert sorted(archives) == list(STATES)
    rt = server[3]
    endpoint = _endpoint(server, "seg-basic")
    body = _record(data)
    scores = {s: _score(rt, endpoint, f"{s}.tar.gz", body) for s in STATES}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert len({round(v, 6) for v in scores.values()}) >= 2, scores  # different models
    stats = _stats(server, endpoint)
    assert (stats["loads"], stats["models"], stats["evictions"]) == (6, 6, 0)
    _score(rt, endpoint, "CA.tar.gz", body)
    assert _stats(server, endpoint)["hits"] == 1
    for bad in ("../x.tar.gz", "/etc/passwd", "XX.tar.gz"):  # XX: no such object
        with pytest.raises(ClientError) as err:
            _score(rt, endpoint, bad, body)
        assert err.value.response["Error"]["Code"] == "ValidationError", bad
    assert "Failed to download model data" in str(err.value)


def test_concurrent_cold_requests_load_once(server, data, monkeypatch):
    rt = server[3]
    endpoint = _endpoint(server, "seg-concurrent")
    slow_extract = SageMakerBackend.extract

    def extract(self, *args):  # a slow download, so the 16 first requests surely overlap
        time.sleep(0.3)
        return slow_extract(self, *args)

    monkeypatch.setattr(SageMakerBackend, "extract", extract)
    body, barrier, results = _record(data), threading.Barrier(16), []

    def call():
        barrier.wait()
        results.append(_score(rt, endpoint, "CA.tar.gz", body))

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and len(set(results)) == 1
    stats = _stats(server, endpoint)
    assert stats["loads"] == 1, stats
    assert stats["waits"] >= 1 and stats["waits"] + stats["hits"] == 15, stats


def _extracted_size(path) -> int:
    with tarfile.open(path) as tar:
        return sum(m.size for m in tar.getmembers())


def test_memory_bound_evicts_least_recently_used(server, archives, data):
    rt = server[3]
    sizes = sorted(_extracted_size(p) for p in archives.values())
    bound = sizes[-1] + sizes[-2] + 1  # room for about two models, never all six
    endpoint = _endpoint(server, "seg-bounded", MLGW_MME_MEMORY_MB=str(bound / 2**20))
    body = _record(data)
    for _ in range(2):
        for state in STATES:
            assert 0.0 <= _score(rt, endpoint, f"{state}.tar.gz", body) <= 1.0
    stats = _stats(server, endpoint)
    assert stats["evictions"] >= 6 and stats["loads"] >= 7, stats
    assert stats["bytes"] <= bound and stats["models"] < 6, stats
    assert stats["memory_bound"] == int(bound / 2**20 * 2**20)


def test_corrupt_artifact_fails_alone(server, data):
    _, s3, _, rt, _ = server
    s3.put_object(Bucket=BUCKET, Key=f"{segments_cli.PREFIX}/ZZ.tar.gz", Body=b"not a tarball" * 50)
    endpoint = _endpoint(server, "seg-corrupt")
    body = _record(data)
    assert _score(rt, endpoint, "WA.tar.gz", body) >= 0.0
    for _ in range(2):  # the second answer comes from the failure cache
        with pytest.raises(ClientError) as err:
            _score(rt, endpoint, "ZZ.tar.gz", body)
        response = err.value.response
        assert response["Error"]["Code"] == "ModelError"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
        assert response.get("OriginalStatusCode") == 500
        assert "ZZ.tar.gz" in response.get("OriginalMessage", "")
    for state in ("WA", "CA"):
        assert _score(rt, endpoint, f"{state}.tar.gz", body) >= 0.0
    stats = _stats(server, endpoint)
    assert (stats["load_failures"], stats["failed_hits"], stats["models"]) == (1, 1, 2), stats
