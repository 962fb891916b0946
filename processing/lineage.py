"""A model's lineage, as SageMaker's lineage tracking and model cards carry it: which execution
trained it, on which data (a digest and the row count of each split), under which data contract
(the schema's digest), with which parameters, and its training / validation / test metrics.

Evaluate writes the whole record into evaluation.json (`lineage`), the object the model
package's ModelMetrics.ModelQuality.Statistics points at, and a flat summary
(`lineage_properties`) that RegisterModel copies into the package's CustomerMetadataProperties.
Those are limited by CreateModelPackage: at most 50 entries, keys of 1-128 and values of 1-256
characters out of letters, digits, whitespace and `_.:/=+-@`
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html#sagemaker-CreateModelPackage-request-CustomerMetadataProperties):
`metadata_value` makes any text fit, and whatever does not fit (the parameters: a schedule
`rate(1 hour)` has parentheses) lives in evaluation.json only.

Digests are SHA-256 of the bytes (a split: its CSV files in name order), written `sha256:<hex>`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

SPLITS = ("train", "validation", "test")
# CustomerMetadataProperties keys RegisterModel sets from `lineage_properties`
# (pipelines/ml_gateway/pipeline.py reads this tuple: one list of keys).
PROPERTY_KEYS = (
    "DatasetDigest",
    "TestSetDigest",
    "SchemaDigest",
    "TrainRows",
    "ValidationRows",
    "TestRows",
    "TestAuc",
    "ChampionAuc",
    "ChampionGate",
    "MlflowRunId",
)
MAX_VALUE = 256
# CustomerMetadataValue's pattern, `([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)`: letters, separators,
# numbers and `_.:/=+-@`. Python's `re` has no \p{..}: `\w` (Unicode letters, digits and `_`)
# and `\s` come close enough for text we write ourselves; the rest is replaced.
_UNSAFE = re.compile(r"[^\w\s.:/=+\-@]|[\r\n\t]")


def metadata_value(text: str) -> str:
    """`text` as a CustomerMetadataProperties value: disallowed characters become spaces,
    runs of spaces one, cut to 256 characters, never empty ("none")."""
    cleaned = " ".join(_UNSAFE.sub(" ", text).split())[:MAX_VALUE].strip()
    return cleaned or "none"


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def split_files(folder: str | Path) -> list[Path]:
    """A split's non-empty, non-hidden files, in name order (what BuildDataset wrote)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".") and p.stat().st_size)


def split_summary(folder: str | Path) -> dict[str, Any]:
    """{"digest": "sha256:...", "rows": N} of one split: the digest of its files' bytes in name
    order, and its data rows (lines after each file's header)."""
    sha = hashlib.sha256()
    rows = 0
    for path in split_files(folder):
        data = path.read_bytes()
        sha.update(data)
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        rows += max(lines - 1, 0)
    return {"digest": "sha256:" + sha.hexdigest(), "rows": rows}


def dataset_digest(splits: dict[str, dict[str, Any]]) -> str:
    """One digest for the whole dataset: the splits' digests, in SPLITS order."""
    text = "\n".join(f"{name}={splits[name]['digest']}" for name in SPLITS if name in splits)
    return digest_bytes(text.encode())


def best_round_metrics(history: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    """{"train": {"auc": ...}, "validation": {...}} at the booster's best iteration, from
    training_history.json (train.py); empty without one."""
    if not history:
        return {}
    best = (history.get("params") or {}).get("best_iteration")
    out: dict[str, dict[str, float]] = {}
    for split, by_metric in (history.get("rounds") or {}).items():
        values = {}
        for metric, series in by_metric.items():
            if series:
                index = best if isinstance(best, int) and 0 <= best < len(series) else len(series) - 1
                values[metric] = float(series[index])
        out[split] = values
    return out


def parse_parameters(pairs: list[str]) -> dict[str, str]:
    """`NAME=VALUE` arguments (the execution's parameters) as a dict; ValueError naming a pair
    without `=`."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--parameter {pair!r}: expected NAME=VALUE")
        out[name] = value
    return out


def properties(report: dict[str, Any]) -> dict[str, str]:
    """evaluation.json's `lineage_properties`: one value for each PROPERTY_KEYS key, each a
    valid CustomerMetadataProperties value."""
    lineage = report.get("lineage") or {}
    splits = lineage.get("splits") or {}
    champion = report.get("champion") or {}
    gate = report.get("champion_gate") or {}
    auc = report["binary_classification_metrics"]["auc"]["value"]

    def rows(name: str) -> str:
        return str((splits.get(name) or {}).get("rows", "none"))

    values = {
        "DatasetDigest": lineage.get("dataset_digest") or "none",
        "TestSetDigest": (splits.get("test") or {}).get("digest") or "none",
        "SchemaDigest": lineage.get("schema_digest") or "none",
        "TrainRows": rows("train"),
        "ValidationRows": rows("validation"),
        "TestRows": rows("test"),
        "TestAuc": f"{auc:.4f}",
        "ChampionAuc": f"{champion['auc']:.4f}" if isinstance(champion.get("auc"), float) else "none",
        "ChampionGate": gate.get("reason") or "none",
        "MlflowRunId": (report.get("mlflow") or {}).get("run_id") or "none",
    }
    return {key: metadata_value(str(values[key])) for key in PROPERTY_KEYS}
