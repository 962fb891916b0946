"""The offline store as Athena sees it, in DuckDB: one view per feature group named like its
Glue table (DataCatalogConfig.TableName) in a schema named like its Glue database
(DataCatalogConfig.Database), over the group's Parquet files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.featurestore.groups import GroupMeta

if TYPE_CHECKING:
    import duckdb

_DUCK_TYPES = {"Integral": "BIGINT", "Fractional": "DOUBLE", "String": "VARCHAR"}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def register_offline_tables(
    con: duckdb.DuckDBPyConnection,
    groups: Iterable[dict[str, Any]],
    split_uri: Callable[[str], tuple[str, str]],
    object_files: Callable[[str, str], list[Path]],
) -> dict[str, str]:
    """Create a view per feature group (`groups`: their documents) with an offline store,
    `"<database>"."<table>"`, over the Parquet objects under its S3 prefix as they are now;
    returns {"database.table": group name}. `split_uri` (cloud.s3.split_uri) checks the offline
    store's URI; `object_files(uri, suffix)` (cloud.s3.object_files) gives the files to read."""
    tables: dict[str, str] = {}
    for doc in groups:
        offline = doc.get("OfflineStoreConfig")
        if not offline:
            continue
        meta = GroupMeta.from_doc(doc, split_uri)
        if meta.offline_uri is None:  # never: the document has an OfflineStoreConfig
            continue
        table = offline["DataCatalogConfig"]["TableName"]
        database = offline["DataCatalogConfig"]["Database"]
        files = object_files(meta.offline_uri + "/", ".parquet")
        if files:
            listed = ", ".join(_quote_str(str(f)) for f in files)
            source = f"SELECT * FROM read_parquet([{listed}], hive_partitioning=false, union_by_name=true)"
        else:  # no data yet: an empty relation with the right columns
            cols = [f"CAST(NULL AS {_DUCK_TYPES[kind]}) AS {_quote_ident(name)}" for name, kind in meta.types.items()]
            cols += [
                "CAST(NULL AS TIMESTAMP) AS write_time",
                "CAST(NULL AS TIMESTAMP) AS api_invocation_time",
                "CAST(NULL AS BOOLEAN) AS is_deleted",
            ]
            source = f"SELECT {', '.join(cols)} WHERE false"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote_ident(database)}")
        con.execute(f"CREATE OR REPLACE VIEW {_quote_ident(database)}.{_quote_ident(table)} AS {source}")
        tables[f"{database}.{table}"] = doc["FeatureGroupName"]
    return tables
