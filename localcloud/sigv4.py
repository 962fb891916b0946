"""Verify AWS Signature Version 4 on incoming requests by recomputing it with botocore's signer."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from functools import lru_cache
from urllib.parse import urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AwsError,
    IncompleteSignature,
    InvalidAccessKeyId,
    InvalidRequest,
    InvalidSignatureException,
    MissingAuthenticationToken,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
    UnrecognizedClientException,
)

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request,\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<sig>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class Scope:
    access_key: str
    region: str
    service: str


def parse_scope(authorization: str | None) -> Scope:
    if not authorization:
        raise MissingAuthenticationToken("Request is missing Authentication Token")
    m = _AUTH_RE.match(authorization.strip())
    if not m:
        raise IncompleteSignature("Authorization header is not a valid SigV4 header")
    return Scope(m["key"], m["region"], m["service"])


_TIMESTAMP = re.compile(r"\d{8}T(?:[01]\d|2[0-3])[0-5]\d[0-5]\dZ")
MAX_SKEW_S = 15 * 60  # AWS: "Signature expired" / RequestTimeTooSkewed beyond 15 minutes


@dataclass(frozen=True)
class Authorization:
    """A SigV4 Authorization header whose key, date and scope have been checked (the signature
    itself needs the body: see `verify_signature`)."""

    scope: Scope
    signed: str  # the SignedHeaders list, as sent
    signature: str
    timestamp: str  # X-Amz-Date


def check_header(headers: Message, access_key: str, region: str, now: float | None = None) -> Authorization:
    """Everything about the request's authentication that needs no body: refuse early.

    AWS's checks, in its order: a SigV4 Authorization header, a known access key, an
    X-Amz-Date within 15 minutes of the server's clock whose date is the credential scope's,
    and a scope naming this region. Sources: "Signing AWS API requests" and "Elements of an
    AWS API request signature" (AWS IAM User Guide); S3's RequestTimeTooSkewed and
    AuthorizationHeaderMalformed ("Error responses", Amazon S3 API Reference).
    """
    authorization = headers.get("Authorization")
    scope = parse_scope(authorization)  # MissingAuthenticationToken when there is none
    assert authorization is not None
    m = _AUTH_RE.match(authorization.strip())
    assert m is not None
    s3 = scope.service == "s3"
    if scope.access_key != access_key:
        raise (InvalidAccessKeyId if s3 else UnrecognizedClientException)(
            "The security token included in the request is invalid."
        )
    timestamp = headers.get("X-Amz-Date")
    if not timestamp:
        raise (AccessDenied if s3 else IncompleteSignature)(
            "AWS authentication requires a valid Date or x-amz-date header"
        )
    try:
        # Not time.strptime: at ~50 us it was the costliest step of checking a header.
        if not _TIMESTAMP.fullmatch(timestamp):
            raise ValueError(timestamp)
        signed_at = calendar.timegm(
            (
                int(timestamp[0:4]),
                int(timestamp[4:6]),
                int(timestamp[6:8]),
                int(timestamp[9:11]),
                int(timestamp[11:13]),
                int(timestamp[13:15]),
                0,
                0,
                0,
            )
        )
    except ValueError:
        raise (AccessDenied if s3 else IncompleteSignature)(
            f"X-Amz-Date {timestamp!r} is not an ISO 8601 basic timestamp (YYYYMMDDTHHMMSSZ)"
        ) from None
    now = time.time() if now is None else now
    if abs(now - signed_at) > MAX_SKEW_S:
        server_time = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        if s3:
            raise RequestTimeTooSkewed(
                "The difference between the request time and "
                f"the current time is too large (request {timestamp}, server "
                f"{server_time})."
            )
        bound = "earlier" if signed_at < now else "later"
        raise InvalidSignatureException(
            f"Signature expired: {timestamp} is now {bound} than the server time {server_time} +/- 15 min."
        )
    if m["date"] != timestamp[:8]:
        raise (AuthorizationHeaderMalformed if s3 else InvalidSignatureException)(
            f"Date in Credential scope ({m['date']}) does not match YYYYMMDD from "
            f"ISO-8601 version of date from HTTP ({timestamp[:8]})"
        )
    if scope.region != region:
        if s3:
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; the region '{scope.region}' is wrong; expecting '{region}'"
            )
        raise InvalidSignatureException(
            f"Credential should be scoped to a valid region, not '{scope.region}'; expecting '{region}'"
        )
    return Authorization(scope, m["signed"], m["sig"], timestamp)


def verify_signature(
    auth: Authorization,
    method: str,
    raw_path: str,
    headers: Message,
    body: bytes,
    secret_key: str,
    header_values: dict[str, list[str]] | None = None,
) -> None:
    """SignatureDoesNotMatch unless the signature is the one the local secret gives.

    `header_values`: lower-cased header name → its values, if the caller has it already.
    The payload hash is the body's own SHA-256 for every service but S3, whatever an
    X-Amz-Content-SHA256 header says (that header is the client's claim; the signature must
    cover the body received). S3 signs the header's value (a hash, UNSIGNED-PAYLOAD or
    STREAMING-*); s3/responses.py then checks a hash against the body and
    `verify_chunks` each aws-chunked chunk's signature.
    """
    scope = auth.scope
    if scope.service == "s3":
        payload_hash = headers.get("X-Amz-Content-SHA256")
        if not payload_hash:
            raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    else:
        payload_hash = hashlib.sha256(body).hexdigest()
    if header_values is None:
        header_values = {}
        for name, value in headers.items():
            header_values.setdefault(name.lower(), []).append(value)
    fast = _fast_signature(
        method, raw_path, header_values, payload_hash, secret_key, scope, auth.signed, auth.timestamp
    )
    if fast is not None:
        if not hmac.compare_digest(fast, auth.signature):
            raise _mismatch()
        return
    signer = _signer(scope, secret_key)
    signed_names = auth.signed.split(";")
    signed_headers = {}
    for name in signed_names:
        values = headers.get_all(name) or []
        signed_headers[name] = ",".join(values)
    request = AWSRequest(
        method=method, url=f"http://{headers.get('Host', '')}{raw_path}", headers=signed_headers, data=body
    )
    request.context["timestamp"] = auth.timestamp
    canonical = _canonical_request(signer, request, signed_names, payload_hash)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, auth.signature):
        raise _mismatch()


def verify(
    method: str,
    raw_path: str,
    headers: Message,
    body: bytes,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
) -> Scope:
    """Raise the error AWS returns unless the request is signed with the local credentials."""
    auth = check_header(headers, access_key, region)
    verify_signature(auth, method, raw_path, headers, body, secret_key)
    return auth.scope


def _signer(scope: Scope, secret_key: str) -> SigV4Auth:
    signer_cls = S3SigV4Auth if scope.service == "s3" else SigV4Auth
    return signer_cls(Credentials(scope.access_key, secret_key), scope.service, scope.region)


# -- S3 aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) ----------------------

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def chunk_verifier(auth: Authorization, secret_key: str) -> Callable[[bytes, str], None]:
    """A function checking each aws-chunked chunk's signature, in order.

    Each chunk signs "AWS4-HMAC-SHA256-PAYLOAD", the request's timestamp and scope, the
    previous signature (the seed: the Authorization header's), the empty string's hash and
    the chunk's hash, with the request's signing key ("Signature calculations for the
    Authorization header: transferring payload in multiple chunks (chunked upload)",
    Amazon S3 API Reference). The HMAC is botocore's signer's, over our string to sign:
    botocore signs chunked uploads only unsigned, so it has no string-to-sign for them.
    """
    scope = auth.scope
    signer = _signer(scope, secret_key)
    context = AWSRequest(method="PUT", url="http://localhost/")
    context.context["timestamp"] = auth.timestamp
    credential_scope = f"{auth.timestamp[:8]}/{scope.region}/{scope.service}/aws4_request"
    previous = [auth.signature]

    def check(data: bytes, signature: str) -> None:
        string_to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                auth.timestamp,
                credential_scope,
                previous[0],
                _EMPTY_SHA256,
                hashlib.sha256(data).hexdigest(),
            )
        )
        expected = signer.signature(string_to_sign, context)
        if not hmac.compare_digest(expected, signature):
            raise _mismatch()
        previous[0] = expected

    check.previous = previous  # type: ignore[attr-defined]
    return check


def trailer_verifier(
    auth: Authorization, secret_key: str, chunks: Callable[[bytes, str], None]
) -> Callable[[bytes, str], None]:
    """For STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: check the x-amz-trailer-signature over
    the canonical trailing headers ("name:value\\n" each), chained after the last chunk's."""
    scope = auth.scope
    signer = _signer(scope, secret_key)
    context = AWSRequest(method="PUT", url="http://localhost/")
    context.context["timestamp"] = auth.timestamp
    credential_scope = f"{auth.timestamp[:8]}/{scope.region}/{scope.service}/aws4_request"

    def check(canonical_trailers: bytes, signature: str) -> None:
        previous = chunks.previous[0]  # type: ignore[attr-defined]
        string_to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256-TRAILER",
                auth.timestamp,
                credential_scope,
                previous,
                hashlib.sha256(canonical_trailers).hexdigest(),
            )
        )
        if not hmac.compare_digest(signer.signature(string_to_sign, context), signature):
            raise _mismatch()

    return check


def _mismatch() -> AwsError:
    return SignatureDoesNotMatch(
        "The request signature we calculated does not match "
        "the signature you provided. Check your AWS Secret Access Key and signing "
        "method."
    )


# -- the hot path: the common request (JSON services, a plain path, no query) without botocore ----
#
# Byte for byte what botocore's SigV4Auth computes for such a request (the general path above
# stays the reference for everything else: S3, query strings, encoded or dotted paths), with the
# derived signing key cached per (secret, date, region, service) as AWS SDKs do.

_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?")
_BLACKLIST = frozenset(SIGNED_HEADERS_BLACKLIST)


@lru_cache(maxsize=64)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _fast_signature(
    method: str,
    raw_path: str,
    header_values: dict[str, list[str]],
    payload_hash: str,
    secret_key: str,
    scope: Scope,
    signed: str,
    timestamp: str,
) -> str | None:
    """The expected signature, or None when the request needs the general (botocore) path."""
    path, _, query = raw_path.partition("?")
    if scope.service == "s3" or query or not path or not _PLAIN_PATH.fullmatch(path):
        return None
    names = signed.split(";")
    if "host" not in names:
        return None
    canonical_headers = []
    for name in sorted(set(names)):
        if name in _BLACKLIST:
            continue
        value = ",".join(header_values.get(name, ()))
        canonical_headers.append(f"{name}:{' '.join(value.split())}")
    canonical = "\n".join(
        (method.upper(), path, "", "\n".join(canonical_headers) + "\n", ";".join(sorted(names)), payload_hash)
    )
    date = timestamp[:8]
    string_to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            timestamp,
            f"{date}/{scope.region}/{scope.service}/aws4_request",
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        )
    )
    key = signing_key(secret_key, date, scope.region, scope.service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _canonical_request(signer: SigV4Auth, request: AWSRequest, signed_names: list[str], payload_hash: str) -> str:
    # botocore's canonical_request() re-derives the header list; ours must be exactly the
    # client's SignedHeaders, so assemble it from botocore's own pieces.
    header_map = signer.headers_to_sign(request)
    return "\n".join(
        (
            request.method.upper(),
            signer._normalize_url_path(urlsplit(request.url).path),
            signer.canonical_query_string(request),
            signer.canonical_headers(header_map) + "\n",
            ";".join(sorted(signed_names)),
            payload_hash,
        )
    )
