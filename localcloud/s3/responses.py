"""S3's REST-XML wire: pick the operation from method, path and query; render XML replies.

Path-style addressing only (`/bucket/key`), which is what boto3 uses against 127.0.0.1.
State lives in models.py; this module only parses requests and shapes responses. One module
on purpose (~710 lines): S3's operations share one dispatcher, one XML renderer and one set of
header rules, and split by operation they would repeat them.
"""
from __future__ import annotations

import base64
import binascii
import re
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote, unquote
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

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
from localcloud.s3.payload import DIGITS, checksum_headers, verified_payload

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_OWNER = "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>" \
         "<DisplayName>localcloud</DisplayName></Owner>"

# Query parameters that are arguments of the operations we serve, not subresources.
_ARGUMENTS = {
    "list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
    "encoding-type", "fetch-owner", "marker", "uploadId", "partNumber", "uploads", "delete",
    "location", "x-id", "versionId", "max-parts", "part-number-marker", "max-uploads",
    "key-marker", "upload-id-marker", "response-content-type", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-cache-control",
    "response-expires", "optional-object-attributes",
}
# Stored with the object and returned on GET/HEAD, as S3 does.
_STORED_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
                   "Expires")


_HEADER_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def invalid_header_argument(name: str, value: str) -> InvalidArgument:
    return InvalidArgument(f"{name} {value!r} contains characters a header value "
                    "cannot carry")


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """Characters XML 1.0 cannot carry (a key may hold them) shown as escapes, not sent raw."""
    return _XML_INVALID.sub(lambda m: repr(m.group())[1:-1], text)


def handle(cloud, request: Request) -> Response:
    try:
        return _dispatch(cloud.s3, request)
    except AwsError as error:
        response = xml_error(error, request.request_id, _xml_safe(request.path),
                             message=_xml_safe(error.message))
        if request.method == "HEAD":
            response.body = b""
        return response


def _dispatch(s3: S3Backend, req: Request) -> Response:
    bucket, key = _split_path(req)
    query = req.query
    unknown = [name for name in query if name not in _ARGUMENTS]
    if unknown:
        raise NotImplementedFeature(f"localcloud's S3 does not implement the ?{unknown[0]} "
                       f"subresource ({req.method} {req.raw_path}?{req.raw_query})")
    method = req.method
    if not bucket:
        if method == "GET":
            return _list_buckets(s3)
        raise _method_not_allowed(method, "the service")
    if not key:
        if method == "PUT":
            return _create_bucket(s3, req, bucket)
        if method == "HEAD":
            s3.require_bucket(bucket)
            return Response(200, b"", {"x-amz-bucket-region": req.region or "us-east-1"})
        if method == "DELETE":
            s3.delete_bucket(bucket)
            return Response(204)
        if method == "GET":
            if "location" in query:
                s3.require_bucket(bucket)
                region = "" if req.region in ("us-east-1", "") else escape(req.region)
                return _xml(f'<LocationConstraint xmlns="{NS}">{region}</LocationConstraint>')
            if "uploads" in query:
                return _list_uploads(s3, req, bucket)
            if req.query_value("list-type") == "2":
                return _list_objects(s3, req, bucket, v2=True)
            return _list_objects(s3, req, bucket, v2=False)
        if method == "POST" and "delete" in query:
            return _delete_objects(s3, req, bucket)
        raise _method_not_allowed(method, "a bucket")
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            if req.headers.get("x-amz-copy-source"):
                return _upload_part_copy(s3, req, bucket, key)
            return _upload_part(s3, req, bucket, key)
        if req.headers.get("x-amz-copy-source"):
            return _copy_object(s3, req, bucket, key)
        return _put_object(s3, req, bucket, key)
    if method in ("GET", "HEAD"):
        if "uploadId" in query and method == "GET":
            return _list_parts(s3, req, bucket, key)
        return _get_object(s3, req, bucket, key, head=method == "HEAD")
    if method == "DELETE":
        if "uploadId" in query:
            s3.abort_upload(bucket, key, req.query_value("uploadId") or "")
            return Response(204)
        s3.delete_object(bucket, key)
        return Response(204)
    if method == "POST":
        if "uploads" in query:
            return _create_upload(s3, req, bucket, key)
        if "uploadId" in query:
            return _complete_upload(s3, req, bucket, key)
    raise _method_not_allowed(method, "an object")


def _method_not_allowed(method: str, what: str) -> MethodNotAllowed:
    return MethodNotAllowed(f"The specified method ({method}) is not allowed against {what} in localcloud")


def _split_path(req: Request) -> tuple[str, str]:
    """(bucket, key) from a path-style URL; the key keeps every character, including '//'."""
    path = req.path
    if not path.startswith("/"):
        path = "/" + path
    bucket, _, key = path[1:].partition("/")
    return bucket, key


# ----------------------------------------------------------------------------- helpers
def _xml(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()
    return Response(status, data, {"Content-Type": "application/xml", **(headers or {})})


def _e(value: object) -> str:
    return escape(str(value))


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
        raise InvalidArgument(f"Argument {name} must be an integer between 0 and "
                       "2147483647")
    return number


def _user_metadata(req: Request) -> dict[str, str]:
    return {name.lower()[len("x-amz-meta-"):]: value for name, value in req.headers.items()
            if name.lower().startswith("x-amz-meta-")}


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
        raise MalformedXML("The XML you provided was not well-formed or did not validate "
                       "against our published schema") from None


# ----------------------------------------------------------------------------- buckets
def _list_buckets(s3: S3Backend) -> Response:
    items = "".join(f"<Bucket><Name>{_e(name)}</Name><CreationDate>{iso8601(created)}</CreationDate>"
                    "</Bucket>" for name, created in s3.list_buckets())
    return _xml(f'<ListAllMyBucketsResult xmlns="{NS}">{_OWNER}<Buckets>{items}</Buckets>'
                "</ListAllMyBucketsResult>")


def _create_bucket(s3: S3Backend, req: Request, bucket: str) -> Response:
    if req.body.strip():
        root = _parse_xml(req.body)
        loc = _find(root, "LocationConstraint")
        if loc is not None and (loc.text or "") not in ("", req.region):
            raise IllegalLocationConstraintException(
                f"The {loc.text} location constraint is incompatible for the region specific endpoint "
                f"this request was sent to ({req.region}).")
    s3.create_bucket(bucket)
    return Response(200, b"", {"Location": f"/{bucket}"})


# ----------------------------------------------------------------------------- listing
def _list_objects(s3: S3Backend, req: Request, bucket: str, v2: bool) -> Response:
    prefix = req.query_value("prefix") or ""
    delimiter = req.query_value("delimiter") or ""
    max_keys = min(_int_arg(req, "max-keys", 1000), 1000)
    url_encode = req.query_value("encoding-type") == "url"
    token = req.query_value("continuation-token") if v2 else None
    if token is not None:
        try:
            marker = base64.urlsafe_b64decode(token.encode() + b"==").decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidArgument("The continuation token provided is incorrect") \
                from None
    else:
        marker = (req.query_value("start-after") if v2 else req.query_value("marker")) or ""
    marker_b = marker.encode()

    contents: list[ObjectInfo] = []
    prefixes: list[str] = []
    truncated = False
    last = ""
    for key in s3.list_object_keys(bucket, prefix):
        if marker and (key.encode() <= marker_b
                       or (delimiter and marker.endswith(delimiter) and key.startswith(marker))):
            continue
        common = None
        if delimiter:
            idx = key.find(delimiter, len(prefix))
            if idx >= 0:
                common = key[:idx + len(delimiter)]
                if prefixes and prefixes[-1] == common:
                    continue
        if len(contents) + len(prefixes) >= max_keys:
            truncated = True
            break
        if common is not None:
            prefixes.append(common)
            last = common
        else:
            info = s3.info_for_listing(bucket, key)
            if info is None:
                continue
            contents.append(info)
            last = key

    enc = (lambda s: _e(quote(s, safe="/"))) if url_encode else _e
    parts = [f'<ListBucketResult xmlns="{NS}"><Name>{_e(bucket)}</Name><Prefix>{enc(prefix)}</Prefix>']
    if v2:
        if token is not None:
            parts.append(f"<ContinuationToken>{_e(token)}</ContinuationToken>")
        if req.query_value("start-after"):
            parts.append(f"<StartAfter>{enc(req.query_value('start-after') or '')}</StartAfter>")
        parts.append(f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>")
        if truncated:
            next_token = base64.urlsafe_b64encode(last.encode()).decode().rstrip("=")
            parts.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
    else:
        parts.append(f"<Marker>{enc(marker)}</Marker>")
        if truncated and delimiter:
            parts.append(f"<NextMarker>{enc(last)}</NextMarker>")
    parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
    if delimiter:
        parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
    if url_encode:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    fetch_owner = not v2 or req.query_value("fetch-owner") == "true"
    for info in contents:
        parts.append(f"<Contents><Key>{enc(info.key)}</Key><LastModified>{iso8601(info.mtime)}"
                     f"</LastModified><ETag>{_e(info.etag)}</ETag><Size>{info.size}</Size>"
                     f"{_OWNER if fetch_owner else ''}<StorageClass>STANDARD</StorageClass></Contents>")
    for common in prefixes:
        parts.append(f"<CommonPrefixes><Prefix>{enc(common)}</Prefix></CommonPrefixes>")
    parts.append("</ListBucketResult>")
    return _xml("".join(parts))


# ----------------------------------------------------------------------------- objects
def _put_object(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    s3.require_bucket(bucket)
    validate_key(key)
    data, checksums = verified_payload(req)
    info = s3.put_object(bucket, key, data, content_type=req.headers.get("Content-Type"),
                         metadata=_user_metadata(req), headers=_stored_headers(req),
                         checksums=checksums)
    return Response(200, b"", {"ETag": info.etag, **checksum_headers(checksums)})


def _object_headers(info: ObjectInfo, req: Request) -> dict[str, str]:
    headers = {
        "ETag": info.etag,
        "Last-Modified": _http_date(info.mtime),
        "Content-Type": info.content_type,
        "Accept-Ranges": "bytes",
        **info.headers,
        **{f"x-amz-meta-{name}": value for name, value in info.metadata.items()},
    }
    for name in ("Content-Type", "Content-Disposition", "Content-Encoding", "Content-Language",
                 "Cache-Control", "Expires"):
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

    def date(name: str):
        value = req.headers.get(name)
        if not value:
            return None
        try:
            return parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None

    if_match = req.headers.get("If-Match")
    if if_match is not None and not etag_matches(if_match):
        raise PreconditionFailed("At least one of the pre-conditions you specified did "
                       "not hold")
    since = date("If-Unmodified-Since")
    if if_match is None and since is not None and int(info.mtime) > since:
        raise PreconditionFailed("At least one of the pre-conditions you specified did "
                       "not hold")
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


def _get_object(s3: S3Backend, req: Request, bucket: str, key: str, head: bool) -> Response:
    info = s3.head_object(bucket, key)
    not_modified = _check_preconditions(info, req)
    if not_modified is not None:
        return not_modified
    headers = _object_headers(info, req)
    range_header = req.headers.get("Range")
    part_number = req.query_value("partNumber")
    span = _parse_range(range_header, info.size) if range_header else None
    if part_number not in (None, "1"):
        raise InvalidPartNumber("The requested partnumber is not satisfiable")
    if span is None:
        # Full-object checksums only describe full reads; botocore verifies them when returned.
        if (req.headers.get("x-amz-checksum-mode") or "").upper() == "ENABLED":
            headers.update(checksum_headers(info.checksums))
        body = b"" if head else s3.read(info)
        headers["Content-Length"] = str(info.size)
        return Response(200, body, headers)
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(end - start + 1)
    return Response(206, b"" if head else s3.read(info, start, end), headers)


def _copy_source(req: Request) -> tuple[str, str]:
    raw = req.headers.get("x-amz-copy-source") or ""
    raw = raw.split("?", 1)[0]
    source = unquote(raw).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise InvalidArgument("Copy Source must mention the source bucket and key: "
                       "sourcebucket/sourcekey")
    return bucket, key


def _copy_object(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    src_bucket, src_key = _copy_source(req)
    s3.require_bucket(bucket)
    validate_key(key)
    info = s3.head_object(src_bucket, src_key)
    directive = (req.headers.get("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument(f"Unknown metadata directive {directive}")
    if directive == "COPY" and (src_bucket, src_key) == (bucket, key):
        raise InvalidRequest("This copy request is illegal because it is trying to copy an "
                       "object to itself without changing the object's metadata, storage class, "
                       "website redirect location or encryption attributes.")
    if_match = req.headers.get("x-amz-copy-source-if-match")
    if if_match is not None and if_match.strip('"') != info.etag.strip('"'):
        raise PreconditionFailed("At least one of the pre-conditions you specified did "
                       "not hold")
    data = s3.read(info)
    if directive == "REPLACE":
        content_type, metadata, headers = (req.headers.get("Content-Type"), _user_metadata(req),
                                           _stored_headers(req))
    else:
        content_type, metadata, headers = info.content_type, info.metadata, info.headers
    is_multipart = "-" in info.etag
    new = s3.put_object(bucket, key, data, content_type=content_type, metadata=metadata,
                        headers=headers, checksums={} if is_multipart else info.checksums)
    return _xml(f'<CopyObjectResult xmlns="{NS}"><LastModified>{iso8601(new.mtime)}</LastModified>'
                f"<ETag>{_e(new.etag)}</ETag></CopyObjectResult>")


def _delete_objects(s3: S3Backend, req: Request, bucket: str) -> Response:
    s3.require_bucket(bucket)
    body, _ = verified_payload(req)
    root = _parse_xml(body)
    quiet_el = _find(root, "Quiet")
    quiet = quiet_el is not None and (quiet_el.text or "").strip().lower() == "true"
    objects = _findall(root, "Object")
    if len(objects) > 1000:
        raise MalformedXML("A DeleteObjects request may name at most 1000 keys")
    out = [f'<DeleteResult xmlns="{NS}">']
    for obj in objects:
        key_el = _find(obj, "Key")
        key = key_el.text if key_el is not None and key_el.text else ""
        try:
            s3.delete_object(bucket, key)
        except AwsError as error:
            out.append(f"<Error><Key>{_e(key)}</Key><Code>{_e(error.code)}</Code>"
                       f"<Message>{_e(error.message)}</Message></Error>")
            continue
        if not quiet:
            out.append(f"<Deleted><Key>{_e(key)}</Key></Deleted>")
    out.append("</DeleteResult>")
    return _xml("".join(out))


# ----------------------------------------------------------------------------- multipart
def _create_upload(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    algorithm = req.headers.get("x-amz-checksum-algorithm")
    upload_id = s3.create_upload(bucket, key, req.headers.get("Content-Type"), _user_metadata(req),
                                 _stored_headers(req), algorithm)
    headers = {"x-amz-checksum-algorithm": algorithm} if algorithm else {}
    return _xml(f'<InitiateMultipartUploadResult xmlns="{NS}"><Bucket>{_e(bucket)}</Bucket>'
                f"<Key>{_e(key)}</Key><UploadId>{_e(upload_id)}</UploadId>"
                "</InitiateMultipartUploadResult>", headers=headers)


def _part_number(req: Request) -> int:
    try:
        return _strict_int(req.query_value("partNumber") or "")
    except ValueError:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, "
                       "inclusive") from None


def _upload_part(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    data, checksums = verified_payload(req)
    part = s3.upload_part(bucket, key, req.query_value("uploadId") or "", _part_number(req), data,
                          checksums)
    return Response(200, b"", {"ETag": part.etag, **checksum_headers(checksums)})


def _upload_part_copy(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    src_bucket, src_key = _copy_source(req)
    info = s3.head_object(src_bucket, src_key)
    span = req.headers.get("x-amz-copy-source-range")
    start, end = (_parse_range(span, info.size) or (0, info.size - 1)) if span else (0, info.size - 1)
    part = s3.upload_part(bucket, key, req.query_value("uploadId") or "", _part_number(req),
                          s3.read(info, start, end), {})
    return _xml(f'<CopyPartResult xmlns="{NS}"><LastModified>{iso8601(part.modified)}</LastModified>'
                f"<ETag>{_e(part.etag)}</ETag></CopyPartResult>")


def _complete_upload(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    upload_id = req.query_value("uploadId") or ""
    s3.get_upload(bucket, key, upload_id)
    root = _parse_xml(req.body)
    requested = []
    for part in _findall(root, "Part"):
        number_el, etag_el = _find(part, "PartNumber"), _find(part, "ETag")
        try:
            number = _strict_int((number_el.text or "").strip() if number_el is not None else "")
        except ValueError:
            raise MalformedXML("Part without a valid PartNumber") from None
        requested.append((number, (etag_el.text or "") if etag_el is not None else ""))
    info = s3.complete_upload(bucket, key, upload_id, requested)
    return _xml(f'<CompleteMultipartUploadResult xmlns="{NS}"><Location>/{_e(bucket)}/{_e(quote(key))}'
                f"</Location><Bucket>{_e(bucket)}</Bucket><Key>{_e(key)}</Key>"
                f"<ETag>{_e(info.etag)}</ETag></CompleteMultipartUploadResult>")


def _list_parts(s3: S3Backend, req: Request, bucket: str, key: str) -> Response:
    upload_id = req.query_value("uploadId") or ""
    s3.get_upload(bucket, key, upload_id)
    marker = _int_arg(req, "part-number-marker", 0)
    max_parts = min(_int_arg(req, "max-parts", 1000), 1000)
    parts = [p for p in s3.list_parts(upload_id) if p.number > marker]
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    out = [f'<ListPartsResult xmlns="{NS}"><Bucket>{_e(bucket)}</Bucket><Key>{_e(key)}</Key>'
           f"<UploadId>{_e(upload_id)}</UploadId><PartNumberMarker>{marker}</PartNumberMarker>"]
    if parts:
        out.append(f"<NextPartNumberMarker>{parts[-1].number}</NextPartNumberMarker>")
    out.append(f"<MaxParts>{max_parts}</MaxParts><IsTruncated>{'true' if truncated else 'false'}"
               "</IsTruncated>")
    for p in parts:
        out.append(f"<Part><PartNumber>{p.number}</PartNumber><LastModified>{iso8601(p.modified)}"
                   f"</LastModified><ETag>{_e(p.etag)}</ETag><Size>{p.size}</Size></Part>")
    out.append("</ListPartsResult>")
    return _xml("".join(out))


def _list_uploads(s3: S3Backend, req: Request, bucket: str) -> Response:
    prefix = req.query_value("prefix") or ""
    uploads = s3.list_uploads(bucket, prefix)
    out = [f'<ListMultipartUploadsResult xmlns="{NS}"><Bucket>{_e(bucket)}</Bucket>'
           f"<Prefix>{_e(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>"]
    for u in uploads:
        out.append(f"<Upload><Key>{_e(u.key)}</Key><UploadId>{_e(u.upload_id)}</UploadId>"
                   f"<Initiated>{iso8601(u.created)}</Initiated></Upload>")
    out.append("</ListMultipartUploadsResult>")
    return _xml("".join(out))

