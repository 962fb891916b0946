"""SageMaker's own EventBridge events for the resources localcloud serves.

Source: "Events that Amazon SageMaker sends to Amazon EventBridge" in the SageMaker developer
guide (automating-sagemaker-with-eventbridge.html, its examples): source "aws.sagemaker" on the
default bus, with these detail types and detail shapes:

- "SageMaker Model Package State Change": the package as DescribeModelPackage has it, its times
  as ISO-8601 strings; sent when a package is created and when it changes (an approval change
  by UpdateModelPackage). Resources: the package ARN.
- "SageMaker Model Building Pipeline Execution Status Change": camelCase members
  (currentPipelineExecutionStatus, previousPipelineExecutionStatus, executionStartTime, ...;
  times as ISO-8601 strings). Resources: the pipeline ARN and the execution ARN.
- "SageMaker Model Building Pipeline Execution Step Status Change": stepName, stepType,
  currentStepStatus, previousStepStatus, stepStartTime, stepEndTime, failureReason (Failed),
  cacheHitResult (a cache hit) and the step's job in metadata ({"processingJob": {"arn": ...}}).
  Resources: as above.
- "SageMaker Endpoint State Change": the endpoint as DescribeEndpoint has it, but its status in
  the event's spelling ("IN_SERVICE"), times as epoch milliseconds and "Tags" as a map.

An event that cannot be delivered is logged and never fails the operation that caused it. An
event caused by delivering another one (a rule on a pipeline's status changes whose target
starts that pipeline) is delivered afterwards by one background thread, not inside the delivery
that caused it: delivery on AWS is asynchronous, and a rule that feeds itself would otherwise
recurse until Python's stack runs out, starting hundreds of executions within one API call.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger(__name__)

SOURCE = "aws.sagemaker"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
PIPELINE_EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
PIPELINE_STEP_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Step Status Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"

# DescribePipelineExecutionStep's Metadata members -> the event's metadata members.
_STEP_METADATA = {
    "ProcessingJob": "processingJob",
    "TrainingJob": "trainingJob",
    "TransformJob": "transformJob",
    "TuningJob": "tuningJob",
    "Model": "model",
    "RegisterModel": "registerModel",
    "Condition": "condition",
    "Callback": "callback",
    "Lambda": "lambda",
    "EMR": "emr",
    "QualityCheck": "qualityCheck",
    "ClarifyCheck": "clarifyCheck",
    "Fail": "fail",
    "AutoMLJob": "autoMLJob",
}


_Pending = tuple["LocalCloud", str, dict[str, Any], list[str]]
_delivering = threading.local()  # .active: this thread is delivering an event now
_later: queue.Queue[_Pending] = queue.Queue()
_worker_lock = threading.Lock()
_worker: threading.Thread | None = None


def emit(cloud: LocalCloud, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
    """Put one SageMaker event on the default bus; a failure is logged, never raised. Called
    while this thread delivers another event, it is queued for the background deliverer."""
    if getattr(_delivering, "active", False):
        _later.put((cloud, detail_type, detail, resources))
        _ensure_worker()
        return
    _deliver(cloud, detail_type, detail, resources)


def _deliver(cloud: LocalCloud, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
    _delivering.active = True
    try:
        cloud.events.put_service_event(source=SOURCE, detail_type=detail_type, detail=detail, resources=resources)
    except Exception:  # noqa: BLE001 — an event never fails the SageMaker call that caused it
        log.exception("could not send SageMaker event %r for %s", detail_type, resources)
    finally:
        _delivering.active = False


def _ensure_worker() -> None:
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_work, name="sagemaker-events", daemon=True)
            _worker.start()


def _work() -> None:
    while True:
        cloud, detail_type, detail, resources = _later.get()
        _deliver(cloud, detail_type, detail, resources)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_doc(doc: dict[str, Any], millis: bool) -> dict[str, Any]:
    """A stored document as a resource event's detail: no bookkeeping keys, times (keys
    ending in Time) as epoch milliseconds (`millis`) or ISO-8601 strings."""

    def render(key: str, value: Any) -> Any:
        if key.endswith("Time") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(int(value * 1000)) if millis else _iso(value)
        if isinstance(value, dict):
            return {k: render(k, v) for k, v in value.items() if not k.startswith("_")}
        if isinstance(value, list):
            return [render("", v) for v in value]
        return value

    return {k: render(k, v) for k, v in doc.items() if not k.startswith("_")}


def _event_status(status: str) -> str:
    """DescribeEndpoint's EndpointStatus as the endpoint event spells it: InService -> IN_SERVICE."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", status).upper()


def model_package_changed(cloud: LocalCloud, doc: dict[str, Any]) -> None:
    """ "SageMaker Model Package State Change" for a created or changed package document."""
    emit(cloud, MODEL_PACKAGE_STATE_CHANGE, _resource_doc(doc, millis=False), [doc["ModelPackageArn"]])


def endpoint_changed(cloud: LocalCloud, doc: dict[str, Any]) -> None:
    """ "SageMaker Endpoint State Change" for an endpoint document whose status changed."""
    detail = _resource_doc(doc, millis=True)
    if detail.get("DataCaptureConfig") is None:
        detail.pop("DataCaptureConfig", None)
    detail["EndpointStatus"] = _event_status(doc["EndpointStatus"])
    detail["Tags"] = {t["Key"]: t["Value"] for t in doc.get("_Tags") or [] if "Key" in t}
    emit(cloud, ENDPOINT_STATE_CHANGE, detail, [doc["EndpointArn"]])


def execution_status_changed(cloud: LocalCloud, doc: dict[str, Any], previous: str | None) -> None:
    """ "... Pipeline Execution Status Change" for an execution document whose status is new."""
    status = doc["PipelineExecutionStatus"]
    terminal = status in ("Succeeded", "Failed", "Stopped")
    detail = {
        "pipelineExecutionDisplayName": doc.get("PipelineExecutionDisplayName"),
        "currentPipelineExecutionStatus": status,
        "previousPipelineExecutionStatus": previous,
        "executionStartTime": _iso(doc.get("CreationTime")),
        "executionEndTime": _iso(doc.get("LastModifiedTime")) if terminal else None,
        "pipelineExecutionDescription": doc.get("PipelineExecutionDescription"),
        "pipelineArn": doc["PipelineArn"],
        "pipelineExecutionArn": doc["PipelineExecutionArn"],
    }
    if doc.get("FailureReason") and status == "Failed":
        detail["failureReason"] = doc["FailureReason"]
    emit(
        cloud,
        PIPELINE_EXECUTION_STATUS_CHANGE,
        {k: v for k, v in detail.items() if v is not None},
        [doc["PipelineArn"], doc["PipelineExecutionArn"]],
    )


def step_status_changed(
    cloud: LocalCloud, execution: dict[str, Any], step: dict[str, Any], previous: str | None
) -> None:
    """ "... Pipeline Execution Step Status Change" for a step document whose status is new."""
    metadata: dict[str, Any] = {}
    for key, value in (step.get("Metadata") or {}).items():
        if isinstance(value, dict):
            metadata[_STEP_METADATA.get(key, key[:1].lower() + key[1:])] = {
                k[:1].lower() + k[1:]: v for k, v in value.items()
            }
    detail = {
        "metadata": metadata,
        "stepStartTime": _iso(step.get("StartTime")),
        "stepEndTime": _iso(step.get("EndTime")),
        "stepName": step["StepName"],
        "stepType": step.get("_StepType"),
        "previousStepStatus": previous,
        "currentStepStatus": step["StepStatus"],
        "failureReason": step.get("FailureReason") if step["StepStatus"] == "Failed" else None,
        "cacheHitResult": {"sourcePipelineExecutionArn": step["CacheHitResult"]["SourcePipelineExecutionArn"]}
        if step.get("CacheHitResult")
        else None,
        "pipelineArn": execution["PipelineArn"],
        "pipelineExecutionArn": execution["PipelineExecutionArn"],
    }
    emit(
        cloud,
        PIPELINE_STEP_STATUS_CHANGE,
        {k: v for k, v in detail.items() if v is not None},
        [execution["PipelineArn"], execution["PipelineExecutionArn"]],
    )
