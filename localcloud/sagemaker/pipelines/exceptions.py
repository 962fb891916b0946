"""The AWS errors SageMaker Pipelines' operations answer with (besides localcloud.errors'
ValidationException: a definition the executor cannot run, an undeclared parameter, an
execution in the wrong state).

Source: SageMaker API reference, CreatePipeline / DescribePipeline / StartPipelineExecution
"Errors"."""

from __future__ import annotations

# SageMaker's error codes are one class each across its folders (hosting, registry, pipelines,
# jobs): they live in localcloud/sagemaker/exceptions.py.
from localcloud.sagemaker.exceptions import ResourceNotFound

__all__ = ["ResourceNotFound"]
