"""S3's REST-XML wire: pick the operation from method, path and query; render XML replies.

Path-style addressing only (`/bucket/key`), which is what boto3 uses against 127.0.0.1.
Routes are data: botocore's S3 model (`http.method`, `http.requestUri`, required querystring
and header members) says which request is which operation; `_routes` pairs each with its
handler. Responses are ElementTree documents in S3's namespace. State and behaviour live in
S3Backend (models.py); payload checks in payload.py; this module parses requests, calls the
backend and renders. Source: Amazon S3 API Reference (each operation's request and response
syntax); errors are localcloud.s3.exceptions' classes, in S3's `<Error>` shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from functools import cache
from typing import TYPE_CHECKING, Literal, TypeAlias
from urllib.parse import parse_qs, quote, unquote
from xml.etree import ElementTree as ET

from localcloud.errors import AwsError, InvalidRequest
from localcloud.protocol import Request, Response, xml_error
from localcloud.s3.exceptions import (
    IllegalLocationConstraintException,
    InvalidArgument,
    InvalidPartNumber,
    InvalidRange,
    MalformedXML,
    MethodNotAllowed,
    NotImplementedFeature,
    PreconditionFailed,
)
from localcloud.s3.models import ObjectInfo, S3Backend, iso8601, validate_key
from localcloud.s3.payload import CHECKSUMS, DIGITS, checksum, checksum_headers, verified_payload

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
# An element's content: text (str, int) or its children as (tag, content) pairs, in order.
XmlContent: TypeAlias = "str | int | list[tuple[str, XmlContent]]"
_OWNER: XmlContent = [
    ("ID", "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"),
    ("DisplayName", "localcloud"),
]

# Query parameters that are arguments of the operations we serve, not subresources.
_ARGUMENTS = {
    "max-buckets",
    "bucket-region",
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
    "marker",
    "uploadId",
    "partNumber",
    "uploads",
    "delete",
    "location",
    "x-id",
    "versionId",
    "max-parts",
    "part-number-marker",
    "max-uploads",
    "key-marker",
    "upload-id-marker",
    "response-content-type",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-cache-control",
    "response-expires",
    "optional-object-attributes",
    "attributes",
}
# Stored with the object and returned on GET/HEAD, as S3 does.
_STORED_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires")


_HEADER_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def invalid_header_argument(name: str, value: str) -> InvalidArgument:
    return InvalidArgument(f"{name} {value!r} contains characters a header value cannot carry")


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """Characters XML 1.0 cannot carry (a key may hold them) shown as escapes, not sent raw."""
    return _XML_INVALID.sub(lambda m: repr(m.group())[1:-1], text)


def handle(cloud: LocalCloud, request: Request) -> Response:
    """Answer one S3 request: the operation's response, or S3's XML error shape for an AwsError
    (no body for HEAD, as S3 sends none)."""
    try:
        return _dispatch(cloud.s3, request)
    except AwsError as error:
        response = xml_error(error, request.request_id, _xml_safe(request.path), message=_xml_safe(error.message))
        if request.method == "HEAD":
            response.body = b""
        return response


# ----------------------------------------------------------------------------- routing
# A request's operation follows from its method, whether its path names the service, a bucket or
# an object, and which query parameters and headers it carries: botocore's S3 model says which,
# as `http.method`, `http.requestUri` ("/{Bucket}/{Key+}?uploads") and the input's required
# querystring and header members (UploadPart: `uploadId` and `partNumber`; CopyObject:
# `x-amz-copy-source`). The routes are read from there; the table below only pairs each
# operation served here with its handler.

Level = Literal["service", "bucket", "object"]
Handler = Callable[[S3Backend, Request, str, str], Response]
_LEVELS: dict[str, Level] = {"/": "service", "/{Bucket}": "bucket", "/{Bucket}/{Key+}": "object"}
_WHAT: dict[Level, str] = {"service": "the service", "bucket": "a bucket", "object": "an object"}


@dataclass(frozen=True)
class Route:
    """When a request is `operation`: its method, its path's level, the query parameters it
    must carry ("name", or "name=value" for a value) and the headers it must carry (not empty)."""

    operation: str
    method: str
    level: Level
    query: tuple[str, ...]
    headers: tuple[str, ...]
    handler: Handler

    def matches(self, req: Request, level: Level, query: dict[str, list[str]]) -> bool:
        if req.method != self.method or level != self.level:
            return False
        for condition in self.query:
            name, has_value, value = condition.partition("=")
            if name not in query or (has_value and query[name][0] != value):
                return False
        return all(req.headers.get(name) for name in self.headers)


def _routes_from_model(handlers: dict[str, Handler]) -> list[Route]:
    """One Route per operation from botocore's S3 model, the most specific first (then in the
    handlers' order): a request that could be UploadPart is not PutObject."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("s3")
    routes = []
    for operation, handler in handlers.items():
        op = model.operation_model(operation)
        path, _, literal = op.http["requestUri"].partition("?")
        query = [literal] if literal and not literal.startswith("x-id=") else []  # x-id: a hint
        headers = []
        shape = op.input_shape
        for name in shape.required_members if shape is not None else ():
            member = shape.members[name]
            location = member.serialization.get("location")
            if location == "querystring":
                query.append(member.serialization["name"])
            elif location == "header":
                headers.append(member.serialization["name"])
        routes.append(Route(operation, op.http["method"], _LEVELS[path], tuple(query), tuple(headers), handler))
    return sorted(routes, key=lambda r: -(len(r.query) + len(r.headers)))


def prepare() -> None:
    """Build the route table now (it reads botocore's S3 model: about 0.4 s, once); the daemon
    does it while it starts, so the first S3 request does not wait for it."""
    _routes()


@cache
def _routes() -> list[Route]:
    return _routes_from_model(
        {
            "ListBuckets": _list_buckets,
            "CreateBucket": _create_bucket,
            "HeadBucket": _head_bucket,
            "DeleteBucket": _delete_bucket,
            "GetBucketLocation": _get_bucket_location,
            "ListMultipartUploads": _list_uploads,
            "ListObjectsV2": _list_objects_v2,
            "ListObjects": _list_objects_v1,
            "DeleteObjects": _delete_objects,
            "UploadPartCopy": _upload_part_copy,
            "UploadPart": _upload_part,
            "CopyObject": _copy_object,
            "PutObject": _put_object,
            "ListParts": _list_parts,
            "GetObjectAttributes": _get_object_attributes,
            "GetObject": _get_object,
            "HeadObject": _head_object,
            "AbortMultipartUpload": _abort_upload,
            "DeleteObject": _delete_object,
            "CreateMultipartUpload": _create_upload,
            "CompleteMultipartUpload": _complete_upload,
        }
    )


def _dispatch(s3: S3Backend, req: Request) -> Response:
    bucket, key = _split_path(req)
    query = req.query
    unknown = [name for name in query if name not in _ARGUMENTS]
    if unknown:
        raise NotImplementedFeature(
            f"localcloud's S3 does not implement the ?{unknown[0]} "
            f"subresource ({req.method} {req.raw_path}?{req.raw_query})"
        )
    _check_version_ids(req)
    level: Level = "object" if key else "bucket" if bucket else "service"
    for route in _routes():
        if route.matches(req, level, query):
            return route.handler(s3, req, bucket, key)
    raise MethodNotAllowed(f"The specified method ({req.method}) is not allowed against {_WHAT[level]} in localcloud")


def _check_version_ids(req: Request) -> None:
    """localcloud's buckets are never versioned, so the only version id an object has is "null"
    (S3: "If versioning has never been enabled on the bucket, the version ID of an object is null");
    any other is S3's 400 InvalidArgument "Invalid version id specified" — never ignored, which once
    let DeleteObject with a bogus VersionId delete the current object."""
    wanted = [req.query_value("versionId")]
    source = req.headers.get("x-amz-copy-source") or ""
    if "?" in source:
        wanted += parse_qs(source.split("?", 1)[1], keep_blank_values=True).get("versionId", [])
    for version in wanted:
        if version is not None and version != "null":
            raise InvalidArgument("Invalid version id specified")


def _split_path(req: Request) -> tuple[str, str]:
    """(bucket, key) from a path-style URL; the key keeps every character, including '//'."""
    path = req.path
    if not path.startswith("/"):
        path = "/" + path
    bucket, _, key = path[1:].partition("/")
    return bucket, key


# ----------------------------------------------------------------------------- helpers
def _xml(root: str, content: XmlContent, headers: dict[str, str] | None = None) -> Response:
    """A 200 with the XML document `<root xmlns=S3's namespace>content</root>`, rendered by
    ElementTree (escaped; empty elements written out as `<Prefix></Prefix>`, as S3 does)."""
    element = ET.Element(root, xmlns=NS)
    _fill(element, content)
    text = ET.tostring(element, encoding="unicode", short_empty_elements=False)
    data = ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
    return Response(200, data, {"Content-Type": "application/xml", **(headers or {})})


def _fill(element: ET.Element, content: XmlContent) -> None:
    if isinstance(content, list):
        for tag, child in content:
            _fill(ET.SubElement(element, tag), child)
    else:
        element.text = str(content)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


_INT_MAX = 2147483647


def _strict_int(text: str) -> int:
    if not DIGITS.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _int_arg(req: Request, name: str, default: int) -> int:
    value = req.query_value(name)
    if value is None or value == "":
        return default
    try:
        number = _strict_int(value)
        if number > _INT_MAX:
            raise ValueError(value)
    except ValueError:
        raise InvalidArgument(f"Provided {name} not an integer or within integer range") from None
    if number < 0:
        raise InvalidArgument(f"Argument {name} must be an integer between 0 and 2147483647")
    return number


def _user_metadata(req: Request) -> dict[str, str]:
    return {
        name.lower()[len("x-amz-meta-") :]: value
        for name, value in req.headers.items()
        if name.lower().startswith("x-amz-meta-")
    }


def _stored_headers(req: Request) -> dict[str, str]:
    out = {}
    for name in _STORED_HEADERS:
        value = req.headers.get(name)
        if value is None:
            continue
        if name == "Content-Encoding":
            # aws-chunked is transport framing, never part of the stored object.
            value = ",".join(v.strip() for v in value.split(",") if v.strip().lower() != "aws-chunked")
            if not value:
                continue
        out[name] = value
    return out


def _find(elem: ET.Element, name: str) -> ET.Element | None:
    """A child by local name, with or without the S3 namespace."""
    for child in elem:
        if child.tag.rsplit("}", 1)[-1] == name:
            return child
    return None


def _findall(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if c.tag.rsplit("}", 1)[-1] == name]


def _parse_xml(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise MalformedXML(
            "The XML you provided was not well-formed or did not validate against our published schema"
        ) from None


# ----------------------------------------------------------------------------- buckets
def _list_buckets(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    """ListBuckets with its optional max-buckets (1 to 10000), continuation-token, prefix and
    bucket-region (ListBuckets, Amazon S3 API Reference,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html); a page holds the
    buckets after the token's, in name order, and a ContinuationToken when more remain."""
    prefix = req.query_value("prefix") or ""
    region = req.query_value("bucket-region")
    max_buckets = _int_arg(req, "max-buckets", 10000)
    if req.query_value("max-buckets") is not None and not 1 <= max_buckets <= 10000:
        raise InvalidArgument("Argument max-buckets must be an integer between 1 and 10000")
    token = req.query_value("continuation-token")
    after = s3.continuation_marker("", token) if token is not None else ""
    names = [
        (name, created)
        for name, created in s3.list_buckets()
        if name.startswith(prefix) and name > after and region in (None, req.region or "us-east-1")
    ]
    page = names[:max_buckets]
    buckets: XmlContent = [
        ("Bucket", [("Name", name), ("CreationDate", iso8601(created)), ("BucketRegion", req.region or "us-east-1")])
        for name, created in page
    ]
    out: list[tuple[str, XmlContent]] = [("Owner", _OWNER), ("Buckets", buckets)]
    if len(names) > len(page):
        out.append(("ContinuationToken", s3.continuation_token("", page[-1][0])))
    if req.query_value("prefix") is not None:
        out.append(("Prefix", prefix))
    return _xml("ListAllMyBucketsResult", out)


def _create_bucket(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    if req.body.strip():
        root = _parse_xml(req.body)
        loc = _find(root, "LocationConstraint")
        if loc is not None and (loc.text or "") not in ("", req.region):
            raise IllegalLocationConstraintException(
                f"The {loc.text} location constraint is incompatible for the region specific endpoint "
                f"this request was sent to ({req.region})."
            )
    s3.create_bucket(bucket)
    return Response(200, b"", {"Location": f"/{bucket}"})


def _head_bucket(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    s3.require_bucket(bucket)
    return Response(200, b"", {"x-amz-bucket-region": req.region or "us-east-1"})


def _delete_bucket(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    s3.delete_bucket(bucket)
    return Response(204)


def _get_bucket_location(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    s3.require_bucket(bucket)
    return _xml("LocationConstraint", "" if req.region in ("us-east-1", "") else req.region)


# ----------------------------------------------------------------------------- listing
def _list_objects_v1(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    return _list_objects(s3, req, bucket, v2=False)


def _list_objects_v2(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    return _list_objects(s3, req, bucket, v2=True)


def _list_objects(s3: S3Backend, req: Request, bucket: str, v2: bool) -> Response:
    prefix = req.query_value("prefix") or ""
    delimiter = req.query_value("delimiter") or ""
    max_keys = min(_int_arg(req, "max-keys", 1000), 1000)
    url_encode = req.query_value("encoding-type") == "url"
    token = req.query_value("continuation-token") if v2 else None
    if token is not None:
        marker = s3.continuation_marker(bucket, token)
    else:
        marker = (req.query_value("start-after") if v2 else req.query_value("marker")) or ""
    page = s3.list_objects(bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)

    def enc(text: str) -> str:
        return quote(text, safe="/") if url_encode else text

    out: list[tuple[str, XmlContent]] = [("Name", bucket), ("Prefix", enc(prefix))]
    if v2:
        if token is not None:
            out.append(("ContinuationToken", token))
        if req.query_value("start-after"):
            out.append(("StartAfter", enc(req.query_value("start-after") or "")))
        out.append(("KeyCount", len(page.contents) + len(page.common_prefixes)))
        if page.truncated:
            out.append(("NextContinuationToken", s3.continuation_token(bucket, page.last)))
    else:
        out.append(("Marker", enc(marker)))
        if page.truncated and delimiter:
            out.append(("NextMarker", enc(page.last)))
    out.append(("MaxKeys", max_keys))
    if delimiter:
        out.append(("Delimiter", enc(delimiter)))
    if url_encode:
        out.append(("EncodingType", "url"))
    out.append(("IsTruncated", _bool(page.truncated)))
    fetch_owner = not v2 or req.query_value("fetch-owner") == "true"
    for info in page.contents:
        entry: list[tuple[str, XmlContent]] = [
            ("Key", enc(info.key)),
            ("LastModified", iso8601(info.mtime)),
            ("ETag", info.etag),
            ("Size", info.size),
        ]
        if fetch_owner:
            entry.append(("Owner", _OWNER))
        entry.append(("StorageClass", "STANDARD"))
        out.append(("Contents", entry))
    for common in page.common_prefixes:
        out.append(("CommonPrefixes", [("Prefix", enc(common))]))
    return _xml("ListBucketResult", out)


# ----------------------------------------------------------------------------- objects
def _put_object(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    s3.require_bucket(bucket)
    validate_key(key)
    if_match, if_none_match = _write_conditions(req)
    data, checksums = verified_payload(req)
    info = s3.put_object(
        bucket,
        key,
        data,
        content_type=req.headers.get("Content-Type"),
        metadata=_user_metadata(req),
        headers=_stored_headers(req),
        checksums=checksums,
        if_match=if_match,
        if_none_match=if_none_match,
    )
    headers = {"ETag": info.etag, **checksum_headers(checksums)}
    if checksums:
        headers["x-amz-checksum-type"] = "FULL_OBJECT"  # a single PUT's checksum is of the whole object
    return Response(200, b"", headers)


def _write_conditions(req: Request) -> tuple[str | None, str | None]:
    """PutObject's and CompleteMultipartUpload's (If-Match, If-None-Match). S3 takes only `*` as
    If-None-Match of a write and not both headers at once: 501 NotImplemented otherwise, as in
    LocalStack's AWS-recorded snapshots (test_put_object_if_none_match_*)."""
    if_match = req.headers.get("If-Match")
    if_none_match = req.headers.get("If-None-Match")
    if if_match is not None and if_none_match is not None:
        raise NotImplementedFeature(
            "A header you provided implies functionality that is not implemented "
            "(If-Match,If-None-Match: multiple conditional request headers present in the request)"
        )
    if if_none_match is not None and if_none_match.strip() != "*":
        raise NotImplementedFeature(
            "A header you provided implies functionality that is not implemented "
            f"(If-None-Match {if_none_match!r}: only '*' is accepted for this API)"
        )
    if if_match is not None and not if_match.strip():
        raise InvalidArgument("If-Match must be an ETag, not empty")
    return if_match, if_none_match


def _object_headers(info: ObjectInfo, req: Request) -> dict[str, str]:
    headers = {
        "ETag": info.etag,
        "Last-Modified": _http_date(info.mtime),
        "Content-Type": info.content_type,
        "Accept-Ranges": "bytes",
        **info.headers,
        **{f"x-amz-meta-{name}": value for name, value in info.metadata.items()},
    }
    for name in (
        "Content-Type",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Cache-Control",
        "Expires",
    ):
        override = req.query_value(f"response-{name.lower()}")
        if override:
            if _HEADER_UNSAFE.search(override):
                # Echoed as a header: CR/LF would add headers of the caller's choosing.
                raise invalid_header_argument(f"response-{name.lower()}", override)
            headers[name] = override
    return headers


def _check_preconditions(info: ObjectInfo, req: Request) -> Response | None:
    """If-Match / If-None-Match / If-(Un)Modified-Since, as S3 evaluates them."""

    def etag_matches(header: str) -> bool:
        tags = [t.strip() for t in header.split(",")]
        return "*" in tags or any(t.strip('"') == info.etag.strip('"') for t in tags)

    def date(name: str) -> float | None:
        value = req.headers.get(name)
        if not value:
            return None
        try:
            return parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None

    if_match = req.headers.get("If-Match")
    if if_match is not None and not etag_matches(if_match):
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")
    since = date("If-Unmodified-Since")
    if if_match is None and since is not None and int(info.mtime) > since:
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")
    if_none = req.headers.get("If-None-Match")
    if if_none is not None and etag_matches(if_none):
        return Response(304, b"", {"ETag": info.etag, "Last-Modified": _http_date(info.mtime)})
    modified = date("If-Modified-Since")
    if if_none is None and modified is not None and int(info.mtime) <= modified:
        return Response(304, b"", {"ETag": info.etag, "Last-Modified": _http_date(info.mtime)})
    return None


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive; None means serve the whole object (absent or unparseable range)."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header, re.ASCII)
    if not m or (not m[1] and not m[2]):
        return None
    if not m[1]:
        length = int(m[2])
        if length == 0 or size == 0:
            raise _invalid_range(size)
        return max(0, size - length), size - 1
    start = int(m[1])
    end = int(m[2]) if m[2] else size - 1
    if m[2] and end < start:
        return None
    if start >= size:
        raise _invalid_range(size)
    return start, min(end, size - 1)


def _invalid_range(size: int) -> InvalidRange:
    return InvalidRange(f"The requested range is not satisfiable (object size {size})")


def _get_object(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    if "attributes" in req.query:
        # GetObjectAttributes without its required header (the route needs it).
        raise InvalidArgument("GetObjectAttributes needs the x-amz-object-attributes header (ObjectAttributes)")
    return _read_object(s3, req, bucket, key, head=False)


_OBJECT_ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


def _get_object_attributes(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    """GetObjectAttributes (API reference: GetObjectAttributes). The ETag is sent unquoted; a
    multipart object's checksum without its "-<count>" suffix, as AWS's user guide example
    ("Checking object integrity") and LocalStack's AWS-recorded snapshots show; ObjectParts
    lists the parts (with their checksums) of a COMPOSITE upload and only counts the others'."""
    wanted = [a.strip() for a in (req.headers.get("x-amz-object-attributes") or "").split(",") if a.strip()]
    unknown = [a for a in wanted if a not in _OBJECT_ATTRIBUTES]
    if unknown:
        raise InvalidArgument(f"Invalid attribute name specified: {unknown[0]!r} (x-amz-object-attributes)")
    max_parts = _header_int(req, "x-amz-max-parts", 1000)
    marker = _header_int(req, "x-amz-part-number-marker", 0)
    info = s3.head_object(bucket, key)
    out: list[tuple[str, XmlContent]] = []
    if "ETag" in wanted:
        out.append(("ETag", info.etag.strip('"')))
    if "Checksum" in wanted and info.checksums:
        values: list[tuple[str, XmlContent]] = [
            (f"Checksum{alg.upper()}", value.split("-")[0] if info.parts is not None else value)
            for alg, value in info.checksums.items()
        ]
        out.append(("Checksum", [*values, ("ChecksumType", info.checksum_type or "FULL_OBJECT")]))
    if "ObjectParts" in wanted and info.parts is not None:
        parts: list[tuple[str, XmlContent]] = [("PartsCount", len(info.parts))]
        if info.part_checksums is not None:
            numbered = [
                (n, size, sums)
                for n, (size, sums) in enumerate(zip(info.parts, info.part_checksums, strict=True), 1)
                if n > marker
            ]
            page = numbered[:max_parts]
            parts += [("PartNumberMarker", marker)]
            if page:
                parts.append(("NextPartNumberMarker", page[-1][0]))
            parts += [("MaxParts", max_parts), ("IsTruncated", _bool(len(numbered) > max_parts))]
            for n, size, sums in page:
                entry: list[tuple[str, XmlContent]] = [(f"Checksum{a.upper()}", v) for a, v in sums.items()]
                parts.append(("Part", [*entry, ("PartNumber", n), ("Size", size)]))
        out.append(("ObjectParts", parts))
    if "StorageClass" in wanted:
        out.append(("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        out.append(("ObjectSize", info.size))
    return _xml("GetObjectAttributesResponse", out, headers={"Last-Modified": _http_date(info.mtime)})


def _header_int(req: Request, name: str, default: int) -> int:
    value = req.headers.get(name)
    if value is None or value == "":
        return default
    try:
        number = _strict_int(value.strip())
    except ValueError:
        raise InvalidArgument(f"{name} {value!r} is not an integer") from None
    if not 0 <= number <= _INT_MAX:
        raise InvalidArgument(f"{name} must be an integer between 0 and 2147483647")
    return number


def _head_object(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    return _read_object(s3, req, bucket, key, head=True)


def _delete_object(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    s3.delete_object(bucket, key)
    return Response(204)


def _read_object(s3: S3Backend, req: Request, bucket: str, key: str, head: bool) -> Response:
    info = s3.head_object(bucket, key)
    not_modified = _check_preconditions(info, req)
    if not_modified is not None:
        return not_modified
    headers = _object_headers(info, req)
    range_header = req.headers.get("Range")
    part_number = req.query_value("partNumber")
    if part_number is not None:
        return _read_part(s3, req, info, headers, part_number, head)
    span = _parse_range(range_header, info.size) if range_header else None
    if span is None:
        # Full-object checksums only describe full reads; botocore verifies them when returned.
        if (req.headers.get("x-amz-checksum-mode") or "").upper() == "ENABLED":
            headers.update(checksum_headers(info.checksums))
            if info.checksums:
                headers["x-amz-checksum-type"] = info.checksum_type or "FULL_OBJECT"
        body = b"" if head else s3.read(info)
        headers["Content-Length"] = str(info.size)
        return Response(200, body, headers)
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(end - start + 1)
    return Response(206, b"" if head else s3.read(info, start, end), headers)


def _read_part(
    s3: S3Backend, req: Request, info: ObjectInfo, headers: dict[str, str], part_number: str, head: bool
) -> Response:
    """GetObject/HeadObject ?partNumber=N: 206 with that part's bytes, Content-Range and (for a
    multipart object) x-amz-mp-parts-count; a single PUT is one part. Source: GetObject and
    HeadObject API reference ("PartNumber ... Effectively performs a 'ranged' GET request for
    the part specified"); errors as LocalStack's AWS-recorded snapshots: a part beyond the
    count is 416 InvalidPartNumber, partNumber with Range is 400 InvalidRequest."""
    try:
        number = _strict_int(part_number)
    except ValueError:
        number = 0
    if not 1 <= number <= 10000:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    if req.headers.get("Range"):
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    if number > info.parts_count:
        raise InvalidPartNumber(
            f"The requested partnumber is not satisfiable (part {number} of an object of {info.parts_count})"
        )
    if info.parts is not None:
        headers["x-amz-mp-parts-count"] = str(info.parts_count)
    if (req.headers.get("x-amz-checksum-mode") or "").upper() == "ENABLED":
        # A COMPOSITE object's part carries its own checksum ("Checking object integrity":
        # GetObject/HeadObject with PartNumber and ChecksumMode); a single PUT's part 1 is the
        # whole object; a FULL_OBJECT multipart object has none per part.
        if info.part_checksums is not None:
            headers.update(checksum_headers(info.part_checksums[number - 1]))
            headers["x-amz-checksum-type"] = "COMPOSITE"
        elif info.parts is None and info.checksums:
            headers.update(checksum_headers(info.checksums))
            headers["x-amz-checksum-type"] = info.checksum_type or "FULL_OBJECT"
    if info.size == 0:
        headers["Content-Length"] = "0"
        return Response(200, b"", headers)
    start, end = info.part_span(number)
    headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(end - start + 1)
    return Response(206, b"" if head else s3.read(info, start, end), headers)


def _copy_source(req: Request) -> tuple[str, str]:
    raw = req.headers.get("x-amz-copy-source") or ""
    raw = raw.split("?", 1)[0]
    source = unquote(raw).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
    return bucket, key


def _copy_object(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    source_bucket, source_key = _copy_source(req)
    new = s3.copy_object(
        bucket,
        key,
        source_bucket=source_bucket,
        source_key=source_key,
        metadata_directive=(req.headers.get("x-amz-metadata-directive") or "COPY").upper(),
        content_type=req.headers.get("Content-Type"),
        metadata=_user_metadata(req),
        headers=_stored_headers(req),
        if_match=req.headers.get("x-amz-copy-source-if-match"),
    )
    return _xml("CopyObjectResult", [("LastModified", iso8601(new.mtime)), ("ETag", new.etag)])


def _delete_objects(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    s3.require_bucket(bucket)
    body, _ = verified_payload(req)
    root = _parse_xml(body)
    quiet_el = _find(root, "Quiet")
    quiet = quiet_el is not None and (quiet_el.text or "").strip().lower() == "true"
    objects = _findall(root, "Object")
    if len(objects) > 1000:
        raise MalformedXML("A DeleteObjects request may name at most 1000 keys")
    out: list[tuple[str, XmlContent]] = []
    for obj in objects:
        key_el = _find(obj, "Key")
        name = key_el.text if key_el is not None and key_el.text else ""
        try:
            s3.delete_object(bucket, name)
        except AwsError as error:
            out.append(("Error", [("Key", name), ("Code", error.code), ("Message", error.message)]))
            continue
        if not quiet:
            out.append(("Deleted", [("Key", name)]))
    return _xml("DeleteResult", out)


# ----------------------------------------------------------------------------- multipart
def _create_upload(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    algorithm = req.headers.get("x-amz-checksum-algorithm") or None
    checksum_type = (req.headers.get("x-amz-checksum-type") or "").upper() or None
    if checksum_type not in (None, "COMPOSITE", "FULL_OBJECT"):
        raise InvalidArgument(f"x-amz-checksum-type {checksum_type!r} is not COMPOSITE or FULL_OBJECT")
    upload_id = s3.create_upload(
        bucket,
        key,
        content_type=req.headers.get("Content-Type"),
        metadata=_user_metadata(req),
        headers=_stored_headers(req),
        checksum_algorithm=algorithm.lower() if algorithm else None,
        checksum_type=checksum_type,
    )
    upload = s3.get_upload(bucket, key, upload_id)
    headers = {}
    if algorithm and upload.checksum_type:
        headers = {"x-amz-checksum-algorithm": algorithm.upper(), "x-amz-checksum-type": upload.checksum_type}
    return _xml(
        "InitiateMultipartUploadResult", [("Bucket", bucket), ("Key", key), ("UploadId", upload_id)], headers=headers
    )


def _part_number(req: Request) -> int:
    try:
        return _strict_int(req.query_value("partNumber") or "")
    except ValueError:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive") from None


def _upload_part(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    data, checksums = verified_payload(req)
    part = s3.upload_part(
        bucket, key, req.query_value("uploadId") or "", number=_part_number(req), data=data, checksums=checksums
    )
    return Response(200, b"", {"ETag": part.etag, **checksum_headers(checksums)})


def _upload_part_copy(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    src_bucket, src_key = _copy_source(req)
    info = s3.head_object(src_bucket, src_key)
    span = req.headers.get("x-amz-copy-source-range")
    start, end = (_parse_range(span, info.size) or (0, info.size - 1)) if span else (0, info.size - 1)
    upload_id = req.query_value("uploadId") or ""
    algorithm = s3.get_upload(bucket, key, upload_id).checksum_algorithm
    data = s3.read(info, start, end)
    # S3 computes the part's checksum of an upload created with an algorithm (CopyPartResult).
    value = checksum(algorithm, data) if algorithm else None
    checksums = {algorithm: value} if algorithm and value else {}
    part = s3.upload_part(bucket, key, upload_id, number=_part_number(req), data=data, checksums=checksums)
    out: list[tuple[str, XmlContent]] = [("LastModified", iso8601(part.modified)), ("ETag", part.etag)]
    out += [(f"Checksum{alg.upper()}", v) for alg, v in checksums.items()]
    return _xml("CopyPartResult", out)


def _complete_upload(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    upload_id = req.query_value("uploadId") or ""
    s3.get_upload(bucket, key, upload_id)
    root = _parse_xml(req.body)
    if_match, if_none_match = _write_conditions(req)
    requested = []
    part_checksums: dict[int, dict[str, str]] = {}
    for part in _findall(root, "Part"):
        number_el, etag_el = _find(part, "PartNumber"), _find(part, "ETag")
        try:
            number = _strict_int((number_el.text or "").strip() if number_el is not None else "")
        except ValueError:
            raise MalformedXML("Part without a valid PartNumber") from None
        requested.append((number, (etag_el.text or "") if etag_el is not None else ""))
        given = {}
        for alg in CHECKSUMS:
            element = _find(part, f"Checksum{alg.upper()}")
            if element is not None and (element.text or "").strip():
                given[alg] = (element.text or "").strip()
        part_checksums[number] = given
    checksum_type = (req.headers.get("x-amz-checksum-type") or "").upper() or None
    full = {alg: v.strip() for alg in CHECKSUMS if (v := req.headers.get(f"x-amz-checksum-{alg}"))}
    info = s3.complete_upload(
        bucket,
        key,
        upload_id,
        requested=requested,
        part_checksums=part_checksums,
        checksum_type=checksum_type,
        full_checksums=full,
        if_match=if_match,
        if_none_match=if_none_match,
    )
    out: list[tuple[str, XmlContent]] = [
        ("Location", f"/{bucket}/{quote(key)}"),
        ("Bucket", bucket),
        ("Key", key),
        ("ETag", info.etag),
    ]
    out += [(f"Checksum{alg.upper()}", value) for alg, value in info.checksums.items()]
    if info.checksums and info.checksum_type:
        out.append(("ChecksumType", info.checksum_type))
    return _xml("CompleteMultipartUploadResult", out)


def _abort_upload(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    s3.abort_upload(bucket, key, req.query_value("uploadId") or "")
    return Response(204)


def _list_parts(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    upload_id = req.query_value("uploadId") or ""
    upload = s3.get_upload(bucket, key, upload_id)
    marker = _int_arg(req, "part-number-marker", 0)
    max_parts = min(_int_arg(req, "max-parts", 1000), 1000)
    parts = [p for p in s3.list_parts(upload_id) if p.number > marker]
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    out: list[tuple[str, XmlContent]] = [
        ("Bucket", bucket),
        ("Key", key),
        ("UploadId", upload_id),
        ("PartNumberMarker", marker),
    ]
    if parts:
        out.append(("NextPartNumberMarker", parts[-1].number))
    out += [("MaxParts", max_parts), ("IsTruncated", _bool(truncated))]
    for p in parts:
        entry: list[tuple[str, XmlContent]] = [
            ("PartNumber", p.number),
            ("LastModified", iso8601(p.modified)),
            ("ETag", p.etag),
            ("Size", p.size),
        ]
        if upload.checksum_algorithm and upload.checksum_algorithm in p.checksums:
            alg = upload.checksum_algorithm
            entry.append((f"Checksum{alg.upper()}", p.checksums[alg]))
        out.append(("Part", entry))
    if upload.checksum_algorithm and upload.checksum_type:
        out += [("ChecksumAlgorithm", upload.checksum_algorithm.upper()), ("ChecksumType", upload.checksum_type)]
    return _xml("ListPartsResult", out)


def _list_uploads(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    prefix = req.query_value("prefix") or ""
    uploads = s3.list_uploads(bucket, prefix)
    out: list[tuple[str, XmlContent]] = [
        ("Bucket", bucket),
        ("Prefix", prefix),
        ("MaxUploads", 1000),
        ("IsTruncated", "false"),
    ]
    out += [("Upload", [("Key", u.key), ("UploadId", u.upload_id), ("Initiated", iso8601(u.created))]) for u in uploads]
    return _xml("ListMultipartUploadsResult", out)
