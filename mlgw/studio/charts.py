"""Charts as inline SVG, drawn server-side with matplotlib (object API, no pyplot: thread-safe).

Inputs are the services' own shapes: Model Monitor `statistics.json` features (KLL buckets for
numbers, categorical buckets for strings) and CloudWatch GetMetricData results.
"""

from __future__ import annotations

import io
from functools import lru_cache

from matplotlib.figure import Figure

BASELINE, CURRENT = "#8c96a8", "#d9534f"


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg")  # fixed margins: a "tight" box draws every chart twice
    text = out.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG sits inside HTML


def _buckets(feature: dict) -> tuple[str, list[tuple[str, float]]]:
    numeric = feature.get("numerical_statistics")
    if numeric:
        buckets = ((numeric.get("distribution") or {}).get("kll") or {}).get("buckets") or []
        return "numeric", [(f"{b['lower_bound']:.3g}", float(b["count"])) for b in buckets]
    strings = feature.get("string_statistics") or {}
    buckets = ((strings.get("distribution") or {}).get("categorical") or {}).get("buckets") or []
    return "categorical", [(str(b["value"]), float(b["count"])) for b in buckets]


def distribution(name: str, baseline: dict | None, current: dict | None) -> str:
    """Baseline vs current share per bucket of one feature, as an SVG bar chart."""
    fig = Figure(figsize=(4.2, 2.4))
    fig.subplots_adjust(left=0.15, right=0.97, top=0.88, bottom=0.28)
    ax = fig.add_subplot()
    series = [
        (label, colour, _buckets(f)[1])
        for label, colour, f in (("baseline", BASELINE, baseline), ("current", CURRENT, current))
        if f
    ]
    shown = baseline or current
    if series and shown and _buckets(shown)[0] == "categorical":
        labels = sorted({k for _, _, buckets in series for k, _ in buckets})
        width = 0.8 / len(series)
        for i, (label, colour, buckets) in enumerate(series):
            counts = dict(buckets)
            total = sum(counts.values()) or 1
            ax.bar(
                [x + i * width for x in range(len(labels))],
                [counts.get(k, 0) / total for k in labels],
                width=width,
                color=colour,
                label=label,
            )
        ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels, rotation=30, fontsize=7)
    else:
        for label, colour, buckets in series:
            total = sum(c for _, c in buckets) or 1
            ax.plot(
                range(len(buckets)), [c / total for _, c in buckets], color=colour, label=label, drawstyle="steps-mid"
            )
        if series:
            ticks = series[0][2]
            step = max(1, len(ticks) // 5)
            ax.set_xticks(range(0, len(ticks), step), [t for t, _ in ticks][::step], fontsize=7)
    ax.set_title(name, fontsize=9)
    ax.set_ylabel("share", fontsize=8)
    ax.tick_params(labelsize=7)
    if series:
        ax.legend(fontsize=7)
    return _svg(fig)


def series(title: str, timestamps: list, values: list[float], threshold: float | None = None) -> str:
    """A metric over time (CloudWatch's Timestamps/Values), with the alarm threshold if given."""
    fig = Figure(figsize=(6, 2.4))
    fig.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.3)
    ax = fig.add_subplot()
    points = sorted(zip(timestamps, values))
    ax.plot([t for t, _ in points], [v for _, v in points], marker=".", color=CURRENT)
    if threshold is not None:
        ax.axhline(threshold, color=BASELINE, linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.autofmt_xdate()
    return _svg(fig)


@lru_cache(maxsize=256)
def confusion(tn: int, fp: int, fn: int, tp: int) -> str:
    """A 2×2 confusion matrix as a heat map."""
    fig = Figure(figsize=(2.6, 2.4))
    fig.subplots_adjust(left=0.25, right=0.97, top=0.95, bottom=0.12)
    ax = fig.add_subplot()
    cells = [[tn, fp], [fn, tp]]
    ax.imshow(cells, cmap="Blues")
    for r in range(2):
        for c in range(2):
            ax.text(
                c,
                r,
                str(cells[r][c]),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if cells[r][c] > max(tn, fp, fn, tp) / 2 else "black",
            )
    ax.set_xticks([0, 1], ["pred 0", "pred 1"], fontsize=7)
    ax.set_yticks([0, 1], ["true 0", "true 1"], fontsize=7)
    return _svg(fig)
