"""The local executor for SageMaker Pipeline definitions (schema version 2020-12-01).

localcloud's SageMaker Pipelines API (localcloud/sagemaker/pipelines.py) stores pipelines and
executions and calls `launch` to run one in a background thread of the server. Modules:

  graph        parse a definition; order steps (DependsOn + data references); Condition branches
  parameters   declared parameters, typed per-execution overrides
  expressions  Get / Std:Join / Std:JsonGet
  conditions   Equals, GreaterThan..., In, Not, Or
  policies     RetryPolicies and CacheConfig
  container    the /opt/ml container contract, remapped to a job folder; running a script
  objects      staging job data from / to the object store
  runners      what each step type does
  run          the execution loop and its durable state
  store        the state documents
"""
from pipelines.executor.run import launch, recover_interrupted, request_stop, wait_for

__all__ = ["launch", "recover_interrupted", "request_stop", "wait_for"]
