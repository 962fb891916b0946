"""Pipeline parameters: declared types and defaults, and per-execution overrides.

Overrides arrive over the wire as strings (StartPipelineExecution's PipelineParameters); each is
converted to its declared type here, so a bad value fails the execution naming the parameter.
"""

from __future__ import annotations

import math
import re
from typing import Any

from localcloud.errors import ValidationException

TYPES = ("String", "Integer", "Float", "Boolean")
# Numbers as text: ASCII decimal or scientific notation. Python's int()/float() also read
# " 5", "1_000", Arabic-Indic digits, "nan" and "inf", which no AWS service parses as numbers.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class PipelineParameterError(Exception):
    """A parameter that is undeclared, missing or of the wrong type."""


def convert(name: str, kind: str, value: Any) -> Any:
    """value (a string from the wire, or a JSON default) as the declared type."""
    try:
        if kind == "String":
            if isinstance(value, (dict, list)):
                raise ValueError
            return value if isinstance(value, str) else str(value)
        if kind == "Integer":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            if isinstance(value, int):
                return value
            if not isinstance(value, str) or not _INTEGER.fullmatch(value):
                raise ValueError
            return int(value)
        if kind == "Float":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str) and _FLOAT.fullmatch(value):
                number = float(value)
            elif isinstance(value, (int, float)):
                number = float(value)
            else:
                raise ValueError
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind == "Boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "false"):
                return text == "true"
            raise ValueError
    except ValueError:
        raise PipelineParameterError(f"Parameter {name}: value {value!r} is not a valid {kind}") from None
    raise PipelineParameterError(f"Parameter {name}: unknown type {kind!r} (expected one of {', '.join(TYPES)})")


def check_value(value: Any) -> None:
    """StartPipelineExecution's check of one PipelineParameters Value: SageMaker refuses an
    empty one (a String parameter included) with ValidationException
    '[string "" is too short (length: 0, required minimum: 1)]' (aws/sagemaker-python-sdk#4016,
    the SDK's local mode matched it in #4354). botocore's model gives Value (String1024) a minimum of 0, so
    the service checks it, not the client."""
    if value == "":
        raise ValidationException('[string "" is too short (length: 0, required minimum: 1)]')


def declared(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Parameter declarations by name, checked for shape and type."""
    specs: dict[str, dict[str, Any]] = {}
    for spec in definition.get("Parameters") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("Name"), str):
            raise PipelineParameterError(f"a parameter declaration needs a Name: {spec!r}")
        kind = spec.get("Type", "String")
        if kind not in TYPES:
            raise PipelineParameterError(
                f"Parameter {spec['Name']}: unknown type {kind!r} (expected one of {', '.join(TYPES)})"
            )
        specs[spec["Name"]] = spec
    return specs


def resolve(definition: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Every declared parameter's value for one execution: its override or its default."""
    specs = declared(definition)
    unknown = sorted(set(overrides) - set(specs))
    if unknown:
        raise PipelineParameterError(
            f"Parameter {unknown[0]} is not declared by the pipeline (declared: {', '.join(specs) or 'none'})"
        )
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        kind = spec.get("Type", "String")
        if name in overrides:
            value = convert(name, kind, overrides[name])
        elif "DefaultValue" in spec:
            value = convert(name, kind, spec["DefaultValue"])
        else:
            raise PipelineParameterError(f"Parameter {name} has no default value and was not given")
        allowed = spec.get("EnumValues")
        if allowed and value not in allowed:
            raise PipelineParameterError(f"Parameter {name}: value {value!r} is not one of {allowed}")
        values[name] = value
    return values
