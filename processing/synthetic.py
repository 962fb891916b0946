"""Seeded synthetic auto-insurance claims in the raw schema (claims.csv, customers.csv).

The label is drawn first (about 3 % fraud) and then every column is drawn from a
distribution that depends on it, with overlapping distributions, so the signal is learnable
but not trivial: fraud skews to short tenure, more past claims, severe incidents, injuries,
large claims relative to premium, no authorities / no police report, night hours, and thefts
with no collision type. All draws are vectorised (numpy Generator).

The vocabulary is the data contract's (processing/schema.json, or the active --schema): the
class-dependent weights below are for the default labels; a label the contract adds gets the
smallest weight of its column, a label it removes is never drawn. Missing categories are
written as the sample writes them (`N/A`, `None`), empty cells only where values are missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from processing import contract as contracts

FRAUD_RATE = 0.03
MISSING_RATE = 0.015  # realistic empty cells in nullable money columns


def _vocabulary(c: contracts.Contract, column: str, weights: dict[str, tuple[float, float]]):
    """(values, p_ok, p_fraud) over the contract's labels for `column`."""
    values = next(t.by_name[column].values for t in c.tables.values() if column in t.by_name)
    floor = min(w for pair in weights.values() for w in pair)
    ok = [weights.get(v, (floor, floor))[0] for v in values]
    bad = [weights.get(v, (floor, floor))[1] for v in values]
    return tuple(values), ok, bad


def _pick(
    rng: np.random.Generator, fraud: np.ndarray, values: tuple, p_ok: list[float], p_fraud: list[float]
) -> np.ndarray:
    """Draw one of `values` per row, with class-dependent probabilities."""
    u = rng.random(len(fraud))
    idx = np.where(
        fraud, np.searchsorted(np.cumsum(p_fraud) / sum(p_fraud), u), np.searchsorted(np.cumsum(p_ok) / sum(p_ok), u)
    )
    return np.asarray(values, dtype=object)[np.minimum(idx, len(values) - 1)]


def _blank(rng: np.random.Generator, x: np.ndarray, rate: float = MISSING_RATE) -> np.ndarray:
    x = x.astype("float64")
    x[rng.random(len(x)) < rate] = np.nan
    return x


def generate(
    policies: int, seed: int = 0, contract: contracts.Contract | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims, customers): one claim per policy, policy_id 1..N, typed like read_raw's output."""
    if policies < 1:
        raise ValueError(f"policies must be >= 1, got {policies}")
    c = contract or contracts.active()

    def pick(column: str, weights: dict[str, tuple[float, float]]) -> np.ndarray:
        return _pick(rng, fraud, *_vocabulary(c, column, weights))

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
    state = pick(
        "policy_state", {"CA": (35, 35), "WA": (18, 18), "AZ": (15, 15), "OR": (14, 14), "NV": (11, 11), "ID": (7, 7)}
    )
    liability = pick("policy_liability", {"15/30": (30, 40), "25/50": (35, 35), "30/60": (20, 15), "100/200": (15, 10)})
    liab_factor = (
        pd.Series(liability)
        .map({"15/30": 0.8, "25/50": 1.0, "30/60": 1.15, "100/200": 1.45})
        .fillna(1.0)
        .to_numpy(dtype="float64")
    )
    deductible = rng.choice(np.array([500.0, 750.0, 1000.0, 1500.0, 2000.0]), n, p=[0.25, 0.25, 0.3, 0.12, 0.08])
    age_factor = 1.0 + np.maximum(0, 27 - age) * 0.04
    premium = np.round(
        np.clip(rng.normal(1800, 380, n) * liab_factor * age_factor * (1.1 - deductible / 10000), 400, None), 2
    )
    zip_lo = (
        pd.Series(state)
        .map({"CA": 90001, "WA": 98001, "AZ": 85001, "OR": 97001, "NV": 88901, "ID": 83201})
        .fillna(10001)
        .to_numpy(dtype="int64")
    )
    zip_code = zip_lo + rng.integers(0, 900, n)
    gender = pick("customer_gender", {"Male": (48, 50), "Female": (48, 42), "Other": (2, 3), "Unkown": (2, 5)})
    education = pick(
        "customer_education",
        {
            "Below High School": (8, 12),
            "High School": (30, 34),
            "Associate": (22, 22),
            "Bachelor": (27, 22),
            "Advanced Degree": (13, 10),
        },
    )
    auto_year = 2024 - np.clip(rng.poisson(7, n), 0, 30)
    customers = pd.DataFrame(
        {
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
        }
    )

    # --- claims ---
    incident = pick("incident_type", {"Collision": (72, 60), "Break-in": (15, 15), "Theft": (13, 25)})
    collision = incident == "Collision"
    coll_type = pick("collision_type", {"Front": (40, 38), "Rear": (35, 30), "Side": (24, 30), "N/A": (1, 2)})
    # Non-collisions usually have no collision type ("N/A", as the sample writes it); a
    # fraudulent theft almost never has one.
    keep_type = rng.random(n) < np.where(fraud, 0.03, 0.25)
    coll_type = np.where(collision | keep_type, coll_type, "N/A")
    severity = np.where(
        collision,
        pick("incident_severity", {"Minor": (58, 32), "Major": (32, 45), "Totaled": (10, 23)}),
        pick("incident_severity", {"Minor": (65, 25), "Major": (28, 45), "Totaled": (7, 30)}),
    )
    sev_level = pd.Series(severity).map({"Minor": 0, "Major": 1, "Totaled": 2}).fillna(0).to_numpy(dtype="int64")
    relationship = pick(
        "driver_relationship", {"Self": (62, 50), "Spouse": (20, 18), "Child": (9, 8), "Other": (7, 20), "N/A": (2, 4)}
    )
    vehicles = np.where(collision, np.clip(1 + rng.poisson(0.9, n), 1, 6), 1)
    injuries = np.where(collision, np.clip(rng.poisson(0.25 + 0.45 * sev_level + 0.6 * f), 0, 4), 0)
    witnesses = np.clip(rng.poisson(np.where(fraud, 0.6, 1.4)), 0, 5)
    authorities = pick(
        "authorities_contacted", {"Police": (58, 40), "Ambulance": (10, 9), "Fire": (5, 4), "None": (27, 47)}
    )
    authorities = np.where((injuries > 1) & (authorities == "None"), "Ambulance", authorities)
    report_p = np.where(authorities == "Police", 0.85, 0.35) - 0.25 * f
    report_values = c.table("claims").by_name["police_report_available"].values
    yes, no = ("Yes", "No") if {"Yes", "No"} <= set(report_values) else report_values[-1:] * 2
    report = np.where(rng.random(n) < report_p, yes, no).astype(object)

    # Money: vehicle claim scales with severity and premium; fraud inflates relative to premium.
    base_premium = np.where(np.isnan(premium), 1800.0, premium)
    vehicle = np.round(rng.lognormal(np.log(base_premium * (1.2 + 1.8 * sev_level)), 0.45) * (1.0 + 0.9 * f), 2)
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
    hour = np.where(night, (22 + rng.integers(0, 7, n)) % 24, np.clip(np.rint(rng.normal(14, 3.5, n)), 6, 21)).astype(
        "int64"
    )

    claims = pd.DataFrame(
        {
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
        }
    )
    for frame, table in ((claims, "claims"), (customers, "customers")):
        wanted = [col.name for col in c.table(table).columns]
        if list(frame.columns) != wanted:
            raise ValueError(
                f"the synthetic generator writes the default {table} columns; the contract {c.path} has {wanted}"
            )
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
    ap = argparse.ArgumentParser(
        prog="python -m processing.synthetic", description="Write seeded synthetic claims.csv and customers.csv."
    )
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
