"""The AWS errors SageMaker Pipelines' operations answer with (besides localcloud.errors'
ValidationException: a definition the executor cannot run, an undeclared parameter, an
execution in the wrong state).

Source: SageMaker API reference, CreatePipeline / DescribePipeline / StartPipelineExecution
"Errors"."""
from __future__ import annotations

from localcloud.errors import AwsError


class ResourceNotFound(AwsError):
    """No pipeline or pipeline execution of that name or ARN."""

    code, status, sender = "ResourceNotFound", 400, True
