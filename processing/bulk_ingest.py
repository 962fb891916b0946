"""Bulk ingest into a localcloud feature group — the local provider of `feature_ingest.ingest`:
Arrow IPC batches POSTed to localcloud's extension route
(`POST /localcloud/FeatureGroup/<name>/records`), SigV4-signed with botocore as service
`sagemaker` like the other feature-store runtime calls. A client over HTTP only: job code
imports nothing of localcloud (it runs alone in a container on AWS)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

BATCH_ROWS = 50_000


class BulkIngestError(RuntimeError):
    """The server refused a batch; the message is the server's."""


def _credentials(credentials: Any):
    from botocore.credentials import Credentials

    if isinstance(credentials, Credentials) or hasattr(credentials, "get_frozen_credentials"):
        return credentials
    if isinstance(credentials, dict):
        return Credentials(credentials["access_key"], credentials["secret_key"], credentials.get("token"))
    access, secret, *token = credentials
    return Credentials(access, secret, token[0] if token else None)


def bulk_ingest(
    frame,
    feature_group_name: str,
    *,
    endpoint_url: str,
    region: str,
    credentials: Any,
    batch_rows: int = BATCH_ROWS,
    timeout: float = 300,
) -> int:
    """Ingest a pandas DataFrame (columns = feature names); returns the records ingested.
    `credentials`: botocore Credentials, (access_key, secret_key[, token]) or a dict."""
    import pyarrow as pa
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    creds = _credentials(credentials)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    url = f"{endpoint_url.rstrip('/')}/localcloud/FeatureGroup/{quote(feature_group_name, safe='')}/records"
    total = 0
    for start in range(0, max(table.num_rows, 1), batch_rows):
        batch = table.slice(start, batch_rows)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_table(batch)
        body = sink.getvalue().to_pybytes()
        aws_request = AWSRequest(
            "POST", url, data=body, headers={"Content-Type": "application/vnd.apache.arrow.stream"}
        )
        SigV4Auth(creds, "sagemaker", region).add_auth(aws_request)
        request = urllib.request.Request(url, data=body, method="POST", headers=dict(aws_request.headers.items()))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                total += json.loads(response.read())["RecordCount"]
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            try:
                payload = json.loads(detail)
                detail = f"{payload.get('__type', error.code)}: {payload.get('message', detail)}"
            except ValueError:
                pass
            raise BulkIngestError(f"bulk ingest into {feature_group_name} failed at row {start}: {detail}") from None
    return total
