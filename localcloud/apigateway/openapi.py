"""The gateway's OpenAPI 3 document, generated from the route table so it cannot drift from
what the server validates. The x-amazon-apigateway-* extensions say how each route maps onto
API Gateway (the same document can seed the REST API on AWS)."""

from __future__ import annotations

from typing import Any

from localcloud.apigateway.responses import MAX_PAYLOAD, STAGE, Route

_ERROR = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}

_PREDICTION = {
    "type": "object",
    "properties": {
        "policy_id": {"type": "integer"},
        "fraud_probability": {"type": "number", "minimum": 0, "maximum": 1},
        "predicted_label": {"type": "integer", "enum": [0, 1]},
        "variant": {"type": "string"},
        "model": {"type": "object"},
        "unknown_categories": {
            "type": "array",
            "description": "raw-record category values the data contract does not know, scored as no category",
            "items": {"type": "object", "properties": {"field": {"type": "string"}, "value": {"type": "string"}}},
        },
        "timing_ms": {
            "type": "object",
            "properties": {"features": {"type": "number"}, "predict": {"type": "number"}, "total": {"type": "number"}},
        },
    },
}
_DIRECT = {
    "type": "object",
    "properties": {
        "predictions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"score": {"type": "number"}, "predicted_label": {"type": "integer"}},
            },
        },
        "variant": {"type": "string"},
        "endpoint": {"type": "string"},
    },
}

_OK_SCHEMAS = {"predict": _PREDICTION, "predict_direct": _DIRECT}

_INTEGRATIONS = {
    "predict": {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": {
            "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/"
            "functions/${GatewayFunction.Arn}/invocations"
        },
    },
    "predict_direct": {
        "type": "aws",
        "httpMethod": "POST",
        "credentials": {"Fn::GetAtt": ["GatewayRole", "Arn"]},
        "uri": {
            "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:runtime.sagemaker:path//endpoints/${EndpointName}/invocations"
        },
        "requestTemplates": {"application/json": "(features as CSV, the data contract's feature order)"},
    },
}


def _error_responses(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if route.schema is not None:
        out["400"] = "the body is not JSON or violates the schema; the message names the field"
        out["413"] = f"the body exceeds API Gateway's payload limit, {MAX_PAYLOAD // 2**20} MB"
    if route.api_key_required:
        out["403"] = "missing, unknown or revoked API key"
        out["429"] = "rate or daily quota exceeded; see Retry-After"
    if route.name == "predict":
        out["404"] = "unknown policy and no raw records sent"
    if route.name in ("predict", "predict_direct"):
        out["502"] = "the model failed"
        out["503"] = "the endpoint or feature store is unavailable"
    return {
        code: {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in out.items()
    }


def build_document(routes: tuple[Route, ...], server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes`, served from `server_url`."""
    paths: dict[str, Any] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "operationId": route.name,
            "summary": route.summary,
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": _OK_SCHEMAS.get(route.name, {"type": "object"})}},
                },
                **_error_responses(route),
            },
        }
        if route.schema is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.schema}}}
            operation["x-amazon-apigateway-request-validator"] = "body"
        if route.api_key_required:
            operation["security"] = [{"api_key": []}]
        if route.name in _INTEGRATIONS:
            operation["x-amazon-apigateway-integration"] = _INTEGRATIONS[route.name]
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ml-gateway",
            "version": STAGE,
            "description": "Fraud scoring over a SageMaker endpoint, enriched from the online Feature Store.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
            "schemas": {"Error": _ERROR},
        },
        "x-amazon-apigateway-api-key-source": "HEADER",
        "x-amazon-apigateway-request-validators": {
            "body": {"validateRequestBody": True, "validateRequestParameters": False}
        },
    }
