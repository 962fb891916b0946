"""S3 as AWS answers it: conditional writes, part reads and multipart checksums (issue 25,
classes 2 and 3).

Sources: "How to prevent object overwrites with conditional writes" (Amazon S3 User Guide,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html) and the
PutObject / CompleteMultipartUpload API references (If-None-Match: 412 PreconditionFailed when
the key exists; If-Match: 412 when the ETag differs, 404 NoSuchKey when there is no object);
GetObject / HeadObject API references, `PartNumber` ("Effectively performs a 'ranged' GET
request for the part specified", 206 with `x-amz-mp-parts-count`); "Checking object integrity"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html) for
COMPOSITE / FULL_OBJECT and the `<base64>-<N>` checksum. Error texts as LocalStack's
AWS-recorded snapshot tests (tests/aws/services/s3/test_s3.py) show them.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import threading
import zlib

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import start_server

BUCKET = "fidelity-bucket"
MB = 1024 * 1024


@pytest.fixture
def s3(client):
    c = client("s3")
    c.create_bucket(Bucket=BUCKET)
    return c


def _error(exc: pytest.ExceptionInfo) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _crc32(data: bytes) -> bytes:
    return (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _multipart(s3, key: str, chunks: list[bytes], **create) -> tuple[str, list[dict]]:
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key, **create)["UploadId"]
    parts = []
    for number, chunk in enumerate(chunks, 1):
        reply = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk)
        part = {"PartNumber": number, "ETag": reply["ETag"]}
        # boto3 sends a CRC32 with every part; the complete request names it only when the
        # upload was created with a checksum algorithm (otherwise S3 answers InvalidPart).
        if create.get("ChecksumAlgorithm") == "CRC32":
            part["ChecksumCRC32"] = reply["ChecksumCRC32"]
        parts.append(part)
    return upload_id, parts


# ----------------------------------------------------------------------------- class 2: conditional writes
def test_put_object_if_none_match_star_refuses_an_existing_key(s3):
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"second", IfNoneMatch="*")
    assert _error(exc) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"first"


def test_put_object_if_match(s3):
    etag = s3.put_object(Bucket=BUCKET, Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"v2", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert _error(exc) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"v1"
    new = s3.put_object(Bucket=BUCKET, Key="k", Body=b"v2", IfMatch=etag)["ETag"]
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"v2"
    # The old ETag no longer holds.
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"v3", IfMatch=etag)
    assert _error(exc) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"v3", IfMatch=new.strip('"'))  # unquoted is the same ETag
    # If-Match on a key with no object: 404 NoSuchKey (the API reference).
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="missing", Body=b"x", IfMatch=etag)
    assert _error(exc) == ("NoSuchKey", 404)


def test_conditional_put_header_values_s3_does_not_accept(s3):
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", IfNoneMatch='"abc"')
    assert _error(exc) == ("NotImplemented", 501)
    assert "If-None-Match" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", IfNoneMatch="*", IfMatch='"abc"')
    assert _error(exc) == ("NotImplemented", 501)


def test_concurrent_if_none_match_writes_exactly_one_wins(client):
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        c = client("s3")
        barrier.wait()
        try:
            c.put_object(Bucket=BUCKET, Key="race", Body=f"writer {i}".encode() * 1000, IfNoneMatch="*")
            result = f"won {i}"
        except ClientError as error:
            result = error.response["Error"]["Code"]
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1, outcomes
    assert sorted(o for o in outcomes if not o.startswith("won")) == ["PreconditionFailed"] * 7
    winner = winners[0].split()[1]
    assert s3.get_object(Bucket=BUCKET, Key="race")["Body"].read() == f"writer {winner}".encode() * 1000


def test_complete_multipart_upload_honours_preconditions(s3):
    s3.put_object(Bucket=BUCKET, Key="m", Body=b"existing")
    upload_id, parts = _multipart(s3, "m", [b"part one"])
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="m", UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
        )
    assert _error(exc) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="m", UploadId=upload_id, MultipartUpload={"Parts": parts}, IfMatch='"deadbeef"'
        )
    assert _error(exc) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=BUCKET, Key="m")["Body"].read() == b"existing"
    # The upload is still open after a failed precondition; with the right ETag it completes.
    etag = s3.head_object(Bucket=BUCKET, Key="m")["ETag"]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="m", UploadId=upload_id, MultipartUpload={"Parts": parts}, IfMatch=etag
    )
    assert s3.get_object(Bucket=BUCKET, Key="m")["Body"].read() == b"part one"
    # If-Match with no object: NoSuchKey; If-None-Match with none: written.
    upload_id, parts = _multipart(s3, "fresh", [b"p"])
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="fresh", UploadId=upload_id, MultipartUpload={"Parts": parts}, IfMatch=etag
        )
    assert _error(exc) == ("NoSuchKey", 404)
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="fresh", UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
    )
    assert s3.get_object(Bucket=BUCKET, Key="fresh")["Body"].read() == b"p"


# ----------------------------------------------------------------------------- class 2: part reads
def test_get_and_head_object_by_part_number(s3):
    chunks = [b"a" * (5 * MB), b"b" * (5 * MB), b"c" * 1234]
    upload_id, parts = _multipart(s3, "parts", chunks)
    s3.complete_multipart_upload(Bucket=BUCKET, Key="parts", UploadId=upload_id, MultipartUpload={"Parts": parts})
    total = sum(len(c) for c in chunks)
    start = 0
    for number, chunk in enumerate(chunks, 1):
        end = start + len(chunk) - 1
        got = s3.get_object(Bucket=BUCKET, Key="parts", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {start}-{end}/{total}"
        assert got["ContentLength"] == len(chunk)
        assert got["PartsCount"] == 3
        assert got["Body"].read() == chunk
        head = s3.head_object(Bucket=BUCKET, Key="parts", PartNumber=number)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["ContentLength"] == len(chunk)
        assert head["PartsCount"] == 3
        assert head["ResponseMetadata"]["HTTPHeaders"]["content-range"] == f"bytes {start}-{end}/{total}"
        start = end + 1
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="parts", PartNumber=4)
    assert _error(exc) == ("InvalidPartNumber", 416)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=BUCKET, Key="parts", PartNumber=4)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_part_number_of_a_single_put_object(s3):
    s3.put_object(Bucket=BUCKET, Key="single", Body=b"0123456789")
    got = s3.get_object(Bucket=BUCKET, Key="single", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 0-9/10"
    assert "PartsCount" not in got
    assert got["Body"].read() == b"0123456789"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="single", PartNumber=2)
    assert _error(exc) == ("InvalidPartNumber", 416)


def test_part_number_refusals_name_the_parameter(s3):
    s3.put_object(Bucket=BUCKET, Key="single", Body=b"0123456789")
    for bad in (0, 10001):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=BUCKET, Key="single", PartNumber=bad)
        assert _error(exc) == ("InvalidArgument", 400)
        assert "Part number" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="single", PartNumber=1, Range="bytes=0-1")
    assert _error(exc) == ("InvalidRequest", 400)
    assert "Range" in exc.value.response["Error"]["Message"]


def test_part_sizes_are_kept_in_s3meta(s3, localcloud):
    chunks = [b"x" * (5 * MB), b"y" * 10]
    upload_id, parts = _multipart(s3, "kept", chunks)
    s3.complete_multipart_upload(Bucket=BUCKET, Key="kept", UploadId=upload_id, MultipartUpload={"Parts": parts})
    rows = localcloud.cloud.s3._sql("SELECT parts FROM objects WHERE bucket=? AND key=?", (BUCKET, "kept"))
    assert rows == [("[5242880, 10]",)]


# ----------------------------------------------------------------------------- class 3: checksums
def test_composite_crc32_checksum_of_a_multipart_upload(s3):
    chunks = [b"a" * (5 * MB), b"tail"]
    upload_id, parts = _multipart(s3, "crc", chunks, ChecksumAlgorithm="CRC32")
    assert all("ChecksumCRC32" in p for p in parts)
    done = s3.complete_multipart_upload(Bucket=BUCKET, Key="crc", UploadId=upload_id, MultipartUpload={"Parts": parts})
    composite = _b64(_crc32(b"".join(_crc32(c) for c in chunks))) + "-2"
    assert done["ChecksumCRC32"] == composite
    assert done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=BUCKET, Key="crc", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == composite
    assert head["ChecksumType"] == "COMPOSITE"
    assert s3.get_object(Bucket=BUCKET, Key="crc", ChecksumMode="ENABLED")["Body"].read() == b"".join(chunks)


def test_complete_refuses_missing_or_wrong_part_checksums(s3):
    upload_id, parts = _multipart(s3, "crc", [b"only part"], ChecksumAlgorithm="CRC32")
    missing = [{"PartNumber": 1, "ETag": parts[0]["ETag"]}]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=BUCKET, Key="crc", UploadId=upload_id, MultipartUpload={"Parts": missing})
    assert _error(exc) == ("InvalidRequest", 400)
    assert exc.value.response["Error"]["Message"] == (
        "The upload was created using a crc32 checksum. The complete request must include the "
        "checksum for each part. It was missing for part 1 in the request."
    )
    wrong = [{"PartNumber": 1, "ETag": parts[0]["ETag"], "ChecksumCRC32": _b64(_crc32(b"other"))}]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=BUCKET, Key="crc", UploadId=upload_id, MultipartUpload={"Parts": wrong})
    assert _error(exc) == ("InvalidPart", 400)
    done = s3.complete_multipart_upload(Bucket=BUCKET, Key="crc", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done["ChecksumCRC32"] == _b64(_crc32(_crc32(b"only part"))) + "-1"


def test_full_object_crc32_checksum(s3):
    chunks = [b"q" * (5 * MB), b"end"]
    upload_id, parts = _multipart(s3, "full", chunks, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    whole = _b64(_crc32(b"".join(chunks)))
    done = s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="full",
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
        ChecksumCRC32=whole,
        ChecksumType="FULL_OBJECT",
    )
    assert done["ChecksumCRC32"] == whole
    assert done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=BUCKET, Key="full", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (whole, "FULL_OBJECT")


def test_checksum_type_mismatch_and_sha256_full_object_are_refused(s3):
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=BUCKET, Key="x", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT")
    assert _error(exc) == ("InvalidRequest", 400)
    upload_id, parts = _multipart(s3, "y", [b"z"], ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="y", UploadId=upload_id, MultipartUpload={"Parts": parts}, ChecksumType="FULL_OBJECT"
        )
    assert _error(exc) == ("InvalidRequest", 400)
    assert "checksum mode" in exc.value.response["Error"]["Message"]


def test_sha256_composite(s3):
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="s", ChecksumAlgorithm="SHA256")["UploadId"]
    reply = s3.upload_part(
        Bucket=BUCKET, Key="s", UploadId=upload_id, PartNumber=1, Body=b"data", ChecksumAlgorithm="SHA256"
    )
    part = {"PartNumber": 1, "ETag": reply["ETag"], "ChecksumSHA256": reply["ChecksumSHA256"]}
    done = s3.complete_multipart_upload(Bucket=BUCKET, Key="s", UploadId=upload_id, MultipartUpload={"Parts": [part]})
    inner = hashlib.sha256(b"data").digest()
    assert done["ChecksumSHA256"] == _b64(hashlib.sha256(inner).digest()) + "-1"


def test_get_object_attributes_of_a_composite_upload(s3):
    chunks = [b"a" * (5 * MB), b"tail"]
    upload_id, parts = _multipart(s3, "attrs", chunks, ChecksumAlgorithm="CRC32")
    done = s3.complete_multipart_upload(
        Bucket=BUCKET, Key="attrs", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    attrs = s3.get_object_attributes(
        Bucket=BUCKET, Key="attrs", ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize", "StorageClass"]
    )
    assert attrs["ETag"] == done["ETag"].strip('"')  # unquoted, as S3 sends it
    # The user guide's example shows the composite value without its "-<count>".
    assert attrs["Checksum"] == {
        "ChecksumCRC32": done["ChecksumCRC32"].split("-")[0],
        "ChecksumType": "COMPOSITE",
    }
    assert attrs["ObjectSize"] == 5 * MB + 4
    assert attrs["StorageClass"] == "STANDARD"
    object_parts = attrs["ObjectParts"]
    assert object_parts["TotalPartsCount"] == 2
    assert [(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in object_parts["Parts"]] == [
        (1, 5 * MB, _b64(_crc32(chunks[0]))),
        (2, 4, _b64(_crc32(chunks[1]))),
    ]
    page = s3.get_object_attributes(Bucket=BUCKET, Key="attrs", ObjectAttributes=["ObjectParts"], MaxParts=1)
    assert page["ObjectParts"]["IsTruncated"] is True
    assert [p["PartNumber"] for p in page["ObjectParts"]["Parts"]] == [1]
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=BUCKET, Key="attrs", ObjectAttributes=["Colour"])
    assert _error(exc) == ("InvalidArgument", 400)
    assert "x-amz-object-attributes" in exc.value.response["Error"]["Message"]


def test_upload_part_with_another_algorithm_is_refused(s3):
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="mix", ChecksumAlgorithm="SHA256")["UploadId"]
    with pytest.raises(ClientError) as exc:
        # boto3 computes a CRC32 when no algorithm is named.
        s3.upload_part(Bucket=BUCKET, Key="mix", UploadId=upload_id, PartNumber=1, Body=b"data")
    assert _error(exc) == ("InvalidRequest", 400)
    assert "expected checksum Type: sha256" in exc.value.response["Error"]["Message"]


def test_upload_part_copy_carries_the_upload_checksum(s3):
    s3.put_object(Bucket=BUCKET, Key="source", Body=b"copied bytes")
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="dest", ChecksumAlgorithm="CRC32")["UploadId"]
    copied = s3.upload_part_copy(
        Bucket=BUCKET, Key="dest", UploadId=upload_id, PartNumber=1, CopySource={"Bucket": BUCKET, "Key": "source"}
    )["CopyPartResult"]
    assert copied["ChecksumCRC32"] == _b64(_crc32(b"copied bytes"))
    part = {"PartNumber": 1, "ETag": copied["ETag"], "ChecksumCRC32": copied["ChecksumCRC32"]}
    done = s3.complete_multipart_upload(
        Bucket=BUCKET, Key="dest", UploadId=upload_id, MultipartUpload={"Parts": [part]}
    )
    assert done["ChecksumCRC32"] == _b64(_crc32(_crc32(b"copied bytes"))) + "-1"


def test_an_s3meta_db_of_the_earlier_schema_is_upgraded(tmp_path):
    """A state directory written before part sizes and checksum types were kept still opens,
    its objects read as before, and new multipart objects answer part reads."""
    home = tmp_path / "home"
    (home / "s3" / BUCKET).mkdir(parents=True)
    (home / "s3" / BUCKET / "old").write_bytes(b"old object")
    db = sqlite3.connect(home / "s3meta.db")
    db.executescript(
        """
        CREATE TABLE buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
        CREATE TABLE objects (
            bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
            etag TEXT NOT NULL, content_type TEXT, metadata TEXT NOT NULL DEFAULT '{}',
            headers TEXT NOT NULL DEFAULT '{}', checksums TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (bucket, key));
        CREATE TABLE uploads (
            upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, created REAL NOT NULL,
            content_type TEXT, metadata TEXT NOT NULL DEFAULT '{}', headers TEXT NOT NULL DEFAULT '{}',
            checksum_algorithm TEXT);
        """
    )
    db.close()
    server = start_server(home)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        assert s3.get_object(Bucket=BUCKET, Key="old", PartNumber=1)["Body"].read() == b"old object"
        upload_id, parts = _multipart(s3, "new", [b"n" * (5 * MB), b"m"])
        s3.complete_multipart_upload(Bucket=BUCKET, Key="new", UploadId=upload_id, MultipartUpload={"Parts": parts})
        assert s3.get_object(Bucket=BUCKET, Key="new", PartNumber=2)["Body"].read() == b"m"
    finally:
        server.stop()


def test_put_object_reports_its_full_object_checksum(s3):
    reply = s3.put_object(Bucket=BUCKET, Key="one", Body=b"payload", ChecksumAlgorithm="CRC32")
    assert reply["ChecksumCRC32"] == _b64(_crc32(b"payload"))
    assert reply["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=BUCKET, Key="one", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (_b64(_crc32(b"payload")), "FULL_OBJECT")


def test_a_malformed_checksum_header_is_a_400_naming_it(s3):
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="bad", ChecksumAlgorithm="CRC32C")["UploadId"]
    for value in ("!!!", base64.b64encode(b"toolong!").decode()):
        with pytest.raises(ClientError) as exc:
            s3.upload_part(
                Bucket=BUCKET, Key="bad", UploadId=upload_id, PartNumber=1, Body=b"x" * 100_000, ChecksumCRC32C=value
            )
        assert _error(exc) == ("InvalidRequest", 400)
        assert exc.value.response["Error"]["Message"] == "Value for x-amz-checksum-crc32c header is invalid."


def test_part_checksums_on_part_reads_and_list_parts(s3):
    chunks = [b"a" * (5 * MB), b"tail"]
    upload_id, parts = _multipart(s3, "pc", chunks, ChecksumAlgorithm="CRC32")
    listed = s3.list_parts(Bucket=BUCKET, Key="pc", UploadId=upload_id)
    assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [_b64(_crc32(c)) for c in chunks]
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == ("CRC32", "COMPOSITE")
    s3.complete_multipart_upload(Bucket=BUCKET, Key="pc", UploadId=upload_id, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=BUCKET, Key="pc", PartNumber=2, ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == _b64(_crc32(b"tail"))  # botocore checks the body against it
    assert got["Body"].read() == b"tail"
    head = s3.head_object(Bucket=BUCKET, Key="pc", PartNumber=1, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == _b64(_crc32(chunks[0]))


def test_an_algorithm_localcloud_does_not_compute_still_completes(s3):
    """SHA512 (botocore knows it; localcloud computes only CRC32/CRC32C/SHA1/SHA256) is kept
    and not checked, as every algorithm was before."""
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="sha512", ChecksumAlgorithm="SHA512")["UploadId"]
    reply = s3.upload_part(Bucket=BUCKET, Key="sha512", UploadId=upload_id, PartNumber=1, Body=b"data")
    part = {"PartNumber": 1, "ETag": reply["ETag"]}
    s3.complete_multipart_upload(Bucket=BUCKET, Key="sha512", UploadId=upload_id, MultipartUpload={"Parts": [part]})
    assert s3.get_object(Bucket=BUCKET, Key="sha512")["Body"].read() == b"data"
