"""EventBridge event-pattern matching: compile once, match many events.

No Python library implements AWS's pattern language faithfully (the reference is the Java
`event-ruler`), so this is a small recursive matcher over the documented semantics:

* A pattern is a JSON object; each key names an event field. Its value is either a nested
  object (match inside that field) or an array of alternatives (a leaf: any may match).
* `$or` at any object level holds an array of sub-patterns; one of them must match.
* An event field that is an array matches if any of its elements matches.
* A pattern key absent from the event fails, unless the leaf says `{"exists": false}`.

Operators in a leaf: exact values (string, number, true/false, null), `prefix`, `suffix`
(both also as `{"equals-ignore-case": ...}`), `anything-but` (value, list, or prefix /
suffix / wildcard / equals-ignore-case object), `numeric`, `exists`, `equals-ignore-case`,
`wildcard` and `cidr`.
"""
from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
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
        text = text.casefold()
    test = str.startswith if op == "prefix" else str.endswith

    def leaf(v: Any) -> bool:
        return isinstance(v, str) and test(v.casefold() if fold else v, text)
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
    text = _string_arg("equals-ignore-case", arg).casefold()
    return lambda v: isinstance(v, str) and v.casefold() == text


# --- numeric, cidr ----------------------------------------------------------------------

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
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
        (op, inner), = arg.items()
        if op in ("prefix", "suffix"):
            positive = _affix(op, inner)
        elif op == "wildcard":
            positive = _wildcard(inner)
        elif op == "equals-ignore-case":
            if isinstance(inner, list):
                tests = [_ignore_case(x) for x in inner]
                positive = lambda v: any(t(v) for t in tests)  # noqa: E731
            else:
                positive = _ignore_case(inner)
        else:
            raise PatternError(f"Unsupported anything-but operator: {op}")
        return lambda v: isinstance(v, str) and not positive(v)
    values = arg if isinstance(arg, list) else [arg]
    for value in values:
        if not (isinstance(value, str) or _is_number(value)):
            raise PatternError("anything-but values must be strings or numbers")
    return lambda v: not any(_same(v, x) for x in values)


# --- compiling --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Alternatives:
    """A leaf array: present scalars try `tests`; an absent field asks `absent_ok`."""
    tests: tuple[Leaf, ...]
    absent_ok: bool

    def matches(self, value: Any) -> bool:
        if value is _MISSING:
            return self.absent_ok
        if isinstance(value, list):  # an event array matches if any element does
            return any(self.matches(item) for item in value)
        if isinstance(value, dict):  # leaves match scalars only (AWS: "leaf nodes")
            return False
        return any(test(value) for test in self.tests)


@dataclass(frozen=True)
class _Object:
    fields: tuple[tuple[str, _Object | _Alternatives], ...]
    ors: tuple[tuple[_Object, ...], ...]  # each `$or` at this level: one branch must match

    def matches(self, value: Any) -> bool:
        if isinstance(value, list):  # nested pattern against an array of objects: any element
            return any(self.matches(item) for item in value)
        if not isinstance(value, dict):
            value = {}  # every key is then absent; only `exists: false` leaves can match
        for key, sub in self.fields:
            field = value.get(key, _MISSING)
            if isinstance(sub, _Object):
                if field is _MISSING or not sub.matches(field):
                    # An absent object can still satisfy a pattern made of `exists: false`.
                    if not (field is _MISSING and sub.matches({})):
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
            (op, arg), = value.items()
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
            tests.append(lambda v, want=value: _same(v, want))
    return _Alternatives(tuple(tests), absent_ok)


def _compile_object(pattern: dict[str, Any], where: str) -> _Object:
    if not pattern:
        raise PatternError(f"Empty objects are not allowed{where and f' (at {where!r})'}")
    fields: list[tuple[str, _Object | _Alternatives]] = []
    ors: list[tuple[_Object, ...]] = []
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2 or \
                    not all(isinstance(b, dict) for b in value):
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
        return self.root.matches(event)


def compile_pattern(pattern_json: str) -> Pattern:
    """Parse and check an EventPattern string; PatternError says what is wrong."""
    try:
        parsed = json.loads(pattern_json)
    except ValueError as error:
        raise PatternError(f"Event pattern is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise PatternError("Event pattern must be a JSON object")
    return Pattern(pattern_json, _compile_object(parsed, ""))
