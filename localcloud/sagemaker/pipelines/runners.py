"""What each step type does once its arguments are evaluated.

Processing and Training run our scripts under the container contract (container.py) and keep a
job record shaped like DescribeProcessingJob / DescribeTrainingJob. RegisterModel and Model call
localcloud's own SageMaker operations in-process, with the wire API's input validation.
Condition and Fail are decided here. Each returns the step's properties (what `Get
Steps.<name>...` reads) and its ListPipelineExecutionSteps Metadata, or raises StepFailed.
One module on purpose (~650 lines): the step types share the job-record and staging helpers,
and a reader compares them side by side with the definition schema's step list.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.errors import AwsError
from localcloud.s3 import objects
from localcloud.sagemaker.pipelines import conditions, container, image, policies
from localcloud.sagemaker.pipelines.expressions import to_text
from localcloud.sagemaker.pipelines.graph import StepSpec
from localcloud.sagemaker.store import PROCESSING_JOB, TRAINING_JOB, PipelineStore, now

FAILURE_REASON_MAX = 1024   # ListPipelineExecutionSteps' FailureReason limit


class StepFailed(Exception):
    """The step failed; exception_type is the retry-policy kind it counts as (None: never retried)."""

    def __init__(self, reason: str, exception_type: str | None = None,
                 metadata: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason[:FAILURE_REASON_MAX]
        self.exception_type = exception_type
        self.metadata = metadata or {}


@dataclass
class StepResult:
    properties: dict[str, Any]
    metadata: dict[str, Any]
    outcome: bool | None = None   # a Condition step's branch


@dataclass
class StepRun:
    cloud: LocalCloud
    spec: StepSpec
    arguments: Any                 # evaluated: no expressions left
    job_name: str                  # the job / model name this attempt creates
    execution_arn: str
    stop: threading.Event
    on_metadata: Callable[[dict[str, Any]], None] = lambda metadata: None

    @property
    def store(self) -> PipelineStore:
        return PipelineStore(self.cloud)

    @property
    def jobs_dir(self) -> Path:
        return self.cloud.config.home / "jobs"


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
    from localcloud.sagemaker.pipelines.api import PIPELINE
    name = run.execution_arn.split(":pipeline/", 1)[-1].split("/execution/", 1)[0]
    doc = run.cloud.state.get_ignoring_case(PIPELINE, name, "PipelineName")
    return doc.get("RoleArn") if doc else None


def record_call(run: StepRun, operation: str, params: dict[str, Any]) -> None:
    """Note, for the IAM conformance record (localcloud/iam/recorder.py), a SageMaker call the
    Pipelines service makes as the pipeline role; free when recording is off."""
    recorder = run.cloud.recorder
    if recorder is not None:
        recorder.call(pipeline_role(run) or "", "sagemaker", operation, params,
                      via=f"pipeline step {run.spec.name}")


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

def _failure_text(folder: container.JobFolder, completed: container.Completed) -> str:
    """Why a script failed: what it wrote to its failure file, else its last stderr lines."""
    try:
        written = folder.failure_file.read_text(errors="replace").strip()
    except OSError:
        written = ""
    detail = written or " | ".join(completed.stderr_tail[-5:]) or "no error output"
    return f"AlgorithmError: {detail}, {completed.describe()}"


def _job_environment(run: StepRun, folder: container.JobFolder,
                     declared: dict[str, Any] | None) -> dict[str, str]:
    env = container.base_environment(run.cloud.config.client_env(), folder)
    role = (run.arguments or {}).get("RoleArn")
    if role:
        # The job signs as its role, as the container's credentials do on AWS (localcloud/iam).
        from localcloud.iam.models import role_environment
        env.update(role_environment(run.cloud.config, str(role)))
    for key, value in (declared or {}).items():
        if not key.startswith(("AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION", "AWS_ENDPOINT")):
            env[key] = folder.remap(str(value))
    env["SM_FAILURE_FILE"] = folder.view("/opt/ml/output/failure")
    return env


def _assume_job_role(run: StepRun, operation: str) -> None:
    """SageMaker refuses a job whose RoleArn it cannot assume (CreateProcessingJob /
    CreateTrainingJob ValidationException), before the job exists."""
    role = str((run.arguments or {}).get("RoleArn") or "")
    if not run.cloud.iam.can_assume(role, "sagemaker.amazonaws.com"):
        raise StepFailed(f"ClientError: An error occurred (ValidationException) when calling the "
                         f"{operation} operation: Could not assume role {role}. Please ensure "
                         f"that the role exists and allows principal 'sagemaker.amazonaws.com' "
                         f"to assume the role.")


def _container_path(folder: container.JobFolder, path: Any, what: str) -> Path:
    try:
        return folder.local(str(path))
    except ValueError as exc:
        raise StepFailed(f"{what}: {exc}") from None


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
            raise StepFailed(f"ValidationException: {field}[{key!r}] must be a string, got {kind} "
                             f"{value!r}; render numeric pipeline parameters in string fields "
                             f"with .to_string() (a Std:Join)")


def _runtime_limit(args: dict[str, Any]) -> float | None:
    limit = (args.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    return float(limit) if isinstance(limit, (int, float)) else None


def _job_failure(completed: container.Completed, folder: container.JobFolder) -> StepFailed:
    reason = _failure_text(folder, completed)
    # A process killed by a signal (the OOM killer, a crash) is the job's fault, not the
    # script's: it counts as SageMaker.JOB_INTERNAL_ERROR so retry policies can cover it.
    kind = policies.JOB_INTERNAL_ERROR if completed.returncode < 0 and not completed.timed_out else None
    return StepFailed(reason, kind)


class _Job:
    """A job record kept in the state store while a job runs, and its folder."""

    def __init__(self, run: StepRun, kind: str, record: dict[str, Any]):
        self.run, self.kind, self.record = run, kind, record
        isolation = container.Isolation.for_jobs(image.image_python(run.cloud.config.home))
        self.folder = container.JobFolder(run.jobs_dir / run.job_name, isolation)
        if self.folder.root.exists():
            shutil.rmtree(self.folder.root)
        self.folder.failure_file.parent.mkdir(parents=True)   # so a script can write its reason
        self.save()

    def save(self, **fields: Any) -> None:
        self.record.update(fields)
        self.record["LastModifiedTime"] = now()
        self.run.store.put_job(self.kind, self.run.job_name, self.record)

    def execute(self, cmd: list[str], env: dict[str, str], cwd: str) -> container.Completed:
        """Run cmd as the job's process; cwd is its working directory as the job names it."""
        folder = self.folder
        try:
            # In a namespace the wrapper changes to cwd once /opt/ml is mounted.
            start_dir = folder.root if folder.namespaced else Path(cwd)
            return container.run(folder.wrap(cmd, cwd), env, start_dir, folder.log,
                                 self.run.stop, _runtime_limit(self.run.arguments),
                                 on_start=lambda pid: self.save(_Pid=pid, _Folder=str(folder.root)),
                                 note=folder.isolation.note if folder.isolation else "",
                                 shown=cmd)
        except container.StopRequested:
            self.stopped()
            raise

    def stopped(self) -> None:
        status_key = "ProcessingJobStatus" if self.kind == PROCESSING_JOB else "TrainingJobStatus"
        fields = {status_key: "Stopped"}
        if self.kind == TRAINING_JOB:
            fields["SecondaryStatus"] = "Stopped"
        self.save(**fields)

    def clean(self) -> None:
        # Keep the log (and the failure file) for inspection; drop staged data.
        shutil.rmtree(self.folder.opt_ml, ignore_errors=True)


def _stage(run: StepRun, uri: Any, target: Path, what: str) -> None:
    try:
        objects.download(run.cloud, str(uri), target)
    except objects.ObjectStoreError as exc:
        raise StepFailed(f"ClientError: {what}: {exc}") from None


def _upload(run: StepRun, source: Path, uri: Any, what: str) -> None:
    try:
        objects.upload_dir(run.cloud, source, str(uri))
    except objects.ObjectStoreError as exc:
        raise StepFailed(f"ClientError: {what}: {exc}") from None
    except OSError as exc:
        raise StepFailed(f"uploading {what}: {exc}", policies.SERVICE_FAULT) from None


def run_processing(run: StepRun) -> StepResult:
    args = run.arguments
    arn = run.cloud.config.arn("sagemaker", f"processing-job/{run.job_name.lower()}")
    record = {
        "ProcessingJobName": run.job_name, "ProcessingJobArn": arn,
        "ProcessingInputs": args.get("ProcessingInputs", []),
        "ProcessingOutputConfig": args.get("ProcessingOutputConfig", {"Outputs": []}),
        "ProcessingResources": args.get("ProcessingResources", {}),
        "StoppingCondition": args.get("StoppingCondition"),
        "AppSpecification": args.get("AppSpecification", {}),
        "Environment": args.get("Environment"), "RoleArn": args.get("RoleArn"),
        "ProcessingJobStatus": "InProgress", "CreationTime": now(), "ProcessingStartTime": now(),
        "_PipelineExecutionArn": run.execution_arn, "_StepName": run.spec.name,
    }
    record = {k: v for k, v in record.items() if v is not None}
    _assume_job_role(run, "CreateProcessingJob")
    job = _Job(run, PROCESSING_JOB, record)
    # Pipelines creates the job, then polls it (DescribeProcessingJob), as the pipeline role.
    record_call(run, "CreateProcessingJob", {**args, "ProcessingJobName": run.job_name})
    record_call(run, "DescribeProcessingJob", {"ProcessingJobName": run.job_name})
    run.on_metadata({"ProcessingJob": {"Arn": arn}})
    folder = job.folder
    try:
        for item in args.get("ProcessingInputs", []):
            name = item.get("InputName", "?")
            if "S3Input" not in item:
                raise StepFailed(f"ProcessingInput {name}: only S3Input inputs run locally")
            s3 = item["S3Input"]
            target = _container_path(folder, s3.get("LocalPath", ""), f"ProcessingInput {name}")
            _stage(run, s3.get("S3Uri"), target, f"ProcessingInput {name}")
        outputs = (args.get("ProcessingOutputConfig") or {}).get("Outputs", [])
        for item in outputs:
            if "S3Output" in item:
                _container_path(folder, item["S3Output"].get("LocalPath", ""),
                                f"ProcessingOutput {item.get('OutputName')}").mkdir(parents=True, exist_ok=True)
        config_dir = folder.local("/opt/ml/config")
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "processingjobconfig.json").write_text(json.dumps(
            {**args, "ProcessingJobName": run.job_name, "ProcessingJobArn": arn}, default=str))
        (config_dir / "resourceconfig.json").write_text(json.dumps(
            {"current_host": "algo-1", "hosts": ["algo-1"]}))

        app = args.get("AppSpecification") or {}
        require_strings(app.get("ContainerEntrypoint"), "AppSpecification.ContainerEntrypoint")
        require_strings(app.get("ContainerArguments"), "AppSpecification.ContainerArguments")
        require_strings(args.get("Environment"), "Environment")
        entrypoint = app.get("ContainerEntrypoint") or []
        if not entrypoint:
            raise StepFailed(f"Processing step {run.spec.name}: AppSpecification has no "
                             f"ContainerEntrypoint; an image's built-in entrypoint "
                             f"({app.get('ImageUri', 'no image')}) cannot run without a container")
        cmd = container.command(folder, [str(p) for p in entrypoint],
                                [str(p) for p in app.get("ContainerArguments") or []])
        env = _job_environment(run, folder, args.get("Environment"))
        # SageMaker Processing starts the entrypoint in the image's WORKDIR; ours is /.
        completed = job.execute(cmd, env, "/" if folder.namespaced else str(folder.root))
        if completed.returncode != 0:
            failure = _job_failure(completed, folder)
            job.save(ProcessingJobStatus="Failed", FailureReason=failure.reason,
                     ExitMessage=failure.reason, ProcessingEndTime=now())
            raise failure
        for item in outputs:
            if "S3Output" in item:
                s3 = item["S3Output"]
                _upload(run, folder.local(s3["LocalPath"]), s3["S3Uri"],
                        f"ProcessingOutput {item.get('OutputName')}")
        property_files = _property_files(run, outputs)
    except StepFailed as failure:
        if job.record["ProcessingJobStatus"] == "InProgress":
            job.save(ProcessingJobStatus="Failed", FailureReason=failure.reason,
                     ProcessingEndTime=now())
        raise
    except OSError as exc:   # staging or uploading data on this machine failed
        failure = StepFailed(f"InternalServerError: {exc}", policies.JOB_INTERNAL_ERROR)
        job.save(ProcessingJobStatus="Failed", FailureReason=failure.reason, ProcessingEndTime=now())
        raise failure from None
    job.save(ProcessingJobStatus="Completed", ProcessingEndTime=now())
    job.clean()
    properties = _jsonable({k: v for k, v in job.record.items() if not k.startswith("_")})
    properties["PropertyFiles"] = property_files
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
            objects.read_json(run.cloud, uri)
        except objects.ObjectStoreError as exc:
            raise StepFailed(f"property file {name}: {exc}") from None
        found[name] = uri
    return found


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
    working_dir: str   # as the job names it
    entry_script: str


def _script_mode(run: StepRun, folder: container.JobFolder, hps: dict[str, Any]) -> _ScriptMode | None:
    """The user's training command, for the two ways the SDK ships a script: the `code` channel
    with sm_drivers/sourcecode.json (ModelTrainer, run as its basic script driver would), or a
    sourcedir.tar.gz named by sagemaker_submit_directory (Estimator). None if the job names no
    script. Hyperparameters become `--name value` arguments, as both drivers pass them."""
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
            cmd = container.command(folder, shlex.split(source["command"]),
                                    [str(a) for a in source.get("args") or []])
            return _ScriptMode(cmd, folder.view("/opt/ml/input/data/code"), cmd[-1])
        entry = source.get("entry_script")
        if not entry or not str(entry).endswith(".py"):
            raise StepFailed(f"sm_drivers/sourcecode.json: entry_script {entry!r} is not a .py script")
        return _ScriptMode([folder.python, f"{folder.view('/opt/ml/input/data/code')}/{entry}", *args],
                           folder.view("/opt/ml/input/data/code"), str(entry))
    program = hps.get("sagemaker_program")
    if not program:
        return None
    code_dir = folder.local("/opt/ml/code")
    code_dir.mkdir(parents=True, exist_ok=True)
    submit = hps.get("sagemaker_submit_directory")
    if isinstance(submit, str) and submit.startswith("s3://"):
        archive_dir = folder.root / "sourcedir"
        _stage(run, submit, archive_dir, "sagemaker_submit_directory")
        for archive in archive_dir.rglob("*.tar.gz"):
            with tarfile.open(archive) as tar:
                tar.extractall(code_dir, filter="data")
    return _ScriptMode([folder.python, f"{folder.view('/opt/ml/code')}/{program}", *args],
                       folder.view("/opt/ml/code"), str(program))


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
                found.append({"MetricName": definition.get("Name"), "Value": float(last),
                              "Timestamp": now()})
            except ValueError:
                continue
    return found


def _tar(source: Path, target: Path) -> None:
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)


def run_training(run: StepRun) -> StepResult:
    args = run.arguments
    name = run.job_name
    arn = run.cloud.config.arn("sagemaker", f"training-job/{name.lower()}")
    output_path = str((args.get("OutputDataConfig") or {}).get("S3OutputPath", "")).rstrip("/")
    if not output_path.startswith("s3://"):
        raise StepFailed(f"Training step {run.spec.name}: OutputDataConfig.S3OutputPath must be an s3:// URI")
    algorithm = args.get("AlgorithmSpecification") or {}
    record = {
        "TrainingJobName": name, "TrainingJobArn": arn,
        "ModelArtifacts": {"S3ModelArtifacts": f"{output_path}/{name}/output/model.tar.gz"},
        "TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting",
        "HyperParameters": args.get("HyperParameters", {}), "AlgorithmSpecification": algorithm,
        "RoleArn": args.get("RoleArn"), "InputDataConfig": args.get("InputDataConfig", []),
        "OutputDataConfig": args.get("OutputDataConfig"), "ResourceConfig": args.get("ResourceConfig"),
        "StoppingCondition": args.get("StoppingCondition", {"MaxRuntimeInSeconds": 86400}),
        "Environment": args.get("Environment"), "CreationTime": now(), "TrainingStartTime": now(),
        "_PipelineExecutionArn": run.execution_arn, "_StepName": run.spec.name,
    }
    record = {k: v for k, v in record.items() if v is not None}
    _assume_job_role(run, "CreateTrainingJob")
    job = _Job(run, TRAINING_JOB, record)
    record_call(run, "CreateTrainingJob", {**args, "TrainingJobName": run.job_name})
    record_call(run, "DescribeTrainingJob", {"TrainingJobName": run.job_name})
    run.on_metadata({"TrainingJob": {"Arn": arn}})
    folder = job.folder
    try:
        job.save(SecondaryStatus="Downloading")
        channels = []
        input_config = {}
        for channel in args.get("InputDataConfig", []):
            cname = channel.get("ChannelName", "")
            if not re.fullmatch(r"[A-Za-z0-9\.\-_]+", cname):
                raise StepFailed(f"invalid ChannelName {cname!r}")
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            if not source:
                raise StepFailed(f"channel {cname}: only S3DataSource channels run locally")
            _stage(run, source.get("S3Uri"), folder.local(f"/opt/ml/input/data/{cname}"), f"channel {cname}")
            channels.append(cname)
            input_config[cname] = {"TrainingInputMode": channel.get("InputMode", algorithm.get("TrainingInputMode", "File")),
                                   "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
                                   "RecordWrapperType": channel.get("RecordWrapperType", "None")}
            if "ContentType" in channel:
                input_config[cname]["ContentType"] = channel["ContentType"]
        raw_hps = args.get("HyperParameters") or {}
        require_strings(raw_hps, "HyperParameters")
        require_strings(args.get("Environment"), "Environment")
        require_strings(algorithm.get("ContainerArguments"), "AlgorithmSpecification.ContainerArguments")
        hps = {k: _decode(v) for k, v in raw_hps.items()}
        user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
        config_dir = folder.local("/opt/ml/input/config")
        config_dir.mkdir(parents=True, exist_ok=True)
        resource = {"current_host": "algo-1", "hosts": ["algo-1"], "current_group_name": "homogeneousCluster",
                    "current_instance_type": (args.get("ResourceConfig") or {}).get("InstanceType", "local"),
                    "network_interface_name": "eth0"}
        (config_dir / "hyperparameters.json").write_text(json.dumps(raw_hps))
        (config_dir / "inputdataconfig.json").write_text(json.dumps(input_config))
        (config_dir / "resourceconfig.json").write_text(json.dumps(resource))
        for sub in ("model", "output/data", "code"):
            folder.local(f"/opt/ml/{sub}").mkdir(parents=True, exist_ok=True)

        env = _job_environment(run, folder, args.get("Environment"))
        opt, view = folder.local, folder.view
        env.update({
            "TRAINING_JOB_NAME": name, "TRAINING_JOB_ARN": arn,
            "SM_MODEL_DIR": view("/opt/ml/model"), "SM_INPUT_DIR": view("/opt/ml/input"),
            "SM_INPUT_DATA_DIR": view("/opt/ml/input/data"),
            "SM_INPUT_CONFIG_DIR": view("/opt/ml/input/config"),
            "SM_OUTPUT_DIR": view("/opt/ml/output"), "SM_OUTPUT_DATA_DIR": view("/opt/ml/output/data"),
            "SM_OUTPUT_FAILURE": view("/opt/ml/output/failure"),
            "SM_CHANNELS": json.dumps(channels), "SM_HPS": json.dumps(user_hps),
            "SM_CURRENT_HOST": "algo-1", "SM_HOSTS": json.dumps(["algo-1"]), "SM_HOST_COUNT": "1",
            "SM_CURRENT_HOST_RANK": "0", "SM_NUM_GPUS": "0", "SM_NUM_CPUS": str(_cpus()),
            "SM_CURRENT_INSTANCE_TYPE": resource["current_instance_type"],
            "SM_RESOURCE_CONFIG": json.dumps(resource), "SM_INPUT_DATA_CONFIG": json.dumps(input_config),
        })
        for cname in channels:
            env[f"SM_CHANNEL_{cname.upper().replace('-', '_')}"] = view(f"/opt/ml/input/data/{cname}")
        for key, value in user_hps.items():
            env[f"SM_HP_{key.upper().replace('-', '_')}"] = _cli_value(value)

        script = _script_mode(run, folder, hps)
        if script is not None:
            entry = folder.host(script.working_dir) / script.entry_script
            if script.command[0] == folder.python and not entry.is_file():
                raise StepFailed(f"training script {script.entry_script} is not in the job's source code")
            env["SM_USER_ENTRY_POINT"] = env["SM_ENTRY_SCRIPT"] = script.entry_script
            env["SM_MODULE_DIR"] = env["SM_SOURCE_DIR"] = script.working_dir
            cmd, cwd = script.command, script.working_dir
        elif algorithm.get("ContainerEntrypoint"):
            cmd = container.command(folder, [str(p) for p in algorithm["ContainerEntrypoint"]],
                                    [str(p) for p in algorithm.get("ContainerArguments") or []])
            cwd = "/" if folder.namespaced else str(folder.root)
        else:
            raise StepFailed(f"Training step {run.spec.name}: image "
                             f"{algorithm.get('TrainingImage', '?')} names no script "
                             "(sagemaker_program, a code channel or a ContainerEntrypoint); "
                             "built-in algorithm containers cannot run locally")
        job.save(SecondaryStatus="Training")
        completed = job.execute(cmd, env, cwd)
        metrics = _metrics(folder.log, algorithm.get("MetricDefinitions") or [])
        if completed.returncode != 0:
            failure = _job_failure(completed, folder)
            job.save(TrainingJobStatus="Failed", SecondaryStatus="Failed", FailureReason=failure.reason,
                     TrainingEndTime=now(), FinalMetricDataList=metrics)
            raise failure
        job.save(SecondaryStatus="Uploading", FinalMetricDataList=metrics)
        with tempfile.TemporaryDirectory(dir=folder.root) as tmp:
            model_tar = Path(tmp) / "model.tar.gz"
            _tar(opt("/opt/ml/model"), model_tar)
            objects.put_file(run.cloud, model_tar, record["ModelArtifacts"]["S3ModelArtifacts"])
            data_dir = opt("/opt/ml/output/data")
            if any(data_dir.iterdir()):
                output_tar = Path(tmp) / "output.tar.gz"
                _tar(data_dir, output_tar)
                objects.put_file(run.cloud, output_tar, f"{output_path}/{name}/output/output.tar.gz")
    except objects.ObjectStoreError as exc:
        failure = StepFailed(f"ClientError: {exc}")
        job.save(TrainingJobStatus="Failed", SecondaryStatus="Failed", FailureReason=failure.reason,
                 TrainingEndTime=now())
        raise failure from None
    except StepFailed as failure:
        if job.record["TrainingJobStatus"] == "InProgress":
            job.save(TrainingJobStatus="Failed", SecondaryStatus="Failed", FailureReason=failure.reason,
                     TrainingEndTime=now())
        raise
    except OSError as exc:   # staging or uploading data on this machine failed
        failure = StepFailed(f"InternalServerError: {exc}", policies.JOB_INTERNAL_ERROR)
        job.save(TrainingJobStatus="Failed", SecondaryStatus="Failed", FailureReason=failure.reason,
                 TrainingEndTime=now())
        raise failure from None
    end = now()
    job.save(TrainingJobStatus="Completed", SecondaryStatus="Completed", TrainingEndTime=end,
             TrainingTimeInSeconds=int(end - record["TrainingStartTime"]) or 1)
    job.clean()
    properties = _jsonable({k: v for k, v in job.record.items() if not k.startswith("_")})
    return StepResult(properties, {"TrainingJob": {"Arn": arn}})


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


RUNNERS: dict[str, Callable[[StepRun], StepResult]] = {
    "Processing": run_processing,
    "Training": run_training,
    "RegisterModel": run_register_model,
    "Model": run_create_model,
    "Condition": run_condition,
    "Fail": run_fail,
}
