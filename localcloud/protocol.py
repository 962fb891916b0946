"""Requests and responses as localcloud's services see them, and AWS's error wire shapes."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from localcloud.errors import AwsError, SerializationException


@dataclass
class Request:
    method: str
    raw_path: str  # as sent, percent-encoded, without the query
    raw_query: str
    headers: Message
    body: bytes
    service: str  # the SigV4 signing name: s3, sagemaker, sts, iam, events
    region: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    access_key: str | None = None  # the signing access key
    principal: str | None = None  # the role a role-session key signs for; None: the administrator
    # S3 aws-chunked uploads: checks one chunk's data against its chunk-signature, in order
    # (None when the request is not a signed chunked upload).
    verify_chunk: Callable[[bytes, str], None] | None = None
    verify_trailer: Callable[[bytes, str], None] | None = None

    @property
    def path(self) -> str:
        return unquote(self.raw_path)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_body(request: Request) -> dict[str, Any]:
    """A JSON-protocol request's parameters; AWS's SerializationException when they aren't."""
    body = request.body or b"{}"
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        # botocore gzips large bodies of operations with the requestcompression trait
        # (CloudWatch PutMetricData), as AWS accepts.
        import gzip

        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            raise SerializationException("Request body is not valid gzip") from None
    try:
        # JSON on AWS's wire is UTF-8; json.loads(bytes) would also guess UTF-16/32.
        params = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SerializationException(f"Request body is not valid UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise SerializationException("Request body is nested too deeply") from None
    except ValueError:
        raise SerializationException("Request body is not valid JSON") from None
    if not isinstance(params, dict):
        raise SerializationException("Request body must be a JSON object")
    return params


def _json_default(value: Any) -> Any:
    # The JSON protocols send timestamps as epoch seconds.
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(payload: dict[str, Any] | None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload if payload is not None else {}, default=_json_default).encode()
    return Response(status, body, {"Content-Type": "application/x-amz-json-1.1", **(headers or {})})


def json_error(error: AwsError) -> Response:
    """The JSON and REST-JSON protocols' error shape (botocore reads either place)."""
    body = {"__type": error.code, "message": error.message, "Message": error.message}
    return Response(
        error.status,
        json.dumps(body).encode(),
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": error.code},
    )


def query_error(error: AwsError, request_id: str) -> Response:
    """The query protocol's (STS, IAM) error shape."""
    kind = "Sender" if error.sender else "Receiver"
    body = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(error.code)}</Code>"
        f"<Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(error.status, body.encode(), {"Content-Type": "text/xml"})


def xml_error(error: AwsError, request_id: str, resource: str = "", message: str | None = None) -> Response:
    """S3's error shape; `message` (default: the error's) as S3 should show it."""
    message = error.message if message is None else message
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(error.code)}</Code>'
        f"<Message>{escape(message)}</Message><Resource>{escape(resource)}</Resource>"
        f"<RequestId>{request_id}</RequestId></Error>"
    )
    return Response(error.status, body.encode(), {"Content-Type": "application/xml"})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
