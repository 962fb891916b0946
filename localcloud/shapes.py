"""Check a request's parameters against its botocore input shape, as AWS's front end does.

What is checked (the constraint traits of the service model, "Smithy constraint traits" /
botocore's service-2.json): required members (JSON null counts as absent), unknown members,
types, string and blob lengths, list and map sizes, integer, long, float and double ranges,
enums, unions (exactly one member) and patterns. Numbers must be finite: NaN and Infinity are
not JSON, and AWS refuses them. Timestamps on the JSON protocols are epoch seconds.

Patterns in the models are Java regular expressions, and AWS matches the whole value with
them. Python's `re` understands a different dialect (no `\\p{L}`, no `\\z`, Unicode `\\w`, `$`
that also matches before a trailing newline), so each pattern is translated to the `regex`
module's dialect with Java's meanings (see `java_pattern`) and matched with `fullmatch`.
Hand-written: no library translates Java patterns to Python.

Messages follow AWS's: "1 validation error detected: Value 'x' at 'pipelineName' failed to
satisfy constraint: Member must satisfy regular expression pattern: ...".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
from functools import cache
from typing import Any

import regex
from botocore.model import OperationModel, Shape

from localcloud.errors import SerializationException, ValidationException


class PatternTranslationError(RuntimeError):
    """A model pattern this module cannot translate (a test keeps the services we serve free of
    them, so no request is ever checked more leniently than AWS checks it)."""


# Java's POSIX classes are US-ASCII only (java.util.regex.Pattern, "POSIX character classes").
_JAVA_POSIX = {
    "Lower": r"a-z",
    "Upper": r"A-Z",
    "ASCII": r"\x00-\x7F",
    "Alpha": r"a-zA-Z",
    "Digit": r"0-9",
    "Alnum": r"a-zA-Z0-9",
    "Punct": r"!-/:-@\[-`{-~",
    "Graph": r"!-~",
    "Print": r"\x20-\x7E",
    "Blank": r" \t",
    "Cntrl": r"\x00-\x1F\x7F",
    "XDigit": r"0-9a-fA-F",
    "Space": r" \t\n\x0B\f\r",
}
# Java's shorthand classes are ASCII (without UNICODE_CHARACTER_CLASS); Python's are Unicode.
_JAVA_SHORTHAND = {"w": "a-zA-Z_0-9", "d": "0-9", "s": r" \t\n\x0B\f\r"}
# Java's "." excludes every line terminator, not only "\n".
_JAVA_DOT = r"[^\n\r\u0085\u2028\u2029]"
# A UTF-16 surrogate-pair range as Java writes "any supplementary character".
_SURROGATE_RANGE = r"\uD800\uDC00-\uDBFF\uDFFF"


def java_pattern(pattern: str) -> str:
    """A Java regular expression rewritten with the same meaning for the `regex` module:
    POSIX classes, `\\w \\d \\s` (and negations) as Java's ASCII sets, `.` without any line
    terminator, `\\z`/`\\Z`, surrogate-pair ranges as code-point ranges. Unicode categories
    (`\\p{L}`) keep their syntax."""
    text = pattern.replace(_SURROGATE_RANGE, r"\U00010000-\U0010FFFF")
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            escape, i = _escape(text, i)
            if escape[0] == "^":
                out.append(f"[{escape}]")
            else:
                out.append(
                    escape
                    if escape.startswith("\\") and len(escape) == 2 or escape.startswith(("(?", "\\p", "\\P"))
                    else f"[{escape}]"
                )
        elif c == "[":
            translated, i = _char_class(text, i, pattern)
            out.append(translated)
        elif c == ".":
            out.append(_JAVA_DOT)
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _escape(text: str, i: int) -> tuple[str, int]:
    """The escape at text[i] as class content ("a-z", "^0-9" for a negated set) or, for
    escapes that are not sets, as regex text; and the index after it."""
    nxt = text[i + 1]
    if nxt in "pP" and text[i + 2 : i + 3] == "{":
        end = text.index("}", i)
        name = text[i + 3 : end]
        posix = _JAVA_POSIX.get(name.removeprefix("Is"))
        if posix is None:
            return text[i : end + 1], end + 1  # a Unicode category: same syntax
        return ("^" if nxt == "P" else "") + posix, end + 1
    if nxt.lower() in _JAVA_SHORTHAND:
        return ("^" if nxt.isupper() else "") + _JAVA_SHORTHAND[nxt.lower()], i + 2
    if nxt == "z":
        return r"\Z", i + 2  # Java's \z: the very end
    if nxt == "Z":
        return r"(?=\r?\n?\Z)", i + 2  # Java's \Z: the end, or before a final terminator
    return text[i : i + 2], i + 2


def _char_class(text: str, i: int, pattern: str) -> tuple[str, int]:
    """Translate the class opening at text[i]. A negated set inside it (`[\\S\\s]`) becomes an
    alternation, since the regex module's VERSION0 has no nested classes."""
    i += 1
    negated = text[i : i + 1] == "^"
    if negated:
        i += 1
    positive: list[str] = []
    negatives: list[str] = []
    if text[i : i + 1] == "]":  # a leading "]" is a literal in both dialects
        positive.append(r"\]")
        i += 1
    while i < len(text) and text[i] != "]":
        if text[i] == "\\" and i + 1 < len(text):
            escape, i = _escape(text, i)
            if escape.startswith("^"):
                negatives.append(escape[1:])
            elif escape.startswith("(?") or escape == r"\Z":
                raise PatternTranslationError(f"anchor inside a class in {pattern!r}")
            else:
                positive.append(escape)
        elif text[i] == "[":
            raise PatternTranslationError(f"nested class in {pattern!r}")
        else:
            positive.append(text[i])
            i += 1
    if i >= len(text):
        raise PatternTranslationError(f"unterminated class in {pattern!r}")
    i += 1
    if not negatives:
        return f"[{'^' if negated else ''}{''.join(positive)}]", i
    if negated:
        raise PatternTranslationError(f"negated set inside a negated class in {pattern!r}")
    alternatives = ([f"[{''.join(positive)}]"] if positive else []) + [f"[^{n}]" for n in negatives]
    return f"(?:{'|'.join(alternatives)})", i


@cache
def compiled(pattern: str) -> regex.Pattern[str]:
    try:
        return regex.compile(java_pattern(pattern), regex.VERSION0)
    except regex.error as exc:
        raise PatternTranslationError(f"cannot translate pattern {pattern!r}: {exc}") from None


def validate_input(operation: OperationModel, params: dict[str, Any]) -> None:
    """Raise ValidationException listing every constraint `params` breaks (AWS lists up to 10)."""
    errors: list[str] = []
    if operation.input_shape is not None:
        try:
            _check(operation.input_shape, params, "", errors)
        except RecursionError:  # a body nested deeper than any model shape: AWS's parser refuses it
            raise SerializationException("Request body is nested too deeply") from None
    if errors:
        noun = "error" if len(errors) == 1 else "errors"
        raise ValidationException(f"{len(errors)} validation {noun} detected: " + "; ".join(errors[:10]))


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _check(shape: Shape, value: Any, where: str, errors: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, where, errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"Value at '{where}' must be a list")
            return
        _check_size(shape, len(value), where, errors, "length")
        for i, item in enumerate(value):
            if item is None:
                errors.append(
                    f"Value null at '{where}.{i + 1}.member' failed to satisfy constraint: Member must not be null"
                )
            else:
                _check(shape.member, item, f"{where}.{i + 1}.member", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"Value at '{where}' must be a map")
            return
        _check_size(shape, len(value), where, errors, "length")
        for key, item in value.items():
            _check(shape.key, key, f"{where}.key", errors)
            if item is None:
                errors.append(f"Value null at '{where}.value' failed to satisfy constraint: Member must not be null")
            else:
                _check(shape.value, item, f"{where}.value", errors)
    elif kind == "string":
        _check_string(shape, value, where, errors)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"Value '{_show(value)}' at '{where}' must be an integer")
            return
        _check_range(shape, value, where, errors)
    elif kind in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            # botocore sends NaN and Infinity as these strings; AWS's constraints refuse them.
            errors.append(f"Value '{_show(value)}' at '{where}' must be a finite number")
            return
        if not math.isfinite(value):
            raise SerializationException(
                f"Value '{value}' at '{where}' is not a valid number: NaN and Infinity are not JSON numbers"
            )
        _check_range(shape, value, where, errors)
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"Value '{_show(value)}' at '{where}' must be a boolean")
    elif kind == "timestamp":
        # The JSON protocols send epoch seconds (botocore's serializer does so for every client).
        if isinstance(value, dt.datetime):  # an in-process caller
            return
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            errors.append(f"Value '{_show(value)}' at '{where}' must be a timestamp in epoch seconds")
    elif kind == "blob":
        _check_blob(shape, value, where, errors)


def _check_structure(shape: Shape, value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"Value at '{where}' must be a structure")
        return
    for req in shape.required_members:
        if value.get(req) is None:
            errors.append(f"Value null at '{_lower(req, where)}' failed to satisfy constraint: Member must not be null")
    present = 0
    for key, item in value.items():
        member = shape.members.get(key)
        if member is None:
            errors.append(f"Unknown parameter '{_lower(key, where)}'")
        elif item is not None:  # JSON null is the member left out
            present += 1
            _check(member, item, _lower(key, where), errors)
    if shape.metadata.get("union") and present != 1:
        errors.append(
            f"Value at '{where or 'input'}' must set exactly one member of the union "
            f"({', '.join(shape.members)}); {present} given"
        )


def _check_string(shape: Shape, value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        errors.append(f"Value '{_show(value)}' at '{where}' must be a string")
        return
    _check_size(shape, len(value), where, errors, "length")
    pattern = shape.metadata.get("pattern")
    if pattern and not compiled(pattern).fullmatch(value):
        errors.append(
            f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
        )
    if shape.enum and value not in shape.enum:
        errors.append(
            f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
        )


def _check_blob(shape: Shape, value: Any, where: str, errors: list[str]) -> None:
    if isinstance(value, (bytes, bytearray)):  # an in-process caller
        data = bytes(value)
    elif isinstance(value, str):
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"Value at '{where}' is not valid base64") from None
    else:
        errors.append(f"Value at '{where}' must be a blob (base64 text)")
        return
    _check_size(shape, len(data), where, errors, "length")


def _check_size(shape: Shape, size: int, where: str, errors: list[str], what: str) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and size < lo:
        errors.append(
            f"Value at '{where}' failed to satisfy constraint: Member must have {what} greater than or equal to {lo}"
        )
    if hi is not None and size > hi:
        errors.append(
            f"Value at '{where}' failed to satisfy constraint: Member must have {what} less than or equal to {hi}"
        )


def _check_range(shape: Shape, value: float, where: str, errors: list[str]) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and value < lo:
        errors.append(
            f"Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {lo}"
        )
    if hi is not None and value > hi:
        errors.append(
            f"Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {hi}"
        )


def _lower(name: str, where: str) -> str:
    # AWS names members in validation messages in lowerCamelCase, dotted by path.
    leaf = name[:1].lower() + name[1:]
    return f"{where}.{leaf}" if where else leaf
