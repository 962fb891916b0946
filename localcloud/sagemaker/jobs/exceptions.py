"""The AWS errors SageMaker's job operations answer with (besides localcloud.errors'
ValidationException, which AWS also uses for a job it cannot find).

Source: SageMaker API reference, CreateProcessingJob / CreateTrainingJob "Errors"."""

from __future__ import annotations

# SageMaker's error codes are one class each across its folders (hosting, registry, pipelines,
# jobs): they live in localcloud/sagemaker/exceptions.py.
from localcloud.sagemaker.exceptions import ResourceInUse

__all__ = ["ResourceInUse"]
