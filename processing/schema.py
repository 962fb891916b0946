"""The raw schema (claims.csv, customers.csv) as data, and a fast validating reader.

Empty cells are real missing values where a column is nullable. Every check is vectorised;
Python loops run only over the (few) problems reported in an error message.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from processing.features import (AUTHORITIES_CONTACTED, COLLISION_TYPE, CUSTOMER_EDUCATION,
                                 CUSTOMER_GENDER, DRIVER_RELATIONSHIP, INCIDENT_SEVERITY,
                                 INCIDENT_TYPE, POLICE_REPORT_AVAILABLE, POLICY_LIABILITY,
                                 POLICY_STATE)

Kind = Literal["int", "float", "category"]
Table = Literal["claims", "customers"]
MAX_REPORTED = 5


@dataclass(frozen=True)
class ColumnSpec:
    kind: Kind
    categories: tuple[str, ...] | None = None
    min: float | None = None  # inclusive; for ints (and money, which must not be negative)
    max: float | None = None
    nullable: bool = False


def _int(lo: int | None = None, hi: int | None = None, nullable: bool = False) -> ColumnSpec:
    return ColumnSpec("int", None, lo, hi, nullable)


def _cat(values: tuple[str, ...], nullable: bool = False) -> ColumnSpec:
    return ColumnSpec("category", values, None, None, nullable)


_MONEY = ColumnSpec("float", None, 0, None, True)

CLAIMS_COLUMNS: dict[str, ColumnSpec] = {
    "policy_id": _int(0),
    "driver_relationship": _cat(DRIVER_RELATIONSHIP, nullable=True),
    "incident_type": _cat(INCIDENT_TYPE),
    "collision_type": _cat(COLLISION_TYPE, nullable=True),
    "incident_severity": _cat(INCIDENT_SEVERITY),
    "authorities_contacted": _cat(AUTHORITIES_CONTACTED, nullable=True),
    "num_vehicles_involved": _int(1, 6),
    "num_injuries": _int(0, 4),
    "num_witnesses": _int(0, 5),
    "police_report_available": _cat(POLICE_REPORT_AVAILABLE),
    "injury_claim": _MONEY,
    "vehicle_claim": _MONEY,
    "total_claim_amount": _MONEY,
    "incident_month": _int(1, 12),
    "incident_day": _int(1, 31),
    "incident_dow": _int(0, 6),
    "incident_hour": _int(0, 23),
    "fraud": _int(0, 1),
}

CUSTOMERS_COLUMNS: dict[str, ColumnSpec] = {
    "policy_id": _int(0),
    "customer_age": _int(18, 70),
    "months_as_customer": _int(0, 1200),
    "num_claims_past_year": _int(0, 6),
    "num_insurers_past_5_years": _int(1, 5),
    "policy_state": _cat(POLICY_STATE),
    "policy_deductable": _MONEY,
    "policy_annual_premium": _MONEY,
    "policy_liability": _cat(POLICY_LIABILITY),
    "customer_zip": _int(0, 99999, nullable=True),
    "customer_gender": _cat(CUSTOMER_GENDER),
    "customer_education": _cat(CUSTOMER_EDUCATION),
    "auto_year": _int(1900, 2100, nullable=True),
}

COLUMNS: dict[str, dict[str, ColumnSpec]] = {"claims": CLAIMS_COLUMNS,
                                             "customers": CUSTOMERS_COLUMNS}


class SchemaError(ValueError):
    """Input data does not match the raw schema; the message names file, column, row, value."""


class _Problems:
    """Collects problems per column as (row positions, message builder) without row loops."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[tuple[int, int, str]] = []  # (data row position, column order, text)
        self.total = 0

    def add(self, col_order: int, column: str, positions, describe) -> None:
        """positions: 0-based data-row positions (sorted); describe(pos) -> problem text."""
        n = len(positions)
        if not n:
            return
        self.total += n
        for pos in positions[:MAX_REPORTED]:
            pos = int(pos)
            self.items.append((pos, col_order,
                               f"column '{column}' row {pos + 2}: {describe(pos)}"))

    def raise_if_any(self) -> None:
        if not self.total:
            return
        self.items.sort()
        shown = [text for _, _, text in self.items[:MAX_REPORTED]]
        msg = f"{self.file}: " + f"; {self.file}: ".join(shown)
        if self.total > len(shown):
            msg += f"; ... and {self.total - len(shown)} more"
        raise SchemaError(msg)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class _LazyValues:
    def __init__(self, s: pd.Series) -> None:
        self.s = s

    def __getitem__(self, pos: int):
        return self.s.iloc[pos]


def _to_float(s: pd.Series):
    """Strings -> float64 (NaN where empty or unparsable). pyarrow's cast is ~10x faster than
    pd.to_numeric but all-or-nothing, so the slow path runs only for a column with errors."""
    import numpy as np
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        return pc.cast(pa.array(s), pa.float64()).to_numpy(zero_copy_only=False)
    except Exception:  # noqa: BLE001 - any failure: take the general path
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def read_raw(path: str | os.PathLike[str], table: Table) -> pd.DataFrame:
    """Read and validate one raw CSV; return a typed frame.

    ints -> Int64 (nullable), floats -> float64 (NaN missing), categories -> object (str/None).
    """
    import numpy as np

    if table not in COLUMNS:
        raise ValueError(f"unknown table {table!r} (expected claims or customers)")
    spec = COLUMNS[table]
    path = Path(path)
    file = path.name
    if not path.is_file():
        raise SchemaError(f"{file}: file not found: {path}")
    if path.stat().st_size == 0:
        raise SchemaError(f"{file}: file is empty")
    try:
        # Only empty cells are missing: "NA"/"None" are values (and then errors).
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                          skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{file}: file is empty") from None
    except pd.errors.ParserError as exc:
        raise SchemaError(f"{file}: not a valid CSV: {exc}") from None

    header = [str(c).strip() for c in raw.columns]
    raw.columns = header
    missing = [c for c in spec if c not in header]
    extra = [c for c in header if c not in spec]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(f"'{c}'" for c in missing))
        if extra:
            parts.append("unexpected column(s) " + ", ".join(f"'{c}'" for c in extra))
        raise SchemaError(f"{file}: header: " + "; ".join(parts)
                          + f" (expected {', '.join(spec)})")
    if len(raw) == 0:
        raise SchemaError(f"{file}: no data rows (header only)")

    problems = _Problems(file)
    out: dict[str, pd.Series] = {}
    for order, (col, cs) in enumerate(spec.items()):
        s = raw[col]
        present = s.notna().to_numpy()
        values = _LazyValues(s)  # object conversion only if a message needs a value
        if not cs.nullable:
            what = "missing label" if col == "fraud" else "missing value"
            problems.add(order, col, np.flatnonzero(~present), lambda p, w=what: w)
        if cs.kind == "category":
            ok = s.isin(cs.categories).to_numpy()
            bad = np.flatnonzero(present & ~ok)
            expected = ", ".join(cs.categories)
            problems.add(order, col, bad, lambda p, v=values, e=expected:
                         f"unknown value {v[p]!r} (expected one of {e})")
            out[col] = pd.Series(np.where(present & ok, s.to_numpy(dtype=object), None),
                                 dtype=object)
            continue
        num = _to_float(s)
        finite = np.isfinite(num)
        kind_ok = finite & (num == np.round(num)) if cs.kind == "int" else finite
        bad = np.flatnonzero(present & ~kind_ok)
        noun = "an integer" if cs.kind == "int" else "a number"
        problems.add(order, col, bad, lambda p, v=values, n=noun: f"not {n}: {v[p]!r}")
        in_range = np.ones(len(num), dtype=bool)
        with np.errstate(invalid="ignore"):
            if cs.min is not None:
                in_range &= ~(num < cs.min)
            if cs.max is not None:
                in_range &= ~(num > cs.max)
        bad = np.flatnonzero(kind_ok & ~in_range)
        lo = "" if cs.min is None else _fmt(cs.min)
        hi = "" if cs.max is None else _fmt(cs.max)
        problems.add(order, col, bad, lambda p, v=values, lo=lo, hi=hi:
                     f"out of range: {v[p]!r} (expected {lo}..{hi})")
        num = np.where(kind_ok & in_range, num, np.nan)
        if cs.kind == "int":
            out[col] = pd.Series(pd.array(num, dtype="Float64").astype("Int64"))
        else:
            out[col] = pd.Series(num, dtype="float64")

    ids = out["policy_id"]
    dup = np.flatnonzero((ids.duplicated(keep="first") & ids.notna())
                         .to_numpy(dtype=bool, na_value=False))
    if len(dup):
        id_values = ids.to_numpy(dtype="float64", na_value=np.nan)
        first_pos = pd.Series(np.arange(len(ids))).groupby(id_values).transform("min").to_numpy()
        problems.add(0, "policy_id", dup, lambda p: (
            f"duplicate policy_id {_fmt(id_values[p])} (also in row {int(first_pos[p]) + 2})"))
    problems.raise_if_any()
    return pd.DataFrame(out)


def check_join(claims_df: pd.DataFrame, customers_df: pd.DataFrame) -> None:
    """Every claim's policy_id must have a customer row."""
    orphan = ~claims_df["policy_id"].isin(customers_df["policy_id"])
    n = int(orphan.sum())
    if n:
        ids = ", ".join(str(i) for i in claims_df["policy_id"][orphan].head(MAX_REPORTED))
        more = f" ... and {n - MAX_REPORTED} more" if n > MAX_REPORTED else ""
        raise SchemaError(f"claims.csv: {n} claim(s) have no row in customers.csv: "
                          f"policy_id {ids}{more}")
