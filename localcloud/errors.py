"""AWS errors as exceptions: one class per AWS error code, each protocol renders it in its wire shape.

Every error localcloud answers with is a subclass of `AwsError` whose class attributes say
what AWS sends: `code` (the error code botocore reads into `Error.Code`), `status` (the HTTP
status) and `sender` (True: the client's fault, "Sender" in the query protocol; False: the
service's). A service raises its own classes from its `exceptions.py`; the errors every
service shares (the request could not be read, signed or routed) live here. As httpx draws its
own exceptions, the tree:

    AwsError                                  code, status, sender as class attributes
    ├── SerializationException                400  the body is not the protocol's shape
    ├── UnknownOperationException             400  no such operation / service here
    ├── ValidationException                   400  the input fails its model's constraints
    ├── InternalFailure                       500  a fault of localcloud's (never the client's)
    ├── InvalidAction                         400  the query protocol's unknown action
    ├── (the front door: localcloud/server.py)
    │   ├── InvalidHostHeader                 400
    │   └── EntityTooLarge                    413
    ├── (signing: localcloud/sigv4.py)
    │   ├── IncompleteSignature               403
    │   ├── InvalidSignatureException         403
    │   ├── SignatureDoesNotMatch             403
    │   ├── MissingAuthenticationToken        403
    │   ├── RequestTimeTooSkewed              403
    │   ├── UnrecognizedClientException       403  an unknown access key (JSON services)
    │   ├── InvalidAccessKeyId                403  S3's name for an unknown key
    │   ├── AccessDenied                      403  S3's answer for a missing date
    │   ├── AuthorizationHeaderMalformed      400  S3's answer for a wrong scope
    │   └── InvalidRequest                    400  S3: no x-amz-content-sha256
    ├── localcloud.s3.exceptions.*             S3's codes (NoSuchKey, InvalidArgument, ...)
    ├── localcloud.sagemaker.exceptions.*      SageMaker's (ResourceNotFound, ResourceInUse, ...,
    │                                          and the runtime's ModelError, ValidationError...);
    │                                          sagemaker/pipelines and sagemaker/jobs re-export them
    ├── localcloud.featurestore.exceptions.*
    ├── localcloud.athena.exceptions.*
    ├── localcloud.iam.exceptions.*            IAM and STS (NoSuchEntity, ValidationError, ...)
    ├── localcloud.cloudwatch.exceptions.*     (InvalidParameterValue, ResourceNotFound, ...)
    ├── localcloud.events.exceptions.*         (ResourceNotFoundException, ...)
    └── localcloud.autoscaling.exceptions.*    (ValidationException, ObjectNotFoundException, ...)

Two services that answer the same code (SageMaker's and CloudWatch's `ResourceNotFound`) each
define their own class, as moto does: a reader finds a service's errors in its folder, and
services never import each other. Feature Store's control plane is SageMaker's API but its own
folder here, so it has its own `ResourceNotFound` too.
"""

from __future__ import annotations

from typing import ClassVar


class AwsError(Exception):
    """An error AWS would return. Subclasses set `code`, `status` and `sender`."""

    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 500
    sender: ClassVar[bool] = False

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


class SerializationException(AwsError):
    code, status, sender = "SerializationException", 400, True


class UnknownOperationException(AwsError):
    code, status, sender = "UnknownOperationException", 400, True


class ValidationException(AwsError):
    code, status, sender = "ValidationException", 400, True


class InternalFailure(AwsError):
    code, status, sender = "InternalFailure", 500, False


class InvalidAction(AwsError):
    code, status, sender = "InvalidAction", 400, True


class InvalidHostHeader(AwsError):
    code, status, sender = "InvalidHostHeader", 400, True


class EntityTooLarge(AwsError):
    code, status, sender = "EntityTooLarge", 413, True


class IncompleteSignature(AwsError):
    code, status, sender = "IncompleteSignature", 403, True


class InvalidSignatureException(AwsError):
    code, status, sender = "InvalidSignatureException", 403, True


class SignatureDoesNotMatch(AwsError):
    code, status, sender = "SignatureDoesNotMatch", 403, True


class MissingAuthenticationToken(AwsError):
    code, status, sender = "MissingAuthenticationToken", 403, True


class RequestTimeTooSkewed(AwsError):
    code, status, sender = "RequestTimeTooSkewed", 403, True


class InvalidAccessKeyId(AwsError):
    code, status, sender = "InvalidAccessKeyId", 403, True


class AuthorizationHeaderMalformed(AwsError):
    code, status, sender = "AuthorizationHeaderMalformed", 400, True


class UnrecognizedClientException(AwsError):
    code, status, sender = "UnrecognizedClientException", 403, True


class AccessDenied(AwsError):
    code, status, sender = "AccessDenied", 403, True


class InvalidRequest(AwsError):
    code, status, sender = "InvalidRequest", 400, True
