"""AWS's resource schemas: which properties a resource type has, which are read-only, which
force a replacement, and their types.

The schemas are the CloudFormation registry's (`aws cloudformation describe-type`), as cfn-lint
ships them (cfnlint/data/schemas: providers/<region>.json names each type's schema file under
resources/). They are read as JSON files; cfn-lint itself is not imported (1.2 s).
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _root() -> Path:
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or spec.origin is None:  # pragma: no cover - cfn-lint is in requirements.lock
        raise RuntimeError("cfn-lint (requirements.lock) is not installed: its resource schemas are needed")
    return Path(spec.origin).parent / "data" / "schemas"


@cache
def _types(region: str) -> dict[str, str]:
    path = _root() / "providers" / f"{region}.json"
    if not path.exists():
        path = _root() / "providers" / "us-east-1.json"
    types: dict[str, str] = json.loads(path.read_text())
    return types


def known(resource_type: str, region: str) -> bool:
    """Whether CloudFormation has the resource type in this region."""
    return resource_type in _types(region)


@cache
def schema(resource_type: str, region: str) -> dict[str, Any]:
    """The type's schema (KeyError for a type CloudFormation does not have)."""
    loaded: dict[str, Any] = json.loads((_root() / "resources" / f"{_types(region)[resource_type]}.json").read_text())
    return loaded


def _names(pointers: list[str]) -> set[str]:
    return {p.split("/")[2] for p in pointers if p.startswith("/properties/")}


def properties(resource_type: str, region: str) -> set[str]:
    """The properties a template may set (read-only ones excluded)."""
    found = schema(resource_type, region)
    return set(found.get("properties", {})) - _names(found.get("readOnlyProperties", []))


def create_only(resource_type: str, region: str) -> set[str]:
    """The properties whose change replaces the resource."""
    return _names(schema(resource_type, region).get("createOnlyProperties", []))


def required(resource_type: str, region: str) -> list[str]:
    return list(schema(resource_type, region).get("required", []))


def coerce(resource_type: str, region: str, props: dict[str, Any]) -> dict[str, Any]:
    """props with scalars converted to the types the schema declares (a parameter's value is a
    string; CloudFormation hands the resource's handler the declared type: "0.1" -> 0.1)."""
    found = schema(resource_type, region)
    return {k: _coerce(v, found.get("properties", {}).get(k, {}), found) for k, v in props.items()}


def _coerce(value: Any, node: dict[str, Any], root: dict[str, Any]) -> Any:
    if "$ref" in node:
        node = root.get("definitions", {}).get(node["$ref"].rsplit("/", 1)[-1], {})
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if isinstance(value, list):
        return [_coerce(v, node.get("items", {}), root) for v in value]
    if isinstance(value, dict):
        members = node.get("properties", {})
        return {k: _coerce(v, members.get(k, {}), root) for k, v in value.items()}
    if isinstance(value, str) and "string" not in kinds:
        try:
            if "integer" in kinds:
                return int(value)
            if "number" in kinds:
                number = float(value)
                return int(number) if number.is_integer() and "." not in value else number
            if "boolean" in kinds and value.lower() in ("true", "false"):
                return value.lower() == "true"
        except ValueError:
            return value  # the handler's service refuses it, naming the property
    if isinstance(value, bool) and "string" in kinds and "boolean" not in kinds:
        return str(value).lower()
    if isinstance(value, int | float) and not isinstance(value, bool) and kinds == ["string"]:
        return str(value)
    return value
