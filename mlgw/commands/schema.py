"""`mlgw schema`: the data contract (processing/schema.json) as a user edits and checks it.

- `infer --claims A.csv --customers B.csv`: draft a schema from your files — column types,
  ranges, categories with their counts, suggested encodings — for you to edit.
- `check [--schema FILE] --claims A.csv --customers B.csv`: validate files against a schema
  without running the pipeline; every problem, grouped by column, with counts and the first
  rows. Exit status 1 when there is a problem.
- `models [--schema FILE]`: the API Gateway request models (JSON) the schema derives, as
  infra/ml-gateway.yaml holds them for the default schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlgw.args import CliError, check_input_file

MAX_ONE_HOT = 30  # more distinct labels than this: suggested `drop` (an id or free text)


def register(sub) -> None:
    schema = sub.add_parser(
        "schema",
        help="draft, check and show the data contract",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = schema.add_subparsers(dest="action", required=True, metavar="ACTION")

    infer = actions.add_parser("infer", help="draft a schema from your CSVs")
    infer.add_argument("--claims", required=True, help="your claims CSV")
    infer.add_argument("--customers", required=True, help="your customers CSV")
    infer.add_argument("--key", default="policy_id", help="record identifier (default policy_id)")
    infer.add_argument("--label", default="fraud", help="label column of the claims (default fraud)")
    infer.add_argument("--out", help="write the draft here (default: standard output)")
    infer.set_defaults(func=cmd_infer)

    check = actions.add_parser("check", help="validate CSVs against a schema")
    check.add_argument("--schema", help="the schema file (default: processing/schema.json)")
    check.add_argument("--claims", required=True, help="claims CSV")
    check.add_argument("--customers", required=True, help="customers CSV")
    check.set_defaults(func=cmd_check)

    models = actions.add_parser("models", help="the API Gateway request models a schema derives")
    models.add_argument("--schema", help="the schema file (default: processing/schema.json)")
    models.set_defaults(func=cmd_models)


def _load(path: str | None):
    from processing import contract

    try:
        return contract.load(path)
    except contract.SchemaFileError as exc:
        raise CliError(str(exc)) from None


# -- infer -------------------------------------------------------------------------------------


def _read_text(path: str, flag: str):
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        check_input_file(flag, path)
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CliError(f"{p.name}: not a readable CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def infer_column(name: str, cells, key: str, label: str) -> dict[str, Any]:
    """One column's draft entry from its cells (strings; empty = missing)."""
    import pandas as pd

    present = cells[cells != ""]
    column: dict[str, Any] = {"name": name}
    numbers = pd.to_numeric(present, errors="coerce")
    numeric = len(present) > 0 and bool(numbers.notna().all())
    if numeric:
        values = numbers.to_numpy(dtype="float64")
        # Written as whole numbers ("3", not "3.0"): the writer meant an int.
        integral = bool(present.str.fullmatch(r"[+-]?\d+").all())
        column["type"] = "int" if integral else "float"
        lo, hi = float(values.min()), float(values.max())
        if integral:
            column["min"], column["max"] = _number(lo), _number(hi)
        elif lo >= 0:
            column["min"] = 0
    else:
        counts = present.value_counts()
        column["type"] = "category"
        column["values"] = [str(v) for v in counts.index]
        column["description"] = "counts: " + ", ".join(f"{v} {n}" for v, n in counts.items())
        if name not in (key, label):
            if len(counts) > MAX_ONE_HOT:
                column["encoding"] = "drop"
                column["description"] += f" ({len(counts)} labels: dropped; edit if a feature)"
            elif len(counts) <= 2:
                column["encoding"] = "ordinal"
                column["description"] += " (ordinal: put 'values' in their order)"
            else:
                column["encoding"] = "one_hot"
    if len(present) < len(cells):
        column["nullable"] = True
        column["description"] = (column.get("description", "") + f" {len(cells) - len(present)} empty cell(s)").strip()
    return column


def infer(claims: str, customers: str, key: str = "policy_id", label: str = "fraud") -> dict[str, Any]:
    """A draft schema document from the two CSVs (see `processing.contract` for the format)."""
    from processing import contract

    tables: dict[str, Any] = {}
    for table, path in (("claims", claims), ("customers", customers)):
        frame = _read_text(path, f"--{table}")
        if key not in frame.columns:
            raise CliError(f"{Path(path).name}: no key column '{key}' (use --key)")
        spec: dict[str, Any] = {"file": Path(path).name, "feature_group": table, "key": key}
        if table == "claims":
            if label not in frame.columns:
                raise CliError(f"{Path(path).name}: no label column '{label}' (use --label)")
            spec["label"] = label
        spec["columns"] = [infer_column(c, frame[c], key, label) for c in frame.columns]
        tables[table] = spec
    return {
        "format": contract.FORMAT,
        "description": f"Drafted by `mlgw schema infer` from {Path(claims).name} and "
        f"{Path(customers).name}: check types, ranges, category order and "
        "encodings before use.",
        "missing_values": [""],
        "unknown_categories": "error",
        "event_time": "event_time",
        "tables": tables,
    }


def cmd_infer(args: argparse.Namespace) -> int:
    from processing import contract

    document = infer(args.claims, args.customers, args.key, args.label)
    try:
        contract.parse(document, "<draft>")
    except contract.SchemaFileError as exc:  # e.g. a column name Feature Store refuses
        print(f"mlgw: warning: the draft needs editing before use: {exc}", file=sys.stderr)
    text = contract.dumps(document)
    if args.out:
        try:
            Path(args.out).write_text(text)
        except OSError as exc:  # a missing folder, a directory, no permission
            raise CliError(f"--out {args.out}: cannot write the schema: {exc.strerror}") from None
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# -- check -------------------------------------------------------------------------------------


def check(claims: str, customers: str, schema: str | None = None) -> tuple[list[str], int]:
    """(report lines, number of problems) for both files against the schema."""
    from processing import schema as raw_schema

    contract = _load(schema)
    lines: list[str] = [f"schema: {contract.path}"]
    total = 0
    frames = {}
    inputs: tuple[tuple[raw_schema.Table, str], ...] = (("claims", claims), ("customers", customers))
    for table, path in inputs:
        try:
            frame, problems = raw_schema.validate(path, table, contract)
        except raw_schema.SchemaError as exc:
            lines.append(f"{exc}")
            total += 1
            continue
        frames[table] = frame
        found = sum(p.count for p in problems.columns.values()) + len(problems.header)
        total += found
        lines.append(f"{problems.file}: {len(frame):,} rows, {'no problems' if not found else f'{found:,} problem(s)'}")
        for text in problems.header:
            lines.append(f"  header: {text}")
        for entry in problems.columns.values():
            lines.append(f"  column '{entry.column}': {entry.count:,} row(s)")
            lines += [f"    row {row}: {text}" for row, text in entry.first]
            if entry.count > len(entry.first):
                lines.append(f"    ... and {entry.count - len(entry.first):,} more")
        for column, count in problems.notes:
            lines.append(
                f"  column '{column}': {count:,} unknown categor"
                f"{'y' if count == 1 else 'ies'} will be read as missing "
                "(unknown_categories: missing)"
            )
    if len(frames) == 2 and "policy_id" in frames["claims"] and "policy_id" in frames["customers"]:
        try:
            raw_schema.check_join(frames["claims"], frames["customers"])
        except raw_schema.SchemaError as exc:
            lines.append(str(exc))
            total += 1
    return lines, total


def cmd_check(args: argparse.Namespace) -> int:
    check_input_file("--claims", args.claims)
    check_input_file("--customers", args.customers)
    lines, total = check(args.claims, args.customers, args.schema)
    print("\n".join(lines))
    print("OK: the files match the schema" if not total else f"{total:,} problem(s)")
    return 1 if total else 0


def cmd_models(args: argparse.Namespace) -> int:
    contract = _load(args.schema)
    print(
        json.dumps(
            {
                "PredictRequest": contract.predict_request_model(),
                "DirectPredictRequest": contract.direct_request_model(),
            },
            indent=2,
        )
    )
    return 0
