"""The errors Athena answers with (Athena API Reference, Common Errors and each action's
Errors, https://docs.aws.amazon.com/athena/latest/APIReference/CommonErrors.html). A query that
fails is no API error: it ends FAILED with Status.StateChangeReason (models.QueryFailed)."""

from __future__ import annotations

from localcloud.errors import AwsError


class InvalidRequestException(AwsError):
    """No or a malformed OutputLocation, an unknown QueryExecutionId, results of a query that has
    not succeeded, a NextToken of another query."""

    code, status, sender = "InvalidRequestException", 400, True
