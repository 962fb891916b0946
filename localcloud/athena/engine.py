"""Run one Athena (Trino) statement on DuckDB over the Feature Store offline store.

sqlglot transpiles Trino to DuckDB (the dialect work no one should hand-write); tables resolve
as Athena resolves them: `"<database>"."<table>"`, or an unqualified name in the query's
QueryExecutionContext.Database. Errors are raised as QueryFailed with the text Athena puts in
StateChangeReason: `SYNTAX_ERROR: line L:C: ...`, `TABLE_NOT_FOUND: line L:C: Table
'awsdatacatalog.<db>.<table>' does not exist`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.athena.models import QueryFailed

if TYPE_CHECKING:
    import duckdb

    from localcloud.cloud import LocalCloud

# DuckDB result types → the type names Athena reports in ColumnInfo.Type.
_TYPES = {
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "UBIGINT": "bigint",
    "INTEGER": "integer",
    "UINTEGER": "bigint",
    "SMALLINT": "smallint",
    "USMALLINT": "integer",
    "TINYINT": "tinyint",
    "UTINYINT": "smallint",
    "DOUBLE": "double",
    "FLOAT": "float",
    "VARCHAR": "varchar",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "TIME": "time",
    "BLOB": "varbinary",
    "UUID": "uuid",
    "INTERVAL": "interval day to second",
}


@dataclass
class Result:
    csv: Path
    parquet: Path  # the same rows, each value as its CSV text (NULL stays null)
    columns: list[dict[str, Any]]
    scanned: int  # bytes of Parquet the query could read


# Unaliased select items are given this alias prefix and renamed `_col<position>` in the result.
_UNNAMED = "__athena_unnamed_"


def _athena_type(duck_type: str) -> str:
    if duck_type.startswith("DECIMAL"):
        return "decimal"  # precision and scale go in ColumnInfo.Precision / Scale
    if duck_type.endswith("[]"):
        return "array"
    if duck_type.startswith("STRUCT"):
        return "row"
    if duck_type.startswith("MAP"):
        return "map"
    return _TYPES.get(duck_type, "varchar")


def _column_info(name: str, duck_type: str) -> dict[str, Any]:
    athena_type = _athena_type(duck_type)
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duck_type)
    if decimal:  # Athena: Type `decimal`, Precision p, Scale s (as PyAthena's converters expect)
        return {
            **_column_info(name, "DOUBLE"),
            "Type": "decimal",
            "Precision": int(decimal[1]),
            "Scale": int(decimal[2]),
        }
    precision = {
        "bigint": 19,
        "integer": 10,
        "smallint": 5,
        "tinyint": 3,
        "double": 17,
        "float": 17,
        "boolean": 0,
        "date": 0,
        "timestamp": 3,
    }.get(athena_type, 2147483647)
    return {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": name,
        "Label": name,
        "Type": athena_type,
        "Precision": precision,
        "Scale": 0,
        "Nullable": "UNKNOWN",
        "CaseSensitive": athena_type == "varchar",
    }


def _position(sql: str, needle: str) -> str:
    """`line L:C` of the first occurrence of `needle` (1-based, as Trino reports)."""
    index = sql.lower().find(needle.lower())
    if index < 0:
        return "line 1:1"
    if index > 0 and sql[index - 1] == '"':  # Trino points at the quoted identifier's quote
        index -= 1
    line = sql.count("\n", 0, index) + 1
    column = index - (sql.rfind("\n", 0, index) + 1) + 1
    return f"line {line}:{column}"


def bind(sql: str, parameters: list[str]) -> str:
    """Put StartQueryExecution's ExecutionParameters in place of the `?` placeholders, in order.
    Each parameter is SQL literal text as Athena takes it (a string is `'abc'`, a decimal
    `DECIMAL '1.25'` or `1.25`, a number `1`): it must be one expression, and goes in
    parenthesized, so it can never change the statement around it."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise("trino").tokenize(sql)
    except TokenError:
        return sql  # transpile reports it
    holes = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER and t.text == "?"]
    if len(holes) != len(parameters):
        # Trino's text (QueryPreparer, INVALID_PARAMETER_USAGE)
        raise QueryFailed(
            f"INVALID_PARAMETER_USAGE: line 1:1: Incorrect number of parameters: "
            f"expected {len(holes)} but found {len(parameters)}"
        )
    out, last = [], 0
    for number, (hole, text) in enumerate(zip(holes, parameters), start=1):  # Trino: QueryPreparer
        try:
            parsed = [e for e in sqlglot.parse(text, read="trino") if e is not None]
        except (ParseError, TokenError):
            parsed = []
        if len(parsed) != 1 or isinstance(parsed[0], (sqlglot.exp.Query, sqlglot.exp.DDL, sqlglot.exp.DML)):
            raise QueryFailed(
                f"INVALID_PARAMETER_USAGE: line 1:1: ExecutionParameters[{number - 1}] is not a SQL literal: {text!r}"
            )
        if parsed[0].find(sqlglot.exp.Column, sqlglot.exp.Query):  # Trino: parameters are constants
            raise QueryFailed(
                f"EXPRESSION_NOT_CONSTANT: line 1:1: ExecutionParameters[{number - 1}] is not a constant: {text!r} "
                "(a string parameter is given in single quotes, as a SQL literal)"
            )
        value = _decimal_types(parsed[0], text)  # its DECIMAL '...' keeps its digits once in the query
        out += [sql[last : hole.start], f"({value.sql(dialect='trino')})"]
        last = hole.end + 1
    return "".join(out) + sql[last:]


def _decimal_literal(text: str) -> tuple[int, int] | None:
    """Trino's type of `DECIMAL '<text>'`: precision = its digits, scale = those after the point."""
    match = re.fullmatch(r"\s*[+-]?(\d*)(?:\.(\d*))?\s*", text)
    if not match or not (match[1] or match[2]):
        return None
    whole, fraction = match[1].lstrip("0"), match[2] or ""
    return max(len(whole) + len(fraction), 1), len(fraction)


def _to_athena_semantics(tree: Any, sql: str) -> Any:
    """Trino meanings DuckDB would change: a `DECIMAL '1.2345'` literal keeps every digit
    (decimal(5,4), not DuckDB's DECIMAL(18,3)) and a bare DECIMAL type is decimal(38,0);
    `ROW(1, 'a')` has fields field0, field1 (or the names of the ROW type it is cast to);
    unaliased select items get a marker alias (renamed `_col<n>` in the result)."""
    from sqlglot import exp

    counter = iter(range(1 << 30))

    def name_fields(row: exp.Struct, kind: exp.DataType) -> None:
        # CAST(ROW(1, ROW(2)) AS ROW(a INTEGER, b ROW(c INTEGER))): the fields take the type's names
        if kind.this != exp.DataType.Type.STRUCT:
            return
        fields = [f for f in kind.expressions if isinstance(f, exp.ColumnDef)]
        values = row.expressions
        if len(fields) != len(values) or any(isinstance(e, exp.PropertyEQ) for e in values):
            return
        for value, field in zip(values, fields):
            if isinstance(value, exp.Struct) and isinstance(field.kind, exp.DataType):
                name_fields(value, field.kind)
        row.set(
            "expressions",
            [exp.PropertyEQ(this=exp.to_identifier(f.name), expression=v) for f, v in zip(fields, values)],
        )

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Struct):
            name_fields(node.this, node.to)
        elif isinstance(node, exp.Struct) and node.expressions:
            if not any(isinstance(e, (exp.PropertyEQ, exp.Alias, exp.Slice)) for e in node.expressions):
                node.set(
                    "expressions",
                    [
                        exp.PropertyEQ(this=exp.to_identifier(f"field{i}"), expression=e.copy())
                        for i, e in enumerate(node.expressions)
                    ],
                )
        elif isinstance(node, exp.Select):

            def named(e: exp.Expression) -> exp.Expression:
                if isinstance(e, (exp.Alias, exp.Column, exp.Star)):
                    return e  # a column keeps its name
                if isinstance(e, exp.Dot) and e.name:  # Trino names `<row>.field` by its field
                    return exp.Alias(this=e, alias=exp.to_identifier(e.name, quoted=True))
                return exp.Alias(this=e, alias=exp.to_identifier(f"{_UNNAMED}{next(counter)}", quoted=True))

            node.set("expressions", [named(e) for e in node.expressions])
        return node

    return _decimal_types(tree, sql).transform(rewrite)  # positions first, while the tree is as parsed


def _decimal_types(tree: Any, sql: str) -> Any:
    """A `DECIMAL '1.2345'` literal in `sql` (parsed as `tree`) is decimal(5,4) as in Trino, not
    DuckDB's DECIMAL(18,3); a bare DECIMAL type (`CAST(x AS DECIMAL)`) is decimal(38,0)."""
    from sqlglot import exp

    def typed_literal(node: exp.Expression) -> tuple[int, int] | None:
        # `DECIMAL '1.5'` (not `CAST('1.5' AS DECIMAL)`): the text before the literal is DECIMAL
        start = node.meta.get("start") if isinstance(node, exp.Literal) and node.is_string else None
        if start is None or not sql[:start].rstrip().upper().endswith("DECIMAL"):
            return None
        return _decimal_literal(node.this)

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL and not node.to.expressions:
            digits = typed_literal(node.this)
            precision, scale = digits if digits and digits[0] <= 38 else (38, 0)
            node.set("to", exp.DataType.build(f"DECIMAL({precision}, {scale})"))
        return node

    return tree.transform(rewrite)


def transpile(sql: str) -> str:
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    try:
        statements = [_to_athena_semantics(s, sql) for s in sqlglot.parse(sql, read="trino") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f"line {first.get('line', 1)}:{first.get('col', 1)}"
        detail = first.get("description") or str(exc)
        raise QueryFailed(f"SYNTAX_ERROR: {where}: {detail}") from None
    except TokenError as exc:
        raise QueryFailed(f"SYNTAX_ERROR: line 1:1: {exc}") from None
    if len(statements) != 1:
        raise QueryFailed(f"SYNTAX_ERROR: line 1:1: Only one sql statement is allowed. Got: {len(statements)}")
    return statements[0].sql(dialect="duckdb")


def execute(
    cloud: LocalCloud,
    sql: str,
    database: str,
    work: Path,
    started: Callable[[duckdb.DuckDBPyConnection], bool] = lambda con: True,
    parameters: list[str] | None = None,
) -> Result:
    """Run `sql` with `parameters` (ExecutionParameters) in its `?` placeholders. `started(con)`
    receives the DuckDB connection just before the statement runs (StopQueryExecution interrupts
    it) and answers False if the query was stopped already."""
    import duckdb

    statement = transpile(bind(sql, parameters or []))
    con = duckdb.connect()
    try:
        con.create_function("__athena_render", _render_json, ["VARCHAR"], "VARCHAR")
        tables = cloud.featurestore.register_offline_tables(con)  # the offline store's Glue tables
        schemas = {t.split(".", 1)[0] for t in tables}
        if database in schemas:
            con.execute(f"SET search_path = '{database}'")
        else:  # the context database has no tables here: unqualified names resolve to nothing
            con.execute("CREATE SCHEMA IF NOT EXISTS __athena_empty")
            con.execute("SET search_path = '__athena_empty'")
        if not started(con):
            raise QueryFailed("Query cancelled by user")
        try:
            con.execute(f"CREATE TEMP TABLE __result AS {statement}")
        except duckdb.CatalogException as exc:
            match = re.search(r'Table with name "?([^"\s!]+)"? does not exist', str(exc))
            if match:
                name = match.group(1)
                qualified = name if "." in name else f"{database}.{name}"
                raise QueryFailed(
                    f"TABLE_NOT_FOUND: {_position(sql, name)}: Table 'awsdatacatalog.{qualified}' does not exist"
                ) from None
            raise QueryFailed(f"COLUMN_NOT_FOUND: {_first_line(exc)}") from None
        except duckdb.InterruptException:
            raise QueryFailed("Query cancelled by user") from None
        except (
            duckdb.BinderException,
            duckdb.ParserException,
            duckdb.ConversionException,
            duckdb.InvalidInputException,
            duckdb.NotImplementedException,
        ) as exc:
            raise QueryFailed(f"{_error_name(exc)}: {_first_line(exc)}") from None
        described = con.execute("SELECT column_name, column_type FROM (DESCRIBE __result)").fetchall()
        # Athena names an unaliased column `_col<its 0-based position>`
        names = [f"_col{i}" if name.startswith(_UNNAMED) else name for i, (name, _) in enumerate(described)]
        columns = [_column_info(name, kind) for name, (_, kind) in zip(names, described)]
        csv_path, parquet_path = work / "result.csv", work / "result.parquet"
        # Athena's CSV: header, every value quoted, NULL an empty unquoted field, timestamps
        # `yyyy-MM-dd HH:mm:ss.SSS`, booleans true/false.
        as_text = ", ".join(_as_text(name, kind, out) for out, (name, kind) in zip(names, described))
        con.execute(f"CREATE TEMP VIEW __text AS SELECT {as_text or '1 AS x'} FROM __result")
        con.execute(f"COPY __text TO '{csv_path}' (FORMAT CSV, HEADER, FORCE_QUOTE *, NULL '')")
        con.execute(f"COPY __text TO '{parquet_path}' (FORMAT PARQUET)")
        scanned = sum(p.stat().st_size for p in _parquet_files(con))
        return Result(csv_path, parquet_path, columns, scanned)
    finally:
        con.close()


def _as_text(name: str, kind: str, out: str) -> str:
    quoted = '"' + name.replace('"', '""') + '"'
    alias = '"' + out.replace('"', '""') + '"'
    if kind == "TIMESTAMP":
        return f"strftime({quoted}, '%Y-%m-%d %H:%M:%S.%g') AS {alias}"
    if kind == "BOOLEAN":
        return f"CASE WHEN {quoted} IS NULL THEN NULL WHEN {quoted} THEN 'true' ELSE 'false' END AS {alias}"
    if kind == "BLOB":  # Athena: lower-case hex bytes separated by spaces, `68 69`
        return f"trim(regexp_replace(lower(hex({quoted})), '(..)', '\\1 ', 'g')) AS {alias}"
    if _athena_type(kind) in ("array", "map", "row"):  # Athena: [1, 2], {k=v}, {field0=1, b=x}
        return f"__athena_render(CAST(to_json({quoted}) AS VARCHAR)) AS {alias}"
    return f"CAST({quoted} AS VARCHAR) AS {alias}"


def _render_json(text: str | None) -> str | None:
    """An array, map or row value (as DuckDB's JSON) in Athena's text: arrays `[a, b]`, maps and
    rows `{key=value, ...}`, strings unquoted, NULL inside a value `null`."""
    import json
    from decimal import Decimal

    if text is None:
        return None

    def render(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + ", ".join(render(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}={render(v)}" for k, v in value.items()) + "}"
        return str(value)

    return render(json.loads(text, parse_float=Decimal))


def _parquet_files(con: duckdb.DuckDBPyConnection) -> list[Path]:
    # The offline-store views read_parquet over these files (the list cloud.s3 gave them);
    # their size is what Athena scans.
    found: list[Path] = []
    for (text,) in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall():
        # read_parquet(['a', 'b'], ...), which DuckDB keeps as read_parquet(list_value('a', 'b'), ...)
        for listed in re.findall(r"read_parquet\(((?:[^']|'(?:[^']|'')*')*?), \(?hive_partitioning", text or ""):
            found += [Path(p.replace("''", "'")) for p in re.findall(r"'((?:[^']|'')*)'", listed)]
    return [p for p in found if p.is_file()]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _error_name(exc: Exception) -> str:
    import duckdb

    if isinstance(exc, duckdb.ParserException):
        return "SYNTAX_ERROR"
    if isinstance(exc, duckdb.BinderException):
        return "COLUMN_NOT_FOUND" if "not found" in str(exc).lower() else "TYPE_MISMATCH"
    if isinstance(exc, duckdb.NotImplementedException):
        return "NOT_SUPPORTED"
    return "INVALID_FUNCTION_ARGUMENT"
