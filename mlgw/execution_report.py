"""What a finished execution tells the user next: after a failure, whether retrying can help
and what to do instead; after a retry, which steps were reused and which ran.

RetryPipelineExecution re-runs the failed step and what follows it with the same parameters
and the same inputs, keeping the steps that succeeded ("Retry a pipeline",
https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-retry.html). So a retry helps with a
transient failure (a crash, a timeout, a service not ready) and never with:

* a Fail step (here AucBelowThreshold: the model's AUC is below AucThreshold): the same
  model is evaluated against the same threshold again;
* bad input data (the Ingest step validates the CSVs): the same staged files are read again;
* a bad parameter value (the failure reason names a parameter the execution was started
  with, from ListPipelineParametersForExecution): the execution keeps its parameters.

Speaks only the SageMaker API, so it reads an execution on AWS as on localcloud.
"""

from __future__ import annotations

import math
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgw.progress import ExecutionResult, reused

INGEST_STEP = "Ingest"  # pipelines/ml_gateway/pipeline.py: validates the input CSVs
RETRY = "retry from the failed step: mlgw pipeline retry (it reuses the steps that succeeded)"


def execution_parameters(sm, arn: str) -> dict[str, str]:
    """{name: value} the execution ran with (ListPipelineParametersForExecution, every page);
    {} when they cannot be read."""
    out: dict[str, str] = {}
    kwargs: dict[str, Any] = {"PipelineExecutionArn": arn}
    try:
        while True:
            page = sm.list_pipeline_parameters_for_execution(**kwargs)
            out.update({p["Name"]: p["Value"] for p in page.get("PipelineParameters", [])})
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]
    except (ClientError, BotoCoreError):  # advice must never hide the failure itself
        return out


def failure_advice(sm, result: ExecutionResult, synthetic: bool = True) -> list[str]:
    """Lines saying whether `mlgw pipeline retry` can help with this failed execution and, if
    not, what to do instead. `synthetic`: whether the run configuration's data is the
    generator's (else the user's files: advice never steers to synthetic data)."""
    reason = result.failure_reason or ""
    failed = next((s for s in result.steps if s.get("StepStatus") == "Failed"), None)
    if failed is not None and "Fail" in failed.get("Metadata", {}):
        if "AUC" in reason:
            auc = re.search(r"AUC ([0-9]*\.[0-9]+)", reason)
            lower = (
                (
                    f"if a model with AUC {float(auc.group(1)):.4f} is good enough, a new run "
                    f"with a lower threshold: `mlgw run --param AucThreshold="
                    f"{math.floor(float(auc.group(1)) * 100) / 100:g}`"
                )
                if auc
                else "a new run with a lower threshold: `mlgw run --param AucThreshold=...`"
            )
            more = (
                "`mlgw traffic` adds labelled batches to the current dataset, or `mlgw run --policies N` "
                "with a larger N"
                if synthetic
                else "`mlgw traffic --claims HELD.csv --customers HELD.csv` adds held-out rows to the "
                "current dataset, or `mlgw run --claims A.csv --customers B.csv` with more rows"
            )
            return [
                "retry cannot help: a retry evaluates the same model against the same threshold again.",
                f"instead: train on more data ({more}), or, {lower}",
            ]
        return [
            f"retry cannot help: the pipeline's Fail step {failed['StepName']} would stop "
            "it again with the same inputs and parameters; start a new run with other ones"
        ]
    if failed is not None and failed.get("StepName") == INGEST_STEP:
        if "has a single value" in reason:  # too few policies to hold both labels
            synthetic_hint = (
                "more policies (`mlgw run --policies 1000`: about 3 % of synthetic policies are fraud), or "
            )
            return [
                "retry cannot help: a retry re-reads the same staged files.",
                "instead: a dataset with both fraud labels: "
                + (synthetic_hint if synthetic else "")
                + "files that hold both (`mlgw run --claims A.csv --customers B.csv`)",
            ]
        return [
            "retry cannot help: a retry re-reads the same staged files.",
            "instead: fix the file, column and row named above (`mlgw schema check "
            "--claims A.csv --customers B.csv` lists every problem) and start a new run: "
            "`mlgw run --claims A.csv --customers B.csv`",
        ]
    parameters = execution_parameters(sm, result.arn)
    named = sorted(name for name in parameters if name in reason)
    if named:
        return [
            "retry cannot help: a retry runs with the same parameters "
            f"({', '.join(f'{n}={parameters[n]!r}' for n in named)}).",
            f"instead: start a new run with a valid value: `mlgw run --param {named[0]}=...`"
            " (or `mlgw pipeline start --param ...` on the current dataset)",
        ]
    return [RETRY]


def retry_lines(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """Which steps a retry reused and which it ran, from ListPipelineExecutionSteps before the
    retry and after it ended. A step is reused when it had succeeded before and was not
    started again; a cache hit names the execution whose output it reused."""
    kept, cached, ran = [], [], []
    for step in after:
        name = step["StepName"]
        if reused(before, step):
            kept.append(name)
        elif step.get("CacheHitResult"):
            source = step["CacheHitResult"].get("SourcePipelineExecutionArn", "an earlier execution")
            cached.append(f"{name} (from {source})")
        else:
            ran.append(f"{name} ({step.get('StepStatus')})")
    lines = []
    if kept:
        lines.append(f"reused from the previous attempt: {', '.join(kept)}")
    if cached:
        lines.append(f"reused from the step cache: {', '.join(cached)}")
    lines.append(f"ran in this retry: {', '.join(ran) if ran else 'nothing'}")
    return lines


def champion_lines(sm, s3, result: ExecutionResult) -> list[str]:
    """After a succeeded execution that registered a model: the serving model it was compared
    with (its AUC re-scored on the same test split), whether the champion gate deployed the new
    one and, if not, how to deploy it anyway. Read from the package's evaluation.json (Evaluate's
    `champion` and `champion_gate`, processing/champion.py); no lines when there is none."""
    from mlgw import registry_view

    package_arn = next(
        (s["Metadata"]["RegisterModel"]["Arn"] for s in result.steps if "RegisterModel" in s.get("Metadata", {})), None
    )
    if not package_arn:
        return []
    try:
        report = registry_view.evaluation(sm, s3, package_arn) or {}
    except (ClientError, BotoCoreError):  # the summary must never hide the execution's result
        return []
    champion, gate = report.get("champion") or {}, report.get("champion_gate") or {}
    if not gate:
        return []
    lines = []
    if isinstance(champion.get("auc"), float):
        who = (
            f"version {champion['model_package_version']}"
            if champion.get("model_package_version")
            else champion.get("model_name")
        )
        lines.append(
            f"champion        {who} on {champion.get('endpoint')} (variant {champion.get('variant')}): "
            f"AUC {champion['auc']:.4f} re-scored on this run's test split"
        )
    deployed = any(s.get("StepName") == "Deploy" and s.get("StepStatus") == "Succeeded" for s in result.steps)
    lines.append(f"champion gate   {gate.get('reason', '')}")
    if not deployed:
        version = package_arn.rsplit("/", 1)[-1]
        status = gate.get("approval_status", "")
        lines.append(
            f"                version {version} is registered {status}, not deployed; to deploy it anyway: "
            f"`mlgw run ... --param ChampionGate=skip` (a new run), or approve it and "
            f"`mlgw endpoint deploy --version {version}`"
        )
    return lines
