"""Bad numbers and files on the command line are one `mlgw: error:` line (exit 2), never a
traceback (issue 24, class 7): every numeric flag has a bound with a reason, sizes are checked
against memory before anything is allocated, and a schema file too deeply nested for the JSON
parser is named."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlgw import args as cli_args
from mlgw.cli import build_parser, main
from pipelines.ml_gateway.parameters import ParameterError, validate

ROOT = Path(__file__).resolve().parents[1]


def _mlgw(argv: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLGW_HOME": str(home), "MLGW_PORT": "9"}
    return subprocess.run(
        [sys.executable, "-m", "mlgw", *argv], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("mlgw: error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_a_window_past_model_monitors_24_hours_is_one_line(tmp_path):
    """Was an OverflowError (datetime arithmetic on 99999999999 minutes)."""
    err = _one_line(_mlgw(["monitor", "run", "--window-minutes", "99999999999"], tmp_path / "home"))
    assert "--window-minutes: must be 1 to 1,440" in err and "DriftCheckWindowMinutes" in err, err


def test_more_policies_than_memory_holds_is_one_line_before_anything_starts(tmp_path):
    """Was a MemoryError allocating 728 TiB after localcloud had started."""
    err = _one_line(_mlgw(["run", "--policies", "99999999999999"], tmp_path / "home"))
    assert "--policies: 99,999,999,999,999 policies need about" in err and "available now" in err, err
    assert not (tmp_path / "home").exists()


def test_a_deeply_nested_schema_file_is_one_line_naming_it(tmp_path):
    """Was a RecursionError from the JSON decoder; now checked before localcloud starts."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    err = _one_line(_mlgw(["run", "--schema", str(deep)], tmp_path / "home"))
    assert f"{deep}: not a schema: JSON nested too deeply" in err, err
    assert not (tmp_path / "home").exists()
    err = _one_line(_mlgw(["schema", "models", "--schema", str(deep)], tmp_path / "home"))
    assert str(deep) in err, err


# -- every numeric flag has a bound -------------------------------------------------------------


def _typed_options():
    """(command path, option) for every option of the CLI that converts its value."""

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, (*path, name))
            elif action.option_strings and action.type is not None and action.help != argparse.SUPPRESS:
                yield path, action.option_strings[0]

    return list(walk(build_parser(), ()))


def test_every_numeric_flag_refuses_a_huge_value_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGW_HOME", str(tmp_path / "home"))
    options = _typed_options()
    assert len(options) >= 20, options  # ports, seeds, sizes, windows, limits, plans
    for path, option in options:
        for value in ("99999999999999999999", "-1", "nan"):
            with pytest.raises(SystemExit) as exit_:
                build_parser().parse_args([*path, option, value])
            err = capsys.readouterr().err
            assert exit_.value.code == 2, (path, option, value)
            assert err.startswith(f"mlgw: error: {' '.join(path)}: argument {option}") and err.count("\n") == 1, err
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    "argv, highest, reason",
    [
        (["monitor", "run", "--window-minutes"], 1440, "Model Monitor's window is at most 24 hours"),
        (["monitor", "schedule", "create", "--window-minutes"], 1440, "DriftCheckWindowMinutes"),
        (["events", "list", "--limit"], 10_000, "read with its deliveries"),
        (["traffic", "--concurrency"], 64, "a thread and a connection each"),
        (["gateway", "start", "--workers"], 4 * (os.cpu_count() or 1), "a core"),
        (["gateway", "keys", "create", "--name", "n", "--burst"], 2**31 - 1, "32-bit Integer"),
        (["gateway", "keys", "create", "--name", "n", "--quota"], 2**31 - 1, "32-bit Integer"),
        (["gateway", "keys", "create", "--name", "n", "--rate"], 2**31 - 1, "32-bit Integer"),
        (["run", "--seed"], 2**32 - 1, "a seed is 0 to"),
        (["localcloud", "status", "--port"], 65535, "a port is 1-65535"),
    ],
)
def test_each_bound_takes_its_highest_value_and_refuses_the_next(argv, highest, reason, capsys):
    parser = build_parser()
    parsed = vars(parser.parse_args([*argv, str(highest)]))
    assert highest in parsed.values(), parsed
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, str(highest + 1)])
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1, err


def test_the_window_flag_and_the_pipeline_parameter_share_one_bound():
    """DriftCheckWindowMinutes: 1 minute to 24 hours (ScheduleConfig's DataAnalysisStartTime
    "must not precede the end time ... by more than 24 hours",
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ScheduleConfig.html)."""
    validate({"DriftCheckWindowMinutes": "1440"})
    with pytest.raises(ParameterError, match="DriftCheckWindowMinutes='1441' must be between 1 and 1440"):
        validate({"DriftCheckWindowMinutes": "1441"})
    assert build_parser().parse_args(["monitor", "run", "--window-minutes", "1440"]).window_minutes == 1440


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--policies"],
        ["data", "generate", "--policies"],
        ["demo", "--policies"],
        ["demo", "--traffic"],
        ["segments", "deploy", "--policies"],
        ["traffic", "--policies"],
        ["bench", "pipeline", "--policies"],
        ["bench", "monitor", "--records"],
    ],
)
def test_sizes_are_checked_against_the_memory_available(argv, monkeypatch, capsys):
    """The design budget: a million policies in 4 GiB; a size past what is available now is
    refused before anything is allocated, the largest that fits is accepted."""
    monkeypatch.setattr(cli_args, "memory_available", lambda: 4 * 2**30)
    fits = 4 * 2**30 // cli_args.BYTES_PER_POLICY
    assert 1_000_000 <= fits < 1_001_000
    parser = build_parser()
    parsed = vars(parser.parse_args([*argv, str(fits)]))
    assert fits in parsed.values() or [fits] in parsed.values(), parsed
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, str(fits + 1)])
    err = capsys.readouterr().err
    assert "need about 4.0 GiB of memory" in err and f"enough for {fits:,}" in err and err.count("\n") == 1, err


def test_a_localcloud_that_cannot_start_is_one_line(tmp_path, capsys):
    """`mlgw run` on a port another program holds: the daemon's reason, not its traceback."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with contextlib.suppress(SystemExit):
            code = main(["run", "--home", str(tmp_path / "home"), "--port", str(port), "--policies", "50"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("mlgw: error: ") and f"port {port}" in err and err.count("\n") == 1, err
