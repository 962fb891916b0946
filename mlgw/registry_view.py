"""The model registry as a user reads it: versions of a model package group with their
approval status and the evaluation metrics attached to each package.

Reads only through the SageMaker API (ListModelPackages, DescribeModelPackage) and S3
(the package's ModelMetrics.ModelQuality.Statistics object, Evaluate's evaluation.json), so the
same code serves localcloud and AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DEFAULT_GROUP = "MLGatewayFraud"
# evaluation.json's binary_classification_metrics, in the order `compare` shows them.
METRICS = ("auc", "pr_auc", "precision", "recall", "f1", "accuracy")


class RegistryError(Exception):
    """A group or version that does not exist, said in the user's terms."""


@dataclass
class PackageView:
    version: int
    arn: str
    status: str
    approval: str
    created: Any
    description: str = ""
    approval_description: str = ""  # why it was approved or rejected (e.g. a rollback)
    metrics: dict[str, float] = field(default_factory=dict)
    confusion_matrix: list[list[int]] | None = None
    metrics_uri: str | None = None


def versions(sm, group: str = DEFAULT_GROUP) -> list[dict[str, Any]]:
    """ListModelPackages summaries of `group`, newest version first (all pages)."""
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except sm.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            raise RegistryError(
                f"model package group {group} does not exist; `mlgw run` registers the first version"
            ) from None
        raise
    summaries, token = [], None
    while True:
        page = sm.list_model_packages(
            ModelPackageGroupName=group,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=100,
            **({"NextToken": token} if token else {}),
        )
        summaries.extend(page.get("ModelPackageSummaryList", []))
        token = page.get("NextToken")
        if not token:
            return summaries


def _read_json(s3, uri: str) -> dict[str, Any] | None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (s3.exceptions.ClientError, ValueError):
        return None


def describe(sm, s3, package: str, group: str = DEFAULT_GROUP) -> PackageView:
    """One version: `package` is a version number ("3") or a model package ARN."""
    arn = package
    if package.isdigit():
        found: str | None = next(
            (s["ModelPackageArn"] for s in versions(sm, group) if s.get("ModelPackageVersion") == int(package)), None
        )
        if found is None:
            raise RegistryError(
                f"model package group {group} has no version {package}; `mlgw models list` shows the versions"
            )
        arn = found
    try:
        doc = sm.describe_model_package(ModelPackageName=arn)
    except sm.exceptions.ClientError as exc:
        raise RegistryError(f"{package}: {exc.response['Error'].get('Message')}") from None
    uri = doc.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    evaluation = (_read_json(s3, uri) if uri else None) or {}
    block = evaluation.get("binary_classification_metrics", {})
    metrics = {
        name: block[name]["value"] for name in METRICS if isinstance(block.get(name), dict) and "value" in block[name]
    }
    matrix = _confusion_matrix(block.get("confusion_matrix"))
    return PackageView(
        version=doc.get("ModelPackageVersion", 0),
        arn=doc["ModelPackageArn"],
        status=doc.get("ModelPackageStatus", ""),
        approval=doc.get("ModelApprovalStatus", ""),
        created=doc.get("CreationTime"),
        description=doc.get("ModelPackageDescription", ""),
        approval_description=doc.get("ApprovalDescription", ""),
        metrics=metrics,
        confusion_matrix=matrix,
        metrics_uri=uri,
    )


def _confusion_matrix(raw: Any) -> list[list[int]] | None:
    """Rows actual 0/1, columns predicted 0/1, from Model Monitor's model-quality layout
    (`{"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}`, what Evaluate writes) or a
    `{"value": [[...]]}` matrix."""
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("value"), list):
        return raw["value"]
    try:
        return [[int(raw[actual].get(predicted, 0)) for predicted in ("0", "1")] for actual in ("0", "1")]
    except (KeyError, AttributeError, TypeError, ValueError):
        return None


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_list(sm, s3, group: str, out) -> None:
    summaries = versions(sm, group)
    if not summaries:
        print(f"model package group {group} has no versions yet", file=out)
        return
    print(f"{'version':>7}  {'approval':<22} {'AUC':>7} {'PR-AUC':>7}  created", file=out)
    for summary in summaries:
        view = describe(sm, s3, summary["ModelPackageArn"], group)
        created = view.created.strftime("%Y-%m-%d %H:%M:%S") if hasattr(view.created, "strftime") else view.created
        print(
            f"{view.version:>7}  {view.approval:<22} {_number(view.metrics.get('auc')):>7} "
            f"{_number(view.metrics.get('pr_auc')):>7}  {created}",
            file=out,
        )


def print_describe(view: PackageView, out) -> None:
    print(
        f"version    {view.version}\narn        {view.arn}\nstatus     {view.status}\n"
        f"approval   {view.approval}"
        + (f" ({view.approval_description})" if view.approval_description else "")
        + f"\ncreated    {view.created}",
        file=out,
    )
    if view.description:
        print(f"about      {view.description}", file=out)
    print(f"metrics    {view.metrics_uri or '(none attached)'}", file=out)
    for name, value in view.metrics.items():
        print(f"  {name:<10} {value:.4f}", file=out)
    if view.confusion_matrix:
        print("  confusion matrix (rows: actual 0/1, columns: predicted 0/1)", file=out)
        for row in view.confusion_matrix:
            print("    " + "  ".join(f"{cell:>8}" for cell in row), file=out)


def print_compare(a: PackageView, b: PackageView, out) -> None:
    print(f"{'':<10} {'v' + str(a.version):>10} {'v' + str(b.version):>10} {'change':>10}", file=out)
    print(f"{'approval':<10} {a.approval:>10.10} {b.approval:>10.10}", file=out)
    for name in METRICS:
        left, right = a.metrics.get(name), b.metrics.get(name)
        change = f"{right - left:+.4f}" if left is not None and right is not None else ""
        print(f"{name:<10} {_number(left):>10} {_number(right):>10} {change:>10}", file=out)
