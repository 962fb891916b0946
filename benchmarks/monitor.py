"""Benchmark: a monitoring run over 1,000,000 captured records (target: under 15 s, 2 cores).

`write_capture` is also what the tests use to lay down capture files: lines in SageMaker's
data-capture format, under `<root>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`, as the local
endpoint writes them (JSON `{"instances": [...]}` inputs, missing features absent; CSV
inputs in feature order, missing = empty).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ENDPOINT, VARIANT = "fraud-endpoint", "AllTraffic"


def feature_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """n rows of MODEL_FEATURES from the project's generator (the label dropped)."""
    from processing import features, synthetic

    claims, customers = synthetic.generate(n, seed)
    merged = features.encode_claims(claims).merge(features.encode_customers(customers), on="policy_id")
    return merged[features.MODEL_FEATURES]


def _json_payloads(frame: pd.DataFrame) -> list[str]:
    # pandas' C writer is fast but writes NaN as null; the gateway leaves missing keys out.
    text = frame.to_json(orient="records", lines=True, double_precision=10)
    rows = [_drop_nulls(r) for r in text.rstrip("\n").split("\n")]
    return ['{"instances":[' + r + "]}" for r in rows]


def _drop_nulls(row: str) -> str:
    if ":null" not in row:
        return row
    doc = {k: v for k, v in json.loads(row).items() if v is not None}
    return json.dumps(doc, separators=(",", ":"))


def _csv_payloads(frame: pd.DataFrame) -> list[str]:
    text = frame.to_csv(header=False, index=False, float_format="%.10g")
    return text.rstrip("\n").split("\n")


def capture_lines(frame: pd.DataFrame, when: dt.datetime, csv_share: float = 0.2, seed: int = 0) -> list[str]:
    """One capture line per row; a `csv_share` of them as text/csv, the rest JSON."""
    rng = np.random.default_rng(seed)
    is_csv = rng.random(len(frame)) < csv_share
    payloads = np.empty(len(frame), dtype=object)
    if (~is_csv).any():
        payloads[~is_csv] = _json_payloads(frame[~is_csv])
    if is_csv.any():
        payloads[is_csv] = _csv_payloads(frame[is_csv])
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for i, (payload, csv) in enumerate(zip(payloads, is_csv)):
        kind, enc = ("text/csv", "CSV") if csv else ("application/json", "JSON")
        data = json.dumps(payload)  # the payload is a JSON string inside the envelope
        out.append(
            '{"captureData":{"endpointInput":{"observedContentType":"%s","mode":"INPUT",'
            '"data":%s,"encoding":"%s"},"endpointOutput":{"observedContentType":"text/csv",'
            '"mode":"OUTPUT","data":"0.0123","encoding":"CSV"}},"eventMetadata":{"eventId":'
            '"e-%d","inferenceTime":"%s"},"eventVersion":"0"}' % (kind, data, enc, i, stamp)
        )
    return out


def capture_path(
    root: Path, when: dt.datetime, name: str = "00-00-000-bench.jsonl", endpoint: str = ENDPOINT, variant: str = VARIANT
) -> Path:
    return Path(root, endpoint, variant, when.strftime("%Y/%m/%d/%H"), name)


def write_capture(
    root: Path,
    frame: pd.DataFrame,
    when: dt.datetime,
    per_file: int = 100_000,
    csv_share: float = 0.2,
    seed: int = 0,
    extra_lines: list[str] | None = None,
) -> list[Path]:
    """Write `frame` as capture files (per_file lines each) in `when`'s hour folder."""
    lines = capture_lines(frame, when, csv_share, seed) + list(extra_lines or [])
    paths = []
    for part in range(max(1, math.ceil(len(lines) / per_file))):
        path = capture_path(root, when, f"{when:%M-%S}-{part:03d}-bench.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        chunk = lines[part * per_file : (part + 1) * per_file]
        path.write_text("\n".join(chunk) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def bench_monitor(records: int = 1_000_000, baseline_rows: int = 20_000, workdir: str | None = None) -> dict[str, Any]:
    """Write `records` capture lines (untimed), then time one `run_monitoring`."""
    from monitoring.baseline import write_baseline
    from monitoring.monitor import run_monitoring

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        write_baseline(feature_frame(baseline_rows, seed=1), str(root / "baseline"))
        when = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
        t0 = time.perf_counter()
        frame = feature_frame(records, seed=2)
        write_capture(root / "capture", frame, when)
        written = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (root / "capture").rglob("*.jsonl"))
        t0 = time.perf_counter()
        result = run_monitoring(root / "capture", root / "baseline", root / "out")
        elapsed = time.perf_counter() - t0
        return {
            "records": result.report.records,
            "capture_bytes": size,
            "write_seconds": round(written, 2),
            "monitor_seconds": round(elapsed, 2),
            "violations": len(result.violations),
            "cpus": os.cpu_count(),
            "peer_json_loads_seconds": round(_json_loads_peer(root / "capture", records), 2),
        }


def _json_loads_peer(capture: Path, records: int, sample: int = 100_000) -> float:
    """The peer: decoding the capture the plain way (json.loads per line, then its payload) —
    timed on the first `sample` lines and scaled to all of them."""
    done, t0 = 0, time.perf_counter()
    for path in sorted(capture.rglob("*.jsonl")):
        with open(path) as lines:
            for line in lines:
                record = json.loads(line)
                data = record["captureData"]["endpointInput"]["data"]
                if record["captureData"]["endpointInput"]["observedContentType"] == "application/json":
                    json.loads(data)
                done += 1
                if done >= sample:
                    return (time.perf_counter() - t0) * records / done
    return (time.perf_counter() - t0) * records / max(done, 1)


TARGET_RECORDS = 1_000_000


def print_bench(result: dict[str, Any], target_seconds: float = 15.0) -> None:
    """The figure, its target and MET/MISSED (judged only at the target's size), the peer."""
    if result["records"] == TARGET_RECORDS:
        verdict = "MET" if result["monitor_seconds"] < target_seconds else "MISSED"
        target = f"target < {target_seconds:.0f} s: {verdict}"
    else:
        target = f"the target, < {target_seconds:.0f} s, is for {TARGET_RECORDS:,} records: not judged"
    print(
        f"monitoring run over {result['records']:,} captured records "
        f"({result['capture_bytes'] / 1e9:.2f} GB): {result['monitor_seconds']:.1f} s "
        f"({target}); {result['violations']} violations"
    )
    sample = min(result["records"], 100_000)
    print(
        f"peer: json.loads per line would take ~{result['peer_json_loads_seconds']:.1f} s "
        f"for decoding alone (timed on {sample:,} lines)"
    )


if __name__ == "__main__":
    print_bench(bench_monitor())
