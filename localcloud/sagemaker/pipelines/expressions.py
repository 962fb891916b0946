"""Pipeline expressions: {"Get": ...}, {"Std:Join": ...}, {"Std:JsonGet": ...}.

The definition JSON embeds these anywhere a value may appear (step arguments, conditions,
Fail messages). `evaluate` replaces each with its value for one execution; `step_references`
finds which steps an expression reads, which is how data dependencies order the steps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


class ExpressionError(Exception):
    """An expression that cannot be evaluated; the message says which and why."""


class Context(Protocol):
    def parameter(self, name: str) -> Any: ...
    def execution_variable(self, name: str) -> Any: ...
    def step_properties(self, step: str) -> dict[str, Any]: ...
    def read_json(self, s3_uri: str) -> Any: ...


FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in FUNCTIONS


def evaluate(value: Any, ctx: Context) -> Any:
    """The value with every expression inside it (at any depth) replaced by its result."""
    if is_expression(value):
        ((function, argument),) = value.items()
        if function == "Get":
            return _get(argument, ctx)
        if function == "Std:Join":
            return _join(argument, ctx)
        return _json_get(argument, ctx)
    if isinstance(value, dict):
        return {key: evaluate(item, ctx) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate(item, ctx) for item in value]
    return value


def _get(reference: Any, ctx: Context) -> Any:
    if not isinstance(reference, str):
        raise ExpressionError(f"Get needs a string reference, got {reference!r}")
    root, _, rest = reference.partition(".")
    if root == "Parameters" and rest:
        return ctx.parameter(rest)
    if root == "Execution" and rest:
        return ctx.execution_variable(rest)
    if root == "Steps" and rest:
        step, _, path = rest.partition(".")
        if not path:
            raise ExpressionError(f"Get {reference!r} names step {step} but no property")
        properties = ctx.step_properties(step)
        try:
            return resolve_path(properties, path)
        except LookupError as exc:
            raise ExpressionError(f"Get {reference!r}: step {step} has no property {path} ({exc.args[0]})") from None
    raise ExpressionError(f"Get {reference!r} does not start with Parameters., Execution. or Steps.")


def _join(argument: Any, ctx: Context) -> str:
    if not isinstance(argument, dict) or not isinstance(argument.get("Values"), list):
        raise ExpressionError(f"Std:Join needs {{On, Values: [...]}}, got {argument!r}")
    separator = argument.get("On", "")
    return str(separator).join(to_text(evaluate(v, ctx)) for v in argument["Values"])


def to_text(value: Any) -> str:
    """How a value reads inside a string (Join, command-line arguments): JSON's spelling for
    booleans and null, Python's for numbers and strings."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _json_get(argument: Any, ctx: Context) -> Any:
    if not isinstance(argument, dict) or not isinstance(argument.get("Path"), str):
        raise ExpressionError(f"Std:JsonGet needs a Path, got {argument!r}")
    path = argument["Path"]
    if "PropertyFile" in argument:
        reference = argument["PropertyFile"]
        ref = reference.get("Get") if isinstance(reference, dict) else reference
        match = re.fullmatch(r"Steps\.([^.]+)\.PropertyFiles\.(.+)", ref or "")
        if not match:
            raise ExpressionError(f"Std:JsonGet PropertyFile {reference!r} is not Steps.<step>.PropertyFiles.<name>")
        step, name = match.groups()
        files = ctx.step_properties(step).get("PropertyFiles", {})
        if name not in files:
            raise ExpressionError(
                f"Std:JsonGet: step {step} declares no property file {name!r} "
                f"(it has: {', '.join(sorted(files)) or 'none'})"
            )
        uri, what = files[name], f"property file {name} of step {step} ({files[name]})"
    elif "S3Uri" in argument:
        uri = to_text(evaluate(argument["S3Uri"], ctx))
        what = uri
    else:
        raise ExpressionError("Std:JsonGet needs a PropertyFile or an S3Uri")
    document = ctx.read_json(uri)
    try:
        return resolve_path(document, path)
    except LookupError as exc:
        raise ExpressionError(f"Std:JsonGet: path {path!r} not found in {what}: {exc.args[0]}") from None


# -- paths: a.b[0]['key'].c ----------------------------------------------------------------
# The property and JsonGet path languages are this small subset of JSONPath; written by hand
# because it is twenty lines and no JSONPath library ships in the environment.

_TOKEN = re.compile(r"""\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]""")


@dataclass(frozen=True)
class _Key:
    name: str
    quoted: bool  # ['name'] on a list selects the item with that name (Outputs['train'])


def parse_path(path: str) -> list[_Key | int]:
    text = path[2:] if path.startswith("$.") else path[1:] if path.startswith("$") else path
    tokens: list[_Key | int] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or (match.group(1) and pos > 0 and text[pos] != "."):
            raise LookupError(f"cannot parse {path!r} at position {pos}")
        name, index, single, double = match.groups()
        if index is not None:
            tokens.append(int(index))
        elif name is not None:
            tokens.append(_Key(name, quoted=False))
        else:
            tokens.append(_Key(single if single is not None else double, quoted=True))
        pos = match.end()
    if not tokens:
        raise LookupError(f"empty path {path!r}")
    return tokens


def resolve_path(document: Any, path: str) -> Any:
    value = document
    walked = ""
    for token in parse_path(path):
        if isinstance(token, int):
            if not isinstance(value, list) or token >= len(value):
                raise LookupError(f"no item [{token}] at {walked or 'top level'}")
            value = value[token]
            walked += f"[{token}]"
            continue
        if isinstance(value, dict) and token.name in value:
            value = value[token.name]
        elif isinstance(value, list) and token.quoted:
            value = _named_item(value, token.name, walked)
        else:
            raise LookupError(f"no {token.name!r} at {walked or 'top level'}")
        walked += f"['{token.name}']" if token.quoted else f".{token.name}".lstrip(".")
    return value


def _named_item(items: list[Any], name: str, walked: str) -> Any:
    # Outputs['train'] → the item whose OutputName (ChannelName, InputName, ...) is 'train'.
    for item in items:
        if isinstance(item, dict) and any(k.endswith("Name") and v == name for k, v in item.items()):
            return item
    raise LookupError(f"no item named {name!r} in {walked or 'top level'}")


# -- references ----------------------------------------------------------------------------


def iter_expressions(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (function, argument) pair inside value, nested ones included."""
    if is_expression(value):
        ((function, argument),) = value.items()
        yield function, argument
        yield from iter_expressions(argument)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_expressions(item)


def step_references(value: Any) -> set[str]:
    """Names of the steps whose properties value reads."""
    steps: set[str] = set()
    for function, argument in iter_expressions(value):
        reference = argument if function == "Get" else None
        if isinstance(reference, str) and reference.startswith("Steps."):
            steps.add(reference.split(".")[1])
    return steps


def parameter_references(value: Any) -> set[str]:
    return {
        argument.split(".", 1)[1]
        for function, argument in iter_expressions(value)
        if function == "Get" and isinstance(argument, str) and argument.startswith("Parameters.")
    }
