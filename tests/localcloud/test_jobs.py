"""SageMaker processing and training jobs over the wire: a real boto3 `sagemaker` client against
the running localcloud creates a job, follows it to Completed with Describe*, finds its output in
S3 and the job in List*; a job whose script fails ends Failed with its reason; a running job is
stopped; a taken name and a role SageMaker cannot assume are refused as AWS refuses them."""

from __future__ import annotations

import io
import os
import signal
import tarfile
import time

import pytest
from botocore.exceptions import ClientError

from tests.support.images import PROCESSING_URI, XGBOOST_URI

ROLE = "arn:aws:iam::000000000000:role/ml-gateway-sagemaker-execution"  # infra/ml-gateway.yaml
BUCKET = "job-artifacts"

PREPARE = """
import os
rows = open('/opt/ml/processing/input/rows.csv').read().splitlines()
os.makedirs('/opt/ml/processing/output', exist_ok=True)
open('/opt/ml/processing/output/count.txt', 'w').write(str(len(rows)))
"""

TRAIN = """
import json, os
channel = os.environ['SM_CHANNEL_TRAIN']
rows = open(os.path.join(channel, 'rows.csv')).read().splitlines()
depth = json.loads(os.environ['SM_HPS'])['max_depth']
open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.json'), 'w').write(json.dumps({'rows': len(rows), 'depth': depth}))
print('validation-auc: 0.875')
"""


@pytest.fixture
def sagemaker(client):
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="code/prepare.py", Body=PREPARE.encode())
    s3.put_object(Bucket=BUCKET, Key="code/train.py", Body=TRAIN.encode())
    s3.put_object(Bucket=BUCKET, Key="data/rows.csv", Body=b"a,1\nb,2\nc,3\n")
    sourcedir = io.BytesIO()  # the Estimator's sourcedir.tar.gz (sagemaker_submit_directory)
    with tarfile.open(fileobj=sourcedir, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(TRAIN.encode())
        tar.addfile(info, io.BytesIO(TRAIN.encode()))
    s3.put_object(Bucket=BUCKET, Key="sourcedir/sourcedir.tar.gz", Body=sourcedir.getvalue())
    return client("sagemaker"), s3


def _processing(name: str, script: str = "prepare.py", role: str = ROLE) -> dict:
    return {
        "ProcessingJobName": name,
        "RoleArn": role,
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 30}
        },
        "AppSpecification": {
            "ImageUri": PROCESSING_URI,
            "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
        },
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/code/{script}",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "rows",
                "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/data/rows.csv",
                    "LocalPath": "/opt/ml/processing/input",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": f"s3://{BUCKET}/out/{name}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def _wait(describe, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = describe()
        status = job.get("ProcessingJobStatus") or job.get("TrainingJobStatus")
        if status not in ("InProgress", "Stopping") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_processing_job_created_with_boto3_runs_to_completed_and_its_output_lands_in_s3(sagemaker):
    sm, s3 = sagemaker
    arn = sm.create_processing_job(**_processing("prepare-1"))["ProcessingJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:000000000000:processing-job/prepare-1"
    job = _wait(lambda: sm.describe_processing_job(ProcessingJobName="prepare-1"))
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ProcessingJobArn"] == arn
    assert job["ProcessingEndTime"] >= job["ProcessingStartTime"]
    assert s3.get_object(Bucket=BUCKET, Key="out/prepare-1/count.txt")["Body"].read() == b"3"
    listed = sm.list_processing_jobs(NameContains="prepare")["ProcessingJobSummaries"]
    assert [(j["ProcessingJobName"], j["ProcessingJobStatus"]) for j in listed] == [("prepare-1", "Completed")]

    with pytest.raises(ClientError) as taken:
        sm.create_processing_job(**_processing("prepare-1"))
    assert taken.value.response["Error"]["Code"] == "ResourceInUse"


def test_a_training_job_created_with_boto3_uploads_its_model_and_reports_metrics(sagemaker):
    sm, s3 = sagemaker
    sm.create_training_job(
        TrainingJobName="train-1",
        RoleArn=ROLE,
        AlgorithmSpecification={
            "TrainingImage": XGBOOST_URI,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:auc", "Regex": r"validation-auc: ([0-9.]+)"}],
        },
        HyperParameters={
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": f"s3://{BUCKET}/sourcedir/sourcedir.tar.gz",
            "max_depth": "4",
        },
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/models"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = _wait(lambda: sm.describe_training_job(TrainingJobName="train-1"))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["SecondaryStatus"] == "Completed"
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("validation:auc", 0.875)]
    artifacts = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == f"s3://{BUCKET}/models/train-1/output/model.tar.gz"
    body = s3.get_object(Bucket=BUCKET, Key="models/train-1/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        model = tar.extractfile("model.json")
        assert model is not None and model.read() == b'{"rows": 3, "depth": 4}'
    assert [j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"]] == ["train-1"]


def test_a_failing_script_fails_the_job_with_its_reason(sagemaker):
    sm, s3 = sagemaker
    s3.put_object(Bucket=BUCKET, Key="code/crash.py", Body=b"raise ValueError('bad row 7')\n")
    sm.create_processing_job(**_processing("crash-1", "crash.py"))
    job = _wait(lambda: sm.describe_processing_job(ProcessingJobName="crash-1"))
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ")
    assert "ValueError: bad row 7" in job["FailureReason"]


def test_stop_ends_a_running_job_stopped(sagemaker, localcloud):
    sm, s3 = sagemaker
    s3.put_object(Bucket=BUCKET, Key="code/sleep.py", Body=b"import time\ntime.sleep(60)\n")
    sm.create_processing_job(**_processing("sleep-1", "sleep.py"))
    deadline = time.monotonic() + 30
    while "_Pid" not in (localcloud.cloud.jobs.job("processing-job", "sleep-1") or {}):
        assert time.monotonic() < deadline, "the job's script did not start"
        time.sleep(0.1)
    sm.stop_processing_job(ProcessingJobName="sleep-1")
    job = _wait(lambda: sm.describe_processing_job(ProcessingJobName="sleep-1"), 30)
    assert job["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as ended:
        sm.stop_processing_job(ProcessingJobName="sleep-1")
    assert ended.value.response["Error"]["Code"] == "ValidationException"


SPAWN = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open("/opt/ml/processing/input/code/pids", "w").write(f"{os.getpid()} {child.pid}")
time.sleep(120)
"""


def _job_pids(localcloud, name: str) -> list[int]:
    """The job's processes as the host sees them: every member of the job's process group."""
    import psutil

    leader = localcloud.cloud.jobs.job("processing-job", name)["_Pid"]
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == leader and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def test_killing_only_the_wrapper_kills_the_whole_job(sagemaker, localcloud):
    """A job is its whole process tree (issue 24 class 5): killing only the process that wraps
    the job's interpreter once ended the job Failed while the interpreter (and its children) ran
    on. Now nothing of an ended job runs on."""
    sm, s3 = sagemaker
    s3.put_object(Bucket=BUCKET, Key="code/spawn.py", Body=SPAWN.encode())
    sm.create_processing_job(**_processing("spawn-1", "spawn.py"))
    deadline = time.monotonic() + 30
    while (
        len(
            _job_pids(localcloud, "spawn-1")
            if "_Pid" in (localcloud.cloud.jobs.job("processing-job", "spawn-1") or {})
            else []
        )
        < 3
    ):
        assert time.monotonic() < deadline, "the job's script and its child did not start"
        time.sleep(0.1)
    leader = localcloud.cloud.jobs.job("processing-job", "spawn-1")["_Pid"]
    os.kill(leader, signal.SIGKILL)  # the wrapper only
    job = _wait(lambda: sm.describe_processing_job(ProcessingJobName="spawn-1"), 30)
    assert job["ProcessingJobStatus"] == "Failed"
    assert _job_pids(localcloud, "spawn-1") == []


def test_a_role_sagemaker_cannot_assume_and_an_unknown_job_are_refused(sagemaker):
    sm, _ = sagemaker
    stranger = "arn:aws:iam::000000000000:role/ml-gateway-gateway-lambda"  # trusts Lambda only
    with pytest.raises(ClientError) as refused:
        sm.create_processing_job(**_processing("stranger-1", role=stranger))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert f"Could not assume role {stranger}" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        sm.describe_processing_job(ProcessingJobName="nope")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as missing_training:
        sm.describe_training_job(TrainingJobName="nope")
    assert missing_training.value.response["Error"]["Code"] == "ValidationException"


def test_an_orphaned_job_whose_leader_is_gone_is_still_killed(tmp_path):
    """After a crash, recovery kills a job's group even when its leader was killed alone and
    reaped: the group's members that started with the job (issue 24 class 5)."""
    import subprocess

    import psutil

    from localcloud.sagemaker.jobs.container import JobFolder, kill_orphan

    started = time.time()
    group = subprocess.Popen(["sh", "-c", "sleep 120 & sleep 120 & wait"], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(psutil.Process(group.pid).children()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    members = [c.pid for c in psutil.Process(group.pid).children()]
    os.kill(group.pid, signal.SIGKILL)
    group.wait()  # reaped: only the members are left, in the leader's group
    assert kill_orphan(group.pid, JobFolder(tmp_path), started)

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 10  # SIGKILL is delivered asynchronously
    while any(alive(pid) for pid in members) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in members)


def test_job_names_that_differ_only_in_case_are_one_job(sagemaker):
    """A job's ARN lower-cases its name, so two names differing only in case would be two jobs
    with one ARN: the second is refused as a taken name is (ResourceInUse), as the other SageMaker
    resources refuse it (tests/localcloud/test_names_case.py)."""
    sm, _ = sagemaker
    sm.create_processing_job(**_processing("case-job"))
    with pytest.raises(ClientError) as err:
        sm.create_processing_job(**_processing("CASE-JOB"))
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    _wait(lambda: sm.describe_processing_job(ProcessingJobName="case-job"))
