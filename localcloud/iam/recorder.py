"""The opt-in record of every request localcloud serves, with the principal that signed it,
for the IAM conformance test (tests/test_iam_conformance.py).

Off unless MLGW_IAM_RECORD names a file: then each request appends one JSON line (principal,
service, method, path, query, X-Amz-Target and the body the IAM mapping needs), and localcloud's
services append the calls they make themselves on a role's behalf (a pipeline's steps, an
EventBridge target). Off, the cost on the hot path is one attribute test.
tests.support.iam.actions turns the lines into IAM actions and resources.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

ENV = "MLGW_IAM_RECORD"
_BODY_LIMIT = 4 << 20  # request bodies recorded up to this size (S3 object bodies never)
_HEADERS = ("x-amz-copy-source",)  # headers that change the IAM action (CopyObject)


class Recorder:
    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> "Recorder | None":
        path = os.environ.get(ENV)
        return cls(path) if path else None

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, default=str) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(line)

    def request(self, principal: str, request: Any) -> None:
        """A request as it arrived, after its signature was verified."""
        body = b""
        if request.service != "s3" or (request.method == "POST" and len(request.body) < _BODY_LIMIT):
            body = request.body[:_BODY_LIMIT]
        self._write(
            {
                "kind": "request",
                "principal": principal,
                "service": request.service,
                "method": request.method,
                "path": request.path,
                "query": request.raw_query,
                "target": request.headers.get("X-Amz-Target", ""),
                "headers": {h: request.headers[h] for h in _HEADERS if h in request.headers},
                "body": body.decode("utf-8", errors="replace"),
            }
        )

    def call(self, principal: str, service: str, operation: str, params: dict[str, Any], via: str) -> None:
        """An API call a service makes itself with principal's credentials (no HTTP request)."""
        self._write(
            {
                "kind": "call",
                "principal": principal,
                "service": service,
                "operation": operation,
                "params": params,
                "via": via,
            }
        )


def load(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
