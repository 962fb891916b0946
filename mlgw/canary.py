"""End a canary or A/B test by model age, not by weight: `mlgw endpoint promote | rollback`
and Studio's buttons.

Which variant is "new" is decided by the model package each variant serves (endpoint config →
ProductionVariants[].ModelName → DescribeModel → container ModelPackageName →
DescribeModelPackage): the higher ModelPackageVersion when every package is in one group,
otherwise the later CreationTime (the package's, or the model's when it names no package).
Weights say nothing about age: after `mlgw endpoint weights` ramps a canary to 90 %, the
canary is still the new model.

* promote keeps the newest variant; the kept package stays Approved.
* rollback keeps the newest of the others and marks the rolled-back (newest) package
  Rejected through UpdateModelPackage, with an ApprovalDescription saying why, so the registry
  records what was abandoned. Rejecting a package does not touch endpoints on AWS either
  (https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-approve.html).
* `keep` names the variant outright; a rollback then rejects the removed packages that are
  newer than the kept one.

The endpoint update itself is processing/deploy.finish_test (the same calls Deploy makes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from processing import deploy
from processing.job import JobError


@dataclass(frozen=True)
class ServedVariant:
    """One production variant and what it serves. package_arn/version are None for a model
    created without a model package."""

    name: str
    model_name: str
    weight: float
    package_arn: str | None
    package_group: str | None
    version: int | None
    created: dt.datetime | None
    approval: str | None = None  # the package's ModelApprovalStatus when it was read

    @property
    def label(self) -> str:
        if self.package_arn is None:
            return f"{self.name} (model {self.model_name}, no model package)"
        return f"{self.name} ({self.package_group} version {self.version})"


@dataclass(frozen=True)
class Outcome:
    kept: ServedVariant
    removed: list[ServedVariant] = field(default_factory=list)
    rejected: list[ServedVariant] = field(default_factory=list)


def _describe_package(sm, arn: str) -> dict[str, Any] | None:
    try:
        return sm.describe_model_package(ModelPackageName=arn)
    except ClientError:
        return None


def _model_created(sm, model_name: str) -> dt.datetime | None:
    try:
        return sm.describe_model(ModelName=model_name).get("CreationTime")
    except ClientError:
        return None


def served_variants(sm, endpoint_name: str) -> list[ServedVariant]:
    """The endpoint's variants with the model package each serves. JobError if the endpoint
    does not exist."""
    endpoint = deploy.describe_endpoint(sm, endpoint_name)
    if endpoint is None:
        raise JobError(f"endpoint {endpoint_name} does not exist; `mlgw run` deploys it")
    out = []
    for variant in deploy.serving_variants(sm, endpoint):
        arn = deploy.model_package_of(sm, variant["ModelName"])
        package = _describe_package(sm, arn) if arn else None
        if package is None:
            out.append(
                ServedVariant(
                    variant["VariantName"],
                    variant["ModelName"],
                    variant["InitialVariantWeight"],
                    None,
                    None,
                    None,
                    _model_created(sm, variant["ModelName"]),
                )
            )
            continue
        out.append(
            ServedVariant(
                variant["VariantName"],
                variant["ModelName"],
                variant["InitialVariantWeight"],
                arn,
                package.get("ModelPackageGroupName"),
                package.get("ModelPackageVersion"),
                package.get("CreationTime"),
                package.get("ModelApprovalStatus"),
            )
        )
    return out


def by_age(variants: list[ServedVariant]) -> list[ServedVariant]:
    """Oldest first: by package version within one group, else by creation time. Variants of
    the same age (two variants serving one model) fall back to weight, the lower one newer,
    as a canary starts small."""
    groups = {v.package_group for v in variants}
    if len(groups) == 1 and None not in groups and all(v.version is not None for v in variants):
        return sorted(variants, key=lambda v: (v.version, -v.weight))
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(variants, key=lambda v: (v.created or epoch, -v.weight))


def choose(variants: list[ServedVariant], keep: str | None, promote: bool) -> ServedVariant:
    """The variant to keep: `keep` if given, else the newest (promote) or the newest of the
    others (rollback)."""
    if keep is not None:
        chosen = next((v for v in variants if v.name == keep), None)
        if chosen is None:
            raise JobError(f"no variant {keep!r} (the endpoint has {', '.join(v.name for v in variants)})")
        return chosen
    ordered = by_age(variants)
    return ordered[-1] if promote else ordered[-2]


def finish(
    sm,
    endpoint_name: str,
    keep: str | None,
    promote: bool,
    aas=None,
    timeout: float = 900,
    s3=None,
    monitoring_baseline_uri: str | None = None,
    cloudwatch=None,
) -> Outcome:
    """End the test on `endpoint_name`: one variant takes all traffic, the others are removed,
    and on rollback the rolled-back packages are marked Rejected. With `s3` and
    `monitoring_baseline_uri`, the kept model's DriftCheckBaselines are published there, as
    Deploy does (the drift check judges by the model serving most traffic); with `cloudwatch`,
    the drift alarms are re-pointed at the kept model's baseline and reset as Deploy does
    (processing/deploy.repoint_drift_alarms). JobError (with a
    message for the user) if there is no test to end or `keep` names no variant."""
    variants = served_variants(sm, endpoint_name)
    if len(variants) < 2 and keep is None:
        raise JobError(f"endpoint {endpoint_name} has one variant ({variants[0].label}); there is no test to end")
    chosen = choose(variants, keep, promote)
    deploy.finish_test(sm, endpoint_name, chosen.name, promote=promote, timeout=timeout, aas=aas)
    if s3 is not None and monitoring_baseline_uri:
        endpoint = deploy.describe_endpoint(sm, endpoint_name) or {}
        deploy.publish_monitored_baseline(sm, s3, endpoint_name, endpoint, monitoring_baseline_uri)
    if cloudwatch is not None:
        deploy.repoint_drift_alarms(sm, cloudwatch, endpoint_name, deploy.describe_endpoint(sm, endpoint_name) or {})
    removed = [v for v in variants if v.name != chosen.name]
    rejected = []
    if not promote:
        ordered = by_age(variants)
        newer = ordered[ordered.index(chosen) + 1 :]
        for variant in removed:
            # the same package may serve the kept variant too: never reject what stays
            if variant in newer and variant.package_arn not in (None, chosen.package_arn):
                sm.update_model_package(
                    ModelPackageArn=variant.package_arn,
                    ModelApprovalStatus="Rejected",
                    ApprovalDescription=f"rolled back on endpoint {endpoint_name} "
                    f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} "
                    f"UTC; {chosen.label} kept",
                )
                rejected.append(variant)
    return Outcome(chosen, removed, rejected)


def summary(endpoint_name: str, outcome: Outcome, promote: bool) -> list[str]:
    """What a user reads after promote / rollback."""
    lines = [f"{endpoint_name}: kept {outcome.kept.label}; it now takes all traffic"]
    for variant in outcome.removed:
        note = " and marked Rejected in the model registry" if variant in outcome.rejected else ""
        lines.append(f"  removed {variant.label}{note}")
    if outcome.kept.package_arn:
        lines.append(f"  {outcome.kept.package_arn} stays {outcome.kept.approval} in the model registry")
    return lines
