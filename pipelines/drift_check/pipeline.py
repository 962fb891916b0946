"""DriftCheck: the scheduled drift check, defined once with the SageMaker SDK (3.x).

One processing step on the processing image runs monitoring/drift_check.py: the endpoint's
capture for the last window against the deployed model's DriftCheckBaselines, Model
Monitor's statistics.json / constraint_violations.json / report.html under
`<reports>/<endpoint>/<schedule>/yyyy/mm/dd/hh/`, and Model Monitor's CloudWatch metrics.
An EventBridge scheduled rule starts it (processing/drift_schedule.py, created by Deploy);
Model Monitor's own schedules are not used because Model Monitor is closed to new customers.

The window ends at the execution's start time (`Execution.StartDateTime`), which the
scheduled rule sets; `WindowMinutes` says how far back it reaches.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep

from pipelines.ml_gateway.locations import capture_uri
from pipelines.ml_gateway.pipeline import (
    MONITORING_DIR,
    PROCESSING_DIR,
    PROCESSING_IMAGE,
    PROCESSING_ROOT,
    SOURCE_MOUNT,
    _s3_input,
    _s3_output,
    default_processing_image_uri,
    get_session,
)

PIPELINE_NAME = "DriftCheck"
DEFAULT_ENDPOINT = "ml-gateway-fraud"
DEFAULT_SCHEDULE = "ml-gateway-fraud-drift-check"  # the MonitoringSchedule dimension
REPORTS_DIR = f"{PROCESSING_ROOT}/reports"


def _stage_packages(session, prefix: str) -> str:
    """Upload the `monitoring` and `processing` packages (content-addressed) that the job
    imports, with the default data contract (processing/schema.json) they load; the S3 prefix
    holding both."""
    files = sorted([*MONITORING_DIR.glob("*.py"), *PROCESSING_DIR.glob("*.py"), PROCESSING_DIR / "schema.json"])
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
    key_prefix = f"{prefix}/drift-check-source/{digest}"
    s3 = session.boto_session.client("s3")
    bucket = session.default_bucket()
    for path in files:
        s3.upload_file(str(path), bucket, f"{key_prefix}/{path.parent.name}/{path.name}")
    return f"s3://{bucket}/{key_prefix}"


def get_pipeline(
    region: str,
    role: str,
    default_bucket: str | None = None,
    pipeline_name: str = PIPELINE_NAME,
    base_prefix: str = "ml-gateway",
    boto_session: boto3.Session | None = None,
    processing_image_uri: str | None = None,
) -> Pipeline:
    """The DriftCheck pipeline. Parameters: EndpointName, MonitoringScheduleName,
    WindowMinutes, CaptureUri (the endpoint's DestinationS3Uri), ReportsUri (Model
    Monitor's output prefix; the endpoint and schedule names are appended),
    ProcessingInstanceType."""
    session = get_session(region, default_bucket, boto_session)
    bucket = session.default_bucket()
    endpoint = ParameterString("EndpointName", default_value=DEFAULT_ENDPOINT)
    schedule = ParameterString("MonitoringScheduleName", default_value=DEFAULT_SCHEDULE)
    window = ParameterInteger("WindowMinutes", default_value=60)
    capture = ParameterString("CaptureUri", default_value=capture_uri(bucket, base_prefix))
    reports = ParameterString("ReportsUri", default_value=f"s3://{bucket}/{base_prefix}/monitoring-reports")
    instance = ParameterString("ProcessingInstanceType", default_value="ml.m5.xlarge")

    processor = ScriptProcessor(
        role=role,
        command=list(PROCESSING_IMAGE["entrypoint"]),
        image_uri=processing_image_uri or default_processing_image_uri(session, region),
        instance_count=1,
        instance_type=instance,
        base_job_name="mlgw-drift-check",
        sagemaker_session=session,
        # botocore reads its region only from AWS_DEFAULT_REGION, which SageMaker does not
        # set in a processing container: the job code's clients get the pipeline's region here.
        env={"PYTHONPATH": SOURCE_MOUNT, "AWS_DEFAULT_REGION": region},
    )
    source = _s3_input("source", _stage_packages(session, base_prefix), SOURCE_MOUNT)
    output = _s3_output("reports", REPORTS_DIR, Join(on="/", values=[reports, endpoint, schedule]))
    args = processor.run(
        code=str(Path(MONITORING_DIR, "drift_check.py")),
        inputs=[source],
        outputs=[output],
        arguments=[
            "--endpoint-name",
            endpoint,
            "--monitoring-schedule-name",
            schedule,
            "--capture-uri",
            capture,
            "--reports-dir",
            REPORTS_DIR,
            "--end",
            ExecutionVariables.START_DATETIME,
            "--window-minutes",
            window.to_string(),
        ],
    )
    step = ProcessingStep(name="DriftCheck", step_args=args, cache_config=CacheConfig(enable_caching=False))
    return Pipeline(
        name=pipeline_name,
        parameters=[endpoint, schedule, window, capture, reports, instance],
        steps=[step],
        sagemaker_session=session,
    )
