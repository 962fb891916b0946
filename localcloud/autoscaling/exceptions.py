"""Application Auto Scaling's error codes (Application Auto Scaling API Reference, each
operation's "Errors"), as `localcloud.errors.AwsError` subclasses. Its ValidationException is
the shared `localcloud.errors.ValidationException`."""

from __future__ import annotations

from localcloud.errors import AwsError


class ObjectNotFoundException(AwsError):
    """No scalable target is registered for the namespace, resource ID and dimension."""

    code, status, sender = "ObjectNotFoundException", 400, True


class InvalidNextTokenException(AwsError):
    """A NextToken this service did not issue."""

    code, status, sender = "InvalidNextTokenException", 400, True
