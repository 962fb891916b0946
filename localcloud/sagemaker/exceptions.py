"""The errors SageMaker answers: the control plane's (JSON 1.1, rendered by localcloud.json_api)
and the runtime's (InvokeEndpoint, REST-JSON, rendered by localcloud.sagemaker.runtime).

Codes and statuses are botocore's `sagemaker` and `sagemaker-runtime` service models and the
API references (API_InvokeEndpoint, "Errors"). The control plane's ValidationException is
localcloud.errors.ValidationException: SageMaker reports a missing model, endpoint config,
endpoint, model package or group that way, as AWS does.
"""

from __future__ import annotations

from typing import Any

from localcloud.errors import AwsError

# -- control plane ----------------------------------------------------------------------------


class ResourceNotFound(AwsError):
    """SageMaker's code for a missing resource where the API answers it (not hosting's
    Describe*/Delete*, which answer ValidationException)."""

    code, status, sender = "ResourceNotFound", 400, True


class ResourceInUse(AwsError):
    """SageMaker's code for a resource that exists already or is busy, where the API answers it."""

    code, status, sender = "ResourceInUse", 400, True


class ResourceLimitExceeded(AwsError):
    """An account-level service quota would be exceeded (e.g. "<type> for endpoint usage")."""

    code, status, sender = "ResourceLimitExceeded", 400, True


class ConflictException(AwsError):
    """DeleteModelPackageGroup on a group that still holds model packages."""

    code, status, sender = "ConflictException", 400, True


# -- runtime (InvokeEndpoint) -----------------------------------------------------------------


class InvokeError(AwsError):
    """A sagemaker-runtime error. Its `fields` are extra members of the error body
    (ModelError's OriginalStatusCode, OriginalMessage, LogStreamArn), which
    localcloud.sagemaker.runtime renders beside `__type` and `Message`."""

    def __init__(self, message: str = "", **fields: Any):
        super().__init__(message)
        self.fields = fields

    def fresh(self) -> InvokeError:
        """A new error like this one: re-raising one object from many threads tangles tracebacks."""
        return type(self)(self.message, **self.fields)


class ModelError(InvokeError):
    """The model (its container) answered an error, or could not be loaded: 424 with the
    model's own status in OriginalStatusCode."""

    code, status, sender = "ModelError", 424, True


class ValidationError(InvokeError):
    """The runtime's input errors: an unknown or not InService endpoint, a bad variant or
    TargetModel, a bad InferenceId."""

    code, status, sender = "ValidationError", 400, True


class PayloadTooLarge(InvokeError):
    """A body over the runtime's 6 MB limit: refused before any model sees it."""

    code, status, sender = "ValidationError", 413, True


class NoSuchOperation(InvokeError):
    """A runtime path localcloud does not serve."""

    code, status, sender = "UnknownOperationException", 404, True


class UnsupportedMethod(InvokeError):
    """A method other than POST on /endpoints/<name>/invocations."""

    code, status, sender = "UnknownOperationException", 405, True
