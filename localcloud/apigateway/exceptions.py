"""The errors the local API Gateway answers with itself, and the three that never reach the wire.

API Gateway answers a request it refuses before (or instead of) the integration with a *gateway
response*: its type's status and the body `{"message": "<message>"}`
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
Each AwsError subclass here is one of those types: `code` is the type's name (what
`$context.error.responseType` holds on AWS), `status` the status this gateway answers with.
`responses.error_response` renders one; the `KeyRefusal`s also carry the key id (for the access
log and metrics) and the Retry-After seconds of a 429.

Shared classes reused from localcloud.errors: `InvalidHostHeader` (400: a Host header that is not
a loopback name) and `InternalFailure` (500, "Internal server error": the gateway's own fault).
The statuses an integration answers (the Lambda's own, the direct integration's runtime errors
mapped by responses.DIRECT_ERRORS) are integration responses, not gateway responses: no class.

Never on the wire: `UnknownKey` and `InvalidUsagePlan` (the CLI's `gateway keys` commands print
them), `BadJson` (the reason a body is not JSON, told inside BadRequestBody's message).
"""

from __future__ import annotations

from localcloud.errors import AwsError


class KeyRefusal(AwsError):
    """A request the API key check refuses (InvalidApiKey, Throttled, QuotaExceeded): with the
    key's id when the key is known, and the seconds a client should wait (Retry-After) on 429."""

    def __init__(self, message: str, key_id: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id
        self.retry_after = retry_after


class InvalidApiKey(KeyRefusal):
    """INVALID_API_KEY: no x-api-key header, or a key that is unknown or revoked ("Forbidden")."""

    code, status, sender = "INVALID_API_KEY", 403, True


class Throttled(KeyRefusal):
    """THROTTLED: the usage plan's rate (token bucket) is exceeded ("Too Many Requests")."""

    code, status, sender = "THROTTLED", 429, True


class QuotaExceeded(KeyRefusal):
    """QUOTA_EXCEEDED: the usage plan's daily quota is used up ("Limit Exceeded")."""

    code, status, sender = "QUOTA_EXCEEDED", 429, True


class BadRequestBody(AwsError):
    """BAD_REQUEST_BODY: the body is not JSON or fails the route's model (JSON Schema draft 4)."""

    code, status, sender = "BAD_REQUEST_BODY", 400, True


class RequestTooLarge(AwsError):
    """REQUEST_TOO_LARGE: the body exceeds the gateway's payload limit."""

    code, status, sender = "REQUEST_TOO_LARGE", 413, True


class RouteNotFound(AwsError):
    """RESOURCE_NOT_FOUND: no route has that path (AWS answers an unknown path 403, "Missing
    Authentication Token"; this gateway says what is wrong, with 404)."""

    code, status, sender = "RESOURCE_NOT_FOUND", 404, True


class RouteMethodNotAllowed(AwsError):
    """DEFAULT_4XX: a route has that path but not that method (405 here; no type of its own)."""

    code, status, sender = "DEFAULT_4XX", 405, True


class IntegrationFailure(AwsError):
    """INTEGRATION_FAILURE: the integration failed or answered what the gateway cannot read (a
    Lambda proxy response that is not one, an endpoint's unexpected body): 502, as API Gateway
    answers a malformed Lambda proxy response."""

    code, status, sender = "INTEGRATION_FAILURE", 502, False


class IntegrationTimeout(AwsError):
    """INTEGRATION_TIMEOUT: the integration did not answer within the integration timeout
    (29 s by default for REST APIs; https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html),
    answered "Endpoint request timed out"."""

    code, status, sender = "INTEGRATION_TIMEOUT", 504, False


class IntegrationUnavailable(AwsError):
    """DEFAULT_5XX: the integration could not be reached (the endpoint's runtime): 503."""

    code, status, sender = "DEFAULT_5XX", 503, False


class UnknownKey(LookupError):
    """`revoke` of a key id with no active key (never on the wire: the CLI prints it)."""


class InvalidUsagePlan(ValueError):
    """`create` with a name or a usage plan (rate, burst, quota) out of range (never on the
    wire: the CLI prints it). A ValueError, as the CLI catches it."""


class BadJson(ValueError):
    """Why a request body is not JSON (RFC 8259): told inside a BadRequestBody's message."""
