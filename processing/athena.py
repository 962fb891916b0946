"""The Athena seam for processing scripts: Trino SQL through PyAthena (PandasCursor), the same
code on AWS and locally, where the job's boto3 is pointed at localcloud's Athena API
(AWS_ENDPOINT_URL) and results are read from the S3 output location as on AWS."""

from __future__ import annotations

import pandas as pd

DEFAULT_DATABASE = "sagemaker_featurestore"
# How often PyAthena asks GetQueryExecution whether a query is done. Its default (1 s; we had
# 0.5 s) rounds every query up to a whole interval: a count over the offline store takes
# 0.1-0.3 s locally and about a second on AWS, so a 0.5 s interval added up to ~0.4 s a query.
# GetQueryExecution is a cheap control-plane read, so a few more calls a query cost nothing.
POLL_SECONDS = 0.2


def connect(
    *,
    output_location: str,
    region: str | None = None,
    database: str = DEFAULT_DATABASE,
    poll_interval: float = POLL_SECONDS,
):
    """A PyAthena connection (PandasCursor) for several queries: each new one builds its own
    boto3 session and Athena and S3 clients (~0.15 s), which a wait that queries every half
    second should pay once. `poll_interval`: seconds between GetQueryExecution calls while a
    query runs."""
    from pyathena import connect as pyathena_connect
    from pyathena.pandas.cursor import PandasCursor

    return pyathena_connect(
        s3_staging_dir=output_location,
        region_name=region,
        schema_name=database,
        cursor_class=PandasCursor,
        poll_interval=poll_interval,
    )


def query(
    sql: str,
    *,
    database: str = DEFAULT_DATABASE,
    output_location: str,
    region: str | None = None,
    poll_interval: float = POLL_SECONDS,
    connection=None,
) -> pd.DataFrame:
    """Run one statement; its rows as a DataFrame (Athena's types, as PandasCursor converts
    them), on `connection` (from connect()) or a new one. Raises
    pyathena.error.OperationalError with Athena's StateChangeReason if the query fails (syntax
    error, missing table...)."""
    if connection is None:
        connection = connect(
            output_location=output_location, region=region, database=database, poll_interval=poll_interval
        )
    cursor = connection.cursor()
    try:
        return cursor.execute(sql).as_pandas()
    finally:
        cursor.close()


def table_name(feature_group_name: str) -> str:
    """The offline store's table name (Glue/Athena), from DescribeFeatureGroup."""
    import boto3

    described = boto3.client("sagemaker").describe_feature_group(FeatureGroupName=feature_group_name)
    return described["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
