"""Constraint checks: current statistics vs a baseline -> Model Monitor violations.

The checks and their names are Model Monitor's (constraint_violations.json):
data_type_check, completeness_check, baseline_drift_check, missing_column_check,
extra_column_check, categorical_values_check.

Numeric drift is the L-infinity distance between the baseline and current empirical CDFs
(a Kolmogorov-Smirnov statistic), evaluated on the baseline's bucket edges and its sketch
points, with both CDFs read from the statistics' quantile sketches. "Simple" flags a distance
above comparison_threshold; "Robust" also requires the distance to exceed the two-sample KS
critical value for the two sample sizes, so a small window is not flagged for noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Two-sample KS critical value factor c(alpha) for alpha = 0.001: sqrt(-ln(alpha / 2) / 2).
KS_C_ALPHA = math.sqrt(-math.log(0.001 / 2) / 2)
COMPLETENESS_TOLERANCE = 0.02  # relative slack: sampling noise in a window is not a violation
NUMERIC_TYPES = ("Integral", "Fractional")


def _violation(feature: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def _stats_block(feature: dict[str, Any]) -> dict[str, Any]:
    return feature.get("numerical_statistics") or feature.get("string_statistics") or {}


def _counts(feature: dict[str, Any]) -> tuple[int, int]:
    common = _stats_block(feature).get("common", {})
    return int(common.get("num_present", 0)), int(common.get("num_missing", 0))


# --- distributions ---------------------------------------------------------------------------


def sketch_cdf(numeric: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted points, cumulative weight share) from a KLL sketch (level h items weigh 2^h)."""
    kll = (numeric.get("distribution") or {}).get("kll") or {}
    levels = (kll.get("sketch") or {}).get("data") or []
    points = [np.asarray(items, dtype="float64") for items in levels]
    weights = [np.full(len(items), 2.0**h) for h, items in enumerate(points)]
    if not points or sum(len(p) for p in points) == 0:
        return _bucket_cdf(kll.get("buckets") or [])
    x, w = np.concatenate(points), np.concatenate(weights)
    order = np.argsort(x, kind="stable")
    return x[order], np.cumsum(w[order]) / w.sum()


def _bucket_cdf(buckets: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray] | None:
    """Fallback when no sketch was kept: the histogram's CDF at its upper edges."""
    counts = np.asarray([b["count"] for b in buckets], dtype="float64")
    if counts.sum() <= 0:
        return None
    upper = np.asarray([b["upper_bound"] for b in buckets], dtype="float64")
    return upper, np.cumsum(counts) / counts.sum()


def _cdf_at(cdf: tuple[np.ndarray, np.ndarray], grid: np.ndarray) -> np.ndarray:
    """P(X <= g) for each g in grid."""
    x, share = cdf
    idx = np.searchsorted(x, grid, side="right")
    return np.where(idx > 0, share[np.maximum(idx - 1, 0)], 0.0)


def numeric_distance(baseline: dict[str, Any], current: dict[str, Any]) -> float | None:
    """L-infinity distance between two numeric features' CDFs on the baseline's grid."""
    base_cdf, cur_cdf = sketch_cdf(baseline), sketch_cdf(current)
    if base_cdf is None or cur_cdf is None:
        return None
    buckets = ((baseline.get("distribution") or {}).get("kll") or {}).get("buckets") or []
    edges = [b["lower_bound"] for b in buckets] + [b["upper_bound"] for b in buckets]
    grid = np.unique(np.concatenate([np.asarray(edges, dtype="float64"), base_cdf[0]]))
    return float(np.max(np.abs(_cdf_at(base_cdf, grid) - _cdf_at(cur_cdf, grid))))


def categorical_distance(baseline: dict[str, Any], current: dict[str, Any]) -> float | None:
    """L-infinity distance between two categorical features' value frequencies."""

    def shares(stats: dict[str, Any]) -> dict[str, float]:
        buckets = stats["distribution"]["categorical"]["buckets"]
        total = sum(b["count"] for b in buckets)
        return {b["value"]: b["count"] / total for b in buckets} if total else {}

    base, cur = shares(baseline), shares(current)
    if not base or not cur:
        return None
    return max(abs(base.get(v, 0.0) - cur.get(v, 0.0)) for v in set(base) | set(cur))


def ks_critical(n: int, m: int) -> float:
    return KS_C_ALPHA * math.sqrt((n + m) / (n * m)) if n and m else math.inf


# --- checks ----------------------------------------------------------------------------------


def _config(constraints: dict[str, Any], constraint: dict[str, Any]) -> dict[str, Any]:
    """monitoring_config with the feature's monitoringConfigOverrides applied."""
    config = dict(constraints.get("monitoring_config") or {})
    dist = dict(config.get("distribution_constraints") or {})
    overrides = constraint.get("monitoringConfigOverrides") or {}
    dist.update(overrides.get("distribution_constraints") or {})
    config.update({k: v for k, v in overrides.items() if k != "distribution_constraints"})
    config["distribution_constraints"] = dist
    return config


def _type_ok(expected: str, observed: str) -> bool:
    # Integral values are valid Fractionals (a window may simply hold whole numbers).
    return expected == observed or (expected == "Fractional" and observed == "Integral")


def check(
    statistics_current: dict[str, Any],
    baseline_statistics: dict[str, Any],
    constraints: dict[str, Any],
    completeness_tolerance: float = COMPLETENESS_TOLERANCE,
    per_feature_completeness: bool = True,
) -> list[dict[str, str]]:
    """Violations of `constraints` (and drift from the baseline) by the current statistics.
    `per_feature_completeness=False` leaves completeness to `check_completeness` (per raw
    field, which needs the rows)."""
    if (constraints.get("monitoring_config") or {}).get("evaluate_constraints", "Enabled") == "Disabled":
        return []
    current = {f["name"]: f for f in statistics_current.get("features", [])}
    baseline = {f["name"]: f for f in baseline_statistics.get("features", [])}
    expected = {c["name"]: c for c in constraints.get("features", [])}
    violations: list[dict[str, str]] = []

    for name in expected.keys() - current.keys():
        violations.append(
            _violation(name, "missing_column_check", f"Column '{name}' is in the baseline but not in the current data")
        )
    for name in current.keys() - expected.keys():
        violations.append(
            _violation(name, "extra_column_check", f"Column '{name}' is in the current data but not in the baseline")
        )

    for name, constraint in expected.items():
        feature = current.get(name)
        if feature is None:
            continue
        config = _config(constraints, constraint)
        present, missing = _counts(feature)
        want, got = constraint.get("inferred_type"), feature.get("inferred_type")
        if present and want and got and not _type_ok(want, got):
            violations.append(
                _violation(
                    name, "data_type_check", f"Data type of '{name}' is {got}; the baseline constraint is {want}"
                )
            )
            continue  # distributions of different types are not comparable

        if per_feature_completeness and "completeness" in constraint and present + missing:
            observed = present / (present + missing)
            floor = constraint["completeness"] * (1 - completeness_tolerance)
            if observed < floor:
                violations.append(
                    _violation(
                        name,
                        "completeness_check",
                        f"Completeness of '{name}' is {observed:.4f}, below the baseline "
                        f"constraint {constraint['completeness']:.4f} (allowed down to "
                        f"{floor:.4f})",
                    )
                )

        domains = (constraint.get("string_constraints") or {}).get("domains")
        if domains is not None and got == "String" and present:
            buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
            known = set(domains)
            inside = sum(b["count"] for b in buckets if b["value"] in known) / present
            threshold = float(config.get("domain_content_threshold", 1.0))
            if inside < threshold:
                unknown = sorted(b["value"] for b in buckets if b["value"] not in known)
                violations.append(
                    _violation(
                        name,
                        "categorical_values_check",
                        f"{1 - inside:.2%} of '{name}' values are outside the baseline domain "
                        f"(e.g. {', '.join(map(repr, unknown[:5]))}); threshold "
                        f"{threshold:.2%} inside",
                    )
                )

        drift = _drift(name, baseline.get(name), feature, config)
        if drift is not None:
            violations.append(drift)
    return violations


def _known_share(baseline_statistics: dict[str, Any], features: list[str]) -> float | None:
    """Share of baseline rows with one of `features` set: one-hot columns are exclusive, so it
    is the sum of their means (statistics.json has each mean)."""
    by_name = {f["name"]: f for f in baseline_statistics.get("features", [])}
    total = 0.0
    for name in features:
        stats = (by_name.get(name) or {}).get("numerical_statistics")
        if stats is None:
            return None
        total += float(stats.get("mean", 0.0))
    return min(total, 1.0)


def check_categories(
    frame: Any,
    baseline_statistics: dict[str, Any],
    groups: dict[str, tuple[list[str], list[str]]],
    tolerance: float = COMPLETENESS_TOLERANCE,
) -> list[dict[str, str]]:
    """Unknown categories. `groups`: {raw column: (its one-hot features, its labels)} from the
    data contract. The gateway scores a label outside the contract as no category (all its
    one-hot features 0), so for each column the share of captured rows (`frame`, pandas) with
    a known category is compared with the baseline's; a violation when it falls below the
    baseline's × (1 - tolerance)."""
    violations = []
    for column, (features, labels) in groups.items():
        present = [f for f in features if f in frame.columns]
        if len(present) != len(features) or frame.empty:
            continue
        base = _known_share(baseline_statistics, features)
        if base is None:
            continue
        known = float((frame[features].fillna(0).to_numpy(dtype="float64").max(axis=1) > 0).mean())
        if known < base * (1 - tolerance):
            violations.append(
                _violation(
                    column,
                    "categorical_values_check",
                    f"{1 - known:.2%} of captured requests have no known '{column}' category "
                    f"(a label outside {', '.join(labels)}, or missing: scored as no category); "
                    f"baseline {1 - base:.2%}",
                )
            )
    return violations


def check_completeness(
    frame: Any, constraints: dict[str, Any], fields: dict[str, list[str]], tolerance: float = COMPLETENESS_TOLERANCE
) -> list[dict[str, str]]:
    """completeness_check per raw field. `frame` (pandas): the captured rows, one column per
    model feature; `fields`: {raw field: its model features} from the data contract (a
    one-hot category is several features, a number or an ordinal one). A field is present in
    a row when any of its features is; its baseline completeness is the lowest of its
    features' constraints. One violation per field, named by the field, so a request without
    a category reads as that one field missing, not as each of its one-hot columns."""
    if (constraints.get("monitoring_config") or {}).get("evaluate_constraints", "Enabled") == "Disabled" or frame.empty:
        return []
    expected = {c["name"]: c for c in constraints.get("features", [])}
    grouped = {f for features in fields.values() for f in features}
    groups = list(fields.items()) + [(name, [name]) for name in expected if name not in grouped]
    violations = []
    for name, features in groups:
        wanted = [expected[f]["completeness"] for f in features if f in expected and "completeness" in expected[f]]
        present = [f for f in features if f in frame.columns]
        if not wanted or not present:
            continue  # no constraint, or a missing column (missing_column_check says so)
        baseline = min(wanted)
        observed = float(frame[present].notna().to_numpy().any(axis=1).mean())
        floor = baseline * (1 - tolerance)
        if observed < floor:
            parts = f" (any of {len(features)} one-hot features)" if len(features) > 1 else ""
            violations.append(
                _violation(
                    name,
                    "completeness_check",
                    f"Completeness of '{name}'{parts} is {observed:.4f}, below the baseline "
                    f"constraint {baseline:.4f} (allowed down to {floor:.4f})",
                )
            )
    return violations


def _drift(
    name: str, base: dict[str, Any] | None, feature: dict[str, Any], config: dict[str, Any]
) -> dict[str, str] | None:
    dist = config["distribution_constraints"]
    if base is None or dist.get("perform_comparison", "Enabled") == "Disabled":
        return None
    n, _ = _counts(base)
    m, _ = _counts(feature)
    if not n or not m:
        return None
    if "numerical_statistics" in base and "numerical_statistics" in feature:
        distance = numeric_distance(base["numerical_statistics"], feature["numerical_statistics"])
        threshold = float(dist.get("comparison_threshold", 0.1))
        method = dist.get("comparison_method", "Robust")
        if distance is None or distance <= threshold:
            return None
        if method == "Robust" and distance <= ks_critical(n, m):
            return None
        return _violation(
            name,
            "baseline_drift_check",
            f"Baseline drift distance: {distance:.4f} exceeds threshold: "
            f"{threshold} (method {method}, L-infinity between CDFs)",
        )
    if "string_statistics" in base and "string_statistics" in feature:
        distance = categorical_distance(base["string_statistics"], feature["string_statistics"])
        threshold = float(dist.get("categorical_comparison_threshold", 0.1))
        if distance is None or distance <= threshold:
            return None
        return _violation(
            name,
            "baseline_drift_check",
            f"Baseline drift distance: {distance:.4f} exceeds threshold: "
            f"{threshold} (LInfinity over category frequencies)",
        )
    return None
