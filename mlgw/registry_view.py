"""The model registry as a user reads it: versions of a model package group with their
approval status, the evaluation metrics attached to each package and its lineage (which
execution trained it on which data, under which schema, with which parameters:
processing/lineage.py writes it; the package's CustomerMetadataProperties carry its summary).

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
    lineage: Lineage | None = None


@dataclass
class Lineage:
    """A package's lineage: from its evaluation.json (`lineage`, `champion_gate`) and, where
    that is not readable, its CustomerMetadataProperties. Digests are `sha256:<hex>`."""

    execution_arn: str | None = None
    pipeline_name: str | None = None
    dataset_digest: str | None = None
    schema_digest: str | None = None
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"digest", "rows"}
    parameters: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> metric -> value
    champion_gate: str | None = None
    mlflow_run_id: str | None = None
    # the model serving when this one was evaluated, re-scored on this one's test split
    champion_package_arn: str | None = None
    champion_auc: float | None = None

    @property
    def test_digest(self) -> str | None:
        return (self.splits.get("test") or {}).get("digest")


def _known(value: Any) -> str | None:
    return None if value in (None, "", "none") else str(value)


def lineage_of(package: dict[str, Any], evaluation: dict[str, Any] | None) -> Lineage | None:
    """The Lineage of a DescribeModelPackage response and its evaluation report; None for a
    package registered without any (before lineage was recorded)."""
    meta = package.get("CustomerMetadataProperties") or {}
    record = (evaluation or {}).get("lineage") or {}
    if not record and not meta:
        return None
    splits = {name: dict(value) for name, value in (record.get("splits") or {}).items()}
    for name, key in (("train", "TrainRows"), ("validation", "ValidationRows"), ("test", "TestRows")):
        if _known(meta.get(key)) and (meta[key]).isdigit():
            splits.setdefault(name, {}).setdefault("rows", int(meta[key]))
    if _known(meta.get("TestSetDigest")):
        splits.setdefault("test", {}).setdefault("digest", meta["TestSetDigest"])
    gate = (evaluation or {}).get("champion_gate") or {}
    champion = (evaluation or {}).get("champion") or {}
    return Lineage(
        champion_package_arn=_known(champion.get("model_package_arn")),
        champion_auc=champion.get("auc") if isinstance(champion.get("auc"), float) else None,
        execution_arn=_known(record.get("execution_arn")) or _known(meta.get("PipelineExecutionArn")),
        pipeline_name=_known(record.get("pipeline_name")),
        dataset_digest=_known(record.get("dataset_digest")) or _known(meta.get("DatasetDigest")),
        schema_digest=_known(record.get("schema_digest")) or _known(meta.get("SchemaDigest")),
        splits=splits,
        parameters=dict(record.get("parameters") or {}),
        metrics=dict(record.get("metrics") or {}),
        champion_gate=_known(gate.get("reason")) or _known(meta.get("ChampionGate")),
        mlflow_run_id=_known(((evaluation or {}).get("mlflow") or {}).get("run_id")) or _known(meta.get("MlflowRunId")),
    )


def _short(digest: str | None) -> str:
    """A digest as people compare them: `sha256:` and the first 12 hex digits."""
    return "-" if not digest else digest[: len("sha256:") + 12]


def lineage_rows(lineage: Lineage | None) -> list[tuple[str, str]]:
    """(label, value) rows of a lineage, in the order `models describe` and the studio show
    them; the parameters and metrics are separate (`lineage.parameters`, `lineage.metrics`)."""
    if lineage is None:
        return [("lineage", "none recorded (registered before lineage was kept)")]
    rows = [
        ("execution", lineage.execution_arn or "-"),
        ("dataset", lineage.dataset_digest or "-"),
    ]
    for name in ("train", "validation", "test"):
        split = lineage.splits.get(name)
        if split:
            rows.append((f"  {name}", f"{split.get('rows', '-'):,} rows  {_short(split.get('digest'))}"))
    rows.append(("schema", lineage.schema_digest or "-"))
    if lineage.champion_gate:
        rows.append(("champion gate", lineage.champion_gate))
    if lineage.mlflow_run_id:
        rows.append(("MLflow run", lineage.mlflow_run_id))
    return rows


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


def evaluation(sm, s3, package_arn: str) -> dict[str, Any] | None:
    """The evaluation report (Evaluate's evaluation.json) a package's
    ModelMetrics.ModelQuality.Statistics points at; None if it has none or it cannot be read."""
    doc = sm.describe_model_package(ModelPackageName=package_arn)
    uri = doc.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    return _read_json(s3, uri) if uri else None


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
        lineage=lineage_of(doc, evaluation),
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
    print_lineage(view.lineage, out)


def print_lineage(lineage: Lineage | None, out) -> None:
    """`models describe`'s lineage section: execution, dataset (each split's rows and digest),
    schema, champion gate, MLflow run, per-split metrics and the execution's parameters."""
    print("lineage", file=out)
    for label, value in lineage_rows(lineage):
        print(f"  {label:<13} {value}", file=out)
    if lineage is None:
        return
    if lineage.metrics:
        print("  metrics (AUC at the best boosting round for train/validation)", file=out)
        for split in ("train", "validation", "test"):
            values = lineage.metrics.get(split) or {}
            if values:
                print(f"    {split:<11} " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()), file=out)
    if lineage.parameters:
        print("  parameters", file=out)
        for name, value in lineage.parameters.items():
            print(f"    {name:<24} {value}", file=out)


def _same(a: str | None, b: str | None) -> str:
    if a is None or b is None:
        return "unknown (not recorded)"
    return "same" if a == b else "DIFFERENT"


def print_compare(a: PackageView, b: PackageView, out) -> None:
    """Two versions side by side. A change is printed only when both were tested on the same
    test split (the same digest): across different test sets an AUC difference says nothing
    about the models, so both figures are printed with the reason there is no change. Dataset
    and schema differences are said first."""
    la, lb = a.lineage or Lineage(), b.lineage or Lineage()
    same_test = la.test_digest is not None and la.test_digest == lb.test_digest
    print(f"{'':<10} {'v' + str(a.version):>10} {'v' + str(b.version):>10} {'change':>10}", file=out)
    print(f"{'approval':<10} {a.approval:>10.10} {b.approval:>10.10}", file=out)
    for name in METRICS:
        left, right = a.metrics.get(name), b.metrics.get(name)
        if left is None or right is None:
            change = ""
        elif same_test or la.test_digest is None or lb.test_digest is None:
            change = f"{right - left:+.4f}"
        else:
            change = "n/a"
        print(f"{name:<10} {_number(left):>10} {_number(right):>10} {change:>10}", file=out)
    print(
        f"dataset    {_same(la.dataset_digest, lb.dataset_digest)}: {_short(la.dataset_digest)} vs "
        f"{_short(lb.dataset_digest)}",
        file=out,
    )
    print(
        f"test set   {_same(la.test_digest, lb.test_digest)}: {_short(la.test_digest)} vs {_short(lb.test_digest)}",
        file=out,
    )
    print(
        f"schema     {_same(la.schema_digest, lb.schema_digest)}: {_short(la.schema_digest)} vs "
        f"{_short(lb.schema_digest)}",
        file=out,
    )
    if la.test_digest is None or lb.test_digest is None:
        print(
            "note: a version without lineage does not say which test set it was scored on: the change may compare "
            "different data",
            file=out,
        )
    elif not same_test:
        print(
            f"no change printed: v{a.version} and v{b.version} were scored on different test sets, so their "
            "metrics are not comparable",
            file=out,
        )
        # Evaluate re-scores the serving model on the new model's test split: if one of the two
        # was serving when the other was evaluated, that is a comparison on one test set.
        for new, old in ((b, a), (a, b)):
            lin = new.lineage
            if lin and lin.champion_package_arn == old.arn and lin.champion_auc is not None:
                auc = new.metrics.get("auc")
                if auc is not None:
                    print(
                        f"on v{new.version}'s test set (its Evaluate re-scored v{old.version}, then serving): "
                        f"auc v{old.version} {lin.champion_auc:.4f}, v{new.version} {auc:.4f}, "
                        f"v{new.version} - v{old.version} {auc - lin.champion_auc:+.4f}",
                        file=out,
                    )
    changed = sorted(
        name
        for name in set(la.parameters) | set(lb.parameters)
        if la.parameters.get(name) != lb.parameters.get(name) and la.parameters and lb.parameters
    )
    if changed:
        print("parameters that differ", file=out)
        for name in changed:
            print(f"  {name:<24} {la.parameters.get(name, '-')!s:>20}  {lb.parameters.get(name, '-')!s:>20}", file=out)
