"""The errors SageMaker Feature Store answers with.

The control plane (`SageMaker.<Op>`, JSON 1.1) answers as SageMaker does: ResourceNotFound and
ResourceInUse with status 400, and localcloud.errors.ValidationException
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html). The runtime
(`sagemaker-featurestore-runtime`, REST-JSON) names its input errors ValidationError and answers
an unknown feature group with ResourceNotFound, status 404
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_feature_store_GetRecord.html)."""

from __future__ import annotations

from localcloud.errors import AwsError, UnknownOperationException


class ResourceNotFound(AwsError):
    """Control plane: no feature group of that name (DescribeFeatureGroup, UpdateFeatureGroup,
    DeleteFeatureGroup)."""

    code, status, sender = "ResourceNotFound", 400, True


class ResourceInUse(AwsError):
    """CreateFeatureGroup with the name of an existing group."""

    code, status, sender = "ResourceInUse", 400, True


class FeatureGroupNotFound(AwsError):
    """Runtime: PutRecord, GetRecord, DeleteRecord (and the bulk ingest) on an unknown group."""

    code, status, sender = "ResourceNotFound", 404, True


class ValidationError(AwsError):
    """Runtime: a request or a value that fails the model's or the feature's constraints."""

    code, status, sender = "ValidationError", 400, True


class FeatureStoreUnknownOperation(UnknownOperationException):
    """Runtime: a method and path the feature-store runtime has no operation for."""

    status = 404
