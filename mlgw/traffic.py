"""`mlgw traffic`: replay new claims through the ML Gateway, optionally drifted.

The claims are the user's held-out rows (files of policies not in the current dataset) or, when
the run configuration's data source is synthetic, generated policies; never synthetic rows
beside the user's data. Each new policy is sent to the gateway's Lambda handler as an API
Gateway proxy event with its raw claim and customer records (the gateway stores them in the
Feature Store and scores them; the endpoint captures the request for Model Monitor). The
labelled batch is then added to the current dataset, as ground truth arriving later would be,
so a retrain learns from it.

Drift specs (comma-separated):
  COLUMN*FACTOR        scale a money column, e.g. total_claim_amount*1.4 (claim parts follow)
  COLUMN=VALUE:SHARE   set a share of rows to a category, e.g. policy_state=NV:0.5
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from localcloud.config import Config

_SCALE = re.compile(r"^(?P<column>[a-z_]+)\*(?P<factor>[0-9.]+)$")
_SHARE = re.compile(r"^(?P<column>[a-z_]+)=(?P<value>[^:]+):(?P<share>[0-9.]+)$")
CLAIM_PARTS = ("injury_claim", "vehicle_claim")


class TrafficError(ValueError):
    """A drift spec or setting that cannot be used; the message says which part."""


@dataclass
class TrafficSummary:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    variants: Counter = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)
    seconds: float = 0.0
    first_policy_id: int = 0
    errors: list[str] = field(default_factory=list)
    batch_added: bool = False


def apply_drift(claims, customers, spec: str | None, seed: int):
    """The frames with the spec's shifts applied (copies)."""
    from processing.schema import CLAIMS_COLUMNS, CUSTOMERS_COLUMNS

    claims, customers = claims.copy(), customers.copy()
    rng = np.random.default_rng(seed)
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        if m := _SCALE.match(part):
            column, factor = m["column"], float(m["factor"])
            frame = claims if column in CLAIMS_COLUMNS else customers if column in CUSTOMERS_COLUMNS else None
            if frame is None or frame[column].dtype.kind not in "fiu":
                raise TrafficError(f"drift {part!r}: {column} is not a numeric column of the raw schema")
            columns = [column, *CLAIM_PARTS] if column == "total_claim_amount" else [column]
            for name in columns:
                frame[name] = (
                    (frame[name] * factor).round(2)
                    if frame[name].dtype.kind == "f"
                    else (frame[name] * factor).round().astype(frame[name].dtype)
                )
        elif m := _SHARE.match(part):
            column, value, share = m["column"], m["value"], float(m["share"])
            spec_ = CLAIMS_COLUMNS.get(column) or CUSTOMERS_COLUMNS.get(column)
            if spec_ is None or spec_.kind != "category" or value not in (spec_.categories or ()):
                raise TrafficError(f"drift {part!r}: {value!r} is not a value of category column {column}")
            if not 0 <= share <= 1:
                raise TrafficError(f"drift {part!r}: share must be between 0 and 1")
            frame = claims if column in CLAIMS_COLUMNS else customers
            chosen = rng.random(len(frame)) < share
            frame.loc[chosen, column] = value
        else:
            raise TrafficError(f"drift {part!r}: expected COLUMN*FACTOR or COLUMN=VALUE:SHARE")
    return claims, customers


def _clean(row: dict) -> dict:
    """A raw record as a client would send it: plain JSON values, an empty cell as null (an
    empty category is information — "no collision" — not an absent field)."""
    out: dict = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
            out[key] = None
        else:
            out[key] = value.item() if hasattr(value, "item") else value
    return out


def check_contract(drift: str, claims, customers) -> None:
    """TrafficError when the drifted rows break the data contract (a value out of its declared
    range, say): the gateway's request model would refuse those requests (400) and Ingest the
    batch, so a retrain would fail on it. Checked with Ingest's own reader (processing.schema)."""
    import tempfile
    from pathlib import Path

    from processing.schema import SchemaError, read_raw

    tables: tuple[tuple[Literal["claims", "customers"], Any], ...] = (("claims", claims), ("customers", customers))
    with tempfile.TemporaryDirectory(prefix="mlgw-traffic-") as folder:
        for table, frame in tables:
            path = Path(folder) / f"{table}.csv"
            frame.to_csv(path, index=False)
            try:
                read_raw(path, table)
            except SchemaError as exc:
                raise TrafficError(
                    f"--drift {drift!r} makes values the data contract refuses (the gateway would answer 400 "
                    f"and Ingest refuse the batch): {exc}"
                ) from None


def current_policy_ids(config: Config, s3) -> set[int]:
    """Every policy_id of the current dataset's claims."""
    from mlgw.local_run import LANDING, default_bucket

    bucket, ids = default_bucket(config), set[int]()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{LANDING}/claims/")
    for obj in (o for page in pages for o in page.get("Contents", [])):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        ids.update(int(i) for i in pd.read_csv(io.BytesIO(body), usecols=["policy_id"])["policy_id"].dropna())
    return ids


def held_out(config: Config, s3, claims: str, customers: str, policies: int | None):
    """(claims, customers) frames of the user's held-out rows to replay, validated against the
    active contract (SchemaError names the file, column and row); at most `policies` of them.
    TrafficError when a policy is already in the current dataset (a replay must be policies the
    model has not seen) or a claim has no customer row."""
    from processing.schema import read_raw

    claim_rows, customer_rows = read_raw(claims, "claims"), read_raw(customers, "customers")
    if policies is not None:
        claim_rows = claim_rows.head(policies)
    missing = set(claim_rows["policy_id"]) - set(customer_rows["policy_id"])
    if missing:
        raise TrafficError(
            f"{customers}: no customer row for policy_id {sorted(int(i) for i in missing)[:5]} of {claims}"
        )
    customer_rows = customer_rows[customer_rows["policy_id"].isin(set(claim_rows["policy_id"]))]
    seen = sorted(set(int(i) for i in claim_rows["policy_id"]) & current_policy_ids(config, s3))
    if seen:
        raise TrafficError(
            f"{claims}: {len(seen):,} policies are already in the current dataset (policy_id {seen[:5]}): "
            "replay held-out rows, policies the model has not seen"
        )
    return claim_rows.reset_index(drop=True), customer_rows.reset_index(drop=True)


def replay(
    config: Config,
    *,
    policies: int | None,
    seed: int,
    drift: str | None,
    endpoint_name: str,
    concurrency: int = 4,
    out=None,
    claims: str | None = None,
    customers: str | None = None,
) -> TrafficSummary:
    """Send policies through the gateway's handler, in the run configuration's contract and
    feature groups, then add the labelled batch to the current dataset if every request was
    answered. The policies are the user's held-out rows (`claims`/`customers` files) or, when
    the configuration's data source is synthetic, `policies` generated ones (default 1000).
    TrafficError when the configuration trains on the user's files and no held-out rows are
    given: synthetic rows never go into a real dataset."""
    import boto3

    from mlgw import local_run, run_config
    from processing import contract

    os.environ.update(config.client_env())
    s3 = boto3.client("s3")
    run_cfg = local_run.current_config(config, s3)
    # The handler reads the function's environment as Lambda gives it; set for this replay only.
    env = {
        "ENDPOINT_NAME": endpoint_name,
        contract.ENV: "",
        **run_config.function_environment(s3, run_cfg, config.home / "schemas"),
    }
    with _environment(env):
        return _replay(config, s3, run_cfg, policies, seed, drift, concurrency, out or sys.stdout, claims, customers)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set, restored afterwards (the process may replay again, or run
    other work, with another configuration)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _replay(config, s3, run_cfg, policies, seed, drift, concurrency, out, claims, customers) -> TrafficSummary:
    from inference.gateway_handler import handler
    from mlgw import run_config
    from mlgw.local_run import add_batch
    from processing import synthetic

    if claims is not None and customers is not None:
        claims_frame, customers_frame = held_out(config, s3, claims, customers, policies)
        origin = f"held-out rows of {claims}"
    elif run_cfg.source.kind != run_config.SYNTHETIC:
        raise TrafficError(
            f"the run configuration trains on your files ({run_cfg.source.claims_file}); synthetic policies "
            "would mix into your dataset. Give held-out rows to replay: --claims HELD_OUT_CLAIMS.csv "
            "--customers HELD_OUT_CUSTOMERS.csv (policies not in the current dataset)"
        )
    else:
        count = policies or 1000
        claims_frame, customers_frame = synthetic.generate(count, seed=seed)
        first = max(current_policy_ids(config, s3), default=0) + 1
        claims_frame["policy_id"] += first - 1
        customers_frame["policy_id"] += first - 1
        origin = "new synthetic policies"
    sent_claims, sent_customers = apply_drift(claims_frame, customers_frame, drift, seed)
    if drift:
        check_contract(drift, sent_claims, sent_customers)
    first = int(sent_claims["policy_id"].min())
    policies = len(sent_claims)
    summary = TrafficSummary(first_policy_id=first)
    customer_rows = {int(r["policy_id"]): _clean(r) for r in sent_customers.to_dict("records")}

    def send(claim_row: dict) -> dict:
        claim = _clean(claim_row)
        policy_id = int(claim.pop("policy_id"))
        claim.pop("fraud", None)  # the label is not known when a claim is filed
        customer = dict(customer_rows[policy_id])
        customer.pop("policy_id", None)
        body = {"policy_id": policy_id, "claim": claim, "customer": customer}
        event = {
            "httpMethod": "POST",
            "path": "/v1/predict",
            "headers": {"content-type": "application/json"},
            "body": json.dumps(body),
            "requestContext": {"requestId": f"traffic-{policy_id}"},
        }
        return handler(event, None)

    started = time.perf_counter()
    print(
        f"replaying {policies:,} {origin} (ids from {first:,})"
        + (f" with drift {drift}" if drift else "")
        + f" through the gateway → {os.environ['ENDPOINT_NAME']}",
        file=out,
        flush=True,
    )
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for response in pool.map(send, sent_claims.to_dict("records")):
            summary.requests += 1
            summary.statuses[response["statusCode"]] += 1
            payload = json.loads(response["body"])
            if response["statusCode"] == 200:
                summary.variants[payload.get("variant")] += 1
                summary.scores.append(payload["fraud_probability"])
            elif len(summary.errors) < 5:
                summary.errors.append(f"{response['statusCode']}: {payload.get('message')}")
    summary.seconds = time.perf_counter() - started
    # Ground truth joins the dataset only for a batch the gateway answered in full: a failed
    # request's policy is not in the feature store as the batch says it is.
    summary.batch_added = summary.statuses.get(200, 0) == summary.requests
    if summary.batch_added:
        add_batch(config, s3, sent_claims, sent_customers, label="traffic")
    return summary


def print_summary(summary: TrafficSummary, out=None) -> None:
    out = out or sys.stdout
    ok = summary.statuses.get(200, 0)
    rate = summary.requests / summary.seconds if summary.seconds else 0.0
    print(
        f"{summary.requests:,} requests in {summary.seconds:.1f} s ({rate:,.0f}/s): "
        f"{ok:,} answered" + (f", {summary.requests - ok:,} failed" if ok < summary.requests else ""),
        file=out,
    )
    if summary.scores:
        print(
            f"mean fraud probability {float(np.mean(summary.scores)):.4f}; variants "
            + ", ".join(f"{v} {n:,}" for v, n in summary.variants.most_common()),
            file=out,
        )
    for error in summary.errors:
        print(f"  {error}", file=out)
    if summary.batch_added:
        print("the labelled batch was added to the current dataset (a retrain will learn from it)", file=out)
    else:
        print("the batch was NOT added to the current dataset: not every request was answered", file=out)
