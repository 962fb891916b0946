"""CloudWatch's error codes (CloudWatch API Reference, each operation's "Errors"), as
`localcloud.errors.AwsError` subclasses. CloudWatch's `ResourceNotFound` is its own class, apart
from SageMaker's of the same code."""

from __future__ import annotations

from localcloud.errors import AwsError


class InvalidParameterValue(AwsError):
    """A parameter's value is out of range or not allowed here."""

    code, status, sender = "InvalidParameterValue", 400, True


class InvalidParameterCombination(AwsError):
    """Parameters that cannot be used together (or must match in size)."""

    code, status, sender = "InvalidParameterCombination", 400, True


class MissingParameter(AwsError):
    """A parameter the operation needs in this case is absent."""

    code, status, sender = "MissingParameter", 400, True


class ResourceNotFound(AwsError):
    """An alarm that does not exist: HTTP 404, as botocore's model declares
    (`ResourceNotFound.error.httpStatusCode`)."""

    code, status, sender = "ResourceNotFound", 404, True


class ValidationError(AwsError):
    """An input that breaks its model's constraints (an enum, a length, a required member).
    CloudWatch names this code `ValidationError`, not the shared `ValidationException`; the
    text is the model validation's ("1 validation error detected: Value 'X' at 'stateValue'
    failed to satisfy constraint: Member must satisfy enum value set: [...]")."""

    code, status, sender = "ValidationError", 400, True

    # AWS lists StateValue's enum set in its own order, not botocore's [OK, ALARM,
    # INSUFFICIENT_DATA] (a CloudTrail record of DescribeAlarms and LocalStack's AWS-validated
    # test_set_alarm_invalid_input both show "[INSUFFICIENT_DATA, ALARM, OK]").
    _AWS_ORDER = {"[OK, ALARM, INSUFFICIENT_DATA]": "[INSUFFICIENT_DATA, ALARM, OK]"}

    def __init__(self, message: str = ""):
        for botocore_order, aws_order in self._AWS_ORDER.items():
            message = message.replace(botocore_order, aws_order)
        super().__init__(message)


class InvalidFormat(AwsError):
    """SetAlarmState's StateReasonData is not JSON."""

    code, status, sender = "InvalidFormat", 400, True


class InvalidNextToken(AwsError):
    """A NextToken this service did not issue (ListMetrics, DescribeAlarms, DescribeAlarmHistory)."""

    code, status, sender = "InvalidNextToken", 400, True
