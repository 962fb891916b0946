"""Image URIs of the project's images (processing/image.toml, training/image.toml), as a request
to localcloud names them: localcloud runs a job only in an image it defines, as SageMaker runs
only an image it can pull."""

from pipelines.images import PROCESSING, xgboost_local_uri

PROCESSING_URI = f"000000000000.dkr.ecr.us-east-1.amazonaws.com/{PROCESSING['repository']}:{PROCESSING['tag']}"
XGBOOST_URI = xgboost_local_uri()
