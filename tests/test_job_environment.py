"""A job's environment holds what a SageMaker container gets, never the administrator's secret
(issue 24, class 8).

On AWS a processing or training container's environment is its image's ENV plus what
SageMaker sets: the job's Environment, the SM_* contract, the region and the credentials of the
job's RoleArn (https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html: "SageMaker assumes the role
... to perform tasks on your behalf"). Nothing of whoever created the job reaches it. Locally
the job also needs to know where localcloud is (endpoint URL, MLGW_HOME, MLGW_PORT): no
credentials. Here the administrator's MLGW_SECRET_KEY, AWS credentials and another secret of
the shell that started localcloud are set; a job prints its environment and who it signs as.
"""

from __future__ import annotations

import json

import pytest

from localcloud.config import ACCOUNT_ID
from localcloud.sagemaker.pipelines import wait_for
from tests.conftest import start_server
from tests.test_executor import BUCKET, ROLE, call, processing, put_object, start

ADMIN_SECRET = "admin-secret-0123456789abcdef"
ADMIN_AWS_SECRET = "admin-aws-secret-0123456789abcdef"
SHELL_SECRET = "shell-token-0123456789abcdef"

SCRIPT = """\
import json, os
import boto3
who = boto3.client("sts").get_caller_identity()["Arn"]
os.makedirs("/opt/ml/processing/out", exist_ok=True)
with open("/opt/ml/processing/out/env.json", "w") as f:
    json.dump({"environ": dict(os.environ), "caller": who}, f)
"""


@pytest.fixture
def admin_cloud(tmp_path, monkeypatch):
    """A running localcloud started from a shell holding the administrator's secrets."""
    monkeypatch.setenv("MLGW_SECRET_KEY", ADMIN_SECRET)
    monkeypatch.setenv("MLGW_ACCESS_KEY", "ADMINKEYID")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAADMIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN_AWS_SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", SHELL_SECRET)
    server = start_server(tmp_path / "home")
    assert server.cloud.config.secret_key == ADMIN_SECRET
    server.cloud.s3.create_bucket(BUCKET)
    yield server.cloud
    server.stop()


def test_a_job_holds_no_administrator_secret_and_signs_as_its_role(admin_cloud):
    cloud = admin_cloud
    put_object(cloud, "code/job.py", SCRIPT)
    step = processing("Job", "job.py", [], {"out": f"s3://{BUCKET}/result"})
    # As the pipeline's processors do (pipelines/ml_gateway/pipeline.py): botocore's region.
    step["Arguments"]["Environment"] = {"AWS_DEFAULT_REGION": cloud.config.region}
    described = wait_for(cloud, start(cloud, [step]), 60)
    steps = call(cloud, "ListPipelineExecutionSteps", PipelineExecutionArn=described["PipelineExecutionArn"])
    assert described["PipelineExecutionStatus"] == "Succeeded", steps
    seen = cloud.s3.read_json(f"s3://{BUCKET}/result/env.json")
    environ = seen["environ"]

    text = json.dumps(environ)
    for secret in (ADMIN_SECRET, ADMIN_AWS_SECRET, SHELL_SECRET, "AKIAADMIN", "ADMINKEYID"):
        assert secret not in text
    assert not [k for k in environ if k.startswith("MLGW_") and k not in ("MLGW_HOME", "MLGW_PORT")]
    # What it needs to reach localcloud, and the role's session credentials.
    assert environ["AWS_ENDPOINT_URL"] == cloud.config.url
    assert environ["AWS_REGION"] == cloud.config.region
    assert environ["AWS_DEFAULT_REGION"] == cloud.config.region  # from the job's Environment only
    assert environ["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    # It signs as its role (STS GetCallerIdentity names the assumed role), not as the administrator.
    assert seen["caller"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{ROLE.rsplit('/', 1)[1]}/localcloud"


def test_a_job_without_a_region_fails_as_on_aws(admin_cloud):
    """SageMaker gives a container no AWS_DEFAULT_REGION, the one variable botocore reads its
    region from (botocore/configprovider.py 'region'): a client that names no region fails with
    NoRegionError there, and here too (localcloud.config.location_env sets AWS_REGION only)."""
    cloud = admin_cloud
    put_object(cloud, "code/job.py", SCRIPT)
    step = processing("Job", "job.py", [], {"out": f"s3://{BUCKET}/result"})
    described = wait_for(cloud, start(cloud, [step]), 60)
    assert described["PipelineExecutionStatus"] == "Failed"
    steps = call(cloud, "ListPipelineExecutionSteps", PipelineExecutionArn=described["PipelineExecutionArn"])
    job = steps["PipelineExecutionSteps"][0]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[1]
    reason = call(cloud, "DescribeProcessingJob", ProcessingJobName=job)["FailureReason"]
    assert "You must specify a region" in reason, reason
