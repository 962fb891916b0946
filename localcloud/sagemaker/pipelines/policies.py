"""A step's RetryPolicies and CacheConfig, as the definition schema spells them.

RetryPolicies: [{ExceptionType: [...], IntervalSeconds, BackoffRate, MaxAttempts | ExpireAfterMin}]
CacheConfig:   {Enabled: true, ExpireAfter: ISO 8601 duration such as "PT1H" or "P30D"}
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

# Failure kinds the retry policies name (sagemaker.workflow.retry's enums).
SERVICE_FAULT = "Step.SERVICE_FAULT"
THROTTLING = "Step.THROTTLING"
JOB_INTERNAL_ERROR = "SageMaker.JOB_INTERNAL_ERROR"
CAPACITY_ERROR = "SageMaker.CAPACITY_ERROR"
RESOURCE_LIMIT = "SageMaker.RESOURCE_LIMIT"

DEFAULT_MAX_ATTEMPTS = 5  # when a policy gives neither MaxAttempts nor ExpireAfterMin


class StepPolicyError(Exception):
    """A step's RetryPolicies or CacheConfig the executor cannot apply (fails the step)."""


@dataclass(frozen=True)
class RetryPolicy:
    exception_types: frozenset[str]
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_attempts: int | None = None
    expire_after_seconds: float | None = None

    @classmethod
    def parse(cls, raw: Any, step: str) -> "RetryPolicy":
        if not isinstance(raw, dict) or not isinstance(raw.get("ExceptionType"), list):
            raise StepPolicyError(f"step {step}: a RetryPolicy needs an ExceptionType list")
        try:
            policy = cls(
                frozenset(raw["ExceptionType"]),
                float(raw.get("IntervalSeconds", 1)),
                float(raw.get("BackoffRate", 2.0)),
                int(raw["MaxAttempts"]) if "MaxAttempts" in raw else None,
                float(raw["ExpireAfterMin"]) * 60 if "ExpireAfterMin" in raw else None,
            )
        except (TypeError, ValueError):
            raise StepPolicyError(f"step {step}: RetryPolicy values must be numbers: {raw!r}") from None
        if policy.interval_seconds < 0 or policy.backoff_rate < 0:
            raise StepPolicyError(f"step {step}: IntervalSeconds and BackoffRate must not be negative")
        return policy

    def delay(self, retry_number: int, first_attempt_age: float) -> float | None:
        """Seconds to wait before retry number retry_number (1-based), or None if this policy
        allows no more retries."""
        if self.max_attempts is not None and retry_number > self.max_attempts:
            return None
        if self.max_attempts is None and self.expire_after_seconds is None and retry_number > DEFAULT_MAX_ATTEMPTS:
            return None
        wait = self.interval_seconds * self.backoff_rate ** (retry_number - 1)
        if self.expire_after_seconds is not None and first_attempt_age + wait > self.expire_after_seconds:
            return None
        return wait


def retry_policies(raw: list[Any], step: str) -> list[RetryPolicy]:
    return [RetryPolicy.parse(item, step) for item in raw]


def next_retry(
    policies: list[RetryPolicy], exception_type: str | None, retry_number: int, first_attempt_age: float
) -> float | None:
    """The wait before the next attempt if a policy covers this failure, else None."""
    if exception_type is None:
        return None
    for policy in policies:
        if exception_type in policy.exception_types:
            return policy.delay(retry_number, first_attempt_age)
    return None


# -- caching --------------------------------------------------------------------------------

_DURATION = re.compile(
    r"P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?"
    r"(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?"
    r"(?:(\d+(?:\.\d+)?)S)?)?"
)
_UNIT_SECONDS = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1)


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration ("PT1H", "P30D"); years and months count as 365 and
    30 days. Hand-written: the standard library parses no durations."""
    match = _DURATION.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if not match or not any(match.groups()) or text.strip().upper().endswith("T"):
        raise StepPolicyError(f"ExpireAfter {text!r} is not an ISO 8601 duration such as PT1H or P30D")
    return sum(float(v) * unit for v, unit in zip(match.groups(), _UNIT_SECONDS) if v)


def cache_expiry_seconds(config: dict[str, Any], step: str) -> float | None:
    """How long a cached result of this step stays usable (None: no expiry)."""
    expire = config.get("ExpireAfter")
    if expire is None:
        return None
    try:
        return parse_duration(expire)
    except StepPolicyError as exc:
        raise StepPolicyError(f"step {step}: {exc}") from None


# The request attributes whose change makes a cached step run again, per step type, from
# "Default cache key attributes by pipeline step type" (SageMaker Developer Guide,
# https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html). Everything else
# in the request (output locations, job names, instance types, tags...) does not count, so an
# output S3 URI that contains the execution id does not defeat caching. Step types the page
# does not list are not cached.
CACHE_KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
    "Tuning": ("HyperParameterTuningJobConfig", "TrainingJobDefinition", "TrainingJobDefinitions"),
    "AutoML": ("AutoMLJobConfig", "AutoMLJobObjective", "InputDataConfig", "ProblemType"),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
    "ClarifyCheck": (
        "ClarifyCheckConfig",
        "CheckJobConfig",
        "SkipCheck",
        "RegisterNewBaseline",
        "ModelPackageGroupName",
        "SuppliedBaselineConstraints",
    ),
    "QualityCheck": (
        "QualityCheckConfig",
        "CheckJobConfig",
        "SkipCheck",
        "RegisterNewBaseline",
        "ModelPackageGroupName",
        "SuppliedBaselineConstraints",
        "SuppliedBaselineStatistics",
    ),
    "EMR": ("ClusterId", "StepConfig"),
}
# Of a tuning job's TrainingJobDefinition, only these children count (same page).
_TUNING_DEFINITION_ATTRIBUTES = (
    "AlgorithmSpecification",
    "HyperParameterRanges",
    "InputDataConfig",
    "StaticHyperParameters",
    "TuningObjective",
)


def cache_key(step_type: str, arguments: Any) -> str | None:
    """The key two runs of a step share when AWS would reuse the first: a hash of the step
    type and the evaluated values of its type's cache key attributes (see
    CACHE_KEY_ATTRIBUTES). None for a step type SageMaker does not cache."""
    attributes = CACHE_KEY_ATTRIBUTES.get(step_type)
    if attributes is None:
        return None
    arguments = arguments if isinstance(arguments, dict) else {}
    counted = {name: arguments.get(name) for name in attributes}
    definition = counted.get("TrainingJobDefinition")
    if step_type == "Tuning" and isinstance(definition, dict):
        counted["TrainingJobDefinition"] = {name: definition.get(name) for name in _TUNING_DEFINITION_ATTRIBUTES}
    payload = json.dumps({"Type": step_type, "Attributes": counted}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
