"""The ML Gateway pipeline's parameters, declared once as data: get_pipeline makes the SDK's
Parameter objects from DECLARED, and the CLI (`mlgw run`, `mlgw pipeline start`,
run_pipeline) checks a run's overrides against the same declarations BEFORE anything is
uploaded or built, so `--param DeployStrategy=bogus` costs nothing and names the parameter.

Declarations use the pipeline definition JSON's shape (Name, Type, DefaultValue, EnumValues;
https://aws-sagemaker-mlops.github.io/sagemaker-model-building-pipeline-definition-JSON-schema/).
Defaults that depend on the bucket (the input prefixes, the staged data contract) are filled
in by get_pipeline; here they are None.

No SageMaker SDK import: the CLI reads this without building the pipeline.
"""

from __future__ import annotations

import math
import re
from typing import Any

# (name, type, default, allowed values or None). Order is the definition's.
DECLARED: list[dict[str, Any]] = [
    {"Name": "SchemaUri", "Type": "String", "DefaultValue": None},
    {"Name": "ClaimsInputUri", "Type": "String", "DefaultValue": None},
    {"Name": "CustomersInputUri", "Type": "String", "DefaultValue": None},
    {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"},
    {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"},
    {"Name": "EndpointInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
    {"Name": "ClaimsFeatureGroup", "Type": "String", "DefaultValue": "claims"},
    {"Name": "CustomersFeatureGroup", "Type": "String", "DefaultValue": "customers"},
    {"Name": "MaxDepth", "Type": "Integer", "DefaultValue": 5},
    {"Name": "Eta", "Type": "Float", "DefaultValue": 0.2},
    {"Name": "NumRound", "Type": "Integer", "DefaultValue": 200},
    {"Name": "EarlyStoppingRounds", "Type": "Integer", "DefaultValue": 20},
    {"Name": "AucThreshold", "Type": "Float", "DefaultValue": 0.75},
    # CreateModelPackage's ModelApprovalStatus values
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html).
    {
        "Name": "ModelApprovalStatus",
        "Type": "String",
        "DefaultValue": "Approved",
        "EnumValues": ["Approved", "Rejected", "PendingManualApproval"],
    },
    {"Name": "EndpointName", "Type": "String", "DefaultValue": "ml-gateway-fraud"},
    {"Name": "DeployStrategy", "Type": "String", "DefaultValue": "replace", "EnumValues": ["replace", "canary", "ab"]},
    {"Name": "NewVariantWeight", "Type": "Float", "DefaultValue": 0.1},
    # An MLflow tracking server (on AWS a SageMaker managed MLflow tracking server ARN) that
    # Evaluate logs the run to; empty: nothing is logged.
    {"Name": "MlflowTrackingUri", "Type": "String", "DefaultValue": ""},
    {"Name": "DriftCheckSchedule", "Type": "String", "DefaultValue": "rate(1 hour)"},
    {"Name": "DriftCheckWindowMinutes", "Type": "Integer", "DefaultValue": 60},
    # The champion gate (processing/champion.py): a new model deploys only if its test AUC is at
    # least the serving model's AUC on the same test split minus ChampionMargin; `skip` deploys it
    # regardless (the comparison is still measured and reported).
    {"Name": "ChampionMargin", "Type": "Float", "DefaultValue": 0.01},
    {"Name": "ChampionGate", "Type": "String", "DefaultValue": "enforce", "EnumValues": ["enforce", "skip"]},
]

# Values a run could only fail on later (after training, or at Deploy, with a model already
# registered): checked with the rest before anything starts. Ranges: SageMaker XGBoost's
# hyperparameters (https://docs.aws.amazon.com/sagemaker/latest/dg/xgboost_hyperparameters.html:
# eta [0,1], max_depth [0,inf), num_round required >= 1), an AUC in [0, 1], a canary's share
# strictly between 0 and 1 (processing/deploy.py), a window of a minute to Model Monitor's 24
# hours (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ScheduleConfig.html:
# DataAnalysisStartTime "must not precede the end time ... by more than 24 hours"); `mlgw monitor
# --window-minutes` takes the same bound (mlgw/args.py).
# XGBoost parses max_depth, num_round and early_stopping_rounds as 32-bit ints: a larger value
# fails Train ("Invalid Parameter format for max_depth expect int"), after the data work.
INT32_MAX = 2**31 - 1
# (low, high, whether the bounds themselves are refused)
BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "MaxDepth": (0, INT32_MAX, False),
    "Eta": (0, 1, False),
    "NumRound": (1, INT32_MAX, False),
    "EarlyStoppingRounds": (1, INT32_MAX, False),
    "AucThreshold": (0, 1, False),
    "NewVariantWeight": (0, 1, True),
    "DriftCheckWindowMinutes": (1, 24 * 60, False),
    "ChampionMargin": (0, 1, False),  # an AUC difference
}
# Names and expressions AWS checks only when Deploy creates them.
PATTERNS: dict[str, tuple[re.Pattern, str]] = {
    # CreateEndpoint's EndpointName
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html)
    "EndpointName": (
        re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"),
        "up to 63 letters, digits and hyphens, starting and ending with a letter or "
        "digit (CreateEndpoint's EndpointName)",
    ),
    # EventBridge PutRule's ScheduleExpression
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html)
    "DriftCheckSchedule": (
        re.compile(
            r"rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)"
            r"|cron\((\S+ ){5}\S+\)"
        ),
        "rate(N minutes|hours|days) or cron(with six fields) (EventBridge's ScheduleExpression)",
    ),
}

# Numbers as text, as StartPipelineExecution parses them: ASCII decimal or scientific notation
# (Python's int()/float() would also take " 5", "1_000", "nan", "inf").
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _text(bound: float | None) -> str:
    """A bound as written in the docs: 2147483647 and 0.5, not 2.14748e+09."""
    number = float(bound or 0)
    return str(int(number)) if number.is_integer() else f"{number:g}"


class ParameterError(ValueError):
    """A parameter the pipeline does not take, or a value it does not accept; the message names
    the parameter and what it accepts."""


def validate(given: dict[str, Any], declared: list[dict[str, Any]] | None = None) -> None:
    """Check overrides {name: value (text)} against `declared` (default: DECLARED; or the
    Parameters of a definition SageMaker holds). Raises ParameterError for an unknown name, a
    value that is not the declared Integer/Float, or a value outside EnumValues."""
    by_name = {p["Name"]: p for p in (DECLARED if declared is None else declared)}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise ParameterError(
            f"unknown pipeline parameter(s) {', '.join(unknown)}; the pipeline takes {', '.join(sorted(by_name))}"
        )
    for name, value in given.items():
        spec = by_name[name]
        kind = spec.get("Type", "String")
        text = str(value)
        if kind == "Integer" and not _INTEGER.fullmatch(text):
            raise ParameterError(f"parameter {name}={text!r} is not an integer")
        if kind == "Float" and not (_FLOAT.fullmatch(text) and math.isfinite(float(text))):
            raise ParameterError(f"parameter {name}={text!r} is not a number")
        allowed = spec.get("EnumValues")
        if allowed and text not in allowed:
            raise ParameterError(f"parameter {name}={text!r} is not one of {', '.join(allowed)}")
        if kind in ("Integer", "Float") and name in BOUNDS:
            low, high, exclusive = BOUNDS[name]
            number = float(text)
            if (low is not None and (number < low or (exclusive and number == low))) or (
                high is not None and (number > high or (exclusive and number == high))
            ):
                span = (
                    f"between {_text(low)} and {_text(high)}" + (" (exclusive)" if exclusive else "")
                    if high is not None
                    else f"at least {_text(low)}"
                )
                raise ParameterError(f"parameter {name}={text!r} must be {span}")
        if name in PATTERNS and not PATTERNS[name][0].fullmatch(text):
            raise ParameterError(f"parameter {name}={text!r} is not valid: {PATTERNS[name][1]}")
