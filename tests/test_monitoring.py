"""Model Monitor: baseline files, capture reading, drift checks, the monitoring run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.monitor import capture_lines, capture_path, feature_frame, write_capture
from monitoring import baseline, drift, monitor
from monitoring.capture import read_capture
from processing.features import MODEL_FEATURES

HOUR = dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc)
WINDOW = 2_000  # records per monitoring window in the drift tests


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline made by the processing script from a training CSV (label first)."""
    root = tmp_path_factory.mktemp("baseline")
    train = root / "train"
    train.mkdir()
    frame = feature_frame(20_000, seed=1)
    frame.insert(0, "fraud", 0)
    frame.to_csv(train / "train.csv", index=False)
    out = root / "out"
    assert baseline.main(["--train-dir", str(train), "--output-dir", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def baseline_docs(baseline_dir: Path) -> tuple[dict, dict]:
    return monitor.load_baseline(baseline_dir)


def test_baseline_files_have_model_monitor_fields(baseline_dir: Path) -> None:
    stats = json.loads((baseline_dir / "statistics.json").read_text())
    constraints = json.loads((baseline_dir / "constraints.json").read_text())
    assert sorted(p.name for p in baseline_dir.iterdir()) == ["constraints.json", "statistics.json"]
    assert stats["dataset"]["item_count"] == 20_000
    assert [f["name"] for f in stats["features"]] == MODEL_FEATURES  # label ignored
    by_name = {f["name"]: f for f in stats["features"]}
    amount = by_name["total_claim_amount"]
    assert amount["inferred_type"] == "Fractional"
    num = amount["numerical_statistics"]
    assert num["common"]["num_missing"] > 0  # the generator blanks ~1.5 %
    assert num["common"]["num_present"] + num["common"]["num_missing"] == 20_000
    for key in ("mean", "sum", "std_deviation", "min", "max"):
        assert isinstance(num[key], float)
    kll = num["distribution"]["kll"]
    assert len(kll["buckets"]) == 10
    assert {"lower_bound", "upper_bound", "count"} <= set(kll["buckets"][0])
    assert sum(b["count"] for b in kll["buckets"]) == num["common"]["num_present"]
    assert set(kll["sketch"]["parameters"]) == {"c", "k"} and kll["sketch"]["data"][0]
    assert by_name["policy_state_ca"]["inferred_type"] == "Integral"

    assert set(constraints) == {"version", "features", "monitoring_config"}
    c = {f["name"]: f for f in constraints["features"]}
    assert c["total_claim_amount"]["completeness"] == pytest.approx(num["common"]["num_present"] / 20_000)
    assert c["total_claim_amount"]["num_constraints"]["is_non_negative"] is True
    assert c["policy_state_ca"]["completeness"] == 1.0
    config = constraints["monitoring_config"]
    assert config["evaluate_constraints"] == "Enabled"
    dist = config["distribution_constraints"]
    assert dist["comparison_threshold"] == 0.1 and dist["comparison_method"] == "Robust"
    assert dist["categorical_drift_method"] == "LInfinity"


def test_string_features_get_string_statistics_and_domains() -> None:
    frame = pd.DataFrame({"state": ["CA", "WA", "CA", None], "x": [1.0, -2.0, 3.5, np.nan]})
    stats = baseline.compute_statistics(frame)
    state = stats["features"][0]
    assert state["inferred_type"] == "String"
    assert state["string_statistics"]["common"] == {"num_present": 3, "num_missing": 1}
    assert state["string_statistics"]["distinct_count"] == 2
    constraints = baseline.suggest_constraints(stats)
    assert constraints["features"][0]["string_constraints"]["domains"] == ["CA", "WA"]
    assert constraints["features"][1]["num_constraints"]["is_non_negative"] is False

    current = baseline.compute_statistics(pd.DataFrame({"state": ["OR"] * 4, "x": [1.0] * 4}))
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in drift.check(current, stats, constraints)}
    assert ("state", "categorical_values_check") in checks
    assert ("state", "baseline_drift_check") in checks


def test_read_capture_json_csv_corrupt_and_truncated(tmp_path: Path) -> None:
    frame = feature_frame(40, seed=3)
    lines = capture_lines(frame, HOUR, csv_share=0.5)
    corrupt = '{"captureData": not json at all'
    truncated = lines[0][: len(lines[0]) // 2]
    path = capture_path(tmp_path, HOUR)
    path.parent.mkdir(parents=True)
    # The truncated line is last, with no newline: a capture file cut off by a crash.
    path.write_text("\n".join(lines[:20] + [corrupt] + lines[20:] + [truncated]))
    later = HOUR + dt.timedelta(hours=3)
    write_capture(tmp_path, feature_frame(5, seed=4), later)

    got, report = read_capture(tmp_path, HOUR, HOUR + dt.timedelta(hours=1))
    assert report.records == 40 and len(got) == 40
    assert report.skipped_lines == 2
    assert report.skipped_reasons == {"invalid_json": 1, "truncated_line": 1}
    assert list(got.columns) == MODEL_FEATURES
    np.testing.assert_allclose(got.to_numpy(), frame.to_numpy(), equal_nan=True)

    everything, report = read_capture(tmp_path)
    assert report.records == 45 and report.files == 2


def test_monitoring_run_flags_shifted_claim_amounts(tmp_path: Path, baseline_dir: Path) -> None:
    shifted = feature_frame(WINDOW, seed=7)
    shifted["total_claim_amount"] *= 1.4
    write_capture(tmp_path / "capture", shifted, HOUR)
    result = monitor.run_monitoring(
        tmp_path / "capture", baseline_dir, tmp_path / "out", HOUR, HOUR + dt.timedelta(hours=1)
    )
    drifted = {v["feature_name"] for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"}
    assert drifted == {"total_claim_amount"}
    written = json.loads(result.violations_path.read_text())
    assert written == {"violations": result.violations}
    assert json.loads(result.statistics_path.read_text())["dataset"]["item_count"] == WINDOW
    page = result.report_path.read_text()
    assert page.count("<svg") == len(MODEL_FEATURES) and "total_claim_amount" in page


def test_monitoring_run_reports_unknown_categories(tmp_path: Path, baseline_dir: Path) -> None:
    """The gateway scores a policy_state the data contract does not know as no category (all
    policy_state_* features 0); the drift check reports that column, and a window like the
    baseline reports nothing of the kind."""
    window = feature_frame(WINDOW, seed=9)
    states = [c for c in MODEL_FEATURES if c.startswith("policy_state_")]
    window.loc[: WINDOW // 4, states] = 0.0  # a quarter of requests from an unknown state
    write_capture(tmp_path / "capture", window, HOUR)
    result = monitor.run_monitoring(
        tmp_path / "capture", baseline_dir, tmp_path / "out", HOUR, HOUR + dt.timedelta(hours=1)
    )
    unknown = [v for v in result.violations if v["constraint_check_type"] == "categorical_values_check"]
    assert [v["feature_name"] for v in unknown] == ["policy_state"], result.violations
    assert "25.0" in unknown[0]["description"] and "no known 'policy_state' category" in unknown[0]["description"]
    write_capture(tmp_path / "same", feature_frame(WINDOW, seed=10), HOUR)
    same = monitor.run_monitoring(
        tmp_path / "same", baseline_dir, tmp_path / "out2", HOUR, HOUR + dt.timedelta(hours=1)
    )
    assert not [v for v in same.violations if v["constraint_check_type"] == "categorical_values_check"]


def test_policy_state_mix_drifts(baseline_docs: tuple[dict, dict]) -> None:
    stats, constraints = baseline_docs
    frame = feature_frame(WINDOW, seed=8)
    states = [c for c in MODEL_FEATURES if c.startswith("policy_state_")]
    pick = np.random.default_rng(0).choice(len(states), WINDOW, p=[0.1, 0.1, 0.1, 0.1, 0.3, 0.3])
    frame[states] = np.eye(len(states))[pick]
    violations = drift.check(baseline.compute_statistics(frame), stats, constraints)
    drifted = {v["feature_name"] for v in violations}
    assert {"policy_state_ca", "policy_state_nv", "policy_state_id"} <= drifted
    assert drifted <= set(states)


def test_same_distribution_gives_no_violations_across_20_seeds(baseline_docs: tuple[dict, dict]) -> None:
    stats, constraints = baseline_docs
    flagged = [
        seed
        for seed in range(100, 120)
        if drift.check(baseline.compute_statistics(feature_frame(WINDOW, seed)), stats, constraints)
    ]
    # measured false-positive rate: 0 of 20 windows of 2,000 records
    assert flagged == []


def test_completeness_type_and_column_checks(baseline_docs: tuple[dict, dict]) -> None:
    stats, constraints = baseline_docs
    frame = feature_frame(WINDOW, seed=9).drop(columns=["auto_year"])
    frame["not_a_feature"] = 1.0
    frame.loc[: WINDOW // 4, "customer_age"] = np.nan
    frame["incident_hour"] += 0.5
    checks = {
        (v["feature_name"], v["constraint_check_type"])
        for v in drift.check(baseline.compute_statistics(frame), stats, constraints)
    }
    assert checks == {
        ("auto_year", "missing_column_check"),
        ("not_a_feature", "extra_column_check"),
        ("customer_age", "completeness_check"),
        ("incident_hour", "data_type_check"),
    }


def test_no_data_and_missing_baseline(tmp_path: Path, baseline_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_capture(tmp_path / "capture", feature_frame(10, seed=5), HOUR)
    out = tmp_path / "out"
    with pytest.raises(monitor.NoDataError, match="no captured records") as raised:
        monitor.run_monitoring(
            tmp_path / "capture", baseline_dir, out, HOUR + dt.timedelta(days=1), HOUR + dt.timedelta(days=2)
        )
    assert str(tmp_path) not in str(raised.value)  # no scratch path, a readable window
    assert monitor.window_text(None, HOUR) == f"everything captured up to {HOUR:%Y-%m-%d %H}:00:00 UTC"
    assert "inf" not in monitor.window_text(HOUR, None) + monitor.window_text(None, None)
    assert not out.exists()
    with pytest.raises(monitor.BaselineMissingError, match=str(tmp_path / "nope")):
        monitor.run_monitoring(tmp_path / "capture", tmp_path / "nope", out)

    args = ["--capture-root", str(tmp_path / "capture"), "--baseline-dir", str(baseline_dir), "--output-dir", str(out)]
    assert monitor.main(args + ["--start", "2027-01-01T00:00:00Z"]) == 1
    assert "no captured records" in capsys.readouterr().err
    assert monitor.main(args) == 0
    assert capsys.readouterr().out.startswith("monitored 10 records")
    assert sorted(p.name for p in out.iterdir()) == ["constraint_violations.json", "report.html", "statistics.json"]


def test_warm_up_is_left_out_and_completeness_is_per_raw_field(tmp_path: Path, baseline_dir: Path) -> None:
    """Deploy's warm-up requests carry InvokeEndpoint's InferenceId, which SageMaker writes to
    the capture as eventMetadata.inferenceId ("Capture data from real-time endpoint",
    model-monitor-data-capture-endpoint.html): the drift check leaves them out. A request
    without some raw fields (the README's two-field snippet) reads as those raw fields
    missing: one completeness_check per field of processing/schema.json, never one per
    one-hot column (Model Monitor's check name is kept); a raw label counts as present."""
    import io

    from localcloud.sagemaker.capture import Capture, CaptureWriter
    from processing import deploy

    (tmp_path / "capture").mkdir()
    capture = Capture.from_config(deploy.capture_config("s3://capture/dc"))
    # the capture's objects as files of a local folder (s3://capture/dc/... -> tmp_path/capture/dc/...)
    writer = CaptureWriter(lambda uri: _open_appending(tmp_path / uri.removeprefix("s3://")))

    class Runtime:  # writes what localcloud's endpoint writes for each call
        def invoke_endpoint(self, **kw):
            writer.write(
                capture,
                kw["EndpointName"],
                kw["TargetVariant"],
                kw["Body"].encode(),
                kw["ContentType"],
                b'{"predictions": []}',
                "application/json",
                kw.get("InferenceId"),
            )
            return {"Body": io.BytesIO(b"{}")}

    deploy.warm(Runtime(), "fraud-endpoint", ["v1", "v2"])
    writer.close()
    now = dt.datetime.now(dt.timezone.utc)
    partial = [
        json.dumps(
            {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "application/json",
                        "mode": "INPUT",
                        "encoding": "JSON",
                        "data": json.dumps(
                            {
                                "instances": [
                                    {"incident_severity": "Major", "policy_state": "CA", "total_claim_amount": 50000}
                                ]
                            }
                        ),
                    }
                },
                "eventMetadata": {"eventId": f"p{i}", "inferenceTime": f"{now:%Y-%m-%dT%H:%M:%SZ}"},
                "eventVersion": "0",
            }
        )
        for i in range(20)
    ]
    root = tmp_path / "capture" / "dc"
    write_capture(root, feature_frame(200, seed=11), now, extra_lines=partial)

    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1)
    result = monitor.run_monitoring(root, baseline_dir, tmp_path / "out", start, end)
    assert result.report.warm_up == 10 and result.report.records == 220
    incomplete = {v["feature_name"] for v in result.violations if v["constraint_check_type"] == "completeness_check"}
    fields = monitor._raw_fields()
    # raw labels are read as the model server encodes them: "Major" is incident_severity 1
    assert incomplete == set(fields) - {"incident_severity", "total_claim_amount", "policy_state"}
    assert "driver_relationship" in incomplete and "driver_relationship_self" not in incomplete
    assert "warm-up requests left out:\n10" in result.report_path.read_text()

    # the same window without the partial requests: nothing incomplete
    write_capture(tmp_path / "clean", feature_frame(200, seed=11), now)
    clean = monitor.run_monitoring(tmp_path / "clean", baseline_dir, tmp_path / "out2", start, end)
    assert not [v for v in clean.violations if v["constraint_check_type"] == "completeness_check"]


def _open_appending(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", encoding="utf-8")
