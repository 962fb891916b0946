"""Verify AWS Signature Version 4 on incoming requests by recomputing it with botocore's signer."""
from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.errors import AwsError

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request,\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<sig>[0-9a-f]{64})")


@dataclass(frozen=True)
class Scope:
    access_key: str
    region: str
    service: str


def parse_scope(authorization: str | None) -> Scope:
    if not authorization:
        raise AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    m = _AUTH_RE.match(authorization.strip())
    if not m:
        raise AwsError("IncompleteSignature", "Authorization header is not a valid SigV4 header", 403)
    return Scope(m["key"], m["region"], m["service"])


def verify(method: str, raw_path: str, headers: Message, body: bytes,
           access_key: str, secret_key: str) -> Scope:
    """Raise the error AWS returns unless the request is signed with the local credentials."""
    authorization = headers.get("Authorization")
    scope = parse_scope(authorization)
    m = _AUTH_RE.match(authorization.strip())
    assert m is not None
    if scope.access_key != access_key:
        raise AwsError("UnrecognizedClientException" if scope.service != "s3" else "InvalidAccessKeyId",
                       "The security token included in the request is invalid.", 403)
    timestamp = headers.get("X-Amz-Date")
    if not timestamp:
        raise AwsError("IncompleteSignature", "Missing X-Amz-Date header", 403)

    fast = _fast_signature(method, raw_path, headers, body, secret_key, scope, m["signed"], timestamp)
    if fast is not None:
        if not hmac.compare_digest(fast, m["sig"]):
            raise _mismatch()
        return scope

    signer_cls = S3SigV4Auth if scope.service == "s3" else SigV4Auth
    signer = signer_cls(Credentials(access_key, secret_key), scope.service, scope.region)
    signed_names = m["signed"].split(";")
    signed_headers = {}
    for name in signed_names:
        values = headers.get_all(name) or []
        signed_headers[name] = ",".join(values)
    request = AWSRequest(method=method, url=f"http://{headers.get('Host', '')}{raw_path}",
                         headers=signed_headers, data=body)
    request.context["timestamp"] = timestamp
    canonical = _canonical_request(signer, request, signed_names, headers, body)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, m["sig"]):
        raise _mismatch()
    return scope


def _mismatch() -> AwsError:
    return AwsError("SignatureDoesNotMatch", "The request signature we calculated does not match "
                    "the signature you provided. Check your AWS Secret Access Key and signing "
                    "method.", 403)


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


def _fast_signature(method: str, raw_path: str, headers: Message, body: bytes, secret_key: str,
                    scope: Scope, signed: str, timestamp: str) -> str | None:
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
        value = ",".join(headers.get_all(name) or ())
        canonical_headers.append(f"{name}:{' '.join(value.split())}")
    payload_hash = headers.get("X-Amz-Content-SHA256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join((method.upper(), path, "", "\n".join(canonical_headers) + "\n",
                           ";".join(sorted(names)), payload_hash))
    date = timestamp[:8]
    string_to_sign = "\n".join(("AWS4-HMAC-SHA256", timestamp,
                                f"{date}/{scope.region}/{scope.service}/aws4_request",
                                hashlib.sha256(canonical.encode("utf-8")).hexdigest()))
    key = signing_key(secret_key, date, scope.region, scope.service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _canonical_request(signer: SigV4Auth, request: AWSRequest, signed_names: list[str],
                       headers: Message, body: bytes) -> str:
    # botocore's canonical_request() re-derives the header list; ours must be exactly the
    # client's SignedHeaders, so assemble it from botocore's own pieces.
    header_map = signer.headers_to_sign(request)
    lines = [request.method.upper(),
             signer._normalize_url_path(urlsplit(request.url).path),
             signer.canonical_query_string(request),
             signer.canonical_headers(header_map) + "\n",
             ";".join(sorted(signed_names))]
    # S3 sends the payload hash (or UNSIGNED-PAYLOAD / STREAMING-*) in a header; others hash the body.
    payload_hash = headers.get("X-Amz-Content-SHA256") or hashlib.sha256(body).hexdigest()
    lines.append(payload_hash)
    return "\n".join(lines)
