"""The offline store as Athena sees it, in DuckDB: one view per feature group named like its
Glue table (DataCatalogConfig.TableName) in a schema named like its Glue database
(DataCatalogConfig.Database), over the group's Parquet files."""
from __future__ import annotations

from typing import Any

from localcloud.featurestore.models import KIND, GroupMeta

_DUCK_TYPES = {"Integral": "BIGINT", "Fractional": "DOUBLE", "String": "VARCHAR"}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def register_offline_tables(con: Any, cloud_or_config: Any, state: Any = None) -> dict[str, str]:
    """Create a view per feature group with an offline store, `"<database>"."<table>"`; returns
    {"database.table": group name}. `cloud_or_config`: a LocalCloud, or a localcloud Config (its
    state db is opened)."""
    config = getattr(cloud_or_config, "config", cloud_or_config)
    if state is None:
        state = getattr(cloud_or_config, "state", None)
    if state is None:
        from localcloud.state import StateStore
        state = StateStore(config.state_db)
    tables: dict[str, str] = {}
    for doc in state.list(KIND):
        offline = doc.get("OfflineStoreConfig")
        if not offline:
            continue
        meta = GroupMeta.from_doc(doc, config.s3_root)
        table = offline["DataCatalogConfig"]["TableName"]
        database = offline["DataCatalogConfig"]["Database"]
        files = list(meta.offline_dir.rglob("*.parquet")) if meta.offline_dir.exists() else []
        if files:
            source = (f"SELECT * FROM read_parquet({_quote_str(str(meta.offline_dir) + '/**/*.parquet')}, "
                      "hive_partitioning=false, union_by_name=true)")
        else:  # no data yet: an empty relation with the right columns
            cols = [f"CAST(NULL AS {_DUCK_TYPES[kind]}) AS {_quote_ident(name)}"
                    for name, kind in meta.types.items()]
            cols += ["CAST(NULL AS TIMESTAMP) AS write_time",
                     "CAST(NULL AS TIMESTAMP) AS api_invocation_time",
                     "CAST(NULL AS BOOLEAN) AS is_deleted"]
            source = f"SELECT {', '.join(cols)} WHERE false"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote_ident(database)}")
        con.execute(f"CREATE OR REPLACE VIEW {_quote_ident(database)}.{_quote_ident(table)} AS {source}")
        tables[f"{database}.{table}"] = doc["FeatureGroupName"]
    return tables
