"""Log a training + evaluation run to an MLflow tracking server, when one is configured.

Called by evaluate.py with `--mlflow-tracking-uri`: a SageMaker managed MLflow tracking server
ARN on AWS (the sagemaker-mlflow plugin in the processing image resolves and signs it), any
MLflow tracking URI elsewhere (locally `mlgw mlflow`'s store under the state directory). With
no URI nothing is imported and nothing is logged. MLflow is imported inside `log_run` only: it
is heavy, and the scripts must run without it when no tracking server is set.

The run is named after the pipeline execution's id (ExecutionVariables.PIPELINE_EXECUTION_ID,
given to Evaluate), so every execution — `mlgw run`, `mlgw pipeline start`, a drift retrain,
the studio's Start form — appears under its id, and tagged (`lineage_tags`) with the pipeline,
the execution ARN, the dataset and schema digests, the endpoint and the champion gate's
decision; the model package registered after Evaluate names the run in its
CustomerMetadataProperties (`MlflowRunId`) and its evaluation.json.

Logged: the training parameters, per-round train/validation AUC (step = boosting round), the
test metrics, and as artifacts the ROC and PR curves (as images for MLflow's UI and as points
for code), the confusion matrix and the feature importance (gain). https://mlflow.org/docs/latest/tracking.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments.html
"""

from __future__ import annotations

from typing import Any

EXPERIMENT = "ml-gateway"
CURVE_POINTS = 200


def _thin(values, limit: int = CURVE_POINTS) -> list[float]:
    """At most `limit` evenly spaced points of a curve (keeps the artifact small)."""
    values = list(values)
    if len(values) <= limit:
        return [float(v) for v in values]
    step = (len(values) - 1) / (limit - 1)
    return [float(values[round(i * step)]) for i in range(limit)]


def _curve(x, y, x_label: str, y_label: str, title: str, diagonal: bool = False):
    """A curve as a matplotlib Figure (object API: no pyplot state, no display needed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(_thin(x, 1000), _thin(y, 1000), color="#d9534f")
    if diagonal:
        ax.plot([0, 1], [0, 1], color="#8c96a8", linestyle="--", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=x_label, ylabel=y_label, title=title)
    fig.tight_layout()
    return fig


# Tag names: MLflow's own `mlflow.*` tags are reserved for MLflow; ours under `sagemaker.`.
TAG_PREFIX = "sagemaker."


def lineage_tags(report: dict[str, Any]) -> dict[str, str]:
    """Tags for a run from evaluation.json's `lineage` and `champion_gate`: pipeline name,
    execution id and ARN, dataset / test-set / schema digests, endpoint and gate decision.
    Absent values are left out."""
    lineage = report.get("lineage") or {}
    gate = report.get("champion_gate") or {}
    champion = report.get("champion") or {}
    tags = {
        "pipeline_name": lineage.get("pipeline_name"),
        "pipeline_execution_id": lineage.get("execution_id"),
        "pipeline_execution_arn": lineage.get("execution_arn"),
        "dataset_digest": lineage.get("dataset_digest"),
        "test_set_digest": ((lineage.get("splits") or {}).get("test") or {}).get("digest"),
        "schema_digest": lineage.get("schema_digest"),
        "endpoint_name": champion.get("endpoint"),
        "champion_gate": gate.get("reason"),
    }
    return {f"{TAG_PREFIX}{name}": str(value) for name, value in tags.items() if value not in (None, "")}


def log_run(
    tracking_uri: str,
    history: dict[str, Any] | None,
    report: dict[str, Any],
    y,
    scores,
    experiment: str = EXPERIMENT,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, str]:
    """Log one run named `run_name` (MLflow picks a name when None) with `tags`; return
    {"tracking_uri", "experiment_id", "run_id"} for evaluation.json."""
    import mlflow
    from sklearn.metrics import precision_recall_curve, roc_curve

    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    metrics = report["binary_classification_metrics"]
    with mlflow.start_run(run_name=run_name, tags=tags or None) as run:
        history = history or {}
        mlflow.log_params({k: v for k, v in (history.get("params") or {}).items() if v is not None})
        for split_name, by_metric in (history.get("rounds") or {}).items():
            for metric, values in by_metric.items():
                for step, value in enumerate(values):
                    mlflow.log_metric(f"{split_name}_{metric}", float(value), step=step)
        mlflow.log_metrics(
            {
                f"test_{name}": float(m["value"])
                for name, m in metrics.items()
                if isinstance(m, dict) and isinstance(m.get("value"), (int, float))
            }
        )
        fpr, tpr, _ = roc_curve(y, scores)
        precision, recall, _ = precision_recall_curve(y, scores)
        mlflow.log_dict(
            {"false_positive_rate": _thin(fpr), "true_positive_rate": _thin(tpr), "auc": metrics["auc"]["value"]},
            "roc_curve.json",
        )
        mlflow.log_dict(
            {"recall": _thin(recall), "precision": _thin(precision), "pr_auc": metrics["pr_auc"]["value"]},
            "pr_curve.json",
        )
        mlflow.log_figure(
            _curve(
                fpr,
                tpr,
                "false positive rate",
                "true positive rate",
                f"ROC curve (AUC {metrics['auc']['value']:.4f})",
                diagonal=True,
            ),
            "roc_curve.png",
        )
        mlflow.log_figure(
            _curve(recall, precision, "recall", "precision", f"PR curve (PR-AUC {metrics['pr_auc']['value']:.4f})"),
            "pr_curve.png",
        )
        mlflow.log_dict(metrics["confusion_matrix"], "confusion_matrix.json")
        mlflow.log_dict(history.get("feature_importance") or {}, "feature_importance.json")
        return {"tracking_uri": tracking_uri, "experiment_id": str(experiment_id), "run_id": run.info.run_id}
