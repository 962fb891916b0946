"""IAM identity-policy evaluation: may this principal perform this action on this resource?

`evaluate(policies, action, resource, context)` follows AWS's policy evaluation logic for
identity-based policies in one account (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_evaluation-logic.html): an applicable Deny wins (explicitDeny), else an
applicable Allow (allowed), else implicitDeny. A statement applies when its Action/NotAction
matches the action (case-insensitive, `*` and `?` wildcards), its Resource/NotResource matches
the resource (case-sensitive, wildcards match across `:` and `/`), and every condition holds.
A condition on a key the request context does not carry is false, except for `...IfExists`
operators and `Null` ("Condition keys that are not present in the request context": reference_
policies_elements_condition_operators.html); such keys are reported as missing, as
iam:SimulatePrincipalPolicy reports MissingContextValues.

Written here, not taken from a library, because the ones at hand are more lenient than AWS:
moto 5's access_control ignores every condition operator but StringEquals, lets a missing key
pass, turns a failed Allow condition into an explicit deny and matches actions case-sensitively;
policyuniverse and parliament expand and lint policies but do not decide requests. An operator
this module does not know raises PolicyEvaluationError instead of being ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicitDeny", "implicitDeny"


class PolicyEvaluationError(Exception):
    """A policy uses an element or operator this evaluator does not implement."""


@dataclass
class Decision:
    decision: str
    matched: list[tuple[str, str]] = field(default_factory=list)  # (policy name, statement id)
    missing_context: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(glob: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: `*` any run of characters (including none), `?` one character."""
    return _pattern(glob, ignore_case).match(value) is not None


def action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(matches(p, action, ignore_case=True) for p in patterns)


def resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(matches(p, resource) for p in patterns)


# -- conditions ---------------------------------------------------------------------------


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_equals_ic(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _like(expected: str, actual: str) -> bool:
    return matches(expected, actual)


def _bool(expected: str, actual: str) -> bool:
    return str(expected).lower() == str(actual).lower()


def _numeric(compare):
    def check(expected: str, actual: str) -> bool:
        try:
            return compare(float(actual), float(expected))
        except ValueError:
            return False

    return check


# operator -> (value test, negated)
_OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ic, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ic, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_like, False),
    "ArnLike": (_like, False),
    "ArnNotEquals": (_like, True),
    "ArnNotLike": (_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda a, e: a == e), False),
    "NumericNotEquals": (_numeric(lambda a, e: a == e), True),
    "NumericLessThan": (_numeric(lambda a, e: a < e), False),
    "NumericLessThanEquals": (_numeric(lambda a, e: a <= e), False),
    "NumericGreaterThan": (_numeric(lambda a, e: a > e), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, e: a >= e), False),
}


def _condition_holds(
    operator: str, key: str, expected: list[str], context: dict[str, list[str]], missing: list[str]
) -> bool:
    actual = context.get(key.lower())
    if operator == "Null":
        want_absent = str(expected[0]).lower() == "true"
        return (actual is None) == want_absent
    set_op, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    if op not in _OPERATORS or set_op not in ("", "ForAnyValue", "ForAllValues"):
        raise PolicyEvaluationError(f"condition operator {operator} is not implemented")
    test, negated = _OPERATORS[op]
    if actual is None:
        if if_exists:
            return True
        if set_op == "ForAllValues":  # vacuously true over an empty set (AWS's documented caveat)
            return True
        missing.append(key)
        return False

    def one(value: str) -> bool:
        hit = any(test(str(e), value) for e in expected)
        return not hit if negated else hit

    if set_op == "ForAllValues":
        return all(one(v) for v in actual)
    # ForAnyValue, and single-valued keys (AWS: a single-valued key with several context
    # values is not a case the SDK-built requests here produce).
    return any(one(v) for v in actual)


def _conditions_hold(conditions: dict[str, Any], context: dict[str, list[str]], missing: list[str]) -> bool:
    ok = True
    for operator, keys in conditions.items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, [str(e) for e in as_list(expected)], context, missing):
                ok = False  # keep going: every missing key is reported, as the simulator does
    return ok


def conditions_hold(conditions: dict[str, Any], context: Mapping[str, Iterable[str] | str]) -> bool:
    """Whether a Condition block holds for a context (keys case-insensitive)."""
    ctx = {k.lower(): [str(v) for v in as_list(v)] for k, v in context.items()}
    return _conditions_hold(conditions, ctx, [])


# -- statements -----------------------------------------------------------------------------


def statement_id(statement: dict[str, Any], index: int) -> str:
    return statement.get("Sid") or f"statement {index + 1}"


def _applies_to(statement: dict[str, Any], action: str, resource: str) -> bool:
    for element in ("Principal", "NotPrincipal"):
        if element in statement:
            raise PolicyEvaluationError(f"{element} belongs in resource policies, not identity policies")
    if "Action" in statement:
        if not action_matches(as_list(statement["Action"]), action):
            return False
    elif "NotAction" in statement:
        if action_matches(as_list(statement["NotAction"]), action):
            return False
    else:
        raise PolicyEvaluationError("a statement needs Action or NotAction")
    if "Resource" in statement:
        return resource_matches(as_list(statement["Resource"]), resource)
    if "NotResource" in statement:
        return not resource_matches(as_list(statement["NotResource"]), resource)
    raise PolicyEvaluationError("an identity-policy statement needs Resource or NotResource")


def evaluate(
    policies: dict[str, dict[str, Any]],
    action: str,
    resource: str = "*",
    context: Mapping[str, Iterable[str] | str] | None = None,
) -> Decision:
    """The decision of identity policies {name: document} for one request.

    context maps condition keys (case-insensitive) to a value or a list of values.
    Raises PolicyEvaluationError for elements or operators not implemented.
    """
    ctx = {k.lower(): [str(v) for v in as_list(v)] for k, v in (context or {}).items()}
    allows: list[tuple[str, str]] = []
    denies: list[tuple[str, str]] = []
    missing: list[str] = []
    for name, document in policies.items():
        for index, statement in enumerate(as_list(document.get("Statement"))):
            if not _applies_to(statement, action, resource):
                continue
            if not _conditions_hold(statement.get("Condition") or {}, ctx, missing):
                continue
            effect = statement.get("Effect")
            if effect not in ("Allow", "Deny"):
                raise PolicyEvaluationError(f"{name}/{statement_id(statement, index)}: Effect must be Allow or Deny")
            (allows if effect == "Allow" else denies).append((name, statement_id(statement, index)))
    missing = list(dict.fromkeys(missing))
    if denies:
        return Decision(EXPLICIT_DENY, denies, missing)
    if allows:
        return Decision(ALLOWED, allows, missing)
    return Decision(IMPLICIT_DENY, [], missing)
