"""Where the pipeline's input CSVs live: one location for the pipeline's defaults, `mlgw run`,
the drift → retrain rule (locally and in infra/ml-gateway.yaml) and the deploy guides.

`s3://<default bucket>/ml-gateway/landing/claims/` and `.../landing/customers/`: every CSV under
each prefix is one input (Ingest reads them all). The default bucket is the pipeline's:
the stack's artifact bucket on AWS (`--default-bucket`), `sagemaker-<region>-<account>` locally.
A drift-triggered run reads the same prefixes: they hold the current dataset.

A run given new data reads it from elsewhere (`mlgw run` stages it under
`.../ml-gateway/staging/<digest>/<table>/`; on AWS any prefix passed as ClaimsInputUri /
CustomersInputUri), and its Ingest step copies it into the landing prefixes, replacing what
was there, only once it accepted every file (processing/ingest.py): a file that fails
validation never becomes the current dataset. Batches added later (replayed traffic, labelled
ground truth) go straight to the landing prefixes, beside the data they extend.

No SageMaker SDK import here: the CLI reads this without building the pipeline.
"""

from __future__ import annotations

BASE_PREFIX = "ml-gateway"
LANDING = "landing"
STAGING = "staging"
TABLES = ("claims", "customers")
# Pipeline parameter of each table's input.
INPUT_PARAMETERS = {"claims": "ClaimsInputUri", "customers": "CustomersInputUri"}


def landing_uri(bucket: str, table: str, base_prefix: str = BASE_PREFIX) -> str:
    """The S3 prefix (trailing slash) holding `table`'s CSVs."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    return f"s3://{bucket}/{base_prefix}/{LANDING}/{table}/"


def capture_uri(bucket: str, base_prefix: str = BASE_PREFIX) -> str:
    """Where Deploy has endpoints capture requests and responses (DataCaptureConfig), and where
    DriftCheck reads them by default."""
    return f"s3://{bucket}/{base_prefix}/data-capture"


def monitoring_baseline_uri(bucket: str, base_prefix: str = BASE_PREFIX) -> str:
    """Where Deploy publishes the monitored model's baseline (statistics.json,
    constraints.json) for the monitoring pages."""
    return f"s3://{bucket}/{base_prefix}/baseline"


def input_parameters(bucket: str, base_prefix: str = BASE_PREFIX) -> dict[str, str]:
    """{ClaimsInputUri: ..., CustomersInputUri: ...} at the landing location."""
    return {INPUT_PARAMETERS[t]: landing_uri(bucket, t, base_prefix) for t in TABLES}
