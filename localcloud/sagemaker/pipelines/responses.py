"""SageMaker Pipelines on the wire: pipelines, executions and their steps (the operations'
request parameters → PipelinesBackend's keyword arguments → AWS's response shapes).

Every operation first lets the backend recover what a previous server process left running
(`cloud.pipelines.recover()`, once). Errors: ValidationException (a definition the executor
cannot run, an undeclared parameter, an execution in the wrong state), ResourceNotFound.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localcloud.errors import ValidationException
from localcloud.json_api import page, with_token
from localcloud.sagemaker.store import wire

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

Params = dict[str, Any]
Operation = Callable[["LocalCloud", Params], Params]


def _operation(fn: Operation) -> Operation:
    def wrapper(cloud: LocalCloud, params: Params) -> Params:
        cloud.pipelines.recover()
        return fn(cloud, params)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)  # the JSON protocol sends timestamps as epoch seconds


def _descending(params: Params) -> bool:
    return bool(params.get("SortOrder", "Descending") == "Descending")


# -- pipelines --------------------------------------------------------------------------------


@_operation
def create_pipeline(cloud: LocalCloud, params: Params) -> Params:
    name = params["PipelineName"]
    arn = cloud.pipelines.create_pipeline(
        name=name,
        definition=params.get("PipelineDefinition"),
        s3_location=params.get("PipelineDefinitionS3Location"),
        role_arn=params["RoleArn"],
        display_name=params.get("PipelineDisplayName"),
        description=params.get("PipelineDescription"),
        parallelism=params.get("ParallelismConfiguration"),
        tags=params.get("Tags"),
    )
    return {"PipelineArn": arn}


@_operation
def update_pipeline(cloud: LocalCloud, params: Params) -> Params:
    changes: Params = {
        key: params[key]
        for key in ("PipelineDisplayName", "PipelineDescription", "RoleArn", "ParallelismConfiguration")
        if key in params
    }
    s3_location = params.get("PipelineDefinitionS3Location")
    definition = params.get("PipelineDefinition")
    doc = cloud.pipelines.update_pipeline(
        params["PipelineName"],
        definition=definition,
        s3_location=s3_location if definition is None else None,
        changes=changes,
    )
    return {"PipelineArn": doc["PipelineArn"], "PipelineVersionId": doc["_VersionId"]}


@_operation
def describe_pipeline(cloud: LocalCloud, params: Params) -> Params:
    return wire(cloud.pipelines.pipeline(params["PipelineName"]))


@_operation
def list_pipelines(cloud: LocalCloud, params: Params) -> Params:
    docs = cloud.pipelines.list_pipelines(
        prefix=params.get("PipelineNamePrefix"),
        created_after=_epoch(params.get("CreatedAfter")),
        created_before=_epoch(params.get("CreatedBefore")),
        sort_by_name=params.get("SortBy") == "Name",
        descending=_descending(params),
    )
    found, token = page(docs, params, default_max=50)
    fields = (
        "PipelineArn",
        "PipelineName",
        "PipelineDisplayName",
        "PipelineDescription",
        "RoleArn",
        "CreationTime",
        "LastModifiedTime",
        "LastExecutionTime",
    )
    summaries = [wire({f: d[f] for f in fields if f in d}) for d in found]
    return with_token({"PipelineSummaries": summaries}, token)


@_operation
def delete_pipeline(cloud: LocalCloud, params: Params) -> Params:
    return {"PipelineArn": cloud.pipelines.delete_pipeline(params["PipelineName"])}


# -- executions -------------------------------------------------------------------------------


@_operation
def start_pipeline_execution(cloud: LocalCloud, params: Params) -> Params:
    arn = cloud.pipelines.start_execution(
        params["PipelineName"],
        overrides=params.get("PipelineParameters"),
        client_token=params.get("ClientRequestToken"),
        display_name=params.get("PipelineExecutionDisplayName"),
        description=params.get("PipelineExecutionDescription"),
        parallelism=params.get("ParallelismConfiguration"),
        selective=bool(params.get("SelectiveExecutionConfig")),
    )
    return {"PipelineExecutionArn": arn}


@_operation
def describe_pipeline_execution(cloud: LocalCloud, params: Params) -> Params:
    return wire(cloud.pipelines.pipeline_execution(params["PipelineExecutionArn"]))


@_operation
def list_pipeline_executions(cloud: LocalCloud, params: Params) -> Params:
    docs = cloud.pipelines.list_executions(
        params["PipelineName"],
        created_after=_epoch(params.get("CreatedAfter")),
        created_before=_epoch(params.get("CreatedBefore")),
        sort_by_arn=params.get("SortBy") == "PipelineExecutionArn",
        descending=_descending(params),
    )
    found, token = page(docs, params, default_max=50)
    summaries = []
    for d in found:
        summary = {
            "PipelineExecutionArn": d["PipelineExecutionArn"],
            "StartTime": d["CreationTime"],
            "PipelineExecutionStatus": d["PipelineExecutionStatus"],
            "PipelineExecutionDescription": d.get("PipelineExecutionDescription"),
            "PipelineExecutionDisplayName": d.get("PipelineExecutionDisplayName"),
            "PipelineExecutionFailureReason": d.get("FailureReason"),
        }
        summaries.append(wire({k: v for k, v in summary.items() if v is not None}))
    return with_token({"PipelineExecutionSummaries": summaries}, token)


@_operation
def list_pipeline_execution_steps(cloud: LocalCloud, params: Params) -> Params:
    if "PipelineExecutionArn" not in params:
        raise ValidationException("PipelineExecutionArn is required")
    steps = cloud.pipelines.execution_steps(params["PipelineExecutionArn"], descending=_descending(params))
    found, token = page(steps, params, default_max=50)
    return with_token({"PipelineExecutionSteps": [wire(s) for s in found]}, token)


@_operation
def list_pipeline_parameters_for_execution(cloud: LocalCloud, params: Params) -> Params:
    found, token = page(cloud.pipelines.execution_parameters(params["PipelineExecutionArn"]), params, default_max=50)
    return with_token({"PipelineParameters": found}, token)


@_operation
def describe_pipeline_definition_for_execution(cloud: LocalCloud, params: Params) -> Params:
    execution = cloud.pipelines.pipeline_execution(params["PipelineExecutionArn"])
    return wire({"PipelineDefinition": execution["_Definition"], "CreationTime": execution["CreationTime"]})


@_operation
def stop_pipeline_execution(cloud: LocalCloud, params: Params) -> Params:
    arn = params["PipelineExecutionArn"]
    cloud.pipelines.stop_execution(arn)
    return {"PipelineExecutionArn": arn}


@_operation
def retry_pipeline_execution(cloud: LocalCloud, params: Params) -> Params:
    arn = params["PipelineExecutionArn"]
    cloud.pipelines.retry_execution(arn, parallelism=params.get("ParallelismConfiguration"))
    return {"PipelineExecutionArn": arn}


OPERATIONS: dict[str, Callable[[LocalCloud, Params], Params | None]] = {
    "CreatePipeline": create_pipeline,
    "UpdatePipeline": update_pipeline,
    "DescribePipeline": describe_pipeline,
    "ListPipelines": list_pipelines,
    "DeletePipeline": delete_pipeline,
    "StartPipelineExecution": start_pipeline_execution,
    "DescribePipelineExecution": describe_pipeline_execution,
    "ListPipelineExecutions": list_pipeline_executions,
    "ListPipelineExecutionSteps": list_pipeline_execution_steps,
    "ListPipelineParametersForExecution": list_pipeline_parameters_for_execution,
    "DescribePipelineDefinitionForExecution": describe_pipeline_definition_for_execution,
    "StopPipelineExecution": stop_pipeline_execution,
    "RetryPipelineExecution": retry_pipeline_execution,
}
