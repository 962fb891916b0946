"""EventBridge event-pattern matching: compile once, match many events.

No Python library implements AWS's pattern language faithfully (the reference is the Java
`event-ruler`, https://github.com/aws/event-ruler; moto's EventPattern confuses true with 1,
cannot match fields inside arrays of objects and ignores dotted keys), so this is a small
recursive matcher over the documented semantics ("Content filtering in Amazon EventBridge
event patterns", "Comparison operators for use in event patterns", and event-ruler's README):

* A pattern is a JSON object; each key names an event field. Its value is either a nested
  object (match inside that field) or an array of alternatives (a leaf: any may match).
* `$or` at any object level holds an array of sub-patterns; one of them must match.
* An event field that is an array matches if any of its elements matches.
* A pattern key absent from the event fails, unless the leaf says `{"exists": false}`.
  Leaves are scalars (strings, numbers, true/false, null): a field whose value is an object
  or an empty array has no leaf there, so only `exists: false` matches it.
* Keys are paths joined with dots, in patterns and events alike (event-ruler compiles
  `{"detail": {"state": ...}}` and `{"detail.state": ...}` to the same field, and matches both
  against `{"detail": {"state": "x"}}` and `{"detail.state": "x"}`).

Operators in a leaf: exact values (string, number, true/false, null), `prefix`, `suffix`
(both also as `{"equals-ignore-case": ...}`), `anything-but` (a value or a list of only strings
or only numbers, or a prefix / suffix / wildcard / equals-ignore-case object holding one
string or a list of them), `numeric`, `exists`, `equals-ignore-case`, `wildcard` and `cidr`.
String operators match only string values; `numeric` only JSON numbers (as doubles).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_MISSING = object()  # an event field that is not there (distinct from JSON null)

Leaf = Callable[[Any], bool]  # one alternative of a leaf array, applied to a present scalar


class PatternError(ValueError):
    """A malformed pattern; the API reports it as InvalidEventPatternException."""


def _is_number(value: Any) -> bool:
    # JSON true/false are not numbers, though Python's bool subclasses int.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 5 == 5.0, but true != 1 and "5" != 5."""
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


# --- string operators -------------------------------------------------------------------


def _string_arg(op: str, value: Any) -> str:
    if not isinstance(value, str):
        raise PatternError(f"{op} match pattern must be a string")
    return value


def _affix(op: str, arg: Any) -> Leaf:
    """`prefix` / `suffix`, either case-sensitive or `{"equals-ignore-case": "..."}`."""
    fold = False
    if isinstance(arg, dict):
        if set(arg) != {"equals-ignore-case"}:
            raise PatternError(f"Unsupported {op} modifier: {sorted(arg)}")
        arg, fold = arg["equals-ignore-case"], True
    text = _string_arg(op, arg)
    if fold:
        text = text.lower()
    test = str.startswith if op == "prefix" else str.endswith

    def leaf(v: Any) -> bool:
        return isinstance(v, str) and test(v.lower() if fold else v, text)

    return leaf


def _wildcard(arg: Any) -> Leaf:
    text = _string_arg("wildcard", arg)
    if "**" in text.replace("\\*", ""):
        raise PatternError("Consecutive wildcard characters are not allowed")
    # `*` matches any run of characters; `\*` is a literal star and `\\` a backslash.
    parts: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "*\\":
            parts.append(re.escape(text[i + 1]))
            i += 2
            continue
        if c == "\\":
            raise PatternError("Backslash in wildcard must escape '*' or '\\'")
        parts.append(".*" if c == "*" else re.escape(c))
        i += 1
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda v: isinstance(v, str) and regex.fullmatch(v) is not None


def _ignore_case(arg: Any) -> Leaf:
    # Lower-casing, as event-ruler does; casefold() would also equate "ß" with "ss".
    text = _string_arg("equals-ignore-case", arg).lower()
    return lambda v: isinstance(v, str) and v.lower() == text


# --- numeric, cidr ----------------------------------------------------------------------

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric(arg: Any) -> Leaf:
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise PatternError("numeric match must be a list of operator/value pairs")
    checks: list[tuple[Callable[[float, float], bool], float]] = []
    for op, bound in zip(arg[::2], arg[1::2]):
        if op not in _COMPARE:
            raise PatternError(f"Unrecognized numeric range operator: {op!r}")
        if not _is_number(bound):
            raise PatternError(f"Value of {op} must be numeric")
        checks.append((_COMPARE[op], float(bound)))
    ops = arg[::2]
    if "=" in ops and len(ops) > 1 or len(ops) > 2:
        raise PatternError("numeric match allows '=' alone or at most a lower and an upper bound")
    if len(ops) == 2 and not (ops[0] in (">", ">=") and ops[1] in ("<", "<=")):
        raise PatternError("numeric range must give a lower bound ('>'/'>=') then an upper one")
    return lambda v: _is_number(v) and all(cmp(float(v), b) for cmp, b in checks)


def _cidr(arg: Any) -> Leaf:
    try:
        network = ipaddress.ip_network(_string_arg("cidr", arg), strict=False)
    except ValueError:
        raise PatternError(f"Malformed CIDR: {arg!r}") from None

    def leaf(v: Any) -> bool:
        try:
            return isinstance(v, str) and ipaddress.ip_address(v) in network
        except ValueError:
            return False

    return leaf


# --- anything-but -----------------------------------------------------------------------


def _anything_but(arg: Any) -> Leaf:
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise PatternError("anything-but object must hold exactly one operator")
        ((op, inner),) = arg.items()
        make: Callable[[Any], Leaf]
        if op in ("prefix", "suffix"):
            make = functools.partial(_affix, op)
        elif op == "wildcard":
            make = _wildcard
        elif op == "equals-ignore-case":
            make = _ignore_case
        else:
            raise PatternError(f"Unsupported anything-but operator: {op}")
        items = inner if isinstance(inner, list) else [inner]
        if not items:
            raise PatternError(f"anything-but {op} list must not be empty")
        tests = [make(_string_arg(f"anything-but {op}", x)) for x in items]
        # A value that is no string (null, a number, a boolean) is not excluded: it matches, as
        # on AWS (LocalStack's AWS-validated content_anything_prefix_null / _int_value templates).
        return lambda v: not (isinstance(v, str) and any(t(v) for t in tests))
    values = arg if isinstance(arg, list) else [arg]
    if not values:
        raise PatternError("anything-but list must not be empty")
    if not (all(isinstance(v, str) for v in values) or all(_is_number(v) for v in values)):
        raise PatternError("anything-but list must contain only strings or only numbers")
    return lambda v: not any(_same(v, x) for x in values)


# --- compiling --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Alternatives:
    """A leaf array: present scalars try `tests`; an absent field asks `absent_ok`."""

    tests: tuple[Leaf, ...]
    absent_ok: bool

    def matches(self, value: Any) -> bool:
        leaves = list(_leaves(value))
        if not leaves:  # absent, an object, or an empty array: no leaf at this path
            return self.absent_ok
        return any(test(leaf) for leaf in leaves for test in self.tests)


def _leaves(value: Any) -> Iterator[Any]:
    """The scalar values at a path: an array contributes its scalar elements."""
    if value is _MISSING or isinstance(value, dict):
        return
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


@dataclass(frozen=True)
class _Object:
    fields: tuple[tuple[str, _Object | _Alternatives], ...]
    ors: tuple[tuple[_Object, ...], ...]  # each `$or` at this level: one branch must match

    def matches(self, value: Any) -> bool:
        if isinstance(value, list):  # nested pattern against an array of objects: any element
            # (an empty array holds no leaves: every key under it is absent)
            return any(self.matches(item) for item in value) if value else self.matches({})
        if not isinstance(value, dict):
            value = {}  # every key is then absent; only `exists: false` leaves can match
        for key, sub in self.fields:
            field = value.get(key, _MISSING)
            if isinstance(sub, _Object):
                # An absent or scalar field leaves every key under it absent: only a pattern
                # made of `exists: false` matches it (sub.matches treats it as {}).
                if not sub.matches({} if field is _MISSING else field):
                    return False
            elif not sub.matches(field):
                return False
        return all(any(branch.matches(value) for branch in branches) for branches in self.ors)


_OPERATORS: dict[str, Callable[[Any], Leaf]] = {
    "prefix": lambda a: _affix("prefix", a),
    "suffix": lambda a: _affix("suffix", a),
    "anything-but": _anything_but,
    "numeric": _numeric,
    "equals-ignore-case": _ignore_case,
    "wildcard": _wildcard,
    "cidr": _cidr,
}


def _compile_leaf(key: str, values: list[Any]) -> _Alternatives:
    if not values:
        raise PatternError(f"Empty arrays are not allowed (at {key!r})")
    tests: list[Leaf] = []
    absent_ok = False
    for value in values:
        if isinstance(value, dict):
            if len(value) != 1:
                raise PatternError(f"Match object at {key!r} must hold exactly one operator")
            ((op, arg),) = value.items()
            if op == "exists":
                if not isinstance(arg, bool):
                    raise PatternError("exists match pattern must be either true or false")
                if arg:
                    tests.append(lambda v: True)
                else:
                    absent_ok = True
            elif op in _OPERATORS:
                tests.append(_OPERATORS[op](arg))
            else:
                raise PatternError(f"Unrecognized match type {op}")
        elif isinstance(value, list):
            raise PatternError(f"Nested arrays are not allowed (at {key!r})")
        else:  # exact value: string, number, true/false or null
            tests.append(functools.partial(_same, b=value))
    return _Alternatives(tuple(tests), absent_ok)


def _nest_dotted(pattern: dict[str, Any]) -> dict[str, Any]:
    """`{"detail.state": [...]}` as `{"detail": {"state": [...]}}`: one field to the matcher."""
    nested: dict[str, Any] = {}
    for key, value in pattern.items():
        if key == "$or":
            nested[key] = value
            continue
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise PatternError(f"Field {key!r} is given both as a value and as an object")
            node = child
        if leaf in node:
            if isinstance(node[leaf], dict) and isinstance(value, dict):
                node[leaf] = _merge(node[leaf], value, key)
                continue
            raise PatternError(f"Field {key!r} is given more than once")
        node[leaf] = value
    return nested


def _merge(a: dict[str, Any], b: dict[str, Any], key: str) -> dict[str, Any]:
    merged = dict(a)
    for k, v in b.items():
        if k in merged:
            if isinstance(merged[k], dict) and isinstance(v, dict):
                merged[k] = _merge(merged[k], v, f"{key}.{k}")
            else:
                raise PatternError(f"Field {key}.{k} is given more than once")
        else:
            merged[k] = v
    return merged


def _compile_object(pattern: dict[str, Any], where: str) -> _Object:
    if not pattern:
        raise PatternError(f"Empty objects are not allowed{where and f' (at {where!r})'}")
    if any("." in key for key in pattern if key != "$or"):
        pattern = _nest_dotted(pattern)
    fields: list[tuple[str, _Object | _Alternatives]] = []
    ors: list[tuple[_Object, ...]] = []
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2 or not all(isinstance(b, dict) for b in value):
                raise PatternError("$or must be an array of at least two pattern objects")
            ors.append(tuple(_compile_object(b, where) for b in value))
        elif isinstance(value, dict):
            fields.append((key, _compile_object(value, f"{where}.{key}" if where else key)))
        elif isinstance(value, list):
            fields.append((key, _compile_leaf(key, value)))
        else:
            raise PatternError(f"Match value for {key!r} must be an array or an object")
    return _Object(tuple(fields), tuple(ors))


@dataclass(frozen=True)
class Pattern:
    source: str
    root: _Object

    def matches(self, event: dict[str, Any]) -> bool:
        return self.root.matches(_nest_event(event))


def _nest_event(value: Any) -> Any:
    """An event with dotted keys nested, so `{"detail.state": "x"}` is the field detail.state.
    Two values landing on one path become an array of both (event-ruler sees both values)."""
    if isinstance(value, list):
        return [_nest_event(item) for item in value]
    if not isinstance(value, dict):
        return value
    nested: dict[str, Any] = {}
    for key, item in value.items():
        head, *rest = key.split(".")
        wrapped = _nest_event(item)
        for part in reversed(rest):
            wrapped = {part: wrapped}
        nested[head] = wrapped if head not in nested else _combine(nested[head], wrapped)
    return nested


def _combine(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        merged = dict(a)
        for k, v in b.items():
            merged[k] = v if k not in merged else _combine(merged[k], v)
        return merged
    return (a if isinstance(a, list) else [a]) + (b if isinstance(b, list) else [b])


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern_json: str) -> Pattern:
    """Parse and check an EventPattern string; PatternError says what is wrong. Cached by the
    text (a Pattern is immutable): every event is matched against every rule's pattern, and
    parsing each rule's pattern for each event cost milliseconds per SageMaker event."""
    try:
        parsed = json.loads(pattern_json)
    except ValueError as error:
        raise PatternError(f"Event pattern is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise PatternError("Event pattern must be a JSON object")
    return Pattern(pattern_json, _compile_object(parsed, ""))
