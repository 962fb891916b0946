"""`mlgw bench pipeline`: wall time per step, total, peak memory and test AUC at given sizes.

Runs localcloud in this process (so its step subprocesses are our children and their peak
memory is visible through getrusage) on a throwaway state directory.
"""
from __future__ import annotations

import io
import resource
import tempfile
import time
from pathlib import Path

from localcloud.config import Config
from localcloud.server import LocalCloudServer

TARGETS_S = {5_000: 30.0, 100_000: 180.0}
MEMORY_TARGET_MIB = 2048


def _peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # Linux reports KiB


def bench_pipeline(sizes: list[int], seed: int = 42) -> int:
    from pipelines import local_run
    failures = 0
    for policies in sizes:
        with tempfile.TemporaryDirectory(prefix="mlgw-bench-") as home:
            server = LocalCloudServer(Config(home=Path(home), port=0))
            server.start_background()
            try:
                log = io.StringIO()
                t0 = time.perf_counter()
                result = local_run.execute(server.cloud.config, policies=policies, seed=seed,
                                           claims=None, customers=None, parameters={}, out=log)
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
                print(f"  {step['StepName']:<22} {took:7.2f} s")
        auc = next((line.split()[2] for line in log.getvalue().splitlines()
                    if line.startswith("test AUC")), "n/a")
        target = TARGETS_S.get(policies)
        verdict = "" if target is None else (" (target < %.0f s: %s)" % (target, "met" if result.wall_seconds < target else "MISSED"))
        print(f"  pipeline wall time     {result.wall_seconds:7.2f} s{verdict}")
        print(f"  end to end (data, SDK) {total:7.2f} s")
        peak = _peak_rss_mib()
        print(f"  peak memory            {peak:7.0f} MiB (target < {MEMORY_TARGET_MIB} MiB: "
              f"{'met' if peak < MEMORY_TARGET_MIB else 'MISSED'})")
        print(f"  test AUC               {auc} (target >= 0.75)")
    return 1 if failures else 0
