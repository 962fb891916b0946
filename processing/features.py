"""The one transform from the raw schema to model features, derived from the data contract
(processing/schema.json via processing.contract): which columns are one-hot, ordinal, numeric
or dropped, their vocabularies, and the feature order.

Two paths that must give identical numbers:
- pandas (bulk, Feature Store ingestion): `encode_claims`, `encode_customers`;
- stdlib dict (per request, gateway Lambda and endpoint): `encode_record`.

This module is imported in the gateway's hot path, so it imports only the stdlib at module
level; pandas/numpy are imported lazily inside the pandas functions. Every function takes an
optional `contract` (default: `contract.active()`); the module attributes MODEL_FEATURES,
CLAIMS_FEATURES and CUSTOMERS_FEATURES are the active contract's, looked up on access.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processing import contract as contracts
from processing.contract import Contract, feature_name  # noqa: F401  (re-exported)


class FeatureError(ValueError):
    """A record field or value the encoder does not know, or of the wrong type or range."""


def __getattr__(name: str) -> Any:
    # PEP 562: the feature lists of the active contract, so a --schema choice is seen by all.
    lists = {
        "MODEL_FEATURES": lambda c: c.model_features,
        "CLAIMS_FEATURES": lambda c: c.table("claims").features,
        "CUSTOMERS_FEATURES": lambda c: c.table("customers").features,
    }
    if name in lists:
        return lists[name](contracts.active())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def table_features(table: str, contract: Contract | None = None) -> list[str]:
    return (contract or contracts.active()).table(table).features


# --- per-request path: a precomputed table field -> (kind, payload) keeps it ~µs per field ---
_NUM, _ENC, _ONEHOT, _ORD, _SKIP = range(5)  # numbers first: tested with one compare


def _field_table(c: Contract, validate: bool) -> dict[str, tuple[int, Any]]:
    fields: dict[str, tuple[int, Any]] = {}
    for t in c.tables.values():
        for col in t.columns:
            if col.encoding == "numeric":
                lo = float("-inf") if col.min is None else float(col.min)
                hi = float("inf") if col.max is None else float(col.max)
                fields[col.name] = (_NUM, (lo, hi, col.type == "int") if validate else None)
            elif col.encoding == "one_hot":
                names = col.features
                table = {v: {n: (1.0 if n == hot else 0.0) for n in names} for v, hot in zip(col.values, names)}
                fields[col.name] = (_ONEHOT, (table, dict.fromkeys(names, 0.0)))
                for n in names:
                    fields[n] = (_ENC, None)
            elif col.encoding == "ordinal":
                fields[col.name] = (_ORD, {v: float(i) for i, v in enumerate(col.values)})
            else:  # key, label, dropped: known, no feature
                fields[col.name] = (_SKIP, None)
    fields[c.event_time] = (_SKIP, None)
    return fields


_tables: dict[tuple[int, bool], tuple[Contract, dict[str, tuple[int, Any]]]] = {}


def _fields(c: Contract, validate: bool) -> dict[str, tuple[int, Any]]:
    entry = _tables.get((id(c), validate))
    if entry is None or entry[0] is not c:
        entry = _tables[(id(c), validate)] = (c, _field_table(c, validate))
    return entry[1]


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


def encode_record(
    record: Mapping[str, Any],
    contract: Contract | None = None,
    unknown: list[tuple[str, Any]] | None = None,
    check_ranges: bool = True,
) -> dict[str, float]:
    """Encode one record (raw-schema fields and/or already-encoded features) to {feature: float}.

    Absent or empty fields yield nothing (the model treats absent as missing), except a raw
    one-hot field that is present but empty, which yields all zeros like the pandas path.
    A category value the contract does not know raises FeatureError, unless `unknown` is a
    list: then it is encoded as no category (one-hot all zeros, ordinal missing) and
    (field, value) is appended to it. A value of the wrong type, or a raw number outside its
    column's declared range, raises FeatureError naming the field (`check_ranges=False`
    skips the range check, for records validated before, e.g. read from the Feature Store).
    """
    fields = _fields(contract or contracts.active(), check_ranges)
    out: dict[str, float] = {}
    for field, value in record.items():
        spec = fields.get(field)
        if spec is None:
            raise FeatureError(f"unknown field '{field}' (value {value!r})")
        kind = spec[0]
        if kind <= _ENC:  # plain numbers, the common case: inlined for speed
            if value is None or value == "":
                continue
            if value.__class__ is bool:  # JSON true/false is not a number
                raise FeatureError(f"field '{field}': not a number: {value!r}")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise FeatureError(f"field '{field}': not a number: {value!r}") from None
            if number - number == 0.0:  # finite; NaN (e.g. "nan" from a store) is missing
                bounds = spec[1]
                if bounds is not None and not (
                    bounds[0] <= number <= bounds[1] and (not bounds[2] or number == int(number))
                ):
                    _range_error(field, value, number, bounds)
                out[field] = number
            elif number == number:
                raise FeatureError(f"field '{field}': not a finite number: {value!r}")
        elif kind == _ONEHOT:
            table, zeros = spec[1]
            if _is_missing(value):
                out.update(zeros)
                continue
            cols = table.get(value)
            if cols is None:
                if not isinstance(value, str):
                    raise FeatureError(f"field '{field}': not a category label (a string): {value!r}")
                if unknown is None:
                    raise FeatureError(f"field '{field}': unknown value {value!r} (expected one of {', '.join(table)})")
                unknown.append((field, value))
                out.update(zeros)
                continue
            out.update(cols)
        elif kind == _ORD:
            if _is_missing(value):
                continue
            code = spec[1].get(value)
            if code is None:
                # Already encoded (e.g. "1.0" from a Feature Store record)?
                code = _ordinal_code(field, value, spec[1], unknown)
                if code is None:
                    continue
            out[field] = code
    return out


def _range_error(field: str, value: Any, number: float, bounds: tuple) -> None:
    lo, hi, _ = bounds
    if not lo <= number <= hi:
        raise FeatureError(f"field '{field}': out of range: {value!r} (expected {_fmt(lo)}..{_fmt(hi)})")
    raise FeatureError(f"field '{field}': not an integer: {value!r}")


def _fmt(x: float) -> str:
    if x in (float("inf"), float("-inf")):
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def _ordinal_code(
    field: str, value: Any, table: dict[str, float], unknown: list[tuple[str, Any]] | None
) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FeatureError(f"field '{field}': not a category label (a string): {value!r}")
    try:
        code = float(value)
    except (TypeError, ValueError):
        code = -1.0
    if code.is_integer() and 0 <= code < len(table):
        return code
    if isinstance(value, str) and unknown is not None:
        unknown.append((field, value))
        return None
    raise FeatureError(f"field '{field}': unknown value {value!r} (expected one of {', '.join(table)})")


# --- bulk path (pandas) ---


def encode_table(df: Any, table: str, contract: Contract | None = None) -> Any:
    """read_raw(table) frame -> key (int64), the table's features (float64) in contract order,
    then the label (int64) if the table has it. Missing one-hot → all zeros; missing
    ordinal/numeric → NaN; a category value not in the contract raises FeatureError."""
    import numpy as np
    import pandas as pd

    t = (contract or contracts.active()).table(table)
    cols: dict[str, Any] = {t.key: df[t.key].to_numpy(dtype="int64")}
    for c in t.encoded("one_hot"):
        s = df[c.name]
        unknown = s.notna() & ~s.isin(c.values)
        if unknown.any():
            raise FeatureError(
                f"column '{c.name}': unknown value {s[unknown].iloc[0]!r} (expected one of {', '.join(c.values)})"
            )
        values = s.to_numpy(dtype=object)
        for v, name in zip(c.values, c.features):
            cols[name] = (values == v).astype("float64")
    for c in t.encoded("ordinal"):
        s = df[c.name]
        codes = s.map({v: float(i) for i, v in enumerate(c.values)})
        unknown = s.notna() & codes.isna()
        if unknown.any():
            raise FeatureError(
                f"column '{c.name}': unknown value {s[unknown].iloc[0]!r} (expected one of {', '.join(c.values)})"
            )
        cols[c.name] = codes.to_numpy(dtype="float64", na_value=np.nan)
    for c in t.encoded("numeric"):
        cols[c.name] = pd.to_numeric(df[c.name]).astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    if t.label:
        cols[t.label] = df[t.label].to_numpy(dtype="int64")
    return pd.DataFrame(cols, index=pd.RangeIndex(len(df)))


def encode_claims(df: Any, contract: Contract | None = None) -> Any:
    """read_raw('claims') frame -> policy_id (int64), CLAIMS_FEATURES (float64), fraud (int64)."""
    return encode_table(df, "claims", contract)


def encode_customers(df: Any, contract: Contract | None = None) -> Any:
    """read_raw('customers') frame -> policy_id (int64), CUSTOMERS_FEATURES (float64)."""
    return encode_table(df, "customers", contract)
