"""Drift specs for replayed traffic, and a dataset made of several batches."""

from __future__ import annotations

import pytest

from mlgw.traffic import TrafficError, apply_drift
from processing import ingest, synthetic
from processing.job import JobError


def test_drift_scales_claims_consistently_and_sets_category_shares():
    claims, customers = synthetic.generate(2000, seed=5)
    drifted, drifted_customers = apply_drift(claims, customers, "total_claim_amount*1.4, policy_state=NV:0.5", 5)
    ratio = drifted["total_claim_amount"].sum() / claims["total_claim_amount"].sum()
    assert ratio == pytest.approx(1.4, rel=1e-3)
    parts = drifted["injury_claim"] + drifted["vehicle_claim"]
    assert (parts - drifted["total_claim_amount"]).abs().max() < 0.05
    share = (drifted_customers["policy_state"] == "NV").mean()
    assert 0.5 <= share <= 0.65  # half set to NV, plus the NV already there
    assert claims["total_claim_amount"].equals(synthetic.generate(2000, seed=5)[0]["total_claim_amount"])


@pytest.mark.parametrize(
    "spec, message",
    [
        ("fraud_rate*2", "not a numeric column"),
        ("policy_state=XX:0.5", "'XX' is not a value"),
        ("policy_state=NV:1.5", "share must be between 0 and 1"),
        ("total_claim_amount+3", "expected COLUMN*FACTOR"),
    ],
)
def test_bad_drift_specs_name_the_part(spec, message):
    claims, customers = synthetic.generate(50, seed=1)
    with pytest.raises(TrafficError, match=message.replace("*", r"\*").replace("+", r"\+")):
        apply_drift(claims, customers, spec, 1)


def test_batches_form_one_dataset_and_an_id_in_two_files_is_named(tmp_path):
    claims, _ = synthetic.generate(100, seed=2)
    folder = tmp_path / "claims"
    folder.mkdir()
    claims.iloc[:60].to_csv(folder / "claims-1.csv", index=False)
    claims.iloc[60:].to_csv(folder / "traffic-2.csv", index=False)
    assert len(ingest.read_all(str(folder), "claims")) == 100

    claims.iloc[55:65].to_csv(folder / "traffic-3.csv", index=False)
    with pytest.raises(JobError, match=r"policy_id 56 appears in more than one file \(claims-1.csv, traffic-3.csv\)"):
        ingest.read_all(str(folder), "claims")


def test_ingest_makes_the_accepted_input_the_only_current_data_and_refuses_a_changed_input(client, tmp_path):
    """Ingest's switch of the current dataset (the landing prefix retrains read): the staged
    objects replace every object there (an old batch included), and an input whose objects are
    not the files that were validated (an upload that landed during validation) switches
    nothing. CopyObject's x-amz-copy-source-if-match pins the version listed
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html)."""
    s3 = client("s3")
    s3.create_bucket(Bucket="data")
    for key in ("landing/claims/claims.csv", "landing/claims/traffic-1.csv"):
        s3.put_object(Bucket="data", Key=key, Body=b"old")
    s3.put_object(Bucket="data", Key="staging/x/claims/mine.csv", Body=b"policy_id\n1\n")
    local = tmp_path / "claims"
    local.mkdir()
    (local / "mine.csv").write_bytes(b"policy_id\n1\n")

    def current():
        return {
            o["Key"]: s3.get_object(Bucket="data", Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket="data", Prefix="landing/claims/").get("Contents", [])
        }

    s3.put_object(Bucket="data", Key="staging/x/claims/late.csv", Body=b"policy_id\n2\n")
    with pytest.raises(JobError, match=r"changed while they were validated.*unchanged"):
        ingest.plan_publish(s3, "claims", "s3://data/staging/x/claims/", "s3://data/landing/claims/", str(local))
    assert current() == {"landing/claims/claims.csv": b"old", "landing/claims/traffic-1.csv": b"old"}

    s3.delete_object(Bucket="data", Key="staging/x/claims/late.csv")
    plan = ingest.plan_publish(s3, "claims", "s3://data/staging/x/claims/", "s3://data/landing/claims/", str(local))
    assert ingest.apply_publish(s3, plan) == 1
    assert current() == {"landing/claims/mine.csv": b"policy_id\n1\n"}
    # A retrain reads the current prefix itself: nothing to switch.
    assert (
        ingest.plan_publish(s3, "claims", "s3://data/landing/claims/", "s3://data/landing/claims/", str(local)) is None
    )
