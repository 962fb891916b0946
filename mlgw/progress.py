"""Follow a pipeline execution and print each step's progress as it happens.

Speaks only the SageMaker API (DescribePipelineExecution, ListPipelineExecutionSteps), so it
follows an execution on AWS exactly as on localcloud.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, TextIO

TERMINAL = {"Succeeded", "Failed", "Stopped"}


@dataclass
class ExecutionResult:
    arn: str
    status: str
    failure_reason: str | None
    steps: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"

    def step(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.steps if s["StepName"] == name), None)


def list_steps(sm, arn: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"PipelineExecutionArn": arn, "SortOrder": "Ascending"}
    while True:
        page = sm.list_pipeline_execution_steps(**kwargs)
        steps.extend(page["PipelineExecutionSteps"])
        if not page.get("NextToken"):
            return steps
        kwargs["NextToken"] = page["NextToken"]


def _detail(step: dict[str, Any]) -> str:
    status = step["StepStatus"]
    if status == "Failed":
        return f": {step.get('FailureReason', 'no reason given')}"
    meta = step.get("Metadata", {})
    if "Condition" in meta:
        return f" (outcome {meta['Condition'].get('Outcome')})"
    if step.get("CacheHitResult"):
        return " (cached)"
    return ""


def reused(previous: list[dict[str, Any]], step: dict[str, Any]) -> bool:
    """Whether `step` (after a retry) is one that had succeeded before it and was kept:
    RetryPipelineExecution does not run such a step again."""
    old = next((s for s in previous if s["StepName"] == step["StepName"]), None)
    return old is not None and old.get("StepStatus") == "Succeeded" \
        and old.get("StartTime") == step.get("StartTime")


def follow(sm, arn: str, out: TextIO | None = None, poll_seconds: float = 0.25,
           timeout_seconds: float | None = None,
           step_lines: Callable[[dict[str, Any]], list[str]] | None = None,
           previous: list[dict[str, Any]] | None = None) -> ExecutionResult:
    """Print a line whenever a step changes state, until the execution ends. `step_lines(step)`,
    if given, returns new progress lines of an executing step (the local run reads them from the
    job's log; on AWS they are in CloudWatch Logs). `previous`: the steps before a retry, whose
    kept steps are marked as reused rather than shown as if they had just run."""
    out = out or sys.stdout
    previous = previous or []
    started = time.monotonic()
    seen: dict[str, str] = {}
    while True:
        execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        steps = list_steps(sm, arn)
        for step in steps:
            name, status = step["StepName"], step["StepStatus"]
            if seen.get(name) == status:
                continue
            seen[name] = status
            elapsed = time.monotonic() - started
            took = ""
            if status in TERMINAL and step.get("StartTime") and step.get("EndTime"):
                took = f" in {(step['EndTime'] - step['StartTime']).total_seconds():.1f} s"
            detail = " (reused from the previous attempt)" if reused(previous, step) \
                else _detail(step)
            print(f"[{elapsed:6.1f}s] {name:<22} {status}{took}{detail}", file=out, flush=True)
        if step_lines is not None:
            for step in steps:
                for line in step_lines(step):
                    print(f"[{time.monotonic() - started:6.1f}s] {step['StepName']:<22} {line}",
                          file=out, flush=True)
        status = execution["PipelineExecutionStatus"]
        if status in TERMINAL:
            return ExecutionResult(arn, status, execution.get("FailureReason"), steps,
                                   time.monotonic() - started)
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            return ExecutionResult(arn, status, f"still {status} after {timeout_seconds:.0f} s",
                                   steps, time.monotonic() - started)
        time.sleep(poll_seconds)
