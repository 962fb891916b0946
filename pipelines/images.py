"""The container images the pipelines name, each read from its one definition (an image.toml;
localcloud/sagemaker/images.py documents the fields): the processing image (processing/image.toml)
and SageMaker's XGBoost image that trains and serves (training/image.toml). Cheap to import: no SDK."""

from __future__ import annotations

import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROCESSING = tomllib.loads((PROJECT_ROOT / "processing" / "image.toml").read_text())
XGBOOST = tomllib.loads((PROJECT_ROOT / "training" / "image.toml").read_text())
# The registry of SageMaker's XGBoost image in us-east-1 (sagemaker.image_uris.retrieve gives
# every region's; this one serves where the SDK is not worth importing: local models).
XGBOOST_REGISTRY_US_EAST_1 = "683313688378.dkr.ecr.us-east-1.amazonaws.com"


def xgboost_local_uri() -> str:
    """The XGBoost image's URI as a local model names it (us-east-1's registry)."""
    return f"{XGBOOST_REGISTRY_US_EAST_1}/{XGBOOST['repository']}:{XGBOOST['tag']}"
