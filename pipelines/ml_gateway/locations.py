"""Where the pipeline's input CSVs live: one location for the pipeline's defaults, `mlgw run`,
the drift → retrain rule (locally and in infra/ml-gateway.yaml) and the deploy guides.

`s3://<default bucket>/ml-gateway/landing/claims/` and `.../landing/customers/`: every CSV under
each prefix is one input (Ingest reads them all). The default bucket is the pipeline's:
the stack's artifact bucket on AWS (`--default-bucket`), `sagemaker-<region>-<account>` locally.
A drift-triggered run reads the same prefixes, so new data is uploaded there.

No SageMaker SDK import here: the CLI reads this without building the pipeline.
"""
from __future__ import annotations

BASE_PREFIX = "ml-gateway"
LANDING = "landing"
TABLES = ("claims", "customers")
# Pipeline parameter of each table's input.
INPUT_PARAMETERS = {"claims": "ClaimsInputUri", "customers": "CustomersInputUri"}


def landing_uri(bucket: str, table: str, base_prefix: str = BASE_PREFIX) -> str:
    """The S3 prefix (trailing slash) holding `table`'s CSVs."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    return f"s3://{bucket}/{base_prefix}/{LANDING}/{table}/"


def input_parameters(bucket: str, base_prefix: str = BASE_PREFIX) -> dict[str, str]:
    """{ClaimsInputUri: ..., CustomersInputUri: ...} at the landing location."""
    return {INPUT_PARAMETERS[t]: landing_uri(bucket, t, base_prefix) for t in TABLES}
