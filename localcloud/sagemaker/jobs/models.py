"""SageMaker processing and training jobs (cloud.jobs): their records and the threads they run in.

A job's record is one StateStore document shaped like its Describe* response (times as epoch
seconds; keys starting with "_" are bookkeeping: `_Pid`, `_Folder` and `_Started` of its process, so a later
server can kill an orphan; `_FailureKind`, what a failure counts as for a pipeline's retry
policies). Create* writes the record InProgress and runs the job (runner.py) in a daemon thread
of this process; Stop* asks that thread to stop it. The SageMaker Pipelines executor is a client
of these jobs, as on AWS: it creates a step's job through `cloud.client("sagemaker")` and waits
for it with `wait`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.errors import ValidationException
from localcloud.sagemaker import images
from localcloud.sagemaker.jobs import container, runner
from localcloud.sagemaker.jobs.exceptions import ResourceInUse
from localcloud.sagemaker.store import now

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger("localcloud.jobs")

PROCESSING_JOB = "processing-job"
TRAINING_JOB = "training-job"

STATUS_KEY = {PROCESSING_JOB: "ProcessingJobStatus", TRAINING_JOB: "TrainingJobStatus"}
_NAME_KEY = {PROCESSING_JOB: "ProcessingJobName", TRAINING_JOB: "TrainingJobName"}
_OPERATION = {PROCESSING_JOB: "CreateProcessingJob", TRAINING_JOB: "CreateTrainingJob"}


class _Live:
    """A job running in this process: its stop request and its end."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.done = threading.Event()


class JobsBackend:
    """Processing and training jobs of one LocalCloud. Thread-safe."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.state = cloud.state
        self._live: dict[tuple[str, str], _Live] = {}
        self._lock = threading.Lock()

    # -- records ----------------------------------------------------------------------------

    def job(self, kind: str, name: str) -> dict[str, Any] | None:
        """The stored record of a job (PROCESSING_JOB or TRAINING_JOB), None if there is none."""
        return self.state.get(kind, name)

    def put_job(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        self.state.put(kind, name, doc)

    def describe(self, kind: str, name: str) -> dict[str, Any]:
        """The record; ValidationException if there is no such job (AWS's answer)."""
        doc = self.job(kind, name)
        if doc is None:
            if kind == PROCESSING_JOB:
                raise ValidationException(f"Could not find requested job with name {name}")
            raise ValidationException(f"Requested resource not found: training job {name}")
        return doc

    def list_jobs(
        self,
        kind: str,
        *,
        name_contains: str | None = None,
        status: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        modified_after: float | None = None,
        modified_before: float | None = None,
        sort_by: str = "CreationTime",
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        """Records filtered as List*Jobs filters them, sorted by CreationTime, Name or Status."""
        name_key, status_key = _NAME_KEY[kind], STATUS_KEY[kind]
        docs = [
            d
            for d in self.state.list(kind)
            if (name_contains is None or name_contains.lower() in d[name_key].lower())
            and (status is None or d.get(status_key) == status)
            and (created_after is None or d["CreationTime"] > created_after)
            and (created_before is None or d["CreationTime"] < created_before)
            and (modified_after is None or d.get("LastModifiedTime", 0) > modified_after)
            and (modified_before is None or d.get("LastModifiedTime", 0) < modified_before)
        ]
        key = {"Name": name_key, "Status": status_key}.get(sort_by, "CreationTime")
        docs.sort(key=lambda d: d.get(key) or "", reverse=descending)
        return docs

    # -- create ------------------------------------------------------------------------------

    def create_processing_job(self, request: dict[str, Any]) -> str:
        """Start a CreateProcessingJob request (validated by the caller against botocore's
        model); its ARN. ValidationException if SageMaker cannot assume its RoleArn,
        ResourceInUse if the name is taken."""
        name = request["ProcessingJobName"]
        arn = self.cloud.config.arn("sagemaker", f"processing-job/{name.lower()}")
        stamp = now()
        record = {
            "ProcessingJobName": name,
            "ProcessingJobArn": arn,
            "ProcessingInputs": request.get("ProcessingInputs", []),
            "ProcessingOutputConfig": request.get("ProcessingOutputConfig", {"Outputs": []}),
            "ProcessingResources": request.get("ProcessingResources", {}),
            "StoppingCondition": request.get("StoppingCondition"),
            "AppSpecification": request.get("AppSpecification", {}),
            "Environment": request.get("Environment"),
            "RoleArn": request.get("RoleArn"),
            "NetworkConfig": request.get("NetworkConfig"),
            "ExperimentConfig": request.get("ExperimentConfig"),
            "ProcessingJobStatus": "InProgress",
            "CreationTime": stamp,
            "ProcessingStartTime": stamp,
        }
        self._start(PROCESSING_JOB, request, record, runner.run_processing)
        return arn

    def create_training_job(self, request: dict[str, Any]) -> str:
        """Start a CreateTrainingJob request (validated by the caller against botocore's
        model); its ARN. ValidationException if SageMaker cannot assume its RoleArn or the
        output path is not an s3:// URI, ResourceInUse if the name is taken."""
        name = request["TrainingJobName"]
        arn = self.cloud.config.arn("sagemaker", f"training-job/{name.lower()}")
        output_path = str((request.get("OutputDataConfig") or {}).get("S3OutputPath", "")).rstrip("/")
        if not output_path.startswith("s3://"):
            raise ValidationException(f"Training job {name}: OutputDataConfig.S3OutputPath must be an s3:// URI")
        stamp = now()
        record = {
            "TrainingJobName": name,
            "TrainingJobArn": arn,
            "ModelArtifacts": {"S3ModelArtifacts": f"{output_path}/{name}/output/model.tar.gz"},
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
            "HyperParameters": request.get("HyperParameters", {}),
            "AlgorithmSpecification": request.get("AlgorithmSpecification") or {},
            "RoleArn": request.get("RoleArn"),
            "InputDataConfig": request.get("InputDataConfig", []),
            "OutputDataConfig": request.get("OutputDataConfig"),
            "ResourceConfig": request.get("ResourceConfig"),
            "StoppingCondition": request.get("StoppingCondition", {"MaxRuntimeInSeconds": 86400}),
            "Environment": request.get("Environment"),
            "CreationTime": stamp,
            "TrainingStartTime": stamp,
        }
        self._start(TRAINING_JOB, request, record, runner.run_training)
        return arn

    def _start(
        self, kind: str, request: dict[str, Any], record: dict[str, Any], run: Callable[[runner.Job], None]
    ) -> None:
        name = record[_NAME_KEY[kind]]
        role = str(request.get("RoleArn") or "")
        if not self.cloud.iam.can_assume(role, "sagemaker.amazonaws.com"):
            raise ValidationException(
                f"Could not assume role {role}. Please ensure that the role "
                "exists and allows principal 'sagemaker.amazonaws.com' to "
                "assume the role."
            )
        image = _image(kind, request)
        record = {k: v for k, v in record.items() if v is not None}
        record["LastModifiedTime"] = record["CreationTime"]
        live = _Live()
        with self._lock, self.state.transaction():
            # Job names are unique whatever their case: the ARN lower-cases them (one ARN, one job).
            existing = self.state.get_ignoring_case(kind, name, _NAME_KEY[kind])
            if existing is not None:
                arn = existing.get("ProcessingJobArn") or existing.get("TrainingJobArn")
                raise ResourceInUse(
                    "Job name must be unique within an AWS account and region, "
                    f"and a job with this name already exists ({arn})"
                )
            self.put_job(kind, name, record)
            self._live[(kind, name)] = live
        job = runner.Job(
            self.cloud, STATUS_KEY[kind], request, record, live.stop, lambda doc: self.put_job(kind, name, doc), image
        )

        def target() -> None:
            try:
                run(job)
            except (runner.JobFailed, container.StopRequested):
                pass  # the record says so
            except Exception as exc:  # a bug must still end the job, never leave it InProgress
                log.exception("%s %s crashed", kind, name)
                fields: dict[str, Any] = {
                    STATUS_KEY[kind]: "Failed",
                    # an OSError names its file: "[Errno 28] No space left on device: '...'"
                    "FailureReason": (
                        f"InternalServerError: {exc}"
                        if isinstance(exc, OSError)
                        else f"internal error in the local executor: {exc}"
                    )[: runner.FAILURE_REASON_MAX],
                }
                if kind == TRAINING_JOB:
                    fields["SecondaryStatus"] = "Failed"
                job.save(**fields)
            finally:
                with self._lock:
                    self._live.pop((kind, name), None)
                live.done.set()

        threading.Thread(target=target, name=f"{kind}-{name}", daemon=True).start()

    # -- stop, wait, orphans -----------------------------------------------------------------

    def stop(self, kind: str, name: str) -> None:
        """Stop*Job: the job's process is killed and its record ends Stopped. ValidationException
        if there is no such job or it is not InProgress."""
        doc = self.describe(kind, name)
        status = doc.get(STATUS_KEY[kind])
        with self._lock:
            live = self._live.get((kind, name))
        if live is not None:
            live.stop.set()
            return
        if status != "InProgress":
            raise ValidationException(f"Job {name} is not in progress; its status is {status}")
        # InProgress with no thread here: a previous server's job; kill it and record the stop.
        self.kill_orphan(kind, name, status="Stopped", reason=None)

    def wait(self, kind: str, name: str, stop: threading.Event | None = None, poll: float = 0.1) -> dict[str, Any]:
        """Block until the job has ended; its record. When `stop` is set first, the job is
        stopped (as Stop*Job) and waited for."""
        with self._lock:
            live = self._live.get((kind, name))
        if live is not None:
            stopping = False
            while not live.done.wait(poll):
                if stop is not None and stop.is_set() and not stopping:
                    live.stop.set()
                    stopping = True
        return self.describe(kind, name)

    def kill_orphan(self, kind: str, name: str, *, status: str = "Failed", reason: str | None = None) -> None:
        """A job subprocess runs in its own session, so it can outlive a crashed server: kill it
        before its late outputs land in the object store, and end its record (if InProgress)
        with `status` and `reason`."""
        job = self.job(kind, name)
        if job is None:
            return
        if job.get("_Pid") and job.get("_Folder"):
            container.kill_orphan(job["_Pid"], container.JobFolder(Path(job["_Folder"])), job.get("_Started"))
        status_key = STATUS_KEY[kind]
        if job.get(status_key) == "InProgress":
            job[status_key] = status
            if reason is not None:
                job["FailureReason"] = reason
            job["LastModifiedTime"] = now()
            self.put_job(kind, name, job)

    @staticmethod
    def kind_of(arn: str) -> tuple[str, str] | None:
        """(kind, name) of a processing or training job ARN; None for another ARN."""
        resource = arn.split(":", 5)[-1]
        kind, _, name = resource.partition("/")
        return (kind, name) if kind in STATUS_KEY and name else None


def _image(kind: str, request: dict[str, Any]) -> images.Image | images.ImageNotFound:
    """The image a job request names. CreateTrainingJob refuses one it cannot find
    ("ValidationException ... Cannot find the requested image", aws/amazon-sagemaker-examples#1476);
    a processing job is accepted and fails when its image cannot be pulled (runner.Job.prepare)."""
    if kind == TRAINING_JOB:
        uri = str((request.get("AlgorithmSpecification") or {}).get("TrainingImage") or "")
    else:
        uri = str((request.get("AppSpecification") or {}).get("ImageUri") or "")
    try:
        return images.resolve(uri)
    except images.ImageNotFound as missing:
        if kind == TRAINING_JOB:
            raise ValidationException(f"Cannot find the requested image: {uri} ({missing})") from None
        return missing
    except images.ImageError as exc:  # a definition file localcloud was given cannot be read
        raise ValidationException(f"image {uri}: {exc}") from None
