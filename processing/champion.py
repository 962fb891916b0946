"""The champion: the model an endpoint serves now, found through the SageMaker API, and the
gate that keeps a new model from replacing it when it is worse on the same test split.

The serving model is the endpoint's variant with the largest current weight (on a canary, the
model most traffic goes to; a tie goes to the later variant in the config): DescribeEndpoint →
DescribeEndpointConfig → DescribeModel, whose container names the model package it was created
from (DescribeModelPackage: its InferenceSpecification's ModelDataUrl) or the model data itself
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModel.html). Evaluate
re-scores that model.tar.gz on the new model's test split, so both AUCs are measured on the same
rows: the rows the serving model did not train on. A retrain's split is drawn from the data the
serving model was trained on plus what came since, so its test split holds rows the serving
model has seen, on which it scores better than it will in production; the serving package's
lineage names its train and validation splits (evaluation.json `lineage.splits.*.uri`), and
the test rows found there are left out of the comparison (both models are scored on the rest).
A serving model with no lineage is compared on the whole test split, and the report says so.

The gate (pipeline parameters ChampionGate and ChampionMargin): with `enforce`, the new model
deploys only if its AUC ≥ champion AUC − margin − noise, where `noise` is how much the AUC
difference of the two models varies with the test rows drawn (`paired_noise`: 1.645 standard
errors of the paired difference, DeLong's method: one-sided 95 %). So a model is held back when it is
worse by more than the margin beyond what the test set can tell: on a few hundred rows with a
handful of fraud cases two equally good models differ by a few hundredths of AUC from one split
to the next, and a retrain must not be refused for that; on large test sets the noise is small
and the margin decides. With no serving endpoint (a first run), or a
champion that cannot read this test split (the schema changed its feature columns), there is
nothing to compare with and the gate passes, saying why. `skip` deploys whatever the
comparison says (it is still measured and reported).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from processing.job import JobError

GATE_MODES = ("enforce", "skip")
# The approval status of a model the gate keeps from deploying: registered for the record (its
# lineage and metrics), deployable later only by a person's decision.
HELD_BACK_STATUS = "PendingManualApproval"


class ChampionError(JobError):
    """The serving model could not be looked up (an AWS refusal other than "no such endpoint")."""


@dataclass
class Serving:
    """What the endpoint serves: its variant, model, model package (if any) and model data."""

    endpoint: str
    variant: str
    model_name: str
    model_package_arn: str | None
    model_package_version: int | None
    model_data_url: str
    evaluation_uri: str | None = None  # the package's evaluation.json (its lineage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "variant": self.variant,
            "model_name": self.model_name,
            "model_package_arn": self.model_package_arn,
            "model_package_version": self.model_package_version,
            "model_data_url": self.model_data_url,
        }


def _not_found(exc: ClientError) -> bool:
    # DescribeEndpoint of a missing endpoint: ValidationException "Could not find endpoint ..."
    error = exc.response.get("Error", {})
    return error.get("Code") == "ResourceNotFound" or (
        error.get("Code") == "ValidationException" and "Could not find" in str(error.get("Message", ""))
    )


def serving_model(sm, endpoint_name: str) -> Serving | None:
    """The model `endpoint_name` serves now, or None when there is no such endpoint.
    ChampionError (naming the call) for any other refusal, e.g. AccessDenied."""
    try:
        endpoint = sm.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise ChampionError(f"champion: DescribeEndpoint {endpoint_name}: {exc}") from None
    try:
        config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        weights = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants", [])}
        variants = config.get("ProductionVariants") or []
        if not variants:
            return None
        best = max(
            enumerate(variants),
            key=lambda item: (
                float(weights.get(item[1]["VariantName"]) or item[1].get("InitialVariantWeight", 1.0)),
                item[0],
            ),
        )[1]
        model = sm.describe_model(ModelName=best["ModelName"])
        container = (model.get("Containers") or [model.get("PrimaryContainer") or {}])[0]
        package_arn = container.get("ModelPackageName")
        version = None
        evaluation_uri = None
        data_url = container.get("ModelDataUrl")
        if package_arn:
            package = sm.describe_model_package(ModelPackageName=package_arn)
            version = package.get("ModelPackageVersion")
            quality = (package.get("ModelMetrics") or {}).get("ModelQuality") or {}
            evaluation_uri = (quality.get("Statistics") or {}).get("S3Uri")
            package_containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
            data_url = package_containers[0].get("ModelDataUrl") or data_url
    except (ClientError, BotoCoreError) as exc:
        raise ChampionError(f"champion: reading what endpoint {endpoint_name} serves: {exc}") from None
    if not data_url:
        return None
    return Serving(
        endpoint_name, best["VariantName"], best["ModelName"], package_arn, version, data_url, evaluation_uri
    )


def download_model(s3, url: str, folder: str) -> str:
    """Fetch the model.tar.gz at `url` (s3://bucket/key) into `folder`; its path."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, "model.tar.gz")
    try:
        s3.download_file(bucket, key, target)
    except (ClientError, BotoCoreError) as exc:
        raise ChampionError(f"champion: cannot read its model data {url}: {exc}") from None
    return folder


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def training_data(s3, serving: Serving) -> list[bytes] | None:
    """The CSV files the serving model was trained and validated on (its package's lineage:
    evaluation.json `lineage.splits.train|validation.uri`), or None when its package records
    no such location (registered before lineage was kept) or they are gone."""
    if not serving.evaluation_uri:
        return None
    try:
        bucket, key = _split(serving.evaluation_uri)
        report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        splits = (report.get("lineage") or {}).get("splits") or {}
        uris = [(splits.get(name) or {}).get("uri") for name in ("train", "validation")]
        if not all(uris):
            return None
        files = []
        for uri in uris:
            bucket, prefix = _split(uri)
            keys = [
                item["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])
                if not item["Key"].endswith("/")
            ]
            files.extend(s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in sorted(keys))
        return files or None
    except (ClientError, BotoCoreError, ValueError):
        return None


def measure(
    sm,
    s3,
    endpoint_name: str,
    score: Callable[[str, list[bytes] | None], dict[str, Any]],
) -> dict[str, Any]:
    """evaluation.json's `champion`: what the endpoint serves and its AUC on this run's test
    split, on the rows it did not train on. `score(model_dir, seen)` scores a model directory
    given the serving model's training CSVs (`seen`, None if unknown) and returns
    {"auc": the serving model's AUC, "new_auc": the new model's on the same rows,
    "rows_compared", "rows_excluded", "schema_digest"}, raising JobError when the model cannot
    read the split. `status` is "scored", "none" (no serving endpoint) or "not comparable" (with
    the reason)."""
    serving = serving_model(sm, endpoint_name)
    if serving is None:
        return {"endpoint": endpoint_name, "status": "none", "auc": None}
    out = {**serving.as_dict(), "status": "scored", "auc": None}
    seen = training_data(s3, serving)
    with tempfile.TemporaryDirectory() as folder:
        download_model(s3, serving.model_data_url, folder)
        try:
            scored = score(folder, seen)
        except JobError as exc:
            return {**out, "status": "not comparable", "reason": str(exc)}
    return {**out, **scored, "training_rows_known": seen is not None}


# One-sided 95 %: the normal quantile the noise allowance is measured in.
Z_95 = 1.6448536269514722


def paired_noise(y, new_scores, champion_scores) -> float:
    """How far the AUC difference (new − champion) measured on these rows could be from its
    true value, one-sided at 95 %: 1.645 standard errors of the paired difference, by DeLong's
    method (DeLong, DeLong & Clarke-Pearson 1988, "Comparing the areas under two or more
    correlated ROC curves"; midrank form of Sun & Xu 2014). Paired: both models scored on the
    same rows, so what they share cancels out. 0 with fewer than two rows of either class."""
    import numpy as np
    from scipy.stats import rankdata

    y = np.asarray(y, dtype="int64")
    scores = np.vstack([np.asarray(new_scores, float), np.asarray(champion_scores, float)])
    positives, negatives = scores[:, y == 1], scores[:, y == 0]
    m, n = positives.shape[1], negatives.shape[1]
    if m < 2 or n < 2:
        return 0.0
    everything = rankdata(np.hstack([positives, negatives]), axis=1)
    v10 = (everything[:, :m] - rankdata(positives, axis=1)) / n  # per positive: share of negatives below
    v01 = 1.0 - (everything[:, m:] - rankdata(negatives, axis=1)) / m  # per negative: share of positives above
    covariance = np.cov(v10) / m + np.cov(v01) / n
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    return float(Z_95 * np.sqrt(max(variance, 0.0)))


def _name(champion: dict[str, Any]) -> str:
    version = champion.get("model_package_version")
    return f"version {version}" if version else f"model {champion.get('model_name')}"


def decide(auc: float, champion: dict[str, Any], mode: str, margin: float, approval_status: str) -> dict[str, Any]:
    """evaluation.json's `champion_gate`: `auc` (the new model's AUC on the rows both were
    scored on) and `min_auc` (what the pipeline's CheckChampion condition requires of it:
    champion AUC − margin − champion["noise"], 0 when there is no champion to compare with),
    `deploy`, `approval_status` (RegisterModel's: `approval_status` when it deploys, else
    HELD_BACK_STATUS) and a one-line `reason`. ValueError for an unknown mode or a margin
    outside [0, 1]."""
    if mode not in GATE_MODES:
        raise ValueError(f"--champion-gate {mode!r}: expected one of {', '.join(GATE_MODES)}")
    if not 0.0 <= margin <= 1.0:
        raise ValueError(f"--champion-margin {margin}: must be between 0 and 1")
    endpoint = champion.get("endpoint")
    champion_auc = champion.get("auc")
    if champion_auc is None:
        min_auc = 0.0
        if champion.get("status") == "none":
            reason = f"deployed: no model serving on endpoint {endpoint} to compare with (first deploy)"
        else:
            reason = (
                f"deployed: the serving {_name(champion)} cannot be scored on this test split "
                f"({champion.get('reason', 'unknown reason')}), nothing to compare with"
            )
        deploy = True
    else:
        # both on the same rows: the test rows the serving model did not train on
        auc = float(champion.get("new_auc", auc))
        noise = float(champion.get("noise", 0.0))
        min_auc = max(champion_auc - margin - noise, 0.0)
        deploy = auc >= min_auc or mode == "skip"
        rows = (
            f"{champion['rows_compared']:,} test rows"
            + (f" ({champion['rows_excluded']:,} it trained on left out)" if champion.get("rows_excluded") else "")
            if champion.get("training_rows_known")
            else "the whole test split (its training data is not recorded)"
        )
        comparison = (
            f"AUC {auc:.4f} vs the serving {_name(champion)} AUC {champion_auc:.4f} on {rows}, "
            f"margin {margin:g} + test-set noise {noise:.4f}"
        )
        if auc >= min_auc:
            reason = f"deployed: {comparison}"
        elif mode == "skip":
            reason = f"deployed although worse: ChampionGate=skip; {comparison}"
        else:
            reason = (
                f"not deployed: worse than the serving model by more than the margin and the noise: {comparison}; "
                f"the endpoint keeps {_name(champion)}"
            )
    return {
        "mode": mode,
        "margin": float(margin),
        "auc": float(auc),
        "min_auc": float(min_auc),
        "deploy": bool(deploy),
        "approval_status": approval_status if deploy else HELD_BACK_STATUS,
        "reason": reason,
    }
