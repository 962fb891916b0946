"""SageMaker's job operations on the wire: CreateProcessingJob, CreateTrainingJob,
DescribeProcessingJob, DescribeTrainingJob, StopProcessingJob, StopTrainingJob,
ListProcessingJobs, ListTrainingJobs (AWS's request and response shapes; the input is validated
against botocore's model by JsonApi before these run). Errors: ValidationException (no such
job, a role SageMaker cannot assume), ResourceInUse (the name is taken)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localcloud.json_api import page, with_token
from localcloud.sagemaker.jobs.models import PROCESSING_JOB, TRAINING_JOB
from localcloud.sagemaker.store import wire

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

Params = dict[str, Any]


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)  # the JSON protocol sends timestamps as epoch seconds


def create_processing_job(cloud: LocalCloud, params: Params) -> Params:
    return {"ProcessingJobArn": cloud.jobs.create_processing_job(params)}


def create_training_job(cloud: LocalCloud, params: Params) -> Params:
    return {"TrainingJobArn": cloud.jobs.create_training_job(params)}


def describe_processing_job(cloud: LocalCloud, params: Params) -> Params:
    return wire(cloud.jobs.describe(PROCESSING_JOB, params["ProcessingJobName"]))


def describe_training_job(cloud: LocalCloud, params: Params) -> Params:
    return wire(cloud.jobs.describe(TRAINING_JOB, params["TrainingJobName"]))


def stop_processing_job(cloud: LocalCloud, params: Params) -> None:
    cloud.jobs.stop(PROCESSING_JOB, params["ProcessingJobName"])


def stop_training_job(cloud: LocalCloud, params: Params) -> None:
    cloud.jobs.stop(TRAINING_JOB, params["TrainingJobName"])


_PROCESSING_SUMMARY = (
    "ProcessingJobName",
    "ProcessingJobArn",
    "CreationTime",
    "ProcessingEndTime",
    "LastModifiedTime",
    "ProcessingJobStatus",
    "FailureReason",
    "ExitMessage",
)
_TRAINING_SUMMARY = (
    "TrainingJobName",
    "TrainingJobArn",
    "CreationTime",
    "TrainingEndTime",
    "LastModifiedTime",
    "TrainingJobStatus",
    "SecondaryStatus",
)


def _list(cloud: LocalCloud, kind: str, params: Params, fields: tuple[str, ...], key: str) -> Params:
    docs = cloud.jobs.list_jobs(
        kind,
        name_contains=params.get("NameContains"),
        status=params.get("StatusEquals"),
        created_after=_epoch(params.get("CreationTimeAfter")),
        created_before=_epoch(params.get("CreationTimeBefore")),
        modified_after=_epoch(params.get("LastModifiedTimeAfter")),
        modified_before=_epoch(params.get("LastModifiedTimeBefore")),
        sort_by=params.get("SortBy", "CreationTime"),
        descending=params.get("SortOrder", "Descending") == "Descending",
    )
    found, token = page(docs, params, default_max=10)
    summaries = [wire({f: d[f] for f in fields if f in d}) for d in found]
    return with_token({key: summaries}, token)


def list_processing_jobs(cloud: LocalCloud, params: Params) -> Params:
    return _list(cloud, PROCESSING_JOB, params, _PROCESSING_SUMMARY, "ProcessingJobSummaries")


def list_training_jobs(cloud: LocalCloud, params: Params) -> Params:
    return _list(cloud, TRAINING_JOB, params, _TRAINING_SUMMARY, "TrainingJobSummaries")


OPERATIONS: dict[str, Callable[[LocalCloud, Params], Params | None]] = {
    "CreateProcessingJob": create_processing_job,
    "CreateTrainingJob": create_training_job,
    "DescribeProcessingJob": describe_processing_job,
    "DescribeTrainingJob": describe_training_job,
    "StopProcessingJob": stop_processing_job,
    "StopTrainingJob": stop_training_job,
    "ListProcessingJobs": list_processing_jobs,
    "ListTrainingJobs": list_training_jobs,
}
