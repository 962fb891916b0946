"""`mlgw bench gateway` on a small run: it sets up the whole stack, measures every row, prints the
verdicts and cleans up after itself. Figures are not asserted (benchmarks, not timed tests)."""

from __future__ import annotations

import io
import re
import tempfile

import pytest

from benchmarks.gateway import bench_gateway

pytestmark = pytest.mark.slow


def test_bench_gateway_reports_every_measurement_and_its_verdicts(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the bench builds its stack
    out = io.StringIO()
    code = bench_gateway(out=out, requests=200, concurrency=(1, 2), policies=300, workers=1)
    text = out.getvalue()
    rows = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^  (\([abcde]\)) [^\n]*?\s(\d+)\s+[\d.]+ +[\d.]+ +[\d.]+ +[\d,]+$", text, re.M)
    }
    assert set(rows) == {"(a)", "(b)", "(c)", "(d)", "(e)"}, text
    assert "did not answer 200" not in text and "errors)" not in text, text
    assert "(d) the Lambda handler's own work" in text
    targets = re.findall(r"^  target (Lambda|direct): .*(MET|MISSED)$", text, re.M)
    assert len(targets) == 7, text
    last = text.rstrip().splitlines()[-1]
    assert re.match(
        r"gateway p99 [\d.]+ ms \(Lambda\) / [\d.]+ ms \(direct\) at 2 clients, "
        r"worst ratio [\d.]+x \(target 1.5x\): (MET|MISSED)$",
        last,
    ), last
    assert code == 0  # it ran; MET or MISSED is the result, not the exit status
    assert not list(tmp_path.iterdir()), "the bench left its temporary stack behind"
