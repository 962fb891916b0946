"""The AWS errors SageMaker's job operations answer with (besides localcloud.errors'
ValidationException, which AWS also uses for a job it cannot find).

Source: SageMaker API reference, CreateProcessingJob / CreateTrainingJob "Errors"."""
from __future__ import annotations

from localcloud.errors import AwsError


class ResourceInUse(AwsError):
    """A job of that name already exists (job names are unique per account and region)."""

    code, status, sender = "ResourceInUse", 400, True
