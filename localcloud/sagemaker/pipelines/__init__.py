"""The local executor for SageMaker Pipeline definitions (schema version 2020-12-01).

localcloud's SageMaker Pipelines service: `api` answers the wire operations (CreatePipeline,
StartPipelineExecution, ...), stores pipelines and executions and calls `launch` to run one in a
background thread of the server. Modules:

  api          the SageMaker Pipelines operations

  graph        parse a definition; order steps (DependsOn + data references); Condition branches
  parameters   declared parameters, typed per-execution overrides
  expressions  Get / Std:Join / Std:JsonGet
  conditions   Equals, GreaterThan..., In, Not, Or
  policies     RetryPolicies and CacheConfig
  container    the /opt/ml container contract, remapped to a job folder; running a script
  runners      what each step type does
  run          the execution loop and its durable state
"""
from localcloud.sagemaker.pipelines.run import launch, recover_interrupted, request_stop, wait_for

__all__ = ["launch", "recover_interrupted", "request_stop", "wait_for"]
