"""localcloud's S3 through real boto3 clients: objects are files in the bucket's folder, metadata beside."""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request
import zlib

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import start_server

BUCKET = "data-bucket"


@pytest.fixture
def s3(client):
    c = client("s3")
    c.create_bucket(Bucket=BUCKET)
    return c


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_bucket_lifecycle(client, localcloud):
    s3 = client("s3")
    s3.create_bucket(Bucket="alpha-1")
    s3.create_bucket(Bucket="alpha-1")  # us-east-1: creating your own bucket again is a 200
    s3.head_bucket(Bucket="alpha-1")
    assert "alpha-1" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket="alpha-1")["LocationConstraint"] is None
    s3.put_object(Bucket="alpha-1", Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="alpha-1")
    assert _code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket="alpha-1", Key="k")
    s3.delete_bucket(Bucket="alpha-1")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="alpha-1")
    assert exc.value.response["Error"]["Code"] == "404"
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="Bad_Name")
    assert _code(exc) == "InvalidBucketName"


def test_put_get_head_with_metadata(s3, localcloud):
    put = s3.put_object(
        Bucket=BUCKET, Key="dir/obj.json", Body=b'{"a": 1}', ContentType="application/json", Metadata={"owner": "me"}
    )
    etag = '"%s"' % hashlib.md5(b'{"a": 1}').hexdigest()
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=BUCKET, Key="dir/obj.json")
    assert got["Body"].read() == b'{"a": 1}'
    assert got["ContentType"] == "application/json"
    assert got["Metadata"] == {"owner": "me"}
    assert got["ETag"] == etag
    head = s3.head_object(Bucket=BUCKET, Key="dir/obj.json")
    assert head["ContentLength"] == 8 and head["Metadata"] == {"owner": "me"}
    assert head["LastModified"] is not None
    path = localcloud.cloud.s3.object_path(BUCKET, "dir/obj.json")
    assert path.read_bytes() == b'{"a": 1}'
    # no temp files left behind
    assert os.listdir(path.parent) == [path.name]


def test_range_requests(s3):
    s3.put_object(Bucket=BUCKET, Key="r", Body=b"0123456789")
    r = s3.get_object(Bucket=BUCKET, Key="r", Range="bytes=2-5")
    assert r["Body"].read() == b"2345" and r["ContentRange"] == "bytes 2-5/10"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=BUCKET, Key="r", Range="bytes=7-")["Body"].read() == b"789"
    assert s3.get_object(Bucket=BUCKET, Key="r", Range="bytes=-3")["Body"].read() == b"789"
    assert s3.get_object(Bucket=BUCKET, Key="r", Range="bytes=8-100")["Body"].read() == b"89"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="r", Range="bytes=10-")
    assert _code(exc) == "InvalidRange"


def test_list_objects_v2_prefix_delimiter_pagination(s3):
    for key in ["logs/a.txt", "logs/b.txt", "logs/sub/c.txt", "logs/sub/d.txt", "other.txt"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    top = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")
    assert [c["Key"] for c in top["Contents"]] == ["other.txt"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["logs/"]
    logs = s3.list_objects_v2(Bucket=BUCKET, Prefix="logs/", Delimiter="/")
    assert [c["Key"] for c in logs["Contents"]] == ["logs/a.txt", "logs/b.txt"]
    assert [p["Prefix"] for p in logs["CommonPrefixes"]] == ["logs/sub/"]
    assert logs["KeyCount"] == 3

    keys, token, pages = [], None, 0
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=2, **kwargs)
        pages += 1
        assert page["KeyCount"] == len(page.get("Contents", []))
        keys += [c["Key"] for c in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert pages == 3
    assert keys == ["logs/a.txt", "logs/b.txt", "logs/sub/c.txt", "logs/sub/d.txt", "other.txt"]
    after = s3.list_objects_v2(Bucket=BUCKET, StartAfter="logs/sub/d.txt")
    assert [c["Key"] for c in after["Contents"]] == ["other.txt"]
    v1 = s3.list_objects(Bucket=BUCKET, Prefix="logs/sub/")
    assert [c["Key"] for c in v1["Contents"]] == ["logs/sub/c.txt", "logs/sub/d.txt"]
    # paginator over v2 with delimiter
    pager = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Delimiter="/", PaginationConfig={"PageSize": 1})
    seen = [
        (c.get("Key") or c.get("Prefix")) for p in pager for c in p.get("Contents", []) + p.get("CommonPrefixes", [])
    ]
    assert seen == ["logs/", "other.txt"] or sorted(seen) == ["logs/", "other.txt"]


def test_keys_sorted_in_utf8_binary_order(s3):
    for key in ["é", "z", "Z", "a b", "a+b"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
    keys = [c["Key"] for c in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == sorted(keys, key=lambda k: k.encode())
    assert s3.get_object(Bucket=BUCKET, Key="a b")["Body"].read() == b""


def test_file_written_without_metadata_is_listed_with_md5_etag(s3, localcloud):
    # data capture appends to its file through the backend, with no metadata row
    with localcloud.cloud.s3.open_append(f"s3://{BUCKET}/x/y.csv") as f:
        f.write("a,b\n1,2\n")
    path = localcloud.cloud.s3.object_path(BUCKET, "x/y.csv")
    etag = '"%s"' % hashlib.md5(b"a,b\n1,2\n").hexdigest()
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [(o["Key"], o["ETag"], o["Size"]) for o in listed] == [("x/y.csv", etag, 8)]
    got = s3.get_object(Bucket=BUCKET, Key="x/y.csv")
    assert got["Body"].read() == b"a,b\n1,2\n" and got["ETag"] == etag
    # an outside edit after an S3 put is noticed: new ETag, stale metadata dropped
    s3.put_object(Bucket=BUCKET, Key="x/y.csv", Body=b"old", Metadata={"m": "1"})
    path.write_bytes(b"new content")
    head = s3.head_object(Bucket=BUCKET, Key="x/y.csv")
    assert head["ETag"] == f'"{hashlib.md5(b"new content").hexdigest()}"'
    assert head["Metadata"] == {}


def test_copy_object(s3):
    s3.put_object(Bucket=BUCKET, Key="src", Body=b"payload", ContentType="text/plain", Metadata={"a": "1"})
    s3.create_bucket(Bucket="other-bucket")
    out = s3.copy_object(Bucket="other-bucket", Key="dst", CopySource={"Bucket": BUCKET, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    got = s3.get_object(Bucket="other-bucket", Key="dst")
    assert got["Body"].read() == b"payload" and got["Metadata"] == {"a": "1"}
    assert got["ContentType"] == "text/plain"
    s3.copy_object(
        Bucket=BUCKET,
        Key="src",
        CopySource=f"{BUCKET}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/csv",
    )
    head = s3.head_object(Bucket=BUCKET, Key="src")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "text/csv"


def test_delete_objects(s3, localcloud):
    for key in ["d/1", "d/2", "d/3"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    out = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "d/1"}, {"Key": "d/2"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["d/1", "d/2", "missing"]
    quiet = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    # empty folders are removed, the bucket stays
    assert os.listdir(localcloud.cloud.s3.bucket_dir(BUCKET)) == []
    s3.delete_object(Bucket=BUCKET, Key="never-existed")


def test_multipart_upload_file_and_download(s3, tmp_path):
    data = os.urandom(20 * 1024 * 1024)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    mb = 1024 * 1024
    config = TransferConfig(multipart_threshold=5 * mb, multipart_chunksize=5 * mb)
    s3.upload_file(str(src), BUCKET, "big/file.bin", Config=config)
    head = s3.head_object(Bucket=BUCKET, Key="big/file.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-4"')
    md5s = b"".join(hashlib.md5(data[i : i + 5 * mb]).digest() for i in range(0, len(data), 5 * mb))
    assert head["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-4"'
    assert s3.get_object(Bucket=BUCKET, Key="big/file.bin")["Body"].read() == data
    dst = tmp_path / "down.bin"
    s3.download_file(BUCKET, "big/file.bin", str(dst), Config=config)
    assert dst.read_bytes() == data
    # no upload left behind
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_multipart_abort_and_no_such_upload(s3):
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="m")
    s3.upload_part(Bucket=BUCKET, Key="m", UploadId=upload["UploadId"], PartNumber=1, Body=b"abc")
    parts = s3.list_parts(Bucket=BUCKET, Key="m", UploadId=upload["UploadId"])["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]
    s3.abort_multipart_upload(Bucket=BUCKET, Key="m", UploadId=upload["UploadId"])
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="m", UploadId=upload["UploadId"], PartNumber=2, Body=b"x")
    assert _code(exc) == "NoSuchUpload"


def test_bad_digest(s3):
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"payload", ContentMD5=wrong)
    assert _code(exc) == "BadDigest"
    right = base64.b64encode(hashlib.md5(b"payload").digest()).decode()
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"payload", ContentMD5=right)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"payload", ChecksumCRC32="AAAAAA==")
    assert _code(exc) == "BadDigest"


def _signed_raw_put(url: str, body: bytes, headers: dict[str, str], trailer: bool) -> tuple[int, dict]:
    """A PUT signed like botocore does over HTTPS (aws-chunked body with a checksum trailer)."""
    request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
    if trailer:
        request.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32"}}
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(url, data=body, method="PUT", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.headers  # case-insensitive
    except urllib.error.HTTPError as err:
        return err.code, {"body": err.read().decode()}


def test_aws_chunked_body_with_crc32_trailer(s3, localcloud):
    data = b"hello aws-chunked world" * 100
    crc = base64.b64encode((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")).decode()

    def framed(checksum: str) -> bytes:
        return (
            b"%x\r\n" % 1000
            + data[:1000]
            + b"\r\n"
            + b"%x\r\n" % (len(data) - 1000)
            + data[1000:]
            + b"\r\n0\r\n"
            + f"x-amz-checksum-crc32:{checksum}\r\n\r\n".encode()
        )

    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data)),
        "Content-Type": "text/plain",
    }
    url = f"{localcloud.url}/{BUCKET}/chunked.txt"
    status, resp_headers = _signed_raw_put(url, framed(crc), headers, trailer=True)
    assert status == 200, resp_headers
    assert resp_headers["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    got = s3.get_object(Bucket=BUCKET, Key="chunked.txt", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ContentType"] == "text/plain"
    assert got["ChecksumCRC32"] == crc
    status, resp = _signed_raw_put(url, framed("AAAAAA=="), headers, trailer=True)
    assert status == 400 and "BadDigest" in resp["body"]
    # nothing was half-written over the good object
    assert s3.get_object(Bucket=BUCKET, Key="chunked.txt")["Body"].read() == data


def test_a_key_longer_than_1024_bytes_is_refused(s3):
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k" * 1025, Body=b"2")
    assert _code(exc) == "KeyTooLongError"


def test_missing_key_and_bucket_errors(s3):
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="nope")
    assert _code(exc) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="no-such-bucket", Key="nope")
    assert _code(exc) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="no-such-bucket")
    assert _code(exc) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=BUCKET, Key="nope")
    assert exc.value.response["Error"]["Code"] == "404"
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_acl(Bucket=BUCKET)
    assert _code(exc) == "NotImplemented"


def test_restart_keeps_objects_and_metadata(tmp_path):
    home = tmp_path / "home"
    server = start_server(home)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="keep/me", Body=b"persist", ContentType="text/plain", Metadata={"k": "v"})
    finally:
        server.stop()
    server = start_server(home)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        got = s3.get_object(Bucket=BUCKET, Key="keep/me")
        assert got["Body"].read() == b"persist"
        assert got["ContentType"] == "text/plain" and got["Metadata"] == {"k": "v"}
    finally:
        server.stop()


def test_wrong_secret_key_is_refused(localcloud):
    s3 = boto3.client(
        "s3",
        endpoint_url=localcloud.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="wrong",
        config=BotoConfig(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert _code(exc) == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("token", ["YQ", "not-a-token", "a2V5", "Zm9vL2Jhcg", "!!!"])
def test_a_continuation_token_we_did_not_issue_is_refused(s3, token):
    """AWS answers a ListObjectsV2 continuation token it did not issue with 400 InvalidArgument
    "The continuation token provided is incorrect" (ListObjectsV2, Amazon S3 API Reference); one
    that merely decodes as base64 ("YQ" is "a") was read as a start key and answered 200 from
    there (issue 24 class 2). Tokens we issue still page through every key."""
    s3.create_bucket(Bucket="tokens")
    for i in range(5):
        s3.put_object(Bucket="tokens", Key=f"k{i}", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="tokens", ContinuationToken=token)
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    keys, kwargs = [], {}
    while True:
        page = s3.list_objects_v2(Bucket="tokens", MaxKeys=2, **kwargs)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        kwargs = {"ContinuationToken": page["NextContinuationToken"]}
    assert keys == [f"k{i}" for i in range(5)]
    with pytest.raises(ClientError):  # bound to its bucket
        s3.create_bucket(Bucket="other")
        s3.list_objects_v2(
            Bucket="other", ContinuationToken=s3.list_objects_v2(Bucket="tokens", MaxKeys=1)["NextContinuationToken"]
        )


@pytest.mark.parametrize("version", ["bogus", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"])
def test_a_version_id_on_an_unversioned_bucket_is_refused_and_deletes_nothing(s3, version):
    """On a bucket whose versioning was never enabled an object's only version id is "null"
    (S3 User Guide, "Working with objects in a versioning-suspended bucket"/"null version"); any
    other is 400 InvalidArgument "Invalid version id specified". A bogus VersionId on DeleteObject
    once deleted the current object."""
    s3.put_object(Bucket=BUCKET, Key="keep", Body=b"v1")
    for call in (
        lambda: s3.delete_object(Bucket=BUCKET, Key="keep", VersionId=version),
        lambda: s3.get_object(Bucket=BUCKET, Key="keep", VersionId=version),
        lambda: s3.copy_object(
            Bucket=BUCKET, Key="copy", CopySource={"Bucket": BUCKET, "Key": "keep", "VersionId": version}
        ),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _code(err) == "InvalidArgument"
        assert "Invalid version id specified" in err.value.response["Error"]["Message"]
    assert s3.get_object(Bucket=BUCKET, Key="keep")["Body"].read() == b"v1"
    assert s3.get_object(Bucket=BUCKET, Key="keep", VersionId="null")["Body"].read() == b"v1"


def test_list_buckets_pages_by_max_buckets_and_filters_by_prefix(client, localcloud):
    """ListBuckets' MaxBuckets / ContinuationToken / Prefix / BucketRegion
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html), not a 501."""
    s3 = client("s3")
    for name in ("page-a", "page-b", "page-c", "other-x"):
        s3.create_bucket(Bucket=name)
    first = s3.list_buckets(MaxBuckets=2, Prefix="page-")
    assert [b["Name"] for b in first["Buckets"]] == ["page-a", "page-b"] and first["Prefix"] == "page-"
    rest = s3.list_buckets(MaxBuckets=2, Prefix="page-", ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["page-c"] and "ContinuationToken" not in rest
    assert s3.list_buckets(BucketRegion="eu-west-1")["Buckets"] == []
    with pytest.raises(ClientError) as exc:
        s3.list_buckets(ContinuationToken="not-ours")
    assert _code(exc) == "InvalidArgument"
    unchecked = boto3.client(
        "s3",
        endpoint_url=localcloud.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(parameter_validation=False, retries={"max_attempts": 1}),
    )
    for bad in (0, 10001):
        with pytest.raises(ClientError) as exc:
            unchecked.list_buckets(MaxBuckets=bad)
        assert _code(exc) == "InvalidArgument", bad
