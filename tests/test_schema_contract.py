"""The data contract (processing/schema.json): files in the public sample's format are accepted
as published, one schema file drives validation, features, feature groups, the gateway, its
OpenAPI document and the baseline, and `mlgw schema infer` / `check` work on users' files.

tests/fixtures/public_sample/*.csv: 400 policies written in the public auto-insurance sample's
format (CRLF lines; `N/A` and `None` as category labels; empty cells as missing values; money
as decimals with `.0` for whole amounts; deductibles as whole numbers), 100 of them fraud so a
pipeline run on them has enough positives for a meaningful test AUC.
"""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pandas as pd
import pytest

from mlgw import cli
from processing import contract, features, schema, synthetic
from tests.support.definition import step_named

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "public_sample"


def _schema_with(tmp_path: Path, edit) -> Path:
    document = json.loads(contract.DEFAULT_PATH.read_text())
    edit(document)
    path = tmp_path / "schema.json"
    path.write_text(contract.dumps(document))
    return path


def _column(document: dict, table: str, name: str) -> dict:
    return next(c for c in document["tables"][table]["columns"] if c["name"] == name)


# -- the public sample as published ------------------------------------------------------------


def test_public_sample_format_is_read_as_published():
    claims = schema.read_raw(SAMPLE / "claims.csv", "claims")
    customers = schema.read_raw(SAMPLE / "customers.csv", "customers")
    schema.check_join(claims, customers)
    # `N/A` and `None` are labels of their own; an empty cell is a missing value.
    assert (claims["collision_type"] == "N/A").sum() > 50
    assert (claims["authorities_contacted"] == "None").sum() > 50
    assert claims["driver_relationship"].isna().sum() == 4
    assert claims["total_claim_amount"].isna().any() and customers["customer_zip"].isna().any()
    encoded = features.encode_claims(claims)
    assert encoded["collision_type_n_a"].sum() == (claims["collision_type"] == "N/A").sum()
    assert encoded["authorities_contacted_none"].sum() == (claims["authorities_contacted"] == "None").sum()
    missing = claims["driver_relationship"].isna().to_numpy()
    one_hot = [f for f in features.CLAIMS_FEATURES if f.startswith("driver_relationship_")]
    assert (encoded.loc[missing, one_hot] == 0).all().all()  # missing → no category


def test_check_command_on_the_public_sample_passes(capsys):
    assert (
        cli.main(
            ["schema", "check", "--claims", str(SAMPLE / "claims.csv"), "--customers", str(SAMPLE / "customers.csv")]
        )
        == 0
    )
    assert "OK: the files match the schema" in capsys.readouterr().out


@pytest.mark.slow
def test_pipeline_runs_unchanged_on_public_sample_files(tmp_path, capsys):
    from localcloud import daemon
    from localcloud.config import Config
    from mlgw import local_run

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config(home=tmp_path / "mlgw", port=port)
    try:
        result = local_run.run(
            config,
            policies=0,
            seed=0,
            claims=str(SAMPLE / "claims.csv"),
            customers=str(SAMPLE / "customers.csv"),
            parameters={},
        )
    finally:
        daemon.stop(config)
    out = capsys.readouterr().out
    # Succeeded = every step ran and CheckAuc passed the default threshold (0.75).
    assert result.succeeded, (result.failure_reason, out)
    assert "test AUC" in out


@pytest.mark.slow
def test_run_with_a_schema_file_trains_and_serves_its_vocabulary(tmp_path, monkeypatch, capsys):
    """`mlgw run --schema FILE`: the pipeline's SchemaUri carries the file to every step; the
    model ships it (model.tar.gz schema.json), so the endpoint encodes the new label."""
    import boto3

    from localcloud import daemon
    from localcloud.config import Config
    from mlgw import local_run

    path = _schema_with(tmp_path, lambda d: _column(d, "customers", "policy_state")["values"].append("UT"))
    monkeypatch.setenv(contract.ENV, "")  # restored after the test (run activates FILE)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config(home=tmp_path / "mlgw", port=port)
    try:
        result = local_run.run(
            config, policies=1500, seed=7, claims=None, customers=None, parameters={}, schema=str(path)
        )
        out = capsys.readouterr().out
        assert result.succeeded, (result.failure_reason, out)
        rt = boto3.client("sagemaker-runtime", endpoint_url=config.url, region_name=config.region)
        for record in ({"policy_state": "UT", "customer_age": 30}, {"policy_state_ut": 1.0}):
            reply = rt.invoke_endpoint(
                EndpointName=local_run.ENDPOINT_NAME,
                ContentType="application/json",
                Body=json.dumps({"instances": [record]}),
            )
            assert 0 <= json.loads(reply["Body"].read())["predictions"][0]["score"] <= 1
    finally:
        daemon.stop(config)


# -- one schema file drives everything ---------------------------------------------------------


def test_a_seventh_policy_state_in_the_schema_alone_flows_everywhere(tmp_path, monkeypatch):
    """Adding "UT" to policy_state in a copy of the schema file, and nothing else, reaches
    validation, the synthetic data, the features (both paths), the feature group definitions,
    the gateway (request model, OpenAPI, raw-record encoding) and the baseline."""
    from inference import gateway_handler
    from localcloud.apigateway.openapi import build_document
    from localcloud.apigateway.responses import build_routes
    from monitoring import baseline, monitor

    path = _schema_with(tmp_path, lambda d: _column(d, "customers", "policy_state")["values"].append("UT"))
    monkeypatch.setenv(contract.ENV, str(path))

    claims, customers = synthetic.generate(3000, seed=5)
    assert (customers["policy_state"] == "UT").sum() > 50  # the generator's vocabulary
    data = tmp_path / "data"
    synthetic.write(data, 3000, seed=5)
    read = schema.read_raw(data / "customers.csv", "customers")  # validation
    encoded = features.encode_customers(read)
    assert "policy_state_ut" in features.MODEL_FEATURES
    assert encoded["policy_state_ut"].sum() == (read["policy_state"] == "UT").sum()
    unknown: list = []
    record = features.encode_record({"policy_state": "UT"}, unknown=unknown)
    assert record["policy_state_ut"] == 1.0 and unknown == []  # per-record path, same numbers
    assert {"FeatureName": "policy_state_ut", "FeatureType": "Fractional"} in contract.active().feature_definitions(
        "customers"
    )  # feature group definitions
    routes = {r.name: r for r in build_routes()}
    direct = routes["predict_direct"].schema["properties"]["features"]["properties"]
    assert "policy_state_ut" in direct  # gateway request model
    document = json.dumps(build_document(build_routes(), "http://localhost"))
    assert "policy_state_ut" in document  # OpenAPI
    found: list = []
    assert (
        gateway_handler._encode_raw("customer", {"policy_state": "UT"}, found)["policy_state_ut"] == 1.0 and found == []
    )  # the Lambda's raw records
    frame = encoded[[f for f in features.CUSTOMERS_FEATURES]]
    stats = baseline.compute_statistics(frame)
    assert "policy_state_ut" in [f["name"] for f in stats["features"]]  # baseline
    assert "UT" in monitor._category_groups()["policy_state"][1]  # drift check's labels

    # The same file under the default schema: refused at Ingest, naming column, row and value.
    monkeypatch.delenv(contract.ENV)
    with pytest.raises(schema.SchemaError, match=r"column 'policy_state' row \d+: unknown value 'UT'"):
        schema.read_raw(data / "customers.csv", "customers")
    assert "policy_state_ut" not in features.MODEL_FEATURES


def test_unknown_categories_at_ingest_error_by_default_or_map_to_missing(tmp_path, capsys):
    from processing import ingest

    claims, customers = synthetic.generate(300, seed=2)
    claims.loc[[4, 9], "incident_type"] = "Flood"
    for name, frame in (("claims", claims), ("customers", customers)):
        (tmp_path / name).mkdir()
        frame.to_csv(tmp_path / name / f"{name}.csv", index=False)
    args = [
        "--claims-dir",
        str(tmp_path / "claims"),
        "--customers-dir",
        str(tmp_path / "customers"),
        "--validated-dir",
        str(tmp_path / "out"),
    ]
    with pytest.raises(schema.SchemaError, match=r"column 'incident_type' row 6: unknown value 'Flood'"):
        ingest.main(args)

    lenient = tmp_path / "lenient"
    lenient.mkdir()
    _schema_with(lenient, lambda d: d.update(unknown_categories="missing"))
    try:
        ingest.main(args + ["--schema-dir", str(lenient)])
    finally:
        import os

        os.environ.pop(contract.ENV, None)
    assert "claims.csv: column 'incident_type': 2 unknown categories mapped to missing" in capsys.readouterr().out
    validated = pd.read_csv(tmp_path / "out" / "claims.csv", keep_default_na=False)
    assert (validated.loc[[4, 9], "incident_type"] == "").all()


def test_schema_file_errors_name_the_key(tmp_path):
    path = _schema_with(tmp_path, lambda d: _column(d, "customers", "policy_state").update(encoding="onehot"))
    with pytest.raises(
        contract.SchemaFileError, match=r"tables\.customers\.columns\.policy_state\.encoding: must be one of"
    ):
        contract.load(path)
    assert (
        cli.main(
            [
                "schema",
                "check",
                "--schema",
                str(path),
                "--claims",
                str(SAMPLE / "claims.csv"),
                "--customers",
                str(SAMPLE / "customers.csv"),
            ]
        )
        == 2
    )


def test_default_schema_is_the_public_samples_vocabulary():
    c = contract.load()
    claims, customers = c.table("claims").by_name, c.table("customers").by_name
    assert claims["driver_relationship"].values == ("Self", "Spouse", "Child", "Other", "N/A")
    assert claims["collision_type"].values == ("Front", "Rear", "Side", "N/A")
    assert set(claims["authorities_contacted"].values) == {"None", "Police", "Ambulance", "Fire"}
    assert customers["customer_gender"].values == ("Male", "Female", "Other", "Unkown")
    assert [col.missing_values for col in claims.values()] == [("",)] * len(claims)


# -- mlgw schema infer / check -----------------------------------------------------------------


def test_infer_on_generated_data_reproduces_the_default_columns_and_types(tmp_path, capsys):
    synthetic.write(tmp_path, 2000, seed=4)
    out = tmp_path / "draft.json"
    assert (
        cli.main(
            [
                "schema",
                "infer",
                "--claims",
                str(tmp_path / "claims.csv"),
                "--customers",
                str(tmp_path / "customers.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    draft = contract.load(out)  # a valid schema as drafted
    default = contract.load()
    for table in ("claims", "customers"):
        got = [(c.name, c.type) for c in draft.table(table).columns]
        assert got == [(c.name, c.type) for c in default.table(table).columns]
        for column in default.table(table).columns:
            if column.type == "category":
                assert set(draft.table(table).by_name[column.name].values) == set(column.values)
    text = out.read_text()
    assert "counts: Self " in text  # categories come with their counts


def _wrong_type(claims, customers):
    claims = claims.astype({"num_injuries": "object"})
    claims.loc[4, "num_injuries"] = "several"
    return claims, customers


def _unknown_category(claims, customers):
    claims.loc[9, "incident_type"] = "Thief"
    return claims, customers


def _out_of_range(claims, customers):
    customers.loc[3, "customer_age"] = 130
    return claims, customers


def _missing_label(claims, customers):
    claims.loc[12, "fraud"] = pd.NA
    return claims, customers


def _duplicate_id(claims, customers):
    claims.loc[7, "policy_id"] = claims.loc[2, "policy_id"]
    return claims, customers


def _drop_column(claims, customers):
    return claims.drop(columns=["incident_severity"]), customers


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (_wrong_type, ["claims.csv", "column 'num_injuries'", "row 6", "'several'"]),
        (_unknown_category, ["claims.csv", "column 'incident_type'", "row 11", "'Thief'"]),
        (_out_of_range, ["customers.csv", "column 'customer_age'", "row 5", "'130'"]),
        (_missing_label, ["claims.csv", "column 'fraud'", "row 14", "missing label"]),
        (_duplicate_id, ["claims.csv", "column 'policy_id'", "row 9", "duplicate policy_id 3"]),
        (_drop_column, ["claims.csv", "header", "missing column(s) 'incident_severity'"]),
    ],
    ids=["wrong-type", "unknown-category", "out-of-range", "missing-label", "duplicate-id", "missing-column"],
)
def test_check_names_column_row_and_value(tmp_path, capsys, corrupt, expected):
    claims, customers = corrupt(*synthetic.generate(300, seed=11))
    claims.to_csv(tmp_path / "claims.csv", index=False)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    assert (
        cli.main(
            [
                "schema",
                "check",
                "--claims",
                str(tmp_path / "claims.csv"),
                "--customers",
                str(tmp_path / "customers.csv"),
            ]
        )
        == 1
    )
    out = capsys.readouterr().out
    for text in expected:
        assert text in out, out


def test_check_groups_every_problem_by_column_with_counts(tmp_path, capsys):
    claims, customers = synthetic.generate(300, seed=11)
    claims = claims.astype({"num_injuries": "object"})
    claims.loc[range(20, 40), "num_injuries"] = "x"
    claims.loc[[3, 5], "incident_type"] = "Flood"
    claims.to_csv(tmp_path / "claims.csv", index=False)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    cli.main(
        ["schema", "check", "--claims", str(tmp_path / "claims.csv"), "--customers", str(tmp_path / "customers.csv")]
    )
    out = capsys.readouterr().out
    assert "column 'incident_type': 2 row(s)" in out
    assert "column 'num_injuries': 20 row(s)" in out and "... and 15 more" in out
    assert "row 22: not an integer: 'x'" in out
    assert "22 problem(s)" in out


def test_models_command_prints_the_template_models(capsys):
    assert cli.main(["schema", "models"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert models["DirectPredictRequest"] == contract.load().direct_request_model()


# -- the schema ships with the code ------------------------------------------------------------


def test_processing_jobs_and_the_serving_code_ship_the_contract(localcloud, monkeypatch, tmp_path):
    """Every processing job gets the `processing` package (schema.json included) where its
    PYTHONPATH points, and the data contract as the `schema` input; the serving
    sourcedir.tar.gz holds contract.py and schema.json beside features.py. Staging follows
    SageMaker's S3Prefix rule: an object lands at LocalPath + the key after the prefix
    ("ProcessingS3Input", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingS3Input.html)."""
    import subprocess
    import sys
    import tarfile

    from localcloud.config import ACCOUNT_ID
    from pipelines.ml_gateway.run_pipeline import build

    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    bucket = f"sagemaker-us-east-1-{ACCOUNT_ID}"
    doc = json.loads(build("us-east-1", f"arn:aws:iam::{ACCOUNT_ID}:role/R", bucket, "MLGatewayPipeline").definition())
    assert any(p["Name"] == "SchemaUri" for p in doc["Parameters"])
    steps = {s["Name"]: s for s in doc["Steps"]}
    for name in ("Ingest", "FeatureStore", "BuildDataset", "Baseline"):
        args = steps[name]["Arguments"]
        inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
        assert "schema" in inputs and "--schema-dir" in args["AppSpecification"]["ContainerArguments"]
        source = inputs["source"]
        python_path = args["Environment"]["PYTHONPATH"]
        container = tmp_path / name  # the container's filesystem root
        localcloud.cloud.s3.download(source["S3Uri"], container / source["LocalPath"].lstrip("/"))
        root = container / python_path.lstrip("/")
        assert {"__init__.py", "contract.py", "features.py", "schema.json"} <= {
            p.name for p in (root / "processing").iterdir()
        }, name
    register = step_named(doc, "RegisterModel")
    env = register["Arguments"]["InferenceSpecification"]["Containers"][0]["Environment"]
    with tarfile.open(fileobj=io.BytesIO(localcloud.cloud.s3.read_bytes(env["SAGEMAKER_SUBMIT_DIRECTORY"]))) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "serving", filter="data")
    assert {"processing/contract.py", "processing/schema.json", "processing/features.py"} <= names
    check = (
        "import processing.contract as c, os; "
        "assert c.active().path.startswith(os.getcwd()), c.active().path; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path / "serving",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "serving")},
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_a_job_finds_the_schema_whatever_its_key(tmp_path):
    """SchemaUri may name any object: a job's schema folder holds schema.json or one JSON."""
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "my-contract.json").write_text(contract.DEFAULT_PATH.read_text())
    assert contract.schema_in(folder).name == "my-contract.json"
    assert contract.load(folder).model_features == contract.load().model_features
    (folder / "other.json").write_text("{}")
    with pytest.raises(contract.SchemaFileError, match="expected one schema file"):
        contract.schema_in(folder)
