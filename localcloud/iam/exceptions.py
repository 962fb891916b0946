"""The errors IAM and STS answer with, in the query protocol's XML error shape (IAM API
Reference, "Common Errors" and each action's Errors,
https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html). An unknown action is
localcloud.errors.InvalidAction."""

from __future__ import annotations

from localcloud.errors import AwsError


class NoSuchEntity(AwsError):
    """A role or role policy that does not exist (GetRole, GetRolePolicy, DeleteRolePolicy,
    SimulatePrincipalPolicy's PolicySourceArn)."""

    code, status, sender = "NoSuchEntity", 404, True


class EntityAlreadyExists(AwsError):
    """CreateRole with the name of an existing role."""

    code, status, sender = "EntityAlreadyExists", 409, True


class MalformedPolicyDocument(AwsError):
    """A trust or permissions policy that is not a JSON object with a Statement."""

    code, status, sender = "MalformedPolicyDocument", 400, True


class ValidationError(AwsError):
    """Input that fails the model's constraints: the query protocols' name for it."""

    code, status, sender = "ValidationError", 400, True


class InvalidInput(AwsError):
    """SimulatePrincipalPolicy: a PolicySourceArn that is no role or user of this account, or a
    policy localcloud cannot evaluate."""

    code, status, sender = "InvalidInput", 400, True


class DeleteConflict(AwsError):
    """DeleteRole while the role still has inline policies."""

    code, status, sender = "DeleteConflict", 409, True
