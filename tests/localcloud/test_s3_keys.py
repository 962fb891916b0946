"""S3 keys are flat strings: every valid key works and any two coexist, through real boto3 clients.

"Naming Amazon S3 objects" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html):
a key is any sequence of 1 to 1024 UTF-8 bytes; `d` and `d/e`, `m/` and `m/n` are two objects.
Also: a state directory written by the older on-disk layout keeps its objects after an upgrade,
even when the move to the new layout is killed at any point.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig

from localcloud.s3 import migrate
from localcloud.s3.layout import remove_tree
from tests.conftest import start_server

BUCKET = "keys-bucket"

PAIRS = [("d", "d/e"), ("k", "k/x"), ("m/", "m/n"), ("p/q/", "p/q")]
ODD_KEYS = [
    "./x",
    "../y",
    "a/../../b",
    "a//b",
    "a/./b",
    "a/.",
    ".",
    "..",
    "/abs",
    "//",
    "trailing/",
    ".mlgw-tmp-abc",
    ".layout",
    "%",
    "%+",
    "a%2Fb",
    "x%2F/y",
    "é/ü/日本語",
    "tab\there",
    "ctl\x01\x1f",
    "nul\x00byte",
    "k" * 1024,
    "/" * 1024,
    "é" * 512,
    "." * 1024,
    ("%/" * 512)[:1024],
]


@pytest.fixture(autouse=True)
def _remove_deep_folders(tmp_path):
    """Keys like 1024 '/' are folders 1025 deep, which pytest's recursive clean-up cannot remove."""
    yield
    remove_tree(tmp_path)


@pytest.fixture
def s3(client):
    c = client("s3")
    c.create_bucket(Bucket=BUCKET)
    return c


def _body(key: str) -> bytes:
    return hashlib.sha256(key.encode()).hexdigest().encode()


def _all_keys(s3, **kwargs) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, **kwargs):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _utf8_sorted(keys) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


@pytest.mark.parametrize("first, second", PAIRS)
def test_keys_that_are_prefixes_of_each_other_coexist(s3, first, second):
    for key in (first, second):
        s3.put_object(Bucket=BUCKET, Key=key, Body=_body(key))
    for key in (first, second):
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == _body(key)
        assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(_body(key))
    assert _all_keys(s3) == _utf8_sorted([first, second])
    s3.delete_object(Bucket=BUCKET, Key=first)
    assert _all_keys(s3) == [second]
    assert s3.get_object(Bucket=BUCKET, Key=second)["Body"].read() == _body(second)
    s3.put_object(Bucket=BUCKET, Key=first, Body=b"again")
    s3.delete_object(Bucket=BUCKET, Key=second)
    assert _all_keys(s3) == [first]
    assert s3.get_object(Bucket=BUCKET, Key=first)["Body"].read() == b"again"


def _s3_listing(keys: list[str], prefix: str, delimiter: str) -> list[str]:
    """What S3 answers (contents and common prefixes, in order) for a Prefix/Delimiter listing."""
    out: list[str] = []
    for key in _utf8_sorted(keys):
        if not key.startswith(prefix):
            continue
        idx = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key[: idx + len(delimiter)] if idx >= 0 else key
        if not out or out[-1] != entry:
            out.append(entry)
    return out


@pytest.mark.slow
def test_odd_keys_each_have_their_own_object_and_list_in_s3_order(s3, localcloud):
    home = localcloud.cloud.config.home
    outside_before = set(home.parent.iterdir())
    keys = ODD_KEYS + [a for pair in PAIRS for a in pair]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=_body(key), Metadata={"n": str(len(key))})
    for key in keys:
        got = s3.get_object(Bucket=BUCKET, Key=key)
        assert got["Body"].read() == _body(key), key
        assert got["Metadata"] == {"n": str(len(key))}
    assert _all_keys(s3) == _utf8_sorted(keys)
    # Prefix / Delimiter / StartAfter / small pages: as S3 pages them
    for prefix, delimiter in [("", "/"), ("a/", "/"), ("/", "/"), (".", "/"), ("", "."), ("p", "/"), ("k", "")]:
        want = _s3_listing(keys, prefix, delimiter)
        rolled = [k for k in want if delimiter and delimiter in k[len(prefix) :]]
        contents = [k for k in want if k not in rolled]
        got_contents: list[str] = []
        got_prefixes: list[str] = []
        kwargs = {"Prefix": prefix, "Delimiter": delimiter, "MaxKeys": 4}
        while True:
            page = s3.list_objects_v2(Bucket=BUCKET, **kwargs)
            got_contents += [o["Key"] for o in page.get("Contents", [])]
            got_prefixes += [c["Prefix"] for c in page.get("CommonPrefixes", [])]
            if not page["IsTruncated"]:
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
        assert (got_contents, got_prefixes) == (contents, rolled), (prefix, delimiter)
        v1 = s3.list_objects(Bucket=BUCKET, Prefix=prefix, Delimiter=delimiter)
        assert [o["Key"] for o in v1.get("Contents", [])] == contents
        assert [c["Prefix"] for c in v1.get("CommonPrefixes", [])] == rolled
    after = _utf8_sorted(keys)[5]
    assert _all_keys(s3, StartAfter=after) == _utf8_sorted(keys)[6:]
    # nothing was written outside the state directory, and deleting leaves an empty bucket
    assert set(home.parent.iterdir()) == outside_before
    for key in keys:
        s3.delete_object(Bucket=BUCKET, Key=key)
    assert _all_keys(s3) == []
    assert os.listdir(localcloud.cloud.s3.bucket_dir(BUCKET)) == []


def test_copy_and_multipart_to_and_from_odd_keys(s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key="d", Body=b"the d", ContentType="text/plain")
    s3.copy_object(Bucket=BUCKET, Key="d/e", CopySource={"Bucket": BUCKET, "Key": "d"})
    s3.copy_object(Bucket=BUCKET, Key="../up/", CopySource={"Bucket": BUCKET, "Key": "d/e"})
    for key in ("d", "d/e", "../up/"):
        got = s3.get_object(Bucket=BUCKET, Key=key)
        assert got["Body"].read() == b"the d" and got["ContentType"] == "text/plain"
    big = os.urandom(11 * 1024 * 1024)
    source = tmp_path / "big.bin"
    source.write_bytes(big)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    for key in ("m/", "m/n", "a//b/./c"):
        s3.upload_file(str(source), BUCKET, key, Config=config)
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentLength"] == len(big) and head["ETag"].endswith('-3"'), key
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == big
    assert _all_keys(s3) == _utf8_sorted(["d", "d/e", "../up/", "m/", "m/n", "a//b/./c"])


# ---------------------------------------------------------------- the older on-disk layout
OLD_OBJECTS = {  # key -> body, as the first layout stored them (the key as a plain path)
    "data/train/part-0.csv": b"a,b\n1,2\n",
    "data/train/part-1.csv": b"a,b\n3,4\n",
    "models/v1/model.tar.gz": b"\x1f\x8b not really",
    "top.json": b'{"x": 1}',
    "odd name%.txt": b"percent",
    ".hidden/.file": b"dot",
    "feature-store/g/year=2024/month=01/x.parquet": b"PAR1",
}


def _write_old_layout(home: Path) -> None:
    """A state directory as the first layout left it: object files at <s3>/<bucket>/<key>, one
    metadata row (with a content type) matching its file, an empty bucket, a killed write's temp."""
    bucket = home / "s3" / BUCKET
    for key, body in OLD_OBJECTS.items():
        path = bucket.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    (home / "s3" / "empty-bucket").mkdir()
    (bucket / "data" / ".mlgw-tmp-deadbeef").write_bytes(b"half")
    st = (bucket / "top.json").stat()
    db = sqlite3.connect(home / "s3meta.db")
    db.executescript(
        "CREATE TABLE buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);"
        "CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, etag TEXT NOT NULL, content_type TEXT, metadata TEXT NOT NULL DEFAULT '{}', "
        "headers TEXT NOT NULL DEFAULT '{}', checksums TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (bucket, key));"
    )
    db.execute("INSERT INTO buckets VALUES (?, ?)", (BUCKET, time.time()))
    db.execute(
        "INSERT INTO objects(bucket, key, size, mtime_ns, etag, content_type, metadata) VALUES (?,?,?,?,?,?,?)",
        (
            BUCKET,
            "top.json",
            st.st_size,
            st.st_mtime_ns,
            f'"{hashlib.md5(OLD_OBJECTS["top.json"]).hexdigest()}"',
            "application/json",
            json.dumps({"owner": "me"}),
        ),
    )
    db.commit()
    db.close()


def _check_upgraded(home: Path) -> None:
    server = start_server(home)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=BotoConfig(retries={"max_attempts": 1}),
        )
        assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {BUCKET, "empty-bucket"}
        assert _all_keys(s3) == _utf8_sorted(OLD_OBJECTS)
        for key, body in OLD_OBJECTS.items():
            assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body, key
        head = s3.head_object(Bucket=BUCKET, Key="top.json")
        assert head["ContentType"] == "application/json" and head["Metadata"] == {"owner": "me"}
        # and the upgraded store takes keys the old one could not hold beside these
        s3.put_object(Bucket=BUCKET, Key="data", Body=b"now a key too")
        assert s3.get_object(Bucket=BUCKET, Key="data/train/part-0.csv")["Body"].read() == b"a,b\n1,2\n"
        s3.delete_object(Bucket=BUCKET, Key="data")
        assert server.cloud.s3.read_bytes(f"s3://{BUCKET}/models/v1/model.tar.gz") == b"\x1f\x8b not really"
    finally:
        server.stop()
    assert not (home / "s3-v1").exists() and not (home / "s3-v2").exists()
    assert not [p for p in (home / "s3").rglob("*") if p.name.startswith(".mlgw-tmp-")]


def test_a_state_directory_of_the_older_layout_keeps_its_objects(tmp_path):
    home = tmp_path / "home"
    _write_old_layout(home)
    _check_upgraded(home)
    _check_upgraded(home)  # a second start changes nothing


class _Killed(BaseException):
    pass


def test_a_migration_killed_at_any_rename_is_completed_by_the_next_start(tmp_path, monkeypatch):
    """A kill between any two renames of the move (each file, then the two folder swaps) leaves a
    state the next start completes, with every object exactly once."""
    real_rename = os.rename
    kill_at = 0
    while True:
        home = tmp_path / f"home-{kill_at}"
        _write_old_layout(home)
        calls = 0

        def rename(src, dst, _kill_at=kill_at):
            nonlocal calls
            if calls == _kill_at:
                raise _Killed
            calls += 1
            real_rename(src, dst)

        monkeypatch.setattr(migrate.os, "rename", rename)
        try:
            migrate.migrate_layout(home)
            finished = True
        except _Killed:
            finished = False
        monkeypatch.setattr(migrate.os, "rename", real_rename)
        _check_upgraded(home)
        if finished:
            break
        kill_at += 1
    assert kill_at >= len(OLD_OBJECTS) + 2  # every file move and both folder swaps were cut once
