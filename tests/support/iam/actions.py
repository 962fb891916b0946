"""Which IAM actions, on which resources, with which condition context, each API call needs.

`needs(entry, config)` maps one line of the recorder (recorder.py) to the authorizations AWS
checks for it, from the Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/): the action, the resource
ARN(s) of its resource types, and the condition keys the request supplies. Passing a role in a
request (RoleArn, ExecutionRoleArn, a target's RoleArn) also needs iam:PassRole on that role with
iam:PassedToService (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html).

Data-driven: a new operation is one row in a table below. An operation with no row raises
Unmapped, so a new call can never pass the conformance test unexamined.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

_STS_FREE = {"GetCallerIdentity"}  # needs no permission (AWS: "no permissions are required")


class Unmapped(Exception):
    """An API call this table does not know: add its row."""


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    why: str = ""

    @property
    def context_dict(self) -> dict[str, str]:
        return dict(self.context)


@dataclass
class Arns:
    account: str
    region: str

    def sagemaker(self, kind: str, name: str) -> str:
        # SageMaker writes resource names lower-case in ARNs.
        if name.startswith("arn:"):
            return name
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"

    def events(self, kind: str, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:{kind}/{name}"


def pass_role(role: Any, service: str, why: str) -> list[Need]:
    if not role:
        return []
    return [Need("iam:PassRole", str(role), (("iam:PassedToService", service),), why)]


# -- SageMaker (JSON protocol, and the calls the Pipelines service makes itself) -------------


def _sm(kind: str, key: str, *more: tuple[str, str]) -> Callable[[Arns, dict], list[str]]:
    def resources(arns: Arns, params: dict) -> list[str]:
        found = [arns.sagemaker(kind, str(params[key]))]
        for other_kind, other_key in more:
            if params.get(other_key):
                found.append(arns.sagemaker(other_kind, str(params[other_key])))
        return found

    return resources


def _star(arns: Arns, params: dict) -> list[str]:
    return ["*"]


def _execution(arns: Arns, params: dict) -> list[str]:
    return [str(params["PipelineExecutionArn"])]


def _package(arns: Arns, params: dict) -> list[str]:
    name = str(params.get("ModelPackageName") or params.get("ModelPackageArn"))
    if name.startswith("arn:"):
        return [name]
    return [arns.sagemaker("model-package-group", name)]


def _new_package(arns: Arns, params: dict) -> list[str]:
    # The package's ARN once created: model-package/<group>/<version>, version not yet known.
    return [arns.sagemaker("model-package", f"{params['ModelPackageGroupName']}/*")]


def _tags(arns: Arns, params: dict) -> list[str]:
    return [str(params["ResourceArn"])]


SAGEMAKER: dict[str, Callable[[Arns, dict], list[str]]] = {
    **{
        op: _sm("feature-group", "FeatureGroupName")
        for op in (
            "CreateFeatureGroup",
            "DescribeFeatureGroup",
            "UpdateFeatureGroup",
            "DeleteFeatureGroup",
            "DescribeFeatureMetadata",
            "UpdateFeatureMetadata",
        )
    },
    "ListFeatureGroups": _star,
    **{
        op: _sm("pipeline", "PipelineName")
        for op in (
            "CreatePipeline",
            "UpdatePipeline",
            "DescribePipeline",
            "DeletePipeline",
            "StartPipelineExecution",
            "ListPipelineExecutions",
            "DescribePipelineDefinitionForExecution",
        )
    },
    **{
        op: _execution
        for op in (
            "DescribePipelineExecution",
            "ListPipelineExecutionSteps",
            "StopPipelineExecution",
            "RetryPipelineExecution",
            "ListPipelineParametersForExecution",
        )
    },
    "ListPipelines": _star,
    "CreateModelPackageGroup": _sm("model-package-group", "ModelPackageGroupName"),
    "DescribeModelPackageGroup": _sm("model-package-group", "ModelPackageGroupName"),
    "CreateModelPackage": _new_package,
    "DescribeModelPackage": _package,
    "UpdateModelPackage": _package,
    "ListModelPackages": _star,
    "ListModelPackageGroups": _star,
    **{op: _sm("model", "ModelName") for op in ("CreateModel", "DescribeModel", "DeleteModel")},
    **{
        op: _sm("endpoint-config", "EndpointConfigName")
        for op in ("CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig")
    },
    # CreateEndpoint / UpdateEndpoint authorise on the endpoint and on its config.
    "CreateEndpoint": _sm("endpoint", "EndpointName", ("endpoint-config", "EndpointConfigName")),
    "UpdateEndpoint": _sm("endpoint", "EndpointName", ("endpoint-config", "EndpointConfigName")),
    **{
        op: _sm("endpoint", "EndpointName")
        for op in ("DescribeEndpoint", "DeleteEndpoint", "UpdateEndpointWeightsAndCapacities")
    },
    "ListEndpoints": _star,
    "ListEndpointConfigs": _star,
    "ListModels": _star,
    **{
        op: _sm("processing-job", "ProcessingJobName")
        for op in ("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob")
    },
    **{
        op: _sm("training-job", "TrainingJobName")
        for op in ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob")
    },
    "ListProcessingJobs": _star,
    "ListTrainingJobs": _star,
    "AddTags": _tags,
    "ListTags": _tags,
    "DeleteTags": _tags,
}

# Operations that pass a role: (parameter path, service the role is passed to).
PASSES_ROLE: dict[str, tuple[tuple[str, ...], str]] = {
    "CreatePipeline": (("RoleArn",), "sagemaker.amazonaws.com"),
    "UpdatePipeline": (("RoleArn",), "sagemaker.amazonaws.com"),
    "CreateFeatureGroup": (("RoleArn",), "sagemaker.amazonaws.com"),
    "CreateModel": (("ExecutionRoleArn",), "sagemaker.amazonaws.com"),
    "CreateProcessingJob": (("RoleArn",), "sagemaker.amazonaws.com"),
    "CreateTrainingJob": (("RoleArn",), "sagemaker.amazonaws.com"),
}


def sagemaker_needs(arns: Arns, operation: str, params: dict[str, Any], why: str) -> list[Need]:
    resources = SAGEMAKER.get(operation)
    if resources is None:
        raise Unmapped(f"sagemaker:{operation}")
    found = [Need(f"sagemaker:{operation}", r, (), why) for r in resources(arns, params)]
    if operation in PASSES_ROLE:
        path, service = PASSES_ROLE[operation]
        value: Any = params
        for key in path:
            value = (value or {}).get(key)
        found += pass_role(value, service, f"{why}: {operation} passes {value}")
    return found


# -- SageMaker REST runtimes (feature store, endpoints) ----------------------------------------


def sagemaker_rest_needs(arns: Arns, method: str, path: str, body: dict[str, Any], why: str) -> list[Need]:
    parts = [p for p in path.split("/") if p]
    if len(parts) == 3 and parts[0] == "endpoints" and parts[2] in ("invocations", "async-invocations"):
        return [Need("sagemaker:InvokeEndpoint", arns.sagemaker("endpoint", parts[1]), (), why)]
    if len(parts) == 2 and parts[0] == "FeatureGroup":
        operation = {"PUT": "PutRecord", "GET": "GetRecord", "DELETE": "DeleteRecord"}.get(method)
        if operation:
            return [Need(f"sagemaker:{operation}", arns.sagemaker("feature-group", parts[1]), (), why)]
    if len(parts) == 4 and parts[:2] == ["localcloud", "FeatureGroup"] and parts[3] == "records":
        # localcloud's bulk ingest (processing/bulk_ingest.py): on AWS the same rows go in
        # through PutRecord, so it needs what PutRecord needs.
        return [Need("sagemaker:PutRecord", arns.sagemaker("feature-group", parts[2]), (), why)]
    if parts == ["BatchGetRecord"]:
        groups = dict.fromkeys(str(i["FeatureGroupName"]) for i in body.get("Identifiers", []))
        return [Need("sagemaker:BatchGetRecord", arns.sagemaker("feature-group", g), (), why) for g in groups]
    raise Unmapped(f"sagemaker {method} {path}")


# -- S3 (REST, path-style) -----------------------------------------------------------------------

_BUCKET_QUERY = {
    "location": "s3:GetBucketLocation",
    "acl": "s3:GetBucketAcl",
    "versioning": "s3:GetBucketVersioning",
    "uploads": "s3:ListBucketMultipartUploads",
    "versions": "s3:ListBucketVersions",
    "tagging": "s3:GetBucketTagging",
    "encryption": "s3:GetEncryptionConfiguration",
    "policy": "s3:GetBucketPolicy",
}


def s3_needs(method: str, path: str, query: str, body: str, headers: dict[str, str], why: str) -> list[Need]:
    bucket, _, key = path.lstrip("/").partition("/")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    q = parse_qs(query, keep_blank_values=True)
    if not bucket:
        return [Need("s3:ListAllMyBuckets", "*", (), why)]
    if not key:
        if method == "GET":
            for name, action in _BUCKET_QUERY.items():
                if name in q:
                    return [Need(action, bucket_arn, (), why)]
            prefix = (q.get("prefix") or [""])[0]
            return [Need("s3:ListBucket", bucket_arn, (("s3:prefix", prefix),), why)]
        if method == "HEAD":
            return [Need("s3:ListBucket", bucket_arn, (), why)]
        if method == "PUT":
            return [Need("s3:CreateBucket", bucket_arn, (), why)]
        if method == "DELETE":
            return [Need("s3:DeleteBucket", bucket_arn, (), why)]
        if method == "POST" and "delete" in q:
            keys = re.findall(r"<Key>(.*?)</Key>", body, re.DOTALL)
            return [Need("s3:DeleteObject", f"{bucket_arn}/{_xml_text(k)}", (), why) for k in keys]
        raise Unmapped(f"s3 {method} /{bucket}?{query}")
    object_arn = f"{bucket_arn}/{key}"
    if method in ("GET", "HEAD"):
        action = (
            "s3:GetObjectAcl"
            if "acl" in q
            else "s3:GetObjectTagging"
            if "tagging" in q
            else "s3:ListMultipartUploadParts"
            if "uploadId" in q
            else "s3:GetObject"
        )
        return [Need(action, object_arn, (), why)]
    if method == "PUT":
        if "acl" in q:
            return [Need("s3:PutObjectAcl", object_arn, (), why)]
        if "tagging" in q:
            return [Need("s3:PutObjectTagging", object_arn, (), why)]
        found = [Need("s3:PutObject", object_arn, (), why)]
        source = headers.get("x-amz-copy-source")
        if source:  # CopyObject / UploadPartCopy also read the source
            found.append(Need("s3:GetObject", f"arn:aws:s3:::{unquote(source).lstrip('/')}", (), why))
        return found
    if method == "POST":  # CreateMultipartUpload, CompleteMultipartUpload
        return [Need("s3:PutObject", object_arn, (), why)]
    if method == "DELETE":
        action = "s3:AbortMultipartUpload" if "uploadId" in q else "s3:DeleteObject"
        return [Need(action, object_arn, (), why)]
    raise Unmapped(f"s3 {method} {path}")


def _xml_text(text: str) -> str:
    from xml.sax.saxutils import unescape

    return unescape(text, {"&quot;": '"', "&apos;": "'"})


# -- EventBridge, IAM, STS, CloudWatch, Athena, Glue, Application Auto Scaling --------------


def events_needs(arns: Arns, operation: str, params: dict[str, Any], why: str) -> list[Need]:
    bus = str(params.get("EventBusName") or "default")
    if operation in ("PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule"):
        return [Need(f"events:{operation}", arns.events("rule", str(params["Name"])), (), why)]
    if operation in ("PutTargets", "RemoveTargets", "ListTargetsByRule"):
        found = [Need(f"events:{operation}", arns.events("rule", str(params["Rule"])), (), why)]
        for target in params.get("Targets", []) if operation == "PutTargets" else []:
            found += pass_role(
                target.get("RoleArn"), "events.amazonaws.com", f"{why}: target {target.get('Id')} passes its RoleArn"
            )
        return found
    if operation == "PutEvents":
        buses = dict.fromkeys(str(e.get("EventBusName") or "default") for e in params.get("Entries", []))
        return [Need("events:PutEvents", arns.events("event-bus", b), (), why) for b in buses]
    if operation in ("ListRules",):
        return [Need("events:ListRules", "*", (), why)]
    if operation in ("DescribeEventBus",):
        return [Need("events:DescribeEventBus", arns.events("event-bus", bus), (), why)]
    raise Unmapped(f"events:{operation}")


_ALARM_ACTIONS = ("DescribeAlarms", "PutMetricAlarm", "SetAlarmState")


def alarm_needs(arns: Arns, operation: str, params: dict[str, Any], why: str) -> list[Need]:
    """CloudWatch's alarm actions on the alarms they name (resource type alarm, Service
    Authorization Reference); a DescribeAlarms by AlarmNamePrefix on `<prefix>*`. Takes the
    query protocol's flattened AlarmNames.member.N as well as the JSON list."""
    names = [params["AlarmName"]] if params.get("AlarmName") else []
    listed = params.get("AlarmNames")
    names += list(listed) if isinstance(listed, list) else []
    names += [v for k, v in params.items() if k.startswith("AlarmNames.member.")]
    if params.get("AlarmNamePrefix"):
        names.append(f"{params['AlarmNamePrefix']}*")
    arn = f"arn:aws:cloudwatch:{arns.region}:{arns.account}:alarm:"
    return [Need(f"cloudwatch:{operation}", f"{arn}{name}", (), why) for name in names or ["*"]]


def query_needs(arns: Arns, service: str, params: dict[str, str], why: str) -> list[Need]:
    operation = params.get("Action", "")
    if service == "sts" and operation in _STS_FREE:
        return []
    if service == "iam":
        if operation in (
            "GetRole",
            "CreateRole",
            "DeleteRole",
            "PutRolePolicy",
            "GetRolePolicy",
            "ListRolePolicies",
            "DeleteRolePolicy",
        ):
            return [Need(f"iam:{operation}", f"arn:aws:iam::{arns.account}:role/{params['RoleName']}", (), why)]
        if operation == "SimulatePrincipalPolicy":
            return [Need("iam:SimulatePrincipalPolicy", params["PolicySourceArn"], (), why)]
    if service == "monitoring" and operation == "PutMetricData":
        return [Need("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", params.get("Namespace", "")),), why)]
    if service == "monitoring" and operation in _ALARM_ACTIONS:
        return alarm_needs(arns, operation, params, why)
    raise Unmapped(f"{service}:{operation}")


def json_target_needs(arns: Arns, service: str, operation: str, params: dict[str, Any], why: str) -> list[Need]:
    if service == "events":
        return events_needs(arns, operation, params, why)
    if service == "monitoring":  # CloudWatch's JSON protocol
        if operation == "PutMetricData":
            return [
                Need(
                    "cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", str(params.get("Namespace", ""))),), why
                )
            ]
        if operation in _ALARM_ACTIONS:
            return alarm_needs(arns, operation, params, why)
        return [Need(f"cloudwatch:{operation}", "*", (), why)]
    if service == "athena":
        workgroup = str(params.get("WorkGroup") or "primary")
        return [
            Need(f"athena:{operation}", f"arn:aws:athena:{arns.region}:{arns.account}:workgroup/{workgroup}", (), why)
        ]
    if service == "glue":
        # Glue authorises on the catalog, the database and the table (Service Authorization
        # Reference, AWS Glue: "resource types" of GetTable, GetPartitions, GetDatabase...).
        catalog = f"arn:aws:glue:{arns.region}:{arns.account}"
        found = [Need(f"glue:{operation}", f"{catalog}:catalog", (), why)]
        if operation.endswith(("Database", "Databases")):
            database, table = params.get("Name") or params.get("DatabaseName"), None
        else:
            database = params.get("DatabaseName")
            table = params.get("TableName") or params.get("Name")
        if database:
            found.append(Need(f"glue:{operation}", f"{catalog}:database/{database}", (), why))
        if database and table:
            found.append(Need(f"glue:{operation}", f"{catalog}:table/{database}/{table}", (), why))
        return found
    if service == "application-autoscaling":
        return [Need(f"application-autoscaling:{operation}", "*", (), why)]
    raise Unmapped(f"{service}:{operation}")


# -- one recorded entry ------------------------------------------------------------------------


def needs(entry: dict[str, Any], account: str, region: str) -> list[Need]:
    """The authorizations one recorder entry needs (see module docstring). Raises Unmapped."""
    arns = Arns(account, region)
    service = entry["service"]
    if entry["kind"] == "call":
        why = f"{entry['via']}: {service}:{entry['operation']}"
        if service == "sagemaker":
            return sagemaker_needs(arns, entry["operation"], entry["params"], why)
        return json_target_needs(arns, service, entry["operation"], entry["params"], why)
    method, path, query, body = entry["method"], entry["path"], entry["query"], entry["body"]
    why = f"{method} {path}{'?' + query if query else ''}"
    if service == "s3":
        return s3_needs(method, path, query, body, entry.get("headers") or {}, why)
    if service in ("sts", "iam") or (service == "monitoring" and not entry["target"]):
        params = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        params.update({k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()})
        return query_needs(arns, service, params, f"{service}:{params.get('Action')}")
    params = json.loads(body) if body.strip().startswith("{") else {}
    target = entry["target"]
    if service == "sagemaker":
        if target.startswith("SageMaker."):
            operation = target.split(".", 1)[1]
            return sagemaker_needs(arns, operation, params, f"sagemaker:{operation}")
        return sagemaker_rest_needs(arns, method, path, params, why)
    if target:
        operation = target.rsplit(".", 1)[-1]
        return json_target_needs(arns, service, operation, params, f"{service}:{operation}")
    raise Unmapped(f"{service} {method} {path}")


# Evaluate's MLflow logging (processing/mlflow_log.py) to a SageMaker managed MLflow tracking
# server: each MLflow REST endpoint the client calls (mlflow/protos/service.proto) and the
# sagemaker-mlflow action SageMaker authorizes it as, on the tracking server's ARN (Service
# Authorization Reference, "Actions defined by Amazon SageMaker with MLflow":
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemakerwithmlflow.html).
MLFLOW_REST: dict[tuple[str, str], str] = {
    ("GET", "/api/2.0/mlflow/experiments/get"): "sagemaker-mlflow:GetExperiment",
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"): "sagemaker-mlflow:GetExperimentByName",
    ("POST", "/api/2.0/mlflow/experiments/create"): "sagemaker-mlflow:CreateExperiment",
    ("POST", "/api/2.0/mlflow/runs/create"): "sagemaker-mlflow:CreateRun",
    ("GET", "/api/2.0/mlflow/runs/get"): "sagemaker-mlflow:GetRun",
    ("POST", "/api/2.0/mlflow/runs/update"): "sagemaker-mlflow:UpdateRun",
    ("POST", "/api/2.0/mlflow/runs/log-batch"): "sagemaker-mlflow:LogBatch",
    ("POST", "/api/2.0/mlflow/runs/log-metric"): "sagemaker-mlflow:LogMetric",
    ("POST", "/api/2.0/mlflow/runs/log-parameter"): "sagemaker-mlflow:LogParam",
    ("POST", "/api/2.0/mlflow/runs/set-tag"): "sagemaker-mlflow:SetTag",
}


def mlflow_needs(calls: list[tuple[str, str]], server_arn: str) -> list[Need]:
    """The authorizations for MLflow REST calls (method, path) on the tracking server
    `server_arn`; Unmapped for a call MLFLOW_REST has no row for."""
    found = []
    for method, path in calls:
        action = MLFLOW_REST.get((method, path))
        if action is None:
            raise Unmapped(f"MLflow REST call {method} {path}: add its row to MLFLOW_REST")
        found.append(Need(action, server_arn, (), f"Evaluate's MLflow logging calls {method} {path}"))
    return found
