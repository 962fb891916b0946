"""What AWS services do with the roles they are given: the calls SageMaker, Feature Store and
EventBridge make as a role, derived from the request that handed them the role.

localcloud runs these services without credentials of their own (the executor stages job inputs
on disk, the offline store is written in-process), so their needs are derived, per AWS's
documentation of each service role:

- Processing / training jobs (CreateProcessingJob / CreateTrainingJob RoleArn): read the S3
  inputs (s3:ListBucket on the prefix, s3:GetObject), write the S3 outputs (s3:PutObject), pull
  the image from ECR, write CloudWatch Logs, publish job metrics. "CreateProcessingJob API:
  Execution Role Permissions" and "CreateTrainingJob API: Execution Role Permissions",
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html
- Models (CreateModel ExecutionRoleArn), once hosted: read ModelDataUrl, pull the image, write
  logs and endpoint metrics ("CreateModel API: Execution Role Permissions", same page).
- Feature Store offline store (CreateFeatureGroup RoleArn with OfflineStoreConfig): s3:PutObject,
  s3:PutObjectAcl, s3:GetBucketAcl on the offline store location and glue:GetTable /
  glue:UpdateTable on its Glue table (AWS managed policy AmazonSageMakerFeatureStoreAccess,
  https://docs.aws.amazon.com/sagemaker/latest/dg/security-iam-awsmanpol-feature-store.html).
- EventBridge targets (PutTargets RoleArn): the call the target makes, here
  sagemaker:StartPipelineExecution on the pipeline ("Amazon SageMaker AI Pipelines as a target",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html).
- Athena queries (StartQueryExecution): the caller's Glue and S3 access (athena_query).
- SSE-KMS buckets: writing an object needs kms:GenerateDataKey, reading it kms:Decrypt, on the
  bucket's key (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from tests.support.iam.actions import Need

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"(?:\.cn)?/(?P<repo>[^:@]+)"
)
ECR_PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")


@dataclass(frozen=True)
class Attributed:
    principal: str
    need: Need


def _s3(uri: str) -> tuple[str, str]:
    bucket, _, key = str(uri).removeprefix("s3://").partition("/")
    return bucket, key


def _read_prefix(uri: str, why: str) -> list[Need]:
    bucket, key = _s3(uri)
    return [
        Need("s3:ListBucket", f"arn:aws:s3:::{bucket}", (("s3:prefix", key),), why),
        Need("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", (), why),
    ]


def _write_prefix(uri: str, why: str) -> list[Need]:
    bucket, key = _s3(uri)
    return [Need("s3:PutObject", f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/", (), why)]


def _pull(image: str | None, why: str) -> list[Need]:
    m = _ECR_IMAGE.match(str(image or ""))
    if not m:
        return []
    repo = f"arn:aws:ecr:{m['region']}:{m['account']}:repository/{m['repo']}"
    return [Need("ecr:GetAuthorizationToken", "*", (), why), *(Need(action, repo, (), why) for action in ECR_PULL)]


def _logs(account: str, region: str, group: str, stream: str, why: str) -> list[Need]:
    arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    return [
        Need("logs:CreateLogGroup", arn, (), why),
        Need("logs:DescribeLogStreams", f"{arn}:log-stream:", (), why),
        Need("logs:CreateLogStream", f"{arn}:log-stream:{stream}", (), why),
        Need("logs:PutLogEvents", f"{arn}:log-stream:{stream}", (), why),
    ]


def _metrics(namespace: str, why: str) -> list[Need]:
    return [Need("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", namespace),), why)]


def processing_job(account: str, region: str, params: dict[str, Any]) -> list[Need]:
    job = str(params.get("ProcessingJobName"))
    why = f"SageMaker runs processing job {job} as its RoleArn"
    found = []
    for item in params.get("ProcessingInputs", []):
        if "S3Input" in item:
            found += _read_prefix(item["S3Input"]["S3Uri"], f"{why}: input {item.get('InputName')}")
    for item in (params.get("ProcessingOutputConfig") or {}).get("Outputs", []):
        if "S3Output" in item:
            found += _write_prefix(item["S3Output"]["S3Uri"], f"{why}: output {item.get('OutputName')}")
    found += _pull((params.get("AppSpecification") or {}).get("ImageUri"), f"{why}: image")
    found += _logs(account, region, "/aws/sagemaker/ProcessingJobs", f"{job}/algo-1", f"{why}: logs")
    found += _metrics("/aws/sagemaker/ProcessingJobs", f"{why}: metrics")
    return found


def training_job(account: str, region: str, params: dict[str, Any]) -> list[Need]:
    job = str(params.get("TrainingJobName"))
    why = f"SageMaker runs training job {job} as its RoleArn"
    found = []
    for channel in params.get("InputDataConfig", []):
        source = (channel.get("DataSource") or {}).get("S3DataSource")
        if source:
            found += _read_prefix(source["S3Uri"], f"{why}: channel {channel.get('ChannelName')}")
    output = (params.get("OutputDataConfig") or {}).get("S3OutputPath")
    if output:
        found += _write_prefix(output, f"{why}: model artifacts")
    found += _pull((params.get("AlgorithmSpecification") or {}).get("TrainingImage"), f"{why}: image")
    found += _logs(account, region, "/aws/sagemaker/TrainingJobs", f"{job}/algo-1", f"{why}: logs")
    found += _metrics("/aws/sagemaker/TrainingJobs", f"{why}: metrics")
    return found


def model(account: str, region: str, params: dict[str, Any]) -> list[Need]:
    name = str(params.get("ModelName"))
    why = f"SageMaker hosts model {name} as its ExecutionRoleArn"
    containers = params.get("Containers") or [params.get("PrimaryContainer") or {}]
    found = []
    for container in containers:
        if container.get("ModelDataUrl"):
            bucket, key = _s3(container["ModelDataUrl"])
            found.append(Need("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", (), f"{why}: model data"))
        found += _pull(container.get("Image"), f"{why}: image")
    found += _logs(account, region, "/aws/sagemaker/Endpoints/*", f"{name}/instance", f"{why}: logs")
    found += _metrics("/aws/sagemaker/Endpoints", f"{why}: metrics")
    return found


def feature_group(account: str, region: str, params: dict[str, Any], catalog: dict[str, Any] | None) -> list[Need]:
    offline = params.get("OfflineStoreConfig")
    if not offline:
        return []
    name = str(params.get("FeatureGroupName"))
    why = f"Feature Store writes the offline store of {name} as its RoleArn"
    bucket, key = _s3(offline["S3StorageConfig"]["S3Uri"])
    found = [
        Need("s3:PutObject", f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/", (), why),
        Need("s3:PutObjectAcl", f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/", (), why),
        Need("s3:GetBucketAcl", f"arn:aws:s3:::{bucket}", (), why),
    ]
    catalog = catalog or offline.get("DataCatalogConfig")
    if catalog and not offline.get("DisableGlueTableCreation"):
        base = f"arn:aws:glue:{region}:{account}"
        for action in ("glue:GetTable", "glue:UpdateTable"):
            found += [
                Need(action, f"{base}:catalog", (), why),
                Need(action, f"{base}:database/{catalog['Database']}", (), why),
                Need(action, f"{base}:table/{catalog['Database']}/{catalog['TableName']}", (), why),
            ]
    return found


def athena_query(account: str, region: str, params: dict[str, Any]) -> list[Need]:
    """Athena reads the catalog and the data and writes the results with the calling
    principal's permissions ("Access to AWS Glue Data Catalog" and "Amazon S3 permissions",
    https://docs.aws.amazon.com/athena/latest/ug/security-iam-athena.html): glue:GetDatabase,
    glue:GetTable and glue:GetPartitions on every table the query names, and s3:GetBucketLocation,
    s3:ListBucket, s3:GetObject, s3:PutObject on the result location. The tables' own S3
    reads follow from their Glue locations, which the catalog (not the request) knows."""
    import sqlglot
    from sqlglot import exp

    why = "Athena runs the query with the caller's permissions"
    found: list[Need] = []
    output = (params.get("ResultConfiguration") or {}).get("OutputLocation")
    if output:
        bucket, key = _s3(output)
        found += [
            Need("s3:GetBucketLocation", f"arn:aws:s3:::{bucket}", (), f"{why}: results"),
            Need("s3:ListBucket", f"arn:aws:s3:::{bucket}", (("s3:prefix", key),), f"{why}: results"),
            Need("s3:PutObject", f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/", (), f"{why}: results"),
            Need("s3:GetObject", f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/", (), f"{why}: results"),
        ]
    default_db = (params.get("QueryExecutionContext") or {}).get("Database") or "default"
    try:
        tree = sqlglot.parse_one(str(params.get("QueryString", "")), read="trino")
    except sqlglot.errors.ParseError:
        return found  # Athena fails the query; it reads nothing
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    base = f"arn:aws:glue:{region}:{account}"
    for table in tree.find_all(exp.Table):
        if table.name in ctes or not table.name:
            continue
        database = table.db or default_db
        for action in ("glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"):
            found += [
                Need(action, f"{base}:catalog", (), f"{why}: table {table.name}"),
                Need(action, f"{base}:database/{database}", (), f"{why}: table {table.name}"),
            ]
            if action != "glue:GetDatabase":
                found.append(Need(action, f"{base}:table/{database}/{table.name}", (), f"{why}: table {table.name}"))
    return found


def event_targets(params: dict[str, Any]) -> list[Attributed]:
    found = []
    for target in params.get("Targets", []):
        arn, role = str(target.get("Arn", "")), target.get("RoleArn")
        if role and ":sagemaker:" in arn and ":pipeline/" in arn:
            found.append(
                Attributed(
                    role,
                    Need(
                        "sagemaker:StartPipelineExecution",
                        arn,
                        (),
                        f"EventBridge starts target {target.get('Id')} of rule {params.get('Rule')} as its RoleArn",
                    ),
                )
            )
    return found


def kms_for_s3(principal: str, need: Need, encrypted: dict[str, str]) -> list[Attributed]:
    """SSE-KMS: the key use an object read or write on an encrypted bucket implies."""
    if not need.resource.startswith("arn:aws:s3:::"):
        return []
    bucket = need.resource[len("arn:aws:s3:::") :].split("/", 1)[0]
    key = encrypted.get(bucket)
    action = {"s3:PutObject": "kms:GenerateDataKey", "s3:GetObject": "kms:Decrypt"}.get(need.action)
    if key is None or action is None:
        return []
    return [Attributed(principal, Need(action, key, (), f"{need.why}: bucket {bucket} is SSE-KMS"))]


def derived(
    principal: str,
    operation: str,
    params: dict[str, Any],
    account: str,
    region: str,
    catalog_of: Callable[[str], dict[str, Any] | None],
) -> list[Attributed]:
    """What the service handed a role by this call will do as that role."""
    if operation == "CreateProcessingJob" and params.get("RoleArn"):
        return [Attributed(params["RoleArn"], n) for n in processing_job(account, region, params)]
    if operation == "CreateTrainingJob" and params.get("RoleArn"):
        return [Attributed(params["RoleArn"], n) for n in training_job(account, region, params)]
    if operation == "CreateModel" and params.get("ExecutionRoleArn"):
        return [Attributed(params["ExecutionRoleArn"], n) for n in model(account, region, params)]
    if operation == "CreateFeatureGroup" and params.get("RoleArn"):
        catalog = catalog_of(str(params.get("FeatureGroupName")))
        return [Attributed(params["RoleArn"], n) for n in feature_group(account, region, params, catalog)]
    if operation == "PutTargets":
        return event_targets(params)
    if operation == "StartQueryExecution":
        return [Attributed(principal, n) for n in athena_query(account, region, params)]
    return []


def with_kms(items: Iterable[Attributed], encrypted: dict[str, str]) -> list[Attributed]:
    out = []
    for item in items:
        out.append(item)
        out += kms_for_s3(item.principal, item.need, encrypted)
    return out
