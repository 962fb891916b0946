"""Follow a pipeline execution and print each step's progress as it happens.

Speaks only the SageMaker API (DescribePipelineExecution, ListPipelineExecutionSteps), so it
follows an execution on AWS exactly as on localcloud.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    return old is not None and old.get("StepStatus") == "Succeeded" and old.get("StartTime") == step.get("StartTime")


def follow(
    sm,
    arn: str,
    out: TextIO | None = None,
    poll_seconds: float = 0.25,
    timeout_seconds: float | None = None,
    step_lines: Callable[[dict[str, Any]], list[str]] | None = None,
    previous: list[dict[str, Any]] | None = None,
) -> ExecutionResult:
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
            detail = " (reused from the previous attempt)" if reused(previous, step) else _detail(step)
            print(f"[{elapsed:6.1f}s] {name:<22} {status}{took}{detail}", file=out, flush=True)
        if step_lines is not None:
            for step in steps:
                for line in step_lines(step):
                    print(f"[{time.monotonic() - started:6.1f}s] {step['StepName']:<22} {line}", file=out, flush=True)
        status = execution["PipelineExecutionStatus"]
        if status in TERMINAL:
            return ExecutionResult(arn, status, execution.get("FailureReason"), steps, time.monotonic() - started)
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            return ExecutionResult(
                arn, status, f"still {status} after {timeout_seconds:.0f} s", steps, time.monotonic() - started
            )
        time.sleep(poll_seconds)


class Phases:
    """Say what a long client-side job is doing, so a user never waits in silence: a line when
    each phase starts (`[  4.1s] building the pipeline's steps`), and while a phase runs, a
    `still ...` line every `heartbeat_seconds`. Times count from the first phase.

        phases = Phases(sys.stdout)
        with phases("importing the SageMaker SDK"):
            ...
        phases.done("pipeline definition upserted")   # `[  9.8s] pipeline definition upserted`
    """

    def __init__(self, out: TextIO | None = None, heartbeat_seconds: float = 5.0):
        self.out = out or sys.stdout
        self.heartbeat_seconds = heartbeat_seconds
        self.started = time.monotonic()
        self.seconds: dict[str, float] = {}  # each finished phase's duration, by label

    def _print(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.out, flush=True)

    @contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        self._print(f"{label}…")
        began = time.monotonic()
        finished = threading.Event()

        def heartbeat() -> None:
            while not finished.wait(self.heartbeat_seconds):
                self._print(f"still {label} ({time.monotonic() - began:.0f} s)")

        beat = threading.Thread(target=heartbeat, name="mlgw-progress", daemon=True)
        beat.start()
        try:
            yield
        finally:
            finished.set()
            beat.join()
            self.seconds[label] = time.monotonic() - began

    def done(self, text: str) -> None:
        self._print(text)
