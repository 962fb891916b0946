"""SageMaker data capture: each invocation of an endpoint whose config enables capture becomes
one JSON line in SageMaker's capture format, in SageMaker's layout
`<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`.

Source: "Capture data from real-time endpoint" in the SageMaker developer guide. Capture never
fails a request: a write error is logged and the request is answered.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from localcloud.errors import AwsError

log = logging.getLogger("localcloud.hosting")


class CaptureDestinationError(Exception):
    """A capture destination no file can be written under (logged, never on the wire)."""


@dataclass(frozen=True)
class Capture:
    """An endpoint config's DataCaptureConfig, prepared for the hot path."""

    destination: str
    percentage: int
    inputs: bool
    outputs: bool
    csv_types: frozenset[str]
    json_types: frozenset[str]

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> Capture | None:
        if not config or not config.get("EnableCapture", False):
            return None
        modes = {o["CaptureMode"] for o in config.get("CaptureOptions") or []} or {"Input", "Output"}
        header = config.get("CaptureContentTypeHeader") or {}
        return cls(
            config["DestinationS3Uri"],
            config.get("InitialSamplingPercentage", 100),
            "Input" in modes,
            "Output" in modes,
            frozenset(header.get("CsvContentTypes") or ["text/csv"]),
            frozenset(header.get("JsonContentTypes") or ["application/json"]),
        )


def _captured(data: bytes, content_type: str, mode: str, capture: Capture) -> dict[str, Any]:
    kind = content_type.split(";", 1)[0].strip()
    encoding = "CSV" if kind in capture.csv_types else "JSON" if kind in capture.json_types else "BASE64"
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        text = base64.b64encode(data).decode()
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


class CaptureWriter:
    """Appends captured records to one open object per endpoint, variant and hour."""

    def __init__(self, open_append: Callable[[str], IO[str]]):
        """`open_append(uri)`: the object an s3:// URI names, opened for appending text and
        created if missing (SageMakerBackend passes `cloud.s3.open_append`); it raises AwsError
        for a URI it cannot store (a missing bucket, a key S3 refuses)."""
        self._open_append = open_append
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str, str], IO[str]] = {}

    def write(
        self,
        capture: Capture,
        endpoint: str,
        variant: str,
        body: bytes,
        content_type: str | None,
        out_body: bytes,
        out_type: str,
        inference_id: str | None = None,
    ) -> None:
        """Append one record; `inference_id` (InvokeEndpoint's InferenceId) is recorded as
        eventMetadata.inferenceId, as SageMaker does ("Capture data from real-time endpoint")."""
        if capture.percentage < 100 and random.uniform(0, 100) >= capture.percentage:
            return
        when = dt.datetime.now(dt.timezone.utc)
        data: dict[str, Any] = {}
        if capture.inputs:
            data["endpointInput"] = _captured(body, content_type or "application/octet-stream", "INPUT", capture)
        if capture.outputs:
            data["endpointOutput"] = _captured(out_body, out_type, "OUTPUT", capture)
        metadata = {"eventId": str(uuid.uuid4())}
        if inference_id is not None:
            metadata["inferenceId"] = inference_id
        metadata["inferenceTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        line = json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}) + "\n"
        hour = when.strftime("%Y/%m/%d/%H")
        try:
            with self._lock:
                handle = self._file(capture.destination, endpoint, variant, hour, when)
                handle.write(line)
                handle.flush()
        except (OSError, AwsError, CaptureDestinationError) as exc:  # capture never fails a request
            log.warning("data capture for %s failed: %s", endpoint, exc)

    def _file(self, destination: str, endpoint: str, variant: str, hour: str, when: dt.datetime) -> IO[str]:
        key = (destination, f"{endpoint}/{variant}", hour)
        handle = self._files.get(key)
        if handle is None:
            for old in [k for k in self._files if k[:2] == key[:2]]:  # a new hour
                self._files.pop(old).close()
            bucket, prefix = _split_uri(destination)
            name = f"{when.strftime('%M-%S')}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            object_key = "/".join(p for p in (prefix.strip("/"), endpoint, variant, hour, name) if p)
            handle = self._files[key] = self._open_append(f"s3://{bucket}/{object_key}")
        return handle

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise CaptureDestinationError(f"{uri!r} is not an s3:// URI naming a bucket")
    return bucket, prefix
