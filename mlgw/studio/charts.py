"""Charts as inline SVG, drawn server-side with matplotlib (object API, no pyplot: thread-safe).

Inputs are the services' own shapes: Model Monitor `statistics.json` features (KLL buckets for
numbers, categorical buckets for strings) and CloudWatch GetMetricData results.

Every text is plain text: feature names and category values come from the data (a gateway
client chooses a category value), and matplotlib would otherwise read `$...$` in one as math
text (`$\\frac{$` fails to parse: a 500) or hand it to LaTeX when `text.usetex` is set. Each
Text gets `parse_math=False, usetex=False` (`_plain_text`) just before the figure is drawn.

The SVG carries no `style` attribute or `<style>` element, which the studio's
Content-Security-Policy (`style-src 'self'`) would block: matplotlib's inline styles become SVG
presentation attributes (`_presentation`), which CSP does not govern.
"""

from __future__ import annotations

import io
import math
import re
from functools import lru_cache

from matplotlib.figure import Figure
from matplotlib.text import Text

BASELINE, CURRENT = "#8c96a8", "#d9534f"
_STYLE_ATTRIBUTE = re.compile(r' style="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"\s*<style[^>]*>\s*\*\s*\{([^}]*)\}\s*</style>")
_DEFS_LEFT_EMPTY = re.compile(r"\s*<defs>\s*</defs>")


def _attributes(declarations: str) -> str:
    """' fill="#fff" stroke-width="0.8"' from 'fill: #fff; stroke-width: 0.8' (every property
    matplotlib writes, fill, stroke*, opacity, font*, is also an SVG presentation attribute)."""
    out = []
    for declaration in declarations.split(";"):
        name, colon, value = declaration.partition(":")
        if colon and name.strip():
            out.append(f' {name.strip()}="{value.strip()}"')
    return "".join(out)


def _presentation(svg: str) -> str:
    """The same drawing without inline CSS: each `style` attribute as presentation attributes,
    and matplotlib's one stylesheet (`*{stroke-linejoin: round; stroke-linecap: butt}`, inherited
    properties) as attributes of the root element."""
    root = ""
    sheet = _STYLE_ELEMENT.search(svg)
    if sheet:
        root = _attributes(sheet.group(1))
        svg = _DEFS_LEFT_EMPTY.sub("", svg[: sheet.start()] + svg[sheet.end() :])
    svg = _STYLE_ATTRIBUTE.sub(lambda m: _attributes(m.group(1)), svg)
    return svg.replace("<svg ", f"<svg{root} ", 1)


def _plain_text(fig: Figure) -> None:
    for text in fig.findobj(Text):
        text.set_parse_math(False)
        text.set_usetex(False)


def _svg(fig: Figure) -> str:
    # Tick labels exist once their ticks are set (a FixedLocator's count never grows while
    # drawing), so every label that can hold data is reached here.
    _plain_text(fig)
    out = io.StringIO()
    fig.savefig(out, format="svg")  # fixed margins: a "tight" box draws every chart twice
    text = out.getvalue()
    return _presentation(text[text.index("<svg") :])  # drop the XML prolog: the SVG sits inside HTML


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _buckets(feature: dict) -> tuple[str, list[tuple[str, float]]]:
    """("numeric" | "categorical", [(label, count)]); a bucket without a number where one is
    due (a statistics.json not written by Model Monitor) is left out, not a 500."""
    numeric = feature.get("numerical_statistics")
    if numeric:
        buckets = ((numeric.get("distribution") or {}).get("kll") or {}).get("buckets") or []
        pairs = [(_number(b.get("lower_bound")), _number(b.get("count"))) for b in buckets if isinstance(b, dict)]
        return "numeric", [(f"{low:.3g}", count) for low, count in pairs if low is not None and count is not None]
    strings = feature.get("string_statistics") or {}
    buckets = ((strings.get("distribution") or {}).get("categorical") or {}).get("buckets") or []
    pairs = [(b.get("value"), _number(b.get("count"))) for b in buckets if isinstance(b, dict)]
    return "categorical", [(str(value), count) for value, count in pairs if count is not None]


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
