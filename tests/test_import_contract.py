"""The import contract (.importlinter, DESIGN.md "Layout") holds, and breaks when a forbidden
import is added: job code importing localcloud, or localcloud importing the app."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("benchmarks", "mlgw", "localcloud", "pipelines", "processing", "training", "inference", "monitoring")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_checkout_keeps_the_contract():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    "module, line, expected",
    [
        ("processing/ingest.py", "import localcloud.config", "processing.ingest -> localcloud.config"),
        ("inference/serving.py", "from mlgw import args", "inference.serving -> mlgw.args"),
        ("localcloud/config.py", "import mlgw.progress", "localcloud.config -> mlgw.progress"),
        ("localcloud/state.py", "import pipelines.ml_gateway", "localcloud.state -> pipelines.ml_gateway"),
    ],
)
def test_a_forbidden_import_breaks_it(tmp_path, module, line, expected):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}\n")
    done = _lint(tmp_path)
    assert done.returncode != 0, done.stdout
    assert expected in done.stdout, done.stdout
