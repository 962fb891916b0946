"""What every `mlgw` invocation owes a user: `--version`, and no traceback when the reader of
its output goes away (`mlgw ... | head -1`)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from importlib import metadata

import pytest

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


@pytest.mark.parametrize("rate", ["inf", "nan", "-1", "0"])
def test_a_key_rate_must_be_a_finite_positive_number(tmp_path, capsys, monkeypatch, rate):
    """API Gateway usage plans take a positive rate; inf/nan are a clear error, never a
    traceback (`mlgw gateway keys create --rate inf`)."""
    monkeypatch.setenv("MLGW_HOME", str(tmp_path))
    code = main(["gateway", "keys", "create", "--name", "n", "--rate", rate])
    err = capsys.readouterr().err
    assert code != 0 and "rate" in err and "Traceback" not in err, err


def test_schema_infer_to_an_unwritable_path_is_a_clear_error(tmp_path, capsys):
    from processing import synthetic
    synthetic.write(tmp_path, policies=50, seed=1)
    code = main(["schema", "infer", "--claims", str(tmp_path / "claims.csv"), "--customers",
                 str(tmp_path / "customers.csv"), "--out", str(tmp_path / "missing" / "x.json")])
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "cannot write" in err, err


def test_a_failure_caused_by_a_parameter_says_a_retry_cannot_help(localcloud, client, capsys):
    """A retry keeps the execution's parameters ("Retry a pipeline",
    https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-retry.html), so a run that failed
    on a parameter's value says to start a new run with another value, not to retry."""
    import json
    import uuid

    from mlgw import local_run
    from mlgw.progress import follow
    sm = client("sagemaker")
    definition = {"Version": "2020-12-01",
                  "Parameters": [{"Name": "NewVariantWeight", "Type": "Float", "DefaultValue": 0.1}],
                  "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}]}
    sm.create_pipeline(PipelineName="p", RoleArn="arn:aws:iam::000000000000:role/r",
                       PipelineDefinition=json.dumps(definition), ClientRequestToken=uuid.uuid4().hex)
    arn = sm.start_pipeline_execution(
        PipelineName="p", ClientRequestToken=uuid.uuid4().hex,
        PipelineParameters=[{"Name": "NewVariantWeight", "Value": "lots"}])["PipelineExecutionArn"]
    result = follow(sm, arn, out=io.StringIO())
    local_run.print_summary(localcloud.cloud.config, sm, client("s3"), result)
    out = capsys.readouterr().out
    assert "retry cannot help" in out and "NewVariantWeight='lots'" in out
    assert "--param NewVariantWeight=" in out and "mlgw pipeline retry" not in out
    # the summary ends by saying what the run left running (here: localcloud in this process)
    assert out.rstrip().splitlines()[-1] == "nothing left running"
