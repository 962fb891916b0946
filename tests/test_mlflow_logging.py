"""Experiments in MLflow: with a tracking store configured, Evaluate logs the run — training
parameters, per-round train/validation AUC, test metrics, ROC and PR curves, the confusion
matrix and feature importance — and evaluation.json (the report the model package carries)
names the run; with none configured nothing is imported, logged or failed.

MLflow tracking API: https://mlflow.org/docs/latest/api_reference/python_api/mlflow.client.html
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.test_ml import _split_to_csv
from training import train

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def packaged(tmp_path):
    dirs = _split_to_csv(tmp_path, 1500, seed=5)
    model_dir = tmp_path / "model"
    assert (
        train.main(
            [
                "--train",
                str(dirs["train"]),
                "--validation",
                str(dirs["validation"]),
                "--model-dir",
                str(model_dir),
                "--num_round",
                "15",
                "--nthread",
                "2",
            ]
        )
        == 0
    )
    out = tmp_path / "packaged"
    out.mkdir()
    with tarfile.open(out / "model.tar.gz", "w:gz") as tar:  # as SageMaker packages SM_MODEL_DIR
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    return out, dirs["test"], json.loads((model_dir / "training_history.json").read_text())


def test_evaluate_logs_the_run_to_the_configured_store(tmp_path, packaged):
    from mlflow.tracking import MlflowClient

    from mlgw import mlflow_store
    from processing import evaluate

    model, test_dir, history = packaged
    uri = mlflow_store.create(tmp_path / "home")
    out = tmp_path / "evaluation"
    execution_arn = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/mlgatewaypipeline/execution/k3x9abc01def"
    assert (
        evaluate.main(
            [
                "--model-dir",
                str(model),
                "--test-dir",
                str(test_dir),
                "--train-dir",
                str(test_dir.parent / "train"),
                "--output-dir",
                str(out),
                f"--mlflow-tracking-uri={uri}",
                # what the pipeline passes (ExecutionVariables), whoever started the execution
                "--pipeline-name",
                "MLGatewayPipeline",
                "--pipeline-execution-id",
                "k3x9abc01def",
                "--pipeline-execution-arn",
                execution_arn,
            ]
        )
        == 0
    )
    report = json.loads((out / "evaluation.json").read_text())
    assert set(report["mlflow"]) == {"tracking_uri", "experiment_id", "run_id"}, report["mlflow"]

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(report["mlflow"]["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "ml-gateway"
    # the run is found under its execution's id, and says which pipeline, execution and data
    assert run.info.run_name == "k3x9abc01def"
    tags = run.data.tags
    assert tags["sagemaker.pipeline_name"] == "MLGatewayPipeline"
    assert tags["sagemaker.pipeline_execution_arn"] == execution_arn
    assert tags["sagemaker.dataset_digest"] == report["lineage"]["dataset_digest"]
    assert tags["sagemaker.test_set_digest"] == report["lineage"]["splits"]["test"]["digest"]
    # the package registered after Evaluate names the run (RegisterModel copies this property)
    assert report["lineage_properties"]["MlflowRunId"] == run.info.run_id
    assert run.data.params["max_depth"] == "5" and run.data.params["num_round"] == "15"
    rounds = len(history["rounds"]["validation"]["auc"])
    assert rounds >= 1
    for name in ("train_auc", "validation_auc"):
        series = client.get_metric_history(run.info.run_id, name)
        assert sorted(m.step for m in series) == list(range(rounds)), name
    auc = report["binary_classification_metrics"]["auc"]["value"]
    assert run.data.metrics["test_auc"] == pytest.approx(auc)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "roc_curve.json",
        "pr_curve.json",
        "confusion_matrix.json",
        "feature_importance.json",
        "roc_curve.png",
        "pr_curve.png",
    } <= artifacts
    for image in ("roc_curve.png", "pr_curve.png"):  # images MLflow's UI shows inline
        png = Path(client.download_artifacts(run.info.run_id, image, str(tmp_path))).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000, image
    roc = json.loads(Path(client.download_artifacts(run.info.run_id, "roc_curve.json", str(tmp_path))).read_text())
    assert roc["false_positive_rate"][0] == 0.0 and roc["true_positive_rate"][-1] == 1.0
    importance = json.loads(
        Path(client.download_artifacts(run.info.run_id, "feature_importance.json", str(tmp_path))).read_text()
    )
    assert importance and all(v > 0 for v in importance.values())


def test_without_a_tracking_store_nothing_is_imported_or_logged(tmp_path, packaged):
    model, test_dir, _ = packaged
    out = tmp_path / "evaluation"
    code = (
        "import sys; from processing import evaluate; "
        f"rc = evaluate.main(['--model-dir', {str(model)!r}, '--test-dir', {str(test_dir)!r}, "
        f"'--output-dir', {str(out)!r}, '--mlflow-tracking-uri=']); "
        "print(rc, 'mlflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["0", "False"]
    assert "mlflow" not in json.loads((out / "evaluation.json").read_text())
    assert not (tmp_path / "mlruns").exists() and not (ROOT / "mlruns").exists()
