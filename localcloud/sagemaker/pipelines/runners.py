"""What each step type does once its arguments are evaluated.

Processing and Training create a SageMaker job (their Arguments are a CreateProcessingJob /
CreateTrainingJob request) through the in-process client, as SageMaker Pipelines is a client of
the jobs API, and wait for it through `cloud.jobs` (localcloud/sagemaker/jobs runs it).
RegisterModel and Model call localcloud's own SageMaker operations the same way, with the wire
API's input validation. Condition and Fail are decided here. Each returns the step's properties
(what `Get Steps.<name>...` reads) and its ListPipelineExecutionSteps Metadata, or raises
StepFailed (StepStopped when the execution's stop ended the step's job).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.model import ListShape, Shape, StructureShape

from localcloud.errors import AwsError
from localcloud.json_api import service_model
from localcloud.sagemaker.pipelines import conditions, policies
from localcloud.sagemaker.pipelines.expressions import to_text
from localcloud.sagemaker.pipelines.graph import StepSpec

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

FAILURE_REASON_MAX = 1024  # ListPipelineExecutionSteps' FailureReason limit


class StepStopped(Exception):
    """The execution's stop ended the step (its job was stopped)."""


class StepFailed(Exception):
    """The step failed; exception_type is the retry-policy kind it counts as (None: never retried)."""

    def __init__(self, reason: str, exception_type: str | None = None, metadata: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason[:FAILURE_REASON_MAX]
        self.exception_type = exception_type
        self.metadata = metadata or {}


@dataclass
class StepResult:
    properties: dict[str, Any]
    metadata: dict[str, Any]
    outcome: bool | None = None  # a Condition step's branch


@dataclass
class StepRun:
    cloud: LocalCloud
    spec: StepSpec
    arguments: Any  # evaluated: no expressions left
    job_name: str  # the job / model name this attempt creates
    execution_arn: str
    stop: threading.Event
    on_metadata: Callable[[dict[str, Any]], object] = lambda metadata: None  # its result unused


def _jsonable(value: Any) -> Any:
    """An API response as plain JSON (datetimes as epoch seconds), fit for Get paths."""
    return json.loads(json.dumps(value, default=lambda v: v.timestamp() if hasattr(v, "timestamp") else str(v)))


def _aws_failure(error: AwsError) -> StepFailed:
    kind = None
    if error.code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
        kind = policies.THROTTLING
    elif error.status >= 500:
        kind = policies.SERVICE_FAULT
    elif error.code == "ResourceLimitExceeded":
        kind = policies.RESOURCE_LIMIT
    return StepFailed(f"{error.code}: {error.message}", kind)


def pipeline_role(run: StepRun) -> str | None:
    """The pipeline's RoleArn: SageMaker Pipelines makes each step's API calls as this role."""
    return run.cloud.pipelines.role_of(run.execution_arn)


def record_call(run: StepRun, operation: str, params: dict[str, Any]) -> None:
    """Note, for the IAM conformance record (localcloud/iam/recorder.py), a SageMaker call the
    Pipelines service makes as the pipeline role; free when recording is off."""
    recorder = run.cloud.recorder
    if recorder is not None:
        recorder.call(pipeline_role(run) or "", "sagemaker", operation, params, via=f"pipeline step {run.spec.name}")


def call(cloud: LocalCloud, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """A localcloud SageMaker operation, in-process, validated as on the wire."""
    try:
        return _jsonable(cloud.client("sagemaker").call(operation, params))
    except AwsError as error:
        raise _aws_failure(error) from None


# -- Condition and Fail -----------------------------------------------------------------------


def run_condition(run: StepRun) -> StepResult:
    try:
        outcome = conditions.all_true(run.arguments.get("Conditions"), lambda value: value)
    except conditions.ConditionError as exc:
        raise StepFailed(f"Condition step {run.spec.name}: {exc}") from None
    text = "True" if outcome else "False"
    return StepResult({"Outcome": text}, {"Condition": {"Outcome": text}}, outcome)


class PipelineFailed(StepFailed):
    """A Fail step ran: the execution ends Failed with its message."""


def run_fail(run: StepRun) -> StepResult:
    message = run.arguments.get("ErrorMessage", "") if isinstance(run.arguments, dict) else ""
    message = to_text(message) if message is not None else ""
    raise PipelineFailed(message, None, {"Fail": {"ErrorMessage": message[:3072]}})


# -- RegisterModel and Model ------------------------------------------------------------------


def run_register_model(run: StepRun) -> StepResult:
    args = dict(run.arguments)
    group = args.get("ModelPackageGroupName")
    if group:
        record_call(run, "DescribeModelPackageGroup", {"ModelPackageGroupName": str(group)})
        _ensure_package_group(run.cloud, str(group))
    record_call(run, "CreateModelPackage", args)
    created = call(run.cloud, "CreateModelPackage", args)
    arn = created["ModelPackageArn"]
    record_call(run, "DescribeModelPackage", {"ModelPackageName": arn})
    described = call(run.cloud, "DescribeModelPackage", {"ModelPackageName": arn})
    return StepResult(described, {"RegisterModel": {"Arn": arn}})


def _ensure_package_group(cloud: LocalCloud, group: str) -> None:
    # SageMaker Pipelines' RegisterModel creates the model package group on first use.
    try:
        cloud.client("sagemaker").call("DescribeModelPackageGroup", {"ModelPackageGroupName": group})
    except AwsError:
        call(cloud, "CreateModelPackageGroup", {"ModelPackageGroupName": group})


def run_create_model(run: StepRun) -> StepResult:
    args = dict(run.arguments)
    args.setdefault("ModelName", run.job_name)
    record_call(run, "CreateModel", args)
    created = call(run.cloud, "CreateModel", args)
    record_call(run, "DescribeModel", {"ModelName": args["ModelName"]})
    described = call(run.cloud, "DescribeModel", {"ModelName": args["ModelName"]})
    return StepResult(described, {"Model": {"Arn": created["ModelArn"]}})


# -- jobs -------------------------------------------------------------------------------------

# What a job's failure counts as for RetryPolicies (the job record's `_FailureKind`).
_FAILURE_KINDS = {"JOB_INTERNAL_ERROR": policies.JOB_INTERNAL_ERROR, "SERVICE_FAULT": policies.SERVICE_FAULT}


def require_strings(values: Any, field: str) -> None:
    """Refuse, as CreateProcessingJob / CreateTrainingJob do, a non-string where the API wants
    a string: ContainerArguments items, HyperParameters and Environment values (API reference:
    AppSpecification.ContainerArguments "Array of strings", HyperParameters and Environment
    "String to string map"). A pipeline's Integer/Float parameter lands there unconverted when
    the definition does not render it with `.to_string()` (Std:Join)."""
    items = values.items() if isinstance(values, dict) else enumerate(values or [])
    for key, value in items:
        if not isinstance(value, str):
            kind = {bool: "Boolean", int: "Integer", float: "Float"}.get(type(value), type(value).__name__)
            raise StepFailed(
                f"ValidationException: {field}[{key!r}] must be a string, got {kind} "
                f"{value!r}; render numeric pipeline parameters in string fields "
                f"with .to_string() (a Std:Join)"
            )


def _without_empty(shape: Shape, value: Any) -> Any:
    """value with the empty lists and maps the model requires to have members left out (a
    definition's `"ContainerArguments": []` means none, as the SDK omits them)."""
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_without_empty(shape.member, item) for item in value]
    if not isinstance(shape, StructureShape) or not isinstance(value, dict):
        return value
    kept = {}
    for key, item in value.items():
        member = shape.members.get(key)
        if member is None:
            kept[key] = item
        elif item in ([], {}) and member.metadata.get("min", 0) >= 1:
            continue
        else:
            kept[key] = _without_empty(member, item)
    return kept


def _create_job(run: StepRun, operation: str, request: dict[str, Any], arn_key: str) -> str:
    """Create the step's job through the in-process client; its ARN. SageMaker's refusal fails
    the step as the SDK's ClientError reads."""
    shape = service_model("sagemaker").operation_model(operation).input_shape
    try:
        return str(run.cloud.client("sagemaker").call(operation, _without_empty(shape, request))[arn_key])
    except AwsError as error:
        failure = _aws_failure(error)
        failure.reason = (
            f"ClientError: An error occurred ({error.code}) when calling the {operation} operation: {error.message}"
        )[:FAILURE_REASON_MAX]
        raise failure from None


def _wait_job(run: StepRun, kind: str, status_key: str) -> dict[str, Any]:
    """Wait for the step's job to end (stopping it if the execution is stopped); its record
    when Completed. StepStopped / StepFailed otherwise."""
    doc = run.cloud.jobs.wait(kind, run.job_name, run.stop)
    status = doc.get(status_key)
    if status == "Stopped":
        raise StepStopped()
    if status != "Completed":
        raise StepFailed(
            str(doc.get("FailureReason") or f"the job ended {status}"), _FAILURE_KINDS.get(str(doc.get("_FailureKind")))
        )
    return doc


def _properties(doc: dict[str, Any]) -> dict[str, Any]:
    return _jsonable({k: v for k, v in doc.items() if not k.startswith("_")})


def run_processing(run: StepRun) -> StepResult:
    args = run.arguments
    app = args.get("AppSpecification") or {}
    require_strings(app.get("ContainerEntrypoint"), "AppSpecification.ContainerEntrypoint")
    require_strings(app.get("ContainerArguments"), "AppSpecification.ContainerArguments")
    require_strings(args.get("Environment"), "Environment")
    request = {**args, "ProcessingJobName": run.job_name}
    # Pipelines creates the job, then polls it (DescribeProcessingJob), as the pipeline role.
    record_call(run, "CreateProcessingJob", request)
    record_call(run, "DescribeProcessingJob", {"ProcessingJobName": run.job_name})
    arn = _create_job(run, "CreateProcessingJob", request, "ProcessingJobArn")
    run.on_metadata({"ProcessingJob": {"Arn": arn}})
    doc = _wait_job(run, "processing-job", "ProcessingJobStatus")
    properties = _properties(doc)
    properties["PropertyFiles"] = _property_files(run, (args.get("ProcessingOutputConfig") or {}).get("Outputs", []))
    return StepResult(properties, {"ProcessingJob": {"Arn": arn}})


def _property_files(run: StepRun, outputs: list[dict[str, Any]]) -> dict[str, str]:
    """Where each declared property file was uploaded; the file must exist and be JSON."""
    found: dict[str, str] = {}
    by_name = {o.get("OutputName"): o for o in outputs if "S3Output" in o}
    for pf in run.spec.property_files:
        name, output, path = pf["PropertyFileName"], pf["OutputName"], pf["FilePath"]
        if output not in by_name:
            raise StepFailed(f"property file {name}: step {run.spec.name} has no output {output!r}")
        uri = f"{str(by_name[output]['S3Output']['S3Uri']).rstrip('/')}/{str(path).lstrip('/')}"
        try:
            run.cloud.s3.read_json(uri)
        except AwsError as exc:
            raise StepFailed(f"property file {name}: {exc}") from None
        found[name] = uri
    return found


def run_training(run: StepRun) -> StepResult:
    args = run.arguments
    output_path = str((args.get("OutputDataConfig") or {}).get("S3OutputPath", "")).rstrip("/")
    if not output_path.startswith("s3://"):
        raise StepFailed(f"Training step {run.spec.name}: OutputDataConfig.S3OutputPath must be an s3:// URI")
    require_strings(args.get("HyperParameters") or {}, "HyperParameters")
    require_strings(args.get("Environment"), "Environment")
    require_strings(
        (args.get("AlgorithmSpecification") or {}).get("ContainerArguments"),
        "AlgorithmSpecification.ContainerArguments",
    )
    request = {**args, "TrainingJobName": run.job_name}
    record_call(run, "CreateTrainingJob", request)
    record_call(run, "DescribeTrainingJob", {"TrainingJobName": run.job_name})
    arn = _create_job(run, "CreateTrainingJob", request, "TrainingJobArn")
    run.on_metadata({"TrainingJob": {"Arn": arn}})
    doc = _wait_job(run, "training-job", "TrainingJobStatus")
    return StepResult(_properties(doc), {"TrainingJob": {"Arn": arn}})


RUNNERS: dict[str, Callable[[StepRun], StepResult]] = {
    "Processing": run_processing,
    "Training": run_training,
    "RegisterModel": run_register_model,
    "Model": run_create_model,
    "Condition": run_condition,
    "Fail": run_fail,
}
