"""The Athena seam for processing scripts: Trino SQL through PyAthena (PandasCursor), the same
code on AWS and locally, where the job's boto3 is pointed at localcloud's Athena API
(AWS_ENDPOINT_URL) and results are read from the S3 output location as on AWS."""
from __future__ import annotations

import pandas as pd

DEFAULT_DATABASE = "sagemaker_featurestore"


def query(sql: str, *, database: str = DEFAULT_DATABASE, output_location: str,
          region: str | None = None, poll_interval: float = 0.5) -> pd.DataFrame:
    """Run one statement; its rows as a DataFrame (Athena's types, as PandasCursor converts
    them). Raises pyathena.error.OperationalError with Athena's StateChangeReason if the query
    fails (syntax error, missing table...)."""
    from pyathena import connect
    from pyathena.pandas.cursor import PandasCursor
    cursor = connect(s3_staging_dir=output_location, region_name=region, schema_name=database,
                     cursor_class=PandasCursor, poll_interval=poll_interval).cursor()
    try:
        return cursor.execute(sql).as_pandas()
    finally:
        cursor.close()


def table_name(feature_group_name: str) -> str:
    """The offline store's table name (Glue/Athena), from DescribeFeatureGroup."""
    import boto3
    described = boto3.client("sagemaker").describe_feature_group(FeatureGroupName=feature_group_name)
    return described["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
