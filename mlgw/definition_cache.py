"""Compiled pipeline definitions, cached by everything they are built from, so a local run
skips the SageMaker SDK (seconds to import, seconds to build) when nothing it reads changed.

An entry is what one SDK build produced: the definition JSON and the S3 objects the build
uploaded (the processing package, each step's script, the training source and the serving
archive, which the definition refers to by URI). A hit re-uploads those objects, byte for byte,
to the same keys, then the caller upserts the definition through the SageMaker API, so the
pipeline a state directory holds is the one a fresh build would have given it.

The key (`key()`) covers: the name and build arguments (region, role, bucket...), every file
under the project's pipeline and job-code folders (PACKAGES), the versions of the installed
SageMaker SDK distributions, and Python's version. Anything else a build depends on is one of
these (the SDK's image URIs come with its version; the account is in the role's ARN).

Location: $MLGW_DEFINITION_CACHE, else $XDG_CACHE_HOME/mlgw/definitions, else
~/.cache/mlgw/definitions; `MLGW_DEFINITION_CACHE=off` builds every time. Entries are written
to a temporary folder and renamed into place, so concurrent runs never read half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
# What a definition is built from: the pipeline definitions and the job code they upload.
PACKAGES = ("pipelines", "processing", "training", "inference", "monitoring")
CACHE_ENV = "MLGW_DEFINITION_CACHE"
FORMAT = 2  # bump when an entry's layout changes


def location() -> Path | None:
    """The cache folder, or None when caching is off."""
    configured = os.environ.get(CACHE_ENV, "")
    if configured.lower() in ("off", "0", "false", "no"):
        return None
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlgw" / "definitions"


def _source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def _sdk_versions() -> dict[str, str]:
    # From the installed distributions' metadata: no import of the SDK itself.
    return {
        dist.metadata["Name"]: dist.version
        for dist in metadata.distributions()
        if (dist.metadata["Name"] or "").lower().startswith("sagemaker")
    }


def key(name: str, build_args: dict[str, object]) -> str:
    """A hex digest of everything the definition of pipeline `name` built with `build_args`
    (JSON-serialisable) depends on."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            {
                "format": FORMAT,
                "name": name,
                "args": build_args,
                "sdk": sorted(_sdk_versions().items()),
                "python": sys.version_info[:3],
            },
            sort_keys=True,
        ).encode()
    )
    for path in _source_files():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@dataclass
class Upload:
    bucket: str
    key: str
    body: bytes


@dataclass
class Entry:
    """One SDK build: the definition and the objects it uploaded, in upload order."""

    definition: str
    uploads: list[Upload] = field(default_factory=list)

    def replay(self, s3) -> None:
        """Put every object the build uploaded back where the definition expects it."""
        for upload in self.uploads:
            s3.put_object(Bucket=upload.bucket, Key=upload.key, Body=upload.body)


def load(digest: str) -> Entry | None:
    """The entry for `digest`, or None (no cache, no entry, or an unreadable one)."""
    folder = location()
    if folder is None or not (folder / digest / "entry.json").is_file():
        return None
    try:
        meta = json.loads((folder / digest / "entry.json").read_text())
        uploads = []
        for item in meta["uploads"]:
            body = (folder / digest / item["file"]).read_bytes()
            if hashlib.sha256(body).hexdigest() != item["sha256"]:
                return None  # changed on disk since it was stored
            uploads.append(Upload(item["bucket"], item["key"], body))
        return Entry(meta["definition"], uploads)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged entry is a miss; the build that follows replaces it


def store(digest: str, entry: Entry) -> None:
    """Save `entry` under `digest` (atomically; a failure to write only costs the next build)."""
    folder = location()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=folder))
        files = []
        for number, upload in enumerate(entry.uploads):
            name = f"upload-{number}"
            (staging / name).write_bytes(upload.body)
            files.append(
                {
                    "bucket": upload.bucket,
                    "key": upload.key,
                    "file": name,
                    "sha256": hashlib.sha256(upload.body).hexdigest(),
                }
            )
        (staging / "entry.json").write_text(json.dumps({"definition": entry.definition, "uploads": files}))
        target = folder / digest
        if target.exists():  # a damaged entry (load missed it): move it aside, then replace it
            aside = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-old-", dir=folder))
            try:
                target.rename(aside / "entry")
            except OSError:
                pass  # another run is replacing it too
            shutil.rmtree(aside, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:  # another run stored the same entry first
            shutil.rmtree(staging, ignore_errors=True)
    except OSError:
        return


@contextmanager
def recording_uploads(boto_session) -> Iterator[list[tuple[str, str]]]:
    """(bucket, key) of every object put through clients made from `boto_session` in the block
    (PutObject, and the multipart uploads s3transfer uses for large files), in order."""
    seen: list[tuple[str, str]] = []

    def record(params, **_):
        seen.append((params["Bucket"], params["Key"]))

    events = boto_session.events
    handlers: list[tuple[str, Callable]] = [
        ("provide-client-params.s3.PutObject", record),
        ("provide-client-params.s3.CreateMultipartUpload", record),
    ]
    for event, handler in handlers:
        events.register(event, handler)
    try:
        yield seen
    finally:
        for event, handler in handlers:
            events.unregister(event, handler)


def capture(s3, definition: str, uploaded: list[tuple[str, str]]) -> Entry:
    """The entry of a build that compiled `definition` after uploading `uploaded`: each
    object's bytes as the object store now holds them (the last write of a key wins)."""
    return Entry(
        definition,
        [
            Upload(bucket, key_, s3.get_object(Bucket=bucket, Key=key_)["Body"].read())
            for bucket, key_ in dict.fromkeys(uploaded)
        ],
    )


# The SDK's rule (Pipeline._create_args): a definition of 100 KiB or more goes through S3.
INLINE_DEFINITION_LIMIT = 100 * 1024


def upsert(sm, s3, name: str, definition: str, role_arn: str, description: str, bucket: str) -> str:
    """Create pipeline `name` or update its definition, with the requests the SDK's
    Pipeline.upsert sends (CreatePipeline, or UpdatePipeline when DescribePipeline finds it
    already exists; the SDK tries the create first); its ARN."""
    kwargs: dict[str, Any] = {"PipelineName": name, "RoleArn": role_arn, "PipelineDescription": description}
    if len(definition.encode()) < INLINE_DEFINITION_LIMIT:
        kwargs["PipelineDefinition"] = definition
    else:
        s3.put_object(Bucket=bucket, Key=name, Body=definition.encode())
        kwargs["PipelineDefinitionS3Location"] = {"Bucket": bucket, "ObjectKey": name}
    try:
        sm.describe_pipeline(PipelineName=name)
    except sm.exceptions.ResourceNotFound:
        return sm.create_pipeline(**kwargs)["PipelineArn"]
    return sm.update_pipeline(**kwargs)["PipelineArn"]


class BuiltPipeline(Protocol):
    """What a build gives: the SageMaker SDK's Pipeline, of which the cache needs the JSON."""

    def definition(self) -> str: ...


def ensure_pipeline(
    session,
    s3,
    sm,
    *,
    name: str,
    build_args: dict[str, object],
    build: Callable[[Any], BuiltPipeline],
    role_arn: str,
    description: str,
    bucket: str,
    phases,
) -> str:
    """Pipeline `name` upserted with the definition `build(session)` gives (an SDK Pipeline,
    built with clients of `session`), from the cache when an identical build was made before;
    its ARN. `phases` (mlgw.progress.Phases) reports each part. The build's errors (the SDK's
    ValueError, a ClientError from localcloud) propagate; nothing is cached then."""
    digest = key(name, build_args)
    entry = load(digest)
    if entry is not None:
        with phases(f"uploading {name}'s code (definition cached: same code, same SDK)"):
            entry.replay(s3)
    else:
        from pipelines.ml_gateway import run_pipeline

        if "pipelines.ml_gateway.pipeline" not in sys.modules:
            with phases("importing the SageMaker SDK"):
                from pipelines.ml_gateway import pipeline as _sdk  # noqa: F401  (the SDK's import)
        with phases(f"building {name}'s steps and uploading their code"):
            with recording_uploads(session) as uploaded:
                pipeline = build(session)
            with run_pipeline.quiet_sdk():
                definition = pipeline.definition()
            entry = capture(s3, definition, uploaded)
            store(digest, entry)
    with phases(f"upserting the definition of {name}"):
        return upsert(sm, s3, name, entry.definition, role_arn, description, bucket)
