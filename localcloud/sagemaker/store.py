"""Durable pipeline state in localcloud's StateStore (SQLite WAL).

One document per resource, shaped like its Describe*/List* entry: pipelines, executions, one
document per execution step (so concurrent steps never rewrite each other's records), processing
and training jobs, and the step cache. Times are epoch seconds here; the API renders them.
Keys starting with "_" are executor bookkeeping that never goes over the wire.
"""
from __future__ import annotations

import datetime as dt
import secrets
import string
import time
from typing import Any

from localcloud.cloud import LocalCloud

PIPELINE = "pipeline"
EXECUTION = "pipeline-execution"
STEP = "pipeline-execution-step"
PROCESSING_JOB = "processing-job"
TRAINING_JOB = "training-job"
CACHE = "pipeline-step-cache"

TERMINAL = ("Succeeded", "Failed", "Stopped")


def now() -> float:
    return time.time()


def new_execution_id() -> str:
    # SageMaker's execution ids: 12 lowercase letters and digits.
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


def pipeline_arn(cloud: LocalCloud, name: str) -> str:
    return cloud.config.arn("sagemaker", f"pipeline/{name.lower()}")


def execution_arn(cloud: LocalCloud, pipeline_name: str, execution_id: str) -> str:
    return f"{pipeline_arn(cloud, pipeline_name)}/execution/{execution_id}"


def execution_id(arn: str) -> str:
    return arn.rsplit("/execution/", 1)[-1]


def wire(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the API returns it: no bookkeeping keys, times as datetimes."""
    return {key: _render(key, value) for key, value in doc.items() if not key.startswith("_")}


def _render(key: str, value: Any) -> Any:
    if key.endswith("Time") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    if isinstance(value, dict):
        return {k: _render(k, v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_render("", v) for v in value]
    return value


class PipelineStore:
    """Typed access to the pipeline documents of one LocalCloud."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.state = cloud.state

    # executions
    def execution(self, exec_id: str) -> dict[str, Any] | None:
        return self.state.get(EXECUTION, exec_id)

    def put_execution(self, doc: dict[str, Any]) -> None:
        self.state.put(EXECUTION, execution_id(doc["PipelineExecutionArn"]), doc)

    def update_execution(self, exec_id: str, **fields: Any) -> dict[str, Any]:
        with self.state.transaction():
            doc = self.state.get(EXECUTION, exec_id)
            if doc is None:
                raise KeyError(exec_id)
            doc.update(fields)
            doc["LastModifiedTime"] = now()
            self.state.put(EXECUTION, exec_id, doc)
        return doc

    def executions(self, pipeline_name: str | None = None) -> list[dict[str, Any]]:
        docs = self.state.list(EXECUTION)
        return [d for d in docs if pipeline_name is None or d["_PipelineName"] == pipeline_name]

    # steps
    def steps(self, exec_id: str) -> list[dict[str, Any]]:
        return self.state.list(STEP, f"{exec_id}/")

    def step(self, exec_id: str, name: str) -> dict[str, Any] | None:
        return self.state.get(STEP, f"{exec_id}/{name}")

    def put_step(self, exec_id: str, doc: dict[str, Any]) -> None:
        self.state.put(STEP, f"{exec_id}/{doc['StepName']}", doc)

    def delete_steps(self, exec_id: str) -> None:
        for doc in self.steps(exec_id):
            self.state.delete(STEP, f"{exec_id}/{doc['StepName']}")

    # jobs
    def put_job(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        self.state.put(kind, name, doc)

    def job(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.state.get(kind, name)

    # cache
    def cached(self, pipeline: str, step: str, key: str) -> dict[str, Any] | None:
        return self.state.get(CACHE, f"{pipeline}/{step}/{key}")

    def remember(self, pipeline: str, step: str, key: str, entry: dict[str, Any]) -> None:
        self.state.put(CACHE, f"{pipeline}/{step}/{key}", entry)
