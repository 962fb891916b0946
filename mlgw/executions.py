"""`mlgw pipeline executions|describe|retry` on either target: the latest execution, the list of
executions, one execution's steps, and a retry followed to its end — written once against a
`Target` (mlgw/target.py), so localcloud and AWS print the same columns.

Speaks only the SageMaker API (ListPipelineExecutions, DescribePipelineExecution,
ListPipelineExecutionSteps, RetryPipelineExecution) and, for the AUC column, Evaluate's report
in S3 (mlgw/executions_view.py). A local job's log is read from the target's state directory.
Every function takes the target's SageMaker client as `sm` (default: a new one of the target),
so a caller that holds one (a stubbed one in tests) passes it.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from mlgw.args import CliError
from mlgw.execution_report import retry_lines
from mlgw.progress import ExecutionResult, follow, list_steps
from mlgw.target import Target

# How often a followed execution is polled: localcloud answers in a millisecond; on AWS steps
# take minutes and each call counts against SageMaker's request rate.
POLL_SECONDS = {"local": 0.25, "aws": 15.0}
# What starts a first execution, named when there is none yet.
FIRST_RUN = {"local": "`mlgw run`", "aws": "`mlgw pipeline start --target aws`"}
WHERE = {"local": "localcloud", "aws": "SageMaker"}


def describe_command(target: Target, arn: str) -> str:
    """The command that shows one execution of this target."""
    return f"mlgw pipeline describe {arn}" + (" --target aws" if target.kind == "aws" else "")


def execution_label(target: Target, arn: str) -> str:
    """How the executions list names an execution: by its ID on localcloud (as the studio's
    pages do), by its full ARN on AWS (what `describe` and `retry` take, and what names the
    account and region among a user's several)."""
    return arn if target.kind == "aws" else arn.rsplit("/", 1)[-1]


def executions(target: Target, pipeline_name: str, sm: Any = None) -> list[dict[str, Any]]:
    """Every ExecutionSummary of `pipeline_name`, newest first (sorted here too: moto returns
    them in creation order whatever SortOrder says)."""
    sm = sm or target.client("sagemaker")
    summaries: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"PipelineName": pipeline_name, "SortBy": "CreationTime", "SortOrder": "Descending"}
    while True:
        page = sm.list_pipeline_executions(**kwargs)
        summaries.extend(page["PipelineExecutionSummaries"])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return sorted(summaries, key=lambda s: s["StartTime"], reverse=True)


def latest_execution(target: Target, pipeline_name: str, sm: Any = None) -> str:
    """The ARN of the newest execution; CliError saying how to start one when there is none."""
    found = executions(target, pipeline_name, sm)
    if not found:
        raise CliError(f"pipeline {pipeline_name} has no executions yet; run {FIRST_RUN[target.kind]}")
    return str(found[0]["PipelineExecutionArn"])


def print_executions(
    target: Target, pipeline_name: str, limit: int = 20, out: TextIO | None = None, sm: Any = None
) -> None:
    """The newest `limit` executions, one line each: start (UTC), status, duration, who or what
    started it, AUC, the parameters not at their default, and the execution (execution_label)."""
    from mlgw import executions_view as view

    out = out or sys.stdout
    sm = sm or target.client("sagemaker")
    page = sm.list_pipeline_executions(
        PipelineName=pipeline_name, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit
    )
    summaries = sorted(page["PipelineExecutionSummaries"], key=lambda s: s["StartTime"], reverse=True)
    if not summaries:
        print(f"no executions of {pipeline_name} yet; {FIRST_RUN[target.kind]} starts one", file=out)
        return
    facts = view.all_facts(sm, summaries, view.defaults(sm, pipeline_name), target.client("s3"), target.bucket)
    print(
        f"{'started (UTC)':<19}  {'status':<10} {'took':>9}  {'started by':<24} {'AUC':<6}  "
        f"parameters not at their default / execution",
        file=out,
    )
    for summary, fact in zip(summaries, facts):
        took = view.duration(fact["seconds"]) + ("+" if fact["running"] else "")
        auc = f"{fact['auc']:.4f}" if fact["auc"] is not None else "-"
        overrides = " ".join(f"{k}={view.short(v)}" for k, v in fact["overrides"].items())
        print(
            f"{summary['StartTime']:%Y-%m-%d %H:%M:%S}  {summary['PipelineExecutionStatus']:<10} "
            f"{took:>9}  {view.started_by(summary.get('PipelineExecutionDescription')):<24} "
            f"{auc:<6}  {overrides + '  ' if overrides else ''}"
            f"{execution_label(target, summary['PipelineExecutionArn'])}",
            file=out,
        )
    if page.get("NextToken"):
        print(f"(the newest {limit}; older executions not shown)", file=out)
    what = "steps, failure reasons and job logs" if target.home is not None else "steps and failure reasons"
    print(f"{what}: {describe_command(target, 'EXECUTION_ARN')}", file=out)


def print_execution(
    target: Target, pipeline_name: str, arn: str | None, out: TextIO | None = None, sm: Any = None
) -> None:
    """Status, failure reason and each step of `arn` (default: the latest execution), with the
    local job log of each processing or training step when the target has one."""
    out = out or sys.stdout
    sm = sm or target.client("sagemaker")
    arn = arn or latest_execution(target, pipeline_name, sm)
    execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    print(
        f"{arn}\nstatus {execution['PipelineExecutionStatus']}"
        + (f": {execution['FailureReason']}" if execution.get("FailureReason") else ""),
        file=out,
    )
    for step in list_steps(sm, arn):
        took = ""
        if step.get("EndTime") and step.get("StartTime"):
            took = f"{(step['EndTime'] - step['StartTime']).total_seconds():6.1f} s"
        reason = f"  {step['FailureReason']}" if step.get("FailureReason") else ""
        print(f"  {step['StepName']:<22} {step['StepStatus']:<10} {took}{reason}", file=out)
        log = job_log(target, step)
        if log is not None:
            print(f"  {'':<22} log: {log}", file=out)


def job_folder(jobs: Path, arn_name: str) -> Path | None:
    """A local job's folder under <home>/jobs from the name in its ARN (ARNs carry the job
    name in lower case; the folder keeps the case it was created with)."""
    if not arn_name or not jobs.is_dir():
        return None
    return next((p for p in jobs.iterdir() if p.name.lower() == arn_name), None)


def job_log(target: Target, step: dict[str, Any]) -> Path | None:
    """The local job log of a processing or training step (<home>/jobs/<job name>/job.log);
    None on a target without a state directory (AWS: the logs are in CloudWatch Logs)."""
    if target.home is None:
        return None
    metadata = step.get("Metadata", {})
    job = metadata.get("ProcessingJob") or metadata.get("TrainingJob") or {}
    folder = job_folder(target.home / "jobs", job.get("Arn", "").rsplit("/", 1)[-1])
    return folder / "job.log" if folder and (folder / "job.log").exists() else None


def following(target: Target, arn: str, sm: Any = None, **kwargs: Any) -> ExecutionResult:
    """progress.follow at the target's pace (`kwargs` are follow's), saying on Ctrl-C that the
    execution goes on without us and how to look at it."""
    sm = sm or target.client("sagemaker")
    kwargs.setdefault("poll_seconds", POLL_SECONDS[target.kind])
    try:
        return follow(sm, arn, **kwargs)
    except KeyboardInterrupt:
        print(
            f"\nstopped following; the execution goes on in {WHERE[target.kind]}: "
            f"`{describe_command(target, arn)}` shows it",
            file=sys.stderr,
            flush=True,
        )
        raise


def start_retry(
    target: Target, pipeline_name: str, arn: str | None, sm: Any = None
) -> tuple[str, list[dict[str, Any]]]:
    """RetryPipelineExecution of `arn` (default: the latest execution), which re-runs its failed
    step and what follows: (the execution's ARN, its steps before the retry, for follow_retry)."""
    sm = sm or target.client("sagemaker")
    arn = arn or latest_execution(target, pipeline_name, sm)
    before = list_steps(sm, arn)
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    return arn, before


def follow_retry(
    target: Target, arn: str, before: list[dict[str, Any]], sm: Any = None, out: TextIO | None = None
) -> ExecutionResult:
    """Follow a retried execution to its end, then say which steps it reused and which it ran."""
    result = following(target, arn, sm, out=out, previous=before)
    print("\n".join(retry_lines(before, result.steps)), file=out or sys.stdout, flush=True)
    return result
