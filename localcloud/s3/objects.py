"""Moving job data between localcloud's object store and a job folder: now `cloud.s3`'s methods.

TRANSITION: removed when its callers use cloud.s3 (S3Backend.split_uri, resolve, list_keys,
download, put_file, upload_dir, read_bytes, read_json: the same behaviour, without the `cloud`
argument). Each function here delegates in one line; ObjectStoreError is
localcloud.s3.exceptions.ObjectStoreError, an AwsError.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.s3.exceptions import ObjectStoreError
from localcloud.s3.models import S3Backend, resolve_under

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

__all__ = ["ObjectStoreError", "download", "list_keys", "put_file", "read_bytes", "read_json", "resolve",
           "split_uri", "upload_dir"]


def split_uri(uri: str) -> tuple[str, str]:
    return S3Backend.split_uri(uri)


def resolve(s3_root: Path, uri: str) -> Path:
    return resolve_under(s3_root, uri)


def list_keys(cloud: LocalCloud, bucket: str, prefix: str) -> list[str]:
    return cloud.s3.list_keys(bucket, prefix)


def download(cloud: LocalCloud, uri: str, destination: Path) -> int:
    return cloud.s3.download(uri, destination)


def put_file(cloud: LocalCloud, source: Path, uri: str) -> None:
    cloud.s3.put_file(source, uri)


def upload_dir(cloud: LocalCloud, source: Path, uri: str) -> int:
    return cloud.s3.upload_dir(source, uri)


def read_bytes(cloud: LocalCloud, uri: str) -> bytes:
    return cloud.s3.read_bytes(uri)


def read_json(cloud: LocalCloud, uri: str) -> Any:
    return cloud.s3.read_json(uri)
