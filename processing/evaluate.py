"""Evaluation processing step: model.tar.gz + test CSVs -> evaluation.json.

Runs as `python3 evaluate.py` inside a processing container (the `processing` package is staged
beside it). The output has the SageMaker model-quality shape
that the pipeline's condition step and the model registry read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile

import numpy as np
import pandas as pd

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


def evaluate(model_dir: str, test_dir: str, output_dir: str, threshold: float, mlflow_tracking_uri: str = "") -> dict:
    """evaluation.json's report; with `mlflow_tracking_uri`, the run is logged to MLflow too
    and the report says which run (`mlflow`: tracking_uri, experiment_id, run_id)."""
    import xgboost as xgb
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    with tempfile.TemporaryDirectory() as workdir:
        booster, features = load_model(model_dir, workdir)
        history = _training_history(workdir, model_dir)
    test = read_test(test_dir)
    missing = [c for c in (features or []) if c not in test.columns]
    if missing:
        raise EvaluationError(f"test data: missing feature column(s) {', '.join(missing)}")
    features = features or [c for c in test.columns if c != LABEL]
    y = test[LABEL].to_numpy(dtype="int64")
    if len(np.unique(y)) < 2:
        raise EvaluationError(f"test data: only one class in '{LABEL}'; AUC is undefined")
    dtest = xgb.DMatrix(test[features].astype("float64"), feature_names=list(features), missing=np.nan)
    scores = booster.predict(dtest)
    pred = (scores >= threshold).astype("int64")
    (tn, fp), (fn, tp) = confusion_matrix(y, pred, labels=[0, 1]).tolist()
    report = {
        "binary_classification_metrics": {
            "auc": _metric(roc_auc_score(y, scores)),
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
    report["display"] = {"auc": f"{report['binary_classification_metrics']['auc']['value']:.4f}"}
    if mlflow_tracking_uri:
        try:
            from processing import mlflow_log

            report["mlflow"] = mlflow_log.log_run(mlflow_tracking_uri, history, report, y, scores)
        except Exception as exc:  # noqa: BLE001 — an experiment log never blocks the model
            print(f"warning: MLflow logging to {mlflow_tracking_uri} failed: {exc}", file=sys.stderr)
            report["mlflow"] = {"tracking_uri": mlflow_tracking_uri, "error": str(exc)[:500]}
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
    args = ap.parse_args(argv)
    if not 0.0 <= args.threshold <= 1.0:
        raise EvaluationError(f"--threshold must be between 0 and 1, got {args.threshold}")
    try:
        report = evaluate(
            args.model_dir, args.test_dir, args.output_dir, args.threshold, args.mlflow_tracking_uri.strip()
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
