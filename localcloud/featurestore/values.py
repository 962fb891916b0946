"""Feature values as SageMaker Feature Store accepts them, checked at the edge (PutRecord,
DeleteRecord, bulk ingest) so nothing the store cannot hold ever reaches its durable state.

Sources (AWS documentation):
- CreateFeatureGroup, EventTimeFeatureName
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateFeatureGroup.html):
  a Fractional event time is a Unix timestamp in seconds; a String event time is ISO-8601 in
  exactly `yyyy-MM-dd'T'HH:mm:ssZ` or `yyyy-MM-dd'T'HH:mm:ss.SSSZ`.
- Feature Store data types
  (https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-quotas.html, "Feature Store
  data types"): Integral is a 64-bit signed integer; Fractional is a 64-bit IEEE float written
  in decimal or scientific notation (so no `nan`, `inf`, `Infinity`, hex or digit separators).

Errors are `ValidationError` (400), the feature-store runtime's code, naming the feature and the
value.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from localcloud.featurestore.exceptions import ValidationError

ARROW_TYPES = {"Integral": pa.int64(), "Fractional": pa.float64(), "String": pa.string()}
TTL_SECONDS = {"Seconds": 1, "Minutes": 60, "Hours": 3600, "Days": 86400, "Weeks": 604800}

_INTEGRAL = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(1 << 63), (1 << 63) - 1)
# Decimal or scientific notation, nothing else (Python's float() also takes nan/inf/1_0).
_FRACTIONAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{3}))?Z")
# AWS documents no range for a Fractional event time, but its offline store partitions by event
# time (year=/month=/day=/hour=) and Athena reads it as a timestamp, so an instant outside years
# 1-9999 (1e300, inf) cannot be stored: localcloud refuses it at the edge rather than fail later.
_EPOCH_MIN = -62135596800.0
_EPOCH_MAX = 253402300799.999


def check_value(feature: str, kind: str, value: str) -> None:
    """Integral is a 64-bit integer and Fractional a finite double in decimal or scientific
    notation, as AWS parses them (so the offline store's typed columns never meet a value they
    cannot hold)."""
    if kind == "Integral":
        if not _INTEGRAL.fullmatch(value) or not _INT64[0] <= int(value) <= _INT64[1]:
            raise ValidationError(
                f"Invalid value {value!r} for feature {feature} of type Integral: expected a 64-bit integer"
            )
    elif kind == "Fractional":
        if not _FRACTIONAL.fullmatch(value) or not math.isfinite(float(value)):
            raise ValidationError(
                f"Invalid value {value!r} for feature {feature} of type "
                "Fractional: expected a finite number in decimal or scientific "
                "notation"
            )


def parse_event_time(value: str, feature_type: str, feature: str) -> float:
    """An event time as AWS accepts it, as epoch seconds: Fractional Unix seconds (decimal or
    scientific notation, finite, years 1-9999), or a String in `yyyy-MM-dd'T'HH:mm:ssZ` /
    `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (UTC; no offsets, no space separator, no bare dates)."""
    if feature_type == "Fractional":
        seconds = float(value) if _FRACTIONAL.fullmatch(value) else math.nan
        if not _EPOCH_MIN <= seconds <= _EPOCH_MAX:  # also refuses nan and inf
            raise ValidationError(
                f"Invalid value {value!r} for the event time feature {feature}: "
                "expected Unix epoch seconds (Fractional) between years 1 "
                "and 9999"
            )
        return seconds
    match = _ISO.fullmatch(value)
    parsed = None
    if match:
        y, mo, d, h, mi, s, ms = match.groups()
        try:
            parsed = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int(ms or 0) * 1000)
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValidationError(
            f"Invalid value {value!r} for the event time feature {feature}: "
            "expected yyyy-MM-dd'T'HH:mm:ssZ or yyyy-MM-dd'T'HH:mm:ss.SSSZ"
        )
    return calendar.timegm(parsed.timetuple()) + parsed.microsecond / 1e6


def typed(kind: str, value: str | None) -> Any:
    if value is None or kind == "String":
        return value
    return int(value) if kind == "Integral" else float(value)


def ttl_seconds(ttl: dict[str, Any] | None) -> float | None:
    if not ttl:
        return None
    return float(ttl["Value"]) * TTL_SECONDS[ttl["Unit"]]


# The latest instant an ISO 8601 timestamp here can name (year 9999). A TTL may reach past it: the
# Value of TtlDuration is any integer >= 1 (API_TtlDuration), so ExpiresAt saturates there rather
# than failing the read (a week-unit TTL of 2**31 - 1 once made GetRecord answer 500).
_LAST_INSTANT = dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=dt.timezone.utc)


def iso(ts: float) -> str:
    """ISO 8601 in UTC with milliseconds ("2026-12-07T16:00:00.000Z"); instants past year 9999
    are year 9999's last millisecond."""
    try:
        when = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        when = _LAST_INSTANT if ts > 0 else dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def as_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return pc.cast(column, pa.string())


def _first_bad(column: pa.ChunkedArray, good: pa.ChunkedArray) -> Any:
    bad = pc.filter(column, pc.invert(pc.fill_null(good, True)))
    return bad[0].as_py() if len(bad) else None


def _check_strings(name: str, kind: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text columns for numeric features: every value must match AWS's notation."""
    trimmed = pc.utf8_trim_whitespace(column)
    pattern = _INTEGRAL.pattern if kind == "Integral" else _FRACTIONAL.pattern
    good = pc.match_substring_regex(trimmed, f"^(?:{pattern})$")
    if not pc.all(pc.fill_null(good, True)).as_py():
        raise ValidationError(f"Invalid value {_first_bad(column, good)!r} for feature {name} of type {kind}")
    return trimmed


def coerce_table(
    types: dict[str, str], group: str, record_id: str, event_time: str, table: pa.Table
) -> tuple[pa.Table, pa.Array, pa.Array]:
    """Check the columns of a bulk batch against the definitions and cast them (one vectorised
    pass per column), with the same value rules as PutRecord. Returns the cast table, the event
    time as timestamp[us] and as epoch seconds (float)."""
    unknown = [c for c in table.column_names if c not in types]
    if unknown:
        raise ValidationError(f"The feature {unknown[0]} is not defined in the feature group {group}")
    for required in (record_id, event_time):
        if required not in table.column_names:
            raise ValidationError(
                f"The records are missing the feature {required}, which the feature group {group} requires"
            )
        if table.column(required).null_count:
            raise ValidationError(f"The feature {required} must not be null")
    cast: dict[str, pa.ChunkedArray] = {}
    for name in table.column_names:
        kind, column = types[name], table.column(name)
        target = ARROW_TYPES[kind]
        try:
            if kind == "Integral" and pa.types.is_floating(column.type):
                cast[name] = pc.cast(column, target, safe=True)  # refuses 1.5, accepts 2.0
            elif kind in ("Integral", "Fractional") and (
                pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            ):
                cast[name] = pc.cast(_check_strings(name, kind, column), target)
            elif kind == "String":
                cast[name] = as_strings(column)
            else:
                cast[name] = pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValidationError(f"Invalid values for feature {name} of type {kind}: {exc}") from None
        if kind == "Fractional":
            finite = pc.is_finite(cast[name])
            if not pc.all(pc.fill_null(finite, True)).as_py():
                raise ValidationError(
                    f"Invalid value {_first_bad(cast[name], finite)!r} for feature "
                    f"{name} of type Fractional: expected a finite number"
                )
    out = pa.table(cast)
    et = out.column(event_time)
    try:
        if types[event_time] == "Fractional":
            in_range = pc.and_(pc.greater_equal(et, _EPOCH_MIN), pc.less_equal(et, _EPOCH_MAX))
            if not pc.all(in_range).as_py():
                raise ValidationError(
                    f"Invalid value {_first_bad(et, in_range)!r} for the event "
                    f"time feature {event_time}: expected Unix epoch seconds "
                    "between years 1 and 9999"
                )
            epoch = et
            ts = pc.cast(pc.cast(pc.multiply(et, 1_000_000), pa.int64(), safe=False), pa.timestamp("us"))
        else:
            good = pc.match_substring_regex(et, f"^(?:{_ISO.pattern})$")
            if not pc.all(good).as_py():
                raise ValidationError(
                    f"Invalid value {_first_bad(et, good)!r} for the event time "
                    f"feature {event_time}: expected yyyy-MM-dd'T'HH:mm:ssZ or "
                    "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
                )
            # Only the two formats above reach Arrow's ISO-8601 parser.
            ts = pc.cast(pc.cast(et, pa.timestamp("us", tz="UTC")), pa.timestamp("us"))
            epoch = pc.divide(pc.cast(pc.cast(ts, pa.int64()), pa.float64()), 1_000_000.0)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(f"Invalid event times in feature {event_time}: {exc}") from None
    return out, _flat(ts), _flat(epoch)


def _flat(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
