"""Condition step logic: the comparison, In, Not and Or conditions of the definition schema.

A Condition step's `Conditions` list is true when every condition in it is true (an implicit
And); `Or` and `Not` nest further lists and conditions.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

Evaluate = Callable[[Any], Any]  # turns an expression (or a literal) into its value


class ConditionError(Exception):
    """A condition that cannot be evaluated (bad shape, values that cannot be compared)."""


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "GreaterThan": operator.gt,
    "GreaterThanOrEqualTo": operator.ge,
    "LessThan": operator.lt,
    "LessThanOrEqualTo": operator.le,
}


def all_true(conditions: Any, evaluate: Evaluate) -> bool:
    if not isinstance(conditions, list):
        raise ConditionError(f"Conditions must be a list, got {conditions!r}")
    return all(is_true(condition, evaluate) for condition in conditions)


def is_true(condition: Any, evaluate: Evaluate) -> bool:
    if not isinstance(condition, dict) or "Type" not in condition:
        raise ConditionError(f"a condition needs a Type, got {condition!r}")
    kind = condition["Type"]
    if kind in _COMPARISONS:
        left, right = evaluate(condition.get("LeftValue")), evaluate(condition.get("RightValue"))
        return _compare(kind, left, right)
    if kind == "In":
        value = evaluate(condition.get("QueryValue"))
        values = condition.get("Values")
        if not isinstance(values, list):
            raise ConditionError(f"In needs a Values list, got {values!r}")
        return any(_equal(value, evaluate(item)) for item in values)
    if kind == "Not":
        if "Condition" not in condition:
            raise ConditionError("Not needs a Condition")
        return not is_true(condition["Condition"], evaluate)
    if kind == "Or":
        conditions = condition.get("Conditions")
        if not isinstance(conditions, list):
            raise ConditionError(f"Or needs a Conditions list, got {conditions!r}")
        return any(is_true(c, evaluate) for c in conditions)
    raise ConditionError(
        f"unknown condition Type {kind!r} (expected one of {', '.join([*_COMPARISONS, 'In', 'Not', 'Or'])})"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right  # True is not 1 here
    return left == right


def _compare(kind: str, left: Any, right: Any) -> bool:
    if kind == "Equals":
        return _equal(left, right)
    comparable = (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))
    if not comparable:
        raise ConditionError(f"{kind} cannot compare {left!r} ({_kind(left)}) with {right!r} ({_kind(right)})")
    return _COMPARISONS[kind](left, right)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    names: dict[type, str] = {str: "string", list: "list", dict: "object"}
    return names.get(type(value), type(value).__name__)
