"""Dispatch for AWS's JSON 1.1 protocol (X-Amz-Target), checked against botocore's models.

Inputs are validated as AWS validates them (localcloud.shapes: required members, lengths,
ranges, enums, timestamps and the model's patterns, matched whole with Java's meanings), so a
bad name is refused before it reaches a path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.session

from localcloud.errors import AwsError, UnknownOperationException, ValidationException
from localcloud.protocol import Request, Response, json_body, json_error, json_response
from localcloud.shapes import validate_input

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

__all__ = ["JsonApi", "page", "page_start", "service_model", "validate_input", "with_token"]

T = TypeVar("T")

_TOKEN = re.compile(r"[0-9]{1,9}")

Operation = Callable[["LocalCloud", dict[str, Any]], dict[str, Any] | None]


@cache
def service_model(name: str):
    return botocore.session.get_session().get_service_model(name)


def page_start(
    params: Mapping[str, Any], invalid: type[AwsError] = ValidationException, message: str | None = None
) -> int:
    """The offset a NextToken we issued stands for. Anything else is the service's error for a
    token it did not issue (`invalid`, ValidationException unless the service names another;
    int() would also take "-5", "+5", " 5", "1_0" or other scripts' digits)."""
    token = params.get("NextToken")
    if token is None or token == "":
        return 0
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise invalid(message or f"Invalid NextToken: {token!r}")
    return int(token)


def page(
    items: Sequence[T],
    params: Mapping[str, Any],
    *,
    default_max: int,
    max_key: str = "MaxResults",
    invalid: type[AwsError] = ValidationException,
    message: str | None = None,
) -> tuple[list[T], str | None]:
    """Every List operation's paging: (this page's items, the NextToken for the next page or None).

    The token is the offset of the next page, as a decimal string; a token we did not issue is
    `invalid` (see page_start). `max_key` names the operation's page-size member (MaxResults,
    MaxRecords); `default_max` is the operation's documented default page size."""
    start = page_start(params, invalid, message)
    size = params.get(max_key) or default_max
    end = start + size
    return list(items[start:end]), (str(end) if end < len(items) else None)


def with_token(payload: dict[str, Any], token: str | None) -> dict[str, Any]:
    """A List response: `payload` plus "NextToken" when `page` gave one (AWS leaves it out on
    the last page)."""
    return {**payload, "NextToken": token} if token else payload


def without_nulls(value: Any) -> Any:
    """A request as the operation sees it: a member sent as JSON null is absent, as AWS's JSON
    protocols read it (validate_input has already refused null where a value is required, and
    null list or map entries). So `params.get("SortBy", "CreationTime")` means the default."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


class JsonApi:
    """One JSON 1.1 service: target prefix → operations, each `fn(cloud, params) -> dict`."""

    def __init__(
        self,
        model_name: str,
        target_prefix: str,
        operations: dict[str, Operation],
        validation_error: type[AwsError] = ValidationException,
    ):
        self.model_name = model_name
        self.target_prefix = target_prefix
        self.operations = operations
        # The code a service answers for a model-constraint failure: ValidationException for
        # most, CloudWatch's `ValidationError` (a responses module's VALIDATION_ERROR).
        self.validation_error = validation_error

    def _validate(self, name: str, params: dict[str, Any]) -> None:
        try:
            validate_input(service_model(self.model_name).operation_model(name), params)
        except ValidationException as error:
            if self.validation_error is ValidationException:
                raise
            raise self.validation_error(error.message) from None

    def invoke(self, cloud: LocalCloud, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call an operation in-process with the wire API's validation (the pipeline executor's
        RegisterModel/Model steps call the registry exactly as a client would)."""
        operation = self.operations.get(name)
        if operation is None:
            raise UnknownOperationException(f"localcloud does not implement {self.target_prefix}.{name}")
        self._validate(name, params)
        return operation(cloud, without_nulls(params)) or {}

    def handle(self, cloud: LocalCloud, request: Request) -> Response:
        try:
            return json_response(self._dispatch(cloud, request))
        except AwsError as error:
            return json_error(error)

    def _dispatch(self, cloud: LocalCloud, request: Request) -> dict[str, Any] | None:
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, name = target.partition(".")
        if prefix != self.target_prefix or not name:
            raise UnknownOperationException(f"Unknown target {target!r}")
        operation = self.operations.get(name)
        if operation is None:
            raise UnknownOperationException(f"localcloud does not implement {self.target_prefix}.{name}")
        params = json_body(request)
        self._validate(name, params)
        return operation(cloud, without_nulls(params))
