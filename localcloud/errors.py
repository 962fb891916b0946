"""AWS errors as exceptions; each protocol module renders them in its own wire shape."""
from __future__ import annotations


class AwsError(Exception):
    """An error AWS would return: a code, a message and an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFound", message, 400)


def in_use(message: str) -> AwsError:
    return AwsError("ResourceInUse", message, 400)
