"""Read SageMaker data-capture files into a feature frame.

Capture files live under `<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`, one JSON
envelope per line whose `captureData.endpointInput.data` holds the request body as a string
(JSON `{"instances": [...]}` / an object / a list of objects, or CSV rows in feature order;
`encoding` BASE64 when the body was not text).

A million lines is ~1.3 GB of nested JSON. `json.loads` on envelope and body measured ~32 s
per million lines; decoding in DuckDB measured 3.6-4.5 s on 2 cores (envelope by its
NDJSON reader, body by `from_json` into a typed struct, CSV by `string_split`, time window
as a filter, all in one vectorised, multi-threaded query). A line that does not decode is
skipped and counted by reason, never fatal; the reason is found by a second look at only
the files that had such lines. Deploy's warm-up requests (eventMetadata.inferenceId starting
with processing.warm_up.WARM_UP_PREFIX) are left out and counted apart: they are our own
fixed requests, not traffic. A JSON request's raw category labels (`"policy_state": "CA"`)
are encoded in the same query as the model server encodes them (RawFields).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from processing.warm_up import WARM_UP_PREFIX

JSON_TYPE, CSV_TYPE = "application/json", "text/csv"


@dataclass
class CaptureReport:
    records: int = 0  # feature rows read: one per instance (one per request here)
    skipped_lines: int = 0
    skipped_reasons: Counter = field(default_factory=Counter)
    files: int = 0
    warm_up: int = 0  # deploy's warm-up requests in the window, left out


def _default_features() -> list[str]:
    from processing.features import MODEL_FEATURES

    return list(MODEL_FEATURES)


def _raw_fields(features: Sequence[str]) -> RawFields:
    try:
        return RawFields.from_contract(features)
    except ImportError:  # the data contract is not shipped with this job
        return RawFields()


def _hour_of(path: Path) -> dt.datetime | None:
    """The capture hour from a `.../yyyy/mm/dd/hh/file` path, None if not in that layout."""
    try:
        y, m, d, h = (int(p) for p in path.parts[-5:-1])
        return dt.datetime(y, m, d, h, tzinfo=dt.timezone.utc)
    except (ValueError, TypeError):
        return None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def capture_files(
    paths_or_root: str | os.PathLike | Iterable[str | os.PathLike],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> list[Path]:
    """The *.jsonl files under a root (or given directly), minus hour folders outside [start, end)."""
    if isinstance(paths_or_root, (str, os.PathLike)):
        paths_or_root = [paths_or_root]
    files: list[Path] = []
    for item in paths_or_root:
        p = Path(item)
        files.extend(sorted(p.rglob("*.jsonl")) if p.is_dir() else [p] if p.is_file() else [])
    kept = []
    for path in files:
        hour = _hour_of(path)
        if hour is not None and (
            (start is not None and hour + dt.timedelta(hours=1) <= _utc(start))
            or (end is not None and hour >= _utc(end))
        ):
            continue  # the whole hour folder is outside the window: not even opened
        kept.append(path)
    return kept


_ENVELOPE = (
    "{'captureData': 'STRUCT(endpointInput STRUCT(observedContentType VARCHAR, "
    "data VARCHAR, encoding VARCHAR))', 'eventMetadata': 'STRUCT(inferenceTime VARCHAR, inferenceId VARCHAR)'}"
)


@dataclass(frozen=True)
class RawFields:
    """How a JSON request's raw category labels become model features, as the model server
    encodes them (processing.features.encode_record): `one_hot` {raw field: [(label,
    feature)]}, `ordinal` {field: [labels in code order]}."""

    one_hot: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    ordinal: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_contract(cls, features: Sequence[str]) -> "RawFields":
        """The active data contract's category fields whose features are all in `features`."""
        from processing import contract

        wanted, out = set(features), cls()
        for table in contract.active().tables.values():
            for column in table.columns:
                if column.encoding == "one_hot" and set(column.features) <= wanted and column.name not in wanted:
                    out.one_hot[column.name] = list(zip(column.values, column.features))
                elif column.encoding == "ordinal" and column.name in wanted:
                    out.ordinal[column.name] = list(column.values)
        return out


def _ident(name: str) -> str:
    return f'"{name.replace(chr(34), chr(34) * 2)}"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _query(features: Sequence[str], raw: RawFields | None = None) -> str:
    """One pass: envelope -> (status, feature values), one row per instance or bad line.
    With `raw`, a JSON record's raw labels are encoded as the model server encodes them: an
    ordinal label (or its code) becomes its code, a one-hot field's label sets its features
    (an unknown label: all 0, no category); an encoded feature sent as such wins."""
    raw = raw or RawFields()
    ident = [_ident(f) for f in features]
    struct = {f: "VARCHAR" if f in raw.ordinal else "DOUBLE" for f in features}
    struct.update({name: "VARCHAR" for name in raw.one_hot})
    shapes = {
        name: json.dumps(doc).replace("'", "''")
        for name, doc in (("instances", {"instances": [struct]}), ("list", [struct]), ("one", struct))
    }
    one_hot = {feature: (name, label) for name, pairs in raw.one_hot.items() for label, feature in pairs}
    values = []
    for f, i in zip(features, ident):
        if f in raw.ordinal:
            codes = " ".join(f"WHEN {_text(label)} THEN {k}.0" for k, label in enumerate(raw.ordinal[f]))
            values.append(f"coalesce(TRY_CAST(s.{i} AS DOUBLE), CASE s.{i} {codes} END)")
        elif f in one_hot:
            name, label = one_hot[f]
            values.append(
                f"coalesce(s.{i}, CASE WHEN s.{_ident(name)} IS NULL THEN NULL "
                f"WHEN s.{_ident(name)} = {_text(label)} THEN 1.0 ELSE 0.0 END)"
            )
        else:
            values.append(f"s.{i}")
    as_list = "[" + ", ".join(values) + "]"
    columns = ", ".join(f"v[{k + 1}] AS {i}" for k, i in enumerate(ident))
    return f"""
WITH raw AS (
  -- DuckDB's NDJSON reader: a line that is not JSON (corrupt, truncated, not UTF-8) comes
  -- back as a row of NULLs, so it is counted rather than lost or fatal.
  SELECT captureData.endpointInput AS input, eventMetadata.inferenceTime AS t,
    eventMetadata.inferenceId AS iid, filename
  FROM read_json($files, format='newline_delimited', columns={_ENVELOPE},
                 ignore_errors=true, maximum_object_size=100000000, filename=true)
), typed AS (
  SELECT lower(trim(split_part(input.observedContentType, ';', 1))) AS ctype,
    CASE WHEN upper(input.encoding) = 'BASE64' THEN TRY(decode(from_base64(input.data)))
         ELSE input.data END AS data,
    TRY_CAST(t AS TIMESTAMPTZ) AS ts, input IS NULL AND t IS NULL AS unreadable, filename,
    coalesce(starts_with(iid, $warm_up), false) AS warm_up
  FROM raw
), checked AS (
  SELECT ts, ctype, ltrim(data) AS data, filename,
    CASE WHEN unreadable THEN 'unreadable_line'
         WHEN data IS NULL THEN 'no_input_data'
         WHEN ts IS NULL THEN 'bad_inference_time'
         WHEN warm_up THEN 'warm_up'
         WHEN ctype NOT IN ('{JSON_TYPE}', '{CSV_TYPE}') THEN 'unsupported_content_type'
         ELSE 'ok' END AS status
  FROM typed
), windowed AS (
  SELECT * FROM checked
  WHERE status NOT IN ('ok', 'warm_up') OR (($start IS NULL OR ts >= $start) AND ($end IS NULL OR ts < $end))
), rows AS (
  SELECT status, CASE WHEN status = 'unreadable_line' THEN filename END AS bad_file,
    CASE WHEN status <> 'ok' THEN [NULL]
         -- the body is parsed once, by the shape its first characters announce
         WHEN ctype = '{JSON_TYPE}' THEN coalesce(list_transform(
              CASE WHEN starts_with(data, '{{"instances"')
                     THEN TRY(from_json(data, '{shapes["instances"]}').instances)
                   WHEN starts_with(data, '[') THEN TRY(from_json(data, '{shapes["list"]}'))
                   ELSE TRY([from_json(data, '{shapes["one"]}')]) END,
              lambda s: {as_list}), [NULL])
         ELSE list_transform(string_split(trim(data, chr(10) || chr(13)), chr(10)),
              lambda r: list_transform(string_split(r, ','),
                                       lambda c: TRY_CAST(nullif(trim(c), '') AS DOUBLE)))
    END AS vals
  FROM windowed
), flat AS (SELECT status, bad_file, unnest(vals) AS v FROM rows)
SELECT bad_file, CASE WHEN status = 'ok' AND (v IS NULL OR len(v) <> {len(features)})
            THEN 'bad_payload' ELSE status END AS status,
  {columns}
FROM flat
"""


_DIAGNOSE = """
SELECT line FROM read_csv($files, columns={'line': 'VARCHAR'}, delim='\x01', quote='',
    escape='', header=false, auto_detect=false, ignore_errors=true, store_rejects=true,
    strict_mode=false, max_line_size=100000000)
WHERE line IS NOT NULL AND trim(line) <> '' AND NOT json_valid(line)
"""
_DIAGNOSE_LIMIT = 10_000  # lines classified one by one; any beyond are just invalid_json


def _line_reason(line: str) -> str:
    """'truncated_line' if the JSON is a cut-off prefix (the parser ran out of input)."""
    try:
        json.loads(line)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(line.rstrip()) or exc.msg.startswith("Unterminated string"):
            return "truncated_line"
        return "invalid_json"
    return "not_a_capture_record"


def _diagnose(con: duckdb.DuckDBPyConnection, files: list[str], unreadable: int) -> Counter:
    """Why lines were unreadable: a second pass over the raw lines, run only when some were."""
    reasons: Counter = Counter()
    result = con.execute(_DIAGNOSE, {"files": files})
    while batch := result.fetchmany(1000):
        for (line,) in batch:
            over = sum(reasons.values()) >= _DIAGNOSE_LIMIT
            reasons["invalid_json" if over else _line_reason(line)] += 1
    # lines the reader could not even decode (not UTF-8), recorded by store_rejects
    for error_type, count in con.execute("SELECT error_type, count(*) FROM reject_errors GROUP BY 1").fetchall():
        reasons[str(error_type).lower().replace(" ", "_")] += int(count)
    rest = unreadable - sum(reasons.values())
    if rest > 0:  # valid JSON, but not a capture envelope (e.g. `[]`, `{}`)
        reasons["not_a_capture_record"] += rest
    return reasons


def read_capture(
    paths_or_root: str | os.PathLike | Iterable[str | os.PathLike],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    features: Sequence[str] | None = None,
    raw: RawFields | None = None,
) -> tuple[pd.DataFrame, CaptureReport]:
    """Captured inputs with inferenceTime in [start, end) as a float frame of `features`.

    JSON keys that are not features are ignored, except raw category fields (`raw`, default
    RawFields.from_contract): those are encoded as the model server does; absent features
    are NaN. A CSV row or JSON
    payload that does not have the feature shape, and any envelope that does not decode,
    is skipped and counted in the report by reason.
    """
    features = list(features) if features is not None else _default_features()
    raw = raw if raw is not None else _raw_fields(features)
    files = capture_files(paths_or_root, start, end)
    report = CaptureReport(files=len(files))
    if not files:
        return pd.DataFrame({f: pd.Series(dtype="float64") for f in features}), report
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # no terminal noise from a library call
    names = [str(f) for f in files]
    try:
        table = con.sql(
            _query(features, raw),
            params={
                "files": names,
                "warm_up": WARM_UP_PREFIX,
                "start": _utc(start) if start is not None else None,
                "end": _utc(end) if end is not None else None,
            },
        ).to_arrow_table()
        frame = table.to_pandas()
        ok = (frame["status"] == "ok").to_numpy()
        for reason, count in frame.loc[~ok, "status"].value_counts().items():
            report.skipped_reasons[str(reason)] += int(count)
        report.warm_up = report.skipped_reasons.pop("warm_up", 0)
        unreadable = report.skipped_reasons.pop("unreadable_line", 0)
        if unreadable:  # only the files that had such lines are read again
            bad = sorted(frame.loc[~ok, "bad_file"].dropna().unique().tolist())
            report.skipped_reasons.update(_diagnose(con, bad, unreadable))
    finally:
        con.close()
    report.skipped_lines = sum(report.skipped_reasons.values())
    frame = frame.loc[ok, features].reset_index(drop=True) if not ok.all() else frame[features]
    report.records = len(frame)
    return frame.astype("float64"), report
