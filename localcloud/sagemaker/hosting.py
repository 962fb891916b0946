"""SageMaker hosting's wire operations: CreateModel, CreateEndpointConfig, CreateEndpoint,
UpdateEndpoint, UpdateEndpointWeightsAndCapacities and their Describe/List/Delete, as moto splits
them: validate, shape the documents, store them. What serves the endpoints lives in
`endpoints` (routes and the backend), `model_server` (loading and invoking models) and
`capture` (data capture).
"""
from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from localcloud.errors import validation
from localcloud.json_api import page_start
from localcloud.s3 import objects
from localcloud.sagemaker.endpoints import ENDPOINT, ENDPOINT_CONFIG, MODEL, _drop_none
from localcloud.sagemaker.store import wire
from localcloud.state import AlreadyExists


def _arn(cloud: Any, kind: str, name: str) -> str:
    return cloud.config.arn("sagemaker", f"{kind}/{name.lower()}")


def _epoch(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _list(docs: list[dict[str, Any]], params: dict[str, Any], name_key: str,
          status_key: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The List* operations' shared filters, sort and paging."""
    if params.get("NameContains"):
        docs = [d for d in docs if params["NameContains"].lower() in d[name_key].lower()]
    if status_key and params.get("StatusEquals"):
        docs = [d for d in docs if d[status_key] == params["StatusEquals"]]
    for param, key, after in (("CreationTimeAfter", "CreationTime", True),
                              ("CreationTimeBefore", "CreationTime", False),
                              ("LastModifiedTimeAfter", "LastModifiedTime", True),
                              ("LastModifiedTimeBefore", "LastModifiedTime", False)):
        if params.get(param) is not None:
            bound = _epoch(params[param])
            docs = [d for d in docs if (d[key] > bound if after else d[key] < bound)]
    sort_key = {"Name": name_key, "Status": status_key}.get(params.get("SortBy", ""), "CreationTime")
    docs.sort(key=lambda d: d[sort_key], reverse=params.get("SortOrder", "Descending") == "Descending")
    start = page_start(params)
    size = params.get("MaxResults") or 10
    token = str(start + size) if start + size < len(docs) else None
    return docs[start:start + size], token


def _page_out(key: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    return {key: items, **({"NextToken": token} if token else {})}


# -- models -----------------------------------------------------------------------------------

def _resolve_container(cloud: Any, container: dict[str, Any]) -> dict[str, Any]:
    """The container a model runs: ModelPackageName resolves to the package's first container."""
    resolved = dict(container)
    if container.get("ModelPackageName"):
        from localcloud.sagemaker.registry import get_package
        package = get_package(cloud, container["ModelPackageName"])
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
        if not containers:
            raise validation(f"Model package {container['ModelPackageName']} has no inference containers")
        first = containers[0]
        for key in ("Image", "ModelDataUrl"):
            if key in first:
                resolved.setdefault(key, first[key])
        resolved["Environment"] = {**(first.get("Environment") or {}), **(container.get("Environment") or {})}
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    if source and "ModelDataUrl" not in resolved:
        resolved["ModelDataUrl"] = source["S3Uri"]
    uri = resolved.get("ModelDataUrl")
    if uri is not None:
        try:
            path = objects.resolve(cloud.config.s3_root, uri)
        except objects.ObjectStoreError as exc:
            raise validation(f"ModelDataUrl: {exc}") from None
        exists = path.is_dir() if resolved.get("Mode") == "MultiModel" else path.is_file()
        if not exists:
            raise validation(f"Could not find model data at {uri}.")
    return resolved


def create_model(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelName"]
    container = params.get("PrimaryContainer") or (params.get("Containers") or [None])[0]
    if container is None:
        raise validation("Either PrimaryContainer or Containers must be provided")
    resolved = _resolve_container(cloud, container)
    arn = _arn(cloud, "model", name)
    doc = _drop_none({
        "ModelName": name, "ModelArn": arn,
        "PrimaryContainer": params.get("PrimaryContainer"), "Containers": params.get("Containers"),
        "InferenceExecutionConfig": params.get("InferenceExecutionConfig"),
        "ExecutionRoleArn": params.get("ExecutionRoleArn"), "VpcConfig": params.get("VpcConfig"),
        "EnableNetworkIsolation": params.get("EnableNetworkIsolation", False),
        "CreationTime": time.time(), "_Container": resolved, "_Tags": params.get("Tags", []),
    })
    try:
        cloud.state.insert(MODEL, name, doc)
    except AlreadyExists:
        raise validation(f"Cannot create already existing model \"{arn}\".") from None
    return {"ModelArn": arn}


def _model(cloud: Any, name: str) -> dict[str, Any]:
    doc = cloud.state.get(MODEL, name)
    if doc is None:
        raise validation(f"Could not find model \"{_arn(cloud, 'model', name)}\".")
    return doc


def describe_model(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return wire(_model(cloud, params["ModelName"]))


def delete_model(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    _model(cloud, params["ModelName"])
    cloud.state.delete(MODEL, params["ModelName"])
    return {}


def list_models(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    page, token = _list(cloud.state.list(MODEL), params, "ModelName")
    return _page_out("Models", [wire({k: d[k] for k in ("ModelName", "ModelArn", "CreationTime")})
                                for d in page], token)


# -- endpoint configs -------------------------------------------------------------------------

def create_endpoint_config(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointConfigName"]
    variants, seen = [], set()
    for pv in params["ProductionVariants"]:
        if pv["VariantName"] in seen:
            raise validation(f"Duplicate VariantName {pv['VariantName']} in ProductionVariants")
        seen.add(pv["VariantName"])
        if "ModelName" not in pv:
            raise validation(f"ProductionVariant {pv['VariantName']} has no ModelName")
        if cloud.state.get(MODEL, pv["ModelName"]) is None:
            raise validation(f"Could not find model \"{_arn(cloud, 'model', pv['ModelName'])}\".")
        if "ServerlessConfig" not in pv and ("InstanceType" not in pv or "InitialInstanceCount" not in pv):
            raise validation(f"ProductionVariant {pv['VariantName']} needs InstanceType and "
                             "InitialInstanceCount, or ServerlessConfig")
        variants.append({"InitialVariantWeight": 1.0, **pv})
    capture = params.get("DataCaptureConfig")
    if capture and capture.get("EnableCapture", False):
        try:
            objects.split_uri(capture["DestinationS3Uri"])
        except objects.ObjectStoreError as exc:
            raise validation(f"DataCaptureConfig.DestinationS3Uri: {exc}") from None
    arn = _arn(cloud, "endpoint-config", name)
    doc = _drop_none({
        "EndpointConfigName": name, "EndpointConfigArn": arn, "ProductionVariants": variants,
        "DataCaptureConfig": capture, "KmsKeyId": params.get("KmsKeyId"),
        "AsyncInferenceConfig": params.get("AsyncInferenceConfig"),
        "ShadowProductionVariants": params.get("ShadowProductionVariants"),
        "ExecutionRoleArn": params.get("ExecutionRoleArn"),
        "EnableNetworkIsolation": params.get("EnableNetworkIsolation"),
        "CreationTime": time.time(), "_Tags": params.get("Tags", []),
    })
    try:
        cloud.state.insert(ENDPOINT_CONFIG, name, doc)
    except AlreadyExists:
        raise validation(f"Cannot create already existing endpoint configuration \"{arn}\".") from None
    return {"EndpointConfigArn": arn}


def _endpoint_config(cloud: Any, name: str) -> dict[str, Any]:
    doc = cloud.state.get(ENDPOINT_CONFIG, name)
    if doc is None:
        raise validation(f"Could not find endpoint configuration \"{_arn(cloud, 'endpoint-config', name)}\".")
    return doc


def describe_endpoint_config(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return wire(_endpoint_config(cloud, params["EndpointConfigName"]))


def delete_endpoint_config(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    _endpoint_config(cloud, params["EndpointConfigName"])
    cloud.state.delete(ENDPOINT_CONFIG, params["EndpointConfigName"])
    return {}


def list_endpoint_configs(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    page, token = _list(cloud.state.list(ENDPOINT_CONFIG), params, "EndpointConfigName")
    keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
    return _page_out("EndpointConfigs", [wire({k: d[k] for k in keys}) for d in page], token)


# -- endpoints --------------------------------------------------------------------------------

def _endpoint(cloud: Any, name: str) -> dict[str, Any]:
    doc = cloud.state.get(ENDPOINT, name)
    if doc is None:
        raise validation(f"Could not find endpoint \"{_arn(cloud, 'endpoint', name)}\".")
    return doc


def create_endpoint(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    backend = cloud.hosting
    name = params["EndpointName"]
    config = _endpoint_config(cloud, params["EndpointConfigName"])
    arn = _arn(cloud, "endpoint", name)
    stamp = time.time()
    op = uuid.uuid4().hex
    doc = {"EndpointName": name, "EndpointArn": arn, "EndpointConfigName": config["EndpointConfigName"],
           "EndpointStatus": "Creating", "CreationTime": stamp, "LastModifiedTime": stamp,
           "_Config": config, "_Op": op, "_Tags": params.get("Tags", [])}
    with backend._control:
        try:
            cloud.state.insert(ENDPOINT, name, doc)
        except AlreadyExists:
            raise validation(f"Cannot create already existing endpoint \"{arn}\".") from None
    backend.launch(name, op, config, update=False)
    return {"EndpointArn": arn}


def describe_endpoint(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    cloud.hosting   # noqa: B018 - starting the backend resumes deployments after a restart
    doc = _endpoint(cloud, params["EndpointName"])
    out = wire(doc)
    if out.get("DataCaptureConfig") is None:
        out.pop("DataCaptureConfig", None)
    return out


def list_endpoints(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    cloud.hosting   # noqa: B018
    page, token = _list(cloud.state.list(ENDPOINT), params, "EndpointName", "EndpointStatus")
    keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
    return _page_out("Endpoints", [wire({k: d[k] for k in keys}) for d in page], token)


def delete_endpoint(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    backend = cloud.hosting
    with backend._control, cloud.state.transaction():
        doc = _endpoint(cloud, params["EndpointName"])
        # "If you delete an endpoint, Application Auto Scaling ... deregisters those models as
        # scalable targets without notifying you" (endpoint-delete-with-scaling.html).
        for variant in cloud.autoscaling.registered_variants(doc["EndpointName"]):
            cloud.autoscaling.deregister_variant(doc["EndpointName"], variant)
        cloud.state.delete(ENDPOINT, doc["EndpointName"])
        backend.drop(doc["EndpointName"])
    return {}


def update_endpoint(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    backend = cloud.hosting
    name = params["EndpointName"]
    config = _endpoint_config(cloud, params["EndpointConfigName"])
    if params.get("RetainAllVariantProperties"):
        raise validation("RetainAllVariantProperties is not supported by localcloud")
    op = uuid.uuid4().hex
    with backend._control, cloud.state.transaction():
        doc = _endpoint(cloud, name)
        if doc["EndpointStatus"] != "InService":
            raise validation(f"Cannot update in-progress endpoint \"{doc['EndpointArn']}\".")
        _refuse_autoscaled_changes(cloud, doc, config)
        doc.pop("FailureReason", None)
        doc.update(EndpointStatus="Updating", LastModifiedTime=time.time(),
                   _PendingConfig=config, _Op=op)
        cloud.state.put(ENDPOINT, name, doc)
    backend.launch(name, op, config, update=True)
    return {"EndpointArn": doc["EndpointArn"]}


def _refuse_autoscaled_changes(cloud: Any, doc: dict[str, Any], config: dict[str, Any]) -> None:
    """UpdateEndpoint fails when it would remove a variant registered with Application Auto
    Scaling or change its instance type; changing its model is allowed
    (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html)."""
    registered = cloud.autoscaling.registered_variants(doc["EndpointName"])
    if not registered:
        return
    current = {v["VariantName"]: v for v in doc["_Config"]["ProductionVariants"]}
    new = {v["VariantName"]: v for v in config["ProductionVariants"]}
    blocked = sorted(name for name in registered if name in current and (
        name not in new or new[name].get("InstanceType") != current[name].get("InstanceType")))
    if blocked:
        raise validation(
            f"The variant(s) {blocked} of endpoint \"{doc['EndpointArn']}\" are registered as "
            "scalable targets with Application Auto Scaling. Deregister them "
            "(DeregisterScalableTarget) before an update removes them or changes their "
            "instance type, and register them again afterwards.")


def update_endpoint_weights_and_capacities(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    backend = cloud.hosting
    name = params["EndpointName"]
    with backend._control, cloud.state.transaction():
        doc = _endpoint(cloud, name)
        if doc["EndpointStatus"] != "InService":
            raise validation(f"Cannot update in-progress endpoint \"{doc['EndpointArn']}\".")
        by_name = {v["VariantName"]: v for v in doc["ProductionVariants"]}
        for desired in params["DesiredWeightsAndCapacities"]:
            variant = by_name.get(desired["VariantName"])
            if variant is None:
                raise validation(f"The variant name(s) [{desired['VariantName']}] is/are not present "
                                 f"in the endpoint \"{doc['EndpointArn']}\".")
            if "DesiredWeight" in desired:
                variant["CurrentWeight"] = variant["DesiredWeight"] = float(desired["DesiredWeight"])
            if "DesiredInstanceCount" in desired and "CurrentInstanceCount" in variant:
                variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = desired["DesiredInstanceCount"]
        weights = {v: s["CurrentWeight"] for v, s in by_name.items()}
        # New weights take effect now; the models already loaded are reused.
        backend.install(backend.build_route(name, doc["_Config"], weights))
        op = uuid.uuid4().hex
        doc.update(EndpointStatus="Updating", LastModifiedTime=time.time(), _Op=op)
        cloud.state.put(ENDPOINT, name, doc)
    threading.Thread(target=_settle, args=(cloud, name, op), daemon=True).start()
    return {"EndpointArn": doc["EndpointArn"]}


def _settle(cloud: Any, name: str, op: str) -> None:
    """Updating → InService once a weights/capacity change is applied (it already is)."""
    backend = cloud.hosting
    with backend._control, cloud.state.transaction():
        doc = cloud.state.get(ENDPOINT, name)
        if doc is not None and doc.get("_Op") == op and doc["EndpointStatus"] == "Updating":
            doc.update(EndpointStatus="InService", LastModifiedTime=time.time())
            cloud.state.put(ENDPOINT, name, doc)


OPERATIONS = {
    "CreateModel": create_model,
    "DescribeModel": describe_model,
    "DeleteModel": delete_model,
    "ListModels": list_models,
    "CreateEndpointConfig": create_endpoint_config,
    "DescribeEndpointConfig": describe_endpoint_config,
    "DeleteEndpointConfig": delete_endpoint_config,
    "ListEndpointConfigs": list_endpoint_configs,
    "CreateEndpoint": create_endpoint,
    "DescribeEndpoint": describe_endpoint,
    "ListEndpoints": list_endpoints,
    "DeleteEndpoint": delete_endpoint,
    "UpdateEndpoint": update_endpoint,
    "UpdateEndpointWeightsAndCapacities": update_endpoint_weights_and_capacities,
}

__all__ = ["OPERATIONS"]
