"""SageMaker Feature Store runtime over REST-JSON (the `sagemaker-featurestore-runtime` model),
plus localcloud's bulk-ingest extension `POST /localcloud/FeatureGroup/{name}/records` whose
body is an Arrow IPC stream (see localcloud.featurestore.bulk)."""
from __future__ import annotations

from typing import Any

from localcloud.errors import AwsError
from localcloud.json_api import service_model, validate_input
from localcloud.protocol import Request, Response, json_body, json_error, json_response

MODEL = "sagemaker-featurestore-runtime"
BULK_PREFIX = "/localcloud/FeatureGroup/"


def _validate(operation: str, params: dict[str, Any]) -> None:
    try:
        validate_input(service_model(MODEL).operation_model(operation), params)
    except AwsError as error:  # this service names it ValidationError
        raise ValidationError(error.message) from None


def handle(cloud: Any, request: Request) -> Response:
    try:
        return _dispatch(cloud, request)
    except AwsError as error:
        return json_error(error)


def _dispatch(cloud: Any, request: Request) -> Response:
    path, method = request.path, request.method
    store = cloud.featurestore
    if path.startswith(BULK_PREFIX) and path.endswith("/records") and method == "POST":
        name = path[len(BULK_PREFIX):-len("/records")]
        _validate("GetRecord", {"FeatureGroupName": name, "RecordIdentifierValueAsString": "x"})
        return json_response({"RecordCount": ingest_ipc(cloud, name, request.body)})
    if path == "/BatchGetRecord" and method == "POST":
        params = json_body(request)
        _validate("BatchGetRecord", params)
        return json_response(batch_get(store, params))
    if not path.startswith("/FeatureGroup/"):
        raise UnknownOperationException(f"localcloud does not serve {method} {path}")
    name = path[len("/FeatureGroup/"):]
    if method == "GET":
        params: dict[str, Any] = {"FeatureGroupName": name}
        rid = request.query_value("RecordIdentifierValueAsString")
        if rid is not None:
            params["RecordIdentifierValueAsString"] = rid
        features = request.query.get("FeatureName")
        if features:
            params["FeatureNames"] = features
        expiry = request.query_value("ExpirationTimeResponse")
        if expiry is not None:
            params["ExpirationTimeResponse"] = expiry
        _validate("GetRecord", params)
        return json_response(store.get_record(name, rid, features, expiry == "Enabled"))
    if method == "PUT":
        params = {**json_body(request), "FeatureGroupName": name}
        _validate("PutRecord", params)
        store.put_record(name, params["Record"], params.get("TargetStores"), params.get("TtlDuration"))
        return json_response({})
    if method == "DELETE":
        params = {"FeatureGroupName": name}
        for key in ("RecordIdentifierValueAsString", "EventTime", "DeletionMode"):
            if request.query_value(key) is not None:
                params[key] = request.query_value(key)
        if request.query.get("TargetStores"):
            params["TargetStores"] = request.query["TargetStores"]
        _validate("DeleteRecord", params)
        store.delete_record(name, params["RecordIdentifierValueAsString"], params["EventTime"],
                            params.get("TargetStores"), params.get("DeletionMode", "SoftDelete"))
        return json_response({})
    raise UnknownOperationException(f"localcloud does not serve {method} {path}")


def batch_get(store: Any, params: dict[str, Any]) -> dict[str, Any]:
    with_expiry = params.get("ExpirationTimeResponse") == "Enabled"
    records, errors = [], []
    for ident in params["Identifiers"]:
        group = ident["FeatureGroupName"]
        for rid in ident["RecordIdentifiersValueAsString"]:
            try:
                found = store.get_record(group, rid, ident.get("FeatureNames"), with_expiry)
            except AwsError as error:
                errors.append({"FeatureGroupName": group, "RecordIdentifierValueAsString": rid,
                               "ErrorCode": error.code, "ErrorMessage": error.message})
                continue
            if found:
                records.append({"FeatureGroupName": group, "RecordIdentifierValueAsString": rid,
                                **found})
    return {"Records": records, "Errors": errors, "UnprocessedIdentifiers": []}


def ingest_ipc(cloud: Any, name: str, body: bytes) -> int:
    import pyarrow as pa
    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"The body is not an Arrow IPC stream: {exc}") from None
    return cloud.featurestore.ingest_table(name, table)
