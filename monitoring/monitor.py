"""One monitoring run: captured traffic in a window vs the baseline -> Model Monitor outputs.

Writes, like a Model Monitor execution, `statistics.json` and `constraint_violations.json`,
plus a self-contained `report.html` (inline SVG histograms, no plotting dependency).

    python -m monitoring.monitor --capture-root R --baseline-dir B --output-dir O \
        [--start 2026-11-25T12:00:00Z --end 2026-11-25T13:00:00Z]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import html
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring import drift
from monitoring.baseline import compute_statistics, write_json
from monitoring.capture import CaptureReport, read_capture


class MonitoringError(Exception):
    """A monitoring run that cannot produce a result; the message says why."""


class BaselineMissingError(MonitoringError):
    pass


class NoDataError(MonitoringError):
    """The window holds no readable captured record; `report` counts the files and the
    unreadable lines that were seen."""

    def __init__(self, message: str, report: CaptureReport | None = None):
        super().__init__(message)
        self.report = report


@dataclass
class MonitoringResult:
    violations: list[dict[str, str]]
    statistics: dict[str, Any]
    report: CaptureReport
    statistics_path: Path
    violations_path: Path
    report_path: Path
    baseline: dict[str, Any] = field(repr=False, default_factory=dict)


def load_baseline(baseline_dir: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """(statistics, constraints) from a baseline folder, with errors naming the file."""
    docs = []
    for name in ("statistics.json", "constraints.json"):
        path = Path(baseline_dir, name)
        if not path.is_file():
            raise BaselineMissingError(f"baseline file not found: {path}")
        try:
            docs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MonitoringError(f"cannot read baseline file {path}: {exc}") from None
        if not isinstance(docs[-1], dict) or not isinstance(docs[-1].get("features"), list):
            raise MonitoringError(f"baseline file {path} has no 'features' list")
    return docs[0], docs[1]


def window_text(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """A window [start, end) as a reader says it, in UTC: "2026-11-30 01:35:00 to 02:35:00
    UTC", "up to ...", "from ...", or "all captured data" for an open window."""

    def utc(t: dt.datetime) -> dt.datetime:
        return t.astimezone(dt.timezone.utc) if t.tzinfo else t

    if start is None and end is None:
        return "all captured data"
    if start is None:
        return f"everything captured up to {utc(end):%Y-%m-%d %H:%M:%S} UTC"
    if end is None:
        return f"everything captured from {utc(start):%Y-%m-%d %H:%M:%S} UTC"
    start, end = utc(start), utc(end)
    tail = f"{end:%H:%M:%S}" if start.date() == end.date() else f"{end:%Y-%m-%d %H:%M:%S}"
    return f"{start:%Y-%m-%d %H:%M:%S} to {tail} UTC"


def _category_groups() -> dict[str, tuple[list[str], list[str]]]:
    """{raw column: (one-hot features, labels)} from the data contract (processing.contract),
    empty where the package is not shipped with this job."""
    try:
        from processing import contract
    except ImportError:
        return {}
    return {
        column.name: (column.features, list(column.values))
        for table in contract.active().tables.values()
        for column in table.encoded("one_hot")
    }


def _raw_fields() -> dict[str, list[str]]:
    """{raw field: its model features} for every field the model reads, from the data
    contract; empty where the package is not shipped (completeness is then per feature)."""
    try:
        from processing import contract
    except ImportError:
        return {}
    return {
        column.name: column.features
        for table in contract.active().tables.values()
        for column in table.columns
        if column.features
    }


def run_monitoring(
    capture_root: str | os.PathLike,
    baseline_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> MonitoringResult:
    """Read captured inputs with inferenceTime in [start, end), check them, write outputs.
    Completeness is checked per raw field of the data contract (drift.check_completeness);
    the other checks, statistics.json and the metrics stay per model feature."""
    base_stats, constraints = load_baseline(baseline_dir)
    names = [f["name"] for f in base_stats["features"]]
    frame, report = read_capture(capture_root, start, end, features=names)
    if report.records == 0:
        skipped = f", {report.skipped_lines} unreadable lines" if report.skipped_lines else ""
        raise NoDataError(
            f"no captured records in {window_text(start, end)} "
            f"({report.files} capture files{skipped}); nothing to monitor",
            report,
        )
    statistics = compute_statistics(frame)
    violations = drift.check(statistics, base_stats, constraints, per_feature_completeness=False)
    violations += drift.check_completeness(frame, constraints, _raw_fields())
    violations += drift.check_categories(frame, base_stats, _category_groups())

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats_path = out / "statistics.json"
    violations_path = out / "constraint_violations.json"
    report_path = out / "report.html"
    write_json(statistics, str(stats_path))
    write_json({"violations": violations}, str(violations_path))
    page = render_report(base_stats, statistics, frame, violations, report, start, end)
    tmp = report_path.with_name(f".{report_path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, report_path)
    finally:
        tmp.unlink(missing_ok=True)
    return MonitoringResult(violations, statistics, report, stats_path, violations_path, report_path, base_stats)


# --- report.html ---------------------------------------------------------------------------

_W, _H = 320, 90  # one histogram's SVG size


def _shares(base: dict[str, Any], column: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """Bucket labels and baseline/current shares on the baseline's buckets (+ out of range)."""
    buckets = ((base.get("distribution") or {}).get("kll") or {}).get("buckets") or []
    if not buckets:
        return None
    edges = np.asarray([b["lower_bound"] for b in buckets] + [buckets[-1]["upper_bound"]])
    base_counts = np.asarray([b["count"] for b in buckets], dtype="float64")
    values = column[~np.isnan(column)]
    cur_counts = (
        np.histogram(values, bins=edges)[0].astype("float64")
        if len(edges) > 1 and edges[-1] > edges[0]
        else np.asarray([np.sum(values == edges[0])], dtype="float64")
    )
    below, above = float(np.sum(values < edges[0])), float(np.sum(values > edges[-1]))
    labels = ["< min"] + [f"{b['lower_bound']:.4g}–{b['upper_bound']:.4g}" for b in buckets] + ["> max"]
    base_share = np.concatenate([[0.0], base_counts, [0.0]]) / max(base_counts.sum(), 1.0)
    cur_share = np.concatenate([[below], cur_counts, [above]]) / max(len(values), 1)
    return labels, base_share, cur_share


def _svg(labels: list[str], base: np.ndarray, cur: np.ndarray) -> str:
    top = max(float(base.max()), float(cur.max()), 1e-9)
    slot = _W / len(labels)
    bar = slot * 0.4
    parts = [
        f'<svg width="{_W}" height="{_H + 2}" viewBox="0 0 {_W} {_H + 2}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img">'
    ]
    for i, label in enumerate(labels):
        for j, (share, colour) in enumerate(((base[i], "#4c78a8"), (cur[i], "#f58518"))):
            h = _H * share / top
            x = i * slot + slot * 0.1 + j * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{_H - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{html.escape(label)}: '
                f"{'baseline' if j == 0 else 'current'} {share:.2%}</title></rect>"
            )
    parts.append(f'<line x1="0" y1="{_H}" x2="{_W}" y2="{_H}" stroke="#999"/></svg>')
    return "".join(parts)


def render_report(
    base_stats: dict[str, Any],
    statistics: dict[str, Any],
    frame: pd.DataFrame,
    violations: list[dict[str, str]],
    report: CaptureReport,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> str:
    esc = html.escape
    flagged: dict[str, list[str]] = {}
    for v in violations:
        flagged.setdefault(v["feature_name"], []).append(v["constraint_check_type"])
    rows = (
        "".join(
            f"<tr><td>{esc(v['feature_name'])}</td><td>{esc(v['constraint_check_type'])}"
            f"</td><td>{esc(v['description'])}</td></tr>"
            for v in violations
        )
        or '<tr><td colspan="3">No violations.</td></tr>'
    )
    skipped = (
        "".join(
            f"<tr><td>{esc(reason)}</td><td>{count}</td></tr>" for reason, count in report.skipped_reasons.most_common()
        )
        or '<tr><td colspan="2">None.</td></tr>'
    )
    current = {f["name"]: f for f in statistics["features"]}
    cards = []
    for feature in base_stats["features"]:
        name = feature["name"]
        numeric = feature.get("numerical_statistics")
        if numeric is None or name not in frame.columns:
            continue
        shares = _shares(numeric, frame[name].to_numpy(dtype="float64"))
        if shares is None:
            continue
        cur = (current.get(name) or {}).get("numerical_statistics") or {}
        checks = ", ".join(flagged.get(name, []))
        cards.append(
            f'<div class="card{" bad" if checks else ""}"><h3>{esc(name)}</h3>'
            f"{_svg(*shares)}<p>baseline mean {numeric.get('mean', 0):.4g}, current mean "
            f"{cur.get('mean', 0):.4g}{f' — <b>{esc(checks)}</b>' if checks else ''}</p></div>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Model Monitor report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}
table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}
.grid{{display:flex;flex-wrap:wrap;gap:1em}}
.card{{border:1px solid #ddd;padding:.5em;width:{_W + 10}px}}
.card.bad{{border-color:#d62728;background:#fff5f5}}
.card h3{{font-size:.95em;margin:.2em 0}} .card p{{font-size:.8em;margin:.2em 0}}
.key span{{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em}}
</style></head><body>
<h1>Model Monitor report</h1>
<p>Window: {esc(window_text(start, end))}. Records: {report.records} from {report.files} capture
files; skipped lines: {report.skipped_lines}; deploy's warm-up requests left out:
{report.warm_up}. Violations: {len(violations)}.</p>
<h2>Violations</h2>
<table><tr><th>feature</th><th>check</th><th>description</th></tr>{rows}</table>
<h2>Skipped lines</h2>
<table><tr><th>reason</th><th>lines</th></tr>{skipped}</table>
<h2>Distributions</h2>
<p class="key"><span style="background:#4c78a8"></span>baseline
<span style="background:#f58518"></span>current (share per baseline bucket; outer bars are
values below the baseline min / above its max)</p>
<div class="grid">{"".join(cards)}</div>
</body></html>
"""


# --- command line --------------------------------------------------------------------------


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m monitoring.monitor",
        description="Check captured endpoint traffic against a Model Monitor baseline; write "
        "statistics.json, constraint_violations.json and report.html.",
    )
    ap.add_argument(
        "--capture-root", required=True, help="data-capture prefix (folder holding <endpoint>/<variant>/yyyy/mm/dd/hh)"
    )
    ap.add_argument(
        "--baseline-dir", required=True, help="folder with the baseline statistics.json and constraints.json"
    )
    ap.add_argument("--output-dir", required=True, help="where to write the outputs")
    ap.add_argument("--start", type=_timestamp, help="window start, ISO-8601 (inclusive; UTC if no offset)")
    ap.add_argument("--end", type=_timestamp, help="window end, ISO-8601 (exclusive)")
    args = ap.parse_args(argv)
    if args.start and args.end and args.start >= args.end:
        ap.error("--start must be before --end")
    try:
        result = run_monitoring(args.capture_root, args.baseline_dir, args.output_dir, args.start, args.end)
    except MonitoringError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = result.report
    print(
        f"monitored {report.records} records ({report.skipped_lines} lines skipped): "
        f"{len(result.violations)} violations; wrote {result.violations_path.parent}"
    )
    return 0


if __name__ == "__main__":
    status = main()
    # Skip the interpreter's garbage collections at shutdown (0.25-0.35 s with pandas and
    # xgboost loaded, on the pipeline's path): processing/job.py finish() says why that is safe.
    gc.freeze()
    sys.exit(status)
