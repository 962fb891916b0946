"""The one transform from the raw schema to model features.

Two paths that must give identical numbers:
- pandas (bulk, Feature Store ingestion): `encode_claims`, `encode_customers`;
- stdlib dict (per request, gateway Lambda and endpoint): `encode_record`.

This module is imported in the gateway's hot path, so it imports only the stdlib at module
level; pandas/numpy are imported lazily inside the pandas functions. The category
vocabularies live here (plain tuples) and `processing.schema` imports them from here.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# --- vocabularies (case as given in the raw data; order is the ordinal order where ordinal) ---
DRIVER_RELATIONSHIP = ("Self", "Spouse", "Child", "Other")
INCIDENT_TYPE = ("Collision", "Break-in", "Theft")
COLLISION_TYPE = ("Front", "Rear", "Side")
INCIDENT_SEVERITY = ("Minor", "Major", "Totaled")
AUTHORITIES_CONTACTED = ("Police", "Ambulance", "Fire")
POLICE_REPORT_AVAILABLE = ("No", "Yes")
POLICY_STATE = ("CA", "WA", "AZ", "OR", "NV", "ID")
POLICY_LIABILITY = ("15/30", "25/50", "30/60", "100/200")
CUSTOMER_GENDER = ("Male", "Female", "Other", "Unkown")  # "Unkown" (sic) as in the source data
CUSTOMER_EDUCATION = ("Below High School", "High School", "Associate", "Bachelor",
                      "Advanced Degree")

# --- encoding plan per feature group ---
ONE_HOT: dict[str, tuple[str, ...]] = {
    "driver_relationship": DRIVER_RELATIONSHIP,
    "incident_type": INCIDENT_TYPE,
    "collision_type": COLLISION_TYPE,
    "authorities_contacted": AUTHORITIES_CONTACTED,
    "policy_state": POLICY_STATE,
    "customer_gender": CUSTOMER_GENDER,
}
ORDINAL: dict[str, tuple[str, ...]] = {
    "incident_severity": INCIDENT_SEVERITY,
    "police_report_available": POLICE_REPORT_AVAILABLE,
    "policy_liability": POLICY_LIABILITY,
    "customer_education": CUSTOMER_EDUCATION,
}
_CLAIMS_NUMERIC = ("num_vehicles_involved", "num_injuries", "num_witnesses", "injury_claim",
                   "vehicle_claim", "total_claim_amount", "incident_month", "incident_day",
                   "incident_dow", "incident_hour")
# customer_zip is dropped: as a number it is an arbitrary code (a tree would split on
# meaningless ranges) and policy_state already carries the region.
_CUSTOMERS_NUMERIC = ("customer_age", "months_as_customer", "num_claims_past_year",
                      "num_insurers_past_5_years", "policy_deductable", "policy_annual_premium",
                      "auto_year")
_CLAIMS_ONE_HOT = ("driver_relationship", "incident_type", "collision_type",
                   "authorities_contacted")
_CLAIMS_ORDINAL = ("incident_severity", "police_report_available")
_CUSTOMERS_ONE_HOT = ("policy_state", "customer_gender")
_CUSTOMERS_ORDINAL = ("policy_liability", "customer_education")
# Raw fields that are known but produce no feature.
IGNORED_FIELDS = frozenset({"policy_id", "event_time", "fraud", "customer_zip"})

_NON_NAME = re.compile(r"[^a-z0-9]+")


def feature_name(column: str, value: str) -> str:
    """One-hot column name: `<col>_<value>` lower-cased, runs of non-[a-z0-9] → `_`."""
    return f"{column}_{_NON_NAME.sub('_', value.lower()).strip('_')}"


def _one_hot_names(column: str) -> list[str]:
    return [feature_name(column, v) for v in ONE_HOT[column]]


def _group_features(one_hot: tuple[str, ...], ordinal: tuple[str, ...],
                    numeric: tuple[str, ...]) -> list[str]:
    names = [n for c in one_hot for n in _one_hot_names(c)]
    return names + list(ordinal) + list(numeric)


CLAIMS_FEATURES: list[str] = _group_features(_CLAIMS_ONE_HOT, _CLAIMS_ORDINAL, _CLAIMS_NUMERIC)
CUSTOMERS_FEATURES: list[str] = _group_features(_CUSTOMERS_ONE_HOT, _CUSTOMERS_ORDINAL,
                                                _CUSTOMERS_NUMERIC)
MODEL_FEATURES: list[str] = CLAIMS_FEATURES + CUSTOMERS_FEATURES


class FeatureError(ValueError):
    """A record field or value the encoder does not know."""


# --- per-request path: a precomputed table field -> (kind, payload) keeps it ~µs per field ---
_NUM, _ENC, _ONEHOT, _ORD, _SKIP = range(5)  # numbers first: tested with one compare
_FIELDS: dict[str, tuple[int, Any]] = {}
for _c in _CLAIMS_NUMERIC + _CUSTOMERS_NUMERIC:
    _FIELDS[_c] = (_NUM, None)
for _c, _vocab in ONE_HOT.items():
    _names = _one_hot_names(_c)
    _table = {v: {n: (1.0 if n == hot else 0.0) for n in _names}
              for v, hot in zip(_vocab, _names)}
    _FIELDS[_c] = (_ONEHOT, (_table, dict.fromkeys(_names, 0.0)))
    for _n in _names:
        _FIELDS[_n] = (_ENC, None)
for _c, _vocab in ORDINAL.items():
    _FIELDS[_c] = (_ORD, {v: float(i) for i, v in enumerate(_vocab)})
for _c in IGNORED_FIELDS:
    _FIELDS[_c] = (_SKIP, None)


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


def encode_record(record: Mapping[str, Any]) -> dict[str, float]:
    """Encode one record (raw-schema fields and/or already-encoded features) to {feature: float}.

    Absent or empty fields yield nothing (the model treats absent as missing), except a raw
    one-hot field that is present but empty, which yields all zeros like the pandas path.
    """
    out: dict[str, float] = {}
    for field, value in record.items():
        spec = _FIELDS.get(field)
        if spec is None:
            raise FeatureError(f"unknown field '{field}' (value {value!r})")
        kind = spec[0]
        if kind <= _ENC:  # plain numbers, the common case: inlined for speed
            if value is None or value == "":
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise FeatureError(f"field '{field}': not a number: {value!r}") from None
            if number - number == 0.0:  # finite; NaN (e.g. "nan" from a store) is missing
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
                raise FeatureError(f"field '{field}': unknown value {value!r} "
                                   f"(expected one of {', '.join(table)})")
            out.update(cols)
        elif kind == _ORD:
            if _is_missing(value):
                continue
            code = spec[1].get(value)
            if code is None:
                # Already encoded (e.g. "1.0" from a Feature Store record)?
                code = _ordinal_code(field, value, spec[1])
            out[field] = code
    return out


def _ordinal_code(field: str, value: Any, table: dict[str, float]) -> float:
    try:
        code = float(value)
    except (TypeError, ValueError):
        code = -1.0
    if code.is_integer() and 0 <= code < len(table):
        return code
    raise FeatureError(f"field '{field}': unknown value {value!r} "
                       f"(expected one of {', '.join(table)})")


# --- bulk path (pandas) ---

def _encode(df: Any, one_hot: tuple[str, ...], ordinal: tuple[str, ...],
            numeric: tuple[str, ...], with_label: bool) -> Any:
    import numpy as np
    import pandas as pd

    cols: dict[str, Any] = {"policy_id": df["policy_id"].to_numpy(dtype="int64")}
    for c in one_hot:
        s = df[c]
        vocab = ONE_HOT[c]
        unknown = s.notna() & ~s.isin(vocab)
        if unknown.any():
            raise FeatureError(f"column '{c}': unknown value {s[unknown].iloc[0]!r} "
                               f"(expected one of {', '.join(vocab)})")
        values = s.to_numpy(dtype=object)
        for v, name in zip(vocab, _one_hot_names(c)):
            cols[name] = (values == v).astype("float64")
    for c in ordinal:
        s = df[c]
        codes = s.map({v: float(i) for i, v in enumerate(ORDINAL[c])})
        unknown = s.notna() & codes.isna()
        if unknown.any():
            raise FeatureError(f"column '{c}': unknown value {s[unknown].iloc[0]!r} "
                               f"(expected one of {', '.join(ORDINAL[c])})")
        cols[c] = codes.to_numpy(dtype="float64", na_value=np.nan)
    for c in numeric:
        cols[c] = (pd.to_numeric(df[c]).astype("Float64")
                   .to_numpy(dtype="float64", na_value=np.nan))
    if with_label:
        cols["fraud"] = df["fraud"].to_numpy(dtype="int64")
    return pd.DataFrame(cols, index=pd.RangeIndex(len(df)))


def encode_claims(df: Any) -> Any:
    """read_raw('claims') frame -> policy_id (int64), CLAIMS_FEATURES (float64), fraud (int64)."""
    return _encode(df, _CLAIMS_ONE_HOT, _CLAIMS_ORDINAL, _CLAIMS_NUMERIC, with_label=True)


def encode_customers(df: Any) -> Any:
    """read_raw('customers') frame -> policy_id (int64), CUSTOMERS_FEATURES (float64)."""
    return _encode(df, _CUSTOMERS_ONE_HOT, _CUSTOMERS_ORDINAL, _CUSTOMERS_NUMERIC,
                   with_label=False)
