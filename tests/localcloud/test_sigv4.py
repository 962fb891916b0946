"""SigV4 verification: the hand-written fast path computes exactly botocore's signature, and a
request signed with the wrong secret is refused on either path."""

from __future__ import annotations

import hashlib
from email.message import Message

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud import sigv4
from localcloud.errors import AwsError


def _signed(
    url: str, body: bytes, secret: str = "test", service: str = "sagemaker", extra: dict[str, str] | None = None
) -> tuple[str, Message]:
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/x-amz-json-1.1", **(extra or {})}
    )
    SigV4Auth(Credentials("test", secret), service, "us-east-1").add_auth(request)
    headers = Message()
    for name, value in request.headers.items():
        headers[name] = value if isinstance(value, str) else value.decode()
    headers["Host"] = "127.0.0.1:4777"
    return request.url.split("127.0.0.1:4777", 1)[1], headers


@pytest.mark.parametrize(
    "path, extra",
    [
        ("/", {"X-Amz-Target": "SageMaker.ListEndpoints"}),
        ("/FeatureGroup/claims", {}),
        ("/endpoints/ml-gateway-fraud/invocations", {"X-Amzn-SageMaker-Target-Variant": "v2  x"}),
        ("/BatchGetRecord", {"X-Amz-Security-Token": "t"}),
    ],
)
def test_fast_path_matches_botocore(path, extra):
    raw_path, headers = _signed(f"http://127.0.0.1:4777{path}", b'{"a": 1}', extra=extra)
    scope = sigv4.verify("POST", raw_path, headers, b'{"a": 1}', "test", "test")
    assert scope.service == "sagemaker"
    match = sigv4._AUTH_RE.match(headers["Authorization"])
    values = {name.lower(): headers.get_all(name) for name in headers.keys()}
    fast = sigv4._fast_signature(
        "POST",
        raw_path,
        values,
        hashlib.sha256(b'{"a": 1}').hexdigest(),
        "test",
        scope,
        match["signed"],
        headers["X-Amz-Date"],
    )
    assert fast == match["sig"]


@pytest.mark.parametrize("path", ["/FeatureGroup/claims", "/FeatureGroup/a%20b?x=1"])
def test_wrong_secret_is_refused(path):
    raw_path, headers = _signed(f"http://127.0.0.1:4777{path}", b"{}", secret="not-test")
    with pytest.raises(AwsError) as error:
        sigv4.verify("POST", raw_path, headers, b"{}", "test", "test")
    assert error.value.code == "SignatureDoesNotMatch"
