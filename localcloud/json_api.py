"""Dispatch for AWS's JSON 1.1 protocol (X-Amz-Target), checked against botocore's models.

Inputs are validated as AWS validates them — required members, lengths, enums and the
name patterns from the service model — so a bad name is refused before it reaches a path.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape

from localcloud.errors import AwsError
from localcloud.protocol import Request, Response, json_body, json_error, json_response

Operation = Callable[[Any, dict[str, Any]], dict[str, Any] | None]


@cache
def service_model(name: str):
    return botocore.session.get_session().get_service_model(name)


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct; AWS would check it, we cannot
        return None


def validate_input(operation: OperationModel, params: dict[str, Any]) -> None:
    errors: list[str] = []
    if operation.input_shape is not None:
        try:
            _check(operation.input_shape, params, "", errors)
        except RecursionError:
            raise AwsError("SerializationException", "Request body is nested too deeply") from None
    if errors:
        noun = "error" if len(errors) == 1 else "errors"
        raise AwsError("ValidationException",
                       f"{len(errors)} validation {noun} detected: " + "; ".join(errors[:10]))


def _check(shape: Shape, value: Any, where: str, errors: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"Value at '{where}' must be a structure")
            return
        for req in shape.required_members:
            if req not in value:
                errors.append(f"Value null at '{_lower(req, where)}' failed to satisfy constraint: "
                              "Member must not be null")
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                errors.append(f"Unknown parameter '{_lower(key, where)}'")
            else:
                _check(member, item, _lower(key, where), errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"Value at '{where}' must be a list")
            return
        _check_length(shape, len(value), where, errors)
        for i, item in enumerate(value):
            _check(shape.member, item, f"{where}.{i + 1}.member", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"Value at '{where}' must be a map")
            return
        for key, item in value.items():
            _check(shape.key, key, f"{where}.key", errors)
            _check(shape.value, item, f"{where}.value", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"Value '{value}' at '{where}' must be a string")
            return
        _check_length(shape, len(value), where, errors)
        pattern = shape.metadata.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and not compiled.fullmatch(value):
            errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: "
                          f"Member must satisfy regular expression pattern: {pattern}")
        if shape.enum and value not in shape.enum:
            errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: "
                          f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"Value '{value}' at '{where}' must be an integer")
            return
        if "min" in shape.metadata and value < shape.metadata["min"]:
            errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: "
                          f"Member must have value greater than or equal to {shape.metadata['min']}")
        if "max" in shape.metadata and value > shape.metadata["max"]:
            errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: "
                          f"Member must have value less than or equal to {shape.metadata['max']}")
    elif kind in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"Value '{value}' at '{where}' must be a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"Value '{value}' at '{where}' must be a boolean")


def _check_length(shape: Shape, length: int, where: str, errors: list[str]) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and length < lo:
        errors.append(f"Value at '{where}' failed to satisfy constraint: "
                      f"Member must have length greater than or equal to {lo}")
    if hi is not None and length > hi:
        errors.append(f"Value at '{where}' failed to satisfy constraint: "
                      f"Member must have length less than or equal to {hi}")


def _lower(name: str, where: str) -> str:
    # AWS names members in validation messages in lowerCamelCase, dotted by path.
    leaf = name[:1].lower() + name[1:]
    return f"{where}.{leaf}" if where else leaf


class JsonApi:
    """One JSON 1.1 service: target prefix → operations, each `fn(cloud, params) -> dict`."""

    def __init__(self, model_name: str, target_prefix: str, operations: dict[str, Operation]):
        self.model_name = model_name
        self.target_prefix = target_prefix
        self.operations = operations

    def invoke(self, cloud: Any, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call an operation in-process with the wire API's validation (the pipeline executor's
        RegisterModel/Model steps call the registry exactly as a client would)."""
        operation = self.operations.get(name)
        if operation is None:
            raise AwsError("UnknownOperationException",
                           f"localcloud does not implement {self.target_prefix}.{name}")
        validate_input(service_model(self.model_name).operation_model(name), params)
        return operation(cloud, params) or {}

    def handle(self, cloud: Any, request: Request) -> Response:
        try:
            return json_response(self._dispatch(cloud, request))
        except AwsError as error:
            return json_error(error)

    def _dispatch(self, cloud: Any, request: Request) -> dict[str, Any] | None:
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, name = target.partition(".")
        if prefix != self.target_prefix or not name:
            raise AwsError("UnknownOperationException", f"Unknown target {target!r}")
        operation = self.operations.get(name)
        if operation is None:
            raise AwsError("UnknownOperationException",
                           f"localcloud does not implement {self.target_prefix}.{name}")
        params = json_body(request)
        validate_input(service_model(self.model_name).operation_model(name), params)
        return operation(cloud, params)
