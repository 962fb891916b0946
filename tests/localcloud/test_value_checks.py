"""Value checks are AWS's, not Python's parsers': patterns matched whole (a trailing newline is
not a name), Java pattern classes, lengths, ranges, enums, finite numbers, timestamps, S3 bucket
names and integers. Clients send with botocore's own validation off, as any non-boto3 client may.

Expected values come from the service models AWS publishes (botocore's service-2.json: the
"Constraints" of each API reference page, e.g. PipelineName in
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreatePipeline.html) and the
pages cited per test.
"""

from __future__ import annotations

import json

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from localcloud.shapes import compiled

ROLE = "arn:aws:iam::000000000000:role/Pipeline"
DEFINITION = json.dumps(
    {"Version": "2020-12-01", "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "stop"}}]}
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One localcloud for the module: every request here is refused or only reads."""
    from tests.conftest import start_server

    running = start_server(tmp_path_factory.mktemp("value-checks") / "mlgw")
    yield running
    running.stop()


@pytest.fixture
def raw(server):
    """A client that sends what it is given (botocore's client-side checks off)."""
    import boto3

    localcloud = server
    return lambda service: boto3.client(
        service,
        endpoint_url=localcloud.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(parameter_validation=False, retries={"max_attempts": 1}),
    )


def _error(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


@pytest.mark.parametrize("name", ["pipeline\n", "pipe line", "-pipeline", "p" * 257, "pipe_line"])
def test_sagemaker_names_are_matched_whole(raw, name):
    """PipelineName: pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}, length 1-256
    (API_CreatePipeline). A trailing newline is outside the pattern, as are spaces,
    underscores, a leading hyphen and a 257th character."""
    sm = raw("sagemaker")
    with pytest.raises(ClientError) as exc:
        sm.create_pipeline(PipelineName=name, PipelineDefinition=DEFINITION, RoleArn=ROLE, ClientRequestToken="t" * 32)
    code, message = _error(exc)
    assert code == "ValidationException" and "pipelineName" in message


def test_numbers_enums_and_timestamps(raw):
    """ListPipelines: MaxResults 1-100, SortOrder {Ascending, Descending}, CreatedAfter a
    timestamp (API_ListPipelines). CreateEndpointConfig: InitialVariantWeight a float >= 0
    (API_ProductionVariant), so not NaN or Infinity: botocore sends those as the strings "NaN"
    and "Infinity" (Smithy's JSON float encoding), a raw JSON body as the non-JSON tokens."""
    sm = raw("sagemaker")
    bad = [
        dict(MaxResults=0),
        dict(MaxResults=101),
        dict(SortOrder="ascending"),
        dict(SortBy="Size"),
        dict(MaxResults="5"),
    ]
    for params in bad:
        with pytest.raises(ClientError) as exc:
            sm.list_pipelines(**params)
        assert _error(exc)[0] == "ValidationException", params
    assert sm.list_pipelines(MaxResults=100, SortOrder="Ascending")["PipelineSummaries"] == []
    variant = {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    for weight, code in (
        (-1.0, "ValidationException"),
        (float("nan"), "ValidationException"),
        (float("-inf"), "ValidationException"),
    ):
        with pytest.raises(ClientError) as exc:
            sm.create_endpoint_config(
                EndpointConfigName="cfg", ProductionVariants=[{**variant, "InitialVariantWeight": weight}]
            )
        assert _error(exc)[0] == code, weight
    from localcloud.errors import AwsError
    from localcloud.json_api import service_model, validate_input

    for weight in (float("nan"), float("inf")):  # what json.loads makes of NaN / Infinity
        with pytest.raises(AwsError) as raised:
            validate_input(
                service_model("sagemaker").operation_model("CreateEndpointConfig"),
                {"EndpointConfigName": "cfg", "ProductionVariants": [{**variant, "InitialVariantWeight": weight}]},
            )
        assert raised.value.code == "SerializationException"


def test_java_pattern_classes_are_understood():
    """Patterns the models write in Java's dialect mean what Java means
    (java.util.regex.Pattern: POSIX classes and \\w, \\d, \\s are US-ASCII; \\p{L} is Unicode;
    \\z is the very end; "." matches no line terminator). InferenceId's pattern
    \\A\\S[\\p{Print}]*\\z (API_runtime_InvokeEndpoint) and Tag keys'
    ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*) (API_Tag)."""
    inference_id = compiled(r"\A\S[\p{Print}]*\z")
    assert inference_id.fullmatch("req-42 retry")
    for bad in ("req\n", " lead", "tab\there", "caf\u00e9"):
        assert not inference_id.fullmatch(bad), bad
    tag_key = compiled(r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)")
    for good in ("team", "équipe", "チーム", "a b", "x/y=z"):
        assert tag_key.fullmatch(good), good
    for bad in ("semi;colon", "line\n", "star*"):
        assert not tag_key.fullmatch(bad), bad
    role = compiled(r"[\w+=,.@-]+")  # IAM RoleName (API_GetRole)
    assert role.fullmatch("Pipeline-Role_1") and not role.fullmatch("rôle")
    assert not compiled(r"[\S\s]+").fullmatch("") and compiled(r"[\S\s]+").fullmatch("a\nb")


def test_every_pattern_of_the_services_we_serve_translates():
    """No request is checked more leniently than AWS because a pattern could not be read."""
    import botocore.session

    session = botocore.session.get_session()
    for service in ("sagemaker", "sagemaker-runtime", "sagemaker-featurestore-runtime", "events", "iam", "sts", "s3"):
        model = session.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                compiled(pattern)


@pytest.mark.parametrize("name", ["rule\n", "rule name", "r" * 65, "rule*"])
def test_eventbridge_rule_names(raw, name):
    """PutRule Name: pattern [\\.\\-_A-Za-z0-9]+, length 1-64 (API_PutRule)."""
    events = raw("events")
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=name, EventPattern='{"source": ["x"]}')
    assert _error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        events.list_rules(Limit=0)  # Limit: 1-100 (API_ListRules)
    assert _error(exc)[0] == "ValidationException"


@pytest.mark.parametrize("name", ["Role\n", "bad role", "r" * 65, "role#1"])
def test_iam_role_names(raw, name):
    """GetRole RoleName: pattern [\\w+=,.@-]+, length 1-64 (IAM API_GetRole); the query
    protocol calls the failure ValidationError."""
    with pytest.raises(ClientError) as exc:
        raw("iam").get_role(RoleName=name)
    assert _error(exc)[0] == "ValidationError"
    # A valid name passes validation: an unknown role is then IAM's NoSuchEntity, not a refusal
    # of the name.
    with pytest.raises(ClientError) as exc:
        raw("iam").get_role(RoleName="Pipeline-Role_1")
    assert _error(exc)[0] == "NoSuchEntity"


@pytest.mark.parametrize(
    "bucket",
    [
        "bucket\n",
        "sthree-data",
        "amzn-s3-demo-data",
        "data-s3alias",
        "data--ol-s3",
        "data.mrap",
        "data--x-s3",
        "192.168.5.4",
        "xn--data",
        "a..b",
        "ab",
        "Data",
    ],
)
def test_s3_bucket_names(bucket):
    """General purpose bucket naming rules (Amazon S3 User Guide, bucketnamingrules.html):
    3-63 of a-z 0-9 . -, starting and ending with a letter or digit, no "..", not an IP
    address, none of the reserved prefixes (xn--, sthree-, amzn-s3-demo-) or suffixes
    (-s3alias, --ol-s3, .mrap, --x-s3, --table-s3)."""
    from localcloud.errors import AwsError
    from localcloud.s3.models import validate_bucket_name

    with pytest.raises(AwsError) as exc:
        validate_bucket_name(bucket)
    assert exc.value.code == "InvalidBucketName"
    validate_bucket_name("data-bucket.v2")


@pytest.mark.parametrize("max_keys", ["+5", "1_0", "\u0661\u0662", " 5", "2147483648"])
def test_s3_integers_are_ascii_digits(server, max_keys):
    """ListObjectsV2 max-keys is an integer (API_ListObjectsV2); S3 answers InvalidArgument
    for anything else, where Python's int() would read "+5", "1_0" or Arabic-Indic digits."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def send(method: str, path: str) -> int:
        request = AWSRequest(method=method, url=server.url + path)
        S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
        prepared = request.prepare()
        try:
            with urllib.request.urlopen(
                urllib.request.Request(prepared.url, method=method, headers=dict(prepared.headers))
            ) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert send("PUT", "/numbers") in (200, 409)  # created by the first case, or already ours
    assert send("GET", "/numbers?list-type=2&max-keys=5") == 200
    assert send("GET", f"/numbers?list-type=2&max-keys={urllib.parse.quote(max_keys)}") == 400
