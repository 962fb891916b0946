"""SageMaker Pipelines API: pipelines, executions and their steps; the jobs steps run.

Definitions are checked when created or updated: against the pipeline definition JSON schema
(schema.py), then for what the local executor can run (graph.py); either refusal is a
ValidationException with the reason; StartPipelineExecution and RetryPipelineExecution run the local executor in a
background thread of this server. Executions a previous server process left running are marked
Failed (their jobs killed) when the next server starts, before it listens (`recover`; else the
first time this API is used), and can be retried.
"""
from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Callable
from typing import Any

from localcloud.errors import not_found, validation
from localcloud.json_api import page_start
from localcloud.s3 import objects
from localcloud.sagemaker.pipelines import graph, parameters, run, schema
from localcloud.sagemaker.pipelines.expressions import to_text
from localcloud.sagemaker.store import (EXECUTION, PIPELINE, PROCESSING_JOB, TRAINING_JOB,
                                      PipelineStore, execution_arn, execution_id,
                                      new_execution_id, now, pipeline_arn, wire)

_recovered: "weakref.WeakSet[Any]" = weakref.WeakSet()


def recover(cloud: Any) -> list[str]:
    """Once per LocalCloud: fail the executions a previous server process left Executing or
    Stopping and kill the jobs they left running (run.recover_interrupted); their ARNs."""
    if cloud in _recovered:
        return []
    _recovered.add(cloud)
    return run.recover_interrupted(cloud)


def _operation(fn: Callable[[Any, dict[str, Any]], dict[str, Any]]):
    def wrapper(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
        recover(cloud)
        return fn(cloud, params)
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)   # the JSON protocol sends timestamps as epoch seconds


def _name(name_or_arn: str) -> str:
    return name_or_arn.split(":pipeline/", 1)[1] if name_or_arn.startswith("arn:") else name_or_arn


def _pipeline(cloud: Any, name_or_arn: str) -> dict[str, Any]:
    name = _name(name_or_arn)
    doc = (cloud.state.get_ignoring_case(PIPELINE, name, "PipelineName")
           if name_or_arn.startswith("arn:") else cloud.state.get(PIPELINE, name))
    if doc is None:
        raise not_found(f"Pipeline '{name}' does not exist.")
    return doc


def _execution(cloud: Any, arn: str) -> dict[str, Any]:
    doc = PipelineStore(cloud).execution(execution_id(arn))
    if doc is None or doc["PipelineExecutionArn"] != arn:
        raise not_found(f"Pipeline execution '{arn}' does not exist.")
    return doc


def _definition(cloud: Any, params: dict[str, Any]) -> str:
    """The definition text from PipelineDefinition or PipelineDefinitionS3Location, checked."""
    if "PipelineDefinition" in params:
        text = params["PipelineDefinition"]
    elif "PipelineDefinitionS3Location" in params:
        location = params["PipelineDefinitionS3Location"]
        try:
            text = objects.read_bytes(cloud, f"s3://{location['Bucket']}/{location['ObjectKey']}").decode()
        except (objects.ObjectStoreError, UnicodeDecodeError) as exc:
            raise validation(f"PipelineDefinitionS3Location: {exc}") from None
    else:
        raise validation("Either PipelineDefinition or PipelineDefinitionS3Location is required")
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise validation(f"Invalid pipeline definition: not valid JSON: {exc}") from None
    try:
        schema.check(parsed)
        graph.parse(parsed)
    except (schema.SchemaError, graph.DefinitionError) as exc:
        raise validation(f"Invalid pipeline definition: {exc}") from None
    return text


def _page(items: list[Any], params: dict[str, Any], default_max: int = 50) -> tuple[list[Any], str | None]:
    start = page_start(params)
    size = params.get("MaxResults") or default_max
    page = items[start:start + size]
    return page, (str(start + size) if start + size < len(items) else None)


def _created_filter(docs: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    after, before = _epoch(params.get("CreatedAfter")), _epoch(params.get("CreatedBefore"))
    return [d for d in docs if (after is None or d["CreationTime"] > after)
            and (before is None or d["CreationTime"] < before)]


# -- pipelines --------------------------------------------------------------------------------

@_operation
def create_pipeline(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params["PipelineName"]
    if name.startswith("arn:"):
        raise validation("PipelineName must be a name, not an ARN")
    text = _definition(cloud, params)
    stamp = now()
    doc = {
        "PipelineArn": pipeline_arn(cloud, name), "PipelineName": name,
        "PipelineDisplayName": params.get("PipelineDisplayName", name),
        "PipelineDefinition": text, "PipelineDescription": params.get("PipelineDescription"),
        "RoleArn": params["RoleArn"], "PipelineStatus": "Active",
        "CreationTime": stamp, "LastModifiedTime": stamp,
        "ParallelismConfiguration": params.get("ParallelismConfiguration"),
        "_VersionId": 1, "_Tags": params.get("Tags", []),
    }
    with cloud.state.transaction():
        if cloud.state.get(PIPELINE, name) is not None:
            raise validation(f"Pipeline names must be unique within an AWS account and region. "
                             f"Pipeline with name ({name}) already exists.")
        cloud.state.put(PIPELINE, name, {k: v for k, v in doc.items() if v is not None})
    return {"PipelineArn": doc["PipelineArn"]}


@_operation
def update_pipeline(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    with cloud.state.transaction():
        doc = _pipeline(cloud, params["PipelineName"])
        if "PipelineDefinition" in params or "PipelineDefinitionS3Location" in params:
            doc["PipelineDefinition"] = _definition(cloud, params)
        for key in ("PipelineDisplayName", "PipelineDescription", "RoleArn", "ParallelismConfiguration"):
            if key in params:
                doc[key] = params[key]
        doc["_VersionId"] = doc.get("_VersionId", 1) + 1
        doc["LastModifiedTime"] = now()
        cloud.state.put(PIPELINE, doc["PipelineName"], doc)
    return {"PipelineArn": doc["PipelineArn"], "PipelineVersionId": doc["_VersionId"]}


@_operation
def describe_pipeline(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return wire(_pipeline(cloud, params["PipelineName"]))


@_operation
def list_pipelines(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    docs = _created_filter(cloud.state.list(PIPELINE), params)
    prefix = params.get("PipelineNamePrefix")
    if prefix:
        docs = [d for d in docs if d["PipelineName"].startswith(prefix)]
    key = "PipelineName" if params.get("SortBy") == "Name" else "CreationTime"
    docs.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Descending") == "Descending")
    page, token = _page(docs, params)
    fields = ("PipelineArn", "PipelineName", "PipelineDisplayName", "PipelineDescription", "RoleArn",
              "CreationTime", "LastModifiedTime", "LastExecutionTime")
    summaries = [wire({f: d[f] for f in fields if f in d}) for d in page]
    return {"PipelineSummaries": summaries, **({"NextToken": token} if token else {})}


@_operation
def delete_pipeline(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    doc = _pipeline(cloud, params["PipelineName"])
    store = PipelineStore(cloud)
    for execution in store.executions(doc["PipelineName"]):
        run.request_stop(cloud, execution_id(execution["PipelineExecutionArn"]))
    with cloud.state.transaction():
        for execution in store.executions(doc["PipelineName"]):
            exec_id = execution_id(execution["PipelineExecutionArn"])
            store.delete_steps(exec_id)
            cloud.state.delete(EXECUTION, exec_id)
        cloud.state.delete(PIPELINE, doc["PipelineName"])
    return {"PipelineArn": doc["PipelineArn"]}


# -- executions -------------------------------------------------------------------------------

@_operation
def start_pipeline_execution(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    pipeline = _pipeline(cloud, params["PipelineName"])
    name = pipeline["PipelineName"]
    store = PipelineStore(cloud)
    token = params.get("ClientRequestToken")
    for existing in store.executions(name):   # the same token again: the same execution
        if token and existing.get("_ClientRequestToken") == token:
            return {"PipelineExecutionArn": existing["PipelineExecutionArn"]}
    if params.get("SelectiveExecutionConfig"):
        raise validation("SelectiveExecutionConfig is not supported by the local executor; "
                         "use RetryPipelineExecution to re-run from failed steps")
    overrides = params.get("PipelineParameters") or []
    declared = parameters.declared(graph.parse(pipeline["PipelineDefinition"]).definition)
    for item in overrides:
        if item["Name"] not in declared:
            raise validation(f"Parameter '{item['Name']}' is not defined in the pipeline "
                             f"definition (defined: {', '.join(declared) or 'none'})")
    exec_id = new_execution_id()
    arn = execution_arn(cloud, name, exec_id)
    stamp = now()
    doc = {
        "PipelineArn": pipeline["PipelineArn"], "PipelineExecutionArn": arn,
        "PipelineExecutionDisplayName": params.get("PipelineExecutionDisplayName", f"execution-{int(stamp * 1000)}"),
        "PipelineExecutionStatus": "Executing",
        "PipelineExecutionDescription": params.get("PipelineExecutionDescription"),
        "CreationTime": stamp, "LastModifiedTime": stamp,
        "ParallelismConfiguration": params.get("ParallelismConfiguration") or pipeline.get("ParallelismConfiguration"),
        "PipelineVersionId": pipeline.get("_VersionId", 1),
        "_PipelineName": name, "_Definition": pipeline["PipelineDefinition"],
        "_Parameters": overrides, "_ClientRequestToken": token,
    }
    with cloud.state.transaction():
        store.put_execution({k: v for k, v in doc.items() if v is not None})
        pipeline = _pipeline(cloud, name)
        pipeline["LastRunTime"] = pipeline["LastExecutionTime"] = stamp
        cloud.state.put(PIPELINE, name, pipeline)
    run.launch(cloud, exec_id)
    return {"PipelineExecutionArn": arn}


@_operation
def describe_pipeline_execution(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return wire(_execution(cloud, params["PipelineExecutionArn"]))


@_operation
def list_pipeline_executions(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    pipeline = _pipeline(cloud, params["PipelineName"])
    docs = _created_filter(PipelineStore(cloud).executions(pipeline["PipelineName"]), params)
    key = "PipelineExecutionArn" if params.get("SortBy") == "PipelineExecutionArn" else "CreationTime"
    docs.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Descending") == "Descending")
    page, token = _page(docs, params)
    summaries = []
    for d in page:
        summary = {"PipelineExecutionArn": d["PipelineExecutionArn"], "StartTime": d["CreationTime"],
                   "PipelineExecutionStatus": d["PipelineExecutionStatus"],
                   "PipelineExecutionDescription": d.get("PipelineExecutionDescription"),
                   "PipelineExecutionDisplayName": d.get("PipelineExecutionDisplayName"),
                   "PipelineExecutionFailureReason": d.get("FailureReason")}
        summaries.append(wire({k: v for k, v in summary.items() if v is not None}))
    return {"PipelineExecutionSummaries": summaries, **({"NextToken": token} if token else {})}


@_operation
def list_pipeline_execution_steps(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    if "PipelineExecutionArn" not in params:
        raise validation("PipelineExecutionArn is required")
    execution = _execution(cloud, params["PipelineExecutionArn"])
    steps = PipelineStore(cloud).steps(execution_id(execution["PipelineExecutionArn"]))
    # As AWS lists them: newest first unless SortOrder=Ascending.
    steps.sort(key=lambda s: s["StartTime"], reverse=params.get("SortOrder", "Descending") == "Descending")
    page, token = _page(steps, params)
    return {"PipelineExecutionSteps": [wire(s) for s in page], **({"NextToken": token} if token else {})}


@_operation
def list_pipeline_parameters_for_execution(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    execution = _execution(cloud, params["PipelineExecutionArn"])
    given = {p["Name"]: p["Value"] for p in execution.get("_Parameters", [])}
    values = []
    for name, spec in parameters.declared(graph.parse(execution["_Definition"]).definition).items():
        if name in given:
            values.append({"Name": name, "Value": given[name]})
        elif "DefaultValue" in spec:
            values.append({"Name": name, "Value": to_text(spec["DefaultValue"])})
    page, token = _page(values, params)
    return {"PipelineParameters": page, **({"NextToken": token} if token else {})}


@_operation
def describe_pipeline_definition_for_execution(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    execution = _execution(cloud, params["PipelineExecutionArn"])
    return wire({"PipelineDefinition": execution["_Definition"], "CreationTime": execution["CreationTime"]})


@_operation
def stop_pipeline_execution(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["PipelineExecutionArn"]
    execution = _execution(cloud, arn)
    status = execution["PipelineExecutionStatus"]
    if status in ("Stopping", "Stopped"):
        return {"PipelineExecutionArn": arn}
    if status != "Executing":
        raise validation(f"Pipeline execution '{arn}' is {status}; only an Executing execution "
                         "can be stopped")
    store = PipelineStore(cloud)
    exec_id = execution_id(arn)
    store.update_execution(exec_id, PipelineExecutionStatus="Stopping")
    if not run.request_stop(cloud, exec_id):   # nothing runs it in this process: stop it here
        store.update_execution(exec_id, PipelineExecutionStatus="Stopped")
    return {"PipelineExecutionArn": arn}


@_operation
def retry_pipeline_execution(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["PipelineExecutionArn"]
    exec_id = execution_id(arn)
    store = PipelineStore(cloud)
    with cloud.state.transaction():
        execution = _execution(cloud, arn)
        status = execution["PipelineExecutionStatus"]
        if status not in ("Failed", "Stopped") or run.is_live(cloud, exec_id):
            raise validation(f"Pipeline execution '{arn}' is {status}; only a Failed or Stopped "
                             "execution can be retried")
        execution.pop("FailureReason", None)
        execution.update(PipelineExecutionStatus="Executing", LastModifiedTime=now())
        if params.get("ParallelismConfiguration"):
            execution["ParallelismConfiguration"] = params["ParallelismConfiguration"]
        store.put_execution(execution)
    run.launch(cloud, exec_id)
    return {"PipelineExecutionArn": arn}


# -- the jobs steps ran -----------------------------------------------------------------------

@_operation
def describe_processing_job(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    doc = cloud.state.get(PROCESSING_JOB, params["ProcessingJobName"])
    if doc is None:
        raise validation(f"Could not find requested job with name {params['ProcessingJobName']}")
    return wire(doc)


@_operation
def describe_training_job(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    doc = cloud.state.get(TRAINING_JOB, params["TrainingJobName"])
    if doc is None:
        raise validation(f"Requested resource not found: training job {params['TrainingJobName']}")
    return wire(doc)


OPERATIONS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
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
    "DescribeProcessingJob": describe_processing_job,
    "DescribeTrainingJob": describe_training_job,
}
