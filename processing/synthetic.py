"""Seeded synthetic auto-insurance claims in the raw schema (claims.csv, customers.csv).

The label is drawn first (about 3 % fraud) and then every column is drawn from a
distribution that depends on it, with overlapping distributions, so the signal is learnable
but not trivial: fraud skews to short tenure, more past claims, severe incidents, injuries,
large claims relative to premium, no authorities / no police report, night hours, and thefts
with no collision type. All draws are vectorised (numpy Generator).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from processing.schema import CLAIMS_COLUMNS, CUSTOMERS_COLUMNS

FRAUD_RATE = 0.03
MISSING_RATE = 0.015  # realistic empty cells in nullable money columns


def _pick(rng: np.random.Generator, fraud: np.ndarray, values: tuple,
          p_ok: list[float], p_fraud: list[float]) -> np.ndarray:
    """Draw one of `values` per row, with class-dependent probabilities (None = empty)."""
    u = rng.random(len(fraud))
    idx = np.where(fraud, np.searchsorted(np.cumsum(p_fraud) / sum(p_fraud), u),
                   np.searchsorted(np.cumsum(p_ok) / sum(p_ok), u))
    return np.asarray(values, dtype=object)[np.minimum(idx, len(values) - 1)]


def _blank(rng: np.random.Generator, x: np.ndarray, rate: float = MISSING_RATE) -> np.ndarray:
    x = x.astype("float64")
    x[rng.random(len(x)) < rate] = np.nan
    return x


def generate(policies: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims, customers): one claim per policy, policy_id 1..N, typed like read_raw's output."""
    if policies < 1:
        raise ValueError(f"policies must be >= 1, got {policies}")
    rng = np.random.default_rng(seed)
    n = policies
    fraud = rng.random(n) < FRAUD_RATE
    f = fraud.astype("float64")
    ids = np.arange(1, n + 1, dtype="int64")

    # --- customers ---
    age = np.clip(np.rint(rng.normal(43, 13, n)), 18, 70).astype("int64")
    tenure_scale = np.where(fraud, 40.0, 90.0)  # fraudsters tend to be new customers
    months = np.minimum(rng.gamma(1.6, tenure_scale), (age - 17) * 12).astype("int64")
    months = np.clip(months, 0, 1200)
    past_claims = np.clip(rng.poisson(0.25 + 0.6 * f), 0, 6)
    insurers = np.clip(1 + rng.poisson(0.6 + 0.8 * f), 1, 5)
    state = _pick(rng, fraud, ("CA", "WA", "AZ", "OR", "NV", "ID"),
                  [35, 18, 15, 14, 11, 7], [35, 18, 15, 14, 11, 7])
    liability = _pick(rng, fraud, ("15/30", "25/50", "30/60", "100/200"),
                      [30, 35, 20, 15], [40, 35, 15, 10])
    liab_factor = pd.Series(liability).map(
        {"15/30": 0.8, "25/50": 1.0, "30/60": 1.15, "100/200": 1.45}).to_numpy(dtype="float64")
    deductible = rng.choice(np.array([500.0, 750.0, 1000.0, 1500.0, 2000.0]), n,
                            p=[0.25, 0.25, 0.3, 0.12, 0.08])
    age_factor = 1.0 + np.maximum(0, 27 - age) * 0.04
    premium = np.round(np.clip(rng.normal(1800, 380, n) * liab_factor * age_factor
                               * (1.1 - deductible / 10000), 400, None), 2)
    zip_lo = pd.Series(state).map({"CA": 90001, "WA": 98001, "AZ": 85001, "OR": 97001,
                                   "NV": 88901, "ID": 83201}).to_numpy(dtype="int64")
    zip_code = zip_lo + rng.integers(0, 900, n)
    gender = _pick(rng, fraud, ("Male", "Female", "Other", "Unkown"),
                   [48, 48, 2, 2], [50, 42, 3, 5])
    education = _pick(rng, fraud, ("Below High School", "High School", "Associate",
                                   "Bachelor", "Advanced Degree"),
                      [8, 30, 22, 27, 13], [12, 34, 22, 22, 10])
    auto_year = 2024 - np.clip(rng.poisson(7, n), 0, 30)
    customers = pd.DataFrame({
        "policy_id": pd.array(ids, dtype="Int64"),
        "customer_age": pd.array(age, dtype="Int64"),
        "months_as_customer": pd.array(months, dtype="Int64"),
        "num_claims_past_year": pd.array(past_claims, dtype="Int64"),
        "num_insurers_past_5_years": pd.array(insurers, dtype="Int64"),
        "policy_state": pd.Series(state, dtype=object),
        "policy_deductable": _blank(rng, deductible),
        "policy_annual_premium": _blank(rng, premium),
        "policy_liability": pd.Series(liability, dtype=object),
        "customer_zip": pd.array(zip_code, dtype="Int64"),
        "customer_gender": pd.Series(gender, dtype=object),
        "customer_education": pd.Series(education, dtype=object),
        "auto_year": pd.array(auto_year, dtype="Int64"),
    })

    # --- claims ---
    incident = _pick(rng, fraud, ("Collision", "Break-in", "Theft"), [72, 15, 13], [60, 15, 25])
    collision = incident == "Collision"
    coll_type = _pick(rng, fraud, ("Front", "Rear", "Side", None), [40, 35, 24, 1],
                      [38, 30, 30, 2])
    # Non-collisions usually have no collision type; a fraudulent theft almost never has one.
    keep_type = rng.random(n) < np.where(fraud, 0.03, 0.25)
    coll_type = np.where(collision | keep_type, coll_type, None)
    severity = np.where(
        collision,
        _pick(rng, fraud, ("Minor", "Major", "Totaled"), [58, 32, 10], [32, 45, 23]),
        _pick(rng, fraud, ("Minor", "Major", "Totaled"), [65, 28, 7], [25, 45, 30]))
    sev_level = pd.Series(severity).map({"Minor": 0, "Major": 1, "Totaled": 2}) \
        .to_numpy(dtype="int64")
    relationship = _pick(rng, fraud, ("Self", "Spouse", "Child", "Other", None),
                         [62, 20, 9, 7, 2], [50, 18, 8, 20, 4])
    vehicles = np.where(collision, np.clip(1 + rng.poisson(0.9, n), 1, 6), 1)
    injuries = np.where(collision, np.clip(rng.poisson(0.25 + 0.45 * sev_level + 0.6 * f), 0, 4),
                        0)
    witnesses = np.clip(rng.poisson(np.where(fraud, 0.6, 1.4)), 0, 5)
    authorities = _pick(rng, fraud, ("Police", "Ambulance", "Fire", None),
                        [58, 10, 5, 27], [40, 9, 4, 47])
    authorities = np.where((injuries > 1) & (authorities == None), "Ambulance",  # noqa: E711
                           authorities)
    report_p = np.where(authorities == "Police", 0.85, 0.35) - 0.25 * f
    report = np.where(rng.random(n) < report_p, "Yes", "No").astype(object)

    # Money: vehicle claim scales with severity and premium; fraud inflates relative to premium.
    base_premium = np.where(np.isnan(premium), 1800.0, premium)
    vehicle = np.round(rng.lognormal(np.log(base_premium * (1.2 + 1.8 * sev_level)), 0.45)
                       * (1.0 + 0.9 * f), 2)
    injury = np.round(injuries * rng.lognormal(np.log(2500), 0.6, n) * (1.0 + 0.6 * f), 2)
    total = np.round(injury + vehicle, 2)

    # Incident date in 2023-2024 (real calendar, so month/day/dow agree); hour by time of day.
    days = rng.integers(0, 731, n)
    dates = np.datetime64("2023-01-01") + days
    month_start = dates.astype("datetime64[M]")
    month = month_start.astype("int64") % 12 + 1
    day = (dates - month_start.astype("datetime64[D]")).astype("int64") + 1
    dow = (days + 6) % 7  # 2023-01-01 was a Sunday; Monday = 0
    night = rng.random(n) < np.where(fraud, 0.4, 0.15)
    hour = np.where(night, (22 + rng.integers(0, 7, n)) % 24,
                    np.clip(np.rint(rng.normal(14, 3.5, n)), 6, 21)).astype("int64")

    claims = pd.DataFrame({
        "policy_id": pd.array(ids, dtype="Int64"),
        "driver_relationship": pd.Series(relationship, dtype=object),
        "incident_type": pd.Series(incident, dtype=object),
        "collision_type": pd.Series(coll_type, dtype=object),
        "incident_severity": pd.Series(severity, dtype=object),
        "authorities_contacted": pd.Series(authorities, dtype=object),
        "num_vehicles_involved": pd.array(vehicles, dtype="Int64"),
        "num_injuries": pd.array(injuries, dtype="Int64"),
        "num_witnesses": pd.array(witnesses, dtype="Int64"),
        "police_report_available": pd.Series(report, dtype=object),
        "injury_claim": _blank(rng, injury),
        "vehicle_claim": _blank(rng, vehicle),
        "total_claim_amount": _blank(rng, total),
        "incident_month": pd.array(month, dtype="Int64"),
        "incident_day": pd.array(day, dtype="Int64"),
        "incident_dow": pd.array(dow, dtype="Int64"),
        "incident_hour": pd.array(hour, dtype="Int64"),
        "fraud": pd.array(fraud.astype("int64"), dtype="Int64"),
    })
    assert list(claims.columns) == list(CLAIMS_COLUMNS)
    assert list(customers.columns) == list(CUSTOMERS_COLUMNS)
    return claims, customers


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        df.to_csv(tmp, index=False)  # None/NaN/NA -> empty cell
        os.replace(tmp, path)  # readers never see a half-written file
    finally:
        tmp.unlink(missing_ok=True)


def write(out: Path, policies: int, seed: int = 0) -> tuple[Path, Path]:
    """Generate and write out/claims.csv and out/customers.csv; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    claims, customers = generate(policies, seed)
    paths = (out / "claims.csv", out / "customers.csv")
    _write_csv(claims, paths[0])
    _write_csv(customers, paths[1])
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m processing.synthetic",
                                 description="Write seeded synthetic claims.csv and customers.csv.")
    ap.add_argument("--policies", type=int, default=5000, help="number of policies (default 5000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    args = ap.parse_args(argv)
    if args.policies < 1:
        ap.error("--policies must be >= 1")
    claims_path, customers_path = write(args.out, args.policies, args.seed)
    print(f"wrote {claims_path} and {customers_path} ({args.policies} policies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
