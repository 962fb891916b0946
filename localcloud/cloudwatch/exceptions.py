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
    """An alarm that does not exist."""

    code, status, sender = "ResourceNotFound", 400, True


class InvalidFormat(AwsError):
    """SetAlarmState's StateReasonData is not JSON."""

    code, status, sender = "InvalidFormat", 400, True


class InvalidNextToken(AwsError):
    """A NextToken this service did not issue (ListMetrics, DescribeAlarms, DescribeAlarmHistory)."""

    code, status, sender = "InvalidNextToken", 400, True
