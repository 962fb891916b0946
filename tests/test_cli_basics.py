"""What every `mlgw` invocation owes a user: `--version`, and no traceback when the reader of
its output goes away (`mlgw ... | head -1`)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from importlib import metadata

import pytest

from mlgw.cli import main


def test_version():
    done = subprocess.run([sys.executable, "-m", "mlgw", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"mlgw {metadata.version('ml-gateway')}"


def test_a_closed_pipe_is_not_a_traceback(monkeypatch, tmp_path):
    """`mlgw ... | head -1`: the reader exits early; mlgw stops quietly with the status of a
    tool SIGPIPE stopped (141), since the command did not finish."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before mlgw writes a byte: every write is EPIPE
    stdout = io.TextIOWrapper(io.FileIO(write_end, "w"), write_through=True)
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert main(["data", "generate", "--policies", "20", "--out", str(tmp_path)]) == 141
    finally:
        stdout.close()


@pytest.mark.parametrize("rate", ["inf", "nan", "-1", "0"])
def test_a_key_rate_must_be_a_finite_positive_number(tmp_path, capsys, monkeypatch, rate):
    """API Gateway usage plans take a positive rate; inf/nan are a clear error, never a
    traceback (`mlgw gateway keys create --rate inf`)."""
    monkeypatch.setenv("MLGW_HOME", str(tmp_path))
    try:
        code = main(["gateway", "keys", "create", "--name", "n", "--rate", rate])
    except SystemExit as exit_:  # refused by the flag's type, before the key store is opened
        code = exit_.code
    err = capsys.readouterr().err
    assert code != 0 and "rate" in err and "Traceback" not in err, err


def test_schema_infer_to_an_unwritable_path_is_a_clear_error(tmp_path, capsys):
    from processing import synthetic

    synthetic.write(tmp_path, policies=50, seed=1)
    code = main(
        [
            "schema",
            "infer",
            "--claims",
            str(tmp_path / "claims.csv"),
            "--customers",
            str(tmp_path / "customers.csv"),
            "--out",
            str(tmp_path / "missing" / "x.json"),
        ]
    )
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
    definition = {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "NewVariantWeight", "Type": "Float", "DefaultValue": 0.1}],
        "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}],
    }
    sm.create_pipeline(
        PipelineName="p",
        RoleArn="arn:aws:iam::000000000000:role/r",
        PipelineDefinition=json.dumps(definition),
        ClientRequestToken=uuid.uuid4().hex,
    )
    arn = sm.start_pipeline_execution(
        PipelineName="p",
        ClientRequestToken=uuid.uuid4().hex,
        PipelineParameters=[{"Name": "NewVariantWeight", "Value": "lots"}],
    )["PipelineExecutionArn"]
    result = follow(sm, arn, out=io.StringIO())
    local_run.print_summary(localcloud.cloud.config, sm, client("s3"), result)
    out = capsys.readouterr().out
    assert "retry cannot help" in out and "NewVariantWeight='lots'" in out
    assert "--param NewVariantWeight=" in out and "mlgw pipeline retry" not in out
    # the summary ends by saying what the run left running (here: localcloud in this process)
    assert out.rstrip().splitlines()[-1] == "nothing left running"


def test_build_phases_are_announced_and_a_long_one_is_never_silent():
    """`mlgw run` says which phase of the client-side build it is in (SDK import, steps,
    upsert), and a phase that takes longer than the heartbeat prints `still ...` lines."""
    import time

    from mlgw.progress import Phases

    out = io.StringIO()
    phases = Phases(out, heartbeat_seconds=0.05)
    with phases("importing the SageMaker SDK"):
        time.sleep(0.18)
    with phases("starting an execution"):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("] importing the SageMaker SDK…"), lines
    assert sum("still importing the SageMaker SDK (" in line for line in lines) >= 2, lines
    assert lines[-1].endswith("] starting an execution…"), lines
    assert set(phases.seconds) == {"importing the SageMaker SDK", "starting an execution"}
    assert phases.seconds["importing the SageMaker SDK"] >= 0.18


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--claims", "{d}", "--customers", "{f}"], "--claims {d} is a directory"),
        (["--claims", "{f}", "--customers", "{d}/missing.csv"], "--customers {d}/missing.csv: no such file"),
        (["--schema", "{d}"], "--schema {d} is a directory"),
        (["--claims", "{f}", "--customers", "{f}", "--policies", "10"], "drop --policies"),
    ],
)
def test_run_checks_its_inputs_before_any_slow_work(tmp_path, monkeypatch, capsys, argv, message):
    """Wrong inputs are named at once: no localcloud started, no data generated, no SDK."""
    home = tmp_path / "home"
    monkeypatch.setenv("MLGW_HOME", str(home))
    f = tmp_path / "claims.csv"
    f.write_text("policy_id\n1\n")
    args = [a.format(d=tmp_path, f=f) for a in argv]
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert message.format(d=tmp_path) in err, err
    assert not home.exists(), "nothing may be started or written before the inputs are checked"


def test_bench_flags_belong_to_the_benchmarks_that_use_them(capsys):
    """`--policies` sizes the pipeline bench only; `--records` sizes the monitor bench."""
    from mlgw.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["bench", "pipeline", "--policies", "5000"]).policies == [5000]
    assert parser.parse_args(["bench", "monitor", "--records", "2000"]).records == 2000
    for argv in (["bench", "studio", "--policies", "5"], ["bench", "gateway", "--records", "5"]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(argv)
        assert exit_.value.code == 2
        assert "unrecognized arguments" in capsys.readouterr().err


def test_bench_monitor_with_a_small_size_runs_and_exits_0(capsys):
    """A quick monitor bench: it ran, so it exits 0; the verdict is for the target's size."""
    assert main(["bench", "monitor", "--records", "2000"]) == 0
    out = capsys.readouterr().out
    assert "monitoring run over 2,000 captured records" in out, out
    assert "not judged" in out and "peer:" in out


# -- one name per concept, help on every flag, one error prefix --------------------------------


def _parsers(parser=None, path=("mlgw",)):
    """(command path, parser) for every parser and sub-parser of the CLI."""
    import argparse

    from mlgw.cli import build_parser

    parser = parser or build_parser()
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_flag_and_argument_has_help():
    import argparse

    missing = [
        (" ".join(path), action.option_strings or action.dest)
        for path, parser in _parsers()
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and action.help is None
    ]
    assert not missing, missing


def test_the_endpoint_flag_is_called_endpoint_everywhere():
    """Every command naming a SageMaker endpoint takes --endpoint; earlier spellings
    (--endpoint-name, endpoint's --name) still parse but are not offered in --help."""
    import argparse

    from mlgw.cli import build_parser

    offered = {}
    for path, parser in _parsers():
        for action in parser._actions:
            if action.dest == "endpoint" and action.help != argparse.SUPPRESS:
                offered[" ".join(path)] = action.option_strings
    assert set(offered) >= {
        "mlgw endpoint",
        "mlgw traffic",
        "mlgw segments",
        "mlgw gateway start",
        "mlgw monitor run",
    }, offered
    assert all(flags == ["--endpoint"] for flags in offered.values()), offered
    parser = build_parser()
    assert parser.parse_args(["traffic", "--endpoint-name", "old"]).endpoint == "old"
    assert parser.parse_args(["endpoint", "describe", "--name", "old"]).endpoint == "old"
    help_text = next(p for path, p in _parsers(parser) if path == ("mlgw", "endpoint")).format_help()
    assert "--endpoint NAME" in help_text and "--name" not in help_text


def test_port_means_localcloud_and_each_server_has_its_own_port_flag(monkeypatch):
    """--port / $MLGW_PORT is localcloud's port on every command; the gateway's, the studio's
    and MLflow's own ports have their own flags and variables."""
    from mlgw.cli import build_parser

    monkeypatch.setenv("MLGW_GATEWAY_PORT", "4900")
    monkeypatch.setenv("MLGW_MLFLOW_PORT", "5100")
    parser = build_parser()
    from mlgw.commands.gateway import asked_port

    args = parser.parse_args(["gateway", "start", "--port", "4800"])
    assert (args.port, asked_port(args)) == (4800, 4900)
    assert parser.parse_args(["gateway", "start", "--gateway-port", "4901"]).gateway_port == 4901
    args = parser.parse_args(["studio", "--port", "4801", "--studio-port", "4701"])
    assert (args.port, args.studio_port) == (4801, 4701)
    assert parser.parse_args(["mlflow"]).mlflow_port == 5100
    for path, p in _parsers(parser):
        for action in p._actions:
            if "--port" in action.option_strings:
                assert "localcloud" in action.help, (path, action.help)


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["pipeline", "executions"],
        ["models", "list"],
        ["endpoint", "describe"],
        ["traffic"],
        ["demo"],
        ["localcloud", "status"],
        ["gateway", "start"],
        ["gateway", "status"],
        ["gateway", "stop"],
        ["gateway", "keys", "list"],
        ["segments", "deploy"],
        ["events", "list"],
        ["monitor", "run"],
        ["monitor", "alarms"],
        ["monitor", "schedule", "list"],
        ["studio"],
        ["mlflow"],
    ],
)
def test_home_is_accepted_after_the_action_on_every_command(argv):
    from mlgw.cli import build_parser

    assert build_parser().parse_args([*argv, "--home", "/tmp/somewhere"]).home == "/tmp/somewhere"


def test_gateway_home_before_the_action_is_not_lost():
    from mlgw.cli import build_parser

    assert build_parser().parse_args(["gateway", "--home", "/g", "status"]).home == "/g"


def test_every_error_has_the_one_prefix(tmp_path, monkeypatch, capsys):
    """Usage errors, CLI errors and a command's own refusals all start `mlgw: error:`."""
    monkeypatch.setenv("MLGW_HOME", str(tmp_path))
    with pytest.raises(SystemExit):
        main(["run", "--policies", "0"])
    assert capsys.readouterr().err.splitlines()[-1].startswith("mlgw: error: run: argument --policies")
    assert main(["gateway", "keys", "revoke", "nope"]) == 2  # the gateway's own refusal
    assert capsys.readouterr().err.startswith("mlgw: error: ")
    assert main(["localcloud", "stop", "--foreground"]) == 2  # a flag that would do nothing
    err = capsys.readouterr().err
    assert err.startswith("mlgw: error: --foreground applies to `mlgw localcloud start`"), err


# -- the state directory -------------------------------------------------------------------------


def test_the_state_directory_is_found_from_any_working_directory(tmp_path, monkeypatch):
    """Like git with .git: the nearest .mlgw in the working directory or a parent; else
    ~/.mlgw; $MLGW_HOME and --home still win."""
    from localcloud.config import Config
    from mlgw.args import config_from
    from mlgw.cli import build_parser

    monkeypatch.delenv("MLGW_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    project = tmp_path / "project"
    (project / ".mlgw").mkdir(parents=True)
    deep = project / "src" / "deep"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Config().home == project / ".mlgw"
    monkeypatch.chdir(tmp_path)
    assert Config().home == tmp_path / "user" / ".mlgw"
    monkeypatch.setenv("MLGW_HOME", str(tmp_path / "env"))
    assert Config().home == tmp_path / "env"
    args = build_parser().parse_args(["models", "list", "--home", str(tmp_path / "flag")])
    assert config_from(args).home == tmp_path / "flag"


def test_a_command_on_a_fresh_state_directory_says_run_mlgw_run_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLGW_HOME", str(tmp_path / "never-used"))
    for argv in (
        ["pipeline", "executions"],
        ["models", "list"],
        ["endpoint", "describe"],
        ["pipeline", "retry"],
        ["events", "list"],
        ["events", "rules"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert (
            err.startswith("mlgw: error: nothing has run on the state directory") and "run `mlgw run` first" in err
        ), err
    assert not (tmp_path / "never-used").exists()  # reading never creates a state directory


def test_fresh_localcloud_answers_run_mlgw_run_first(localcloud, capsys):
    """localcloud runs but nothing was run on it: no raw "Pipeline does not exist" or a 503
    per request, but what to do."""
    from localcloud import daemon

    config = localcloud.cloud.config
    daemon.write_record(daemon.run_file(config), os.getpid(), "127.0.0.1", config.port)
    for argv in (
        ["pipeline", "executions"],
        ["pipeline", "describe"],
        ["traffic", "--policies", "3"],
        ["monitor", "run", "--check-only"],
        ["endpoint", "weights", "--weight", "a=1"],
    ):
        assert main([*argv, "--home", str(config.home)]) == 2, argv
        err = capsys.readouterr().err
        assert "does not exist on this state directory" in err and "run `mlgw run` first" in err, err


def test_an_unknown_endpoint_names_the_ones_that_exist(localcloud, client, capsys):
    from localcloud import daemon

    config = localcloud.cloud.config
    daemon.write_record(daemon.run_file(config), os.getpid(), "127.0.0.1", config.port)
    sm = client("sagemaker")
    sm.create_model(
        ModelName="m",
        ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
        PrimaryContainer={"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sm.create_endpoint(EndpointName="fraud-a", EndpointConfigName="c")
    assert main(["endpoint", "describe", "--endpoint", "nope", "--home", str(config.home)]) == 2
    err = capsys.readouterr().err
    assert "endpoint nope does not exist" in err and "it has fraud-a (choose with --endpoint)" in err, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["models", "describe", "-1"], "'-1' is not a model version: give a version number"),
        (["models", "compare", "1", "x"], "'x' is not a model version"),
        (["pipeline", "describe", "nope"], "'nope' is not a pipeline execution ARN"),
    ],
)
def test_malformed_names_get_our_message_not_an_aws_pattern(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("MLGW_HOME", str(tmp_path))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlgw: error: {message}") and "regular expression" not in err, err


def test_schema_check_of_a_directory_says_it_is_a_directory(tmp_path, capsys):
    assert main(["schema", "check", "--claims", str(tmp_path), "--customers", str(tmp_path)]) == 2
    assert f"--claims {tmp_path} is a directory" in capsys.readouterr().err


def test_run_ends_with_its_end_to_end_time(tmp_path, monkeypatch, capsys):
    """`mlgw run` ends by saying how long it took end to end (data, build, upsert, pipeline),
    next to the pipeline's own time: the figure its target is about."""
    import time

    from mlgw import local_run
    from mlgw.progress import ExecutionResult

    def fake_run(config, **kwargs):
        time.sleep(0.2)  # the client-side work before the pipeline
        return ExecutionResult(
            "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/e", "Succeeded", None, wall_seconds=0.1
        )

    monkeypatch.setenv("MLGW_HOME", str(tmp_path))
    monkeypatch.setattr(local_run, "run", fake_run)
    assert main(["run"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    took = float(last.split()[3])
    assert last.startswith("mlgw run took ") and "end to end (the pipeline 0.1 s)" in last, last
    assert took >= 0.2, last


def test_an_unknown_execution_and_a_rule_target_are_named_for_what_they_are(localcloud, client, capsys):
    """The pipeline exists, the execution does not: say so (not "run mlgw run first"); a rule
    whose target pipeline exists is not flagged missing (its ARN lower-cases the name)."""
    import json
    import uuid

    from localcloud import daemon

    config = localcloud.cloud.config
    daemon.write_record(daemon.run_file(config), os.getpid(), "127.0.0.1", config.port)
    arn = client("sagemaker").create_pipeline(
        PipelineName="MLGatewayPipeline",
        ClientRequestToken=uuid.uuid4().hex,
        RoleArn="arn:aws:iam::000000000000:role/SageMakerExecutionRole",
        PipelineDefinition=json.dumps(
            {"Version": "2020-12-01", "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}]}
        ),
    )["PipelineArn"]
    missing = f"{arn}/execution/zzzz"
    assert main(["pipeline", "describe", missing, "--home", str(config.home)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"mlgw: error: execution {missing} does not exist")
        and "`mlgw pipeline executions` lists them" in err
    ), err
    events = client("events")
    events.put_rule(Name="retrain", EventPattern=json.dumps({"source": ["aws.cloudwatch"]}))
    events.put_targets(
        Rule="retrain", Targets=[{"Id": "p", "Arn": arn, "RoleArn": "arn:aws:iam::000000000000:role/RetrainRole"}]
    )
    assert main(["events", "rules", "--home", str(config.home)]) == 0
    out = capsys.readouterr().out
    assert f"-> p: {arn}" in out and "does not exist" not in out, out


def test_flags_for_aws_only_and_bad_paths_or_seeds_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLGW_HOME", str(tmp_path / "home"))
    for argv, expected in (
        (["pipeline", "start", "--config", "c.json"], "--config applies to --target aws"),
        (["pipeline", "upsert", "--tag", "a=b"], "--tag applies to --target aws"),
        (["data", "generate", "--policies", "5", "--out", "/proc/nope"], "/proc/nope: "),
        (["run", "--seed", "-1"], "a seed is 0 to 4294967295, got -1"),
        (["run", "--policies", "0"], "must be at least 1, got 0 (`mlgw run --help` lists"),
    ):
        with contextlib.suppress(SystemExit):
            assert main(argv) != 0, argv
        err = capsys.readouterr().err
        assert err.startswith("mlgw: error: ") and expected in err and err.count("\n") == 1, (argv, err)


def test_too_few_policies_for_both_labels_is_told_to_use_more_not_to_fix_a_file():
    """`mlgw run --policies 10` fails Ingest (every claim legitimate): the advice is a larger
    --policies, not the file/column/row of a bad CSV the user never gave."""
    from mlgw.execution_report import failure_advice
    from mlgw.progress import ExecutionResult

    result = ExecutionResult(
        "arn",
        "Failed",
        "Step failure: Ingest: claims.csv: column 'fraud' "
        "has a single value; training needs both fraud (1) and legitimate (0) "
        "claims",
        [{"StepName": "Ingest", "StepStatus": "Failed", "Metadata": {"ProcessingJob": {"Arn": "job"}}}],
    )
    advice = " ".join(failure_advice(None, result))
    assert "retry cannot help" in advice and "--policies 1000" in advice
    assert "fix the file, column and row" not in advice
