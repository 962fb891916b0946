"""The data contract: one schema file (processing/schema.json by default) and everything derived
from it — the raw columns and their checks, the model's features and their order, the feature
group definitions, and the JSON schemas of the gateway's request bodies.

Stdlib only: the gateway's hot path (Lambda) and the serving container import it.

Which schema is active: the file named by the environment variable MLGW_SCHEMA, else the
default file shipped beside this module. A job told `--schema-dir D` calls `activate(D)`.
Loaded contracts are cached by (path, mtime, size), so `active()` costs a dict lookup.

Schema file shape (JSON)::

    {"format": "mlgw-data-schema/1",
     "missing_values": [""],                 # cell texts that mean "missing" (all tables)
     "unknown_categories": "error",          # at Ingest: "error" or "missing" (map + count)
     "event_time": "event_time",
     "tables": {"claims": {"file": "claims.csv", "feature_group": "claims",
                           "key": "policy_id", "label": "fraud",
                           "columns": [{"name", "type": int|float|category, "min", "max",
                                        "values": [...], "nullable": bool,
                                        "missing_values": [...], "unknown_categories": ...,
                                        "encoding": numeric|one_hot|ordinal|drop}, ...]},
                "customers": {...}}}

A column's encoding defaults to `numeric` for int/float and `one_hot` for category; an
ordinal's codes are 0..n-1 in the order of `values`. Raises SchemaFileError naming the key.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "mlgw-data-schema/1"
DEFAULT_PATH = Path(__file__).resolve().with_name("schema.json")
ENV = "MLGW_SCHEMA"
SCHEMA_FILE = "schema.json"  # the name in a --schema-dir folder and in model.tar.gz
TYPES = ("int", "float", "category")
ENCODINGS = ("numeric", "one_hot", "ordinal", "drop")
UNKNOWN_POLICIES = ("error", "missing")

_NON_NAME = re.compile(r"[^a-z0-9]+")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # Feature Store feature names, lower-cased for Athena


class SchemaFileError(ValueError):
    """The schema file itself is invalid; the message names the file and the key at fault."""


def feature_name(column: str, value: str) -> str:
    """One-hot column name: `<col>_<value>` lower-cased, runs of non-[a-z0-9] → `_`."""
    return f"{column}_{_NON_NAME.sub('_', value.lower()).strip('_')}"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # int | float | category
    encoding: str  # numeric | one_hot | ordinal | drop | key | label
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    missing_values: tuple[str, ...] = ("",)
    unknown_categories: str = "error"

    @property
    def kind(self) -> str:  # the names processing.schema's ColumnSpec used
        return self.type

    @property
    def categories(self) -> tuple[str, ...] | None:
        return self.values or None

    @property
    def features(self) -> list[str]:
        """The model features this column becomes (empty for key, label and dropped columns)."""
        if self.encoding == "one_hot":
            return [feature_name(self.name, v) for v in self.values]
        if self.encoding in ("ordinal", "numeric"):
            return [self.name]
        return []


@dataclass(frozen=True)
class Table:
    name: str
    file: str
    feature_group: str
    key: str
    label: str | None
    columns: tuple[Column, ...]

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    def encoded(self, encoding: str) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.encoding == encoding)

    @property
    def features(self) -> list[str]:
        """Feature order: one-hot groups, then ordinals, then numerics, each in column order."""
        return [f for kind in ("one_hot", "ordinal", "numeric") for c in self.encoded(kind) for f in c.features]


@dataclass(frozen=True)
class Contract:
    path: str
    tables: dict[str, Table]
    event_time: str
    document: dict[str, Any] = field(compare=False, repr=False)

    @property
    def model_features(self) -> list[str]:
        return [f for t in self.tables.values() for f in t.features]

    @property
    def label(self) -> str:
        labels = [t.label for t in self.tables.values() if t.label]
        return labels[0]

    @property
    def key(self) -> str:
        return next(iter(self.tables.values())).key

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise ValueError(f"unknown table {name!r} (expected {' or '.join(self.tables)})") from None

    def one_hot_groups(self) -> dict[str, list[str]]:
        """{raw column: its one-hot feature names}, for the drift check's no-category share."""
        return {c.name: c.features for t in self.tables.values() for c in t.encoded("one_hot")}

    def feature_definitions(self, table: str) -> list[dict[str, str]]:
        """The group's FeatureDefinitions: key Integral, features Fractional, label Integral
        (claims), event time Fractional — the frame feature_store ingests has these dtypes."""
        t = self.table(table)
        out = [{"FeatureName": t.key, "FeatureType": "Integral"}]
        out += [{"FeatureName": f, "FeatureType": "Fractional"} for f in t.features]
        if t.label:
            out.append({"FeatureName": t.label, "FeatureType": "Integral"})
        out.append({"FeatureName": self.event_time, "FeatureType": "Fractional"})
        return out

    # -- JSON schemas of request bodies (draft-04 keywords only, as API Gateway models) -------

    def raw_record_schema(self, table: str) -> dict[str, Any]:
        """A raw record of `table` as the gateway accepts it: raw columns with their type and
        range (categories as any string: an unknown one is answered, not refused), or already
        encoded features (numbers)."""
        t = self.table(table)
        props: dict[str, Any] = {}
        for c in t.columns:
            if c.type == "category":
                spec: dict[str, Any] = {"type": "string"}
            else:
                spec = {"type": "integer" if c.type == "int" else "number"}
                if c.min is not None:
                    spec["minimum"] = c.min
                if c.max is not None:
                    spec["maximum"] = c.max
            if c.nullable or c.encoding in ("key", "drop"):
                spec["type"] = [spec["type"], "null"]
            props[c.name] = spec
        for name in t.features:
            props.setdefault(name, {"type": ["number", "null"]})
        props.setdefault(self.event_time, {"type": ["number", "string", "null"]})
        return {"type": "object", "additionalProperties": False, "properties": props}

    def predict_request_model(self) -> dict[str, Any]:
        """POST /predict: {policy_id, variant?, claim?, customer?} (inference.gateway_handler)."""
        tables = list(self.tables)
        props: dict[str, Any] = {
            self.key: {"type": "integer", "minimum": 0},
            "variant": {"type": "string", "pattern": "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"},
        }
        for name, record in zip(("claim", "customer"), tables):
            props[name] = self.raw_record_schema(record)
        return {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": "PredictRequest",
            "type": "object",
            "required": [self.key],
            "additionalProperties": False,
            "properties": props,
        }

    def direct_request_model(self) -> dict[str, Any]:
        """POST /predict/direct: {"features": {encoded feature: number|null}}."""
        return {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": "DirectPredictRequest",
            "type": "object",
            "required": ["features"],
            "additionalProperties": False,
            "properties": {
                "features": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": {f: {"type": ["number", "null"]} for f in self.model_features},
                }
            },
        }


# -- loading -------------------------------------------------------------------------------------


def _fail(path: str, where: str, message: str) -> SchemaFileError:
    return SchemaFileError(f"{path}: {where}: {message}")


def _strings(path: str, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, where, f"must be a list of strings, got {value!r}")
    return tuple(value)


def _number(path: str, where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, where, f"must be a number, got {value!r}")
    return value


def _column(path: str, table: str, i: int, raw: Any, defaults: dict[str, Any], key: str, label: str | None) -> Column:
    where = f"tables.{table}.columns[{i}]"
    if not isinstance(raw, dict):
        raise _fail(path, where, "must be an object")
    unknown = set(raw) - {
        "name",
        "type",
        "values",
        "min",
        "max",
        "nullable",
        "missing_values",
        "unknown_categories",
        "encoding",
        "description",
    }
    if unknown:
        raise _fail(path, where, f"unknown key(s) {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(path, f"{where}.name", f"must match {_NAME.pattern}, got {name!r}")
    where = f"tables.{table}.columns.{name}"
    kind = raw.get("type")
    if kind not in TYPES:
        raise _fail(path, f"{where}.type", f"must be one of {', '.join(TYPES)}, got {kind!r}")
    values: tuple[str, ...] = ()
    if kind == "category":
        values = _strings(path, f"{where}.values", raw.get("values"))
        if not values or len(set(values)) != len(values):
            raise _fail(path, f"{where}.values", "must be a non-empty list of distinct labels")
    elif "values" in raw:
        raise _fail(path, f"{where}.values", f"only a category column has values ({kind})")
    encoding = raw.get("encoding", "one_hot" if kind == "category" else "numeric")
    if name == key:
        encoding = "key"
    elif name == label:
        encoding = "label"
    elif encoding not in ENCODINGS:
        raise _fail(path, f"{where}.encoding", f"must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    elif encoding in ("one_hot", "ordinal") and kind != "category":
        raise _fail(path, f"{where}.encoding", f"{encoding} needs a category column ({kind})")
    elif encoding == "numeric" and kind == "category":
        raise _fail(path, f"{where}.encoding", "a category column is one_hot, ordinal or drop")
    missing = _strings(path, f"{where}.missing_values", raw.get("missing_values", defaults["missing_values"]))
    clash = set(missing) & set(values)
    if clash:
        raise _fail(path, f"{where}.missing_values", f"{sorted(clash)} are also category values")
    policy = raw.get("unknown_categories", defaults["unknown_categories"])
    if policy not in UNKNOWN_POLICIES:
        raise _fail(
            path, f"{where}.unknown_categories", f"must be one of {', '.join(UNKNOWN_POLICIES)}, got {policy!r}"
        )
    nullable = raw.get("nullable", False)
    if not isinstance(nullable, bool):
        raise _fail(path, f"{where}.nullable", f"must be true or false, got {nullable!r}")
    column = Column(
        name,
        kind,
        encoding,
        values,
        _number(path, f"{where}.min", raw.get("min")),
        _number(path, f"{where}.max", raw.get("max")),
        nullable,
        missing,
        policy,
    )
    if column.min is not None and column.max is not None and column.min > column.max:
        raise _fail(path, where, f"min {column.min} > max {column.max}")
    return column


def parse(document: Any, path: str = "<schema>") -> Contract:
    """A Contract from a parsed schema document; SchemaFileError names the key at fault."""
    if not isinstance(document, dict):
        raise _fail(path, "top level", "must be a JSON object")
    if document.get("format") != FORMAT:
        raise _fail(path, "format", f"must be {FORMAT!r}, got {document.get('format')!r}")
    defaults = {
        "missing_values": document.get("missing_values", [""]),
        "unknown_categories": document.get("unknown_categories", "error"),
    }
    raw_tables = document.get("tables")
    if not isinstance(raw_tables, dict) or set(raw_tables) != {"claims", "customers"}:
        raise _fail(path, "tables", "must be an object with the tables 'claims' and 'customers'")
    tables: dict[str, Table] = {}
    seen_features: dict[str, str] = {}
    for tname, raw in raw_tables.items():
        where = f"tables.{tname}"
        if not isinstance(raw, dict) or not isinstance(raw.get("columns"), list):
            raise _fail(path, where, "must be an object with a 'columns' list")
        key, label = raw.get("key"), raw.get("label")
        columns = tuple(_column(path, tname, i, c, defaults, key, label) for i, c in enumerate(raw["columns"]))
        names = [c.name for c in columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _fail(path, f"{where}.columns", f"duplicate column(s) {dup}")
        if key not in names:
            raise _fail(path, f"{where}.key", f"{key!r} is not one of its columns")
        if label is not None and label not in names:
            raise _fail(path, f"{where}.label", f"{label!r} is not one of its columns")
        by_name = dict(zip(names, columns))
        if by_name[key].type != "int" or by_name[key].nullable:
            raise _fail(path, f"{where}.key", "the record identifier must be a non-null int")
        table = Table(
            tname, str(raw.get("file", f"{tname}.csv")), str(raw.get("feature_group", tname)), key, label, columns
        )
        for f in table.features:
            if f in seen_features:
                raise _fail(path, f"{where}.columns", f"feature {f!r} also comes from {seen_features[f]}")
            seen_features[f] = tname
        tables[tname] = table
    keys = {t.key for t in tables.values()}
    if len(keys) != 1:
        raise _fail(path, "tables", f"both tables must share one key, got {sorted(keys)}")
    if sum(1 for t in tables.values() if t.label) != 1:
        raise _fail(path, "tables", "exactly one table declares the label")
    event_time = document.get("event_time", "event_time")
    return Contract(path, tables, event_time, document)


_cache: dict[tuple[str, int, int], Contract] = {}


def load(path: str | os.PathLike[str] | None = None) -> Contract:
    """The contract of a schema file (default: the active one). A folder means its schema.json."""
    p = Path(path) if path else DEFAULT_PATH
    if p.is_dir():
        p = schema_in(p)
    try:
        st = p.stat()
    except OSError:
        raise SchemaFileError(f"{p}: schema file not found") from None
    key = (str(p), st.st_mtime_ns, st.st_size)
    cached = _cache.get(key)
    if cached is None:
        try:
            document = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SchemaFileError(f"{p}: not valid JSON: {exc}") from None
        except RecursionError:  # json's decoder recurses per level: [[[[...]]]] deeper than the stack
            raise SchemaFileError(f"{p}: not a schema: JSON nested too deeply to read") from None
        cached = _cache[key] = parse(document, str(p))
    return cached


_active: dict[str, Contract] = {}
_environ = os.environ


def active() -> Contract:
    """The active contract: $MLGW_SCHEMA if set, else the default file (cached per path)."""
    path = _environ.get(ENV) or ""
    contract = _active.get(path)
    if contract is None:
        contract = _active[path] = load(path or None)
    return contract


def schema_in(folder: str | os.PathLike[str]) -> Path:
    """The schema file a job input folder holds: schema.json, else its only *.json file (a
    SchemaUri may name any key). SchemaFileError if there is none or it is ambiguous."""
    p = Path(folder)
    if (p / SCHEMA_FILE).is_file():
        return p / SCHEMA_FILE
    found = sorted(f for f in p.glob("*.json") if f.is_file())
    if len(found) != 1:
        raise SchemaFileError(
            f"{p}: expected one schema file (schema.json or a single *.json), found {[f.name for f in found] or 'none'}"
        )
    return found[0]


def activate(path: str | os.PathLike[str] | None) -> Contract:
    """Make `path` (a schema file, or a job input folder holding one: see `schema_in`) the
    active contract for this process and the jobs it starts. None keeps the current one."""
    if path:
        p = Path(path)
        if p.is_dir():
            p = schema_in(p)
        contract = load(p)
        os.environ[ENV] = str(p)
        _active[str(p)] = contract
    return active()


def dumps(document: dict[str, Any]) -> str:
    """A schema document as JSON text with one column per line (readable, diff-friendly)."""
    head = {k: v for k, v in document.items() if k != "tables"}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    lines.append('  "tables": {')
    tables = list(document.get("tables", {}).items())
    for i, (name, spec) in enumerate(tables):
        attrs = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in spec.items() if k != "columns")
        lines.append(f'    {json.dumps(name)}: {{{attrs}, "columns": [')
        columns = spec.get("columns", [])
        lines += [f"      {json.dumps(c)}{',' if j < len(columns) - 1 else ''}" for j, c in enumerate(columns)]
        lines.append("    ]}" + ("," if i < len(tables) - 1 else ""))
    lines += ["  }", "}"]
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == document
    return text
