"""Fuzzing every localcloud API family with botocore-shaped but invalid requests: never a 5xx.

A client's mistake is a 4xx with AWS's error code, never a 500 with a traceback (issue 24, "Done
when"). Each family gets a few hundred requests, built from botocore's model of the operations
localcloud serves: every member a value of the right shape but out of range, empty, too long,
of the wrong type, a NextToken localcloud never issued, an S3 key with odd segments, sent by a
real boto3 client (parameter validation off, so the server sees them) over HTTP.
"""

from __future__ import annotations

import math
import random
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, ReadTimeoutError

from localcloud.iam.responses import ACTIONS as IAM_ACTIONS
from localcloud.services import JSON_SERVICES, json_api

REQUESTS_PER_FAMILY = 300
BUCKET = "fuzz-bucket"
STRINGS = [
    "",
    " ",
    "x" * 3000,
    "\x00",
    "\t\n",
    "../../../etc/passwd",
    "$\\frac{$",
    "é😀",
    "a//b/./c/../",
    "-1",
    "null",
    "{",
    "*",
    "arn:aws:iam::000000000000:role/nope",
    "arn:aws:sagemaker:us-east-1:000000000000:endpoint/nope",
    "s3://../x",
    "s3://fuzz-bucket/../../x",
    "s3://fuzz-bucket/d/",
    "AAAA",
    "eyJub3QiOiAib3VycyJ9",
    "Ascending",
]
KEYS = ["d", "d/e", "m/", "m/n", "p/q/", "p/q", "a//b", "./x", "../y", "/", "k" * 1024, "é/ü", "%2F", ".mlgw-tmp-x"]
INTS = [-1, 0, 1, 2**31, 2**63 - 1, -(2**63)]
FLOATS = [-1.0, 0.0, 1e308, -1e308, math.inf, math.nan]
WRONG_TYPES: list[Any] = ["a string", 7, 1.5, True, [], {}]


def _value(shape: Any, rng: random.Random, depth: int = 0, name: str = "") -> Any:
    if rng.random() < 0.06:  # the wrong type altogether
        return rng.choice(WRONG_TYPES)
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return {}
        required = set(shape.required_members)
        return {
            member: _value(sub, rng, depth + 1, member)
            for member, sub in shape.members.items()
            if member in required or rng.random() < 0.5
        }
    if kind == "list":
        return [_value(shape.member, rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 3]))]
    if kind == "map":
        return {rng.choice(STRINGS) or "k": _value(shape.value, rng, depth + 1) for _ in range(rng.choice([0, 1, 2]))}
    if kind == "string":
        if name == "Key":
            return rng.choice(KEYS)
        if name == "Bucket":
            return rng.choice([BUCKET, BUCKET, "no-such-bucket", "Bad_Name", "ab", "../x"])
        if shape.enum and rng.random() < 0.5:
            return rng.choice(shape.enum)
        return rng.choice(STRINGS)
    if kind in ("integer", "long"):
        return rng.choice(INTS)
    if kind in ("float", "double"):
        return rng.choice(FLOATS)
    if kind == "boolean":
        return rng.choice([True, False])
    if kind == "timestamp":
        return rng.choice([0, -1, 253402300800, 1e12, "not a time"])
    if kind == "blob":
        return rng.choice([b"", b"\x00" * 16, b"{not json", "text"])
    return None


def _operations(family: str) -> list[str]:
    """The operations localcloud serves for a boto3 service name."""
    if family in JSON_SERVICES:
        return sorted(json_api(family).operations)
    if family == "s3":
        from localcloud.s3.responses import _routes

        return sorted({route.operation for route in _routes()})
    if family == "iam":
        return sorted(IAM_ACTIONS)
    return {
        "sts": ["AssumeRole", "GetCallerIdentity"],
        "sagemaker-runtime": ["InvokeEndpoint"],
        "sagemaker-featurestore-runtime": ["BatchGetRecord", "DeleteRecord", "GetRecord", "PutRecord"],
    }[family]


FAMILIES = [*JSON_SERVICES, "s3", "iam", "sts", "sagemaker-runtime", "sagemaker-featurestore-runtime"]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_invalid_requests_never_get_a_5xx(localcloud, family):
    localcloud.cloud.s3.create_bucket(BUCKET)
    for key in KEYS:
        localcloud.cloud.s3.put_object(BUCKET, key, key.encode())
    client = boto3.client(
        family,
        endpoint_url=localcloud.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(parameter_validation=False, retries={"max_attempts": 1}, read_timeout=30, connect_timeout=5),
    )
    model = botocore.session.get_session().get_service_model(family)
    operations = _operations(family)
    rng = random.Random(f"issue-24-{family}")
    sent, failures = 0, []
    for i in range(REQUESTS_PER_FAMILY):
        operation = operations[i % len(operations)]
        shape = model.operation_model(operation).input_shape
        params = _value(shape, rng) if shape is not None else {}
        if not isinstance(params, dict):
            params = {}
        try:
            client._make_api_call(operation, params)
            status = 200
        except ClientError as error:
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            message = error.response.get("Error", {}).get("Message", "")
        except ReadTimeoutError:  # a request that hangs is no better than a 500
            failures.append(f"{operation} hung params={str(params)[:300]}")
            continue
        except Exception:  # botocore could not build it, or the HTTP layer refused its framing
            continue
        sent += 1
        if status >= 500:
            failures.append(f"{operation} {status} {message[:160]!r} params={str(params)[:300]}")
    assert sent >= REQUESTS_PER_FAMILY // 2, f"only {sent} requests could be built"
    assert not failures, f"{len(failures)} of {sent} got a 5xx:\n" + "\n".join(failures[:20])
