"""Approve or reject a registered model version, as SageMaker's model registry does: one
UpdateModelPackage call setting ModelApprovalStatus with an ApprovalDescription saying who
decided and why (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html).
`mlgw models approve|reject` and the studio's Approve / Reject buttons both call `set_approval`.

Changing a package's approval never touches an endpoint, on AWS either
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-approve.html): a Rejected
version an endpoint serves keeps answering traffic while the registry says it was abandoned.
So rejecting a version that a variant of an endpoint serves is refused unless forced, naming
the endpoint and variant and how to take it off first (`mlgw endpoint rollback` or
`mlgw endpoint deploy --version N`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

STATUSES = ("Approved", "Rejected", "PendingManualApproval")


class ApprovalError(Exception):
    """A version that does not exist, a status SageMaker does not know, or a reject that
    would leave a served model Rejected; the message says which and what to do."""


@dataclass(frozen=True)
class ApprovalChange:
    """What set_approval did: the package, its status before and after, the description it
    wrote and the endpoint variants serving it ("endpoint/variant")."""

    arn: str
    group: str
    version: int
    previous: str
    status: str
    description: str
    serving: list[str] = field(default_factory=list)


def find_package(sm: Any, group: str, version: str) -> dict[str, Any]:
    """DescribeModelPackage of `version` (a version number of `group`, or a model package ARN).
    ApprovalError naming the group and version when there is none."""
    from mlgw import registry_view

    arn = version
    if version.isdigit():
        try:
            summaries = registry_view.versions(sm, group)
        except registry_view.RegistryError as exc:
            raise ApprovalError(str(exc)) from None
        arn = next((s["ModelPackageArn"] for s in summaries if s.get("ModelPackageVersion") == int(version)), "")
        if not arn:
            have = sorted(s.get("ModelPackageVersion", 0) for s in summaries)
            listed = f"it has {', '.join(map(str, have))}" if have else "it has no versions yet"
            raise ApprovalError(
                f"model package group {group} has no version {version} ({listed}; `mlgw models list` shows them)"
            )
    try:
        package: dict[str, Any] = sm.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        raise ApprovalError(f"model package {version}: {exc.response['Error'].get('Message')}") from None
    return package


def serving(sm: Any, package_arn: str) -> list[str]:
    """The endpoint variants ("endpoint/variant") whose model was created from `package_arn`
    (ListEndpoints → endpoint config → model → container ModelPackageName)."""
    from processing import deploy

    out: list[str] = []
    kwargs: dict[str, Any] = {"MaxResults": 100}
    while True:
        page = sm.list_endpoints(**kwargs)
        for summary in page["Endpoints"]:
            name = summary["EndpointName"]
            try:
                endpoint = sm.describe_endpoint(EndpointName=name)
                variants = deploy.serving_variants(sm, endpoint)
            except ClientError:  # deleted meanwhile, or its config is gone: it serves nothing
                continue
            out.extend(
                f"{name}/{v['VariantName']}"
                for v in variants
                if deploy.model_package_of(sm, v["ModelName"]) == package_arn
            )
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


def set_approval(
    sm: Any,
    group: str,
    version: str,
    status: str,
    reason: str = "",
    *,
    force: bool = False,
    via: str = "mlgw",
) -> ApprovalChange:
    """Set ModelApprovalStatus of `version` (number in `group`, or ARN) to `status`, with an
    ApprovalDescription: `reason`, else "<status> with <via> at <UTC time>". Rejecting a
    version an endpoint serves raises ApprovalError unless `force`. Approving emits SageMaker's
    `Model Package State Change` event, so an approve → deploy rule fires as on AWS."""
    if status not in STATUSES:
        raise ApprovalError(f"ModelApprovalStatus must be one of {', '.join(STATUSES)}, got {status!r}")
    package = find_package(sm, group, version)
    arn, label = package["ModelPackageArn"], f"version {package.get('ModelPackageVersion', version)}"
    served = serving(sm, arn) if status == "Rejected" else []
    if served and not force:
        raise ApprovalError(
            f"{label} of {package.get('ModelPackageGroupName', group)} serves {', '.join(served)}: "
            "rejecting it in the registry does not take it off the endpoint, so it would keep answering "
            "traffic as a Rejected model. Take it off first (`mlgw endpoint rollback` ends a canary, "
            "`mlgw endpoint deploy --version N` serves another version), or reject it anyway with --force"
        )
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    description = reason or f"{status} with {via} at {when}"
    if served:
        description += f" (still serving {', '.join(served)})"
    # UpdateModelPackage's ApprovalDescription: at most 1024 characters.
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status, ApprovalDescription=description[:1024])
    return ApprovalChange(
        arn=arn,
        group=package.get("ModelPackageGroupName", group),
        version=int(package.get("ModelPackageVersion", 0)),
        previous=package.get("ModelApprovalStatus", ""),
        status=status,
        description=description[:1024],
        serving=served,
    )


def summary(change: ApprovalChange) -> str:
    """One line for the user: what changed, and why it was recorded."""
    was = "was already" if change.previous == change.status else f"was {change.previous}; now"
    line = f"{change.group} version {change.version} {was} {change.status}: {change.description}"
    if change.serving:
        line += f"\n  note: {', '.join(change.serving)} still serve it; the endpoint is unchanged"
    return line
