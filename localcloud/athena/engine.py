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


def _athena_type(duck_type: str) -> str:
    if duck_type.startswith("DECIMAL"):
        return duck_type.lower()
    if duck_type.endswith("[]"):
        return "array"
    if duck_type.startswith("STRUCT"):
        return "row"
    if duck_type.startswith("MAP"):
        return "map"
    return _TYPES.get(duck_type, "varchar")


def _column_info(name: str, athena_type: str) -> dict[str, Any]:
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


def transpile(sql: str) -> str:
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
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
) -> Result:
    """Run `sql`. `started(con)` receives the DuckDB connection just before the statement runs
    (StopQueryExecution interrupts it) and answers False if the query was stopped already."""
    import duckdb

    statement = transpile(sql)
    con = duckdb.connect()
    try:
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
        columns = [_column_info(name, _athena_type(kind)) for name, kind in described]
        csv_path, parquet_path = work / "result.csv", work / "result.parquet"
        # Athena's CSV: header, every value quoted, NULL an empty unquoted field, timestamps
        # `yyyy-MM-dd HH:mm:ss.SSS`, booleans true/false.
        as_text = ", ".join(_as_text(name, kind) for name, kind in described)
        con.execute(f"CREATE TEMP VIEW __text AS SELECT {as_text or '1 AS x'} FROM __result")
        con.execute(f"COPY __text TO '{csv_path}' (FORMAT CSV, HEADER, FORCE_QUOTE *, NULL '')")
        con.execute(f"COPY __text TO '{parquet_path}' (FORMAT PARQUET)")
        scanned = sum(p.stat().st_size for p in _parquet_files(con))
        return Result(csv_path, parquet_path, columns, scanned)
    finally:
        con.close()


def _as_text(name: str, kind: str) -> str:
    quoted = '"' + name.replace('"', '""') + '"'
    if kind == "TIMESTAMP":
        return f"strftime({quoted}, '%Y-%m-%d %H:%M:%S.%g') AS {quoted}"
    if kind == "BOOLEAN":
        return f"CASE WHEN {quoted} IS NULL THEN NULL WHEN {quoted} THEN 'true' ELSE 'false' END AS {quoted}"
    return f"CAST({quoted} AS VARCHAR) AS {quoted}"


def _parquet_files(con: duckdb.DuckDBPyConnection) -> list[Path]:
    # The offline-store views read_parquet over these globs; their size is what Athena scans.
    found: list[Path] = []
    for (text,) in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall():
        for glob in re.findall(r"read_parquet\('([^']+)'", text or ""):
            root = Path(glob.split("/**", 1)[0])
            found += list(root.rglob("*.parquet")) if root.exists() else []
    return found


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
