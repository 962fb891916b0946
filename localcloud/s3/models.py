"""S3 state: buckets are directories, objects are files, metadata lives beside in SQLite.

An object's bytes are one file under `<s3_root>/<bucket>/`, at the path localcloud.s3.layout
maps its key to (every valid key, `d` beside `d/e`, `m/` beside `m/n`, `a//b`, `../x`, has its
own file); a state directory written by the older layout (the key as a plain path) is moved to
it once, at start (localcloud.s3.migrate). The file system is the truth about which objects
exist; the metadata row beside holds what a file cannot (ETag, content type, user metadata,
checksums). A file written without a row (an append-only capture file) is checked by its
(size, mtime_ns) and falls back to "md5 of the content, default type". Writes go through a
`.mlgw-tmp-*` file and os.replace, so readers never see half an object. Multipart parts live in
`<home>/s3-multipart/<uploadId>/`, outside the buckets. One class, `S3Backend` (reached as
`cloud.s3`): buckets, objects and multipart uploads share the metadata table and the
write-then-rename path; the other services reach objects only through its file-level methods
(split_uri, list_keys, has_object, has_prefix, object_files, download, put_file, upload_dir,
open_append, read_bytes, read_json), which raise ObjectStoreError: nothing outside
localcloud/s3 computes an object's path. Errors: localcloud.s3.exceptions.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from localcloud.errors import AwsError, InvalidRequest
from localcloud.s3.exceptions import (
    BadDigest,
    BucketNotEmpty,
    EntityTooSmall,
    InvalidArgument,
    InvalidBucketName,
    InvalidPart,
    InvalidPartOrder,
    KeyTooLongError,
    MalformedXML,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectStoreError,
    PreconditionFailed,
)
from localcloud.s3.layout import TMP_PREFIX, folder_parts, key_of, make_folders, parts_of, remove_tree, walk_files
from localcloud.s3.migrate import migrate_layout
from localcloud.s3.payload import checksum, running_checksum
from localcloud.state import connect

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MAX_KEY_BYTES = 1024
# "General purpose bucket naming rules" (Amazon S3 User Guide,
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). Matched with
# fullmatch: `$` would also accept a name with a trailing newline.
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_COPY_CHUNK = 1 << 20
_PATH_MAX = 4096  # Linux's limit on a path's bytes (the layout needs at most ~3.6 KiB under a bucket)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    etag TEXT NOT NULL, content_type TEXT, metadata TEXT NOT NULL DEFAULT '{}',
    headers TEXT NOT NULL DEFAULT '{}', checksums TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, created REAL NOT NULL,
    content_type TEXT, metadata TEXT NOT NULL DEFAULT '{}', headers TEXT NOT NULL DEFAULT '{}',
    checksum_algorithm TEXT);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL,
    size INTEGER NOT NULL, modified REAL NOT NULL, checksums TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (upload_id, part_number));
"""
# Columns added after the first release: added to an older s3meta.db when it is opened.
_ADDED_COLUMNS = {
    "objects": (("parts", "TEXT"), ("checksum_type", "TEXT"), ("part_checksums", "TEXT")),
    "uploads": (("checksum_type", "TEXT"),),
}
# "Checking object integrity" (Amazon S3 User Guide): without x-amz-checksum-type, an upload's
# checksum type is FULL_OBJECT for CRC64NVME and COMPOSITE for the others; SHA-1 and SHA-256
# can only be COMPOSITE, CRC64NVME only FULL_OBJECT.
CHECKSUM_TYPES = {
    "crc32": ("COMPOSITE", "FULL_OBJECT"),
    "crc32c": ("COMPOSITE", "FULL_OBJECT"),
    "crc64nvme": ("FULL_OBJECT",),
    "sha1": ("COMPOSITE",),
    "sha256": ("COMPOSITE",),
}
_PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold"


def no_such_key(key: str) -> NoSuchKey:
    return NoSuchKey(f"The specified key does not exist: {key}")


@dataclass
class ObjectInfo:
    """What GetObject/HeadObject/listings report about one object."""

    key: str
    size: int
    mtime: float
    etag: str  # quoted, as on the wire
    content_type: str = DEFAULT_CONTENT_TYPE
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # Content-Encoding, Cache-Control...
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm (lower) -> base64
    path: Path | None = None
    parts: list[int] | None = None  # a multipart object's part sizes, in order
    checksum_type: str | None = None  # COMPOSITE / FULL_OBJECT (None: a single PUT's checksum)
    part_checksums: list[dict[str, str]] | None = None  # a COMPOSITE object's parts' checksums

    def part_span(self, number: int) -> tuple[int, int]:
        """Bytes [start, end] inclusive of part `number` (a single PUT is one part)."""
        sizes = self.parts if self.parts is not None else [self.size]
        start = sum(sizes[: number - 1])
        return start, start + sizes[number - 1] - 1

    @property
    def parts_count(self) -> int:
        return len(self.parts) if self.parts is not None else 1

    @property
    def last_modified(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.mtime, dt.timezone.utc)


@dataclass
class Part:
    number: int
    etag: str
    size: int
    modified: float
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass
class Upload:
    upload_id: str
    bucket: str
    key: str
    created: float
    content_type: str | None
    metadata: dict[str, str]
    headers: dict[str, str]
    checksum_algorithm: str | None  # lower case
    checksum_type: str | None = None


@dataclass
class Listing:
    """One page of a bucket listing; `last` is the page's last key or common prefix (where the
    next page starts)."""

    contents: list[ObjectInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""


def validate_bucket_name(bucket: str) -> None:
    """S3's naming rules; they also keep a bucket a single, ordinary directory name."""
    if (
        not _BUCKET_RE.fullmatch(bucket)
        or ".." in bucket
        or _IP_RE.fullmatch(bucket)
        or bucket.startswith(_RESERVED_PREFIXES)
        or bucket.endswith(_RESERVED_SUFFIXES)
    ):
        raise InvalidBucketName(f"The specified bucket is not valid: {bucket!r}")


def validate_key(key: str) -> None:
    """Refuse what S3 refuses as an object key: empty, more than 1024 bytes, or not UTF-8 text
    ("Naming Amazon S3 objects", https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
    Any other string is a key, `.`/`..`/empty segments and a trailing '/' included: the layout
    (localcloud.s3.layout) gives every one its own file. InvalidArgument, KeyTooLongError."""
    if not key:
        raise InvalidArgument("Object key must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLongError("Your key is too long (more than 1024 bytes)")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"Object key {key!r} is not valid UTF-8") from None


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def remove_temporaries(home: Path) -> tuple[int, int]:
    """Delete what killed writes left: `.mlgw-tmp-*` files under the object store and the
    multipart parts, and `tmp/upload-*` staging files (S3Backend.put_file). Only the server for
    `home` writes these, so at its start every one is from a writer that is gone.
    Returns (files, bytes) removed."""
    files = size = 0
    candidates = []
    for root in (home / "s3", home / "s3-multipart"):
        for dirpath, _, filenames in walk_files(root, skip_dot_folders=False):
            candidates += [Path(dirpath, n) for n in filenames if n.startswith(TMP_PREFIX)]
    staging = home / "tmp"
    if staging.is_dir():
        candidates += [p for p in staging.iterdir() if p.name.startswith("upload-")]
    for path in candidates:
        try:
            length = path.stat().st_size
            path.unlink()
        except OSError:
            continue
        files, size = files + 1, size + length
    return files, size


class S3Backend:
    """Buckets, objects and multipart uploads of one localcloud home (`cloud.s3`); thread-safe.
    The S3 operations' methods take the operation's names and raise its S3 error classes."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._token_key = hashlib.sha256(b"s3-continuation-token\0" + cloud.config.secret_key.encode()).digest()
        self.root: Path = cloud.config.s3_root
        # put_file's staging folder (remove_temporaries clears what a killed copy left there).
        self.staging: Path = cloud.config.home / "tmp"
        # Before anything reads an object: a state directory of the older layout moves to this one.
        migrate_layout(cloud.config.home)
        self.multipart_root: Path = cloud.config.home / "s3-multipart"
        self._db = connect(cloud.config.home / "s3meta.db")
        self._db.executescript(_SCHEMA)
        for table, columns in _ADDED_COLUMNS.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        self._db_lock = threading.RLock()
        # Serialises writes: conflict checks, renames and empty-directory cleanup must not interleave.
        self._write_lock = threading.RLock()

    def close(self) -> None:
        with self._db_lock:
            self._db.close()

    # ----------------------------------------------------------------- sqlite helpers
    def _sql(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._db_lock:
            return self._db.execute(sql, params).fetchall()

    # ----------------------------------------------------------------- buckets
    def bucket_dir(self, bucket: str) -> Path:
        """The bucket's folder (it may not exist); InvalidBucketName unless S3 would accept the name."""
        validate_bucket_name(bucket)
        return self.root / bucket

    def require_bucket(self, bucket: str) -> Path:
        """The folder of an existing bucket; NoSuchBucket / InvalidBucketName otherwise."""
        path = self.bucket_dir(bucket)
        if not path.is_dir():
            raise NoSuchBucket(f"The specified bucket does not exist: {bucket}")
        return path

    def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket exists (False for a name S3 would refuse)."""
        try:
            return self.bucket_dir(bucket).is_dir()
        except AwsError:
            return False

    def create_bucket(self, bucket: str) -> bool:
        """Create the bucket; False if it already existed (us-east-1 answers 200 either way)."""
        path = self.bucket_dir(bucket)
        with self._write_lock:
            existed = path.is_dir()
            path.mkdir(parents=True, exist_ok=True)
            self._sql(
                "INSERT OR IGNORE INTO buckets(name, created) VALUES (?, ?)",
                (bucket, path.stat().st_mtime if existed else dt.datetime.now().timestamp()),
            )
        return not existed

    def delete_bucket(self, bucket: str) -> None:
        """DeleteBucket: NoSuchBucket, or BucketNotEmpty while any object remains."""
        path = self.require_bucket(bucket)
        with self._write_lock:
            if any(True for _ in self._walk(path, path)):
                raise BucketNotEmpty("The bucket you tried to delete is not empty")
            remove_tree(path)  # only empty directories and stray temp files remain
            self._sql("DELETE FROM buckets WHERE name=?", (bucket,))
            self._sql("DELETE FROM objects WHERE bucket=?", (bucket,))

    def list_buckets(self) -> list[tuple[str, float]]:
        """(name, creation time) of every bucket directory, including ones made outside S3."""
        created = dict(self._sql("SELECT name, created FROM buckets"))
        out = []
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            try:
                validate_bucket_name(entry.name)
            except AwsError:
                continue
            out.append((entry.name, created.get(entry.name, entry.stat().st_mtime)))
        return out

    # ----------------------------------------------------------------- paths
    def object_path(self, bucket: str, key: str) -> Path:
        """The file of an object (it may not exist): localcloud.s3.layout's path for the key.
        InvalidBucketName; InvalidArgument / KeyTooLongError for what S3 refuses as a key."""
        validate_key(key)
        base = self.bucket_dir(bucket)
        path = base.joinpath(*parts_of(key))
        if len(os.fsencode(path)) >= _PATH_MAX:  # only with a state directory of a very long path
            raise InvalidArgument(
                f"Object key {key[:64]!r}... needs a file path longer than {_PATH_MAX} bytes under "
                f"{self.root}: use a state directory with a shorter path"
            )
        # Defence in depth: a symlink planted inside the bucket must not lead outside it.
        real_base = os.path.realpath(base)
        if os.path.commonpath([real_base, os.path.realpath(path)]) != real_base:
            raise InvalidArgument(f"Object key {key!r} resolves outside its bucket")
        return path

    # ----------------------------------------------------------------- objects
    def _info_from_row(self, bucket: str, key: str, path: Path, st: os.stat_result) -> ObjectInfo:
        rows = self._sql(
            "SELECT size, mtime_ns, etag, content_type, metadata, headers, checksums, parts, checksum_type, "
            "part_checksums FROM objects WHERE bucket=? AND key=?",
            (bucket, key),
        )
        if rows and rows[0][0] == st.st_size and rows[0][1] == st.st_mtime_ns:
            _, _, etag, ctype, meta, headers, checksums, parts, checksum_type, part_checksums = rows[0]
            return ObjectInfo(
                key,
                st.st_size,
                st.st_mtime,
                etag,
                ctype or DEFAULT_CONTENT_TYPE,
                json.loads(meta),
                json.loads(headers),
                json.loads(checksums),
                path,
                json.loads(parts) if parts else None,
                checksum_type,
                json.loads(part_checksums) if part_checksums else None,
            )
        # Written or changed outside S3: what we knew is stale; the content decides the ETag.
        etag = f'"{_md5_file(path)}"'
        self._sql(
            "INSERT OR REPLACE INTO objects(bucket, key, size, mtime_ns, etag) VALUES (?,?,?,?,?)",
            (bucket, key, st.st_size, st.st_mtime_ns, etag),
        )
        return ObjectInfo(key, st.st_size, st.st_mtime, etag, path=path)

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """What HeadObject reports of an object; NoSuchBucket, NoSuchKey."""
        self.require_bucket(bucket)
        try:
            path = self.object_path(bucket, key)
        except AwsError as error:
            # A key S3 would refuse (not UTF-8, say) simply does not exist: tools probe such
            # keys and expect 404, not 400.
            if isinstance(error, InvalidArgument):
                raise no_such_key(key) from None
            raise
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise no_such_key(key) from None
        if not path.is_file():
            raise no_such_key(key)
        return self._info_from_row(bucket, key, path, st)

    def read(self, info: ObjectInfo, start: int = 0, end: int | None = None) -> bytes:
        """Bytes [start, end] inclusive of an object looked up with head_object."""
        assert info.path is not None
        end = info.size - 1 if end is None else end
        try:
            with open(info.path, "rb") as f:
                f.seek(start)
                return f.read(max(0, end - start + 1))
        except FileNotFoundError:
            raise no_such_key(info.key) from None

    def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | Iterator[bytes],
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        checksums: dict[str, str] | None = None,
        etag: str | None = None,
        parts: list[int] | None = None,
        checksum_type: str | None = None,
        part_checksums: list[dict[str, str]] | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> ObjectInfo:
        """Store an object atomically; `etag` overrides the md5 (multipart's composite ETag),
        `parts` are a multipart object's part sizes. `if_none_match` ("*": only if no object
        has the key) and `if_match` (only if the object's ETag is that one) are checked under
        the write lock, so of concurrent conditional writes exactly one wins: PreconditionFailed,
        or NoSuchKey for If-Match on a key with no object."""
        bucket_path = self.require_bucket(bucket)
        path = self.object_path(bucket, key)
        chunks = [data] if isinstance(data, bytes) else data
        with self._write_lock:
            if if_match is not None or if_none_match is not None:
                self.check_write_preconditions(bucket, key, if_match=if_match, if_none_match=if_none_match)
            make_folders(path.parent)
            tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
            md5 = hashlib.md5()
            try:
                with open(tmp, "wb") as f:
                    for chunk in chunks:
                        md5.update(chunk)
                        f.write(chunk)
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                self._prune_dirs(bucket_path, path.parent)
                raise
            st = path.stat()
            info = ObjectInfo(
                key,
                st.st_size,
                st.st_mtime,
                etag or f'"{md5.hexdigest()}"',
                content_type or DEFAULT_CONTENT_TYPE,
                dict(metadata or {}),
                dict(headers or {}),
                dict(checksums or {}),
                path,
                list(parts) if parts is not None else None,
                checksum_type,
                part_checksums,
            )
            self._sql(
                "INSERT OR REPLACE INTO objects(bucket, key, size, mtime_ns, etag, content_type, "
                "metadata, headers, checksums, parts, checksum_type, part_checksums) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    bucket,
                    key,
                    st.st_size,
                    st.st_mtime_ns,
                    info.etag,
                    content_type,
                    json.dumps(info.metadata),
                    json.dumps(info.headers),
                    json.dumps(info.checksums),
                    json.dumps(info.parts) if info.parts is not None else None,
                    checksum_type,
                    json.dumps(part_checksums) if part_checksums is not None else None,
                ),
            )
        return info

    def check_write_preconditions(
        self, bucket: str, key: str, *, if_match: str | None, if_none_match: str | None
    ) -> None:
        """PutObject's and CompleteMultipartUpload's If-None-Match: * (PreconditionFailed when an
        object has the key) and If-Match: <etag> (PreconditionFailed when its ETag differs,
        NoSuchKey when there is no object). Source: "How to prevent object overwrites with
        conditional writes" (Amazon S3 User Guide) and the PutObject API reference."""
        try:
            current: ObjectInfo | None = self.head_object(bucket, key)
        except NoSuchKey:
            current = None
        if if_none_match is not None and current is not None:
            raise PreconditionFailed(_PRECONDITION_FAILED)
        if if_match is not None:
            if current is None:
                raise no_such_key(key)
            if if_match.strip().strip('"') != current.etag.strip('"'):
                raise PreconditionFailed(_PRECONDITION_FAILED)

    def copy_object(
        self,
        bucket: str,
        key: str,
        *,
        source_bucket: str,
        source_key: str,
        metadata_directive: str = "COPY",
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        """CopyObject: the source's bytes as bucket/key, with the source's content type, metadata
        and stored headers (COPY) or the given ones (REPLACE); the source's checksums unless it
        was a multipart upload. NoSuchBucket, NoSuchKey, InvalidArgument (an unknown directive),
        InvalidRequest (a COPY onto itself), PreconditionFailed (if_match is not the source's ETag).
        """
        self.require_bucket(bucket)
        validate_key(key)
        info = self.head_object(source_bucket, source_key)
        if metadata_directive not in ("COPY", "REPLACE"):
            raise InvalidArgument(f"Unknown metadata directive {metadata_directive}")
        if metadata_directive == "COPY" and (source_bucket, source_key) == (bucket, key):
            raise InvalidRequest(
                "This copy request is illegal because it is trying to copy an "
                "object to itself without changing the object's metadata, storage class, "
                "website redirect location or encryption attributes."
            )
        if if_match is not None and if_match.strip('"') != info.etag.strip('"'):
            raise PreconditionFailed(_PRECONDITION_FAILED)
        data = self.read(info)
        if metadata_directive == "COPY":
            content_type, metadata, headers = info.content_type, info.metadata, info.headers
        is_multipart = "-" in info.etag
        return self.put_object(
            bucket,
            key,
            data,
            content_type=content_type,
            metadata=metadata,
            headers=headers,
            checksums={} if is_multipart else info.checksums,
        )

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete; a missing key is not an error (S3 answers 204 either way)."""
        bucket_path = self.require_bucket(bucket)
        try:
            path = self.object_path(bucket, key)
        except AwsError as error:
            if isinstance(error, InvalidArgument):
                return  # such a key can never have been stored
            raise
        with self._write_lock:
            try:
                if path.is_file():
                    path.unlink()
            except FileNotFoundError:
                pass
            self._sql("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
            self._prune_dirs(bucket_path, path.parent)

    @staticmethod
    def _prune_dirs(bucket_path: Path, directory: Path) -> None:
        """Remove now-empty folders up to (not including) the bucket directory."""
        while directory != bucket_path and bucket_path in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    # ----------------------------------------------------------------- listing
    @staticmethod
    def _walk(bucket_path: Path, start: Path) -> Iterator[tuple[str, Path]]:
        """(key, file) of every object under the folder `start` of the bucket's folder; the
        store's own `.`-named files and anything else the layout would not write are skipped."""
        above = start.relative_to(bucket_path).parts
        for dirpath, folders, filenames in walk_files(start):
            for name in filenames:
                key = key_of([*above, *folders, name])
                if key is not None:
                    yield key, Path(dirpath, name)

    def list_object_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key with the prefix, in S3's order (UTF-8 binary): what ListObjects pages through.
        NoSuchBucket / InvalidBucketName for a bucket that is not there or cannot be."""
        bucket_path = self.require_bucket(bucket)
        try:
            validate_key(prefix or "x")
        except AwsError:
            return []  # no key starts with a prefix S3 could not store
        # Walk only the deepest folder the prefix fixes, not the whole bucket.
        start = bucket_path.joinpath(*folder_parts(prefix))
        if not start.is_dir():
            return []
        keys = [k for k, _ in self._walk(bucket_path, start) if k.startswith(prefix)]
        keys.sort(key=lambda k: k.encode("utf-8"))
        return keys

    def continuation_token(self, bucket: str, last_key: str) -> str:
        """ListObjectsV2's NextContinuationToken after `last_key`: opaque, bound to the bucket and
        signed, so a token this server did not issue is refused (AWS: 400 InvalidArgument "The
        continuation token provided is incorrect") instead of being read as a position."""
        raw = last_key.encode()
        mac = hmac.new(self._token_key, bucket.encode() + b"\0" + raw, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")

    def continuation_marker(self, bucket: str, token: str) -> str:
        """The key a continuation_token stands for; InvalidArgument for any other token."""
        try:
            blob = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
            mac, raw = blob[:12], blob[12:]
            expected = hmac.new(self._token_key, bucket.encode() + b"\0" + raw, hashlib.sha256).digest()[:12]
            if len(mac) != 12 or not hmac.compare_digest(mac, expected):
                raise ValueError("not ours")
            return raw.decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidArgument("The continuation token provided is incorrect") from None

    def list_objects(
        self, bucket: str, *, prefix: str = "", delimiter: str = "", marker: str = "", max_keys: int = 1000
    ) -> Listing:
        """One page of ListObjects / ListObjectsV2: keys with the prefix after the marker (in
        UTF-8 binary order), those sharing a part up to the delimiter rolled into one common
        prefix, at most max_keys entries. NoSuchBucket / InvalidBucketName."""
        marker_b = marker.encode()
        page = Listing()
        for key in self.list_object_keys(bucket, prefix):
            if marker and (
                key.encode() <= marker_b or (delimiter and marker.endswith(delimiter) and key.startswith(marker))
            ):
                continue
            common = None
            if delimiter:
                idx = key.find(delimiter, len(prefix))
                if idx >= 0:
                    common = key[: idx + len(delimiter)]
                    if page.common_prefixes and page.common_prefixes[-1] == common:
                        continue
            if len(page.contents) + len(page.common_prefixes) >= max_keys:
                page.truncated = True
                break
            if common is not None:
                page.common_prefixes.append(common)
                page.last = common
            else:
                info = self.info_for_listing(bucket, key)
                if info is None:
                    continue
                page.contents.append(info)
                page.last = key
        return page

    def info_for_listing(self, bucket: str, key: str) -> ObjectInfo | None:
        """An object's info, or None if it vanished since the directory walk."""
        try:
            path = self.object_path(bucket, key)
            st = path.stat()
        except (OSError, AwsError):
            return None
        return self._info_from_row(bucket, key, path, st)

    # ----------------------------------------------------------------- multipart
    def create_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None,
        metadata: dict[str, str],
        headers: dict[str, str],
        checksum_algorithm: str | None,
        checksum_type: str | None = None,
    ) -> str:
        """CreateMultipartUpload: the new upload id. NoSuchBucket; InvalidArgument for a key
        that cannot be stored. `checksum_algorithm` (lower case) with `checksum_type` (default
        as S3's: FULL_OBJECT for crc64nvme, else COMPOSITE); InvalidRequest for a pair S3
        refuses."""
        self.require_bucket(bucket)
        allowed = CHECKSUM_TYPES.get(checksum_algorithm or "")
        if checksum_algorithm is None:
            if checksum_type is not None:
                raise InvalidRequest(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                )
        elif allowed is not None:  # one localcloud computes; others (SHA512...) are kept, not checked
            if checksum_type is None:
                checksum_type = allowed[0]
            elif checksum_type not in allowed:
                raise InvalidRequest(
                    f"The {checksum_type} checksum type cannot be used with "
                    f"the {checksum_algorithm} checksum algorithm."
                )
        self.object_path(bucket, key)
        upload_id = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
        (self.multipart_root / upload_id).mkdir(parents=True)
        self._sql(
            "INSERT INTO uploads(upload_id, bucket, key, created, content_type, metadata, headers, "
            "checksum_algorithm, checksum_type) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                upload_id,
                bucket,
                key,
                dt.datetime.now().timestamp(),
                content_type,
                json.dumps(metadata),
                json.dumps(headers),
                checksum_algorithm,
                checksum_type,
            ),
        )
        return upload_id

    def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        """An open upload of that bucket and key; NoSuchBucket, NoSuchUpload."""
        self.require_bucket(bucket)
        rows = self._sql(
            "SELECT upload_id, bucket, key, created, content_type, metadata, headers, "
            "checksum_algorithm, checksum_type FROM uploads WHERE upload_id=?",
            (upload_id,),
        )
        if not rows or rows[0][1] != bucket or rows[0][2] != key:
            raise NoSuchUpload(
                f"The specified multipart upload does not exist: {upload_id}. It may have been aborted or completed."
            )
        r = rows[0]
        return Upload(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]), r[7], r[8])

    def list_uploads(self, bucket: str, prefix: str = "") -> list[Upload]:
        """ListMultipartUploads: the bucket's open uploads of keys with the prefix, by key then age."""
        self.require_bucket(bucket)
        rows = self._sql(
            "SELECT upload_id, bucket, key, created, content_type, metadata, headers, "
            "checksum_algorithm, checksum_type FROM uploads WHERE bucket=? ORDER BY key, created",
            (bucket,),
        )
        return [
            Upload(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]), r[7], r[8])
            for r in rows
            if r[2].startswith(prefix)
        ]

    def upload_part(
        self, bucket: str, key: str, upload_id: str, *, number: int, data: bytes, checksums: dict[str, str]
    ) -> Part:
        """UploadPart: store (or replace) part `number` (1..10000, else InvalidArgument);
        NoSuchUpload. `checksums` are the part's verified x-amz-checksum-* values; a part of an
        upload created with a checksum algorithm that carries another algorithm's checksum is
        InvalidRequest, as in LocalStack's AWS-recorded snapshots."""
        upload = self.get_upload(bucket, key, upload_id)
        if not 1 <= number <= 10000:
            raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
        expected = upload.checksum_algorithm
        if expected in CHECKSUM_TYPES and checksums and expected not in checksums:
            raise InvalidRequest(
                f"Checksum Type mismatch occurred, expected checksum Type: {expected}, "
                f"actual checksum Type: {next(iter(checksums))}"
            )
        folder = self.multipart_root / upload_id
        tmp = folder / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        tmp.write_bytes(data)
        os.replace(tmp, folder / str(number))
        part = Part(number, f'"{hashlib.md5(data).hexdigest()}"', len(data), dt.datetime.now().timestamp(), checksums)
        self._sql(
            "INSERT OR REPLACE INTO parts(upload_id, part_number, etag, size, modified, checksums) "
            "VALUES (?,?,?,?,?,?)",
            (upload_id, number, part.etag, part.size, part.modified, json.dumps(checksums)),
        )
        return part

    def list_parts(self, upload_id: str) -> list[Part]:
        """The upload's parts by number (none for an unknown id)."""
        rows = self._sql(
            "SELECT part_number, etag, size, modified, checksums FROM parts WHERE upload_id=? ORDER BY part_number",
            (upload_id,),
        )
        return [Part(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def complete_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        requested: list[tuple[int, str]],
        part_checksums: dict[int, dict[str, str]] | None = None,
        checksum_type: str | None = None,
        full_checksums: dict[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> ObjectInfo:
        """Join the named parts into the object; ETag is md5(concatenated part md5s)-<count>.

        `part_checksums` are the request's x-amz-checksum values per part (algorithm -> base64),
        `checksum_type` its x-amz-checksum-type and `full_checksums` its whole-object checksum
        headers. With an upload created with a checksum algorithm (source: "Checking object
        integrity", Amazon S3 User Guide, and LocalStack's AWS-recorded snapshots): a COMPOSITE
        upload needs every part's checksum (InvalidRequest naming the first missing part), a part
        checksum that is not the one stored is InvalidPart, and the object's checksum is the
        algorithm over the concatenated part checksums, `<base64>-<count>`; a FULL_OBJECT upload's
        is the checksum of the whole content (BadDigest if the request's differs). Preconditions
        (If-Match / If-None-Match) as put_object; the upload stays open when one fails."""
        upload = self.get_upload(bucket, key, upload_id)
        if if_match is not None or if_none_match is not None:
            self.check_write_preconditions(bucket, key, if_match=if_match, if_none_match=if_none_match)
        stored = {p.number: p for p in self.list_parts(upload_id)}
        if not requested:
            raise MalformedXML(
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        numbers = [n for n, _ in requested]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise InvalidPartOrder(
                "The list of parts was not in ascending order. Parts must be ordered by part number."
            )
        # Only the algorithms localcloud computes are checked (others: as before, not at all).
        algorithm = upload.checksum_algorithm if upload.checksum_algorithm in CHECKSUM_TYPES else None
        if checksum_type is not None and checksum_type != upload.checksum_type:
            raise InvalidRequest(
                f"The upload was created using the {upload.checksum_type or 'null'} checksum mode. "
                "The complete request must use the same checksum mode."
            )
        part_checksums = part_checksums or {}
        parts = []
        for number, etag in requested:
            part = stored.get(number)
            given = part_checksums.get(number, {})
            if (
                part is None
                or (etag and etag.strip('"') != part.etag.strip('"'))
                or (algorithm is None and given)
                or (algorithm is not None and algorithm in given and given[algorithm] != part.checksums.get(algorithm))
            ):
                raise InvalidPart(
                    "One or more of the specified parts could not be found. "
                    f"The part may not have been uploaded, or the specified entity tag may "
                    f"not match the part's entity tag (part {number})."
                )
            if algorithm is not None and algorithm not in given:
                other = next(iter(given), None)
                if other is not None:
                    raise BadDigest(f"The {other} you specified for part {number} did not match what we received.")
                if upload.checksum_type == "COMPOSITE":
                    raise InvalidRequest(
                        f"The upload was created using a {algorithm} checksum. The complete request must "
                        f"include the checksum for each part. It was missing for part {number} in the request."
                    )
            parts.append(part)
        for part in parts[:-1]:
            if part.size < 5 * 1024 * 1024:
                raise EntityTooSmall(
                    "Your proposed upload is smaller than the minimum "
                    f"allowed object size (part {part.number} is {part.size} bytes)."
                )
        checksums: dict[str, str] = {}
        if algorithm is not None and upload.checksum_type == "COMPOSITE":
            if any(algorithm not in p.checksums for p in parts):
                missing = next(p.number for p in parts if algorithm not in p.checksums)
                raise InvalidPart(
                    "One or more of the specified parts could not be found. The part may not have been "
                    f"uploaded with a {algorithm} checksum (part {missing})."
                )
            joined = b"".join(base64.b64decode(p.checksums[algorithm]) for p in parts)
            composite = checksum(algorithm, joined)
            if composite is not None:
                checksums[algorithm] = f"{composite}-{len(parts)}"
        digest = hashlib.md5(b"".join(bytes.fromhex(p.etag.strip('"')) for p in parts))
        etag = f'"{digest.hexdigest()}-{len(parts)}"'
        folder = self.multipart_root / upload_id
        whole = None
        if algorithm is not None and upload.checksum_type == "FULL_OBJECT":
            whole = running_checksum(algorithm)  # None: an algorithm localcloud cannot compute

        if whole is None and algorithm is not None and upload.checksum_type == "FULL_OBJECT":
            # crc32c over a large object / crc64nvme: localcloud cannot compute it, so the
            # client's whole-object value is kept unverified (as payload.checksum does).
            if (full_checksums or {}).get(algorithm):
                checksums[algorithm] = (full_checksums or {})[algorithm]

        def chunks() -> Iterator[bytes]:
            for part in parts:
                with open(folder / str(part.number), "rb") as f:
                    while chunk := f.read(_COPY_CHUNK):
                        if whole is not None:
                            whole.update(chunk)
                        yield chunk
            if whole is not None and algorithm is not None:
                value = whole.value()
                expected = (full_checksums or {}).get(algorithm)
                if expected is not None and expected != value:
                    raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
                checksums[algorithm] = value

        info = self.put_object(
            bucket,
            key,
            chunks(),
            content_type=upload.content_type,
            metadata=upload.metadata,
            headers=upload.headers,
            etag=etag,
            checksums=checksums,
            parts=[p.size for p in parts],
            part_checksums=(
                [{algorithm: p.checksums[algorithm]} for p in parts]
                if algorithm is not None and upload.checksum_type == "COMPOSITE"
                else None
            ),
            checksum_type=upload.checksum_type if algorithm is not None else None,
            if_match=if_match,
            if_none_match=if_none_match,
        )
        self._drop_upload(upload_id)
        return info

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """AbortMultipartUpload: drop the upload and its parts; NoSuchUpload."""
        self.get_upload(bucket, key, upload_id)
        self._drop_upload(upload_id)

    def _drop_upload(self, upload_id: str) -> None:
        self._sql("DELETE FROM parts WHERE upload_id=?", (upload_id,))
        self._sql("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
        shutil.rmtree(self.multipart_root / upload_id, ignore_errors=True)

    # ----------------------------------------------------------------- job data (files in, files out)
    # Other services reach objects through these, never through a path of their own: staging a
    # job's inputs and outputs is a file copy, not an HTTP round trip. Their errors are
    # ObjectStoreError (a missing bucket or object, or a URI that cannot be used) for the
    # caller to report.
    @staticmethod
    def split_uri(uri: str) -> tuple[str, str]:
        """(bucket, key or prefix) of an s3:// URI taken from a request: a bucket S3 would accept
        (so never '..', '.x' or 'a/b') and a key or prefix S3 would accept (any string of at
        most 1024 UTF-8 bytes: '.', '..' and empty segments are plain characters of a key, as on
        S3). Every S3 URI a client sends (S3Uri, ModelDataUrl, S3OutputPath, DestinationS3Uri...)
        goes through here. ObjectStoreError otherwise."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise ObjectStoreError(f"{uri!r} is not an s3:// URI")
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise ObjectStoreError(f"{uri!r} names no bucket")
        try:
            validate_bucket_name(bucket)
        except InvalidBucketName:
            raise ObjectStoreError(f"{uri!r}: {bucket!r} is not a valid S3 bucket name") from None
        if key:
            try:
                validate_key(key)
            except AwsError as exc:
                raise ObjectStoreError(f"{uri!r}: {exc.message}") from None
        return bucket, key

    def _store_require_bucket(self, bucket: str) -> Path:
        if not self.bucket_exists(bucket):
            raise ObjectStoreError(f"bucket {bucket} does not exist")
        return self.root / bucket

    def _store_object(self, uri: str) -> tuple[str, str, Path]:
        """(bucket, key, file) of the object a URI names, in an existing bucket."""
        bucket, key = self.split_uri(uri)
        self._store_require_bucket(bucket)
        if not key:
            raise ObjectStoreError(f"{uri!r} names no object key")
        return bucket, key, self.object_path(bucket, key)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key with the prefix, in S3's order. ObjectStoreError for a missing bucket."""
        self._store_require_bucket(bucket)
        return self.list_object_keys(bucket, prefix)

    def has_object(self, uri: str) -> bool:
        """Whether the object a URI names exists. ObjectStoreError for a URI that cannot be."""
        return self._store_object(uri)[2].is_file()

    def has_prefix(self, uri: str) -> bool:
        """Whether any object's key starts with the URI's prefix (a multi-model endpoint's
        ModelDataUrl). ObjectStoreError for a URI that cannot be one."""
        bucket, prefix = self.split_uri(uri)
        return bool(self.list_keys(bucket, prefix))

    def object_files(self, uri: str, suffix: str = "") -> list[Path]:
        """The files of the objects under an S3 prefix whose keys end with `suffix`, in key
        order, to be read (never written) by a reader that needs paths (DuckDB over the offline
        store's Parquet). Empty when the bucket or prefix holds none."""
        bucket, prefix = self.split_uri(uri)
        if not self.bucket_exists(bucket):
            return []
        return [self.object_path(bucket, key) for key in self.list_object_keys(bucket, prefix) if key.endswith(suffix)]

    def download(self, uri: str, destination: Path) -> int:
        """Copy every object under an S3 prefix into destination (SageMaker's S3Prefix staging:
        the key's part after the prefix is the path under destination); returns how many.
        Keys ending in '/' (folder markers, as the S3 console creates) are not files and are
        skipped. ObjectStoreError when there is no object, or when a key's part after the prefix
        cannot be a file path under destination (an empty, '.' or '..' segment; a key that is
        also the folder of another key: `k` beside `k/x`), naming the key."""
        bucket, prefix = self.split_uri(uri)
        keys = [k for k in self.list_keys(bucket, prefix) if not k.endswith("/")]
        if not keys:
            raise ObjectStoreError(f"No S3 objects found under S3 URL {uri}")
        targets: dict[tuple[str, ...], str] = {}
        for key in keys:
            parts = tuple(_relative(key, prefix).split("/"))
            if any(p in ("", ".", "..") for p in parts) or any("\x00" in p for p in parts):
                raise ObjectStoreError(
                    f"s3://{bucket}/{key} cannot be staged under {uri}: its path after the prefix "
                    f"({'/'.join(parts)!r}) has an empty, '.' or '..' segment"
                )
            targets[parts] = key
        for parts, key in targets.items():
            for i in range(1, len(parts)):
                if parts[:i] in targets:
                    raise ObjectStoreError(
                        f"s3://{bucket}/{targets[parts[:i]]} and s3://{bucket}/{key} cannot both be "
                        f"staged under {uri}: a file cannot also be a folder"
                    )
        destination.mkdir(parents=True, exist_ok=True)
        for parts, key in targets.items():
            target = destination.joinpath(*parts)
            make_folders(target.parent)
            try:
                shutil.copyfile(self.object_path(bucket, key), target)
            except FileNotFoundError:
                raise ObjectStoreError(f"object s3://{bucket}/{key} was deleted while it was staged") from None
        return len(targets)

    def put_file(self, source: Path, uri: str, *, move: bool = False) -> None:
        """Store a file as the object uri names, atomically (a staging copy, then a rename);
        `move`: rename `source` itself into place (it must be on the state directory's file
        system; a copy otherwise). ObjectStoreError for a missing bucket or a key S3 refuses."""
        bucket, key, target = self._store_object(uri)
        self.staging.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.staging, prefix="upload-")
        os.close(fd)
        try:
            if move:
                try:
                    os.replace(source, tmp)
                except OSError:
                    shutil.copyfile(source, tmp)
            else:
                shutil.copyfile(source, tmp)
            with self._write_lock:  # delete_object prunes empty folders under this lock
                make_folders(target.parent)
                os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def upload_dir(self, source: Path, uri: str) -> int:
        """Copy every file under source to the S3 prefix uri (as SageMaker uploads an output);
        returns how many (0 when source is not a folder)."""
        if not source.is_dir():
            return 0
        base = uri.rstrip("/")
        count = 0
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            self.put_file(path, f"{base}/{path.relative_to(source).as_posix()}")
            count += 1
        return count

    def open_append(self, uri: str) -> IO[str]:
        """The object uri names, opened for appending text (UTF-8) and created if missing: data
        capture's files, which grow by a line per request until the hour ends. Readers see it
        as an object from its first flushed line. ObjectStoreError for a missing bucket or a key
        S3 refuses."""
        _, _, path = self._store_object(uri)
        with self._write_lock:
            make_folders(path.parent)
            return open(path, "a", encoding="utf-8")

    def read_bytes(self, uri: str) -> bytes:
        """The content of the object uri names; ObjectStoreError if it is not there."""
        _, _, path = self._store_object(uri)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectStoreError(f"object {uri} does not exist") from None

    def read_json(self, uri: str) -> Any:
        """The object uri names, parsed as JSON; ObjectStoreError if missing or not JSON."""
        data = self.read_bytes(uri)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ObjectStoreError(f"object {uri} is not valid JSON: {exc}") from None


def _relative(key: str, prefix: str) -> str:
    # SageMaker's S3Prefix staging: the part of the key after the prefix, or for a prefix
    # that is the whole key, the object's file name.
    rest = key[len(prefix) :]
    if not rest:
        return key.rsplit("/", 1)[-1]
    if prefix.endswith("/"):
        return rest
    if rest.startswith("/"):
        return rest[1:]  # one separator: 'in//x' under 'in' keeps its empty segment
    # prefix ends mid-name ("data/train" matching "data/train_b/x"): keep that last segment
    return key[len(prefix.rsplit("/", 1)[0]) + 1 :] if "/" in prefix else key


def _md5_file(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_COPY_CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


iso8601 = _iso
