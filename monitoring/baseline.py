"""Model Monitor baseline: training CSVs -> statistics.json + constraints.json.

Runs as `python3 baseline.py --train-dir D --output-dir O` inside a processing container,
so it is self-contained (numpy/pandas only). The files have the shape SageMaker Model
Monitor's `suggest_baseline` writes, so the drift check (`monitoring.drift`) and an AWS
monitoring schedule can both read them.

Numeric distributions are emitted as `distribution.kll`: 10 equal-width `buckets` between
min and max (as Model Monitor shows them) and a `sketch` whose single compactor holds up to
`SKETCH_K` equally spaced order statistics. That quantile summary is written by hand (no
KLL library for Python is kept well enough); it gives the empirical CDF to within 1/K,
which is all the L-infinity drift distance needs.

The constraints also derive from the data contract (processing/schema.json, or --schema-dir):
`is_non_negative` holds where the contract declares a minimum >= 0 for the raw column (an
ordinal code is never negative), rather than where the sample happened to be; the files keep
Model Monitor's keys only.
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import sys
from typing import Any

import numpy as np
import pandas as pd

LABEL = "fraud"
STATS_VERSION = 0.0
BUCKETS = 10
SKETCH_K = 2048  # order statistics kept per feature: CDF error <= 1/K
SKETCH_C = 0.64  # KLL's compaction factor, recorded for format compatibility

INTEGRAL, FRACTIONAL, STRING = "Integral", "Fractional", "String"

# Model Monitor's suggested monitoring_config defaults.
DEFAULT_MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


class BaselineError(Exception):
    """Unusable training input (no files, no rows, bad header)."""


# --- statistics ------------------------------------------------------------------------------


def _quantile_sketch(values: np.ndarray) -> list[float]:
    """Sorted values if few, else SKETCH_K order statistics at ranks (i + 0.5) / K."""
    ordered = np.sort(values)
    if len(ordered) > SKETCH_K:
        ranks = ((np.arange(SKETCH_K) + 0.5) * len(ordered) / SKETCH_K).astype(np.int64)
        ordered = ordered[ranks]
    return ordered.tolist()


def _histogram(values: np.ndarray, lo: float, hi: float) -> list[dict[str, float]]:
    if hi <= lo:  # constant column: one bucket holds everything
        edges = np.array([lo, hi], dtype="float64")
        counts = np.array([len(values)])
    else:
        edges = np.linspace(lo, hi, BUCKETS + 1)
        counts, _ = np.histogram(values, bins=edges)  # last bucket is closed, like KLL's
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
        for i in range(len(counts))
    ]


def numeric_statistics(name: str, column: np.ndarray) -> dict[str, Any]:
    """One numeric feature's statistics.json entry (missing = NaN)."""
    values = np.asarray(column, dtype="float64")
    present = values[~np.isnan(values)]
    n = int(present.size)
    common = {"num_present": n, "num_missing": int(values.size - n)}
    if n == 0:
        return {
            "name": name,
            "inferred_type": FRACTIONAL,
            "numerical_statistics": {
                "common": common,
                "mean": 0.0,
                "sum": 0.0,
                "std_deviation": 0.0,
                "min": 0.0,
                "max": 0.0,
            },
        }
    integral = bool(np.all(present == np.floor(present)))
    lo, hi = float(present.min()), float(present.max())
    total = float(present.sum())
    return {
        "name": name,
        "inferred_type": INTEGRAL if integral else FRACTIONAL,
        "numerical_statistics": {
            "common": common,
            "mean": total / n,
            "sum": total,
            "std_deviation": float(present.std()),  # population std, as Deequ computes it
            "min": lo,
            "max": hi,
            "distribution": {
                "kll": {
                    "buckets": _histogram(present, lo, hi),
                    "sketch": {
                        "parameters": {"c": SKETCH_C, "k": float(SKETCH_K)},
                        "data": [_quantile_sketch(present)],
                    },
                }
            },
        },
    }


def string_statistics(name: str, column: pd.Series) -> dict[str, Any]:
    """One categorical feature's statistics.json entry (missing = NA or empty string)."""
    s = column.astype("string")
    s = s.mask(s == "")
    present = s.dropna()
    counts = present.value_counts()
    return {
        "name": name,
        "inferred_type": STRING,
        "string_statistics": {
            "common": {"num_present": int(present.size), "num_missing": int(s.size - present.size)},
            "distinct_count": float(len(counts)),
            "distribution": {
                "categorical": {"buckets": [{"value": str(v), "count": float(c)} for v, c in counts.items()]}
            },
        },
    }


def compute_statistics(frame: pd.DataFrame) -> dict[str, Any]:
    """statistics.json for every column of `frame` (numeric dtypes numeric, others String)."""
    features = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            features.append(numeric_statistics(str(name), column.to_numpy(dtype="float64", na_value=np.nan)))
        else:
            features.append(string_statistics(str(name), column))
    return {"version": STATS_VERSION, "dataset": {"item_count": int(len(frame))}, "features": features}


# --- constraints -----------------------------------------------------------------------------


def _common(feature: dict[str, Any]) -> dict[str, int]:
    stats = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    return stats.get("common", {"num_present": 0, "num_missing": 0})


def completeness(feature: dict[str, Any]) -> float:
    common = _common(feature)
    total = common["num_present"] + common["num_missing"]
    return common["num_present"] / total if total else 0.0


def suggest_constraints(statistics: dict[str, Any], contract: Any = None) -> dict[str, Any]:
    """constraints.json as Model Monitor suggests it from a baseline's statistics; with a data
    contract, its declared lower bounds decide `is_non_negative`."""
    declared: dict[str, float | None] = {}
    if contract is not None:
        for table in contract.tables.values():
            for column in table.columns:
                if column.encoding in ("numeric", "ordinal"):
                    declared[column.name] = 0.0 if column.encoding == "ordinal" else column.min
    features = []
    for feature in statistics["features"]:
        entry: dict[str, Any] = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": completeness(feature),
        }
        numeric = feature.get("numerical_statistics")
        if numeric is not None:
            lower = declared.get(feature["name"])
            non_negative = lower >= 0 if lower is not None else numeric["min"] >= 0
            entry["num_constraints"] = {"is_non_negative": bool(non_negative)}
        else:
            buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
            entry["string_constraints"] = {"domains": [b["value"] for b in buckets]}
        features.append(entry)
    return {
        "version": STATS_VERSION,
        "features": features,
        "monitoring_config": json.loads(json.dumps(DEFAULT_MONITORING_CONFIG)),
    }


# --- processing-step entry point -------------------------------------------------------------


def read_training(train_dir: str) -> pd.DataFrame:
    """All CSVs under train_dir, label column dropped; empty cells are NaN."""
    paths = sorted(glob.glob(os.path.join(train_dir, "**", "*.csv"), recursive=True))
    if not paths:
        raise BaselineError(f"no CSV files under {train_dir}")
    frames = []
    for path in paths:
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise BaselineError(f"cannot read {path}: {exc}") from None
        frames.append(frame.drop(columns=[LABEL], errors="ignore"))
    columns = list(frames[0].columns)
    for path, frame in zip(paths, frames):
        if list(frame.columns) != columns:
            raise BaselineError(f"{path}: columns {list(frame.columns)} differ from {paths[0]}: {columns}")
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        raise BaselineError(f"no rows in the CSV files under {train_dir}")
    return data


def write_json(doc: dict[str, Any], path: str) -> None:
    """Write-then-rename: a reader never sees a half-written file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_baseline(frame: pd.DataFrame, output_dir: str, contract: Any = None) -> tuple[str, str]:
    if contract is None:
        contract = _contract(None)
    os.makedirs(output_dir, exist_ok=True)
    statistics = compute_statistics(frame)
    stats_path = os.path.join(output_dir, "statistics.json")
    constraints_path = os.path.join(output_dir, "constraints.json")
    write_json(statistics, stats_path)
    write_json(suggest_constraints(statistics, contract), constraints_path)
    return stats_path, constraints_path


def _contract(schema_dir: str | None) -> Any:
    """The data contract (processing.contract), or None where the package is not shipped."""
    try:
        from processing import contract
    except ImportError:
        return None
    return contract.activate(schema_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="baseline.py", description="Model Monitor baseline from training CSVs.")
    ap.add_argument("--train-dir", default="/opt/ml/processing/train")
    ap.add_argument("--baseline-dir", "--output-dir", dest="output_dir", default="/opt/ml/processing/baseline")
    ap.add_argument("--schema-dir", help="folder holding the data contract schema.json")
    args = ap.parse_args(argv)
    try:
        contract = _contract(args.schema_dir)
        frame = read_training(args.train_dir)
        stats_path, constraints_path = write_baseline(frame, args.output_dir, contract)
    except (BaselineError, OSError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {stats_path} and {constraints_path} ({len(frame)} rows, {frame.shape[1]} features)")
    return 0


if __name__ == "__main__":
    status = main()
    # Skip the interpreter's garbage collections at shutdown (0.25-0.35 s with pandas and
    # xgboost loaded, on the pipeline's path): processing/job.py finish() says why that is safe.
    gc.freeze()
    sys.exit(status)
