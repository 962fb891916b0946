"""The HTTP layer every localcloud request crosses: authentication (SigV4) and framing.

AWS behaviour reproduced, from AWS's documentation:
- "Elements of an AWS API request signature" / "Signing AWS API requests" (IAM User Guide):
  a signature more than 15 minutes from the server's clock is refused ("Signature expired"
  / S3 RequestTimeTooSkewed), and its credential scope must name the region called.
- "Authenticating Requests: Using the Authorization Header (AWS Signature Version 4)" and
  "Signature Calculations for the Authorization Header: Transferring Payload in Multiple
  Chunks (Chunked Upload)" (Amazon S3 API Reference): every chunk of a
  STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload carries a chunk-signature chained from the seed
  signature; a wrong one is SignatureDoesNotMatch and nothing is stored.
- RFC 9112 section 6.3: conflicting Content-Length values and invalid chunk sizes are
  unrecoverable framing errors (400, close); a body the server does not read must not be
  taken for the next request.
The framing cases talk raw sockets, as an attacker would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import socket
import time

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError


def _address(localcloud) -> tuple[str, int]:
    return localcloud.server_address[:2]


def _signed(
    localcloud,
    body: bytes,
    target: str = "SageMaker.ListEndpoints",
    region: str = "us-east-1",
    extra: dict | None = None,
) -> dict[str, str]:
    host, port = _address(localcloud)
    request = AWSRequest(
        method="POST",
        url=f"http://{host}:{port}/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target, **(extra or {})},
    )
    SigV4Auth(Credentials("test", "test"), "sagemaker", region).add_auth(request)
    return {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}


def _post(localcloud, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(*_address(localcloud), timeout=10)
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    out = response.read()
    conn.close()
    return response.status, json.loads(out or b"{}")


def _raw(localcloud, data: bytes, wait: float = 2.0) -> bytes:
    """Send bytes, return everything the server answers until it closes or goes quiet."""
    with socket.create_connection(_address(localcloud), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offset", [dt.timedelta(days=-1), dt.timedelta(days=-3 * 365), dt.timedelta(days=1), dt.timedelta(minutes=16)]
)
def test_signature_outside_15_minutes_is_refused(client, monkeypatch, offset):
    signed_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + offset
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at)
    with pytest.raises(ClientError) as error:
        client("sagemaker").list_endpoints()
    assert error.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "Signature expired" in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as error:
        client("s3").list_buckets()
    assert error.value.response["Error"]["Code"] == "RequestTimeTooSkewed"


def test_signature_within_15_minutes_is_accepted(client, monkeypatch):
    signed_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=14)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at)
    assert client("sagemaker").list_endpoints()["Endpoints"] == []


def test_signature_scoped_to_another_region_is_refused(localcloud):
    import boto3
    from botocore.config import Config as BotoConfig

    for service, code in (("sagemaker", "InvalidSignatureException"), ("s3", "AuthorizationHeaderMalformed")):
        other = boto3.client(
            service,
            endpoint_url=localcloud.url,
            region_name="us-west-2",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=BotoConfig(retries={"max_attempts": 1}),
        )
        with pytest.raises(ClientError) as error:
            other.list_buckets() if service == "s3" else other.list_endpoints()
        assert error.value.response["Error"]["Code"] == code
        assert "us-west-2" in error.value.response["Error"]["Message"]


def test_json_body_cannot_be_replaced_under_an_unsigned_content_hash(localcloud):
    """The captured request signed its body's hash; a new body sent with that hash in an
    (unsigned) X-Amz-Content-SHA256 header must not pass as the client's."""
    original = b"{}"
    headers = _signed(localcloud, original)
    assert _post(localcloud, original, headers)[0] == 200
    forged = json.dumps({"NameContains": "x"}).encode()
    headers["X-Amz-Content-SHA256"] = hashlib.sha256(original).hexdigest()
    status, body = _post(localcloud, forged, headers)
    assert status == 403 and body["__type"] == "SignatureDoesNotMatch"


def test_verified_access_key_is_on_the_request(localcloud, monkeypatch):
    seen = []
    import localcloud.server as server_module

    real = server_module.route
    monkeypatch.setattr(
        server_module, "route", lambda cloud, request: seen.append(request.access_key) or real(cloud, request)
    )
    assert _post(localcloud, b"{}", _signed(localcloud, b"{}"))[0] == 200
    assert seen == ["test"]


def _chunked_put(localcloud, chunks: list[bytes], tamper: bool = False) -> tuple[int, bytes]:
    """A signed aws-chunked PutObject built by hand, as the S3 docs' example does."""
    host, port = _address(localcloud)
    decoded = sum(len(c) for c in chunks)
    request = AWSRequest(
        method="PUT",
        url=f"http://{host}:{port}/chunky/object.bin",
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(decoded),
            "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        },
    )

    class StreamingSigner(botocore.auth.S3SigV4Auth):
        def payload(self, request):
            return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    StreamingSigner(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    timestamp = request.context["timestamp"]
    # The signing key and seed, derived independently of localcloud's code.
    key = "AWS4test".encode()
    for part in (timestamp[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    previous = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = f"{timestamp[:8]}/us-east-1/s3/aws4_request"
    body = b""
    for data in [*chunks, b""]:
        sts = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                timestamp,
                scope,
                previous,
                hashlib.sha256(b"").hexdigest(),
                hashlib.sha256(data).hexdigest(),
            ]
        )
        signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        previous = signature
        if tamper and data:
            data = data[:-1] + b"X"
        body += f"{len(data):x};chunk-signature={signature}\r\n".encode() + data + b"\r\n"
    headers = {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("PUT", "/chunky/object.bin", body=body, headers=headers)
    response = conn.getresponse()
    out = response.read()
    conn.close()
    return response.status, out


def test_aws_chunked_chunk_signatures_are_checked(localcloud, client):
    s3 = client("s3")
    s3.create_bucket(Bucket="chunky")
    status, body = _chunked_put(localcloud, [b"a" * 70000, b"b" * 100], tamper=True)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    assert s3.list_objects_v2(Bucket="chunky")["KeyCount"] == 0
    status, body = _chunked_put(localcloud, [b"a" * 70000, b"b" * 100])
    assert status == 200, body
    assert s3.get_object(Bucket="chunky", Key="object.bin")["Body"].read() == b"a" * 70000 + b"b" * 100


# -- framing (raw sockets) -------------------------------------------------------------------------


def test_refused_request_body_is_never_parsed_as_the_next_request(localcloud):
    smuggled = b"DELETE /victim HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    reply = _raw(
        localcloud,
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
        + str(len(smuggled)).encode()
        + b"\r\n\r\n"
        + smuggled,
    )
    assert reply.startswith(b"HTTP/1.1 403")
    assert reply.count(b"HTTP/1.1 ") == 1, reply  # one request, one answer


def test_conflicting_content_length_is_refused(localcloud):
    reply = _raw(localcloud, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 400"), reply


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n{}",
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ],
)
def test_malformed_framing_is_400_not_500(localcloud, request_bytes):
    reply = _raw(localcloud, request_bytes)
    assert reply.startswith(b"HTTP/1.1 400"), reply


def test_unsigned_body_is_refused_before_it_is_read(localcloud):
    """400 MB announced, none sent: the 403 must come from the headers alone."""
    started = time.monotonic()
    reply = _raw(
        localcloud, b"PUT /bucket/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 400000000\r\n\r\n", wait=5
    )
    assert reply.startswith(b"HTTP/1.1 403"), reply
    assert time.monotonic() - started < 4


def test_expect_100_continue(localcloud):
    """An unsigned request gets its refusal, never a 100; a signed one is told to go on."""
    reply = _raw(
        localcloud, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", wait=2
    )
    assert reply.startswith(b"HTTP/1.1 403"), reply
    headers = {**_signed(localcloud, b"{}"), "Host": "%s:%d" % _address(localcloud)}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(_address(localcloud), timeout=5) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\n{head}Content-Length: 2\r\nExpect: 100-continue\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 100")
        sock.sendall(b"{}")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_idle_and_half_sent_connections_time_out(localcloud, monkeypatch):
    from localcloud import asgi_server

    monkeypatch.setattr(asgi_server, "READ_TIMEOUT_S", 0.5)
    for partial in (
        b"",
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{",
    ):
        with socket.create_connection(_address(localcloud), timeout=5) as sock:
            if partial:
                sock.sendall(partial)
            started = time.monotonic()
            data = sock.recv(65536)
            while data:  # whatever answer, then the close
                data = sock.recv(65536)
            assert time.monotonic() - started < 3


def test_only_loopback_host_names(localcloud):
    headers = _signed(localcloud, b"{}")
    headers["Host"] = "attacker.example"
    status, body = _post(localcloud, b"{}", headers)
    assert status == 400 and "attacker.example" in body["message"]


def test_oversized_headers_are_400(localcloud):
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(80))  # ~80 KB
    reply = _raw(localcloud, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + filler + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
