"""What every `mlgw` invocation owes a user: `--version`, and no traceback when the reader of
its output goes away (`mlgw ... | head -1`)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from importlib import metadata

from mlgw.cli import main


def test_version():
    done = subprocess.run([sys.executable, "-m", "mlgw", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"mlgw {metadata.version('ml-gateway')}"


def test_a_closed_pipe_is_not_a_traceback(monkeypatch, tmp_path):
    """`mlgw ... | head -1`: the reader exits early; mlgw stops quietly with status 0."""
    read_end, write_end = os.pipe()
    os.close(read_end)   # the reader is gone before mlgw writes a byte: every write is EPIPE
    stdout = io.TextIOWrapper(io.FileIO(write_end, "w"), write_through=True)
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert main(["data", "generate", "--policies", "20", "--out", str(tmp_path)]) == 0
    finally:
        stdout.close()
