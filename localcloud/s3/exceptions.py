"""S3's error codes, one class each, with the HTTP status S3 answers them with.

Source: Amazon S3 API Reference, "Error responses" (List of error codes),
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html. S3 renders them as
`<Error><Code>..</Code><Message>..</Message><Resource>..</Resource><RequestId>..</RequestId></Error>`
(localcloud.protocol.xml_error). The codes S3 shares with the signing layer (InvalidRequest,
SignatureDoesNotMatch, AccessDenied...) are localcloud.errors' classes, not redefined here.

`ObjectStoreError` is not a wire answer of S3's: it is what `cloud.s3`'s file-level helpers
(split_uri, resolve, download, read_bytes...) raise to the other services that stage job data
through the object store; they report it in their own error.
"""

from __future__ import annotations

from localcloud.errors import AwsError


class NoSuchBucket(AwsError):
    code, status, sender = "NoSuchBucket", 404, True


class NoSuchKey(AwsError):
    code, status, sender = "NoSuchKey", 404, True


class NoSuchUpload(AwsError):
    code, status, sender = "NoSuchUpload", 404, True


class InvalidArgument(AwsError):
    code, status, sender = "InvalidArgument", 400, True


class InvalidBucketName(AwsError):
    code, status, sender = "InvalidBucketName", 400, True


class KeyTooLongError(AwsError):
    code, status, sender = "KeyTooLongError", 400, True


class BucketNotEmpty(AwsError):
    code, status, sender = "BucketNotEmpty", 409, True


class IllegalLocationConstraintException(AwsError):
    code, status, sender = "IllegalLocationConstraintException", 400, True


class MalformedXML(AwsError):
    code, status, sender = "MalformedXML", 400, True


class InvalidPartOrder(AwsError):
    code, status, sender = "InvalidPartOrder", 400, True


class InvalidPart(AwsError):
    code, status, sender = "InvalidPart", 400, True


class InvalidPartNumber(AwsError):
    code, status, sender = "InvalidPartNumber", 416, True


class EntityTooSmall(AwsError):
    code, status, sender = "EntityTooSmall", 400, True


class InvalidRange(AwsError):
    code, status, sender = "InvalidRange", 416, True


class PreconditionFailed(AwsError):
    code, status, sender = "PreconditionFailed", 412, True


class IncompleteBody(AwsError):
    code, status, sender = "IncompleteBody", 400, True


class InvalidDigest(AwsError):
    code, status, sender = "InvalidDigest", 400, True


class BadDigest(AwsError):
    code, status, sender = "BadDigest", 400, True


class XAmzContentSHA256Mismatch(AwsError):
    code, status, sender = "XAmzContentSHA256Mismatch", 400, True


class MethodNotAllowed(AwsError):
    code, status, sender = "MethodNotAllowed", 405, True


class NotImplementedFeature(AwsError):
    """S3's `NotImplemented` (501): a header or subresource localcloud does not serve. (Named
    apart from the code: a class `NotImplemented` would shadow Python's builtin.)"""

    code, status, sender = "NotImplemented", 501, True


class ObjectStoreError(AwsError):
    """A missing bucket or object, or an S3 URI that cannot be used, met by another service
    reaching objects through `cloud.s3` (split_uri, list_keys, has_object, has_prefix, download,
    put_file, upload_dir, open_append, read_bytes, read_json). The message says which; the caller wraps it in its own
    service's error (a SageMaker ValidationException, a failed step...)."""

    code, status, sender = "InvalidArgument", 400, True
