"""The direct integration's error answers, in the template and locally alike (issue 11), and
the gateway Lambda's provisioned concurrency default.

SageMaker Runtime's InvokeEndpoint errors and their HTTP statuses are botocore's model
(ValidationError 400, ModelError 424, ModelNotReadyException 429, InternalFailure 500,
ServiceUnavailable 503, InternalDependencyException 530), each with a `Message` member
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors).
API Gateway picks an AWS integration's response by matching SelectionPattern against the
backend's status code, one integration response per status code
(https://docs.aws.amazon.com/apigateway/latest/api/API_IntegrationResponse.html), and a
mapping template may override the status with $context.responseOverride.status
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from localcloud.apigateway import responses
from tests.test_infra import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def template():
    return load(ROOT / "infra" / "ml-gateway.yaml")


def _direct(template) -> dict:
    return template["Resources"]["DirectMethod"]["Properties"]


def test_template_maps_runtime_errors_as_the_local_route_does(template):
    method = _direct(template)
    errors = [r for r in method["Integration"]["IntegrationResponses"] if r["StatusCode"] != "200"]
    assert [(r["SelectionPattern"], int(r["StatusCode"])) for r in errors] == list(responses.DIRECT_ERRORS)
    statuses = [r["StatusCode"] for r in method["Integration"]["IntegrationResponses"]]
    assert len(statuses) == len(set(statuses)), "API Gateway keys integration responses by status"
    assert set(statuses) <= {r["StatusCode"] for r in method["MethodResponses"]} | {"503"}
    assert "503" in {r["StatusCode"] for r in method["MethodResponses"]}
    for response in errors:
        body = response["ResponseTemplates"]["application/json"]
        assert "$input.path('$.Message')" in body and "$.message" not in body
    client_error = next(r for r in errors if r["StatusCode"] == "400")["ResponseTemplates"]["application/json"]
    assert "$context.responseOverride.status = 503" in client_error
    for phrase in responses.NOT_SERVING:
        assert f'contains("{phrase}")' in client_error
    assert '!$l.contains("variant")' in client_error


@pytest.mark.parametrize(
    "status,message,expected",
    [
        (424, "Received server error (500) from primary", 502),  # ModelError: not the caller's fault
        (429, "Model is not ready", 503),  # ModelNotReadyException
        (503, "Service unavailable", 503),
        (500, "Internal failure", 502),
        (530, "Dependency failed", 502),
        (403, "not authorized", 502),
        (400, "Variant v9 not found for endpoint x", 400),  # the caller named a bad variant
        (400, "Endpoint x of account 1 not found.", 503),  # not serving: unavailable
        (413, "payload too large", 400),
    ],
)
def test_runtime_statuses_map_to_gateway_statuses(status, message, expected):
    assert responses.direct_error_status(status, message) == expected
    patterns = [(p, s) for p, s in responses.DIRECT_ERRORS if re.fullmatch(p, str(status))]
    assert len(patterns) == 1, f"status {status} matches {patterns}: patterns must not overlap"


def test_the_local_route_answers_a_model_error_with_502_and_the_runtime_message(monkeypatch):
    import inference.gateway_handler as handler

    def invoke_endpoint(**kwargs):
        raise ClientError(
            {
                "Error": {"Code": "ModelError", "Message": "model raised ValueError"},
                "ResponseMetadata": {"HTTPStatusCode": 424},
            },
            "InvokeEndpoint",
        )

    monkeypatch.setattr(
        handler, "clients", lambda: SimpleNamespace(runtime=SimpleNamespace(invoke_endpoint=invoke_endpoint))
    )
    request = responses.ApiRequest(
        "POST", "/v1/predict/direct", "", {}, b"", {"features": {}}, "req-1", "127.0.0.1", None
    )
    response = responses.predict_direct(SimpleNamespace(endpoint_name="fraud"), request)
    assert response.status == 502
    assert json.loads(response.body) == {"message": "model raised ValueError"}


def test_localcloud_runtime_errors_carry_message_capitalised_only():
    from localcloud.sagemaker.exceptions import ModelError
    from localcloud.sagemaker.runtime import _error

    body = json.loads(_error(ModelError("boom")).body)
    assert body["Message"] == "boom" and "message" not in body


def test_provisioned_concurrency_defaults_to_zero_and_is_then_not_configured(template):
    assert template["Parameters"]["ProvisionedConcurrency"]["Default"] == 0
    alias = template["Resources"]["GatewayAlias"]["Properties"]["ProvisionedConcurrencyConfig"]
    assert alias["Fn::If"][0] == "HasProvisionedConcurrency"
    assert alias["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    guide = (ROOT / "infra" / "README.md").read_text()
    assert "ProvisionedConcurrency=" in guide and "get-account-settings" in guide


@pytest.mark.parametrize("original, expected", [(400, 400), (415, 415), (500, 502), (None, 502)])
def test_the_handler_gives_the_client_the_models_4xx(original, expected):
    """ModelError's OriginalStatusCode (botocore's sagemaker-runtime model) decides: the
    container's 4xx is the request's fault and reaches the client with OriginalMessage."""
    from inference.gateway_handler import endpoint_error

    response = {
        "Error": {"Code": "ModelError", "Message": "Received client error (400) from primary ..."},
        "ResponseMetadata": {"HTTPStatusCode": 424},
    }
    if original is not None:
        response.update(OriginalStatusCode=original, OriginalMessage="The request body is not valid JSON")
    error = endpoint_error("fraud", ClientError(response, "InvokeEndpoint"))
    assert error.status == expected
    if expected < 500:
        assert error.message == "The request body is not valid JSON"
