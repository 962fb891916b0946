"""What a user asks of a list of pipeline executions: who or what started each, how long it
took, which parameters differed from the defaults and the AUC it reached. Used by
`mlgw pipeline executions` and the studio's executions table.

Speaks only the SageMaker and S3 APIs (ListPipelineExecutions, DescribePipelineExecution,
ListPipelineParametersForExecution, and Evaluate's report at
s3://<bucket>/ml-gateway/executions/<execution id>/evaluation/evaluation.json, where the
pipeline writes it: pipelines/ml_gateway/pipeline.py), so it reads AWS as it reads localcloud.
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

TERMINAL = {"Succeeded", "Failed", "Stopped"}
EVALUATION_KEY = "ml-gateway/executions/{execution_id}/evaluation/evaluation.json"


def started_by(description: str | None) -> str:
    """Who or what started an execution, from its description (localcloud's EventBridge target
    writes the event id; the studio and `mlgw monitor run` write their own; the CLI and the SDK
    leave it empty)."""
    text = description or ""
    if text.startswith("EventBridge event"):
        return "drift rule (EventBridge)"
    if "studio" in text:
        return "studio"
    return text or "CLI / SDK"


def defaults(sm, pipeline_name: str) -> dict[str, str]:
    """The pipeline's parameters and their default values, as text."""
    definition = json.loads(sm.describe_pipeline(PipelineName=pipeline_name)["PipelineDefinition"])
    return {p["Name"]: str(p.get("DefaultValue", "")) for p in definition.get("Parameters", [])}


def facts(sm, summary: dict, default_values: dict[str, str], s3=None, bucket: str | None = None) -> dict[str, Any]:
    """One execution's `seconds` (start to end; to now while it runs), `running`,
    `overrides` {name: value} (parameters not at their default) and `auc` (float, or None when
    Evaluate wrote no report: it failed earlier, or `s3`/`bucket` were not given)."""
    arn = summary["PipelineExecutionArn"]
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    done = described["PipelineExecutionStatus"] in TERMINAL
    end = described["LastModifiedTime"] if done else dt.datetime.now(dt.timezone.utc)
    values: dict[str, str] = {}
    kwargs: dict[str, Any] = {"PipelineExecutionArn": arn}
    while True:
        page = sm.list_pipeline_parameters_for_execution(**kwargs)
        values.update({p["Name"]: p["Value"] for p in page.get("PipelineParameters", [])})
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    auc = None
    if s3 is not None and bucket:
        key = EVALUATION_KEY.format(execution_id=arn.rsplit("/", 1)[-1])
        try:
            report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            auc = report["binary_classification_metrics"]["auc"]["value"]
        except (ClientError, KeyError, TypeError, ValueError):
            auc = None
    return {
        "seconds": max(0.0, (end - described["CreationTime"]).total_seconds()),
        "running": not done,
        "auc": auc,
        "overrides": {k: v for k, v in values.items() if default_values.get(k) != v},
    }


def all_facts(
    sm,
    summaries: list[dict],
    default_values: dict[str, str],
    s3=None,
    bucket: str | None = None,
    pool: ThreadPoolExecutor | None = None,
) -> list[dict]:
    """facts() of each summary, read concurrently (a few calls each)."""

    def one(summary: dict) -> dict:
        return facts(sm, summary, default_values, s3, bucket)

    if pool is not None:
        return list(pool.map(one, summaries))
    with ThreadPoolExecutor(max_workers=8) as own:
        return list(own.map(one, summaries))


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def short(value: str) -> str:
    """A parameter value for one line: an S3 URI by its last two parts."""
    if value.startswith("s3://") and value.count("/") > 4:
        return ".../" + "/".join(value.rstrip("/").rsplit("/", 2)[-2:])
    return value
