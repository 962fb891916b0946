"""The errors CloudFormation answers with, in the query protocol's XML error shape
(CloudFormation API Reference, "Common Errors" and each action's Errors,
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html).
An unknown action is localcloud.errors.InvalidAction."""

from __future__ import annotations

from localcloud.errors import AwsError


class ValidationError(AwsError):
    """A template, parameter or stack state CloudFormation refuses: CloudFormation answers
    almost every refusal with this code ("Stack with id X does not exist", "No updates are to
    be performed.", "Template format error: ...", "Parameter 'X' must be one of AllowedValues")."""

    code, status, sender = "ValidationError", 400, True


class AlreadyExistsException(AwsError):
    """CreateStack with the name of a live stack: "Stack [X] already exists"."""

    code, status, sender = "AlreadyExistsException", 400, True


class InsufficientCapabilitiesException(AwsError):
    """A template with IAM resources created without CAPABILITY_IAM / CAPABILITY_NAMED_IAM:
    "Requires capabilities : [CAPABILITY_NAMED_IAM]"
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/control-access-with-iam.html#using-iam-capabilities)."""

    code, status, sender = "InsufficientCapabilitiesException", 400, True
