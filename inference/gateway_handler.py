"""The ML Gateway Lambda: API Gateway REST proxy event in, fraud score out.

Per request: one BatchGetRecord over the `claims` and `customers` groups → (for a policy the
store does not know, encode the raw records sent with the request and PutRecord them) → merge
the two feature sets → InvokeEndpoint (TargetVariant when asked) → proxy response.

Runs unchanged on AWS Lambda: boto3 only, clients built at import (Lambda keeps them warm),
names from the environment (ENDPOINT_NAME, CLAIMS_FEATURE_GROUP, CUSTOMERS_FEATURE_GROUP).
Locally boto3 reaches localcloud through AWS_ENDPOINT_URL, with no other code path.
The handler never raises: every failure is a proxy response with a JSON `message`.

Raw records follow the data contract (processing/schema.json, or $MLGW_SCHEMA): a category
value the contract does not know is encoded as no category and the request is answered, with
`unknown_categories: [{"field": "customer.policy_state", "value": "UT"}]` in the body so the
caller (and the gateway's metrics) see it; a value of the wrong type or out of the declared
range is a 400 naming the field.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from processing import contract as contracts
from processing.features import FeatureError, encode_record

log = logging.getLogger("ml_gateway.lambda")

DEFAULT_ENDPOINT = "ml-gateway-fraud"
RECORD_ID = "policy_id"
EVENT_TIME = "event_time"
MODEL_INFO_TTL_S = 60.0
# Fail fast: the gateway answers 503 rather than hanging on a dead endpoint or store, after at
# most 1 s to connect and 5 s to read, once. botocore's `max_attempts` counts retries after the
# first attempt (max_attempts=1 is two attempts, 10 s against a frozen service) whatever the
# retry mode; `total_max_attempts` counts the first attempt too
# (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html).
# Parameters are built here from an already validated body, and the service validates them
# again, so botocore's client-side validation is skipped on the hot path.
BOTO_CONFIG = Config(connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1}, parameter_validation=False)
# What a caller is told when a service cannot be reached (a timeout or refused connection):
# botocore's message names the internal URL, which stays in the log.
ENDPOINT_UNAVAILABLE = "the model endpoint is unavailable"
STORE_UNAVAILABLE = "the feature store is unavailable"
JSON_HEADERS = {"Content-Type": "application/json"}
_BODY_FIELDS = frozenset({"policy_id", "variant", "claim", "customer"})
_feature_sets: dict[int, tuple[contracts.Contract, dict[str, frozenset[str]]]] = {}


def _allowed(name: str) -> frozenset[str]:
    """The features a raw `claim` / `customer` record may produce, per the active contract."""
    c = contracts.active()
    entry = _feature_sets.get(id(c))
    if entry is None or entry[0] is not c:
        entry = _feature_sets[id(c)] = (
            c,
            {"claim": frozenset(c.table("claims").features), "customer": frozenset(c.table("customers").features)},
        )
    return entry[1][name]


class GatewayError(Exception):
    """A request that ends in a non-200 proxy response."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# -- clients: built once; rebuilt only if the AWS target in the environment changes ----------

_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID")


@dataclass(frozen=True)
class Clients:
    key: tuple[str | None, ...]
    featurestore: Any
    runtime: Any
    control: Any  # sagemaker: DescribeEndpoint/DescribeEndpointConfig for the `model` info


_clients: Clients | None = None
_clients_lock = threading.Lock()


def _env_key() -> tuple[str | None, ...]:
    return tuple(os.environ.get(k) for k in _ENV_KEYS)


def clients() -> Clients:
    global _clients
    key = _env_key()
    current = _clients
    if current is not None and current.key == key:
        return current
    with _clients_lock:
        if _clients is None or _clients.key != key:
            session = boto3.session.Session()
            _clients = Clients(
                key,
                session.client("sagemaker-featurestore-runtime", config=BOTO_CONFIG),
                session.client("sagemaker-runtime", config=BOTO_CONFIG),
                session.client("sagemaker", config=BOTO_CONFIG),
            )
        return _clients


try:  # warm at import as Lambda does; without a region (e.g. a bare import) wait for the first call
    clients()
except BotoCoreError:
    pass


# -- request parsing -------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictRequest:
    policy_id: int
    variant: str | None
    claim: Mapping[str, Any] | None
    customer: Mapping[str, Any] | None


def parse_body(event: Mapping[str, Any]) -> PredictRequest:
    raw = event.get("body")
    if raw is None or raw == "":
        raise GatewayError(400, "request body is required: a JSON object with 'policy_id'")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw)
        except ValueError:
            raise GatewayError(400, "request body is not valid base64") from None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GatewayError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "request body must be a JSON object")
    unknown = sorted(set(body) - _BODY_FIELDS)
    if unknown:
        raise GatewayError(400, f"unknown field '{unknown[0]}' (expected {', '.join(sorted(_BODY_FIELDS))})")
    if "policy_id" not in body:
        raise GatewayError(400, "field 'policy_id' is required")
    policy_id = body["policy_id"]
    if isinstance(policy_id, bool) or not isinstance(policy_id, int) or policy_id < 0:
        raise GatewayError(400, f"field 'policy_id' must be a non-negative integer, got {policy_id!r}")
    variant = body.get("variant")
    if variant is not None and (not isinstance(variant, str) or not variant):
        raise GatewayError(400, f"field 'variant' must be a non-empty string, got {variant!r}")
    for name in ("claim", "customer"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise GatewayError(400, f"field '{name}' must be a JSON object")
    return PredictRequest(policy_id, variant, body.get("claim"), body.get("customer"))


def _encode_raw(name: str, record: Mapping[str, Any], unknown: list[dict[str, Any]]) -> dict[str, float]:
    """Encode one raw record; a field of the other group is an error, named `claim.x`.
    Unknown categories are encoded as no category and appended to `unknown`."""
    found: list[tuple[str, Any]] = []
    try:
        encoded = encode_record(record, unknown=found)
    except FeatureError as exc:
        raise GatewayError(400, f"{name}: {exc}") from None
    unknown.extend({"field": f"{name}.{field}", "value": value} for field, value in found)
    allowed = _allowed(name)
    stray = [f for f in encoded if f not in allowed]
    if stray:
        raise GatewayError(400, f"{name}: field for the other record: '{stray[0]}'")
    return encoded


# -- feature store ---------------------------------------------------------------------------


def _store_error(exc: Exception) -> GatewayError:
    log.warning("feature store call failed: %s", exc)
    if isinstance(exc, ClientError):
        return GatewayError(503, f"feature store unavailable: {exc.response['Error'].get('Message', exc)}")
    return GatewayError(503, STORE_UNAVAILABLE)


def read_features(c: Clients, policy_id: int, groups: tuple[str, str]) -> dict[str, dict[str, str] | None]:
    """{group: {feature: value string} or None} from ONE BatchGetRecord over both groups."""
    rid = str(policy_id)
    try:
        out = c.featurestore.batch_get_record(
            Identifiers=[{"FeatureGroupName": g, "RecordIdentifiersValueAsString": [rid]} for g in groups]
        )
    except (ClientError, BotoCoreError) as exc:
        raise _store_error(exc) from None
    if out.get("Errors"):
        first = out["Errors"][0]
        raise GatewayError(
            503, f"feature group {first.get('FeatureGroupName')}: {first.get('ErrorCode')}: {first.get('ErrorMessage')}"
        )
    found: dict[str, dict[str, str] | None] = dict.fromkeys(groups)
    for item in out.get("Records", []):
        found[item["FeatureGroupName"]] = {f["FeatureName"]: f["ValueAsString"] for f in item["Record"]}
    return found


def put_features(c: Clients, group: str, policy_id: int, features: Mapping[str, float]) -> None:
    record = [
        {"FeatureName": RECORD_ID, "ValueAsString": str(policy_id)},
        {"FeatureName": EVENT_TIME, "ValueAsString": f"{time.time():.3f}"},
    ]
    record += [{"FeatureName": k, "ValueAsString": repr(v)} for k, v in features.items()]
    try:
        c.featurestore.put_record(FeatureGroupName=group, Record=record)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ValidationError":
            raise GatewayError(400, f"feature group {group}: {exc.response['Error'].get('Message')}") from None
        raise _store_error(exc) from None
    except BotoCoreError as exc:
        raise _store_error(exc) from None


def gather_features(
    c: Clients,
    req: PredictRequest,
    claims_group: str,
    customers_group: str,
    unknown: list[dict[str, Any]] | None = None,
) -> dict[str, float]:
    """Merged claim + customer features; raw records fill in (and are stored) for an unknown policy.

    The stored record wins when both exist: the store is the source of truth, a request's raw
    copy only introduces a policy the store has not seen yet.
    """
    unknown = [] if unknown is None else unknown
    raw_claim = _encode_raw("claim", req.claim, unknown) if req.claim is not None else None
    raw_customer = _encode_raw("customer", req.customer, unknown) if req.customer is not None else None
    stored = read_features(c, req.policy_id, (claims_group, customers_group))
    merged: dict[str, float] = {}
    for group, raw, name in ((claims_group, raw_claim, "claim"), (customers_group, raw_customer, "customer")):
        values = stored[group]
        if values is not None:
            try:
                merged.update(encode_record(values, check_ranges=False))  # validated at ingest
            except FeatureError as exc:  # a record someone else wrote with foreign features
                raise GatewayError(502, f"feature group {group} record {req.policy_id}: {exc}") from None
        elif raw is not None:
            put_features(c, group, req.policy_id, raw)
            merged.update(raw)
        else:
            raise GatewayError(
                404,
                f"policy_id {req.policy_id} not found in feature group "
                f"{group}; send a raw '{name}' record to score a new policy",
            )
    return merged


# -- endpoint --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    probability: float
    label: int
    variant: str


_NOT_SERVING = ("not found", "not in service", "could not find")


def predict(c: Clients, endpoint: str, features: Mapping[str, float], variant: str | None) -> Prediction:
    kwargs: dict[str, Any] = {
        "EndpointName": endpoint,
        "ContentType": "application/json",
        "Accept": "application/json",
        "Body": json.dumps({"instances": [features]}),
    }
    if variant:
        kwargs["TargetVariant"] = variant
    try:
        out = c.runtime.invoke_endpoint(**kwargs)
        payload = json.loads(out["Body"].read())
    except ClientError as exc:
        raise endpoint_error(endpoint, exc) from None
    except BotoCoreError as exc:  # connection refused, timeouts
        log.warning("endpoint %s unreachable: %s", endpoint, exc)
        raise GatewayError(503, ENDPOINT_UNAVAILABLE) from None
    except ValueError as exc:
        raise GatewayError(502, f"endpoint {endpoint} returned invalid JSON: {exc}") from None
    try:
        first = payload["predictions"][0]
        return Prediction(float(first["score"]), int(first["predicted_label"]), out.get("InvokedProductionVariant", ""))
    except (KeyError, IndexError, TypeError, ValueError):
        raise GatewayError(502, f"endpoint {endpoint} returned an unexpected body") from None


def endpoint_error(endpoint: str, exc: ClientError) -> GatewayError:
    code = exc.response["Error"].get("Code", "")
    message = exc.response["Error"].get("Message", str(exc))
    if code == "ValidationError":
        # AWS reports a missing or not-yet-serving endpoint as ValidationError too; that is
        # the service being unavailable, not the caller's fault.
        if any(s in message.lower() for s in _NOT_SERVING) and "variant" not in message.lower():
            return GatewayError(503, message)
        return GatewayError(400, message)
    if code == "ModelError":
        # The container's own answer is in OriginalStatusCode / OriginalMessage (botocore's
        # sagemaker-runtime model, ModelError; API_runtime_InvokeEndpoint): a 4xx there is the
        # request's fault (serving.py's 400, or 415 for a content type), so the client gets it,
        # with the model's message; anything else is the model failing, a bad gateway.
        original = exc.response.get("OriginalStatusCode")
        if isinstance(original, int) and 400 <= original < 500:
            return GatewayError(original, str(exc.response.get("OriginalMessage") or message))
        return GatewayError(502, message)
    if code in ("ModelNotReadyException", "ServiceUnavailable", "ThrottlingException"):
        return GatewayError(503, message)
    return GatewayError(502, f"{code}: {message}")


# -- model info: control-plane lookups cached, so they cost nothing per request ---------------

_model_info: dict[str, tuple[float, dict[str, Any]]] = {}


def model_info(c: Clients, endpoint: str, variant: str) -> dict[str, Any]:
    """{endpoint, endpoint_config, variant, model_name}; best effort (Lambda may lack Describe*)."""
    now = time.monotonic()
    cached = _model_info.get(endpoint)
    if cached is None or now - cached[0] > MODEL_INFO_TTL_S or variant not in cached[1]["models"]:
        try:
            described = c.control.describe_endpoint(EndpointName=endpoint)
            config_name = described["EndpointConfigName"]
            config = c.control.describe_endpoint_config(EndpointConfigName=config_name)
            models = {v["VariantName"]: v.get("ModelName") for v in config["ProductionVariants"]}
            cached = (now, {"endpoint_config": config_name, "models": models})
        except (ClientError, BotoCoreError, KeyError) as exc:
            log.info("model info for %s unavailable: %s", endpoint, exc)
            cached = (now, {"endpoint_config": None, "models": {}})
        _model_info[endpoint] = cached
    info = cached[1]
    return {
        "endpoint": endpoint,
        "endpoint_config": info["endpoint_config"],
        "variant": variant,
        "model_name": info["models"].get(variant),
    }


# -- the handler -----------------------------------------------------------------------------


def response(status: int, body: Mapping[str, Any], request_id: str | None = None) -> dict[str, Any]:
    headers = dict(JSON_HEADERS)
    if request_id:
        headers["x-amzn-RequestId"] = request_id
    return {"statusCode": status, "headers": headers, "body": json.dumps(body)}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    started = time.perf_counter()
    request_id = None
    try:
        if not isinstance(event, Mapping):
            raise GatewayError(400, "the event is not an API Gateway proxy event")
        request_id = (event.get("requestContext") or {}).get("requestId")
        req = parse_body(event)
        try:
            c = clients()
        except BotoCoreError as exc:  # e.g. no region: a deployment problem, not the caller's
            raise GatewayError(503, f"AWS clients not configured: {exc}") from None
        endpoint = os.environ.get("ENDPOINT_NAME", DEFAULT_ENDPOINT)
        unknown: list[dict[str, Any]] = []
        merged = gather_features(
            c,
            req,
            os.environ.get("CLAIMS_FEATURE_GROUP", "claims"),
            os.environ.get("CUSTOMERS_FEATURE_GROUP", "customers"),
            unknown,
        )
        fetched = time.perf_counter()
        result = predict(c, endpoint, merged, req.variant)
        predicted = time.perf_counter()
        model = model_info(c, endpoint, result.variant)
        body = {
            "policy_id": req.policy_id,
            "fraud_probability": result.probability,
            "predicted_label": result.label,
            "variant": result.variant,
            "model": model,
            "timing_ms": {
                "features": round((fetched - started) * 1e3, 3),
                "predict": round((predicted - fetched) * 1e3, 3),
                "total": round((time.perf_counter() - started) * 1e3, 3),
            },
        }
        if unknown:
            body["unknown_categories"] = unknown
        return response(200, body, request_id)
    except GatewayError as exc:
        return response(exc.status, {"message": exc.message}, request_id)
    except Exception:  # never raise out of a Lambda: API Gateway would answer a bare 502
        log.exception("gateway handler failed (request %s)", request_id)
        return response(500, {"message": "internal error", "request_id": request_id}, request_id)
