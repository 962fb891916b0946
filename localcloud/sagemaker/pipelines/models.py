"""SageMaker Pipelines (cloud.pipelines): pipelines, their executions and steps, the step cache.

Durable state in localcloud's StateStore (SQLite WAL), one document per resource shaped like its
Describe*/List* entry: pipelines, executions, one document per execution step (so concurrent
steps never rewrite each other's records) and the step cache. Times are epoch seconds; keys
starting with "_" are executor bookkeeping that never goes over the wire.

Definitions are checked when created or updated: against the pipeline definition JSON schema
(schema.py), then for what the local executor can run (graph.py); either refusal is a
ValidationException with the reason. StartPipelineExecution and RetryPipelineExecution run the
local executor (run.py) in a background thread of this process. Executions a previous server
process left running are marked Failed (their jobs killed) by `recover`, once per LocalCloud:
when the next server starts, before it listens, else the first time this API is used.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
from typing import TYPE_CHECKING, Any

from localcloud.errors import AwsError, ValidationException
from localcloud.sagemaker import service_events
from localcloud.sagemaker.pipelines import graph, parameters, run, schema
from localcloud.sagemaker.pipelines.exceptions import ResourceNotFound
from localcloud.sagemaker.pipelines.expressions import to_text
from localcloud.sagemaker.pipelines.run import execution_id

__all__ = ["CACHE", "EXECUTION", "PIPELINE", "STEP", "TERMINAL", "PipelinesBackend", "execution_id", "new_execution_id"]
from localcloud.sagemaker.store import now

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

PIPELINE = "pipeline"
EXECUTION = "pipeline-execution"
STEP = "pipeline-execution-step"
CACHE = "pipeline-step-cache"

TERMINAL = ("Succeeded", "Failed", "Stopped")


def new_execution_id() -> str:
    # SageMaker's execution ids: 12 lowercase letters and digits.
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


def _name(name_or_arn: str) -> str:
    return name_or_arn.split(":pipeline/", 1)[1] if name_or_arn.startswith("arn:") else name_or_arn


class PipelinesBackend:
    """The pipelines of one LocalCloud: typed access to their documents and what the
    operations do. Thread-safe (each change is one StateStore transaction)."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.state = cloud.state
        self._recovered = False
        self._recover_lock = threading.Lock()

    # -- crash recovery ----------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Once per LocalCloud: fail the executions a previous server process left Executing
        or Stopping and kill the jobs they left running (run.recover_interrupted); their ARNs."""
        with self._recover_lock:
            if self._recovered:
                return []
            self._recovered = True
        return run.recover_interrupted(self.cloud)

    # -- documents ---------------------------------------------------------------------------

    def pipeline_arn(self, name: str) -> str:
        return self.cloud.config.arn("sagemaker", f"pipeline/{name.lower()}")

    def execution_arn(self, pipeline_name: str, exec_id: str) -> str:
        return f"{self.pipeline_arn(pipeline_name)}/execution/{exec_id}"

    def execution(self, exec_id: str) -> dict[str, Any] | None:
        return self.state.get(EXECUTION, exec_id)

    def put_execution(self, doc: dict[str, Any]) -> None:
        self.state.put(EXECUTION, execution_id(doc["PipelineExecutionArn"]), doc)

    def update_execution(self, exec_id: str, **fields: Any) -> dict[str, Any]:
        """Change an execution's fields (LastModifiedTime too); KeyError if it is gone. A new
        PipelineExecutionStatus is announced on EventBridge once it is stored."""
        with self.state.transaction():
            doc = self.state.get(EXECUTION, exec_id)
            if doc is None:
                raise KeyError(exec_id)
            previous = doc.get("PipelineExecutionStatus")
            doc.update(fields)
            doc["LastModifiedTime"] = now()
            self.state.put(EXECUTION, exec_id, doc)
        if doc.get("PipelineExecutionStatus") != previous:
            service_events.execution_status_changed(self.cloud, doc, previous)
        return doc

    def executions(self, pipeline_name: str | None = None) -> list[dict[str, Any]]:
        docs = self.state.list(EXECUTION)
        return [d for d in docs if pipeline_name is None or d["_PipelineName"] == pipeline_name]

    def steps(self, exec_id: str) -> list[dict[str, Any]]:
        return self.state.list(STEP, f"{exec_id}/")

    def step(self, exec_id: str, name: str) -> dict[str, Any] | None:
        return self.state.get(STEP, f"{exec_id}/{name}")

    def put_step(self, exec_id: str, doc: dict[str, Any]) -> None:
        """Store a step's document; a new StepStatus is announced on EventBridge once stored."""
        key = f"{exec_id}/{doc['StepName']}"
        with self.state.transaction():
            old = self.state.get(STEP, key)
            self.state.put(STEP, key, doc)
        previous = old.get("StepStatus") if old is not None else None
        execution = self.execution(exec_id)
        if doc.get("StepStatus") != previous and execution is not None:
            service_events.step_status_changed(self.cloud, execution, doc, previous)

    def delete_steps(self, exec_id: str) -> None:
        for doc in self.steps(exec_id):
            self.state.delete(STEP, f"{exec_id}/{doc['StepName']}")

    def cached(self, pipeline: str, step: str, key: str) -> dict[str, Any] | None:
        return self.state.get(CACHE, f"{pipeline}/{step}/{key}")

    def remember(self, pipeline: str, step: str, key: str, entry: dict[str, Any]) -> None:
        self.state.put(CACHE, f"{pipeline}/{step}/{key}", entry)

    def role_of(self, execution_arn: str) -> str | None:
        """The RoleArn of the pipeline an execution belongs to (None once it is deleted)."""
        name = execution_arn.split(":pipeline/", 1)[-1].split("/execution/", 1)[0]
        doc = self.state.get_ignoring_case(PIPELINE, name, "PipelineName")
        return doc.get("RoleArn") if doc else None

    # -- pipelines ---------------------------------------------------------------------------

    def pipeline(self, name_or_arn: str) -> dict[str, Any]:
        """The pipeline's document; ResourceNotFound if there is none. Names (and ARNs, which
        lower-case them) are matched ignoring case: names that differ only in case are one
        pipeline, with one ARN, as SageMaker has it."""
        name = _name(name_or_arn)
        doc = self.state.get_ignoring_case(PIPELINE, name, "PipelineName")
        if doc is None:
            raise ResourceNotFound(f"Pipeline '{name}' does not exist.")
        return doc

    def definition_text(self, definition: str | None, s3_location: dict[str, Any] | None) -> str:
        """The definition text, given or read from PipelineDefinitionS3Location, checked;
        ValidationException with the reason otherwise."""
        if definition is not None:
            text = definition
        elif s3_location is not None:
            try:
                text = self.cloud.s3.read_bytes(f"s3://{s3_location['Bucket']}/{s3_location['ObjectKey']}").decode()
            except (AwsError, UnicodeDecodeError) as exc:
                raise ValidationException(f"PipelineDefinitionS3Location: {exc}") from None
        else:
            raise ValidationException("Either PipelineDefinition or PipelineDefinitionS3Location is required")
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise ValidationException(f"Invalid pipeline definition: not valid JSON: {exc}") from None
        try:
            schema.check(parsed)
            graph.parse(parsed)
        except (schema.DefinitionSchemaError, graph.DefinitionError) as exc:
            raise ValidationException(f"Invalid pipeline definition: {exc}") from None
        return text

    def create_pipeline(
        self,
        *,
        name: str,
        definition: str | None,
        role_arn: str,
        s3_location: dict[str, Any] | None = None,
        display_name: str | None = None,
        description: str | None = None,
        parallelism: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        """Store a pipeline (its definition given or read from s3_location, checked as
        `definition_text` does); its ARN. ValidationException if the name is an ARN or taken."""
        if name.startswith("arn:"):
            raise ValidationException("PipelineName must be a name, not an ARN")
        definition = self.definition_text(definition, s3_location)
        stamp = now()
        doc = {
            "PipelineArn": self.pipeline_arn(name),
            "PipelineName": name,
            "PipelineDisplayName": display_name if display_name is not None else name,
            "PipelineDefinition": definition,
            "PipelineDescription": description,
            "RoleArn": role_arn,
            "PipelineStatus": "Active",
            "CreationTime": stamp,
            "LastModifiedTime": stamp,
            "ParallelismConfiguration": parallelism,
            "_VersionId": 1,
            "_Tags": tags or [],
        }
        with self.state.transaction():
            if self.state.get_ignoring_case(PIPELINE, name, "PipelineName") is not None:
                raise ValidationException(
                    f"Pipeline names must be unique within an AWS account and region. "
                    f"Pipeline with name ({name}) already exists."
                )
            self.state.put(PIPELINE, name, {k: v for k, v in doc.items() if v is not None})
        return str(doc["PipelineArn"])

    def update_pipeline(
        self,
        name_or_arn: str,
        *,
        definition: str | None = None,
        s3_location: dict[str, Any] | None = None,
        changes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change a pipeline (a new definition is checked; changes: PipelineDisplayName,
        PipelineDescription, RoleArn, ParallelismConfiguration); its document, _VersionId
        incremented."""
        with self.state.transaction():
            doc = self.pipeline(name_or_arn)
            if definition is not None or s3_location is not None:
                doc["PipelineDefinition"] = self.definition_text(definition, s3_location)
            doc.update(changes or {})
            doc["_VersionId"] = doc.get("_VersionId", 1) + 1
            doc["LastModifiedTime"] = now()
            self.state.put(PIPELINE, doc["PipelineName"], doc)
        return doc

    def list_pipelines(
        self,
        *,
        prefix: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        sort_by_name: bool = False,
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        docs = _created_between(self.state.list(PIPELINE), created_after, created_before)
        if prefix:
            docs = [d for d in docs if d["PipelineName"].startswith(prefix)]
        key = "PipelineName" if sort_by_name else "CreationTime"
        docs.sort(key=lambda d: d[key], reverse=descending)
        return docs

    def delete_pipeline(self, name_or_arn: str) -> str:
        """Stop its executions, delete them, their steps and the pipeline; its ARN."""
        doc = self.pipeline(name_or_arn)
        for execution in self.executions(doc["PipelineName"]):
            run.request_stop(self.cloud, execution_id(execution["PipelineExecutionArn"]))
        with self.state.transaction():
            for execution in self.executions(doc["PipelineName"]):
                exec_id = execution_id(execution["PipelineExecutionArn"])
                self.delete_steps(exec_id)
                self.state.delete(EXECUTION, exec_id)
            self.state.delete(PIPELINE, doc["PipelineName"])
        return str(doc["PipelineArn"])

    # -- executions --------------------------------------------------------------------------

    def pipeline_execution(self, arn: str) -> dict[str, Any]:
        """An execution's document; ResourceNotFound if there is none."""
        doc = self.execution(execution_id(arn))
        if doc is None or doc["PipelineExecutionArn"] != arn:
            raise ResourceNotFound(f"Pipeline execution '{arn}' does not exist.")
        return doc

    def start_execution(
        self,
        name_or_arn: str,
        *,
        overrides: list[dict[str, str]] | None = None,
        client_token: str | None = None,
        display_name: str | None = None,
        description: str | None = None,
        parallelism: dict[str, Any] | None = None,
        selective: bool = False,
    ) -> str:
        """Start an execution (the same client token again: the same execution); its ARN.
        ValidationException for an empty parameter value, an undeclared parameter or a
        selective execution."""
        pipeline = self.pipeline(name_or_arn)
        name = pipeline["PipelineName"]
        for existing in self.executions(name):
            if client_token and existing.get("_ClientRequestToken") == client_token:
                return str(existing["PipelineExecutionArn"])
        if selective:
            raise ValidationException(
                "SelectiveExecutionConfig is not supported by the local executor; "
                "use RetryPipelineExecution to re-run from failed steps"
            )
        overrides = overrides or []
        for item in overrides:
            parameters.check_value(item.get("Value"))
        declared = parameters.declared(graph.parse(pipeline["PipelineDefinition"]).definition)
        for item in overrides:
            if item["Name"] not in declared:
                raise ValidationException(
                    f"Parameter '{item['Name']}' is not defined in the pipeline "
                    f"definition (defined: {', '.join(declared) or 'none'})"
                )
        exec_id = new_execution_id()
        arn = self.execution_arn(name, exec_id)
        stamp = now()
        doc = {
            "PipelineArn": pipeline["PipelineArn"],
            "PipelineExecutionArn": arn,
            "PipelineExecutionDisplayName": display_name
            if display_name is not None
            else f"execution-{int(stamp * 1000)}",
            "PipelineExecutionStatus": "Executing",
            "PipelineExecutionDescription": description,
            "CreationTime": stamp,
            "LastModifiedTime": stamp,
            "ParallelismConfiguration": parallelism or pipeline.get("ParallelismConfiguration"),
            "PipelineVersionId": pipeline.get("_VersionId", 1),
            "_PipelineName": name,
            "_Definition": pipeline["PipelineDefinition"],
            "_Parameters": overrides,
            "_ClientRequestToken": client_token,
        }
        with self.state.transaction():
            self.put_execution({k: v for k, v in doc.items() if v is not None})
            pipeline = self.pipeline(name)
            pipeline["LastRunTime"] = pipeline["LastExecutionTime"] = stamp
            self.state.put(PIPELINE, name, pipeline)
        service_events.execution_status_changed(self.cloud, doc, None)
        run.launch(self.cloud, exec_id)
        return arn

    def list_executions(
        self,
        name_or_arn: str,
        *,
        created_after: float | None = None,
        created_before: float | None = None,
        sort_by_arn: bool = False,
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        pipeline = self.pipeline(name_or_arn)
        docs = _created_between(self.executions(pipeline["PipelineName"]), created_after, created_before)
        key = "PipelineExecutionArn" if sort_by_arn else "CreationTime"
        docs.sort(key=lambda d: d[key], reverse=descending)
        return docs

    def execution_steps(self, arn: str, *, descending: bool = True) -> list[dict[str, Any]]:
        """An execution's step documents, as AWS lists them: newest first unless ascending."""
        execution = self.pipeline_execution(arn)
        steps = self.steps(execution_id(execution["PipelineExecutionArn"]))
        steps.sort(key=lambda s: s["StartTime"], reverse=descending)
        return steps

    def execution_parameters(self, arn: str) -> list[dict[str, str]]:
        """[{Name, Value}]: the values an execution was given, else the declared defaults."""
        execution = self.pipeline_execution(arn)
        given = {p["Name"]: p["Value"] for p in execution.get("_Parameters", [])}
        values = []
        for name, spec in parameters.declared(graph.parse(execution["_Definition"]).definition).items():
            if name in given:
                values.append({"Name": name, "Value": given[name]})
            elif "DefaultValue" in spec:
                values.append({"Name": name, "Value": to_text(spec["DefaultValue"])})
        return values

    def stop_execution(self, arn: str) -> None:
        """Stop an Executing execution (Stopping until its running steps end); a Stopping or
        Stopped one is left as it is; ValidationException in any other state."""
        execution = self.pipeline_execution(arn)
        status = execution["PipelineExecutionStatus"]
        if status in ("Stopping", "Stopped"):
            return
        if status != "Executing":
            raise ValidationException(
                f"Pipeline execution '{arn}' is {status}; only an Executing execution can be stopped"
            )
        exec_id = execution_id(arn)
        self.update_execution(exec_id, PipelineExecutionStatus="Stopping")
        if not run.request_stop(self.cloud, exec_id):  # nothing runs it in this process: stop it here
            self.update_execution(exec_id, PipelineExecutionStatus="Stopped")

    def retry_execution(self, arn: str, *, parallelism: dict[str, Any] | None = None) -> None:
        """Run a Failed or Stopped execution again from its failed steps; ValidationException
        in any other state."""
        exec_id = execution_id(arn)
        with self.state.transaction():
            execution = self.pipeline_execution(arn)
            status = execution["PipelineExecutionStatus"]
            if status not in ("Failed", "Stopped") or run.is_live(self.cloud, exec_id):
                raise ValidationException(
                    f"Pipeline execution '{arn}' is {status}; only a Failed or Stopped execution can be retried"
                )
            execution.pop("FailureReason", None)
            execution.update(PipelineExecutionStatus="Executing", LastModifiedTime=now())
            if parallelism:
                execution["ParallelismConfiguration"] = parallelism
            self.put_execution(execution)
        service_events.execution_status_changed(self.cloud, execution, status)
        run.launch(self.cloud, exec_id)

    def wait(self, arn_or_id: str, timeout: float | None = None, poll: float = 0.1) -> dict[str, Any]:
        """Block until the execution is Succeeded, Failed or Stopped (or timeout); its
        DescribePipelineExecution response. KeyError if there is no such execution."""
        return run.wait_for(self.cloud, arn_or_id, timeout, poll)


def _created_between(docs: list[dict[str, Any]], after: float | None, before: float | None) -> list[dict[str, Any]]:
    return [
        d
        for d in docs
        if (after is None or d["CreationTime"] > after) and (before is None or d["CreationTime"] < before)
    ]
