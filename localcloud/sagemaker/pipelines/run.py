"""Running one pipeline execution: order, branches, concurrency, retries, caching, state.

`launch(cloud, execution_id)` runs an execution (or the retry of one) in a background thread;
every change is written to the state store first, so DescribePipelineExecution and
ListPipelineExecutionSteps show progress and a crash loses nothing but the steps in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import string
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localcloud.errors import AwsError
from localcloud.sagemaker.pipelines import expressions, graph, parameters, policies
from localcloud.sagemaker.pipelines.runners import RUNNERS, PipelineFailed, StepFailed, StepResult, StepRun, StepStopped
from localcloud.sagemaker.store import now, wire
from localcloud.state import until_written

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger("mlgw.executor")


def execution_id(arn: str) -> str:
    """The execution id an execution ARN ends with (an id is returned unchanged)."""
    return arn.rsplit("/execution/", 1)[-1]


EXECUTION_FAILURE_MAX = 1300
RESTARTED = "localcloud restarted during execution"


def default_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(2, cpus)


def job_name(execution: str, step: str) -> str:
    """A fresh job name per attempt, as SageMaker names pipeline jobs:
    pipelines-<execution id>-<step>-<random>, within the 63 characters job names allow.
    Lower case, so the name is also the last part of the job's ARN (ARNs are lower-cased)."""
    clean = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")[:29] or "step"
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))
    return f"pipelines-{execution}-{clean}-{suffix}"


# -- the live executions of this process -------------------------------------------------------

_live: dict[tuple[str, str], "ExecutionRun"] = {}
_live_lock = threading.Lock()


def _key(cloud: LocalCloud, exec_id: str) -> tuple[str, str]:
    return str(cloud.config.home), exec_id


def is_live(cloud: LocalCloud, exec_id: str) -> bool:
    with _live_lock:
        return _key(cloud, exec_id) in _live


def launch(cloud: LocalCloud, exec_id: str) -> threading.Thread:
    """Run (or resume, for a retry) the execution in a daemon thread of this process."""
    run = ExecutionRun(cloud, exec_id)
    with _live_lock:
        if _key(cloud, exec_id) in _live:
            raise RuntimeError(f"execution {exec_id} is already running")
        _live[_key(cloud, exec_id)] = run

    def target() -> None:
        try:
            run.run()
        finally:
            with _live_lock:
                _live.pop(_key(cloud, exec_id), None)

    thread = threading.Thread(target=target, name=f"pipeline-{exec_id}", daemon=True)
    thread.start()
    cloud.execution_launched.set()
    return thread


def request_stop(cloud: LocalCloud, exec_id: str) -> bool:
    """Ask a live execution to stop; False if it is not running in this process."""
    with _live_lock:
        run = _live.get(_key(cloud, exec_id))
    if run is None:
        return False
    run.stop.set()
    return True


def wait_for(cloud: LocalCloud, arn_or_id: str, timeout: float | None = None, poll: float = 0.1) -> dict[str, Any]:
    """Block until the execution is Succeeded, Failed or Stopped (or timeout); return its
    DescribePipelineExecution response (PipelineExecutionStatus, FailureReason, ...)."""
    store = cloud.pipelines
    exec_id = execution_id(arn_or_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        doc = store.execution(exec_id)
        if doc is None:
            raise KeyError(f"no pipeline execution {arn_or_id}")
        if doc["PipelineExecutionStatus"] in ("Succeeded", "Failed", "Stopped"):
            return wire(doc)
        if deadline is not None and time.monotonic() > deadline:
            return wire(doc)
        time.sleep(poll)


def recover_interrupted(cloud: LocalCloud) -> list[str]:
    """Mark executions a previous localcloud process left Executing or Stopping as Failed (they
    can then be retried). Returns their ARNs."""
    store = cloud.pipelines
    recovered = []
    for doc in store.executions():
        exec_id = execution_id(doc["PipelineExecutionArn"])
        if doc["PipelineExecutionStatus"] not in ("Executing", "Stopping") or is_live(cloud, exec_id):
            continue
        for step in store.steps(exec_id):
            if step["StepStatus"] in ("Starting", "Executing", "Stopping"):
                _kill_orphaned_job(cloud, step)
                step.update(StepStatus="Failed", FailureReason=RESTARTED, EndTime=now())
                store.put_step(exec_id, step)
        store.update_execution(exec_id, PipelineExecutionStatus="Failed", FailureReason=RESTARTED)
        recovered.append(doc["PipelineExecutionArn"])
    return recovered


def _kill_orphaned_job(cloud: LocalCloud, step: dict[str, Any]) -> None:
    """A job subprocess runs in its own session, so it can outlive a crashed server; stop it
    before its late outputs land in the object store, and mark its job record Failed."""
    for meta_key, kind in (("ProcessingJob", "processing-job"), ("TrainingJob", "training-job")):
        arn = step.get("Metadata", {}).get(meta_key, {}).get("Arn")
        if arn:
            cloud.jobs.kill_orphan(kind, arn.rsplit("/", 1)[1], status="Failed", reason=RESTARTED)


# -- one execution -----------------------------------------------------------------------------


class _Context:
    """What expressions read during one step attempt."""

    def __init__(self, run: "ExecutionRun", job: str, step_type: str):
        self.run, self.job, self.step_type = run, job, step_type

    def parameter(self, name: str) -> Any:
        if name not in self.run.parameters:
            raise expressions.ExpressionError(f"Parameters.{name} is not declared")
        return self.run.parameters[name]

    def execution_variable(self, name: str) -> Any:
        doc = self.run.doc
        start = dt.datetime.fromtimestamp(doc["CreationTime"], dt.timezone.utc)
        values = {
            "PipelineExecutionId": self.run.exec_id,
            "PipelineExecutionArn": doc["PipelineExecutionArn"],
            "PipelineName": doc["_PipelineName"],
            "PipelineArn": doc["PipelineArn"],
            "StartDateTime": start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "CurrentDateTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        }
        if name == "ProcessingJobName" and self.step_type == "Processing":
            return self.job
        if name == "TrainingJobName" and self.step_type == "Training":
            return self.job
        if name not in values:
            raise expressions.ExpressionError(f"Execution.{name} is not available in a {self.step_type} step")
        return values[name]

    def step_properties(self, step: str) -> dict[str, Any]:
        with self.run.lock:
            properties = self.run.properties.get(step)
        if properties is None:
            raise expressions.ExpressionError(f"step {step} has not succeeded, so its properties cannot be read")
        return properties

    def read_json(self, s3_uri: str) -> Any:
        try:
            return self.run.cloud.s3.read_json(s3_uri)
        except AwsError as exc:
            raise expressions.ExpressionError(str(exc)) from None


@dataclass
class _Outcome:
    status: str  # Succeeded | Failed | Stopped
    result: StepResult | None = None
    failure: StepFailed | None = None


class ExecutionRun:
    def __init__(self, cloud: LocalCloud, exec_id: str):
        self.cloud = cloud
        self.exec_id = exec_id
        self.store = cloud.pipelines
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.doc: dict[str, Any] = {}
        self.parameters: dict[str, Any] = {}
        self.properties: dict[str, dict[str, Any]] = {}  # succeeded steps' properties
        self.outcomes: dict[str, bool] = {}  # condition step → branch taken

    # the execution

    def run(self) -> str:
        try:
            return self._run()
        except Exception as exc:  # a bug must still end the execution, never leave it Executing
            log.exception("pipeline execution %s crashed", self.exec_id)
            self._finish("Failed", f"internal error in the local executor: {exc}")
            return "Failed"

    def _run(self) -> str:
        self.doc = self.store.execution(self.exec_id) or {}
        if not self.doc:
            raise KeyError(self.exec_id)
        try:
            pipeline = graph.parse(self.doc["_Definition"])
        except graph.DefinitionError as exc:
            return self._finish("Failed", str(exc))
        try:
            self.parameters = parameters.resolve(
                pipeline.definition, {p["Name"]: p["Value"] for p in self.doc.get("_Parameters", [])}
            )
        except parameters.PipelineParameterError as exc:
            return self._finish("Failed", str(exc))

        status: dict[str, str] = {name: "Pending" for name in pipeline.steps}
        attempts: dict[str, int] = {}
        for step in self.store.steps(self.exec_id):  # a retry keeps what already succeeded
            name = step["StepName"]
            if name not in status:
                continue
            attempts[name] = step.get("AttemptCount", 1)
            if step["StepStatus"] == "Succeeded":
                status[name] = "Succeeded"
                self.properties[name] = step.get("_Properties", {})
                if "Condition" in step.get("Metadata", {}):
                    self.outcomes[name] = step["Metadata"]["Condition"]["Outcome"] == "True"

        failure: tuple[str, StepFailed] | None = None  # the first step to fail, and why
        workers = (self.doc.get("ParallelismConfiguration") or {}).get("MaxParallelExecutionSteps") or default_workers()
        running: dict[Future, str] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"step-{self.exec_id}") as pool:
            while True:
                self._skip_unreachable(pipeline, status)
                # After a failure or a stop no new step starts; running ones finish.
                if failure is None and not self.stop.is_set():
                    for name in self._ready(pipeline, status):
                        status[name] = "Running"
                        attempt = attempts.get(name, 0) + 1
                        running[pool.submit(self._run_step, pipeline.steps[name], attempt)] = name
                if not running:
                    break
                done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    outcome: _Outcome = future.result()
                    status[name] = outcome.status
                    if outcome.status == "Failed" and failure is None:
                        failure = (name, outcome.failure or StepFailed("failed"))

        if failure is not None:
            failed_step, why = failure
            if isinstance(why, PipelineFailed):  # a Fail step: its message is the reason
                return self._finish("Failed", why.reason or f"Fail step {failed_step} ran")
            return self._finish("Failed", f"Step {failed_step} failed: {why.reason}")
        if self.stop.is_set():
            return self._finish("Stopped", None)
        return self._finish("Succeeded", None)

    def _finish(self, status: str, reason: str | None) -> str:
        fields: dict[str, Any] = {"PipelineExecutionStatus": status}
        if reason is not None:
            fields["FailureReason"] = reason[:EXECUTION_FAILURE_MAX]
        try:
            self.doc = until_written(
                lambda: self.store.update_execution(self.exec_id, **fields), f"execution {self.exec_id} {status}"
            )
        except KeyError:  # the pipeline was deleted while this ran
            return status
        log.info("pipeline execution %s %s%s", self.exec_id, status, f": {reason}" if reason else "")
        return status

    def _ready(self, pipeline: graph.PipelineGraph, status: dict[str, str]) -> list[str]:
        ready = []
        for name, spec in pipeline.steps.items():
            if status[name] != "Pending":
                continue
            if not all(status[dep] == "Succeeded" for dep in spec.depends_on):
                continue
            if spec.gate is not None and self.outcomes.get(spec.gate.condition) != spec.gate.outcome:
                continue
            ready.append(name)
        return ready

    def _skip_unreachable(self, pipeline: graph.PipelineGraph, status: dict[str, str]) -> None:
        """Steps on the branch a condition did not take, and steps that wait on them, never run."""
        changed = True
        while changed:
            changed = False
            for name, spec in pipeline.steps.items():
                if status[name] != "Pending":
                    continue
                gate = spec.gate
                off_branch = (
                    gate is not None
                    and status[gate.condition] == "Succeeded"
                    and self.outcomes.get(gate.condition) != gate.outcome
                )
                if off_branch or any(status[dep] == "Skipped" for dep in spec.depends_on):
                    status[name] = "Skipped"
                    changed = True

    # one step

    def _run_step(self, spec: graph.StepSpec, attempt: int) -> _Outcome:
        try:
            return self._attempts(spec, attempt)
        except OSError as exc:  # a write failed (a full disk): the error names the file
            log.exception("step %s could not write", spec.name)
            return self._failed(spec, attempt, StepFailed(f"InternalServerError: {exc}"))
        except Exception as exc:  # never lose a step to a bug: record it as failed
            log.exception("step %s crashed", spec.name)
            return self._failed(spec, attempt, StepFailed(f"internal error in the local executor: {exc}"))

    def _attempts(self, spec: graph.StepSpec, attempt: int) -> _Outcome:
        first_start = time.monotonic()
        self._save_step(spec, attempt, new=True)
        try:
            retry_policies = policies.retry_policies(spec.retry_policies, spec.name)
        except policies.StepPolicyError as exc:
            return self._failed(spec, attempt, StepFailed(str(exc)))
        retries = 0
        while True:
            name = job_name(self.exec_id, spec.name)
            try:
                result, cache_source = self._attempt(spec, attempt, name)
            except StepStopped:
                self._save_step(spec, attempt, StepStatus="Stopped", EndTime=now())
                return _Outcome("Stopped")
            except StepFailed as failure:
                if isinstance(failure, PipelineFailed):
                    return self._failed(spec, attempt, failure)
                retries += 1
                delay = policies.next_retry(
                    retry_policies, failure.exception_type, retries, time.monotonic() - first_start
                )
                if delay is None:
                    return self._failed(spec, attempt, failure)
                log.info("step %s failed (%s); retry %d in %.1f s", spec.name, failure.exception_type, retries, delay)
                if self.stop.wait(delay):
                    self._save_step(spec, attempt, StepStatus="Stopped", EndTime=now())
                    return _Outcome("Stopped")
                attempt += 1
                self._save_step(spec, attempt, StepStatus="Executing", FailureReason=None)
                continue
            with self.lock:
                self.properties[spec.name] = result.properties
                if result.outcome is not None:
                    self.outcomes[spec.name] = result.outcome
            fields: dict[str, Any] = {
                "StepStatus": "Succeeded",
                "EndTime": now(),
                "Metadata": result.metadata,
                "_Properties": result.properties,
            }
            if cache_source:
                fields["CacheHitResult"] = {"SourcePipelineExecutionArn": cache_source}
            self._save_step(spec, attempt, **fields)
            return _Outcome("Succeeded", result=result)

    def _attempt(self, spec: graph.StepSpec, attempt: int, name: str) -> tuple[StepResult, str | None]:
        """One try of a step: evaluate its arguments, reuse a cached result or run it."""
        context = _Context(self, name, spec.type)
        try:
            arguments = expressions.evaluate(spec.own_arguments, context)
        except expressions.ExpressionError as exc:
            raise StepFailed(f"cannot evaluate the arguments of step {spec.name}: {exc}") from None
        cache_key = None
        if spec.cache_config is not None:
            try:
                expiry = policies.cache_expiry_seconds(spec.cache_config, spec.name)
            except policies.StepPolicyError as exc:
                raise StepFailed(str(exc)) from None
            cache_key = policies.cache_key(spec.type, arguments)
        if cache_key is not None:
            hit = self.store.cached(self.doc["_PipelineName"], spec.name, cache_key)
            if hit and (expiry is None or now() - hit["Time"] <= expiry):
                result = StepResult(hit["Properties"], hit["Metadata"], hit.get("Outcome"))
                return result, hit["SourcePipelineExecutionArn"]
        self._save_step(spec, attempt, StepStatus="Executing")
        run = StepRun(
            self.cloud,
            spec,
            arguments,
            name,
            self.doc["PipelineExecutionArn"],
            self.stop,
            on_metadata=lambda metadata: self._save_step(spec, attempt, Metadata=metadata),
        )
        result = RUNNERS[spec.type](run)
        if cache_key is not None:
            self.store.remember(
                self.doc["_PipelineName"],
                spec.name,
                cache_key,
                {
                    "Time": now(),
                    "SourcePipelineExecutionArn": self.doc["PipelineExecutionArn"],
                    "Properties": result.properties,
                    "Metadata": result.metadata,
                    "Outcome": result.outcome,
                },
            )
        return result, None

    def _failed(self, spec: graph.StepSpec, attempt: int, failure: StepFailed) -> _Outcome:
        fields: dict[str, Any] = {"StepStatus": "Failed", "FailureReason": failure.reason, "EndTime": now()}
        if failure.metadata:
            fields["Metadata"] = failure.metadata
        until_written(lambda: self._save_step(spec, attempt, **fields), f"step {spec.name} Failed")
        return _Outcome("Failed", failure=failure)

    def _save_step(self, spec: graph.StepSpec, attempt: int, new: bool = False, **fields: Any) -> dict[str, Any]:
        """Write the step's record (one document per step, so parallel steps never collide)."""
        doc = None if new else self.store.step(self.exec_id, spec.name)
        if doc is None:
            doc = {
                "StepName": spec.name,
                "StartTime": now(),
                "StepStatus": "Starting",
                "AttemptCount": attempt,
                "Metadata": {},
                "_StepType": spec.type,  # for the step status change events
            }
            if spec.display_name:
                doc["StepDisplayName"] = spec.display_name
            if spec.description:
                doc["StepDescription"] = spec.description
        doc["AttemptCount"] = attempt
        for key, value in fields.items():
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        self.store.put_step(self.exec_id, doc)
        return doc
