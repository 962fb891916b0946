"""SageMaker's backend (`cloud.sagemaker`): models, endpoint configs, endpoints and what serves
them, and the model registry (its base `ModelRegistry`, localcloud.sagemaker.registry).

Control-plane documents live in the StateStore shaped like their Describe* responses (times as
epoch floats; `wire` renders them; "_" keys are bookkeeping). Invocations never read SQLite:
each serving endpoint has an immutable `Route` in memory, replaced wholesale (one dict
assignment, atomic under the GIL) by Create/Update/weights calls, so a request that picked the
old route finishes on the old models. The backend (one per LocalCloud) holds what lives in
memory (loaded models, instance fleets -- localcloud/sagemaker/hosting: one serving process per
instance for script-mode models --, routes, invocation counters) and runs the background
deploys; the wire
operations are localcloud.sagemaker.responses (control plane) and localcloud.sagemaker.runtime
(InvokeEndpoint). Source: the SageMaker API reference (API_CreateEndpoint, API_UpdateEndpoint,
API_UpdateEndpointWeightsAndCapacities, ...) and the developer guide's hosting pages.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import random
import shutil
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import urllib3

from localcloud.errors import AwsError, ValidationException
from localcloud.sagemaker import service_events
from localcloud.sagemaker.capture import Capture, CaptureWriter
from localcloud.sagemaker.exceptions import InvokeError, ModelError, ResourceLimitExceeded, ValidationError
from localcloud.sagemaker.hosting.instances import (
    DEFAULT_STARTUP_TIMEOUT,
    Fleet,
    Hosting,
    InstanceStartError,
    Spec,
    serving_python,
)
from localcloud.sagemaker.invocation_metrics import (
    INSTANCE_NAMESPACE,
    NAMESPACE,
    VariantStats,
    instance_data,
    metric_data,
)
from localcloud.sagemaker.model_server import ModelHandle, model_environment, serving_code, unpack_output
from localcloud.sagemaker.registry import ModelRegistry, drop_none
from localcloud.sagemaker.store import wire
from localcloud.state import AlreadyExists

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger("localcloud.hosting")

MODEL = "sm-model"
ENDPOINT_CONFIG = "sm-endpoint-config"
ENDPOINT = "sm-endpoint"
_NAME_KEYS = {MODEL: "ModelName", ENDPOINT_CONFIG: "EndpointConfigName", ENDPOINT: "EndpointName"}

SERVING_STATES = ("InService", "Updating", "SystemUpdating", "RollingBack")


# -- routing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    model: ModelHandle
    weight: float
    fleet: Fleet | None = None  # its instances as processes (script mode); None: served in-process


@dataclass(frozen=True)
class Route:
    """What an InService endpoint serves; never mutated, replaced on every change."""

    endpoint: str
    config_name: str
    variants: tuple[Variant, ...]
    capture: Capture | None
    by_name: dict[str, Variant] = field(default_factory=dict)

    def pick(self, target_variant: str | None) -> Variant:
        if target_variant is not None:
            variant = self.by_name.get(target_variant)
            if variant is None:
                raise ValidationError(f"Endpoint {self.endpoint} has no production variant named {target_variant}")
            return variant
        if len(self.variants) == 1:
            return self.variants[0]
        weights = [v.weight for v in self.variants]
        if sum(weights) <= 0:
            raise ValidationError(f"All production variants of endpoint {self.endpoint} have weight 0")
        return random.choices(self.variants, weights)[0]


def _runs_as_processes(handle: ModelHandle, pv: dict[str, Any]) -> bool:
    """A variant's instances run as processes of the serving image when its model names a
    script-mode user module (SAGEMAKER_PROGRAM), one model per container. Multi-model models
    stay in-process (model_server.ModelHandle): the 1.7-1 container serves them through
    Multi Model Server, a Java server (serving.py `start_mxnet_model_server`), which this
    machine does not run. Serverless variants have no instances. Models without
    SAGEMAKER_PROGRAM (the container's algorithm mode) are served in-process too."""
    return not handle.multi and "ServerlessConfig" not in pv and bool(handle.environment.get("SAGEMAKER_PROGRAM"))


@dataclass
class Result:
    """An answered InvokeEndpoint: the body, its type, the variant that answered."""

    body: bytes
    content_type: str
    variant: str
    custom_attributes: str | None = None


@dataclass(frozen=True)
class ListFilter:
    """ListModels', ListEndpointConfigs' and ListEndpoints' filters and sort (times in epoch
    seconds; SortBy "Name", "Status" or CreationTime; SortOrder Descending by default)."""

    name_contains: str | None = None
    status_equals: str | None = None
    creation_time_after: float | None = None
    creation_time_before: float | None = None
    last_modified_time_after: float | None = None
    last_modified_time_before: float | None = None
    sort_by: str | None = None
    sort_order: str | None = None

    def apply(self, docs: list[dict[str, Any]], name_key: str, status_key: str | None = None) -> list[dict[str, Any]]:
        if self.name_contains:
            docs = [d for d in docs if self.name_contains.lower() in d[name_key].lower()]
        if status_key and self.status_equals:
            docs = [d for d in docs if d[status_key] == self.status_equals]
        for bound, key, after in (
            (self.creation_time_after, "CreationTime", True),
            (self.creation_time_before, "CreationTime", False),
            (self.last_modified_time_after, "LastModifiedTime", True),
            (self.last_modified_time_before, "LastModifiedTime", False),
        ):
            if bound is not None:
                docs = [d for d in docs if (d[key] > bound if after else d[key] < bound)]
        sort_key = {"Name": name_key, "Status": status_key or "CreationTime"}.get(self.sort_by or "", "CreationTime")
        docs.sort(key=lambda d: d[sort_key], reverse=(self.sort_order or "Descending") == "Descending")
        return docs


class SageMakerBackend(ModelRegistry):
    """SageMaker of one LocalCloud (`cloud.sagemaker`): hosting's documents and serving, and the
    model registry (ModelRegistry). Thread-safe. Control-plane methods raise
    ValidationException for what SageMaker refuses that way (missing or existing resources,
    bad input); `invoke` raises the runtime's InvokeError subclasses."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.models_dir: Path = cloud.config.home / "hosting" / "models"
        self._routes: dict[str, Route] = {}
        self._handles: dict[tuple[str, float], ModelHandle] = {}
        self.hosting = Hosting(cloud)
        self._fleets: dict[tuple[str, str, str, float], Fleet] = {}
        self._control = threading.RLock()  # read-modify-write of endpoint documents
        # Counters since the last drain (the minute CloudWatch has not been told about yet, see
        # localcloud/sagemaker/invocation_metrics.py) and the drained ones; both under _stats_lock.
        self._stats: dict[tuple[str, str], VariantStats] = collections.defaultdict(VariantStats)
        self._drained: dict[tuple[str, str], VariantStats] = collections.defaultdict(VariantStats)
        self._stats_lock = threading.Lock()
        self.stats_since = time.time()  # when the counters in _stats began
        self._capture = CaptureWriter(lambda uri: cloud.s3.open_append(uri))
        self._closed = False
        self._closing = threading.Event()
        self._recover()

    # - model files ------------------------------------------------------------------------

    def load_model(self, model_name: str, uri: str | None) -> Any:
        """Extract model.tar.gz under home/hosting/models/<ModelName>/<hash>/ and model_fn it."""
        if not uri:
            raise RuntimeError(f"model {model_name} has no ModelDataUrl")
        return serving_code().model_fn(self.extract(model_name, uri))

    def extract(self, model_name: str, uri: str) -> Path:
        """The directory a model.tar.gz at `uri` is extracted to (once per content);
        FileNotFoundError if there is no such object, tarfile's errors for a bad archive."""
        try:
            data = self.cloud.s3.read_bytes(uri)
        except AwsError as exc:
            raise FileNotFoundError(str(exc)) from None
        target = self.models_dir / model_name / hashlib.sha256(data).hexdigest()[:16]
        if target.is_dir():
            return target
        staging = target.parent / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            archive = staging / "model.tar.gz"
            archive.write_bytes(data)
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(staging / "model", filter="data")  # refuses ../ and links out
            archive.unlink()
            try:
                os.replace(staging / "model", target)
            except OSError:
                if not target.is_dir():  # lost a race to an identical extraction: fine
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _handle(self, model_name: str) -> ModelHandle:
        doc = self._find(MODEL, model_name)
        if doc is None:
            raise RuntimeError(f"Could not find model {model_name}")
        key = (doc["ModelName"], doc["CreationTime"])  # a re-created model of the same name is new
        with self._control:
            handle = self._handles.get(key)
            if handle is None:
                handle = self._handles[key] = ModelHandle(self, doc)
            return handle

    # - routes -----------------------------------------------------------------------------

    def build_route(self, endpoint: str, config: dict[str, Any], weights: dict[str, float] | None = None) -> Route:
        """A route over an endpoint config's variants (weights by variant name, or the
        config's initial weights); RuntimeError for a model that does not exist."""
        variants = []
        for pv in config["ProductionVariants"]:
            weight = (weights or {}).get(pv["VariantName"], pv.get("InitialVariantWeight", 1.0))
            handle = self._handle(pv["ModelName"])
            fleet = self._fleet(endpoint, config, pv, handle) if _runs_as_processes(handle, pv) else None
            variants.append(Variant(pv["VariantName"], handle, float(weight), fleet))
        return Route(
            endpoint,
            config["EndpointConfigName"],
            tuple(variants),
            Capture.from_config(config.get("DataCaptureConfig")),
            {v.name: v for v in variants},
        )

    def _fleet(self, endpoint: str, config: dict[str, Any], pv: dict[str, Any], handle: ModelHandle) -> Fleet:
        """The fleet of a variant of a deployed config (one per endpoint, config and variant;
        created empty, `Fleet.scale` starts its instances)."""
        key = (endpoint, config["EndpointConfigName"], pv["VariantName"], float(config.get("CreationTime", 0)))
        fleet = self._fleets.get(key)
        if fleet is not None and not fleet.retired:
            return fleet
        spec = self._spec(endpoint, pv, handle)  # outside the lock: may build the image's environment
        with self._control:
            fleet = self._fleets.get(key)
            if fleet is None or fleet.retired:
                fleet = self._fleets[key] = Fleet(self.hosting, spec)
            return fleet

    def _spec(self, endpoint: str, pv: dict[str, Any], handle: ModelHandle) -> Spec:
        """What a variant's instances run; InstanceStartError for an image localcloud cannot
        run (checked first, and its environment built if needed: SageMaker pulls the image
        before the model data), RuntimeError for model data or code not there."""
        serving_python(handle.image)
        if not handle.data_url:
            raise RuntimeError(f"model {handle.name} has no ModelDataUrl")
        try:
            model_dir = self.extract(handle.name, handle.data_url)
        except FileNotFoundError as exc:
            raise RuntimeError(f"model {handle.name}: {exc}") from None
        code_uri = handle.environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        code = None
        if code_uri.startswith("s3://"):
            try:
                code = self.cloud.s3.read_bytes(code_uri)
            except AwsError as exc:
                raise RuntimeError(f"SAGEMAKER_SUBMIT_DIRECTORY {code_uri}: {exc}") from None
        return Spec(
            endpoint,
            pv["VariantName"],
            str(handle.image or ""),
            dict(handle.environment),
            model_dir,
            code,
            float(pv.get("ContainerStartupHealthCheckTimeoutInSeconds") or DEFAULT_STARTUP_TIMEOUT),
        )

    def route(self, endpoint: str) -> Route:
        """The endpoint's route, built on first use after a restart. ValidationError for an
        unknown or not serving endpoint, ModelError for a model that no longer exists."""
        route = self._routes.get(endpoint)
        if route is not None:
            return route
        # Not in memory: unknown, not yet InService, or InService before a restart.
        doc = self.cloud.state.get(ENDPOINT, endpoint)
        account = self.cloud.config.account_id
        if doc is None:
            raise ValidationError(f"Endpoint {endpoint} of account {account} not found.")
        if doc["EndpointStatus"] not in SERVING_STATES:
            raise ValidationError(
                f"Endpoint {endpoint} of account {account} is not in service (status {doc['EndpointStatus']})."
            )
        weights = {v["VariantName"]: v["CurrentWeight"] for v in doc.get("ProductionVariants", [])}
        counts = {v["VariantName"]: v.get("CurrentInstanceCount", 1) for v in doc.get("ProductionVariants", [])}
        # Not under the control lock: starting instances takes seconds. Concurrent first requests
        # build equal routes over the same fleets, whose `scale` is serialised.
        try:
            built = self.build_route(endpoint, doc["_Config"], weights)
            for variant in built.variants:  # instances come back with the server
                if variant.fleet is not None:
                    variant.fleet.scale(counts.get(variant.name, 1))
        except RuntimeError as exc:
            raise ModelError(str(exc), OriginalStatusCode=500, OriginalMessage=str(exc)) from None
        with self._control:
            route = self._routes.get(endpoint)
            if route is None:
                route = built
                self.install(route)  # in-process models load lazily on first invoke
            return route

    def install(self, route: Route) -> None:
        for variant in route.variants:
            if variant.fleet is not None:
                variant.fleet.installed = True
        self._routes[route.endpoint] = route

    def drop(self, endpoint: str) -> None:
        with self._control:
            self._routes.pop(endpoint, None)
            self._prune()

    def _prune(self) -> None:
        """Forget loaded models no route uses any more (old configs, failed updates)."""
        with self._control:
            live = {id(v.model) for r in self._routes.values() for v in r.variants}
            for key in [k for k, h in self._handles.items() if id(h) not in live]:
                del self._handles[key]
            # A fleet no route serves any more retires (after its in-flight requests); one being
            # deployed (never installed) is its deploy's to keep or stop.
            serving = {id(v.fleet) for r in self._routes.values() for v in r.variants if v.fleet is not None}
            for fleet_key, fleet in list(self._fleets.items()):
                if fleet.installed and id(fleet) not in serving:
                    del self._fleets[fleet_key]
                    fleet.retire_all()

    # - invoke -----------------------------------------------------------------------------

    def invoke(
        self,
        endpoint: str,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        target_variant: str | None = None,
        target_model: str | None = None,
        custom_attributes: str | None = None,
        inference_id: str | None = None,
        request_id: str | None = None,
    ) -> Result:
        """InvokeEndpoint: pick a variant (TargetVariant or by weight); send the request to one
        of its instance processes (`_invoke_instance`) or, for an in-process variant, run the
        serving code's decode/predict/encode; count it for the invocation metrics and capture it.
        ValidationError for an endpoint not serving, a bad variant or TargetModel; ModelError
        (424, the model's status in OriginalStatusCode) when the model fails."""
        route = self.route(endpoint)
        variant = route.pick(target_variant)
        if variant.fleet is not None:
            return self._invoke_instance(route, variant, body, content_type, accept, custom_attributes, inference_id)
        key = (endpoint, variant.name)
        serving = serving_code()
        started = time.perf_counter()
        try:
            model = variant.model.get(target_model, endpoint=endpoint, request_id=request_id or str(uuid.uuid4()))
            with model_environment(serving, variant.model.environment):
                data = serving.decode(body, content_type)
                prediction = serving.predict(data, model)
                output = serving.encode(prediction, accept)
        except InvokeError:
            self._count(key, 4)
            raise
        except serving.InputError as exc:
            self._count(key, 4)
            raise self._model_error(endpoint, exc.status, str(exc)) from None
        except Exception as exc:  # the model server answered 500
            log.exception("model error on endpoint %s variant %s", endpoint, variant.name)
            self._count(key, 5)
            raise self._model_error(endpoint, 500, f"{type(exc).__name__}: {exc}") from None
        out_body, out_type, attributes = unpack_output(output, accept)
        latency = int((time.perf_counter() - started) * 1e6)
        with self._stats_lock:  # looked up under the lock: drain_stats swaps the dict
            self._stats[key].answered(latency)
        if route.capture is not None:
            self._capture.write(
                route.capture, route.endpoint, variant.name, body, content_type, out_body, out_type, inference_id
            )
        return Result(out_body, out_type, variant.name, attributes)

    def _invoke_instance(
        self,
        route: Route,
        variant: Variant,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None,
        inference_id: str | None,
    ) -> Result:
        """InvokeEndpoint on a variant whose instances are processes: POST /invocations to the
        instance with the fewest outstanding requests, forwarding Content-Type, Accept and
        X-Amzn-SageMaker-Custom-Attributes as the runtime does (API_runtime_InvokeEndpoint).
        A 2xx answer is the response (its body, Content-Type, custom attributes); any other
        is ModelError (424) with the container's status as OriginalStatusCode and its body as
        OriginalMessage (botocore's sagemaker-runtime model: ModelError {Message,
        OriginalStatusCode, OriginalMessage, LogStreamArn})."""
        assert variant.fleet is not None
        endpoint = route.endpoint
        key = (endpoint, variant.name)
        arrived = time.perf_counter()
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        if custom_attributes is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        try:
            instance = variant.fleet.pick()
        except InstanceStartError as exc:
            self._count(key, 5)
            raise self._model_error(endpoint, 500, str(exc)) from None
        answered = False
        try:
            sent = time.perf_counter()
            try:
                answer = instance.post(body, headers)
            except urllib3.exceptions.ReadTimeoutError:
                # The runtime's answer when the container does not respond within 60 s
                # (aws/amazon-sagemaker-examples#799, #1407: "Received server error (0) ...").
                self._count(key, 5)
                raise self._model_error(
                    endpoint,
                    0,
                    "Your invocation timed out while waiting for a response from container primary. "
                    "Review the latency metrics for each container in Amazon CloudWatch, resolve "
                    "the issue, and try again.",
                ) from None
            except urllib3.exceptions.HTTPError as exc:
                log.warning("endpoint %s instance %s: %s", endpoint, instance.id, exc)
                self._count(key, 5)
                raise self._model_error(endpoint, 500, f"{type(exc).__name__}: {exc}") from None
            model_us = int((time.perf_counter() - sent) * 1e6)
            status = answer.status
            if not 200 <= status < 300:
                self._count(key, 4 if status < 500 else 5)
                raise self._model_error(endpoint, status, answer.data.decode("utf-8", errors="replace"))
            answered = True
        finally:
            variant.fleet.done(instance, answered)
        out_body = answer.data
        out_type = answer.headers.get("Content-Type", accept or "application/json")
        total_us = int((time.perf_counter() - arrived) * 1e6)
        with self._stats_lock:
            self._stats[key].answered(model_us, overhead_us=max(0, total_us - model_us))
        if route.capture is not None:
            self._capture.write(
                route.capture, endpoint, variant.name, body, content_type, out_body, out_type, inference_id
            )
        return Result(out_body, out_type, variant.name, answer.headers.get("X-Amzn-SageMaker-Custom-Attributes"))

    def _count(self, key: tuple[str, str], kind: int) -> None:
        with self._stats_lock:
            stats = self._stats[key]
            stats.invocations += 1
            if kind == 4:
                stats.errors_4xx += 1
            else:
                stats.errors_5xx += 1

    def _model_error(self, endpoint: str, status: int, message: str) -> ModelError:
        kind = "client" if 400 <= status < 500 else "server"
        region, account = self.cloud.config.region, self.cloud.config.account_id
        group = f"/aws/sagemaker/Endpoints/{endpoint}"
        text = (
            f'Received {kind} error ({status}) from primary with message "{message}". '
            f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logEventViewer:group={group} in account {account} for more information."
        )
        return ModelError(
            text,
            OriginalStatusCode=status,
            OriginalMessage=message,
            LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{group}",
        )

    def stats(self, endpoint: str) -> dict[str, dict[str, int | None]]:
        """Per-variant counters since this process started (for monitoring)."""
        with self._stats_lock:
            out: dict[str, VariantStats] = {}
            for counters in (self._drained, self._stats):
                for (name, variant), s in counters.items():
                    if name == endpoint:
                        out.setdefault(variant, VariantStats()).add(s)
        return {variant: vars(s) for variant, s in out.items()}

    def drain_stats(self, now: float) -> tuple[float, dict[tuple[str, str], VariantStats]]:
        """When the counting began and the counters of each (endpoint, variant) since then;
        counting starts again from zero at `now` (epoch seconds)."""
        with self._stats_lock:
            window, self._stats = self._stats, collections.defaultdict(VariantStats)
            since, self.stats_since = self.stats_since, now
            for key, s in window.items():
                self._drained[key].add(s)
        return since, dict(window)

    def cache_stats(self, endpoint: str) -> dict[str, dict[str, int]]:
        """Per-variant multi-model cache counters (loads, hits, waits, evictions, bytes...)."""
        route = self.route(endpoint)
        return {v.name: v.model.cache_stats() for v in route.variants if v.model.multi}

    def publish_invocation_metrics(self, now: float, force: bool = False) -> int:
        """Hand CloudWatch the counters of the minute that has ended (any counters at all when
        `force`) as AWS/SageMaker MetricDatum dicts stamped with the minute they were counted
        in (`cloud.cloudwatch.publish_service_metrics`, which evaluates the alarms on them);
        the number of datums. Called every second by the server's clock; `now` in epoch seconds."""
        if not force and int(now // 60) == int(self.stats_since // 60):
            return 0
        since, window = self.drain_stats(now)
        minute = since // 60 * 60
        data = metric_data(window, minute, self._instance_count)
        if data:
            self.cloud.cloudwatch.publish_service_metrics(NAMESPACE, data, now)
        samples: dict[tuple[str, str], list[tuple[float, float]]] = collections.defaultdict(list)
        for instance in self.hosting.live():
            samples[(instance.endpoint, instance.variant)].append(instance.usage())
        usage = instance_data(samples, minute)
        if usage:
            self.cloud.cloudwatch.publish_service_metrics(INSTANCE_NAMESPACE, usage, now)
        return len(data) + len(usage)

    def tick_instances(self, now: float) -> None:
        """Every second (the server's clock): replace instance processes that died (SageMaker
        replaces an unhealthy instance), and write the requests each instance served."""
        with self._control:
            fleets = [f for f in self._fleets.values() if f.installed and not f.retired]
        for fleet in fleets:
            fleet.heal()
        self.hosting.save_served()

    def _instance_count(self, endpoint: str, variant: str) -> int | None:
        """The variant's CurrentInstanceCount now (None for a serverless variant or a deleted endpoint)."""
        doc = self.cloud.state.get(ENDPOINT, endpoint) or {}
        for v in doc.get("ProductionVariants", []):
            if v.get("VariantName") == variant:
                return v.get("CurrentInstanceCount") or None
        return None

    # - models -----------------------------------------------------------------------------

    def _arn(self, kind: str, name: str) -> str:
        return self.cloud.config.arn("sagemaker", f"{kind}/{name.lower()}")

    def _find(self, kind: str, name: str) -> dict[str, Any] | None:
        """The model, endpoint config or endpoint named `name`, ignoring case: SageMaker names
        differing only in case are one resource, with one (lower-cased) ARN; "The name is
        case-insensitive in CreateEndpoint, but the case is preserved and must be matched in
        InvokeEndpoint" (API_CreateEndpoint). Describe*, Delete* and Update* find a resource by
        its name in any case and answer with the name as created; InvokeEndpoint (`route`)
        matches the case exactly."""
        return self.cloud.state.get_ignoring_case(kind, name, _NAME_KEYS[kind])

    def _insert_new(self, kind: str, name: str, doc: dict[str, Any], refusal: str) -> None:
        """Store a new resource; ValidationException(`refusal`) when one of that name exists in
        any case (the check and the insert are one transaction)."""
        state = self.cloud.state
        with state.transaction():
            if self._find(kind, name) is not None:
                raise ValidationException(refusal)
            try:
                state.insert(kind, name, doc)
            except AlreadyExists:
                raise ValidationException(refusal) from None

    def _resolve_container(self, container: dict[str, Any]) -> dict[str, Any]:
        """The container a model runs: ModelPackageName resolves to the package's first container."""
        resolved = dict(container)
        if container.get("ModelPackageName"):
            package = self.get_package(container["ModelPackageName"])
            containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
            if not containers:
                raise ValidationException(f"Model package {container['ModelPackageName']} has no inference containers")
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
                exists = (
                    self.cloud.s3.has_prefix(uri)
                    if resolved.get("Mode") == "MultiModel"
                    else self.cloud.s3.has_object(uri)
                )
            except AwsError as exc:
                raise ValidationException(f"ModelDataUrl: {exc}") from None
            if not exists:
                raise ValidationException(f"Could not find model data at {uri}.")
        return resolved

    def create_model(
        self,
        *,
        name: str,
        primary_container: dict[str, Any] | None = None,
        containers: list[dict[str, Any]] | None = None,
        inference_execution_config: dict[str, Any] | None = None,
        execution_role_arn: str | None = None,
        vpc_config: dict[str, Any] | None = None,
        enable_network_isolation: bool = False,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        """The new model's ARN. ValidationException without a container, for model data that
        is not there, or an existing model."""
        container = primary_container or (containers[0] if containers else None)
        if container is None:
            raise ValidationException("Either PrimaryContainer or Containers must be provided")
        resolved = self._resolve_container(container)
        arn = self._arn("model", name)
        doc = drop_none(
            {
                "ModelName": name,
                "ModelArn": arn,
                "PrimaryContainer": primary_container,
                "Containers": containers,
                "InferenceExecutionConfig": inference_execution_config,
                "ExecutionRoleArn": execution_role_arn,
                "VpcConfig": vpc_config,
                "EnableNetworkIsolation": enable_network_isolation,
                "CreationTime": time.time(),
                "_Container": resolved,
                "_Tags": tags or [],
            }
        )
        self._insert_new(MODEL, name, doc, f'Cannot create already existing model "{arn}".')
        return arn

    def _model(self, name: str) -> dict[str, Any]:
        doc = self._find(MODEL, name)
        if doc is None:
            raise ValidationException(f'Could not find model "{self._arn("model", name)}".')
        return doc

    def describe_model(self, *, name: str) -> dict[str, Any]:
        """DescribeModel's response."""
        return wire(self._model(name))

    def delete_model(self, *, name: str) -> None:
        self.cloud.state.delete(MODEL, self._model(name)["ModelName"])

    def list_models(self, *, filters: ListFilter) -> list[dict[str, Any]]:
        """ModelSummary dicts, filtered and sorted (newest first by default)."""
        docs = filters.apply(self.cloud.state.list(MODEL), "ModelName")
        return [wire({k: d[k] for k in ("ModelName", "ModelArn", "CreationTime")}) for d in docs]

    # - endpoint configs -------------------------------------------------------------------

    def create_endpoint_config(
        self,
        *,
        name: str,
        production_variants: list[dict[str, Any]],
        data_capture_config: dict[str, Any] | None = None,
        kms_key_id: str | None = None,
        async_inference_config: dict[str, Any] | None = None,
        shadow_production_variants: list[dict[str, Any]] | None = None,
        execution_role_arn: str | None = None,
        enable_network_isolation: bool | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        """The new endpoint config's ARN. ValidationException for duplicate or incomplete
        variants, a missing model, a capture destination outside the object store, or an
        existing config."""
        variants, seen = [], set()
        for pv in production_variants:
            if pv["VariantName"] in seen:
                raise ValidationException(f"Duplicate VariantName {pv['VariantName']} in ProductionVariants")
            seen.add(pv["VariantName"])
            if "ModelName" not in pv:
                raise ValidationException(f"ProductionVariant {pv['VariantName']} has no ModelName")
            if self._find(MODEL, pv["ModelName"]) is None:
                raise ValidationException(f'Could not find model "{self._arn("model", pv["ModelName"])}".')
            if "ServerlessConfig" not in pv and ("InstanceType" not in pv or "InitialInstanceCount" not in pv):
                raise ValidationException(
                    f"ProductionVariant {pv['VariantName']} needs InstanceType and "
                    "InitialInstanceCount, or ServerlessConfig"
                )
            variants.append({"InitialVariantWeight": 1.0, **pv})
        capture = data_capture_config
        if capture and capture.get("EnableCapture", False):
            try:
                self.cloud.s3.split_uri(capture["DestinationS3Uri"])
            except AwsError as exc:
                raise ValidationException(f"DataCaptureConfig.DestinationS3Uri: {exc}") from None
        arn = self._arn("endpoint-config", name)
        doc = drop_none(
            {
                "EndpointConfigName": name,
                "EndpointConfigArn": arn,
                "ProductionVariants": variants,
                "DataCaptureConfig": capture,
                "KmsKeyId": kms_key_id,
                "AsyncInferenceConfig": async_inference_config,
                "ShadowProductionVariants": shadow_production_variants,
                "ExecutionRoleArn": execution_role_arn,
                "EnableNetworkIsolation": enable_network_isolation,
                "CreationTime": time.time(),
                "_Tags": tags or [],
            }
        )
        self._insert_new(ENDPOINT_CONFIG, name, doc, f'Cannot create already existing endpoint configuration "{arn}".')
        return arn

    def _endpoint_config(self, name: str) -> dict[str, Any]:
        doc = self._find(ENDPOINT_CONFIG, name)
        if doc is None:
            raise ValidationException(f'Could not find endpoint configuration "{self._arn("endpoint-config", name)}".')
        return doc

    def describe_endpoint_config(self, *, name: str) -> dict[str, Any]:
        """DescribeEndpointConfig's response."""
        return wire(self._endpoint_config(name))

    def delete_endpoint_config(self, *, name: str) -> None:
        self.cloud.state.delete(ENDPOINT_CONFIG, self._endpoint_config(name)["EndpointConfigName"])

    def list_endpoint_configs(self, *, filters: ListFilter) -> list[dict[str, Any]]:
        """EndpointConfigSummary dicts, filtered and sorted (newest first by default)."""
        docs = filters.apply(self.cloud.state.list(ENDPOINT_CONFIG), "EndpointConfigName")
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return [wire({k: d[k] for k in keys}) for d in docs]

    # - endpoints --------------------------------------------------------------------------

    def _endpoint(self, name: str) -> dict[str, Any]:
        doc = self._find(ENDPOINT, name)
        if doc is None:
            raise ValidationException(f'Could not find endpoint "{self._arn("endpoint", name)}".')
        return doc

    def create_endpoint(self, *, name: str, config_name: str, tags: list[dict[str, str]] | None = None) -> str:
        """The new endpoint's ARN; it is Creating until its models are loaded (in the
        background), then InService or Failed. ValidationException for a missing config or an
        existing endpoint."""
        config = self._endpoint_config(config_name)
        arn = self._arn("endpoint", name)
        stamp = time.time()
        op = uuid.uuid4().hex
        doc = {
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": config["EndpointConfigName"],
            "EndpointStatus": "Creating",
            "CreationTime": stamp,
            "LastModifiedTime": stamp,
            "_Config": config,
            "_Op": op,
            "_Tags": tags or [],
        }
        with self._control:
            self._check_instance_quota(_instances_by_type(config["ProductionVariants"], "InitialInstanceCount"))
            self._insert_new(ENDPOINT, name, doc, f'Cannot create already existing endpoint "{arn}".')
        service_events.endpoint_changed(self.cloud, doc)
        self.launch(name, op, config, update=False)
        return arn

    def describe_endpoint(self, *, name: str) -> dict[str, Any]:
        """DescribeEndpoint's response (no DataCaptureConfig when the config has none)."""
        out = wire(self._endpoint(name))
        if out.get("DataCaptureConfig") is None:
            out.pop("DataCaptureConfig", None)
        return out

    def list_endpoints(self, *, filters: ListFilter) -> list[dict[str, Any]]:
        """EndpointSummary dicts, filtered and sorted (newest first by default)."""
        docs = filters.apply(self.cloud.state.list(ENDPOINT), "EndpointName", "EndpointStatus")
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        return [wire({k: d[k] for k in keys}) for d in docs]

    def delete_endpoint(self, *, name: str) -> None:
        """Delete the endpoint, and its variants' scalable targets with Application Auto Scaling."""
        autoscaling = self.cloud.autoscaling
        with self._control, self.cloud.state.transaction():
            doc = self._endpoint(name)
            # "If you delete an endpoint, Application Auto Scaling ... deregisters those models as
            # scalable targets without notifying you" (endpoint-delete-with-scaling.html).
            for variant in autoscaling.registered_variants(doc["EndpointName"]):
                autoscaling.deregister_variant(doc["EndpointName"], variant)
            self.cloud.state.delete(ENDPOINT, doc["EndpointName"])
            self.drop(doc["EndpointName"])
        doc.update(EndpointStatus="Deleting", LastModifiedTime=time.time())
        service_events.endpoint_changed(self.cloud, doc)

    def update_endpoint(self, *, name: str, config_name: str, retain_all_variant_properties: bool = False) -> str:
        """Deploy another config to an InService endpoint (Updating, in the background; a
        failed update rolls back); the endpoint's ARN. ValidationException for a missing
        endpoint or config, an endpoint not InService, RetainAllVariantProperties, or a change
        to an autoscaled variant."""
        config = self._endpoint_config(config_name)
        if retain_all_variant_properties:
            raise ValidationException("RetainAllVariantProperties is not supported by localcloud")
        op = uuid.uuid4().hex
        with self._control, self.cloud.state.transaction():
            doc = self._endpoint(name)
            name = doc["EndpointName"]  # as created (found ignoring case)
            if doc["EndpointStatus"] != "InService":
                raise ValidationException(f'Cannot update in-progress endpoint "{doc["EndpointArn"]}".')
            self._refuse_autoscaled_changes(doc, config)
            # the new fleet comes up beside the old one, which counts until it retires
            self._check_instance_quota(_instances_by_type(config["ProductionVariants"], "InitialInstanceCount"))
            doc.pop("FailureReason", None)
            doc.update(EndpointStatus="Updating", LastModifiedTime=time.time(), _PendingConfig=config, _Op=op)
            self.cloud.state.put(ENDPOINT, name, doc)
        service_events.endpoint_changed(self.cloud, doc)
        self.launch(name, op, config, update=True)
        return str(doc["EndpointArn"])

    def _refuse_autoscaled_changes(self, doc: dict[str, Any], config: dict[str, Any]) -> None:
        """UpdateEndpoint fails when it would remove a variant registered with Application Auto
        Scaling or change its instance type; changing its model is allowed
        (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html)."""
        registered = self.cloud.autoscaling.registered_variants(doc["EndpointName"])
        if not registered:
            return
        current = {v["VariantName"]: v for v in doc["_Config"]["ProductionVariants"]}
        new = {v["VariantName"]: v for v in config["ProductionVariants"]}
        blocked = sorted(
            name
            for name in registered
            if name in current
            and (name not in new or new[name].get("InstanceType") != current[name].get("InstanceType"))
        )
        if blocked:
            raise ValidationException(
                f'The variant(s) {blocked} of endpoint "{doc["EndpointArn"]}" are registered as '
                "scalable targets with Application Auto Scaling. Deregister them "
                "(DeregisterScalableTarget) before an update removes them or changes their "
                "instance type, and register them again afterwards."
            )

    def _check_instance_quota(self, delta: dict[str, int]) -> None:
        """ResourceLimitExceeded when running `delta` more instances of a type ({InstanceType:
        count}) would pass the account's quota "<type> for endpoint usage": every instance of
        every endpoint counts (an updating endpoint's old fleet too, until it retires). The
        local quota is MLGW_ENDPOINT_INSTANCE_QUOTA per instance type (default 8: each instance
        is a process on this machine). Wording: aws-samples/aws-genai-llm-chatbot#244."""
        quota = endpoint_instance_quota()
        for kind, more in delta.items():
            if more <= 0:
                continue
            used = sum(_endpoint_instances(doc).get(kind, 0) for doc in self.cloud.state.list(ENDPOINT))
            if used + more > quota:
                raise ResourceLimitExceeded(
                    f"The account-level service limit '{kind} for endpoint usage' is {quota} Instances, with "
                    f"current utilization of {used} Instances and a request delta of {more} Instances. Please use "
                    "AWS Service Quotas to request an increase for this quota."
                )

    def update_endpoint_weights_and_capacities(self, *, name: str, desired: list[dict[str, Any]]) -> str:
        """Apply DesiredWeightsAndCapacities ({VariantName, DesiredWeight?,
        DesiredInstanceCount?} each) at once; the endpoint is Updating for a moment, then
        InService. The endpoint's ARN. ValidationException for a missing endpoint or variant,
        or an endpoint not InService."""
        state = self.cloud.state
        with self._control, state.transaction():
            doc = self._endpoint(name)
            name = doc["EndpointName"]  # as created (found ignoring case)
            if doc["EndpointStatus"] != "InService":
                raise ValidationException(f'Cannot update in-progress endpoint "{doc["EndpointArn"]}".')
            by_name = {v["VariantName"]: v for v in doc["ProductionVariants"]}
            types = {pv["VariantName"]: pv.get("InstanceType") for pv in doc["_Config"]["ProductionVariants"]}
            delta: dict[str, int] = {}
            for wanted in desired:
                variant = by_name.get(wanted["VariantName"])
                kind = types.get(wanted["VariantName"])
                if variant is not None and kind and wanted.get("DesiredInstanceCount") == 0:
                    # "An endpoint can scale to and from zero instances only if it hosts inference
                    # components" (sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html);
                    # localcloud hosts models, never inference components.
                    raise ValidationException(
                        f"DesiredInstanceCount 0 for variant {wanted['VariantName']}: an endpoint can scale to zero "
                        "instances only if it hosts inference components."
                    )
                if variant is not None and kind and "DesiredInstanceCount" in wanted:
                    more = int(wanted["DesiredInstanceCount"]) - int(variant.get("CurrentInstanceCount", 0))
                    delta[kind] = delta.get(kind, 0) + max(0, more)
            self._check_instance_quota(delta)
            for wanted in desired:
                variant = by_name.get(wanted["VariantName"])
                if variant is None:
                    raise ValidationException(
                        f"The variant name(s) [{wanted['VariantName']}] is/are not present "
                        f'in the endpoint "{doc["EndpointArn"]}".'
                    )
                if "DesiredWeight" in wanted:
                    variant["CurrentWeight"] = variant["DesiredWeight"] = float(wanted["DesiredWeight"])
                if "DesiredInstanceCount" in wanted and "CurrentInstanceCount" in variant:
                    # Desired now; Current once the instances run (`_settle`).
                    variant["DesiredInstanceCount"] = wanted["DesiredInstanceCount"]
            weights = {v: s["CurrentWeight"] for v, s in by_name.items()}
            # New weights take effect now; the models and instances already running are reused.
            route = self.build_route(name, doc["_Config"], weights)
            self.install(route)
            op = uuid.uuid4().hex
            doc.update(EndpointStatus="Updating", LastModifiedTime=time.time(), _Op=op)
            state.put(ENDPOINT, name, doc)
        service_events.endpoint_changed(self.cloud, doc)
        counts = {v["VariantName"]: v["DesiredInstanceCount"] for v in by_name.values() if "DesiredInstanceCount" in v}
        threading.Thread(target=self._settle, args=(name, op, route, counts), daemon=True).start()
        return str(doc["EndpointArn"])

    def _settle(self, name: str, op: str, route: Route, counts: dict[str, int]) -> None:
        """Run each variant's DesiredInstanceCount of instances (new ones answering /ping, extra
        ones retired after their in-flight requests), then Updating → InService with
        CurrentInstanceCount as it is; a scale-out that fails leaves the endpoint InService
        with the instances it has and the reason in FailureReason."""
        failure = None
        running: dict[str, int] = {}
        for variant in route.variants:
            if variant.fleet is not None and variant.name in counts:
                try:
                    variant.fleet.scale(int(counts[variant.name]))
                except InstanceStartError as exc:
                    failure = str(exc)
                running[variant.name] = len(variant.fleet.instances)
            elif variant.name in counts:
                running[variant.name] = int(counts[variant.name])
        state = self.cloud.state
        with self._control, state.transaction():
            doc = state.get(ENDPOINT, name)
            if doc is None or doc.get("_Op") != op or doc["EndpointStatus"] != "Updating":
                return
            for v in doc["ProductionVariants"]:
                if v["VariantName"] in running and "CurrentInstanceCount" in v:
                    v["CurrentInstanceCount"] = running[v["VariantName"]]
            doc.update(EndpointStatus="InService", LastModifiedTime=time.time())
            if failure is not None:
                doc["FailureReason"] = failure
            state.put(ENDPOINT, name, doc)
        service_events.endpoint_changed(self.cloud, doc)

    # - lifecycle --------------------------------------------------------------------------

    def launch(self, endpoint: str, op: str, config: dict[str, Any], update: bool) -> None:
        threading.Thread(
            target=self._deploy, args=(endpoint, op, config, update), name=f"deploy-{endpoint}", daemon=True
        ).start()

    def _deploy(self, endpoint: str, op: str, config: dict[str, Any], update: bool) -> None:
        """Start a config's instances (every one answering /ping) or load its in-process
        models, then make it the endpoint's route (Creating/Updating → InService); the old
        config's instances retire only then (UpdateEndpoint brings the new fleet up first)."""
        route: Route | None = None
        try:
            route = self.build_route(endpoint, config)
            for variant, pv in zip(route.variants, config["ProductionVariants"]):
                if variant.fleet is not None:
                    variant.fleet.scale(int(pv.get("InitialInstanceCount", 1)))
                else:
                    variant.model.load()
            failure = None
        except InstanceStartError as exc:
            log.warning("deploying endpoint %s failed: %s", endpoint, exc)
            failure = str(exc)
        except Exception as exc:  # noqa: BLE001 - any load failure is the endpoint's failure
            log.warning("deploying endpoint %s failed: %s", endpoint, exc)
            failure = f"Failed to load model: {type(exc).__name__}: {exc}"
        if failure is not None:
            self._abandon(route)
            route = None
        # AWS provisions instances for minutes; Config.endpoint_delay stands for that time.
        if self.cloud.config.endpoint_delay > 0:
            self._closing.wait(self.cloud.config.endpoint_delay)
        if self._closed:
            self._abandon(route)
            return
        with self._control, self.cloud.state.transaction():
            doc = self.cloud.state.get(ENDPOINT, endpoint)
            if doc is None or doc.get("_Op") != op:  # deleted or superseded meanwhile
                self._abandon(route)
                return
            stamp = time.time()
            doc["LastModifiedTime"] = stamp
            doc.pop("_PendingConfig", None)
            if route is not None:
                self.install(route)
                doc.update(_endpoint_view(config, stamp))
                doc.update(EndpointStatus="InService", EndpointConfigName=config["EndpointConfigName"], _Config=config)
                doc.pop("FailureReason", None)
            elif update:  # AWS rolls back: the old config keeps serving
                doc.update(EndpointStatus="InService", FailureReason=failure)
            else:
                doc.update(EndpointStatus="Failed", FailureReason=failure)
            self.cloud.state.put(ENDPOINT, endpoint, doc)
            self._prune()
        service_events.endpoint_changed(self.cloud, doc)

    def _abandon(self, route: Route | None) -> None:
        """Stop the instances of a route that will not serve (a failed or superseded deploy)."""
        if route is None:
            return
        with self._control:
            for variant in route.variants:
                fleet = variant.fleet
                if fleet is not None and not fleet.installed:
                    for key in [k for k, f in self._fleets.items() if f is fleet]:
                        del self._fleets[key]
                    fleet.retire_all()

    def _recover(self) -> None:
        """After a restart: kill the instance processes a previous server left (their records),
        finish what was in flight; InService endpoints start their instances again on first
        use or `warm` (the daemon warms at start)."""
        killed = self.hosting.kill_orphans()
        if killed:
            log.warning("killed %d endpoint instance process(es) left by a previous server", killed)
        for doc in self.cloud.state.list(ENDPOINT):
            status = doc["EndpointStatus"]
            if status == "Creating":
                self.launch(doc["EndpointName"], doc["_Op"], doc["_Config"], update=False)
            elif status == "Updating" and doc.get("_PendingConfig"):
                self.launch(doc["EndpointName"], doc["_Op"], doc["_PendingConfig"], update=True)
            elif status in ("Updating", "SystemUpdating"):
                doc["EndpointStatus"] = "InService"
                self.cloud.state.put(ENDPOINT, doc["EndpointName"], doc)
            elif status == "Deleting":
                self.cloud.state.delete(ENDPOINT, doc["EndpointName"])

    def warm(self) -> list[str]:
        """Load every InService endpoint's models now (after a restart), so the first request
        is not the one that pays for loading; the endpoints warmed. A model that fails to load
        is left for its first request to report."""
        warmed = []
        for doc in self.cloud.state.list(ENDPOINT):
            if doc["EndpointStatus"] not in SERVING_STATES or self._closed:
                continue
            try:
                for variant in self.route(doc["EndpointName"]).variants:
                    variant.model.load()
            except (InvokeError, RuntimeError, OSError) as exc:
                log.warning("warming %s: %s", doc["EndpointName"], exc)
                continue
            warmed.append(doc["EndpointName"])
        return warmed

    def close(self) -> None:
        self._closed = True
        self._closing.set()
        self.hosting.close()  # every instance process stops with localcloud
        self._capture.close()
        try:
            self.publish_invocation_metrics(time.time(), force=True)  # the last, partial minute's counts
        except Exception:  # noqa: BLE001 — closing goes on (a state directory already removed...)
            log.exception("publishing the last invocation metrics failed")


def _endpoint_view(config: dict[str, Any], stamp: float, weights: dict[str, float] | None = None) -> dict[str, Any]:
    """DescribeEndpoint's ProductionVariants and DataCaptureConfig for a deployed config."""
    variants = []
    for pv in config["ProductionVariants"]:
        weight = (weights or {}).get(pv["VariantName"], pv.get("InitialVariantWeight", 1.0))
        summary = {
            "VariantName": pv["VariantName"],
            "CurrentWeight": weight,
            "DesiredWeight": weight,
            "DeployedImages": [],
            "VariantStatus": [],
        }
        if "ServerlessConfig" in pv:
            summary["CurrentServerlessConfig"] = summary["DesiredServerlessConfig"] = pv["ServerlessConfig"]
        else:
            count = pv.get("InitialInstanceCount", 1)
            summary["CurrentInstanceCount"] = summary["DesiredInstanceCount"] = count
        variants.append(summary)
    view: dict[str, Any] = {"ProductionVariants": variants, "DataCaptureConfig": None}
    capture = config.get("DataCaptureConfig")
    if capture:
        enabled = capture.get("EnableCapture", False)
        view["DataCaptureConfig"] = drop_none(
            {
                "EnableCapture": enabled,
                "CaptureStatus": "Started" if enabled else "Stopped",
                "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage", 100),
                "DestinationS3Uri": capture.get("DestinationS3Uri"),
                "KmsKeyId": capture.get("KmsKeyId"),
            }
        )
    return view


ENDPOINT_INSTANCE_QUOTA_ENV = "MLGW_ENDPOINT_INSTANCE_QUOTA"


def endpoint_instance_quota() -> int:
    """The local account's quota of endpoint instances per instance type (see
    SageMakerBackend._check_instance_quota)."""
    try:
        return max(1, int(os.environ.get(ENDPOINT_INSTANCE_QUOTA_ENV, "8")))
    except ValueError:
        return 8


def _endpoint_instances(doc: dict[str, Any]) -> dict[str, int]:
    """{InstanceType: instances} an endpoint runs: its deployed config's variants at their
    CurrentInstanceCount (InitialInstanceCount while Creating), plus a pending config's."""
    current = {v["VariantName"]: v.get("CurrentInstanceCount") for v in doc.get("ProductionVariants") or []}
    totals: dict[str, int] = {}
    for pv in (doc.get("_Config") or {}).get("ProductionVariants", []):
        if pv.get("InstanceType"):
            count = current.get(pv["VariantName"])
            count = pv.get("InitialInstanceCount", 1) if count is None else count
            totals[pv["InstanceType"]] = totals.get(pv["InstanceType"], 0) + int(count)
    for kind, count in _instances_by_type(
        (doc.get("_PendingConfig") or {}).get("ProductionVariants", []), "InitialInstanceCount"
    ).items():
        totals[kind] = totals.get(kind, 0) + count
    return totals


def _instances_by_type(variants: list[dict[str, Any]], count_key: str) -> dict[str, int]:
    """{InstanceType: instances} of a config's instance-based variants."""
    totals: dict[str, int] = {}
    for pv in variants:
        if pv.get("InstanceType"):
            totals[pv["InstanceType"]] = totals.get(pv["InstanceType"], 0) + int(pv.get(count_key, 1))
    return totals
