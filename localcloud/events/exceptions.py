"""EventBridge's error codes (EventBridge API Reference, each operation's "Errors"), as
`localcloud.errors.AwsError` subclasses. EventBridge's ValidationException is the shared
`localcloud.errors.ValidationException`.

`InvalidArgument` and `MalformedDetail` are never raised to the wire: PutEvents reports them
per entry (`Entries[i].ErrorCode` / `ErrorMessage`), as AWS does.
"""

from __future__ import annotations

from localcloud.errors import AwsError


class ResourceNotFoundException(AwsError):
    """An event bus or rule that does not exist."""

    code, status, sender = "ResourceNotFoundException", 400, True


class InvalidEventPatternException(AwsError):
    """PutRule's EventPattern is not a valid pattern."""

    code, status, sender = "InvalidEventPatternException", 400, True


class LimitExceededException(AwsError):
    """More targets on one rule than AWS allows."""

    code, status, sender = "LimitExceededException", 400, True


class InvalidArgument(AwsError):
    """A PutEvents entry without its Source, DetailType or Detail (reported per entry)."""

    code, status, sender = "InvalidArgument", 400, True


class MalformedDetail(AwsError):
    """A PutEvents entry whose Detail is not a JSON object (reported per entry)."""

    code, status, sender = "MalformedDetail", 400, True
