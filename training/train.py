"""XGBoost script-mode training (SageMaker XGBoost container or local).

Self-contained on purpose: it runs inside the SageMaker XGBoost container where our
packages are not installed, so it imports only argparse/json/os/numpy/pandas/xgboost.

Inputs: SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION, each a directory of CSV files with a
header row (first column `fraud`, then the feature columns). Outputs in SM_MODEL_DIR:
`xgboost-model` (JSON) and `features.json`. Hyperparameters arrive as `--name value`.
An optional SM_CHANNEL_SCHEMA holds the data contract (schema.json); it is copied into the
model so the endpoint encodes raw requests with the contract the model was trained on.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

LABEL = "fraud"


class TrainingError(Exception):
    pass


def fail(message: str) -> None:
    """Report a failure the way SageMaker shows it (failure file) and exit 1."""
    print(f"ERROR: {message}", file=sys.stderr)
    path = os.environ.get("SM_FAILURE_FILE") or "/opt/ml/output/failure"
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as fh:
            fh.write(message)
    except OSError as exc:  # an unwritable failure file must not hide the real error
        print(f"(could not write failure file {path}: {exc})", file=sys.stderr)
    sys.exit(1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Train the fraud XGBoost model.")
    ap.add_argument("--max_depth", type=int, default=5)
    ap.add_argument("--eta", type=float, default=0.2)
    ap.add_argument("--num_round", type=int, default=200)
    ap.add_argument("--early_stopping_rounds", type=int, default=20)
    ap.add_argument("--subsample", type=float, default=0.8)
    ap.add_argument("--colsample_bytree", type=float, default=0.8)
    ap.add_argument("--min_child_weight", type=float, default=1.0)
    ap.add_argument(
        "--scale_pos_weight", default="auto", help="float, or 'auto' = negatives/positives in the training data"
    )
    ap.add_argument("--objective", default="binary:logistic")
    ap.add_argument("--eval_metric", default="auc")
    ap.add_argument("--nthread", type=int, default=0, help="0 = all cores")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    ap.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    ap.add_argument("--model-dir", dest="model_dir", default=os.environ.get("SM_MODEL_DIR"))
    ap.add_argument(
        "--schema",
        default=os.environ.get("SM_CHANNEL_SCHEMA"),
        help="folder holding the data contract schema.json (optional)",
    )
    args, unknown = ap.parse_known_args(argv)
    if unknown:  # SageMaker may pass extra framework arguments; don't die on them
        print(f"ignoring unknown arguments: {' '.join(unknown)}", file=sys.stderr)
    return args


def read_channel(name: str, path: str | None) -> pd.DataFrame:
    if not path:
        raise TrainingError(f"channel '{name}' is missing (set SM_CHANNEL_{name.upper()})")
    if not os.path.isdir(path):
        raise TrainingError(f"channel '{name}': directory not found: {path}")
    files = sorted(
        os.path.join(path, f)
        for f in os.listdir(path)
        if not f.startswith(".") and os.path.isfile(os.path.join(path, f))
    )
    frames = []
    for f in files:
        if os.path.getsize(f) == 0:
            continue
        try:
            frames.append(pd.read_csv(f))
        except pd.errors.EmptyDataError:
            continue
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise TrainingError(f"channel '{name}': cannot read {f}: {exc}") from None
    if not frames or sum(len(fr) for fr in frames) == 0:
        raise TrainingError(f"channel '{name}': no data rows in {path}")
    columns = list(frames[0].columns)
    for f, fr in zip(files, frames):
        if list(fr.columns) != columns:
            raise TrainingError(f"channel '{name}': {f} has a different header than the others")
    df = pd.concat(frames, ignore_index=True)
    if LABEL not in df.columns:
        raise TrainingError(
            f"channel '{name}': label column '{LABEL}' missing (header: {', '.join(map(str, df.columns[:5]))}, ...)"
        )
    non_numeric = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise TrainingError(f"channel '{name}': non-numeric column(s) {', '.join(non_numeric)}")
    labels = df[LABEL]
    if labels.isna().any() or not labels.isin([0, 1]).all():
        raise TrainingError(f"channel '{name}': label '{LABEL}' must be 0 or 1 in every row")
    return df


def split(df: pd.DataFrame, features: list[str] | None = None) -> xgb.DMatrix:
    features = features or [c for c in df.columns if c != LABEL]
    return xgb.DMatrix(
        df[features].astype("float64"), label=df[LABEL].to_numpy(), feature_names=features, missing=np.nan
    )


def train(args: argparse.Namespace) -> None:
    if not args.model_dir:
        raise TrainingError("model directory is missing (set SM_MODEL_DIR)")
    train_df = read_channel("train", args.train)
    val_df = read_channel("validation", args.validation)
    features = [c for c in train_df.columns if c != LABEL]
    if not features:
        raise TrainingError("channel 'train': no feature columns besides the label")
    missing = [c for c in features if c not in val_df.columns]
    if missing:
        raise TrainingError(f"channel 'validation': missing feature column(s) {', '.join(missing)}")
    positives = int(train_df[LABEL].sum())
    negatives = len(train_df) - positives
    if positives == 0 or negatives == 0:
        raise TrainingError(
            f"channel 'train': only one class in '{LABEL}' ({positives} positives, {negatives} negatives)"
        )
    if args.scale_pos_weight in (None, "", "auto"):
        scale_pos_weight = negatives / positives
    else:
        try:
            scale_pos_weight = float(args.scale_pos_weight)
        except ValueError:
            raise TrainingError(f"--scale_pos_weight: not a number: {args.scale_pos_weight!r}") from None

    params = {
        "max_depth": args.max_depth,
        "eta": args.eta,
        "subsample": args.subsample,
        "colsample_bytree": args.colsample_bytree,
        "min_child_weight": args.min_child_weight,
        "scale_pos_weight": scale_pos_weight,
        "objective": args.objective,
        "eval_metric": args.eval_metric,
        "seed": args.seed,
        "tree_method": "hist",
    }
    if args.nthread > 0:  # unset = xgboost uses all cores
        params["nthread"] = args.nthread
    dtrain = split(train_df, features)
    dval = split(val_df, features)
    print(
        f"training on {len(train_df)} rows ({positives} positives), validating on "
        f"{len(val_df)} rows, {len(features)} features",
        flush=True,
    )
    history: dict = {}
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=args.num_round,
            evals=[(dtrain, "train"), (dval, "validation")],
            early_stopping_rounds=args.early_stopping_rounds or None,
            evals_result=history,
            verbose_eval=True,
        )
    except xgb.core.XGBoostError as exc:
        raise TrainingError(f"xgboost: {exc}") from None
    best = getattr(booster, "best_iteration", None)
    if best is None:
        best = booster.num_boosted_rounds() - 1
    # Keep only the trees up to the best round, so every consumer predicts with the best model.
    booster = booster[: best + 1]

    os.makedirs(args.model_dir, exist_ok=True)
    model_path = os.path.join(args.model_dir, "xgboost-model")
    # Explicit JSON: with no file extension, xgboost would pick its binary (UBJSON) format.
    tmp = model_path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(booster.save_raw(raw_format="json"))
    os.replace(tmp, model_path)
    with open(os.path.join(args.model_dir, "features.json"), "w") as fh:
        json.dump({"features": features, "label": LABEL, "best_iteration": int(best)}, fh, indent=2)
    if args.schema:
        import glob
        import shutil

        # schema.json, else the channel's only JSON file (SchemaUri may name any key).
        found = [os.path.join(args.schema, "schema.json")]
        if not os.path.isfile(found[0]):
            found = sorted(glob.glob(os.path.join(args.schema, "*.json")))
        if len(found) != 1:
            raise TrainingError(f"channel 'schema': expected one schema file, found {found}")
        shutil.copyfile(found[0], os.path.join(args.model_dir, "schema.json"))
    # For Evaluate's experiment log (MLflow): the training container has no MLflow client, so
    # the per-round metrics and importances travel with the model.
    with open(os.path.join(args.model_dir, "training_history.json"), "w") as fh:
        json.dump(
            {
                "params": {
                    **params,
                    "num_round": args.num_round,
                    "early_stopping_rounds": args.early_stopping_rounds,
                    "best_iteration": int(best),
                },
                "rounds": history,
                "feature_importance": booster.get_score(importance_type="gain"),
            },
            fh,
        )
    print(f"saved {model_path} (best_iteration {best})", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except TrainingError as exc:
        fail(str(exc))
    return 0


if __name__ == "__main__":
    status = main()
    # Skip the interpreter's garbage collections at shutdown (0.25-0.35 s with pandas and
    # xgboost loaded, on the pipeline's path): processing/job.py finish() says why that is safe.
    gc.freeze()
    sys.exit(status)
