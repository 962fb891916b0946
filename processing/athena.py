"""The Athena seam for processing scripts: the same Trino SQL runs on Athena in AWS and on
DuckDB over localcloud's offline store locally (when MLGW_HOME is set, as localcloud exports
it to jobs)."""
from __future__ import annotations

import os

import pandas as pd

DEFAULT_DATABASE = "sagemaker_featurestore"


def query(sql: str, *, database: str = DEFAULT_DATABASE, output_location: str | None = None,
          region: str | None = None) -> pd.DataFrame:
    if os.environ.get("MLGW_HOME"):
        return _query_local(sql)
    from pyathena import connect
    from pyathena.pandas.cursor import PandasCursor
    cursor = connect(s3_staging_dir=output_location, region_name=region, schema_name=database,
                     cursor_class=PandasCursor).cursor()
    return cursor.execute(sql).as_pandas()


def _query_local(sql: str) -> pd.DataFrame:
    import duckdb
    import sqlglot

    from localcloud.config import Config
    from localcloud.featurestore.offline import register_offline_tables

    statements = sqlglot.transpile(sql, read="trino", write="duckdb")
    con = duckdb.connect()
    try:
        tables = register_offline_tables(con, Config())
        # Athena SQL may qualify tables with the Glue database: mirror the views there too.
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{DEFAULT_DATABASE}"')
        for table in tables:
            con.execute(f'CREATE OR REPLACE VIEW "{DEFAULT_DATABASE}"."{table}" AS '
                        f'SELECT * FROM main."{table}"')
        for statement in statements[:-1]:
            con.execute(statement)
        return con.execute(statements[-1]).df()
    finally:
        con.close()


def table_name(feature_group_name: str) -> str:
    """The offline store's table name (Glue/Athena), from DescribeFeatureGroup."""
    import boto3
    described = boto3.client("sagemaker").describe_feature_group(FeatureGroupName=feature_group_name)
    return described["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
