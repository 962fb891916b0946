"""Check a whole pipeline definition against the definition JSON schema, as CreatePipeline and
UpdatePipeline do on SageMaker (a definition AWS refuses never reaches an execution).

The schema, `definition.schema.json` beside this module, is written from AWS's published
"Pipeline definition JSON schema" (its `$comment` says where it follows the SDK instead) and
validated with the jsonschema library (Draft 2020-12). The error names the JSON path of the
fault, e.g. `$.Steps[6].Arguments.Conditions[0]`, and every rule broken there.

A job step's Arguments (a CreateProcessingJob... request, thousands of nodes) are walked here
and only their expressions are validated against `#/$defs/Expression`: a recursive schema over
every node would cost jsonschema about 0.3 s per definition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

_FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")
_CONTROL = ("Condition", "Fail")  # steps whose Arguments the schema itself describes


class DefinitionSchemaError(ValueError):
    """The definition breaks the schema; the message names the path and the rule."""


@cache
def _schema() -> dict[str, Any]:
    schema = json.loads(resources.files(__package__).joinpath("definition.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_schema())


@cache
def _expression_validator() -> Draft202012Validator:
    return Draft202012Validator({"$ref": "#/$defs/Expression", "$defs": _schema()["$defs"]})


def _leaves(error: ValidationError) -> list[ValidationError]:
    # oneOf/anyOf failures carry the specific errors in their context.
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _job_steps(steps: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        where = f"{path}[{index}]"
        arguments = step.get("Arguments")
        if step.get("Type") == "Condition" and isinstance(arguments, dict):
            for branch in ("IfSteps", "ElseSteps"):
                yield from _job_steps(arguments.get(branch), f"{where}.Arguments.{branch}")
        elif step.get("Type") not in _CONTROL:
            yield step, where


def _expressions(value: Any, path: str) -> Iterator[tuple[Any, str]]:
    if isinstance(value, dict):
        if any(name in value for name in _FUNCTIONS):
            yield value, path
            return
        for key, item in value.items():
            yield from _expressions(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _expressions(item, f"{path}[{index}]")


def _message(error: ValidationError) -> str:
    forbidden = error.validator_value.get("required") if error.validator == "not" else None
    if forbidden and isinstance(error.instance, dict):  # the schema's forbid(): see its $comment
        return f"{forbidden[0]} is not a setting of a {error.instance.get('Type')} step"
    return error.message


def check(definition: Any) -> None:
    """Raise DefinitionSchemaError naming the deepest path at fault and every rule broken there."""
    found = [(e, e.json_path, _message(e)) for error in _validator().iter_errors(definition) for e in _leaves(error)]
    if not found and isinstance(definition, dict):
        expression = _expression_validator()
        for step, where in _job_steps(definition.get("Steps"), "$.Steps"):
            for value, path in _expressions(step.get("Arguments"), f"{where}.Arguments"):
                found += [
                    (e, path + e.json_path[1:], e.message)
                    for error in expression.iter_errors(value)
                    for e in _leaves(error)
                ]
    if not found:
        return
    deepest = max(path.count(".") + path.count("[") for _, path, _ in found)
    path = next(p for _, p, _ in found if p.count(".") + p.count("[") == deepest)
    messages = sorted({message for _, p, message in found if p == path})
    raise DefinitionSchemaError(f"at {path}: {'; '.join(messages)}")
