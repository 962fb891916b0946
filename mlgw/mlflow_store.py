"""The local MLflow tracking store: `<MLGW_HOME>/mlflow/` (SQLite backend, artifacts beside it).

`mlgw mlflow` creates it and serves MLflow's own UI over it; once it exists, `mlgw run` passes
its URI as the pipeline's MlflowTrackingUri so Evaluate logs each run there (on AWS the same
parameter takes a SageMaker managed MLflow tracking server ARN).
"""

from __future__ import annotations

from pathlib import Path

EXPERIMENT = "ml-gateway"  # processing/mlflow_log.py logs to this experiment


def store_dir(home: Path) -> Path:
    return home / "mlflow"


def tracking_uri(home: Path) -> str:
    return f"sqlite:///{store_dir(home).resolve() / 'mlflow.db'}"


def configured(home: Path) -> str | None:
    """The local tracking URI if `mlgw mlflow` has created the store, else None."""
    return tracking_uri(home) if (store_dir(home) / "mlflow.db").is_file() else None


def create(home: Path) -> str:
    """Create the store and the experiment (artifacts under the store, not a job's folder)."""
    from mlflow.tracking import MlflowClient

    store_dir(home).mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(home)
    client = MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=(store_dir(home) / "artifacts").resolve().as_uri())
    return uri
