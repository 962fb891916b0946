"""Input that must be refused cleanly: header injection, names with a trailing newline, S3 URIs
that leave the state directory, and bodies Python's parsers would choke on (→ 4xx, never 5xx).
Plus the state directory's permissions.

AWS behaviour reproduced:
- "Bucket naming rules" (Amazon S3 User Guide): 3-63 characters of a-z, 0-9, '.', '-';
  a newline is not one of them.
- GetObject's response-* parameters (Amazon S3 API Reference, GetObject) set response
  headers; a value that cannot be a header is InvalidArgument.
- The JSON protocols take UTF-8 JSON ("AWS JSON 1.1 protocol", Smithy); a body that is not
  is SerializationException (400). InvokeEndpoint hands the body to the container, whose
  400 comes back as ModelError with OriginalStatusCode 400 (SageMaker Runtime API
  Reference, InvokeEndpoint, Errors).
- CreateFeatureGroup's S3StorageConfig.S3Uri and CreateModel's ModelDataUrl are S3 URIs
  (SageMaker API Reference): a bucket named '..' does not exist in S3, so neither may reach
  a file outside the object store here.
"""

from __future__ import annotations

import json
import stat

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.test_http_layer import _post, _signed


def _code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_response_content_type_cannot_inject_headers(client, localcloud):
    s3 = client("s3")
    s3.create_bucket(Bucket="inject")
    s3.put_object(Bucket="inject", Key="k", Body=b"x")
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket="inject", Key="k", ResponseContentType="text/plain\r\nSet-Cookie: session=stolen")
    assert _code(error) == "InvalidArgument"
    assert "Set-Cookie" not in error.value.response["ResponseMetadata"]["HTTPHeaders"]
    ok = s3.get_object(Bucket="inject", Key="k", ResponseContentType="text/plain")
    assert ok["ContentType"] == "text/plain"


def test_bucket_name_with_trailing_newline_is_refused(client, localcloud):
    s3 = client("s3")
    with pytest.raises(ClientError) as error:
        s3.create_bucket(Bucket="newline\n")
    assert _code(error) == "InvalidBucketName"
    assert not [name for name, _ in localcloud.cloud.s3.list_buckets() if name.startswith("newline")]


# ("s3://ok-bucket/../../../x" is a valid S3 prefix: its objects are keys of ok-bucket, test_s3_keys.py)
@pytest.mark.parametrize("uri", ["s3://../../../../tmp/mlgw-escape", "s3://./x"])
def test_offline_store_uri_cannot_leave_the_state_directory(client, uri):
    sm = client("sagemaker")
    with pytest.raises(ClientError) as error:
        sm.create_feature_group(
            FeatureGroupName="escape",
            RecordIdentifierFeatureName="id",
            EventTimeFeatureName="t",
            RoleArn="arn:aws:iam::000000000000:role/r",
            FeatureDefinitions=[
                {"FeatureName": "id", "FeatureType": "Integral"},
                {"FeatureName": "t", "FeatureType": "Fractional"},
            ],
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": uri}},
        )
    assert _code(error) == "ValidationException"
    assert "S3Uri" in error.value.response["Error"]["Message"]


def test_model_data_url_cannot_probe_outside_the_object_store(client, localcloud):
    sm = client("sagemaker")
    assert localcloud.cloud.config.state_db.exists()
    messages = []
    for uri in ("s3://../state.db", "s3://../no-such-file"):
        with pytest.raises(ClientError) as error:
            sm.create_model(
                ModelName="probe",
                ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                PrimaryContainer={"Image": "xgboost", "ModelDataUrl": uri},
            )
        assert _code(error) == "ValidationException"
        messages.append(error.value.response["Error"]["Message"].replace(uri, "URI"))
    # An existing file outside the store and a missing one are refused alike: nothing leaks.
    assert "not a valid S3 bucket name" in messages[0] and messages[0] == messages[1]


@pytest.mark.parametrize(
    "body, what",
    [
        (b"[" * 5000 + b"]" * 5000, "deep JSON"),
        (json.dumps({"NameContains": "x"}).encode("utf-16"), "UTF-16"),
        (b'{"NameContains": "\xff\xfe"}', "invalid UTF-8"),
    ],
)
def test_json_services_refuse_undecodable_bodies_with_400(localcloud, body, what):
    status, out = _post(localcloud, body, _signed(localcloud, body))
    assert status == 400, (what, out)
    assert out["__type"] == "SerializationException"


def test_deep_json_inside_a_field_is_400(client):
    events = client("events")
    with pytest.raises(ClientError) as error:
        events.put_rule(Name="deep", EventPattern='{"a":' * 3000 + "1" + "}" * 3000)
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_invoke_endpoint_invalid_utf8_is_a_client_error(localcloud):
    """No endpoint needed for the wire check: the 4xx must come before any 5xx path, and
    with an endpoint the container's 400 (see test_hosting) covers the model side."""
    from inference import serving

    with pytest.raises(serving.InputError) as error:
        serving.decode(b"1,2,\xff\xfe\n", "text/csv")
    assert error.value.status == 400
    with pytest.raises(serving.InputError):
        serving.decode(b"[" * 100000, "application/json")


def test_state_directory_and_key_store_are_private(localcloud):
    from localcloud.apigateway.models import KeyStore, default_path

    home = localcloud.cloud.config.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    store = KeyStore(default_path(home))
    store.create("k")
    store.close()
    assert stat.S_IMODE(default_path(home).parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(default_path(home).stat().st_mode) == 0o600


def test_run_summary_never_prints_the_secret_key():
    from localcloud.config import Config
    from mlgw.local_run import _invoke_snippet

    snippet = "\n".join(_invoke_snippet(Config(secret_key="s3cr3t-value", port=4999), "ml-gateway-fraud"))
    assert "s3cr3t-value" not in snippet
    assert "mlgw localcloud env" in snippet and "4999" in snippet
