"""The local executor for SageMaker Pipeline definitions (schema version 2020-12-01).

localcloud's SageMaker Pipelines service: `responses` answers the wire operations
(CreatePipeline, StartPipelineExecution, ...), `models`' PipelinesBackend (cloud.pipelines)
stores pipelines and executions and calls `run.launch` to run one in a background thread of the
server. Processing and Training steps are jobs of localcloud/sagemaker/jobs. Modules:

  models       PipelinesBackend: pipelines, executions, steps, the step cache
  responses    the SageMaker Pipelines operations on the wire
  exceptions   their AWS errors

  schema       the pipeline definition JSON schema
  graph        parse a definition; order steps (DependsOn + data references); Condition branches
  parameters   declared parameters, typed per-execution overrides
  expressions  Get / Std:Join / Std:JsonGet
  conditions   Equals, GreaterThan..., In, Not, Or
  policies     RetryPolicies and CacheConfig
  runners      what each step type does
  run          the execution loop and its durable state
"""

from localcloud.sagemaker.pipelines.run import launch, recover_interrupted, request_stop, wait_for

__all__ = ["launch", "recover_interrupted", "request_stop", "wait_for"]
