"""`mlgw bench pipeline`: wall time per step, total, peak memory and test AUC at given sizes.

Runs localcloud in this process (so its step subprocesses are our children and their peak
memory is visible through getrusage) on a throwaway state directory.
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localcloud.config import Config
from localcloud.server import LocalCloudServer

# DESIGN.md: the pipeline's wall time (generate → deployed endpoint) per size; issue 15: `mlgw
# run` for 5,000 policies end to end (data, definition build, upsert, pipeline) under 20 s.
TARGETS_S = {5_000: 30.0, 100_000: 180.0}
END_TO_END_TARGETS_S = {5_000: 20.0}
MEMORY_TARGET_MIB = 2048


def _peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # Linux reports KiB


def inline_peer(policies: int, seed: int) -> tuple[float, float]:
    """The peer: the same data work and the same XGBoost training in one process, with no
    pipeline, store, or job boundaries. (seconds, test AUC) — what orchestration costs on top."""
    import numpy as np
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from processing import features, synthetic

    t0 = time.perf_counter()
    claims, customers = synthetic.generate(policies, seed=seed)
    frame = features.encode_claims(claims).merge(features.encode_customers(customers), on="policy_id")
    x, y = frame[features.MODEL_FEATURES].to_numpy(np.float32), frame["fraud"].to_numpy()
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.15, stratify=y, random_state=42)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x_rest, y_rest, test_size=0.15 / 0.85, stratify=y_rest, random_state=42
    )
    train, valid = xgb.DMatrix(x_train, label=y_train), xgb.DMatrix(x_valid, label=y_valid)
    booster = xgb.train(
        {
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "max_depth": 5,
            "eta": 0.2,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "scale_pos_weight": float((y_train == 0).sum() / max(1, (y_train == 1).sum())),
        },
        train,
        num_boost_round=200,
        evals=[(valid, "validation")],
        early_stopping_rounds=20,
        verbose_eval=False,
    )
    auc = roc_auc_score(y_test, booster.predict(xgb.DMatrix(x_test), iteration_range=(0, booster.best_iteration + 1)))
    return time.perf_counter() - t0, float(auc)


def command_end_to_end(policies: int, cache: Path) -> tuple[float, str | None]:
    """`mlgw run --policies N` as a user runs it: a new Python process that starts a new
    localcloud daemon on a fresh state directory, with the definition cache at `cache`.
    (seconds, None) or (seconds, the failure's last output lines); the daemon is stopped."""
    from benchmarks.gateway import _free_port

    with tempfile.TemporaryDirectory(prefix="mlgw-bench-run-") as home:
        env = {
            **os.environ,
            "MLGW_HOME": str(Path(home) / ".mlgw"),
            "MLGW_DEFINITION_CACHE": str(cache),
            "MLGW_PORT": str(_free_port()),
            "MLGW_GATEWAY_PORT": str(_free_port()),
            "MLGW_STUDIO_PORT": str(_free_port()),
            "MLGW_MLFLOW_PORT": str(_free_port()),
        }
        mlgw = [sys.executable, "-m", "mlgw"]
        t0 = time.perf_counter()
        run = subprocess.run(
            [*mlgw, "run", "--policies", str(policies)], env=env, capture_output=True, text=True, check=False
        )
        took = time.perf_counter() - t0
        subprocess.run([*mlgw, "stop"], env=env, capture_output=True, check=False)
    failure = None if run.returncode == 0 else "\n".join((run.stdout + run.stderr).splitlines()[-15:])
    return took, failure


def _verdict(seconds: float, target: float | None) -> str:
    if target is None:
        return "(no target at this size)"
    return f"(target < {target:.0f} s: {'MET' if seconds < target else 'MISSED'})"


def bench_pipeline(sizes: list[int], seed: int = 42) -> int:
    """Run `mlgw run`'s work at each size and print its figures with targets and the peer;
    1 only if an execution failed (a MISSED target is a result: 0)."""
    from mlgw import local_run
    from mlgw.progress import Phases

    failures = 0
    for policies in sizes:
        with tempfile.TemporaryDirectory(prefix="mlgw-bench-") as home:
            server = LocalCloudServer(Config(home=Path(home), port=0))
            server.start_background()
            try:
                log = io.StringIO()
                phases = Phases(log)
                t0 = time.perf_counter()
                result = local_run.execute(
                    server.cloud.config,
                    policies=policies,
                    seed=seed,
                    claims=None,
                    customers=None,
                    parameters={},
                    out=log,
                    phases=phases,
                )
                total = time.perf_counter() - t0
            finally:
                server.stop()
        print(f"\n== pipeline, {policies:,} policies ==")
        if not result.succeeded:
            print(log.getvalue())
            print(f"FAILED: {result.failure_reason}")
            failures += 1
            continue
        for step in result.steps:
            if step.get("StartTime") and step.get("EndTime"):
                took = (step["EndTime"] - step["StartTime"]).total_seconds()
                print(f"  {step['StepName']:<26} {took:7.2f} s")
        build = sum(phases.seconds.values())
        cached = any("cached" in label for label in phases.seconds)
        print(
            f"  in this process            {total:7.2f} s (definition "
            f"{'from the cache' if cached else 'built by the SDK'})"
        )
        print(f"    data (generate, upload)  {total - build - result.wall_seconds:7.2f} s")
        print(
            f"    definition, upsert       {build:7.2f} s: "
            + ", ".join(
                f"{label.split(' (')[0].split('…')[0]} {seconds:.1f} s" for label, seconds in phases.seconds.items()
            )
        )
        print(
            f"    pipeline wall time       {result.wall_seconds:7.2f} s "
            f"{_verdict(result.wall_seconds, TARGETS_S.get(policies))}"
        )
        peak = _peak_rss_mib()
        print(
            f"  peak memory                {peak:7.0f} MiB (target < {MEMORY_TARGET_MIB} MiB: "
            f"{'MET' if peak < MEMORY_TARGET_MIB else 'MISSED'})"
        )
        auc = next((line.split()[2] for line in log.getvalue().splitlines() if line.startswith("test AUC")), "n/a")
        print(f"  test AUC                   {auc} (target >= 0.75)")
        peer_seconds, peer_auc = inline_peer(policies, seed)
        print(
            f"  peer: same work inline     {peer_seconds:7.2f} s, AUC {peer_auc:.4f} "
            f"(end to end takes {total / peer_seconds:.1f}x, the pipeline "
            f"{result.wall_seconds / peer_seconds:.1f}x, for the SDK's definition, durable "
            "storage, the Feature Store, SQL and job isolation)"
        )
        if policies in END_TO_END_TARGETS_S:
            failures += _bench_command(policies)
    return 1 if failures else 0


def _bench_command(policies: int) -> int:
    """`mlgw run` as a user types it, on fresh state directories: first with an empty
    definition cache (a first run after cloning or changing pipeline code: the SDK builds),
    then with the cache that run filled (every later run). The target is judged on the second."""
    target = END_TO_END_TARGETS_S[policies]
    with tempfile.TemporaryDirectory(prefix="mlgw-bench-cache-") as cache:
        for label, judged in (("first run (empty definition cache)", False), ("later run (cached definition)", True)):
            seconds, failure = command_end_to_end(policies, Path(cache))
            if failure:
                print(f"  `mlgw run` {label} FAILED:\n{failure}")
                return 1
            verdict = _verdict(seconds, target) if judged else ""
            print(f"  `mlgw run` end to end, {label:<36} {seconds:6.2f} s {verdict}".rstrip())
    print("  (each a new process and localcloud daemon on a fresh state directory)")
    return 0
