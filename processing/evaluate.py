"""Evaluation processing step: model.tar.gz + test CSVs -> evaluation.json.

Runs as `python3 evaluate.py` inside a processing container (the `processing` package is staged
beside it). The output has the SageMaker model-quality shape
that the pipeline's condition steps and the model registry read, plus:

* `lineage` (processing/lineage.py): the execution, each split's digest and row count, the
  schema's digest, the execution's parameters, training / validation / test metrics; and
  `lineage_properties`, its summary that RegisterModel copies into the model package's
  CustomerMetadataProperties;
* `champion` and `champion_gate` (processing/champion.py): the model the endpoint serves now,
  re-scored on the same test split, and whether the new model may replace it (CheckChampion
  reads `champion_gate.min_auc`; RegisterModel reads `champion_gate.approval_status`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from processing import champion as champions
from processing import lineage
from processing.job import JobError, finish, run

LABEL = "fraud"


class EvaluationError(JobError):
    pass


def load_model(model_dir: str, workdir: str):
    """Extract model.tar.gz (or use an already-extracted dir); return (booster, features)."""
    import xgboost as xgb

    archive = os.path.join(model_dir, "model.tar.gz")
    if os.path.isfile(archive):
        try:
            with tarfile.open(archive, "r:gz") as tar:
                if hasattr(tarfile, "data_filter"):  # refuse absolute paths / .. / links out
                    tar.extractall(workdir, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    tar.extractall(workdir)
        except (tarfile.TarError, OSError) as exc:
            raise EvaluationError(f"cannot extract {archive}: {exc}") from None
        source = workdir
    else:
        source = model_dir
    model_path = os.path.join(source, "xgboost-model")
    if not os.path.isfile(model_path):
        raise EvaluationError(f"no xgboost-model in {archive if source == workdir else model_dir}")
    booster = xgb.Booster()
    try:
        with open(model_path, "rb") as fh:
            # From a buffer xgboost detects JSON/UBJSON by content (no extension to guess from).
            booster.load_model(bytearray(fh.read()))
    except xgb.core.XGBoostError as exc:
        raise EvaluationError(f"cannot load {model_path}: {exc}") from None
    features = None
    meta = os.path.join(source, "features.json")
    if os.path.isfile(meta):
        with open(meta) as fh:
            features = json.load(fh).get("features")
    return booster, features or booster.feature_names


def read_test(test_dir: str) -> pd.DataFrame:
    if not os.path.isdir(test_dir):
        raise EvaluationError(f"test directory not found: {test_dir}")
    files = sorted(
        os.path.join(test_dir, f)
        for f in os.listdir(test_dir)
        if not f.startswith(".")
        and os.path.isfile(os.path.join(test_dir, f))
        and os.path.getsize(os.path.join(test_dir, f)) > 0
    )
    frames = [pd.read_csv(f) for f in files]
    frames = [fr for fr in frames if len(fr)]
    if not frames:
        raise EvaluationError(f"no test data rows in {test_dir}")
    df = pd.concat(frames, ignore_index=True)
    if LABEL not in df.columns:
        raise EvaluationError(f"test data: label column '{LABEL}' missing")
    if df[LABEL].isna().any() or not df[LABEL].isin([0, 1]).all():
        raise EvaluationError(f"test data: label '{LABEL}' must be 0 or 1 in every row")
    return df


def _metric(value: float) -> dict:
    return {"value": float(value), "standard_deviation": "NaN"}


def _training_history(*dirs: str) -> dict | None:
    """training_history.json that train.py saves beside the model (None for older models)."""
    for folder in dirs:
        path = os.path.join(folder, "training_history.json")
        if os.path.isfile(path):
            with open(path) as fh:
                return json.load(fh)
    return None


@dataclass
class RunContext:
    """What Evaluate knows about the execution beyond the model and the test split (all
    optional: by hand, without them, the report has no lineage beyond the test split and no
    champion). `endpoint_name` empty: no champion is looked up."""

    execution_id: str = ""
    execution_arn: str = ""
    pipeline_name: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    train_dir: str = ""
    validation_dir: str = ""
    endpoint_name: str = ""
    champion_gate: str = "enforce"
    champion_margin: float = 0.01
    approval_status: str = "Approved"
    split_uris: dict[str, str] = field(default_factory=dict)  # split name -> its S3 prefix
    model_data_url: str = ""  # the new model's model.tar.gz (Train's S3ModelArtifacts)


def _schema_digest(*dirs: str) -> str | None:
    """The digest of the schema.json train.py put in the model (None for older models)."""
    for folder in dirs:
        path = os.path.join(folder, "schema.json")
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                return lineage.digest_bytes(fh.read())
    return None


def _scores(booster, features: list[str] | None, test: pd.DataFrame, whose: str) -> np.ndarray:
    import xgboost as xgb

    missing = [c for c in (features or []) if c not in test.columns]
    if missing:
        raise EvaluationError(f"test data: missing feature column(s) {', '.join(missing)} ({whose} reads them)")
    features = features or [c for c in test.columns if c != LABEL]
    dtest = xgb.DMatrix(test[features].astype("float64"), feature_names=list(features), missing=np.nan)
    return booster.predict(dtest)


def _unseen(test: pd.DataFrame, seen: list[bytes] | None) -> np.ndarray:
    """A mask of the test rows not among `seen` (CSV files: the serving model's training and
    validation splits), matched on every column both have; all True when `seen` is None."""
    import io

    keep = np.ones(len(test), dtype=bool)
    if not seen:
        return keep
    frames = [pd.read_csv(io.BytesIO(data)) for data in seen if data.strip()]
    frames = [f for f in frames if len(f)]
    if not frames:
        return keep
    known = pd.concat(frames, ignore_index=True)
    columns = [c for c in test.columns if c in known.columns]
    if not columns:
        return keep
    as_float = {c: "float64" for c in columns}
    hashed_known = set(pd.util.hash_pandas_object(known[columns].astype(as_float), index=False).tolist())
    hashed_test = pd.util.hash_pandas_object(test[columns].astype(as_float), index=False)
    return ~hashed_test.isin(hashed_known).to_numpy()


def _clients():
    import boto3

    return boto3.client("sagemaker"), boto3.client("s3")


def evaluate(
    model_dir: str,
    test_dir: str,
    output_dir: str,
    threshold: float,
    mlflow_tracking_uri: str = "",
    context: RunContext | None = None,
    clients=_clients,
) -> dict:
    """evaluation.json's report; with `mlflow_tracking_uri`, the run is logged to MLflow too
    and the report says which run (`mlflow`: tracking_uri, experiment_id, run_id). With
    `context.endpoint_name`, the model that endpoint serves is re-scored on the same test split
    (`clients()` gives the SageMaker and S3 clients) and the champion gate decided."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    context = context or RunContext()
    with tempfile.TemporaryDirectory() as workdir:
        booster, features = load_model(model_dir, workdir)
        history = _training_history(workdir, model_dir)
        schema_digest = _schema_digest(workdir, model_dir)
    test = read_test(test_dir)
    y = test[LABEL].to_numpy(dtype="int64")
    if len(np.unique(y)) < 2:
        raise EvaluationError(f"test data: only one class in '{LABEL}'; AUC is undefined")
    scores = _scores(booster, features, test, "the model")
    pred = (scores >= threshold).astype("int64")
    (tn, fp), (fn, tp) = confusion_matrix(y, pred, labels=[0, 1]).tolist()
    auc = float(roc_auc_score(y, scores))
    report = {
        "binary_classification_metrics": {
            "auc": _metric(auc),
            "pr_auc": _metric(average_precision_score(y, scores)),
            "precision": _metric(precision_score(y, pred, zero_division=0)),
            "recall": _metric(recall_score(y, pred, zero_division=0)),
            "f1": _metric(f1_score(y, pred, zero_division=0)),
            "accuracy": _metric(accuracy_score(y, pred)),
            "confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}},
            "threshold": {"value": float(threshold)},
        },
        "test_rows": int(len(y)),
        "positives": int(y.sum()),
    }
    # For messages (the pipeline's Fail step quotes it): a pipeline definition cannot round.
    report["display"] = {"auc": f"{auc:.4f}"}

    splits = {"test": lineage.split_summary(test_dir)}
    for name, folder in (("train", context.train_dir), ("validation", context.validation_dir)):
        if folder:
            splits[name] = lineage.split_summary(folder)
    splits = {name: splits[name] for name in lineage.SPLITS if name in splits}
    for name, uri in context.split_uris.items():  # where each split is (the champion check reads them)
        if name in splits and uri:
            splits[name]["uri"] = uri
    report["lineage"] = {
        "pipeline_name": context.pipeline_name or None,
        "execution_id": context.execution_id or None,
        "execution_arn": context.execution_arn or None,
        "dataset_digest": lineage.dataset_digest(splits),
        "splits": splits,
        "schema_digest": schema_digest,
        "parameters": dict(sorted(context.parameters.items())),
        "metrics": {**lineage.best_round_metrics(history), "test": {"auc": auc}},
    }

    if context.endpoint_name:

        def score(folder: str, seen: list[bytes] | None) -> dict:
            with tempfile.TemporaryDirectory() as extracted:
                serving_booster, serving_features = load_model(folder, extracted)
                digest = _schema_digest(extracted, folder)
            keep = _unseen(test, seen)
            if len(np.unique(y[keep])) < 2:
                raise EvaluationError(
                    f"only one class among the {int(keep.sum()):,} test rows the serving model did not train on"
                )
            serving_scores = _scores(serving_booster, serving_features, test[keep], "the serving model")
            return {
                "auc": float(roc_auc_score(y[keep], serving_scores)),
                "new_auc": float(roc_auc_score(y[keep], scores[keep])),
                "noise": champions.paired_noise(y[keep], scores[keep], serving_scores),
                "rows_compared": int(keep.sum()),
                "rows_excluded": int((~keep).sum()),
                "schema_digest": digest,
            }

        sm, s3 = clients()
        report["champion"] = champions.measure(sm, s3, context.endpoint_name, score)
    else:
        report["champion"] = {"endpoint": None, "status": "none", "auc": None}
    report["champion_gate"] = champions.decide(
        auc, report["champion"], context.champion_gate, context.champion_margin, context.approval_status
    )
    # A Train step served from the step cache gives the model an earlier execution trained: when
    # the endpoint serves that very model, registering it again would only add a duplicate
    # version (AWS never caches RegisterModel), so the pipeline's CheckNewModel ends the run.
    served = bool(context.model_data_url) and report["champion"].get("model_data_url") == context.model_data_url
    report["champion_gate"]["model"] = "serving" if served else "new"
    if served:
        report["champion_gate"]["reason"] = (
            f"nothing to register or deploy: endpoint {context.endpoint_name} already serves this model "
            f"({context.model_data_url}; Train was reused from the step cache)"
        )
    print(report["champion_gate"]["reason"], flush=True)

    if mlflow_tracking_uri:
        try:
            from processing import mlflow_log

            report["mlflow"] = mlflow_log.log_run(
                mlflow_tracking_uri,
                history,
                report,
                y,
                scores,
                run_name=context.execution_id or None,
                tags=mlflow_log.lineage_tags(report),
            )
        except Exception as exc:  # noqa: BLE001 — an experiment log never blocks the model
            print(f"warning: MLflow logging to {mlflow_tracking_uri} failed: {exc}", file=sys.stderr)
            report["mlflow"] = {"tracking_uri": mlflow_tracking_uri, "error": str(exc)[:500]}
    report["lineage_properties"] = lineage.properties(report)
    os.makedirs(output_dir, exist_ok=True)
    out = os.path.join(output_dir, "evaluation.json")
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(report, fh, indent=2)
    os.replace(tmp, out)
    return report


def _main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Evaluate the fraud model on the test split.")
    ap.add_argument("--model-dir", default="/opt/ml/processing/model")
    ap.add_argument("--test-dir", default="/opt/ml/processing/test")
    ap.add_argument("--evaluation-dir", "--output-dir", dest="output_dir", default="/opt/ml/processing/evaluation")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument(
        "--mlflow-tracking-uri", default="", help="MLflow tracking server (ARN on AWS) to log the run to; empty: none"
    )
    ap.add_argument("--train-dir", default="", help="the training split (its digest and rows go in the lineage)")
    ap.add_argument("--validation-dir", default="", help="the validation split (digest and rows)")
    for name in lineage.SPLITS:
        ap.add_argument(f"--{name}-uri", default="", help=f"the {name} split's S3 location (recorded in the lineage)")
    ap.add_argument("--pipeline-name", default="", help="the pipeline (ExecutionVariables.PIPELINE_NAME)")
    ap.add_argument("--pipeline-execution-id", default="", help="the execution's id: the MLflow run's name")
    ap.add_argument("--pipeline-execution-arn", default="", help="the execution's ARN (lineage, MLflow tag)")
    ap.add_argument(
        "--parameter", action="append", default=[], metavar="NAME=VALUE", help="an execution parameter (repeatable)"
    )
    ap.add_argument("--endpoint-name", default="", help="re-score the model this endpoint serves (empty: none)")
    ap.add_argument(
        "--model-data-url", default="", help="the new model's S3 URI (the same as the serving model's: nothing to do)"
    )
    ap.add_argument("--champion-gate", default="enforce", help="enforce (default) or skip")
    ap.add_argument("--champion-margin", type=float, default=0.01, help="AUC the new model may lose (default 0.01)")
    ap.add_argument(
        "--approval-status", default="Approved", help="RegisterModel's approval status when the gate lets it deploy"
    )
    args = ap.parse_args(argv)
    if not 0.0 <= args.threshold <= 1.0:
        raise EvaluationError(f"--threshold must be between 0 and 1, got {args.threshold}")
    context = RunContext(
        execution_id=args.pipeline_execution_id,
        execution_arn=args.pipeline_execution_arn,
        pipeline_name=args.pipeline_name,
        parameters=lineage.parse_parameters(args.parameter),
        train_dir=args.train_dir,
        validation_dir=args.validation_dir,
        endpoint_name=args.endpoint_name.strip(),
        champion_gate=args.champion_gate,
        champion_margin=args.champion_margin,
        approval_status=args.approval_status,
        split_uris={name: getattr(args, f"{name}_uri") for name in lineage.SPLITS},
        model_data_url=args.model_data_url,
    )
    try:
        report = evaluate(
            args.model_dir,
            args.test_dir,
            args.output_dir,
            args.threshold,
            args.mlflow_tracking_uri.strip(),
            context,
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"evaluation failed: {exc}") from None
    m = report["binary_classification_metrics"]
    print(
        f"test rows {report['test_rows']} positives {report['positives']} "
        f"auc {m['auc']['value']:.4f} pr_auc {m['pr_auc']['value']:.4f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 1 with the reason in the job's failure file."""
    return run(_main, argv)


if __name__ == "__main__":
    finish(main())
