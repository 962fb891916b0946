"""Jobs run in their image's environment, built from the image's one definition (issue 23).

On AWS a job runs in the container image its request names: CreateProcessingJob's
AppSpecification.ImageUri, CreateTrainingJob's AlgorithmSpecification.TrainingImage. Locally each
image is an environment built from its image.toml (processing/image.toml: Python 3.11 and
processing/requirements.txt; training/image.toml: SageMaker's XGBoost 1.7-1 image, Python 3.9 and
the container's pins). These tests run jobs through boto3 and read back what the job's own
interpreter reports, and check the refusals for images that cannot be pulled or built.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import textwrap
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from localcloud.sagemaker import images
from tests.localcloud.test_jobs import BUCKET, ROLE, _processing, _wait, sagemaker  # noqa: F401
from tests.support.images import PROCESSING_URI, XGBOOST_URI

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, os, sys
import numpy, pandas
out = {"python": "%d.%d" % sys.version_info[:2], "prefix": sys.prefix, "pandas": pandas.__version__,
       "numpy": numpy.__version__}
try:
    import xgboost
    out["xgboost"] = xgboost.__version__
except ImportError:
    pass
target = os.environ.get("SM_MODEL_DIR") or "/opt/ml/processing/output"
os.makedirs(target, exist_ok=True)
open(os.path.join(target, "probe.json"), "w").write(json.dumps(out))
"""


def _pin(requirements: Path, package: str) -> str:
    return re.search(rf"^{package}==([\w.]+)", requirements.read_text(), re.M | re.I)[1]


def _read(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_processing_job_runs_in_the_processing_image_environment(sagemaker):  # noqa: F811
    sm, s3 = sagemaker
    s3.put_object(Bucket=BUCKET, Key="code/probe.py", Body=PROBE.encode())
    sm.create_processing_job(**_processing("probe-1", "probe.py"))
    job = _wait(lambda: sm.describe_processing_job(ProcessingJobName="probe-1"))
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    seen = _read(s3, "out/probe-1/probe.json")
    image = images.resolve(PROCESSING_URI)
    assert seen["python"] == image.python == "3.11"
    assert Path(seen["prefix"]) == images.environment_dir(image)  # its own venv, never the project's
    assert seen["pandas"] == _pin(ROOT / "processing" / "requirements.txt", "pandas")


def test_a_training_job_runs_in_the_xgboost_1_7_1_image_environment(sagemaker):  # noqa: F811
    """Script mode in SageMaker's XGBoost 1.7-1 image: Python 3.9 and the container's pins
    (training/requirements.txt, from aws/sagemaker-xgboost-container@ddd9206)."""
    sm, s3 = sagemaker
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("probe.py")
        info.size = len(PROBE.encode())
        tar.addfile(info, io.BytesIO(PROBE.encode()))
    s3.put_object(Bucket=BUCKET, Key="probe/sourcedir.tar.gz", Body=archive.getvalue())
    sm.create_training_job(
        TrainingJobName="probe-train",
        RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": XGBOOST_URI, "TrainingInputMode": "File"},
        HyperParameters={
            "sagemaker_program": "probe.py",
            "sagemaker_submit_directory": f"s3://{BUCKET}/probe/sourcedir.tar.gz",
        },
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/models"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = _wait(lambda: sm.describe_training_job(TrainingJobName="probe-train"))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    body = s3.get_object(Bucket=BUCKET, Key="models/probe-train/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        seen = json.load(tar.extractfile("probe.json"))
    requirements = ROOT / "training" / "requirements.txt"
    assert seen["python"] == images.resolve(XGBOOST_URI).python == "3.9"
    assert seen["xgboost"] == _pin(requirements, "xgboost") == "1.7.4"
    assert (seen["pandas"], seen["numpy"]) == (_pin(requirements, "pandas"), _pin(requirements, "numpy"))


def test_train_py_runs_on_the_xgboost_image_python_and_saves_a_1_7_model(tmp_path):
    """training/train.py itself, with the 1.7-1 image's interpreter on a tiny data set: the model
    it saves is one xgboost 1.7.4 wrote (what SageMaker's 1.7-1 endpoints load)."""
    import subprocess

    python = images.python(XGBOOST_URI)
    train, validation, model = tmp_path / "train", tmp_path / "validation", tmp_path / "model"
    for folder in (train, validation, model):
        folder.mkdir()
    rows = "\n".join(f"{i % 2},{i * 1.5},{(i * 7) % 5}" for i in range(60))
    for folder in (train, validation):
        (folder / "data.csv").write_text("fraud,amount,severity\n" + rows + "\n")
    done = subprocess.run(
        [python, str(ROOT / "training" / "train.py"), "--num_round", "5", "--early_stopping_rounds", "2"],
        env={
            "SM_CHANNEL_TRAIN": str(train),
            "SM_CHANNEL_VALIDATION": str(validation),
            "SM_MODEL_DIR": str(model),
            "SM_FAILURE_FILE": str(tmp_path / "failure"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((model / "xgboost-model").read_text())
    assert ".".join(map(str, saved["version"])) == _pin(ROOT / "training" / "requirements.txt", "xgboost")
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == "(3, 9)"


def test_create_training_job_refuses_an_image_it_cannot_find(sagemaker):  # noqa: F811
    """ValidationException "Cannot find the requested image" at CreateTrainingJob
    (aws/amazon-sagemaker-examples#1476); nothing is recorded."""
    sm, _ = sagemaker
    missing = XGBOOST_URI.replace(":1.7-1", ":9.9-9")
    with pytest.raises(ClientError) as refused:
        sm.create_training_job(
            TrainingJobName="no-image",
            RoleArn=ROLE,
            AlgorithmSpecification={"TrainingImage": missing, "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/models"},
            ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 600},
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert f"Cannot find the requested image: {missing}" in refused.value.response["Error"]["Message"]
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_a_processing_job_whose_image_cannot_be_pulled_fails_with_the_pull_error(sagemaker):  # noqa: F811
    sm, _ = sagemaker
    request = _processing("no-image")
    request["AppSpecification"]["ImageUri"] = "000000000000.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2"
    sm.create_processing_job(**request)
    job = _wait(lambda: sm.describe_processing_job(ProcessingJobName="no-image"))
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        "ClientError: API error (404): manifest for 000000000000.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2 "
        "not found: manifest unknown: Requested image not found"
    )


def test_an_image_whose_python_cannot_be_found_fails_the_job_naming_what_to_install(
    sagemaker,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    definition = tmp_path / "image.toml"
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    definition.write_text(
        textwrap.dedent("""\
            repository = "ancient"
            tag = "1"
            python = "3.2"
            requirements = ["requirements.txt"]
            entrypoint = ["python3"]
        """)
    )
    monkeypatch.setenv(images.IMAGES_ENV, str(definition))
    monkeypatch.setenv(images.CACHE_ENV, str(tmp_path / "cache"))
    sm, _ = sagemaker
    request = _processing("ancient-1")
    request["AppSpecification"]["ImageUri"] = "000000000000.dkr.ecr.us-east-1.amazonaws.com/ancient:1"
    sm.create_processing_job(**request)
    job = _wait(lambda: sm.describe_processing_job(ProcessingJobName="ancient-1"))
    assert job["ProcessingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert "no Python 3.2 interpreter found" in reason and "pyenv install 3.2" in reason, reason
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").glob("*/.complete"))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('tag = "1"\npython = "3.9"\nrequirements = ["r.txt"]\nentrypoint = ["python3"]\n', "repository"),
        ('repository = "x"\ntag = "1"\npython = "three"\nrequirements = ["r.txt"]\nentrypoint = ["p"]\n', "python"),
        ('repository = "x"\ntag = "1"\npython = "3.9"\nrequirements = []\nentrypoint = ["python3"]\n', "requirements"),
    ],
)
def test_a_bad_image_definition_names_its_file_and_field(tmp_path, text, field):
    (tmp_path / "r.txt").write_text("six==1.16.0\n")
    path = tmp_path / "image.toml"
    path.write_text(text)
    with pytest.raises(images.ImageError) as bad:
        images.load(path)
    assert str(path) in str(bad.value) and f"'{field}'" in str(bad.value)


def test_the_environment_is_keyed_by_the_definition_and_its_requirements(tmp_path):
    """Editing the pins gives a new environment (a new digest); the same files, the same one."""
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    path = tmp_path / "image.toml"
    path.write_text(
        'repository = "x"\ntag = "1"\npython = "3.11"\nrequirements = ["requirements.txt"]\nentrypoint = ["python3"]\n'
    )
    first = images.load(path).digest
    assert images.load(path).digest == first
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")
    assert images.load(path).digest != first


def test_mlgw_run_stops_before_anything_starts_when_an_image_cannot_be_had(tmp_path, monkeypatch, capsys):
    """The images are checked (a lookup once built) before localcloud starts or data is
    uploaded: an image without its interpreter stops the run at once, naming its definition."""
    from mlgw.cli import main

    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    definition = tmp_path / "image.toml"
    definition.write_text(
        'repository = "ancient"\ntag = "1"\npython = "3.2"\n'
        'requirements = ["requirements.txt"]\nentrypoint = ["python3"]\n'
    )
    monkeypatch.setenv(images.IMAGES_ENV, str(definition))
    monkeypatch.setenv(images.CACHE_ENV, str(tmp_path / "cache"))
    home = tmp_path / "home"
    assert main(["run", "--policies", "200", "--home", str(home), "--port", "47999"]) == 2
    err = capsys.readouterr().err
    assert f"image ancient:1 ({definition})" in err and "no Python 3.2 interpreter found" in err, err
    assert not (home / "s3").exists()  # nothing uploaded, no localcloud state


def test_an_empty_image_list_is_an_error(monkeypatch):
    import os

    monkeypatch.setenv(images.IMAGES_ENV, os.pathsep)
    with pytest.raises(images.ImageError, match="names no image definition file"):
        images.definitions()
