"""The definition cache (mlgw/definition_cache.py): a local run on a fresh state directory
upserts, from the cache, exactly what the SageMaker SDK built and uploaded; any change to what
a build reads (code, arguments) misses."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from localcloud.config import Config
from localcloud.server import LocalCloudServer
from mlgw import definition_cache, local_run
from mlgw.progress import Phases

pytestmark = pytest.mark.slow  # one SDK build (a few seconds)


def _upsert(home: Path) -> tuple[str, dict[str, bytes], str]:
    """Upsert the pipeline on a fresh localcloud at `home`: (definition, every object of the
    default bucket by key, the phases printed)."""
    server = LocalCloudServer(Config(home=home, port=0))
    server.start_background()
    saved = dict(os.environ)
    try:
        config = server.cloud.config
        os.environ.update(config.client_env())
        session, sm, s3 = local_run.clients(config)
        local_run.prepare_data(config, s3, 200, 1, None, None)  # the bucket, as a run makes it
        out = io.StringIO()
        local_run.upsert_definition(config, session, local_run.PIPELINE_NAME, Phases(out))
        definition = sm.describe_pipeline(PipelineName=local_run.PIPELINE_NAME)["PipelineDefinition"]
        bucket = local_run.default_bucket(config)
        objects = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                if "/data/" not in item["Key"] and "/staging/" not in item["Key"]:
                    objects[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return definition, objects, out.getvalue()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def test_a_cached_definition_upserts_what_the_sdk_built_and_uploaded(tmp_path, monkeypatch):
    monkeypatch.setenv(definition_cache.CACHE_ENV, str(tmp_path / "cache"))
    built, built_objects, first = _upsert(tmp_path / "first")
    assert "importing the SageMaker SDK" in first or "building MLGatewayPipeline's steps" in first
    assert "cached" not in first

    cached, cached_objects, second = _upsert(tmp_path / "second")  # a fresh state directory
    assert "definition cached" in second and "building" not in second, second
    assert cached == built
    # Every object the build uploaded is there, byte for byte, and the definition uses them.
    assert built_objects and cached_objects == built_objects
    assert sum(f"/{key}" in built for key in built_objects) >= 5, "the definition names its code"


def test_the_key_moves_with_the_code_and_the_arguments_and_a_damaged_entry_is_a_miss(tmp_path, monkeypatch):
    for package in definition_cache.PACKAGES:
        shutil.copytree(
            definition_cache.ROOT / package, tmp_path / "src" / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    monkeypatch.setattr(definition_cache, "ROOT", tmp_path / "src")
    monkeypatch.setenv(definition_cache.CACHE_ENV, str(tmp_path / "cache"))
    args = {"region": "us-east-1", "role": "arn:aws:iam::000000000000:role/r", "bucket": "b"}
    before = definition_cache.key("P", args)
    assert definition_cache.key("P", dict(args)) == before
    assert definition_cache.key("P", {**args, "region": "eu-west-1"}) != before
    assert definition_cache.key("Q", args) != before
    script = tmp_path / "src" / "processing" / "evaluate.py"
    script.write_text(script.read_text() + "\n# changed\n")
    assert definition_cache.key("P", args) != before

    definition_cache.store(
        before,
        definition_cache.Entry('{"Version": "2020-12-01"}', [definition_cache.Upload("b", "code/x.py", b"print(1)\n")]),
    )
    entry = definition_cache.load(before)
    assert entry.definition == '{"Version": "2020-12-01"}'
    assert [(u.bucket, u.key, u.body) for u in entry.uploads] == [("b", "code/x.py", b"print(1)\n")]
    (tmp_path / "cache" / before / "upload-0").write_bytes(b"print(2)\n")
    assert definition_cache.load(before) is None  # changed on disk: rebuilt, never replayed
    (tmp_path / "cache" / before / "upload-0").unlink()
    assert definition_cache.load(before) is None  # rebuilt, never half replayed
    definition_cache.store(before, entry)  # the rebuild heals the entry
    assert definition_cache.load(before).definition == '{"Version": "2020-12-01"}'

    monkeypatch.setenv(definition_cache.CACHE_ENV, "off")
    assert definition_cache.location() is None and definition_cache.load(before) is None
