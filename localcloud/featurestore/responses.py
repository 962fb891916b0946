"""SageMaker Feature Store's wire: the control plane's JSON 1.1 operations (`SageMaker.<Op>`,
assembled into SageMaker's API by localcloud/services.py; input already validated against
botocore's `sagemaker` model by json_api) and the runtime over REST-JSON (the
`sagemaker-featurestore-runtime` model: PutRecord, GetRecord, DeleteRecord, BatchGetRecord),
plus localcloud's bulk-ingest extension `POST /localcloud/FeatureGroup/{name}/records` whose
body is an Arrow IPC stream. State and behaviour are FeatureStoreBackend's (models.py).

Runtime errors are rendered in the REST-JSON error shape: ValidationError for input the model
refuses, FeatureGroupNotFound (404) for an unknown group, FeatureStoreUnknownOperation (404) for
a method and path the runtime has no operation for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localcloud.errors import AwsError
from localcloud.featurestore.exceptions import FeatureStoreUnknownOperation, ValidationError
from localcloud.json_api import page, service_model, validate_input, with_token
from localcloud.protocol import Request, Response, json_body, json_error, json_response

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.featurestore.models import FeatureStoreBackend

MODEL = "sagemaker-featurestore-runtime"


# -- control plane (SageMaker's JSON API) ---------------------------------------------------


def create_feature_group(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    return cloud.featurestore.create_group(params)


def describe_feature_group(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    return cloud.featurestore.describe_group(params["FeatureGroupName"])


def list_feature_groups(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    summaries = cloud.featurestore.list_groups(
        name_contains=params.get("NameContains"),
        status_equals=params.get("FeatureGroupStatusEquals"),
        offline_status_equals=params.get("OfflineStoreStatusEquals"),
        created_after=params.get("CreationTimeAfter"),
        created_before=params.get("CreationTimeBefore"),
        sort_by=params.get("SortBy", "CreationTime"),
        sort_order=params.get("SortOrder", "Descending"),
    )
    found, token = page(summaries, params, default_max=10)
    return with_token({"FeatureGroupSummaries": found}, token)


def delete_feature_group(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    cloud.featurestore.delete_group(params["FeatureGroupName"])
    return {}


def update_feature_group(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    return cloud.featurestore.update_group(
        params["FeatureGroupName"],
        feature_additions=params.get("FeatureAdditions"),
        online_store_config=params.get("OnlineStoreConfig"),
        throughput_config=params.get("ThroughputConfig"),
    )


OPERATIONS: dict[str, Callable[[LocalCloud, dict[str, Any]], dict[str, Any] | None]] = {
    "CreateFeatureGroup": create_feature_group,
    "DescribeFeatureGroup": describe_feature_group,
    "ListFeatureGroups": list_feature_groups,
    "DeleteFeatureGroup": delete_feature_group,
    "UpdateFeatureGroup": update_feature_group,
}


# -- runtime (REST-JSON) ----------------------------------------------------------------------


def _validate(operation: str, params: dict[str, Any]) -> None:
    try:
        validate_input(service_model(MODEL).operation_model(operation), params)
    except AwsError as error:  # this service names it ValidationError
        raise ValidationError(error.message) from None


def bulk_ingest(cloud: LocalCloud, request: Request, name: str) -> Response:
    """localcloud's extension: an Arrow IPC stream of records -> {"RecordCount"}."""
    _validate("GetRecord", {"FeatureGroupName": name, "RecordIdentifierValueAsString": "x"})
    return json_response({"RecordCount": ingest_ipc(cloud, name, request.body)})


def batch_get_record(cloud: LocalCloud, request: Request, name: str) -> Response:
    params = json_body(request)
    _validate("BatchGetRecord", params)
    return json_response(batch_get(cloud.featurestore, params))


def get_record(cloud: LocalCloud, request: Request, name: str) -> Response:
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
    # The model requires RecordIdentifierValueAsString: past _validate, rid is a string.
    return json_response(
        cloud.featurestore.get_record(name, params["RecordIdentifierValueAsString"], features, expiry == "Enabled")
    )


def put_record(cloud: LocalCloud, request: Request, name: str) -> Response:
    params = {**json_body(request), "FeatureGroupName": name}
    _validate("PutRecord", params)
    cloud.featurestore.put_record(name, params["Record"], params.get("TargetStores"), params.get("TtlDuration"))
    return json_response({})


def delete_record(cloud: LocalCloud, request: Request, name: str) -> Response:
    params: dict[str, Any] = {"FeatureGroupName": name}
    for key in ("RecordIdentifierValueAsString", "EventTime", "DeletionMode"):
        if request.query_value(key) is not None:
            params[key] = request.query_value(key)
    if request.query.get("TargetStores"):
        params["TargetStores"] = request.query["TargetStores"]
    _validate("DeleteRecord", params)
    cloud.featurestore.delete_record(
        name,
        params["RecordIdentifierValueAsString"],
        params["EventTime"],
        params.get("TargetStores"),
        params.get("DeletionMode", "SoftDelete"),
    )
    return json_response({})


# (method, path pattern, handler): the first match answers; `name` is the feature group's name
# (a path may carry one with slashes; botocore's model refuses it). Nothing matches: 404.
ROUTES: tuple[tuple[str, re.Pattern[str], Callable[[LocalCloud, Request, str], Response]], ...] = (
    ("POST", re.compile(r"/localcloud/FeatureGroup/(?P<name>.*)/records", re.S), bulk_ingest),
    ("POST", re.compile(r"/BatchGetRecord(?P<name>)"), batch_get_record),
    ("GET", re.compile(r"/FeatureGroup/(?P<name>.*)", re.S), get_record),
    ("PUT", re.compile(r"/FeatureGroup/(?P<name>.*)", re.S), put_record),
    ("DELETE", re.compile(r"/FeatureGroup/(?P<name>.*)", re.S), delete_record),
)


def handle(cloud: LocalCloud, request: Request) -> Response:
    """Answer one feature-store runtime request; errors in the REST-JSON shape."""
    try:
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is not None and request.method == method:
                return handler(cloud, request, match.group("name"))
        raise FeatureStoreUnknownOperation(f"localcloud does not serve {request.method} {request.path}")
    except AwsError as error:
        return json_error(error)


def batch_get(store: FeatureStoreBackend, params: dict[str, Any]) -> dict[str, Any]:
    """BatchGetRecord's response: each identifier's record, or its error (no failure aborts the
    batch, as on AWS)."""
    with_expiry = params.get("ExpirationTimeResponse") == "Enabled"
    records, errors = [], []
    for ident in params["Identifiers"]:
        group = ident["FeatureGroupName"]
        for rid in ident["RecordIdentifiersValueAsString"]:
            try:
                found = store.get_record(group, rid, ident.get("FeatureNames"), with_expiry)
            except AwsError as error:
                errors.append(
                    {
                        "FeatureGroupName": group,
                        "RecordIdentifierValueAsString": rid,
                        "ErrorCode": error.code,
                        "ErrorMessage": error.message,
                    }
                )
                continue
            if found:
                records.append({"FeatureGroupName": group, "RecordIdentifierValueAsString": rid, **found})
    return {"Records": records, "Errors": errors, "UnprocessedIdentifiers": []}


def ingest_ipc(cloud: LocalCloud, name: str, body: bytes) -> int:
    """Records from an Arrow IPC stream into the group (ValidationError if the body is none)."""
    import pyarrow as pa

    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"The body is not an Arrow IPC stream: {exc}") from None
    return cloud.featurestore.ingest_table(name, table)
