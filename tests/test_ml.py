"""ML side: raw schema validation, synthetic data, feature encoding, training and evaluation."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from processing import features, schema, synthetic
from processing.features import FeatureError, encode_record
from processing.schema import SchemaError, read_raw

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    synthetic.write(out, 1000, seed=1)
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _set_cell(lines: list[str], column: str, data_row: int, value: str) -> list[str]:
    """Replace one cell; data_row is the spreadsheet row (header = 1)."""
    header = lines[0].split(",")
    cells = lines[data_row - 1].split(",")
    cells[header.index(column)] = value
    return lines[: data_row - 1] + [",".join(cells)] + lines[data_row:]


def _drop_column(lines: list[str], column: str) -> list[str]:
    i = lines[0].split(",").index(column)
    return [",".join(c for j, c in enumerate(line.split(",")) if j != i) for line in lines]


# --- schema / synthetic ---


def test_generated_data_round_trips(raw_dir: Path) -> None:
    claims, customers = synthetic.generate(1000, seed=1)
    pd.testing.assert_frame_equal(read_raw(raw_dir / "claims.csv", "claims"), claims)
    pd.testing.assert_frame_equal(read_raw(raw_dir / "customers.csv", "customers"), customers)
    schema.check_join(claims, customers)
    assert 0.01 < claims["fraud"].mean() < 0.06
    # The sample's labels for "no category" are values; empty cells are missing values.
    assert (claims["collision_type"] == "N/A").any() and claims["injury_claim"].isna().any()
    assert (claims["authorities_contacted"] == "None").any()
    both = claims[["injury_claim", "vehicle_claim", "total_claim_amount"]].dropna()
    assert ((both.injury_claim + both.vehicle_claim - both.total_claim_amount).abs() < 0.02).all()


def test_generate_is_seeded() -> None:
    a, _ = synthetic.generate(200, seed=7)
    b, _ = synthetic.generate(200, seed=7)
    c, _ = synthetic.generate(200, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_cli_help() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "processing.synthetic", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0 and "--policies" in r.stdout


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda ls: _drop_column(ls, "num_injuries"), "missing column(s) 'num_injuries'"),
        (lambda ls: [ls[0] + ",extra"] + [line + ",1" for line in ls[1:]], "unexpected column(s) 'extra'"),
        (lambda ls: _set_cell(ls, "num_injuries", 4, "abc"), "column 'num_injuries' row 4: not an integer: 'abc'"),
        (
            lambda ls: _set_cell(ls, "incident_type", 17, "Thief"),
            "column 'incident_type' row 17: unknown value 'Thief' (expected one of Collision, Break-in, Theft)",
        ),
        (
            lambda ls: _set_cell(ls, "num_vehicles_involved", 3, "9"),
            "column 'num_vehicles_involved' row 3: out of range: '9' (expected 1..6)",
        ),
        (
            lambda ls: _set_cell(ls, "policy_id", 9, ls[1].split(",")[0]),
            "column 'policy_id' row 9: duplicate policy_id 1 (also in row 2)",
        ),
        (lambda ls: _set_cell(ls, "fraud", 5, ""), "column 'fraud' row 5: missing label"),
        (lambda ls: ls[:1], "no data rows (header only)"),
        (lambda ls: [], "file is empty"),
    ],
)
def test_bad_claims_are_named(raw_dir: Path, tmp_path: Path, mutate, expected: str) -> None:
    bad = tmp_path / "claims.csv"
    lines = mutate(_lines(raw_dir / "claims.csv"))
    bad.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(SchemaError) as info:
        read_raw(bad, "claims")
    assert str(info.value).startswith("claims.csv: ")
    assert expected in str(info.value)


def test_many_problems_are_summarised(raw_dir: Path, tmp_path: Path) -> None:
    lines = _lines(raw_dir / "claims.csv")
    for row in range(2, 12):
        lines = _set_cell(lines, "incident_hour", row, "25")
    with pytest.raises(SchemaError, match=r"row 6: out of range.*\.\.\. and 5 more$"):
        read_raw(_write(tmp_path / "claims.csv", lines), "claims")


def test_missing_file_and_join(raw_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="claims.csv: file not found"):
        read_raw(tmp_path / "claims.csv", "claims")
    claims = read_raw(raw_dir / "claims.csv", "claims")
    customers = read_raw(raw_dir / "customers.csv", "customers")
    with pytest.raises(SchemaError, match="policy_id 1, 2"):
        schema.check_join(claims, customers[customers.policy_id > 2])


# --- features ---


def test_feature_names() -> None:
    assert features.MODEL_FEATURES == features.CLAIMS_FEATURES + features.CUSTOMERS_FEATURES
    assert len(set(features.MODEL_FEATURES)) == len(features.MODEL_FEATURES)
    assert all(pd.Series(features.MODEL_FEATURES).str.fullmatch(r"[a-z0-9_]+"))
    assert "incident_type_break_in" in features.CLAIMS_FEATURES
    assert "collision_type_front" in features.CLAIMS_FEATURES


def test_encode_record_matches_pandas_path(raw_dir: Path) -> None:
    claims = read_raw(raw_dir / "claims.csv", "claims")
    customers = read_raw(raw_dir / "customers.csv", "customers")
    bulk = features.encode_claims(claims).merge(features.encode_customers(customers), on="policy_id")
    assert list(bulk.columns) == (["policy_id"] + features.CLAIMS_FEATURES + ["fraud"] + features.CUSTOMERS_FEATURES)
    assert bulk["policy_id"].dtype == "int64" and bulk["fraud"].dtype == "int64"
    # Per request, from the CSV strings exactly as a client would send them.
    raw_claims = pd.read_csv(raw_dir / "claims.csv", dtype=str, keep_default_na=False)
    raw_customers = pd.read_csv(raw_dir / "customers.csv", dtype=str, keep_default_na=False)
    records = [a | b for a, b in zip(raw_claims.to_dict("records"), raw_customers.to_dict("records"))]
    bulk_rows = bulk[features.MODEL_FEATURES].to_dict("records")
    for record, expected in zip(records, bulk_rows, strict=True):
        expected = {k: v for k, v in expected.items() if not math.isnan(v)}
        assert encode_record(record) == expected
        # An already-encoded Feature Store record (strings) gives the same features back.
        assert encode_record({k: str(v) for k, v in expected.items()}) == expected


def test_encode_record_details() -> None:
    assert encode_record({"collision_type": ""}) == {
        "collision_type_front": 0.0,
        "collision_type_rear": 0.0,
        "collision_type_side": 0.0,
        "collision_type_n_a": 0.0,
    }
    assert encode_record({"collision_type": "N/A"})["collision_type_n_a"] == 1.0
    assert encode_record(
        {"incident_severity": "Totaled", "num_injuries": 2, "policy_id": "5", "fraud": "1", "customer_zip": "90001"}
    ) == {"incident_severity": 2.0, "num_injuries": 2.0}
    assert encode_record({"injury_claim": ""}) == {}
    with pytest.raises(FeatureError, match="unknown field 'colour'"):
        encode_record({"colour": "red"})
    with pytest.raises(FeatureError, match=r"field 'incident_type': unknown value 'Thief'"):
        encode_record({"incident_type": "Thief"})
    with pytest.raises(FeatureError, match=r"field 'customer_education': unknown value 'PhD'"):
        encode_record({"customer_education": "PhD"})
    with pytest.raises(FeatureError, match="field 'num_injuries': not a number: 'abc'"):
        encode_record({"num_injuries": "abc"})
    with pytest.raises(FeatureError, match=r"field 'num_injuries': out of range: 9 \(expected 0..4\)"):
        encode_record({"num_injuries": 9})
    with pytest.raises(FeatureError, match="field 'policy_state': not a category label"):
        encode_record({"policy_state": 7})


def test_encode_record_unknown_category_is_no_category_when_asked() -> None:
    """Serving: an unknown category is encoded like a missing one and reported, not refused."""
    unknown: list = []
    got = encode_record({"policy_state": "UT", "customer_education": "PhD", "customer_age": 30}, unknown=unknown)
    assert unknown == [("policy_state", "UT"), ("customer_education", "PhD")]
    assert got == {**encode_record({"policy_state": ""}), "customer_age": 30.0}


def test_features_module_imports_stdlib_only() -> None:
    code = "import sys; import processing.features; bad = {'pandas', 'numpy'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- training and evaluation ---


def _split_to_csv(tmp_path: Path, policies: int, seed: int) -> dict[str, Path]:
    from sklearn.model_selection import train_test_split

    claims, customers = synthetic.generate(policies, seed)
    data = features.encode_claims(claims).merge(features.encode_customers(customers), on="policy_id")
    data = data[["fraud"] + features.MODEL_FEATURES]
    train, rest = train_test_split(data, test_size=0.4, stratify=data.fraud, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest.fraud, random_state=seed)
    dirs = {}
    for name, part in (("train", train), ("validation", val), ("test", test)):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        part.to_csv(dirs[name] / f"{name}.csv", index=False)
    return dirs


def _run_train(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "training" / "train.py"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_train_and_evaluate(tmp_path: Path) -> None:
    dirs = _split_to_csv(tmp_path, 3000, seed=3)
    model_dir = tmp_path / "model"
    env = {
        "SM_CHANNEL_TRAIN": str(dirs["train"]),
        "SM_CHANNEL_VALIDATION": str(dirs["validation"]),
        "SM_MODEL_DIR": str(model_dir),
        "SM_FAILURE_FILE": str(tmp_path / "failure"),
    }
    r = _run_train(env, "--num_round", "60", "--nthread", "2")
    assert r.returncode == 0, r.stderr
    assert "validation-auc:" in r.stdout + r.stderr
    meta = json.loads((model_dir / "features.json").read_text())
    assert meta["features"] == features.MODEL_FEATURES and meta["label"] == "fraud"
    assert (model_dir / "xgboost-model").read_bytes().startswith(b"{")  # JSON format

    packaged = tmp_path / "packaged"
    packaged.mkdir()
    with tarfile.open(packaged / "model.tar.gz", "w:gz") as tar:
        for name in ("xgboost-model", "features.json"):
            tar.add(model_dir / name, arcname=name)
    from processing import evaluate

    out = tmp_path / "evaluation"
    assert evaluate.main(["--model-dir", str(packaged), "--test-dir", str(dirs["test"]), "--output-dir", str(out)]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    metrics = report["binary_classification_metrics"]
    assert metrics["auc"]["value"] >= 0.75, metrics
    assert report["test_rows"] == 600 and report["positives"] > 0
    cm = metrics["confusion_matrix"]
    assert cm["0"]["0"] + cm["0"]["1"] + cm["1"]["0"] + cm["1"]["1"] == 600


def test_train_errors_are_clear(tmp_path: Path, monkeypatch, capsys) -> None:
    # In-process (train.main) to keep the suite fast; the subprocess run is covered above.
    from training import train

    failure = tmp_path / "failure"
    monkeypatch.setenv("SM_FAILURE_FILE", str(failure))

    def run(train_dir: Path, val_dir: Path) -> str:
        with pytest.raises(SystemExit) as info:
            train.main(
                ["--train", str(train_dir), "--validation", str(val_dir), "--model-dir", str(tmp_path / "model")]
            )
        assert info.value.code == 1
        assert failure.read_text() in capsys.readouterr().err  # same message on stderr
        return failure.read_text()

    assert "channel 'train': directory not found" in run(tmp_path / "nope", tmp_path)

    one_class = tmp_path / "one"
    one_class.mkdir()
    _write(one_class / "a.csv", ["fraud,x", "0,1.0", "0,2.0"])
    assert "only one class" in run(one_class, one_class)
    monkeypatch.delenv("SM_CHANNEL_VALIDATION", raising=False)
    with pytest.raises(SystemExit):
        train.main(["--train", str(one_class), "--model-dir", str(tmp_path / "model")])
    assert "channel 'validation' is missing" in failure.read_text()

    no_label = tmp_path / "nolabel"
    no_label.mkdir()
    _write(no_label / "a.csv", ["x,y", "0,1.0"])
    assert "label column 'fraud' missing" in run(no_label, no_label)

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.csv").write_text("")
    assert "channel 'train': no data rows" in run(empty, empty)


def test_evaluate_missing_model(tmp_path: Path, monkeypatch) -> None:
    from processing import evaluate

    monkeypatch.setenv("SM_FAILURE_FILE", str(tmp_path / "failure"))
    assert (
        evaluate.main(
            ["--model-dir", str(tmp_path), "--test-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
        )
        == 1
    )
    assert "no xgboost-model" in (tmp_path / "failure").read_text()
