"""mlgw studio in a real headless browser (Debian's Chromium through Selenium and chromedriver):
one real local pipeline run is shared by the module; each test drives the page the way a user
would and checks the outcome with boto3, the client every other tool uses.

Statuses and actions are SageMaker's: ListPipelineExecutionSteps' StepStatus,
RetryPipelineExecution (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_RetryPipelineExecution.html),
UpdateModelPackage's ModelApprovalStatus
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import uuid

import boto3
import pytest

from localcloud import daemon
from localcloud.config import Config
from mlgw import local_run
from mlgw.studio.backend import Backend
from mlgw.studio.server import Background
from mlgw.target import Target

selenium = pytest.importorskip("selenium", reason="selenium is in requirements.lock")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.support.images import PROCESSING_URI  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (.ci/run installs them)"
    ),
]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1300,1000",
)
RED, GREEN = "rgb(217, 83, 79)", "rgb(46, 157, 91)"
PIPELINE = local_run.PIPELINE_NAME


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """One real pipeline run (generate → … → deployed endpoint) for every test here."""
    config = Config(home=tmp_path_factory.mktemp("studio") / "mlgw", port=_free_port())
    before = dict(os.environ)
    try:
        result = local_run.run(config, policies=1000, seed=3, claims=None, customers=None, parameters={})
    finally:
        # local_run points this process's AWS_* variables at its localcloud: put them back.
        os.environ.clear()
        os.environ.update(before)
    assert result.succeeded, result.failure_reason
    yield daemon.running_config(config), result
    daemon.stop(config)


@pytest.fixture(scope="module")
def studio(deployed):
    config, _ = deployed
    server = Background(Backend(Target.local(config)))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="studio-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def sm(deployed):
    config, _ = deployed
    return boto3.client(
        "sagemaker",
        endpoint_url=config.url,
        region_name=config.region,
        aws_access_key_id=config.access_key,
        aws_secret_access_key=config.secret_key,
    )


def _wait(browser, timeout: float) -> WebDriverWait:
    """Waits through the page replacing itself (live refresh, reload when a run ends)."""
    return WebDriverWait(
        browser,
        timeout,
        poll_frequency=0.2,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )


def _node(browser, step: str):
    return browser.find_element(By.CSS_SELECTOR, f'#pipeline-graph g.node[data-step="{step}"]')


def _stroke(browser, step: str) -> str:
    rect = _node(browser, step).find_element(By.TAG_NAME, "rect")
    return browser.execute_script("return getComputedStyle(arguments[0]).stroke", rect)


def test_a_pipeline_run_shows_its_graph_with_every_step_succeeded(studio, browser, deployed, sm):
    _, result = deployed
    browser.get(f"{studio.url}/pipelines/{PIPELINE}")
    execution_id = result.arn.rsplit("/", 1)[1]
    browser.find_element(By.CSS_SELECTOR, f'#executions a[href$="/executions/{execution_id}"]').click()
    _wait(browser, 20).until(lambda d: d.find_elements(By.ID, "pipeline-graph"))

    ran = {
        s["StepName"]
        for s in sm.list_pipeline_execution_steps(PipelineExecutionArn=result.arn)["PipelineExecutionSteps"]
    }
    assert {"Ingest", "FeatureStore", "BuildDataset", "Train", "Evaluate", "CheckAuc", "RegisterModel", "Deploy"} <= ran
    # Read in one script: status and the colour the user sees, per node.
    drawn = {
        name: (status, stroke)
        for name, status, stroke in browser.execute_script(
            "return [...document.querySelectorAll('#pipeline-graph g.node')].map(n => [n.dataset.step, "
            "n.dataset.status, getComputedStyle(n.querySelector('rect')).stroke])"
        )
    }
    for step in ran:
        assert drawn[step] == ("Succeeded", GREEN), (step, drawn)
    assert drawn["AucBelowThreshold"][0] == "NotStarted"  # the condition's other branch
    assert browser.find_element(By.ID, "execution-status").text == "Succeeded"
    # Step detail: the evaluation property file rendered as metrics, the job's own log.
    _node(browser, "Evaluate").find_element(By.TAG_NAME, "a").click()
    _wait(browser, 20).until(lambda d: d.find_elements(By.ID, "evaluation-metrics"))
    assert "auc" in browser.find_element(By.ID, "evaluation-metrics").text
    assert browser.find_element(By.ID, "job-log").text.strip()


EVALUATE = """
import json, os, sys
auc = float(sys.argv[sys.argv.index('--auc') + 1])
if auc < 0:
    with open(os.environ['SM_FAILURE_FILE'], 'w') as f:
        f.write(f'evaluation needs a non-negative AUC, got {auc}')
    sys.exit(2)
with open(os.path.join(os.environ['EVALUATION_DIR'], 'evaluation.json'), 'w') as f:
    json.dump({'binary_classification_metrics': {'auc': {'value': auc}}}, f)
"""


def _small_definition(bucket: str, role: str) -> dict:
    """One processing step whose script refuses a negative AUC (so it can fail, then pass once
    the script is fixed) and a condition on its property file."""
    evaluate = {
        "Name": "Evaluate",
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 30}
            },
            "AppSpecification": {
                "ImageUri": PROCESSING_URI,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/evaluate.py"],
                "ContainerArguments": ["--auc", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Auc"}]}}],
            },  # a string field: .to_string()
            "Environment": {"EVALUATION_DIR": "/opt/ml/processing/evaluation"},
            "RoleArn": role,
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "AppManaged": False,
                    "S3Input": {
                        "S3Uri": f"s3://{bucket}/studio-test/evaluate.py",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    },
                }
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "evaluation",
                        "AppManaged": False,
                        "S3Output": {
                            "S3Uri": {
                                "Std:Join": {
                                    "On": "/",
                                    "Values": [
                                        f"s3://{bucket}/studio-test/runs",
                                        {"Get": "Execution.PipelineExecutionId"},
                                        "evaluation",
                                    ],
                                }
                            },
                            "LocalPath": "/opt/ml/processing/evaluation",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        },
        "PropertyFiles": [
            {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
        ],
    }
    check = {
        "Name": "CheckAuc",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": {
                        "Std:JsonGet": {
                            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                            "Path": "binary_classification_metrics.auc.value",
                        }
                    },
                    "RightValue": 0.5,
                }
            ],
            "IfSteps": [],
            "ElseSteps": [],
        },
    }
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [{"Name": "Auc", "Type": "Float", "DefaultValue": 0.9}],
        "Steps": [evaluate, check],
    }


def test_a_failed_run_shows_the_failing_step_red_with_its_reason_and_retry_completes_it(studio, browser, deployed, sm):
    config, _ = deployed
    s3 = boto3.client(
        "s3",
        endpoint_url=config.url,
        region_name=config.region,
        aws_access_key_id=config.access_key,
        aws_secret_access_key=config.secret_key,
    )
    bucket = local_run.default_bucket(config)
    s3.put_object(Bucket=bucket, Key="studio-test/evaluate.py", Body=EVALUATE.encode())
    sm.create_pipeline(
        PipelineName="StudioFails",
        RoleArn=local_run.role_arn(config),
        PipelineDefinition=json.dumps(_small_definition(bucket, local_run.role_arn(config))),
        ClientRequestToken=uuid.uuid4().hex,
    )
    arn = sm.start_pipeline_execution(
        PipelineName="StudioFails",
        ClientRequestToken=uuid.uuid4().hex,
        PipelineParameters=[{"Name": "Auc", "Value": "-1"}],
    )["PipelineExecutionArn"]
    # The page follows the run live and reloads itself when it ends.
    browser.get(f"{studio.url}/pipelines/StudioFails/executions/{arn.rsplit('/', 1)[1]}")
    _wait(browser, 120).until(lambda d: d.find_elements(By.ID, "retry"))
    assert _node(browser, "Evaluate").get_attribute("data-status") == "Failed"
    assert _stroke(browser, "Evaluate") == RED
    assert "evaluation needs a non-negative AUC, got -1.0" in browser.find_element(By.ID, "failure-reason").text
    assert "non-negative AUC" in browser.find_element(By.CSS_SELECTOR, 'tr[data-step="Evaluate"] td.reason').text

    # Fix the script (what a user does before retrying), then Retry from the page.
    s3.put_object(
        Bucket=bucket,
        Key="studio-test/evaluate.py",
        Body=EVALUATE.replace("auc = float(", "auc = abs(float(").replace("+ 1])", "+ 1]))").encode(),
    )
    browser.find_element(By.ID, "retry").click()
    _wait(browser, 120).until(lambda d: d.find_element(By.ID, "execution-status").text == "Succeeded")
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Succeeded"
    _wait(browser, 20).until(
        lambda d: (
            [_node(d, s).get_attribute("data-status") for s in ("Evaluate", "CheckAuc")] == ["Succeeded", "Succeeded"]
        )
    )


def test_approving_a_model_version_from_the_page_changes_what_boto3_reads(studio, browser, sm):
    first = sm.describe_model_package(
        ModelPackageName=sm.list_model_packages(ModelPackageGroupName="MLGatewayFraud")["ModelPackageSummaryList"][0][
            "ModelPackageArn"
        ]
    )
    arn = sm.create_model_package(
        ModelPackageGroupName="MLGatewayFraud",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification=first["InferenceSpecification"],
        ModelMetrics=first.get("ModelMetrics", {}),
    )["ModelPackageArn"]
    version = arn.rsplit("/", 1)[1]
    browser.get(f"{studio.url}/models/MLGatewayFraud")
    row = browser.find_element(By.CSS_SELECTOR, f'#versions tr[data-version="{version}"]')
    assert "PendingManualApproval" in row.text
    row.find_element(By.LINK_TEXT, version).click()
    _wait(browser, 20).until(lambda d: d.find_elements(By.ID, "approve"))
    browser.find_element(By.ID, "approve").click()
    _wait(browser, 20).until(lambda d: d.find_element(By.ID, "approval-status").text == "Approved")
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"


def test_promoting_a_canary_from_the_page_changes_what_boto3_reads(studio, browser, sm):
    endpoint = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    main = config["ProductionVariants"][0]
    canary = {**main, "VariantName": "canary", "InitialVariantWeight": 0.2}
    name = f"{local_run.ENDPOINT_NAME}-canary-test"
    sm.create_endpoint_config(
        EndpointConfigName=name,
        DataCaptureConfig=config["DataCaptureConfig"],
        ProductionVariants=[{**main, "InitialVariantWeight": 0.8}, canary],
    )
    sm.update_endpoint(EndpointName=local_run.ENDPOINT_NAME, EndpointConfigName=name)
    deadline = time.monotonic() + 120
    while sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    browser.get(f"{studio.url}/endpoints/{local_run.ENDPOINT_NAME}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#variants tr[data-variant]")) == 2
    browser.find_element(By.ID, "promote").click()
    _wait(browser, 120).until(lambda d: "canary now takes all traffic" in d.find_element(By.ID, "note").text)
    variants = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["ProductionVariants"]
    assert [v["VariantName"] for v in variants] == ["canary"]
    assert [
        r.get_attribute("data-variant") for r in browser.find_elements(By.CSS_SELECTOR, "#variants tr[data-variant]")
    ] == ["canary"]
