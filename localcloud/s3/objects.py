"""Moving job data between localcloud's object store and a job folder.

localcloud keeps an object as the plain file `<s3_root>/<bucket>/<key>`, so staging a job's
inputs is a file copy, not an HTTP download. Writes go through a temporary file and a rename so
a reader never sees half an object. Keys are checked so nothing escapes the bucket directory.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.errors import AwsError
from localcloud.s3.models import validate_bucket_name


class ObjectStoreError(Exception):
    """A missing bucket or object, or an S3 URI that cannot be used."""


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an s3:// URI taken from a request, refused unless it names a
    place inside the object store: a bucket S3 would accept (so never '..', '.x' or 'a/b')
    and a key without '.' or '..' segments. Every S3 URI a client sends (S3Uri,
    ModelDataUrl, S3OutputPath, DestinationS3Uri...) goes through here before it is a path.
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ObjectStoreError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ObjectStoreError(f"{uri!r} names no bucket")
    try:
        validate_bucket_name(bucket)
    except AwsError:
        raise ObjectStoreError(f"{uri!r}: {bucket!r} is not a valid S3 bucket name") from None
    if "\x00" in key or key.startswith("/") or any(p in (".", "..") for p in key.split("/")):
        raise ObjectStoreError(f"{uri!r}: the key has a '.' or '..' segment or starts with '/', "
                               "which would leave the bucket")
    return bucket, key


def resolve(s3_root: Path, uri: str) -> Path:
    """The file or directory an s3:// URI names under s3_root, checked to stay inside it
    (symbolic links included); ObjectStoreError otherwise."""
    bucket, key = split_uri(uri)
    path = (s3_root / bucket).joinpath(*PurePosixPath(key).parts)
    if not path.resolve().is_relative_to(s3_root.resolve()):
        raise ObjectStoreError(f"{uri!r} resolves outside the object store")
    return path


def _bucket_dir(cloud: LocalCloud, bucket: str) -> Path:
    if "/" in bucket or bucket in (".", "..") or bucket.startswith("."):
        raise ObjectStoreError(f"invalid bucket name {bucket!r}")
    return cloud.config.s3_root / bucket


def _object_path(cloud: LocalCloud, bucket: str, key: str) -> Path:
    parts = PurePosixPath(key).parts
    if not key or key.endswith("/") or any(p in ("..", ".") for p in parts) or key.startswith("/"):
        raise ObjectStoreError(f"s3://{bucket}/{key} is not a usable object key")
    return resolve(cloud.config.s3_root, f"s3://{bucket}/{key}")


def _require_bucket(cloud: LocalCloud, bucket: str) -> Path:
    root = _bucket_dir(cloud, bucket)
    if not root.is_dir():
        raise ObjectStoreError(f"bucket {bucket} does not exist")
    return root


def list_keys(cloud: LocalCloud, bucket: str, prefix: str) -> list[str]:
    root = _require_bucket(cloud, bucket)
    # Walk only the deepest directory the prefix fixes, not the whole bucket.
    base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    start = root.joinpath(*PurePosixPath(base).parts) if base else root
    if not start.is_dir():
        return []
    keys = []
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            if filename.startswith("."):
                continue   # the store's own bookkeeping, never an object
            key = Path(dirpath, filename).relative_to(root).as_posix()
            if key.startswith(prefix):
                keys.append(key)
    return sorted(keys)


def _relative(key: str, prefix: str) -> str:
    # SageMaker's S3Prefix staging: the part of the key after the prefix, or for a prefix
    # that is the whole key, the object's file name.
    rest = key[len(prefix):]
    if not rest:
        return PurePosixPath(key).name
    if prefix.endswith("/") or rest.startswith("/"):
        return rest.lstrip("/")
    # prefix ends mid-name ("data/train" matching "data/train_b/x"): keep that last segment
    return key[len(prefix.rsplit("/", 1)[0]) + 1:] if "/" in prefix else key


def download(cloud: LocalCloud, uri: str, destination: Path) -> int:
    """Copy every object under an S3 prefix into destination; returns how many."""
    bucket, prefix = split_uri(uri)
    keys = list_keys(cloud, bucket, prefix)
    if not keys:
        raise ObjectStoreError(f"No S3 objects found under S3 URL {uri}")
    root = _bucket_dir(cloud, bucket)
    destination.mkdir(parents=True, exist_ok=True)
    for key in keys:
        target = destination.joinpath(*PurePosixPath(_relative(key, prefix)).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / key, target)
    return len(keys)


def put_file(cloud: LocalCloud, source: Path, uri: str) -> None:
    bucket, key = split_uri(uri)
    _require_bucket(cloud, bucket)
    target = _object_path(cloud, bucket, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = cloud.config.home / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=staging, prefix="upload-")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def upload_dir(cloud: LocalCloud, source: Path, uri: str) -> int:
    """Copy every file under source to the S3 prefix uri (as SageMaker uploads an output)."""
    if not source.is_dir():
        return 0
    base = uri.rstrip("/")
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        put_file(cloud, path, f"{base}/{path.relative_to(source).as_posix()}")
        count += 1
    return count


def read_bytes(cloud: LocalCloud, uri: str) -> bytes:
    bucket, key = split_uri(uri)
    _require_bucket(cloud, bucket)
    path = _object_path(cloud, bucket, key)
    if not path.is_file():
        raise ObjectStoreError(f"object {uri} does not exist")
    return path.read_bytes()


def read_json(cloud: LocalCloud, uri: str) -> Any:
    data = read_bytes(cloud, uri)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ObjectStoreError(f"object {uri} is not valid JSON: {exc}") from None
