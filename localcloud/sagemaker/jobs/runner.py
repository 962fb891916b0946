"""Running one processing or training job, as SageMaker runs it in its container.

Inputs are staged from S3 into the job's folder (home/jobs/<job name>, mounted at /opt/ml when
the machine allows a namespace: container.py), the script runs there as the job's role
(credentials from IAM), outputs are uploaded to S3, and every change of status is written to
the job's record (DescribeProcessingJob / DescribeTrainingJob's shape) through `save`.

`run_processing` and `run_training` return when the job ended Completed; otherwise they raise
`JobFailed` (the record is already Failed, with its FailureReason) or `container.StopRequested`
(the record is Stopped). Source: SageMaker developer guide, "How Amazon SageMaker Processing
Runs Your Processing Container Image" and "How Amazon SageMaker Provides Training Information".
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.errors import AwsError
from localcloud.sagemaker import images
from localcloud.sagemaker.jobs import container
from localcloud.sagemaker.store import now
from localcloud.state import until_written

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

FAILURE_REASON_MAX = 1024  # the FailureReason a pipeline step shows (ListPipelineExecutionSteps)

# What a failure counts as for a pipeline's RetryPolicies (`_FailureKind` in the job record).
JOB_INTERNAL_ERROR = "JOB_INTERNAL_ERROR"  # the job's fault, not the script's (a signal, a disk)
SERVICE_FAULT = "SERVICE_FAULT"  # the service failed (uploading outputs)


class JobFailed(Exception):
    """The job failed: reason is its FailureReason, kind a `*_ERROR`/`*_FAULT` above or None."""

    def __init__(self, reason: str, kind: str | None = None):
        super().__init__(reason)
        self.reason = reason[:FAILURE_REASON_MAX]
        self.kind = kind


class Job:
    """One job while it runs: its record (saved through `save` at each change), folder and stop."""

    def __init__(
        self,
        cloud: LocalCloud,
        status_key: str,
        request: dict[str, Any],
        record: dict[str, Any],
        stop: threading.Event,
        save: Callable[[dict[str, Any]], None],
        image: images.Image | images.ImageNotFound,
    ):
        self.cloud, self.status_key, self.request, self.record = cloud, status_key, request, record
        self.name = str(record.get("ProcessingJobName") or record.get("TrainingJobName"))
        self.stop = stop
        self._save = save
        self.image = image
        # No interpreter until `prepare` has the image's environment (never the venv's).
        self.folder = container.JobFolder(cloud.config.home / "jobs" / self.name, None)

    def prepare(self) -> None:
        """A fresh job folder, with the directory a script writes its failure reason in, and the
        job's interpreter: its image's environment (localcloud/sagemaker/images.py), built on
        first use with its progress in the job log. Raises JobFailed when the image cannot be
        pulled (an image localcloud does not define, as SageMaker fails a processing job whose
        image is not in ECR: "ClientError: API error (404): manifest for URI not found: manifest
        unknown: Requested image not found", aws-samples/amazon-sagemaker-tensorflow-object-
        detection-api#14) or its environment cannot be built (no interpreter of its Python)."""
        if self.folder.root.exists():
            shutil.rmtree(self.folder.root)
        self.folder.failure_file.parent.mkdir(parents=True)
        if isinstance(self.image, images.ImageNotFound):
            raise JobFailed(
                f"ClientError: API error (404): manifest for {self.image.uri} not found: manifest unknown: "
                f"Requested image not found ({self.image})"
            )
        log = self.folder.log

        def progress(line: str) -> None:
            with open(log, "a") as out:
                out.write(f"[image] {line}\n")

        try:
            python = images.build(self.image, progress)
        except images.ImageError as exc:
            raise JobFailed(f"ClientError: image {self.image.name} cannot run locally: {exc}") from None
        self.folder = container.JobFolder(self.folder.root, container.Isolation.for_jobs(str(python)))

    def save(self, **fields: Any) -> None:
        """Record fields. While the job runs, a failed write (OSError: a full disk) is raised
        and fails the job; how it ended is retried until written (`state.until_written`), so a
        full disk never leaves the record InProgress once the job is over."""
        self.record.update(fields)
        self.record["LastModifiedTime"] = now()
        if self.in_progress:
            self._save(self.record)
        else:
            until_written(lambda: self._save(self.record), f"the end of job {self.name}")

    @property
    def in_progress(self) -> bool:
        return self.record[self.status_key] == "InProgress"

    def execute(self, cmd: list[str], env: dict[str, str], cwd: str) -> container.Completed:
        """Run cmd as the job's process; cwd is its working directory as the job names it."""
        folder = self.folder
        try:
            # In a namespace the wrapper changes to cwd once /opt/ml is mounted.
            start_dir = folder.root if folder.namespaced else Path(cwd)
            return container.run(
                folder.wrap(cmd, cwd),
                env,
                start_dir,
                folder.log,
                self.stop,
                _runtime_limit(self.request),
                on_start=lambda pid: self.save(_Pid=pid, _Folder=str(folder.root), _Started=time.time()),
                note=folder.isolation.note if folder.isolation else "",
                shown=cmd,
            )
        except container.StopRequested:
            self.stopped()
            raise

    def stopped(self) -> None:
        fields = {self.status_key: "Stopped"}
        if self.status_key == "TrainingJobStatus":
            fields["SecondaryStatus"] = "Stopped"
        self.save(**fields)

    def clean(self) -> None:
        # Keep the log (and the failure file) for inspection; drop staged data.
        shutil.rmtree(self.folder.opt_ml, ignore_errors=True)


def _failure_text(folder: container.JobFolder, completed: container.Completed) -> str:
    """Why a script failed: what it wrote to its failure file, else its last stderr lines."""
    try:
        written = folder.failure_file.read_text(errors="replace").strip()
    except OSError:
        written = ""
    detail = written or " | ".join(completed.stderr_tail[-5:]) or "no error output"
    return f"AlgorithmError: {detail}, {completed.describe()}"


def _job_environment(job: Job, declared: dict[str, Any] | None) -> dict[str, str]:
    folder = job.folder
    # Where localcloud is, and no credentials but the role's: never the administrator's.
    env = container.base_environment(job.cloud.config.location_env(), folder)
    role = job.request.get("RoleArn")
    if role:  # always (the job was refused without a role SageMaker can assume)
        # The job signs as its role, as the container's credentials do on AWS (localcloud/iam).
        env.update(job.cloud.iam.role_environment(str(role)))
    for key, value in (declared or {}).items():
        if not key.startswith(("AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION", "AWS_ENDPOINT")):
            env[key] = folder.remap(str(value))
    env["SM_FAILURE_FILE"] = folder.view("/opt/ml/output/failure")
    return env


def _container_path(folder: container.JobFolder, path: Any, what: str) -> Path:
    try:
        return folder.local(str(path))
    except ValueError as exc:
        raise JobFailed(f"{what}: {exc}") from None


def _runtime_limit(request: dict[str, Any]) -> float | None:
    limit = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    return float(limit) if isinstance(limit, (int, float)) else None


def _script_failure(completed: container.Completed, folder: container.JobFolder) -> JobFailed:
    reason = _failure_text(folder, completed)
    # A process killed by a signal (the OOM killer, a crash) is the job's fault, not the
    # script's: it counts as SageMaker.JOB_INTERNAL_ERROR so retry policies can cover it.
    kind = JOB_INTERNAL_ERROR if completed.returncode < 0 and not completed.timed_out else None
    return JobFailed(reason, kind)


def _stage(cloud: LocalCloud, uri: Any, target: Path, what: str) -> None:
    try:
        cloud.s3.download(str(uri), target)
    except AwsError as exc:
        raise JobFailed(f"ClientError: {what}: {exc}") from None


def _upload(cloud: LocalCloud, source: Path, uri: Any, what: str) -> None:
    try:
        cloud.s3.upload_dir(source, str(uri))
    except AwsError as exc:
        raise JobFailed(f"ClientError: {what}: {exc}") from None
    except OSError as exc:
        raise JobFailed(f"uploading {what}: {exc}", SERVICE_FAULT) from None


# -- processing -------------------------------------------------------------------------------


def run_processing(job: Job) -> None:
    """Run a CreateProcessingJob request to its end (see the module's docstring)."""
    args, folder, name = job.request, job.folder, job.name
    try:
        job.prepare()
        folder = job.folder  # with the image's interpreter
        for item in args.get("ProcessingInputs", []):
            input_name = item.get("InputName", "?")
            if "S3Input" not in item:
                raise JobFailed(f"ProcessingInput {input_name}: only S3Input inputs run locally")
            s3 = item["S3Input"]
            target = _container_path(folder, s3.get("LocalPath", ""), f"ProcessingInput {input_name}")
            _stage(job.cloud, s3.get("S3Uri"), target, f"ProcessingInput {input_name}")
        outputs = (args.get("ProcessingOutputConfig") or {}).get("Outputs", [])
        for item in outputs:
            if "S3Output" in item:
                _container_path(
                    folder, item["S3Output"].get("LocalPath", ""), f"ProcessingOutput {item.get('OutputName')}"
                ).mkdir(parents=True, exist_ok=True)
        config_dir = folder.local("/opt/ml/config")
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "processingjobconfig.json").write_text(
            json.dumps({**args, "ProcessingJobArn": job.record["ProcessingJobArn"]}, default=str)
        )
        (config_dir / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))

        app = args.get("AppSpecification") or {}
        entrypoint = app.get("ContainerEntrypoint") or []
        if not entrypoint:
            raise JobFailed(
                f"Processing job {name}: AppSpecification has no "
                f"ContainerEntrypoint; an image's built-in entrypoint "
                f"({app.get('ImageUri', 'no image')}) cannot run without a container"
            )
        cmd = container.command(
            folder, [str(p) for p in entrypoint], [str(p) for p in app.get("ContainerArguments") or []]
        )
        env = _job_environment(job, args.get("Environment"))
        # SageMaker Processing starts the entrypoint in the image's WORKDIR; ours is /.
        completed = job.execute(cmd, env, "/" if folder.namespaced else str(folder.root))
        if completed.returncode != 0:
            failure = _script_failure(completed, folder)
            job.save(
                ProcessingJobStatus="Failed",
                FailureReason=failure.reason,
                ExitMessage=failure.reason,
                ProcessingEndTime=now(),
                _FailureKind=failure.kind,
            )
            raise failure
        for item in outputs:
            if "S3Output" in item:
                s3 = item["S3Output"]
                _upload(
                    job.cloud, folder.local(s3["LocalPath"]), s3["S3Uri"], f"ProcessingOutput {item.get('OutputName')}"
                )
    except JobFailed as failure:
        if job.in_progress:
            job.save(
                ProcessingJobStatus="Failed",
                FailureReason=failure.reason,
                ProcessingEndTime=now(),
                _FailureKind=failure.kind,
            )
        raise
    except OSError as exc:  # staging or uploading data on this machine failed
        internal = JobFailed(f"InternalServerError: {exc}", JOB_INTERNAL_ERROR)
        job.save(
            ProcessingJobStatus="Failed",
            FailureReason=internal.reason,
            ProcessingEndTime=now(),
            _FailureKind=internal.kind,
        )
        raise internal from None
    job.save(ProcessingJobStatus="Completed", ProcessingEndTime=now())
    job.clean()


# -- training ---------------------------------------------------------------------------------


def _decode(value: Any) -> Any:
    # The SDK JSON-encodes some hyperparameters ('"train.py"'); the toolkit decodes them so.
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _cli_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class _ScriptMode:
    command: list[str]
    working_dir: str  # as the job names it
    entry_script: str


def _script_mode(job: Job, hps: dict[str, Any]) -> _ScriptMode | None:
    """The user's training command, for the two ways the SDK ships a script: the `code` channel
    with sm_drivers/sourcecode.json (ModelTrainer, run as its basic script driver would), or a
    sourcedir.tar.gz named by sagemaker_submit_directory (Estimator). None if the job names no
    script. Hyperparameters become `--name value` arguments, as both drivers pass them."""
    folder = job.folder
    user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
    args = [part for key, value in user_hps.items() for part in (f"--{key}", _cli_value(value))]
    drivers = folder.local("/opt/ml/input/data/sm_drivers") / "sourcecode.json"
    if drivers.is_file():
        source = json.loads(drivers.read_text())
        code_dir = folder.local("/opt/ml/input/data/code")
        source_dir = str(source.get("source_dir") or "")
        if source_dir.endswith(".tar.gz"):
            with tarfile.open(code_dir / Path(source_dir).name) as tar:
                tar.extractall(code_dir, filter="data")
        if source.get("command"):
            cmd = container.command(folder, shlex.split(source["command"]), [str(a) for a in source.get("args") or []])
            return _ScriptMode(cmd, folder.view("/opt/ml/input/data/code"), cmd[-1])
        entry = source.get("entry_script")
        if not entry or not str(entry).endswith(".py"):
            raise JobFailed(f"sm_drivers/sourcecode.json: entry_script {entry!r} is not a .py script")
        return _ScriptMode(
            [folder.python, f"{folder.view('/opt/ml/input/data/code')}/{entry}", *args],
            folder.view("/opt/ml/input/data/code"),
            str(entry),
        )
    program = hps.get("sagemaker_program")
    if not program:
        return None
    code_dir = folder.local("/opt/ml/code")
    code_dir.mkdir(parents=True, exist_ok=True)
    submit = hps.get("sagemaker_submit_directory")
    if isinstance(submit, str) and submit.startswith("s3://"):
        archive_dir = folder.root / "sourcedir"
        _stage(job.cloud, submit, archive_dir, "sagemaker_submit_directory")
        for archive in archive_dir.rglob("*.tar.gz"):
            with tarfile.open(archive) as tar:
                tar.extractall(code_dir, filter="data")
    return _ScriptMode(
        [folder.python, f"{folder.view('/opt/ml/code')}/{program}", *args], folder.view("/opt/ml/code"), str(program)
    )


def _metrics(log: Path, definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FinalMetricDataList: the last value each MetricDefinitions regex finds in the job log."""
    if not definitions or not log.is_file():
        return []
    text = log.read_text(errors="replace")
    found = []
    for definition in definitions:
        try:
            matches = re.findall(definition.get("Regex", ""), text)
        except re.error:
            continue
        if matches:
            last = matches[-1][0] if isinstance(matches[-1], tuple) else matches[-1]
            try:
                found.append({"MetricName": definition.get("Name"), "Value": float(last), "Timestamp": now()})
            except ValueError:
                continue
    return found


def _tar(source: Path, target: Path) -> None:
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)


def run_training(job: Job) -> None:
    """Run a CreateTrainingJob request to its end (see the module's docstring)."""
    args, folder, name, record = job.request, job.folder, job.name, job.record
    output_path = str((args.get("OutputDataConfig") or {}).get("S3OutputPath", "")).rstrip("/")
    algorithm = args.get("AlgorithmSpecification") or {}
    try:
        job.prepare()
        folder = job.folder  # with the image's interpreter
        job.save(SecondaryStatus="Downloading")
        channels = []
        input_config: dict[str, dict[str, Any]] = {}
        for channel in args.get("InputDataConfig", []):
            cname = channel.get("ChannelName", "")
            if not re.fullmatch(r"[A-Za-z0-9\.\-_]+", cname):
                raise JobFailed(f"invalid ChannelName {cname!r}")
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            if not source:
                raise JobFailed(f"channel {cname}: only S3DataSource channels run locally")
            _stage(job.cloud, source.get("S3Uri"), folder.local(f"/opt/ml/input/data/{cname}"), f"channel {cname}")
            channels.append(cname)
            mode = channel.get("InputMode", algorithm.get("TrainingInputMode", "File"))
            input_config[cname] = {
                "TrainingInputMode": mode,
                "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
                "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            }
            if "ContentType" in channel:
                input_config[cname]["ContentType"] = channel["ContentType"]
        raw_hps = args.get("HyperParameters") or {}
        hps = {k: _decode(v) for k, v in raw_hps.items()}
        user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
        config_dir = folder.local("/opt/ml/input/config")
        config_dir.mkdir(parents=True, exist_ok=True)
        resource = {
            "current_host": "algo-1",
            "hosts": ["algo-1"],
            "current_group_name": "homogeneousCluster",
            "current_instance_type": (args.get("ResourceConfig") or {}).get("InstanceType", "local"),
            "network_interface_name": "eth0",
        }
        (config_dir / "hyperparameters.json").write_text(json.dumps(raw_hps))
        (config_dir / "inputdataconfig.json").write_text(json.dumps(input_config))
        (config_dir / "resourceconfig.json").write_text(json.dumps(resource))
        for sub in ("model", "output/data", "code"):
            folder.local(f"/opt/ml/{sub}").mkdir(parents=True, exist_ok=True)

        env = _job_environment(job, args.get("Environment"))
        opt, view = folder.local, folder.view
        env.update(
            {
                "TRAINING_JOB_NAME": name,
                "TRAINING_JOB_ARN": record["TrainingJobArn"],
                "SM_MODEL_DIR": view("/opt/ml/model"),
                "SM_INPUT_DIR": view("/opt/ml/input"),
                "SM_INPUT_DATA_DIR": view("/opt/ml/input/data"),
                "SM_INPUT_CONFIG_DIR": view("/opt/ml/input/config"),
                "SM_OUTPUT_DIR": view("/opt/ml/output"),
                "SM_OUTPUT_DATA_DIR": view("/opt/ml/output/data"),
                "SM_OUTPUT_FAILURE": view("/opt/ml/output/failure"),
                "SM_CHANNELS": json.dumps(channels),
                "SM_HPS": json.dumps(user_hps),
                "SM_CURRENT_HOST": "algo-1",
                "SM_HOSTS": json.dumps(["algo-1"]),
                "SM_HOST_COUNT": "1",
                "SM_CURRENT_HOST_RANK": "0",
                "SM_NUM_GPUS": "0",
                "SM_NUM_CPUS": str(_cpus()),
                "SM_CURRENT_INSTANCE_TYPE": str(resource["current_instance_type"]),
                "SM_RESOURCE_CONFIG": json.dumps(resource),
                "SM_INPUT_DATA_CONFIG": json.dumps(input_config),
            }
        )
        for cname in channels:
            env[f"SM_CHANNEL_{cname.upper().replace('-', '_')}"] = view(f"/opt/ml/input/data/{cname}")
        for key, value in user_hps.items():
            env[f"SM_HP_{key.upper().replace('-', '_')}"] = _cli_value(value)

        script = _script_mode(job, hps)
        if script is not None:
            entry = folder.host(script.working_dir) / script.entry_script
            if script.command[0] == folder.python and not entry.is_file():
                raise JobFailed(f"training script {script.entry_script} is not in the job's source code")
            env["SM_USER_ENTRY_POINT"] = env["SM_ENTRY_SCRIPT"] = script.entry_script
            env["SM_MODULE_DIR"] = env["SM_SOURCE_DIR"] = script.working_dir
            cmd, cwd = script.command, script.working_dir
        elif algorithm.get("ContainerEntrypoint"):
            cmd = container.command(
                folder,
                [str(p) for p in algorithm["ContainerEntrypoint"]],
                [str(p) for p in algorithm.get("ContainerArguments") or []],
            )
            cwd = "/" if folder.namespaced else str(folder.root)
        else:
            raise JobFailed(
                f"Training job {name}: image "
                f"{algorithm.get('TrainingImage', '?')} names no script "
                "(sagemaker_program, a code channel or a ContainerEntrypoint); "
                "built-in algorithm containers cannot run locally"
            )
        job.save(SecondaryStatus="Training")
        completed = job.execute(cmd, env, cwd)
        metrics = _metrics(folder.log, algorithm.get("MetricDefinitions") or [])
        if completed.returncode != 0:
            failure = _script_failure(completed, folder)
            job.save(
                TrainingJobStatus="Failed",
                SecondaryStatus="Failed",
                FailureReason=failure.reason,
                TrainingEndTime=now(),
                FinalMetricDataList=metrics,
                _FailureKind=failure.kind,
            )
            raise failure
        job.save(SecondaryStatus="Uploading", FinalMetricDataList=metrics)
        with tempfile.TemporaryDirectory(dir=folder.root) as tmp:
            model_tar = Path(tmp) / "model.tar.gz"
            _tar(opt("/opt/ml/model"), model_tar)
            job.cloud.s3.put_file(model_tar, record["ModelArtifacts"]["S3ModelArtifacts"])
            data_dir = opt("/opt/ml/output/data")
            if any(data_dir.iterdir()):
                output_tar = Path(tmp) / "output.tar.gz"
                _tar(data_dir, output_tar)
                job.cloud.s3.put_file(output_tar, f"{output_path}/{name}/output/output.tar.gz")
    except AwsError as exc:  # the object store refused an upload
        refused = JobFailed(f"ClientError: {exc}")
        job.save(
            TrainingJobStatus="Failed", SecondaryStatus="Failed", FailureReason=refused.reason, TrainingEndTime=now()
        )
        raise refused from None
    except JobFailed as failure:
        if job.in_progress:
            job.save(
                TrainingJobStatus="Failed",
                SecondaryStatus="Failed",
                FailureReason=failure.reason,
                TrainingEndTime=now(),
                _FailureKind=failure.kind,
            )
        raise
    except OSError as exc:  # staging or uploading data on this machine failed
        internal = JobFailed(f"InternalServerError: {exc}", JOB_INTERNAL_ERROR)
        job.save(
            TrainingJobStatus="Failed",
            SecondaryStatus="Failed",
            FailureReason=internal.reason,
            TrainingEndTime=now(),
            _FailureKind=internal.kind,
        )
        raise internal from None
    end = now()
    job.save(
        TrainingJobStatus="Completed",
        SecondaryStatus="Completed",
        TrainingEndTime=end,
        TrainingTimeInSeconds=int(end - record["TrainingStartTime"]) or 1,
    )
    job.clean()


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
