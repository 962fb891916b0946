"""What the studio reads and changes, through boto3 only (SageMaker, S3, CloudWatch, EventBridge),
so the same pages work against localcloud (the default) and a real AWS account (`--target aws`).

Every method returns plain dicts as the AWS APIs shape them. Errors are the services' own:
`botocore.exceptions.ClientError` (AWS's code and message) propagates to the page; `NotFound`
names a thing the studio looked for and did not find.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from mlgw.target import Target

TERMINAL = {"Succeeded", "Failed", "Stopped"}
# Rows per page of the executions and model versions tables. Each row costs a few API calls
# the first time it is shown (about 1.5 ms of localcloud's CPU each, one process), so a page
# of 20 answers cold within the 300 ms target where 50 did not (`mlgw bench studio`).
EXECUTIONS_PER_PAGE = VERSIONS_PER_PAGE = 20
PREVIEW_BYTES = 64 * 1024
# The default locations of the workflow's monitoring outputs (mlgw/monitor_schedule.py).
REPORTS_PREFIX = "ml-gateway/monitoring-reports"
# GetMetricData takes at most 500 queries per call
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html).
METRIC_QUERIES_PER_CALL = 500


class NotFound(Exception):
    """`what` named `name` does not exist (rendered as a 404 page naming both)."""

    def __init__(self, what: str, name: str):
        super().__init__(f"{what} {name!r} not found")
        self.what, self.name = what, name


def is_not_found(error: ClientError) -> bool:
    """SageMaker says "not found" in several ways: ResourceNotFound for pipelines, a
    ValidationException "does not exist" / "Could not find" for packages and endpoints."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    return (
        code in ("ResourceNotFound", "ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "404")
        or "does not exist" in message
        or "Could not find" in message
        or "not found" in message.lower()
    )


def optional(call, *args):
    """A section of a page that may be unavailable (CloudWatch on localcloud, an operation moto
    lacks): (its value, None), or (None, the service's own code and message) for the page."""
    try:
        return call(*args), None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return None, f"{error.get('Code')}: {error.get('Message')}"
    except NotImplementedError as exc:  # moto: an operation it does not implement
        return None, f"not available on this target: {exc}"


class Backend:
    def __init__(self, target: Target):
        self.target = target
        config = BotoConfig(
            retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30, max_pool_connections=16
        )
        self.sm = target.client("sagemaker", config)
        self.s3 = target.client("s3", config)
        self.featurestore = target.client("sagemaker-featurestore-runtime", config)
        self.cloudwatch = target.client("cloudwatch", config)
        self.events = target.client("events", config)
        self.region = target.region
        # Immutable once written: a pipeline's ARN, a registered package's metrics.
        self._pipeline_arns: dict[str, str] = {}
        self._metrics: dict[str, dict | None] = {}
        self._finished: dict[str, dict] = {}  # a terminal execution's duration and overrides
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="studio-read")

    # -- pipelines -----------------------------------------------------------------------------

    def pipelines(self) -> list[dict]:
        out, kwargs = [], {"SortBy": "Name", "SortOrder": "Ascending"}
        while True:
            page = self.sm.list_pipelines(**kwargs)
            out.extend(page["PipelineSummaries"])
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def pipeline(self, name: str) -> dict:
        try:
            described = self.sm.describe_pipeline(PipelineName=name)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("pipeline", name) from None
            raise
        self._pipeline_arns[name] = described["PipelineArn"]
        return described

    def execution_arn(self, pipeline: str, execution_id: str) -> str:
        if pipeline not in self._pipeline_arns:
            self.pipeline(pipeline)
        return f"{self._pipeline_arns[pipeline]}/execution/{execution_id}"

    def executions(self, pipeline: str, token: str | None = None) -> tuple[list[dict], str | None]:
        kwargs: dict[str, Any] = {
            "PipelineName": pipeline,
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": EXECUTIONS_PER_PAGE,
        }
        if token:
            kwargs["NextToken"] = token
        try:
            page = self.sm.list_pipeline_executions(**kwargs)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("pipeline", pipeline) from None
            raise
        return page["PipelineExecutionSummaries"], page.get("NextToken")

    def execution_facts(
        self, summaries: list[dict], defaults: dict[str, str], known_only: bool = False
    ) -> dict[str, dict]:
        """Per execution ARN: executions_view.facts (duration, parameters not at their
        default, AUC), read in parallel; a terminal execution's facts never change, so they
        are read once. `known_only`: only those already read, without any call."""
        from mlgw import executions_view

        if known_only:
            return {
                s["PipelineExecutionArn"]: self._finished[s["PipelineExecutionArn"]]
                for s in summaries
                if s["PipelineExecutionArn"] in self._finished
            }
        todo = [s for s in summaries if s["PipelineExecutionArn"] not in self._finished]
        read = executions_view.all_facts(self.sm, todo, defaults, self.s3, self.target.bucket, pool=self._pool)
        fresh = {s["PipelineExecutionArn"]: f for s, f in zip(todo, read)}
        self._finished.update({arn: f for arn, f in fresh.items() if not f["running"]})
        return {
            s["PipelineExecutionArn"]: fresh.get(s["PipelineExecutionArn"]) or self._finished[s["PipelineExecutionArn"]]
            for s in summaries
        }

    def execution(self, pipeline: str, execution_id: str) -> dict:
        arn = self.execution_arn(pipeline, execution_id)
        try:
            return self.sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("execution", f"{pipeline}/{execution_id}") from None
            raise

    def execution_definition(self, arn: str) -> dict:
        """The definition the execution ran (it may differ from the pipeline's current one)."""
        return json.loads(
            self.sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)["PipelineDefinition"]
        )

    def steps(self, arn: str) -> list[dict]:
        steps: list[dict] = []
        kwargs: dict[str, Any] = {"PipelineExecutionArn": arn, "SortOrder": "Ascending"}
        while True:
            page = self.sm.list_pipeline_execution_steps(**kwargs)
            steps.extend(page["PipelineExecutionSteps"])
            if not page.get("NextToken"):
                return steps
            kwargs["NextToken"] = page["NextToken"]

    def parameters(self, arn: str) -> list[dict]:
        return self.sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn).get("PipelineParameters", [])

    def configured_parameters(self, pipeline: str) -> dict[str, str]:
        """The run configuration's parameters (mlgw/run_config.py) for this project's pipeline,
        the Start form's values; {} for another pipeline."""
        from mlgw import run_config
        from mlgw.local_run import PIPELINE_NAME

        if pipeline != PIPELINE_NAME or self.target.bucket is None:
            return {}
        return run_config.effective(self.s3, self.target.bucket).pipeline_parameters()

    def start(self, pipeline: str, parameters: dict[str, str]) -> str:
        """Start `pipeline` as `mlgw pipeline start` does: the run configuration (this project's
        pipeline) with the form's `parameters` over it, checked first against the definition's
        declared parameters (ParameterError naming the parameter), and refused when it would
        replace an open canary or A/B test that the form did not ask to replace
        (run_config.RunConfigError)."""
        from mlgw import run_config
        from mlgw.local_run import PIPELINE_NAME
        from pipelines.ml_gateway.parameters import validate

        asked, parameters = parameters, {**self.configured_parameters(pipeline), **parameters}
        if pipeline == PIPELINE_NAME:
            run_config.refuse_replacing_a_test(self.sm, parameters, asked, how="the form's")
        declared = json.loads(self.pipeline(pipeline)["PipelineDefinition"]).get("Parameters", [])
        validate(parameters, declared)
        return self.sm.start_pipeline_execution(
            PipelineName=pipeline,
            ClientRequestToken=uuid.uuid4().hex,
            PipelineExecutionDescription="started from mlgw studio",
            PipelineParameters=[{"Name": k, "Value": v} for k, v in parameters.items()],
        )["PipelineExecutionArn"]

    def retry(self, arn: str) -> None:
        self.sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)

    def stop(self, arn: str) -> None:
        self.sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)

    def job(self, metadata: dict) -> dict | None:
        """The processing or training job behind a step (DescribeProcessingJob / DescribeTrainingJob)."""
        if "ProcessingJob" in metadata:
            name = metadata["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
            return {"kind": "ProcessingJob", "name": name, **self.sm.describe_processing_job(ProcessingJobName=name)}
        if "TrainingJob" in metadata:
            name = metadata["TrainingJob"]["Arn"].rsplit("/", 1)[-1]
            return {"kind": "TrainingJob", "name": name, **self.sm.describe_training_job(TrainingJobName=name)}
        return None

    def job_log(self, job_name: str) -> str | None:
        """Locally the job's log file; on AWS None (the page links to CloudWatch Logs)."""
        if self.target.home is None:
            return None
        path = (self.target.home / "jobs" / job_name / "job.log").resolve()
        if (self.target.home / "jobs").resolve() not in path.parents or not path.is_file():
            return None
        data = path.read_bytes()
        return data[-PREVIEW_BYTES:].decode(errors="replace")

    def log_console_url(self, kind: str, job_name: str) -> str:
        group = "/aws/sagemaker/ProcessingJobs" if kind == "ProcessingJob" else "/aws/sagemaker/TrainingJobs"
        return (
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#logsV2:log-groups/log-group/{group.replace('/', '$252F')}$3FlogStreamNameFilter$3D{job_name}"
        )

    # -- S3 --------------------------------------------------------------------------------------

    def list_objects(self, bucket: str, prefix: str) -> tuple[list[str], list[dict]]:
        """(sub-prefixes, objects) one level below `prefix`, at most 1000 of each."""
        try:
            page = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/", MaxKeys=1000)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("bucket", bucket) from None
            raise
        return ([p["Prefix"] for p in page.get("CommonPrefixes", [])], page.get("Contents", []))

    def read_object(self, bucket: str, key: str, limit: int = PREVIEW_BYTES) -> tuple[bytes, int]:
        """The first `limit` bytes of an object and its full size."""
        try:
            head = self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("object", f"s3://{bucket}/{key}") from None
            raise
        size = head["ContentLength"]
        if size == 0:
            return b"", 0
        body = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{limit - 1}")["Body"].read()
        return body, size

    def read_json(self, uri: str) -> dict | None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        except ValueError:
            return None

    # -- model registry -------------------------------------------------------------------------

    def model_groups(self) -> list[dict]:
        out, kwargs = [], {"SortBy": "CreationTime", "SortOrder": "Descending"}
        while True:
            page = self.sm.list_model_package_groups(**kwargs)
            out.extend(page["ModelPackageGroupSummaryList"])
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def model_packages(self, group: str, token: str | None = None) -> tuple[list[dict], str | None]:
        """One page of the group's versions, newest first, and the token of the next page."""
        try:
            self.sm.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("model package group", group) from None
            raise
        kwargs = {
            "ModelPackageGroupName": group,
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": VERSIONS_PER_PAGE,
        }
        if token:
            kwargs["NextToken"] = token
        page = self.sm.list_model_packages(**kwargs)
        return page["ModelPackageSummaryList"], page.get("NextToken")

    def model_package(self, group: str, version: int) -> dict:
        arn = self.package_arn(group, version)
        try:
            return self.sm.describe_model_package(ModelPackageName=arn)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("model package", f"{group}/{version}") from None
            raise

    def package_arn(self, group: str, version: int) -> str:
        account = self.account_id()
        return f"arn:aws:sagemaker:{self.region}:{account}:model-package/{group.lower()}/{version}"

    def account_id(self) -> str:
        return self.target.account_id

    def package_metrics(self, package: dict) -> dict | None:
        """The evaluation report attached to a package (ModelMetrics.ModelQuality.Statistics)."""
        arn = package["ModelPackageArn"]
        if arn not in self._metrics:
            uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
            self._metrics[arn] = self.read_json(uri) if uri else None
        return self._metrics[arn]

    def packages_with_metrics(self, summaries: list[dict]) -> list[dict]:
        """Each summary with its package's AUC / PR-AUC, read concurrently and cached (a
        registered package's metrics never change)."""

        def one(summary: dict) -> dict:
            arn = summary["ModelPackageArn"]
            if arn not in self._metrics:
                self.package_metrics(self.sm.describe_model_package(ModelPackageName=arn))
            metrics = (self._metrics.get(arn) or {}).get("binary_classification_metrics", {})
            return {
                **summary,
                "auc": metrics.get("auc", {}).get("value"),
                "pr_auc": metrics.get("pr_auc", {}).get("value"),
            }

        return list(self._pool.map(one, summaries))

    def set_approval(self, group: str, version: int, status: str, reason: str = "", force: bool = False):
        """The Approve / Reject buttons: mlgw/approval.py's set_approval, as `mlgw models
        approve|reject` calls it (ApprovalError when refused)."""
        from mlgw import approval

        return approval.set_approval(self.sm, group, str(version), status, reason, force=force, via="mlgw studio")

    # -- endpoints -------------------------------------------------------------------------------

    def endpoints(self) -> list[dict]:
        out, kwargs = [], {"SortBy": "CreationTime", "SortOrder": "Descending"}
        while True:
            page = self.sm.list_endpoints(**kwargs)
            out.extend(page["Endpoints"])
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def endpoint(self, name: str) -> dict:
        try:
            return self.sm.describe_endpoint(EndpointName=name)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("endpoint", name) from None
            raise

    def endpoint_config(self, name: str) -> dict:
        return self.sm.describe_endpoint_config(EndpointConfigName=name)

    def config_history(self, endpoint: str) -> list[dict]:
        """Endpoint configs whose name contains the endpoint's (how `deploy` names them), newest first."""
        return self.sm.list_endpoint_configs(
            NameContains=endpoint, SortBy="CreationTime", SortOrder="Descending", MaxResults=50
        )["EndpointConfigs"]

    def variant_metrics(self, endpoint: str, variants: list[str], start, end) -> dict[str, dict]:
        """Invocations and 4xx/5xx errors per variant over [start, end] (CloudWatch AWS/SageMaker)."""
        queries = []
        for i, variant in enumerate(variants):
            for j, metric in enumerate(("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")):
                queries.append(
                    {
                        "Id": f"m{i}_{j}",
                        "Label": f"{variant}|{metric}",
                        "ReturnData": True,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/SageMaker",
                                "MetricName": metric,
                                "Dimensions": [
                                    {"Name": "EndpointName", "Value": endpoint},
                                    {"Name": "VariantName", "Value": variant},
                                ],
                            },
                            "Period": 3600,
                            "Stat": "Sum",
                        },
                    }
                )
        out: dict[str, dict] = {v: {} for v in variants}
        if not queries:
            return out
        result = self.cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
        for series in result["MetricDataResults"]:
            variant, metric = series["Label"].split("|")
            out[variant][metric] = sum(series.get("Values", []))
        return out

    def promote(self, endpoint: str, variant: str | None, promote: bool) -> str:
        """The same operation as `mlgw endpoint promote|rollback`."""
        from mlgw import canary
        from mlgw.monitor_schedule import monitoring_baseline_uri

        bucket = self.target.bucket
        return canary.finish(
            self.sm,
            endpoint,
            variant or None,
            promote=promote,
            s3=self.s3,
            monitoring_baseline_uri=monitoring_baseline_uri(bucket) if bucket else None,
            cloudwatch=self.cloudwatch,
        ).kept.name

    def set_weights(self, endpoint: str, weights: dict[str, float]) -> None:
        self.sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": v, "DesiredWeight": w} for v, w in weights.items()],
        )

    # -- feature store ---------------------------------------------------------------------------

    def feature_groups(self) -> list[dict]:
        return self.sm.list_feature_groups(SortBy="Name", SortOrder="Ascending", MaxResults=100)[
            "FeatureGroupSummaries"
        ]

    def feature_group(self, name: str) -> dict:
        try:
            return self.sm.describe_feature_group(FeatureGroupName=name)
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("feature group", name) from None
            raise

    def get_record(self, group: str, record_id: str) -> list[dict] | None:
        reply = self.featurestore.get_record(FeatureGroupName=group, RecordIdentifierValueAsString=record_id)
        return reply.get("Record")

    def offline_rows(self, group: dict, limit: int = 20) -> tuple[str | None, list[dict]]:
        """The newest Parquet file of the offline store and its last `limit` rows."""
        uri = group.get("OfflineStoreConfig", {}).get("S3StorageConfig", {}).get("ResolvedOutputS3Uri")
        if not uri:
            return None, []
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        newest = None
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(".parquet") and (
                    newest is None or obj["LastModified"] >= newest["LastModified"]
                ):
                    newest = obj
        if newest is None:
            return uri, []
        import io

        import pyarrow.parquet as pq

        body = self.s3.get_object(Bucket=bucket, Key=newest["Key"])["Body"].read()
        table = pq.read_table(io.BytesIO(body))
        return f"s3://{bucket}/{newest['Key']}", table.slice(max(0, table.num_rows - limit)).to_pylist()

    def offline_record_count(self, group: dict, max_files: int = 1000) -> dict | None:
        """Rows the offline store holds (every put, update and delete marker, not distinct
        records), summed from each Parquet file's footer: {"rows", "files", "partial"}.
        Reads only the footers (ranged GETs, https://parquet.apache.org/docs/file-format/),
        never the data; `partial` when there are more than `max_files` files. None when the
        group has no offline store."""
        import io
        import struct

        import pyarrow.parquet as pq

        uri = group.get("OfflineStoreConfig", {}).get("S3StorageConfig", {}).get("ResolvedOutputS3Uri")
        if not uri:
            return None
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".parquet"))
        partial = len(keys) > max_files

        def rows(key: str) -> int:
            tail = self.s3.get_object(Bucket=bucket, Key=key, Range="bytes=-65536")["Body"].read()
            length = struct.unpack("<I", tail[-8:-4])[0]
            if length + 8 > len(tail):  # a footer over 64 KiB: fetch exactly it
                tail = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{length + 8}")["Body"].read()
            # The footer alone parses once it sits behind the file's leading magic bytes.
            return pq.read_metadata(io.BytesIO(b"PAR1" + tail[-(length + 8) :])).num_rows

        return {"rows": sum(self._pool.map(rows, keys[:max_files])), "files": len(keys), "partial": partial}

    # -- monitoring ------------------------------------------------------------------------------

    def drift_reports(self, endpoint: str) -> list[dict]:
        """Model Monitor's outputs under <reports>/<endpoint>/yyyy/mm/dd/hh/, newest first."""
        bucket = self.target.bucket
        if not bucket:
            return []
        prefix = f"{REPORTS_PREFIX}/{endpoint}/"
        runs: dict[str, dict] = {}
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    folder, _, name = obj["Key"].rpartition("/")
                    runs.setdefault(folder, {"prefix": folder, "files": {}})["files"][name] = obj
        except ClientError as exc:
            if is_not_found(exc):
                return []
            raise
        return sorted(runs.values(), key=lambda r: r["prefix"], reverse=True)

    def alarms(self) -> list[dict]:
        return self.cloudwatch.describe_alarms(MaxRecords=100).get("MetricAlarms", [])

    def alarm_history(self, name: str) -> list[dict]:
        return self.cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate", MaxRecords=50).get(
            "AlarmHistoryItems", []
        )

    def scheduled_rules(self) -> list[dict]:
        """Every EventBridge rule with a ScheduleExpression (ListRules, paged)."""
        out: list[dict] = []
        kwargs: dict[str, Any] = {"Limit": 100}
        while True:
            page = self.events.list_rules(**kwargs)
            out.extend(r for r in page.get("Rules", []) if r.get("ScheduleExpression"))
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def metric_names(self, namespace: str, dimensions: list[dict]) -> list[str]:
        """The metric names CloudWatch holds in `namespace` with exactly these dimensions
        (ListMetrics, paged), sorted."""
        names: set[str] = set()
        for page in self.cloudwatch.get_paginator("list_metrics").paginate(Namespace=namespace, Dimensions=dimensions):
            for metric in page.get("Metrics", []):
                if {(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])} == {
                    (d["Name"], d["Value"]) for d in dimensions
                }:
                    names.add(metric["MetricName"])
        return sorted(names)

    def dimension_values(self, namespace: str, dimensions: list[dict], name: str) -> list[str]:
        """The values the dimension `name` takes among the metrics in `namespace` that carry
        `dimensions` (ListMetrics, paged), sorted."""
        values: set[str] = set()
        for page in self.cloudwatch.get_paginator("list_metrics").paginate(Namespace=namespace, Dimensions=dimensions):
            for metric in page.get("Metrics", []):
                values.update(d["Value"] for d in metric.get("Dimensions", []) if d["Name"] == name)
        return sorted(values)

    def monitored_package(self, endpoint: str) -> str | None:
        """The model package whose baseline the drift check judges `endpoint` by (the main
        variant's, processing/deploy.monitored_package); None without one."""
        from processing import deploy

        described = deploy.describe_endpoint(self.sm, endpoint)
        return deploy.monitored_package(self.sm, described) if described else None

    def metric_series(
        self, namespace: str, metrics: list[str], dimensions: list[dict], start, end, period: int = 300
    ) -> dict[str, dict]:
        """{metric name: {"Timestamps": [...], "Values": [...]}}: each metric's Maximum per
        `period` seconds over [start, end) (GetMetricData, every page)."""
        out: dict[str, dict] = {name: {"Timestamps": [], "Values": []} for name in metrics}
        for first in range(0, len(metrics), METRIC_QUERIES_PER_CALL):
            chunk = metrics[first : first + METRIC_QUERIES_PER_CALL]
            queries = [
                {
                    "Id": f"m{i}",
                    "Label": name,
                    "ReturnData": True,
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                        "Period": period,
                        "Stat": "Maximum",
                    },
                }
                for i, name in enumerate(chunk)
            ]
            pages = self.cloudwatch.get_paginator("get_metric_data").paginate(
                MetricDataQueries=queries, StartTime=start, EndTime=end
            )
            for page in pages:
                for result in page.get("MetricDataResults", []):
                    series = out[chunk[int(result["Id"][1:])]]
                    series["Timestamps"].extend(result.get("Timestamps", []))
                    series["Values"].extend(result.get("Values", []))
        return out

    def rules(self) -> list[dict]:
        rules = self.events.list_rules(Limit=100).get("Rules", [])
        for rule in rules:
            rule["Targets"] = self.events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
        return rules
