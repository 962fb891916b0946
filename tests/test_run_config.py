"""One run configuration that every path reads (mlgw/run_config.py): a user's own data with its
own schema survives `mlgw run` with no data flags, traffic, the gateway and a drift-triggered
retrain; nothing synthetic is ever added to it; a schema change gets new feature groups.

The user's data: tests/fixtures/public_sample (400 policies in the public AWS sample's format)
with an extra claims column (`vehicle_color`) and a renamed category (policy_state `WA` →
`Washington`), described by the user's own schema file; 60 policies are held out for traffic.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import boto3
import pandas as pd
import pytest

from mlgw import cli, run_config
from processing import contract

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "public_sample"
COLORS = ["Red", "Blue", "Black", "White"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user_data(folder: Path) -> dict[str, Path]:
    """The user's schema, training files and held-out files."""
    folder.mkdir(parents=True, exist_ok=True)
    document = json.loads(contract.DEFAULT_PATH.read_text())
    claims_columns = document["tables"]["claims"]["columns"]
    claims_columns.insert(
        len(claims_columns) - 1,  # before the label
        {"name": "vehicle_color", "type": "category", "values": COLORS, "encoding": "one_hot"},
    )
    state = next(c for c in document["tables"]["customers"]["columns"] if c["name"] == "policy_state")
    state["values"] = ["Washington" if v == "WA" else v for v in state["values"]]
    (folder / "schema.json").write_text(contract.dumps(document))
    claims = pd.read_csv(SAMPLE / "claims.csv", dtype=str, keep_default_na=False)
    customers = pd.read_csv(SAMPLE / "customers.csv", dtype=str, keep_default_na=False)
    claims.insert(len(claims.columns) - 1, "vehicle_color", [COLORS[i % 4] for i in range(len(claims))])
    customers["policy_state"] = customers["policy_state"].replace({"WA": "Washington"})
    held = set(claims["policy_id"].iloc[-60:])
    paths = {}
    for name, frame in (("claims", claims), ("customers", customers)):
        paths[name] = folder / f"my_{name}.csv"
        frame[~frame["policy_id"].isin(held)].to_csv(paths[name], index=False)
        paths[f"held_{name}"] = folder / f"held_{name}.csv"
        frame[frame["policy_id"].isin(held)].to_csv(paths[f"held_{name}"], index=False)
    paths["schema"] = folder / "schema.json"
    return paths


def _parameters(sm, arn: str) -> dict[str, str]:
    listed = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    return {p["Name"]: p["Value"] for p in listed}


@pytest.mark.slow
def test_own_data_and_schema_survive_runs_traffic_gateway_and_retrain(tmp_path, monkeypatch, capsys):
    """The whole loop on the user's data with the user's schema, after a synthetic start: a
    schema change whose data fails leaves the dataset and the configuration; one that passes
    gets new feature groups and deploys; held-out rows are replayed through the gateway; the
    drift-triggered retrain and a later `mlgw run` with no data flags use the same data,
    schema, feature groups and parameters."""
    from localcloud import daemon
    from localcloud.apigateway.function_env import default_path
    from localcloud.config import Config
    from mlgw import local_run, traffic
    from mlgw.retrain import RULE_NAME

    monkeypatch.setenv(contract.ENV, "")  # restored after the test (runs activate the schema)
    data = _user_data(tmp_path / "user")
    config = Config(home=tmp_path / "mlgw", port=_free_port())
    try:
        synthetic = local_run.run(config, policies=1200, seed=5, claims=None, customers=None, parameters={})
        assert synthetic.succeeded, synthetic.failure_reason
        session = boto3.Session(
            aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key, region_name=config.region
        )
        sm = session.client("sagemaker", endpoint_url=config.url)
        s3 = session.client("s3", endpoint_url=config.url)
        bucket = local_run.default_bucket(config)

        def current_dataset() -> list[tuple[str, str]]:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=local_run.LANDING + "/").get("Contents", [])
            return sorted((o["Key"], o["ETag"]) for o in listed)

        # A new schema whose data fails Ingest (a category the schema does not know): the run
        # fails; the current dataset and the configuration stay as they were.
        before = current_dataset()
        bad = pd.read_csv(data["claims"], dtype=str, keep_default_na=False)
        bad.loc[3, "vehicle_color"] = "Purple"
        bad.to_csv(tmp_path / "bad_claims.csv", index=False)
        failed = local_run.run(
            config,
            policies=None,
            seed=None,
            claims=str(tmp_path / "bad_claims.csv"),
            customers=str(data["customers"]),
            parameters={},
            schema=str(data["schema"]),
        )
        assert not failed.succeeded and "Purple" in (failed.failure_reason or "")
        assert current_dataset() == before
        assert local_run.current_config(config, s3).version == 1

        first = local_run.run(
            config,
            policies=None,
            seed=None,
            claims=str(data["claims"]),
            customers=str(data["customers"]),
            parameters={"NumRound": "60", "AucThreshold": "0.6"},
            schema=str(data["schema"]),
        )
        out = capsys.readouterr().out
        assert first.succeeded, (first.failure_reason, out)
        assert sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)["EndpointStatus"] == "InService"
        stored = local_run.current_config(config, s3)
        assert stored.version == 2 and stored.source.kind == run_config.FILES
        digest8 = stored.schema_digest[:8]
        groups = {"ClaimsFeatureGroup": f"claims-{digest8}", "CustomersFeatureGroup": f"customers-{digest8}"}
        assert stored.feature_groups() == groups
        names = {g["FeatureGroupName"] for g in sm.list_feature_groups()["FeatureGroupSummaries"]}
        assert {"claims", "customers", *groups.values()} <= names  # new groups beside the old
        # The synthetic-data version 1 was trained on the default contract: redeploying it under
        # this configuration would break every request, so it is refused unless forced.
        home = ["--home", str(config.home), "--port", str(config.port)]
        capsys.readouterr()
        assert cli.main(["endpoint", "deploy", *home, "--version", "1"]) == 2
        assert "trained on another data contract" in capsys.readouterr().err
        # The gateway function's environment follows the configuration.
        env = json.loads(default_path(config.home).read_text())
        assert env["CLAIMS_FEATURE_GROUP"] == groups["ClaimsFeatureGroup"]
        assert contract.load(env[contract.ENV]).table("claims").by_name["vehicle_color"].categories == tuple(COLORS)

        # Synthetic traffic is refused on a user-data configuration, with the reason.
        with pytest.raises(traffic.TrafficError, match="held-out rows"):
            traffic.replay(config, policies=20, seed=1, drift=None, endpoint_name=local_run.ENDPOINT_NAME)
        # Drift that pushes values out of the contract is refused before anything is sent: the
        # gateway would answer 400 and Ingest refuse the batch (every retrain would fail on it).
        with pytest.raises(traffic.TrafficError, match="the data contract refuses"):
            traffic.replay(
                config,
                policies=None,
                seed=1,
                drift="customer_age*9",
                endpoint_name=local_run.ENDPOINT_NAME,
                claims=str(data["held_claims"]),
                customers=str(data["held_customers"]),
            )
        # The user's held-out rows are replayed through the gateway in the user's schema.
        summary = traffic.replay(
            config,
            policies=None,
            seed=1,
            drift=None,
            endpoint_name=local_run.ENDPOINT_NAME,
            claims=str(data["held_claims"]),
            customers=str(data["held_customers"]),
        )
        assert summary.requests == 60 and summary.statuses[200] == 60, summary.errors
        assert summary.batch_added
        # Replaying them again is refused: they are in the current dataset now.
        with pytest.raises(traffic.TrafficError, match="already in the current dataset"):
            traffic.replay(
                config,
                policies=None,
                seed=1,
                drift=None,
                endpoint_name=local_run.ENDPOINT_NAME,
                claims=str(data["held_claims"]),
                customers=str(data["held_customers"]),
            )

        # The retrain rule carries the configuration: schema, feature groups, parameters.
        events = session.client("events", endpoint_url=config.url)
        target = events.list_targets_by_rule(Rule=RULE_NAME)["Targets"][0]
        passed = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
        assert passed["SchemaUri"] == stored.schema_uri and passed["NumRound"] == "60"
        assert {k: passed[k] for k in groups} == groups

        # A drift alarm in ALARM starts the retrain through EventBridge; it succeeds on the
        # user's data (training + replayed rows) with the same configuration.
        listed = sm.list_pipeline_executions(PipelineName=local_run.PIPELINE_NAME)["PipelineExecutionSummaries"]
        before_retrain = {e["PipelineExecutionArn"] for e in listed}
        cloudwatch = session.client("cloudwatch", endpoint_url=config.url)
        alarm = cloudwatch.describe_alarms(AlarmNamePrefix="ml-gateway-drift-")["MetricAlarms"][0]["AlarmName"]
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: drift")
        deadline = time.monotonic() + 60
        retrain = None
        while retrain is None and time.monotonic() < deadline:
            listed = sm.list_pipeline_executions(PipelineName=local_run.PIPELINE_NAME)["PipelineExecutionSummaries"]
            retrain = next(
                (e["PipelineExecutionArn"] for e in listed if e["PipelineExecutionArn"] not in before_retrain), None
            )
            time.sleep(0.5)
        assert retrain, "the drift alarm started no retrain"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = sm.describe_pipeline_execution(PipelineExecutionArn=retrain)["PipelineExecutionStatus"]
            if status not in ("Executing", "Stopping"):
                break
            time.sleep(1)
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=retrain)["PipelineExecutionSteps"]
        assert status == "Succeeded", [(s["StepName"], s.get("FailureReason")) for s in steps]
        params = _parameters(sm, retrain)
        assert params["SchemaUri"] == stored.schema_uri and params["NumRound"] == "60"
        assert {k: params[k] for k in groups} == groups

        # `mlgw run` with no data flags trains on the user's files again, never synthetic data.
        synthetic_sets = sorted((config.home / "data").glob("synthetic-*"))
        again = local_run.run(
            config, policies=None, seed=None, claims=None, customers=None, parameters={"DeployStrategy": "replace"}
        )
        out = capsys.readouterr().out
        assert again.succeeded, (again.failure_reason, out)
        # It reads the current dataset: the user's files and the replayed batch, never re-staged.
        assert _parameters(sm, again.arn)["ClaimsInputUri"] == local_run.landing_uris(config)["claims"]
        assert any(key.startswith(f"{local_run.LANDING}/claims/traffic-") for key, _ in current_dataset())
        assert sorted((config.home / "data").glob("synthetic-*")) == synthetic_sets, "synthetic data was generated"
        assert local_run.current_config(config, s3).source == stored.source

        # The old groups can go; the ones in use are refused without --force.
        assert cli.main(["featurestore", "delete", *home, groups["ClaimsFeatureGroup"]]) == 2
        assert "used by the current run configuration" in capsys.readouterr().err
        assert cli.main(["featurestore", "delete", *home, "claims"]) == 0
    finally:
        daemon.stop(config)


def test_config_set_checks_parameters_and_keeps_history(tmp_path, capsys):
    """`mlgw config set` validates as `mlgw run --param` does, refuses per-run settings, and
    each change is a version `config history` lists."""
    from localcloud import daemon
    from localcloud.config import Config

    config = Config(home=tmp_path / "mlgw", port=_free_port())
    home = ["--home", str(config.home), "--port", str(config.port)]
    daemon.start(config)
    try:
        assert cli.main(["config", "set", *home, "NumRound=abc"]) == 2
        assert "NumRound='abc' is not an integer" in capsys.readouterr().err
        assert cli.main(["config", "set", *home, "ClaimsInputUri=s3://x/y/"]) == 2
        assert "not configuration" in capsys.readouterr().err
        assert cli.main(["config", "set", *home, "NumRound=80", "Eta=0.1"]) == 0
        assert cli.main(["config", "set", *home, "--unset", "Eta"]) == 0
        capsys.readouterr()
        assert cli.main(["config", "show", *home]) == 0
        shown = capsys.readouterr().out
        assert "version 2" in shown and "NumRound" in shown and "80" in shown
        assert cli.main(["config", "history", *home]) == 0
        history = capsys.readouterr().out
        assert "version 1" in history and "Eta: 0.2 → 0.1" in history and "Eta: 0.1 → 0.2" in history
        # The retrain rule follows the configuration.
        events = boto3.client(
            "events",
            endpoint_url=config.url,
            region_name=config.region,
            aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key,
        )
        from mlgw.retrain import RULE_NAME

        target = events.list_targets_by_rule(Rule=RULE_NAME)["Targets"][0]
        passed = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
        assert passed["NumRound"] == "80" and "Eta" not in passed
    finally:
        daemon.stop(config)
