"""A local job sees what its SageMaker container sees (issue 11, defect 1).

On AWS a processing job imports only its image's packages and the code it staged under
/opt/ml, and finds its inputs at the LocalPath each ProcessingInput names
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingS3Input.html:
"LocalPath: The local path in your container where you want Amazon SageMaker to write input
data to"; https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html).
These tests run jobs through the local executor and through the interpreter jobs get, and
check that nothing of this checkout (nor its editable install) is importable there, that a
script using literal /opt/ml paths works, and that the staged `processing` package is
importable exactly as SageMaker lays it out.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from localcloud.config import ACCOUNT_ID
from localcloud.sagemaker import images
from localcloud.sagemaker.jobs.container import namespace_support
from localcloud.sagemaker.pipelines import wait_for
from tests.support.definition import step_named
from tests.test_executor import BUCKET, call, cloud, processing, put_object, start  # noqa: F401

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/MLGatewayPipelineRole"
needs_namespace = pytest.mark.skipif(
    namespace_support() is not None, reason=f"no private mount namespace: {namespace_support()}"
)


def _run_script(cloud, body: str, outputs: dict[str, str] | None = None, **env) -> dict:  # noqa: F811
    put_object(cloud, "code/job.py", body)
    put_object(cloud, "data/in.txt", "rows")
    step = processing("Job", "job.py", [], outputs or {})
    step["Arguments"]["ProcessingInputs"].append(
        {
            "InputName": "data",
            "S3Input": {
                "S3Uri": f"s3://{BUCKET}/data/",
                "LocalPath": "/opt/ml/processing/input/data",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
    )
    if env:
        step["Arguments"]["Environment"] = env
    return wait_for(cloud, start(cloud, [step]), 60)


def _job_log(cloud) -> str:  # noqa: F811
    return "\n".join(p.read_text() for p in (cloud.config.home / "jobs").glob("*/job.log"))


def _failure(cloud, described: dict) -> str:  # noqa: F811
    steps = call(cloud, "ListPipelineExecutionSteps", PipelineExecutionArn=described["PipelineExecutionArn"])[
        "PipelineExecutionSteps"
    ]
    return steps[0].get("FailureReason", "")


@pytest.mark.parametrize(
    "module", ["processing", "training", "inference", "monitoring", "mlgw", "pipelines", "benchmarks", "localcloud"]
)
def test_a_job_cannot_import_the_checkout_or_its_editable_install(cloud, module):  # noqa: F811
    """Nothing staged, nothing importable: `processing` (and the rest of this project) comes
    only from a staged input on the declared PYTHONPATH, as in the container; the venv's
    editable install (a .pth-installed finder mapping our packages to a checkout) is not in
    effect."""
    described = _run_script(cloud, f"import {module}\n")
    assert described["PipelineExecutionStatus"] == "Failed"
    assert f"No module named '{module}'" in _failure(cloud, described)


def test_the_image_has_the_third_party_packages(cloud):  # noqa: F811
    described = _run_script(cloud, "import numpy, pandas, boto3, xgboost, sklearn\n")
    assert described["PipelineExecutionStatus"] == "Succeeded", _failure(cloud, described)


@needs_namespace
def test_literal_opt_ml_paths_find_inputs_and_outputs_are_uploaded(cloud):  # noqa: F811
    """A script that opens /opt/ml/processing/... itself (as AWS's examples do) reads its
    input and has its output uploaded; the host's /opt/ml is never written."""
    host_opt_ml_existed = Path("/opt/ml").exists()
    script = (
        "import os\n"
        "rows = open('/opt/ml/processing/input/data/in.txt').read()\n"
        "os.makedirs('/opt/ml/processing/out', exist_ok=True)\n"
        "open('/opt/ml/processing/out/result.txt', 'w').write(rows + ' seen in ' + os.getcwd())\n"
    )
    described = _run_script(cloud, script, {"out": f"s3://{BUCKET}/result"})
    assert described["PipelineExecutionStatus"] == "Succeeded", _failure(cloud, described)
    assert cloud.s3.read_bytes(f"s3://{BUCKET}/result/result.txt") == b"rows seen in /"
    assert Path("/opt/ml").exists() == host_opt_ml_existed
    assert "job isolation: private mount namespace" in _job_log(cloud)


def test_without_namespaces_the_log_says_paths_are_rewritten(cloud, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MLGW_JOB_NAMESPACE", "off")
    namespace_support.cache_clear()
    try:
        described = _run_script(cloud, "import sys\nopen(sys.argv[0]).read()\nimport processing\n")
    finally:
        namespace_support.cache_clear()
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "No module named 'processing'" in _failure(cloud, described)
    assert "WARNING no private mount namespace (MLGW_JOB_NAMESPACE is off)" in _job_log(cloud)


@pytest.fixture
def definition(localcloud, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    from pipelines.ml_gateway.run_pipeline import build

    pipeline = build("us-east-1", ROLE, f"sagemaker-us-east-1-{ACCOUNT_ID}", "MLGatewayPipeline")
    return json.loads(pipeline.definition())


def test_the_staged_processing_package_imports_where_sagemaker_lands_it(localcloud, definition, tmp_path):
    """Stage the `source` input of the generated definition as SageMaker does (S3Prefix: each
    object at LocalPath + its key after the prefix) and import the staged package with the
    jobs' interpreter, which cannot see the checkout, on the step's declared PYTHONPATH."""
    ingest = next(s for s in definition["Steps"] if s["Name"] == "Ingest")["Arguments"]
    source = next(i for i in ingest["ProcessingInputs"] if i["InputName"] == "source")["S3Input"]
    container = tmp_path / "container"
    local = container / source["LocalPath"].lstrip("/")
    localcloud.cloud.s3.download(source["S3Uri"], local)
    python_path = ingest["Environment"]["PYTHONPATH"]
    assert sorted(p.name for p in local.iterdir() if p.suffix == ".py") == sorted(
        p.name for p in Path("processing").glob("*.py")
    )
    probe = "from processing import schema, features, job; import processing; print(processing.__file__)"
    result = subprocess.run(
        [images.python(ingest["AppSpecification"]["ImageUri"]), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(container / python_path.lstrip("/")), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(local / "__init__.py")


def test_the_serving_sourcedir_holds_exactly_what_serving_imports(localcloud, definition, tmp_path):
    """SAGEMAKER_SUBMIT_DIRECTORY of the registered model: unpacked alone and imported with the
    jobs' interpreter (no checkout), serving.py finds processing.features (its encoder is not
    the silent identity fallback), and every module in the archive is one serving loads."""
    import tarfile

    register = step_named(definition, "RegisterModel")
    container = register["Arguments"]["InferenceSpecification"]["Containers"][0]
    submit = container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]
    archive = tmp_path / "sourcedir.tar.gz"
    localcloud.cloud.s3.download(submit, tmp_path / "download")
    archive = next((tmp_path / "download").rglob("sourcedir.tar.gz"))
    code = tmp_path / "code"
    with tarfile.open(archive) as tar:
        tar.extractall(code, filter="data")
        shipped = sorted(m.name for m in tar.getmembers() if m.name.endswith(".py"))
    probe = (
        "import json, sys, serving\n"
        "encode, _ = serving._encoder()\n"
        "assert encode is not None, 'processing.features is not importable'\n"
        f"root = {str(code)!r}\n"
        "loaded = sorted(m.__file__[len(root) + 1:] for m in list(sys.modules.values())\n"
        "                if (getattr(m, '__file__', None) or '').startswith(root))\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run(
        [images.python(container["Image"]), "-c", probe],
        cwd=code,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == shipped
