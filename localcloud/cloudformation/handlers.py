"""Resource handlers: each creates, updates and deletes one AWS resource type through the
localcloud service that owns it (`cloud.iam`, `cloud.s3`, `cloud.sagemaker`, the in-process
`cloud.client("events")` / `cloud.client("cloudwatch")`), never writing another service's state.

A handler names the properties it passes to its service (`emulated`) and those it accepts and
keeps on the stack's resource record only (`recorded`; each handler's docstring says why that
is not more lenient than AWS). The stack refuses any other property: one AWS's schema does not
have as CloudFormation words it ("Encountered unsupported property Foo"), one AWS has but
localcloud does not emulate naming it ("Property Foo of AWS::X::Y is not supported locally
(localcloud)"). A type without a handler fails the stack: "Resource type AWS::X::Y is not
supported locally (localcloud)".

Types that have no localcloud service yet (Logs log groups, ECR repositories, KMS keys and
aliases) are records held by CloudFormation itself (kind `cfn-record`), with AWS's names,
uniqueness and attributes, so a second stack cannot take the same name and references resolve
as on AWS.

Return values (Ref and Fn::GetAtt) are those of the AWS resource and property types reference
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-template-resource-type-ref.html).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from localcloud.errors import AwsError

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

RECORD = "cfn-record"


class HandlerError(Exception):
    """A resource operation failed; `message` is the resource event's ResourceStatusReason,
    `code` CloudFormation's HandlerErrorCode (InvalidRequest, AlreadyExists, NotFound, ...)."""

    def __init__(self, message: str, code: str = "InvalidRequest"):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass
class Created:
    physical_id: str
    attributes: dict[str, Any]


@dataclass
class Context:
    """What a handler knows of the operation: the cloud, the stack and the resource."""

    cloud: LocalCloud
    stack_name: str
    logical_id: str

    @property
    def account(self) -> str:
        return self.cloud.config.account_id

    @property
    def region(self) -> str:
        return self.cloud.config.region

    def generated_name(self, limit: int, lower: bool = False) -> str:
        """CloudFormation's name for an unnamed resource: <stack>-<logical id>-<random suffix>,
        the first two parts cut so it fits `limit`."""
        alphabet = string.ascii_lowercase + string.digits if lower else string.ascii_uppercase + string.digits
        suffix = "".join(secrets.choice(alphabet) for _ in range(12))
        head = f"{self.stack_name}-{self.logical_id}"[: limit - len(suffix) - 1]
        name = f"{head}-{suffix}"
        return name.lower() if lower else name

    # -- records CloudFormation holds for types without a localcloud service -------------------
    def record(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.cloud.state.get(RECORD, f"{kind}/{name}")

    def put_record(self, kind: str, name: str, doc: dict[str, Any], *, new: bool) -> None:
        with self.cloud.state.transaction():
            if new and self.record(kind, name) is not None:
                raise _already_exists(kind, name)
            self.cloud.state.put(RECORD, f"{kind}/{name}", doc)

    def delete_record(self, kind: str, name: str) -> None:
        self.cloud.state.delete(RECORD, f"{kind}/{name}")


def _already_exists(kind: str, name: str) -> HandlerError:
    return HandlerError(f"Resource of type '{kind}' with identifier '{name}' already exists.", "AlreadyExists")


def _service_error(error: AwsError) -> HandlerError:
    return HandlerError(error.message, error.code)


def _json_document(value: Any, what: str) -> dict[str, Any]:
    document = json.loads(value) if isinstance(value, str) else value
    if not isinstance(document, dict) or "Statement" not in document:
        raise HandlerError(f"{what} must be a JSON object with a Statement", "InvalidRequest")
    return document


class Handler:
    """One resource type. `create` returns the physical id (what Ref answers) and the
    attributes (what Fn::GetAtt answers); `update` (properties that do not force a replacement
    changed) returns the new attributes; `delete` removes the resource."""

    type: ClassVar[str]
    emulated: ClassVar[frozenset[str]] = frozenset()
    recorded: ClassVar[frozenset[str]] = frozenset()

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        raise NotImplementedError

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        raise HandlerError(f"Updating {self.type} in place is not supported locally (localcloud)")

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        raise NotImplementedError


class IamRole(Handler):
    """AWS::IAM::Role through `cloud.iam`: the role, its trust policy and inline policies.
    ManagedPolicyArns, PermissionsBoundary, MaxSessionDuration, Description and Tags are not
    modelled by localcloud's IAM (its policy evaluation reads inline policies only), so a
    template that sets them fails naming the property.

    A role IAM created at start from infra/ml-gateway.yaml (the local account's starting roles,
    the stand-in for this very stack) is taken over by the stack that declares it instead of
    failing as "already exists" (IamBackend.adopt_starting_role), and gives it back to IAM when
    it deletes it (IamBackend.restore_starting_role), so a stack rolled back or deleted never
    leaves the local run without the roles it is given."""

    type = "AWS::IAM::Role"
    emulated = frozenset({"RoleName", "AssumeRolePolicyDocument", "Policies", "Path"})

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        name = props.get("RoleName") or ctx.generated_name(64)
        trust = _json_document(props["AssumeRolePolicyDocument"], "AssumeRolePolicyDocument")
        policies = self._policies(props)
        iam = ctx.cloud.iam
        try:
            doc = iam.create_role(name, json.dumps(trust), props.get("Path", "/"))
        except AwsError as error:
            if error.code != "EntityAlreadyExists" or not iam.adopt_starting_role(name):
                if error.code == "EntityAlreadyExists":
                    raise _already_exists(self.type, name) from None
                raise _service_error(error) from None
            iam.update_assume_role_policy(name, json.dumps(trust))
            doc = iam.get_role(name)
            for stale in set(doc["Policies"]) - set(policies):
                iam.delete_role_policy(name, stale)
        try:
            for policy_name, document in policies.items():
                iam.put_role_policy(name, policy_name, json.dumps(document))
        except AwsError as error:
            raise _service_error(error) from None
        return Created(name, {"Arn": doc["Arn"], "RoleId": doc["RoleId"]})

    @staticmethod
    def _policies(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out = {}
        for item in props.get("Policies", []):
            if "PolicyName" not in item or "PolicyDocument" not in item:
                raise HandlerError("Policies: each policy needs PolicyName and PolicyDocument")
            out[item["PolicyName"]] = _json_document(item["PolicyDocument"], f"Policy {item['PolicyName']}")
        return out

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        iam = ctx.cloud.iam
        policies = self._policies(new)
        try:
            iam.update_assume_role_policy(
                physical_id, json.dumps(_json_document(new["AssumeRolePolicyDocument"], "AssumeRolePolicyDocument"))
            )
            for stale in set(iam.get_role(physical_id)["Policies"]) - set(policies):
                iam.delete_role_policy(physical_id, stale)
            for policy_name, document in policies.items():
                iam.put_role_policy(physical_id, policy_name, json.dumps(document))
            doc = iam.get_role(physical_id)
        except AwsError as error:
            raise _service_error(error) from None
        return {"Arn": doc["Arn"], "RoleId": doc["RoleId"]}

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        iam = ctx.cloud.iam
        try:
            for policy_name in list(iam.get_role(physical_id)["Policies"]):
                iam.delete_role_policy(physical_id, policy_name)
            iam.delete_role(physical_id)
            iam.restore_starting_role(physical_id)
        except AwsError as error:
            if error.code != "NoSuchEntity":  # already gone: CloudFormation's delete succeeds
                raise _service_error(error) from None


class S3Bucket(Handler):
    """AWS::S3::Bucket through `cloud.s3`. Recorded, not acted on: BucketEncryption (the
    local object store keeps objects on the local disk unencrypted; nothing is readable
    without the local credentials), VersioningConfiguration and LifecycleConfiguration
    (localcloud's S3 keeps one version; noncurrent-version expiry has nothing to expire),
    PublicAccessBlockConfiguration and OwnershipControls (localcloud's S3 has no ACLs and no
    anonymous access, so both only forbid what it never allows), Tags."""

    type = "AWS::S3::Bucket"
    emulated = frozenset({"BucketName"})
    recorded = frozenset(
        {
            "BucketEncryption",
            "VersioningConfiguration",
            "LifecycleConfiguration",
            "PublicAccessBlockConfiguration",
            "OwnershipControls",
            "Tags",
        }
    )

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        name = props.get("BucketName") or ctx.generated_name(63, lower=True)
        s3 = ctx.cloud.s3
        try:
            if s3.bucket_exists(name):
                raise _already_exists(self.type, name)
            s3.create_bucket(name)
        except AwsError as error:
            raise _service_error(error) from None
        return Created(name, self._attributes(ctx, name))

    @staticmethod
    def _attributes(ctx: Context, name: str) -> dict[str, Any]:
        r = ctx.region
        return {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{r}.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{r}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{r}.amazonaws.com",
        }

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        return self._attributes(ctx, physical_id)  # only recorded properties changed

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        s3 = ctx.cloud.s3
        if not s3.bucket_exists(physical_id):
            return
        try:
            s3.delete_bucket(physical_id)
        except AwsError as error:
            raise _service_error(error) from None


class S3BucketPolicy(Handler):
    """AWS::S3::BucketPolicy: the bucket must exist in `cloud.s3` and the policy be a policy
    document. Recorded, not evaluated: localcloud's S3 authorises by the caller's identity
    policies (IAM), not by bucket policies; the template's one statement denies requests
    without TLS (aws:SecureTransport), and localcloud serves plain HTTP on 127.0.0.1."""

    type = "AWS::S3::BucketPolicy"
    recorded = frozenset({"Bucket", "PolicyDocument"})

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        self._check(ctx, props)
        return Created(props["Bucket"], {})

    def _check(self, ctx: Context, props: dict[str, Any]) -> None:
        if not ctx.cloud.s3.bucket_exists(props["Bucket"]):
            raise HandlerError("The specified bucket does not exist", "NotFound")
        _json_document(props["PolicyDocument"], "PolicyDocument")

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        self._check(ctx, new)
        return {}

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        return None  # the policy goes with the record


_LOG_RETENTION = {
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
}


def _key_record(ctx: Context, key: str) -> dict[str, Any] | None:
    """A KMS key held by CloudFormation, by key id or key ARN."""
    key_id = key.rsplit("/", 1)[-1] if key.startswith("arn:") else key
    return ctx.record(KmsKey.type, key_id)


class LogsLogGroup(Handler):
    """AWS::Logs::LogGroup, a record held by CloudFormation (localcloud has no CloudWatch Logs
    yet): the name is unique, RetentionInDays one of the values Logs accepts
    (PutRetentionPolicy), KmsKeyId a key of this account. Nothing writes logs to it locally."""

    type = "AWS::Logs::LogGroup"
    emulated = frozenset({"LogGroupName", "RetentionInDays", "KmsKeyId", "Tags"})

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        name = props.get("LogGroupName") or ctx.generated_name(512)
        self._check(ctx, props)
        ctx.put_record(self.type, name, {"LogGroupName": name, **props}, new=True)
        return Created(name, {"Arn": f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{name}:*"})

    def _check(self, ctx: Context, props: dict[str, Any]) -> None:
        retention = props.get("RetentionInDays")
        if retention is not None and retention not in _LOG_RETENTION:
            raise HandlerError(f"Invalid value for RetentionInDays: {retention}")
        key = props.get("KmsKeyId")
        if key is not None and _key_record(ctx, str(key)) is None:
            raise HandlerError(f"Specified KMS key {key} does not exist", "NotFound")

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        self._check(ctx, new)
        ctx.put_record(self.type, physical_id, {"LogGroupName": physical_id, **new}, new=False)
        return {"Arn": f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{physical_id}:*"}

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        ctx.delete_record(self.type, physical_id)


_REPOSITORY_NAME = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")


class EcrRepository(Handler):
    """AWS::ECR::Repository, a record held by CloudFormation (localcloud has no ECR: images are
    environments built from their definitions, localcloud/sagemaker/images.py). The name is
    checked against ECR's pattern and is unique; the LifecyclePolicyText must be JSON; the
    other settings (scanning, tag mutability, encryption, EmptyOnDelete) are recorded."""

    type = "AWS::ECR::Repository"
    emulated = frozenset({"RepositoryName", "LifecyclePolicy"})
    recorded = frozenset(
        {"ImageScanningConfiguration", "ImageTagMutability", "EncryptionConfiguration", "EmptyOnDelete", "Tags"}
    )

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        name = props.get("RepositoryName") or ctx.generated_name(256, lower=True)
        self._check(name, props)
        ctx.put_record(self.type, name, {"RepositoryName": name, **props}, new=True)
        return Created(name, self._attributes(ctx, name))

    @staticmethod
    def _check(name: str, props: dict[str, Any]) -> None:
        if not 2 <= len(name) <= 256 or not _REPOSITORY_NAME.fullmatch(name):
            raise HandlerError(
                f"Invalid parameter at 'repositoryName' failed to satisfy constraint: "
                f"'must satisfy regular expression '{_REPOSITORY_NAME.pattern}''"
            )
        text = (props.get("LifecyclePolicy") or {}).get("LifecyclePolicyText")
        if text is not None:
            try:
                json.loads(text)
            except ValueError:
                raise HandlerError(
                    "Invalid parameter at 'LifecyclePolicyText' failed to "
                    "satisfy constraint: 'Lifecycle policy validation failure'"
                ) from None

    @staticmethod
    def _attributes(ctx: Context, name: str) -> dict[str, Any]:
        return {
            "Arn": f"arn:aws:ecr:{ctx.region}:{ctx.account}:repository/{name}",
            "RepositoryUri": f"{ctx.account}.dkr.ecr.{ctx.region}.amazonaws.com/{name}",
        }

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        self._check(physical_id, new)
        ctx.put_record(self.type, physical_id, {"RepositoryName": physical_id, **new}, new=False)
        return self._attributes(ctx, physical_id)

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        ctx.delete_record(self.type, physical_id)


class KmsKey(Handler):
    """AWS::KMS::Key, a record held by CloudFormation (localcloud has no KMS yet: nothing is
    encrypted locally): a key id (a UUID, as KMS makes them), its key policy (a policy
    document), description and rotation setting. Ref is the key id."""

    type = "AWS::KMS::Key"
    emulated = frozenset({"Description", "EnableKeyRotation", "KeyPolicy", "Enabled", "KeyUsage", "KeySpec", "Tags"})

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        if "KeyPolicy" in props:
            _json_document(props["KeyPolicy"], "KeyPolicy")
        key_id = str(uuid.uuid4())
        ctx.put_record(self.type, key_id, {"KeyId": key_id, **props}, new=True)
        return Created(key_id, self._attributes(ctx, key_id))

    @staticmethod
    def _attributes(ctx: Context, key_id: str) -> dict[str, Any]:
        return {"Arn": f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{key_id}", "KeyId": key_id}

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        if "KeyPolicy" in new:
            _json_document(new["KeyPolicy"], "KeyPolicy")
        ctx.put_record(self.type, physical_id, {"KeyId": physical_id, **new}, new=False)
        return self._attributes(ctx, physical_id)

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        ctx.delete_record(self.type, physical_id)


class KmsAlias(Handler):
    """AWS::KMS::Alias, a record held by CloudFormation: AliasName starts with `alias/` and
    not `alias/aws/` (reserved for AWS managed keys), is unique, and names a key this account
    has (TargetKeyId: key id or ARN). Ref is the alias name."""

    type = "AWS::KMS::Alias"
    emulated = frozenset({"AliasName", "TargetKeyId"})

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        name = props["AliasName"]
        if not re.fullmatch(r"alias/[a-zA-Z0-9:/_-]+", name) or name.startswith("alias/aws/"):
            raise HandlerError(f'Alias must start with the prefix "alias/" and not "alias/aws/": {name}')
        self._check(ctx, props)
        ctx.put_record(self.type, name, dict(props), new=True)
        return Created(name, {})

    def _check(self, ctx: Context, props: dict[str, Any]) -> None:
        if _key_record(ctx, str(props["TargetKeyId"])) is None:
            raise HandlerError(f"Invalid keyId {props['TargetKeyId']}", "NotFound")

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        self._check(ctx, new)
        ctx.put_record(self.type, physical_id, dict(new), new=False)
        return {}

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        ctx.delete_record(self.type, physical_id)


class ModelPackageGroup(Handler):
    """AWS::SageMaker::ModelPackageGroup through `cloud.sagemaker` (the model registry). Ref
    is the group's ARN, as AWS's. ModelPackageGroupPolicy (cross-account access) is not
    modelled and fails naming it."""

    type = "AWS::SageMaker::ModelPackageGroup"
    emulated = frozenset({"ModelPackageGroupName", "ModelPackageGroupDescription", "Tags"})

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        try:
            arn = ctx.cloud.sagemaker.create_model_package_group(
                name=props["ModelPackageGroupName"],
                description=props.get("ModelPackageGroupDescription"),
                tags=props.get("Tags"),
            )
            doc = ctx.cloud.sagemaker.describe_model_package_group(name=props["ModelPackageGroupName"])
        except AwsError as error:
            raise _service_error(error) from None
        return Created(
            arn,
            {
                "ModelPackageGroupArn": arn,
                "CreationTime": str(doc.get("CreationTime")),
                "ModelPackageGroupStatus": doc.get("ModelPackageGroupStatus"),
            },
        )

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        try:
            ctx.cloud.sagemaker.delete_model_package_group(name=props["ModelPackageGroupName"])
        except AwsError as error:
            if "does not exist" not in error.message:
                raise _service_error(error) from None


class EventsRule(Handler):
    """AWS::Events::Rule through EventBridge (`cloud.client("events")`: PutRule, PutTargets with
    botocore's validation). localcloud's EventBridge delivers to SageMaker pipelines only, so
    any other target (a Lambda function, an SNS topic) fails the resource naming its Arn."""

    type = "AWS::Events::Rule"
    emulated = frozenset(
        {"Name", "Description", "EventPattern", "ScheduleExpression", "State", "RoleArn", "EventBusName", "Targets"}
    )

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        name = props.get("Name") or ctx.generated_name(64)
        events = ctx.cloud.client("events")
        bus = {"EventBusName": props["EventBusName"]} if props.get("EventBusName") else {}
        try:
            existing = events.list_rules(NamePrefix=name, **bus)["Rules"]
        except AwsError as error:
            raise _service_error(error) from None
        if any(rule["Name"] == name for rule in existing):
            raise _already_exists(self.type, name)
        return Created(name, self._put(ctx, name, props, []))

    def _put(self, ctx: Context, name: str, props: dict[str, Any], old_targets: list[dict[str, Any]]) -> dict[str, Any]:
        targets = props.get("Targets", [])
        for target in targets:
            arn = str(target.get("Arn", ""))
            if not re.fullmatch(r"arn:aws[a-z-]*:sagemaker:[^:]+:\d{12}:pipeline/.+", arn):
                raise HandlerError(
                    f"Target {target.get('Id')}: {arn} is not supported locally (localcloud's EventBridge "
                    f"delivers to SageMaker pipelines only)"
                )
        events = ctx.cloud.client("events")
        pattern = props.get("EventPattern")
        rule: dict[str, Any] = {
            "Name": name,
            "EventPattern": json.dumps(pattern) if isinstance(pattern, dict) else pattern,
            "ScheduleExpression": props.get("ScheduleExpression"),
            "State": props.get("State"),
            "Description": props.get("Description"),
            "RoleArn": props.get("RoleArn"),
            "EventBusName": props.get("EventBusName"),
        }
        bus = {"EventBusName": props["EventBusName"]} if props.get("EventBusName") else {}
        try:
            arn = events.put_rule(**{k: v for k, v in rule.items() if v is not None})["RuleArn"]
            gone = {t["Id"] for t in old_targets} - {t["Id"] for t in targets}
            if gone:
                events.remove_targets(Rule=name, Ids=sorted(gone), **bus)
            if targets:
                events.put_targets(Rule=name, Targets=targets, **bus)
        except AwsError as error:
            raise _service_error(error) from None
        return {"Arn": arn}

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        return self._put(ctx, physical_id, new, old.get("Targets", []))

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        events = ctx.cloud.client("events")
        bus = {"EventBusName": props["EventBusName"]} if props.get("EventBusName") else {}
        try:
            ids = [t["Id"] for t in props.get("Targets", [])]
            if ids:
                events.remove_targets(Rule=physical_id, Ids=ids, **bus)
            events.delete_rule(Name=physical_id, **bus)
        except AwsError as error:
            if error.code != "ResourceNotFoundException":
                raise _service_error(error) from None


class CloudWatchAlarm(Handler):
    """AWS::CloudWatch::Alarm through CloudWatch (`cloud.client("cloudwatch")`: PutMetricAlarm
    with botocore's validation). CloudWatch's own refusals stand: localcloud refuses alarms it
    cannot evaluate (metric math `Metrics`, percentiles), naming the property."""

    type = "AWS::CloudWatch::Alarm"
    emulated = frozenset(
        {
            "AlarmName",
            "AlarmDescription",
            "ActionsEnabled",
            "AlarmActions",
            "OKActions",
            "InsufficientDataActions",
            "MetricName",
            "Namespace",
            "Statistic",
            "ExtendedStatistic",
            "Dimensions",
            "Period",
            "Unit",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "EvaluateLowSampleCountPercentile",
            "Metrics",
            "ThresholdMetricId",
        }
    )

    def create(self, ctx: Context, props: dict[str, Any]) -> Created:
        name = props.get("AlarmName") or ctx.generated_name(255)
        cloudwatch = ctx.cloud.client("cloudwatch")
        if cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
            raise _already_exists(self.type, name)
        return Created(name, self._put(ctx, name, props))

    def _put(self, ctx: Context, name: str, props: dict[str, Any]) -> dict[str, Any]:
        try:
            ctx.cloud.client("cloudwatch").put_metric_alarm(**{**props, "AlarmName": name})
        except AwsError as error:
            raise _service_error(error) from None
        return {"Arn": f"arn:aws:cloudwatch:{ctx.region}:{ctx.account}:alarm:{name}"}

    def update(self, ctx: Context, physical_id: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        return self._put(ctx, physical_id, new)

    def delete(self, ctx: Context, physical_id: str, props: dict[str, Any]) -> None:
        try:
            ctx.cloud.client("cloudwatch").delete_alarms(AlarmNames=[physical_id])
        except AwsError as error:
            raise _service_error(error) from None


HANDLERS: dict[str, Callable[[], Handler]] = {
    h.type: h
    for h in (
        IamRole,
        S3Bucket,
        S3BucketPolicy,
        LogsLogGroup,
        EcrRepository,
        KmsKey,
        KmsAlias,
        ModelPackageGroup,
        EventsRule,
        CloudWatchAlarm,
    )
}
