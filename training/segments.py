"""Per-segment models: one XGBoost model per policy_state, for a multi-model endpoint.

Each segment is trained by training/train.py's own logic (same channels contract, same
features.json), then packed as SageMaker's model.tar.gz, named <STATE>.tar.gz so the files can
sit side by side under one ModelDataUrl prefix and be invoked with TargetModel=<STATE>.tar.gz.

    python -m training.segments --policies 5000 --seed 0 --out build/segments
    python -m training.segments --claims claims.csv --customers customers.csv --out DIR
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tarfile
from pathlib import Path

import pandas as pd

from processing import features
from training import train as trainer

LABEL = "fraud"
SEGMENT_COLUMN = "policy_state"
# Small, fast defaults: a segment has a few hundred to a few thousand rows.
DEFAULT_TRAIN_ARGS = [
    "--max_depth",
    "4",
    "--eta",
    "0.3",
    "--num_round",
    "40",
    "--early_stopping_rounds",
    "10",
    "--nthread",
    "2",
]
MIN_POSITIVES = 4  # a stratified train/validation split needs positives on both sides


class SegmentError(Exception):
    pass


def segment_frames(claims_df: pd.DataFrame, customers_df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Raw claims + customers → {state: frame with `fraud` first, then MODEL_FEATURES}."""
    claims = features.encode_claims(claims_df)
    customers = features.encode_customers(customers_df)
    states = customers_df[["policy_id", SEGMENT_COLUMN]].astype({"policy_id": "int64"})
    joined = claims.merge(customers, on="policy_id", validate="one_to_one").merge(
        states, on="policy_id", validate="one_to_one"
    )
    columns = [LABEL] + features.MODEL_FEATURES
    return {state: group[columns].reset_index(drop=True) for state, group in joined.groupby(SEGMENT_COLUMN, sort=True)}


def _split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    return train_test_split(frame, test_size=0.25, stratify=frame[LABEL], random_state=seed)


def _skip_reason(frame: pd.DataFrame, min_rows: int) -> str | None:
    positives = int(frame[LABEL].sum())
    if len(frame) < min_rows:
        return f"{len(frame)} rows < min_rows {min_rows}"
    if positives < MIN_POSITIVES or len(frame) - positives < MIN_POSITIVES:
        return f"{positives} positives in {len(frame)} rows (need {MIN_POSITIVES} of each class)"
    return None


def _pack(model_dir: Path, archive: Path) -> Path:
    # Flat members, like SageMaker's model.tar.gz: xgboost-model, features.json at the top.
    tmp = archive.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    tmp.replace(archive)
    return archive


def train_segment(frame: pd.DataFrame, work: Path, *, seed: int = 0, train_args: list[str] | None = None) -> Path:
    """Train one segment with train.py's logic in-process; returns its model directory."""
    train_dir, val_dir, model_dir = work / "train", work / "validation", work / "model"
    for d in (train_dir, val_dir, model_dir):
        d.mkdir(parents=True, exist_ok=True)
    train_df, val_df = _split(frame, seed)
    train_df.to_csv(train_dir / "train.csv", index=False)
    val_df.to_csv(val_dir / "validation.csv", index=False)
    args = trainer.parse_args(
        [
            *(train_args or DEFAULT_TRAIN_ARGS),
            "--seed",
            str(seed),
            "--train",
            str(train_dir),
            "--validation",
            str(val_dir),
            "--model-dir",
            str(model_dir),
        ]
    )
    # train.train, not train.main: main exits the process on failure (job contract).
    with open(work / "train.log", "w") as log, contextlib.redirect_stdout(log):
        try:
            trainer.train(args)
        except trainer.TrainingError as exc:
            raise SegmentError(f"segment {work.name}: {exc}") from None
    return model_dir


def train_segments(
    claims_df: pd.DataFrame,
    customers_df: pd.DataFrame,
    out_dir: str | Path,
    *,
    min_rows: int = 200,
    seed: int = 0,
    train_args: list[str] | None = None,
    report=print,
) -> dict[str, Path]:
    """One model per policy_state → {state: out_dir/<STATE>.tar.gz}; small segments skipped."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    archives: dict[str, Path] = {}
    for state, frame in segment_frames(claims_df, customers_df).items():
        reason = _skip_reason(frame, min_rows)
        if reason:
            report(f"{state}: skipped ({reason})")
            continue
        model_dir = train_segment(frame, out / ".work" / state, seed=seed, train_args=train_args)
        archives[state] = _pack(model_dir, out / f"{state}.tar.gz")
        report(f"{state}: {len(frame)} rows, {int(frame[LABEL].sum())} positives → {archives[state]}")
    if not archives:
        raise SegmentError("no segment had enough data to train")
    return archives


def load_dataset(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    if args.claims or args.customers:
        if not (args.claims and args.customers):
            raise SegmentError("--claims and --customers go together")
        from processing import schema

        return schema.read_raw(args.claims, "claims"), schema.read_raw(args.customers, "customers")
    from processing import synthetic

    return synthetic.generate(args.policies, args.seed)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m training.segments", description=__doc__.split("\n")[0])
    ap.add_argument("--policies", type=int, default=5000, help="synthetic policies to generate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--claims", help="raw claims CSV (instead of generating)")
    ap.add_argument("--customers", help="raw customers CSV (instead of generating)")
    ap.add_argument("--out", required=True, help="directory for <STATE>.tar.gz")
    ap.add_argument("--min-rows", type=int, default=200)
    ap.add_argument("--num-round", type=int, default=40)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    train_args = [*DEFAULT_TRAIN_ARGS, "--num_round", str(args.num_round)]
    try:
        claims, customers = load_dataset(args)
        train_segments(claims, customers, args.out, min_rows=args.min_rows, seed=args.seed, train_args=train_args)
    except (SegmentError, features.FeatureError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
