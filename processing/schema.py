"""A fast validating reader of the raw CSVs (claims.csv, customers.csv) against the data
contract (processing/schema.json through processing.contract: columns, types, ranges, labels,
missing-value tokens, what to do with unknown categories).

A cell equal to one of its column's missing tokens (default: empty) is a missing value, allowed
where the column is nullable; `N/A` or `None` are values like any other label. Every check is
vectorised; Python loops run only over the (few) problems reported in an error message.
`validate` returns every problem per column (for `mlgw schema check`); `read_raw` raises
SchemaError naming file, column, row and value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pandas as pd

from processing import contract as contracts
from processing.contract import Column, Contract

Table = Literal["claims", "customers"]
MAX_REPORTED = 5


def _specs(table: str, contract: Contract | None = None) -> dict[str, Column]:
    return (contract or contracts.active()).table(table).by_name


def __getattr__(name: str):
    # The active contract's columns, looked up on access (see processing.contract).
    if name in ("CLAIMS_COLUMNS", "CUSTOMERS_COLUMNS"):
        return _specs("claims" if name == "CLAIMS_COLUMNS" else "customers")
    if name == "COLUMNS":
        return {t: _specs(t) for t in ("claims", "customers")}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SchemaError(ValueError):
    """Input data does not match the raw schema; the message names file, column, row, value."""


class ColumnProblems:
    """Every problem found in one column: how many rows, and the first few (row, text)."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.count = 0
        self.first: list[tuple[int, str]] = []  # (CSV line number, problem text)


class Problems:
    """Problems per column, collected without Python loops over rows (positions are arrays)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.columns: dict[str, ColumnProblems] = {}
        self.header: list[str] = []
        self.notes: list[tuple[str, int]] = []  # (column, unknown categories mapped to missing)
        self.total = 0

    def add(self, col_order: int, column: str, positions, describe) -> None:
        """positions: 0-based data-row positions (sorted); describe(pos) -> problem text."""
        n = len(positions)
        if not n:
            return
        self.total += n
        entry = self.columns.setdefault(column, ColumnProblems(column))
        entry.count += n
        for pos in positions[:MAX_REPORTED]:
            pos = int(pos)
            entry.first.append((pos + 2, describe(pos)))
        entry.first.sort()
        del entry.first[MAX_REPORTED:]

    def message(self) -> str:
        """The SchemaError text: the first problems by row, then how many more."""
        if self.header:
            return f"{self.file}: header: " + "; ".join(self.header)
        items = sorted(
            (row, order, f"column '{col}' row {row}: {text}")
            for order, (col, entry) in enumerate(self.columns.items())
            for row, text in entry.first
        )
        shown = [text for _, _, text in items[:MAX_REPORTED]]
        msg = f"{self.file}: " + f"; {self.file}: ".join(shown)
        if self.total > len(shown):
            msg += f"; ... and {self.total - len(shown)} more"
        return msg

    def raise_if_any(self) -> None:
        if self.total or self.header:
            raise SchemaError(self.message())


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


def read_raw(path: str | os.PathLike[str], table: Table, contract: Contract | None = None) -> pd.DataFrame:
    """Read and validate one raw CSV against the contract; return a typed frame.

    ints -> Int64 (nullable), floats -> float64 (NaN missing), categories -> object (str/None).
    Raises SchemaError naming the file, column, row and value of the first problems. Where
    the contract maps unknown categories to missing, their counts per column are in
    `frame.attrs["unknown_categories"]`.
    """
    frame, problems = validate(path, table, contract)
    problems.raise_if_any()
    frame.attrs["unknown_categories"] = dict(problems.notes)
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    file = path.name
    if not path.is_file():
        raise SchemaError(f"{file}: file not found: {path}")
    if path.stat().st_size == 0:
        raise SchemaError(f"{file}: file is empty")
    try:
        # Every cell as text ("NA", "N/A", "None" are values); each column's missing tokens
        # are applied by `validate`.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{file}: file is empty") from None
    except pd.errors.ParserError as exc:
        raise SchemaError(f"{file}: not a valid CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{file}: not UTF-8 text: {exc}") from None


def validate(
    path: str | os.PathLike[str], table: Table, contract: Contract | None = None
) -> tuple[pd.DataFrame, Problems]:
    """(typed frame of the valid cells, every problem per column); raises SchemaError only
    when the file cannot be read as CSV at all. Used by read_raw and `mlgw schema check`."""
    import numpy as np

    spec = _specs(table, contract)
    path = Path(path)
    file = path.name
    raw = _read_csv(path)
    problems = Problems(file)
    header = [str(c).strip() for c in raw.columns]
    raw.columns = header
    missing = [c for c in spec if c not in header]
    extra = [c for c in header if c not in spec]
    if missing or extra:
        if missing:
            problems.header.append("missing column(s) " + ", ".join(f"'{c}'" for c in missing))
        if extra:
            problems.header.append("unexpected column(s) " + ", ".join(f"'{c}'" for c in extra))
        problems.header[-1] += f" (expected {', '.join(spec)})"
    if len(raw) == 0:
        problems.header.append("no data rows (header only)")
    out: dict[str, pd.Series] = {}
    for order, (col, cs) in enumerate(spec.items()):
        if col not in raw.columns:
            continue
        s = raw[col]
        s = s.mask(s.isin(cs.missing_values))  # the column's missing tokens (default: empty)
        present = s.notna().to_numpy()
        values = _LazyValues(raw[col])  # object conversion only if a message needs a value
        if not cs.nullable:
            what = "missing label" if cs.encoding == "label" else "missing value"
            problems.add(order, col, np.flatnonzero(~present), lambda p, w=what: w)
        if cs.type == "category":
            ok = s.isin(cs.values).to_numpy()
            bad = np.flatnonzero(present & ~ok)
            if cs.unknown_categories == "missing":
                if len(bad):
                    problems.notes.append((col, int(len(bad))))
            else:
                expected = ", ".join(cs.values)
                problems.add(
                    order, col, bad, lambda p, v=values, e=expected: f"unknown value {v[p]!r} (expected one of {e})"
                )
            out[col] = pd.Series(np.where(present & ok, s.to_numpy(dtype=object), None), dtype=object)
            continue
        num = _to_float(s)
        finite = np.isfinite(num)
        kind_ok = finite & (num == np.round(num)) if cs.type == "int" else finite
        bad = np.flatnonzero(present & ~kind_ok)
        noun = "an integer" if cs.type == "int" else "a number"
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
        problems.add(order, col, bad, lambda p, v=values, lo=lo, hi=hi: f"out of range: {v[p]!r} (expected {lo}..{hi})")
        num = np.where(kind_ok & in_range, num, np.nan)
        if cs.type == "int":
            out[col] = pd.Series(pd.array(num, dtype="Float64").astype("Int64"))
        else:
            out[col] = pd.Series(num, dtype="float64")

    key = next(c for c, cs in spec.items() if cs.encoding == "key")
    if key in out:
        ids = out[key]
        dup = np.flatnonzero((ids.duplicated(keep="first") & ids.notna()).to_numpy(dtype=bool, na_value=False))
        if len(dup):
            id_values = ids.to_numpy(dtype="float64", na_value=np.nan)
            first_pos = pd.Series(np.arange(len(ids))).groupby(id_values).transform("min").to_numpy()
            problems.add(
                0, key, dup, lambda p: f"duplicate {key} {_fmt(id_values[p])} (also in row {int(first_pos[p]) + 2})"
            )
    return pd.DataFrame(out), problems


def check_join(claims_df: pd.DataFrame, customers_df: pd.DataFrame) -> None:
    """Every claim's policy_id must have a customer row."""
    orphan = ~claims_df["policy_id"].isin(customers_df["policy_id"])
    n = int(orphan.sum())
    if n:
        ids = ", ".join(str(i) for i in claims_df["policy_id"][orphan].head(MAX_REPORTED))
        more = f" ... and {n - MAX_REPORTED} more" if n > MAX_REPORTED else ""
        raise SchemaError(f"claims.csv: {n} claim(s) have no row in customers.csv: policy_id {ids}{more}")
