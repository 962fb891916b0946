"""The endpoints localcloud serves: each InService endpoint's routing table and the backend
that loads, routes, invokes and captures.

Invocations never read SQLite: each serving endpoint has an immutable `Route` in memory,
replaced wholesale (one dict assignment, atomic under the GIL) by Create/Update/weights calls,
so a request that picked the old route finishes on the old models. `HostingBackend` (one per
LocalCloud, `cloud.hosting`) holds what lives in memory — loaded models and routes — and runs
the background deploys; the wire operations in `hosting` store the documents.
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
from typing import Any

from localcloud.s3 import objects
from localcloud.sagemaker.capture import Capture, CaptureWriter
from localcloud.sagemaker.model_server import (InvokeError, ModelHandle, _environment, _serving,
                                                _unpack_output, _validation_error)

log = logging.getLogger("localcloud.hosting")

MODEL = "sm-model"
ENDPOINT_CONFIG = "sm-endpoint-config"
ENDPOINT = "sm-endpoint"

SERVING_STATES = ("InService", "Updating", "SystemUpdating", "RollingBack")


# -- routing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    name: str
    model: ModelHandle
    weight: float


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
                raise _validation_error(f"Endpoint {self.endpoint} has no production variant "
                                        f"named {target_variant}")
            return variant
        if len(self.variants) == 1:
            return self.variants[0]
        weights = [v.weight for v in self.variants]
        if sum(weights) <= 0:
            raise _validation_error(f"All production variants of endpoint {self.endpoint} "
                                    "have weight 0")
        return random.choices(self.variants, weights)[0]


@dataclass
class VariantStats:
    """InvokeEndpoint counters of one (endpoint, variant); latencies of the answered requests."""
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_latency_us: int = 0
    latency_min_us: int | None = None
    latency_max_us: int | None = None

    def answered(self, latency_us: int) -> None:
        """Count one request the model answered in `latency_us` microseconds."""
        self.add(VariantStats(1, 0, 0, latency_us, latency_us, latency_us))

    def add(self, other: "VariantStats") -> None:
        self.invocations += other.invocations
        self.errors_4xx += other.errors_4xx
        self.errors_5xx += other.errors_5xx
        self.model_latency_us += other.model_latency_us
        for name, pick in (("latency_min_us", min), ("latency_max_us", max)):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs if mine is None else mine if theirs is None else pick(mine, theirs))


@dataclass
class Result:
    body: bytes
    content_type: str
    variant: str
    custom_attributes: str | None = None


class HostingBackend:
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.models_dir: Path = cloud.config.home / "hosting" / "models"
        self._routes: dict[str, Route] = {}
        self._handles: dict[tuple[str, float], ModelHandle] = {}
        self._control = threading.RLock()       # read-modify-write of endpoint documents
        # Counters since the last drain (the minute CloudWatch has not been told about yet, see
        # localcloud/sagemaker/invocation_metrics.py) and the drained ones; both under _stats_lock.
        self._stats: dict[tuple[str, str], VariantStats] = collections.defaultdict(VariantStats)
        self._drained: dict[tuple[str, str], VariantStats] = collections.defaultdict(VariantStats)
        self._stats_lock = threading.Lock()
        self.stats_since = time.time()          # when the counters in _stats began
        self._capture = CaptureWriter(cloud.config.s3_root)
        self._closed = False
        self._closing = threading.Event()
        self._recover()

    # - model files ------------------------------------------------------------------------

    def load_model(self, model_name: str, uri: str | None) -> Any:
        """Extract model.tar.gz under home/hosting/models/<ModelName>/<hash>/ and model_fn it."""
        if not uri:
            raise RuntimeError(f"model {model_name} has no ModelDataUrl")
        return _serving().model_fn(self.extract(model_name, uri))

    def extract(self, model_name: str, uri: str) -> Path:
        try:
            data = objects.read_bytes(self.cloud, uri)
        except objects.ObjectStoreError as exc:
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
                tar.extractall(staging / "model", filter="data")   # refuses ../ and links out
            archive.unlink()
            try:
                os.replace(staging / "model", target)
            except OSError:
                if not target.is_dir():   # lost a race to an identical extraction: fine
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _handle(self, model_name: str) -> ModelHandle:
        doc = self.cloud.state.get(MODEL, model_name)
        if doc is None:
            raise RuntimeError(f"Could not find model {model_name}")
        key = (model_name, doc["CreationTime"])   # a re-created model of the same name is new
        with self._control:
            handle = self._handles.get(key)
            if handle is None:
                handle = self._handles[key] = ModelHandle(self, doc)
            return handle

    # - routes -----------------------------------------------------------------------------

    def build_route(self, endpoint: str, config: dict[str, Any],
                    weights: dict[str, float] | None = None) -> Route:
        variants = []
        for pv in config["ProductionVariants"]:
            weight = (weights or {}).get(pv["VariantName"], pv.get("InitialVariantWeight", 1.0))
            variants.append(Variant(pv["VariantName"], self._handle(pv["ModelName"]), float(weight)))
        return Route(endpoint, config["EndpointConfigName"], tuple(variants),
                     Capture.from_config(config.get("DataCaptureConfig")),
                     {v.name: v for v in variants})

    def route(self, endpoint: str) -> Route:
        route = self._routes.get(endpoint)
        if route is not None:
            return route
        # Not in memory: unknown, not yet InService, or InService before a restart.
        doc = self.cloud.state.get(ENDPOINT, endpoint)
        account = self.cloud.config.account_id
        if doc is None:
            raise _validation_error(f"Endpoint {endpoint} of account {account} not found.")
        if doc["EndpointStatus"] not in SERVING_STATES:
            raise _validation_error(f"Endpoint {endpoint} of account {account} is not in service "
                                    f"(status {doc['EndpointStatus']}).")
        weights = {v["VariantName"]: v["CurrentWeight"] for v in doc.get("ProductionVariants", [])}
        with self._control:
            route = self._routes.get(endpoint)
            if route is None:
                try:
                    route = self.build_route(endpoint, doc["_Config"], weights)
                except RuntimeError as exc:
                    raise InvokeError("ModelError", str(exc), 424, OriginalStatusCode=500,
                                      OriginalMessage=str(exc)) from None
                self._routes[endpoint] = route   # models load lazily on first invoke
            return route

    def install(self, route: Route) -> None:
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

    # - invoke -----------------------------------------------------------------------------

    def invoke(self, endpoint: str, body: bytes, content_type: str | None, accept: str | None,
               target_variant: str | None = None, target_model: str | None = None,
               custom_attributes: str | None = None, inference_id: str | None = None) -> Result:
        route = self.route(endpoint)
        variant = route.pick(target_variant)
        key = (endpoint, variant.name)
        serving = _serving()
        started = time.perf_counter()
        try:
            model = variant.model.get(target_model)
            with _environment(serving, variant.model.environment):
                data = serving.input_fn(body, content_type)
                prediction = serving.predict_fn(data, model)
                output = serving.output_fn(prediction, accept)
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
        out_body, out_type, attributes = _unpack_output(output, accept)
        latency = int((time.perf_counter() - started) * 1e6)
        with self._stats_lock:     # looked up under the lock: drain_stats swaps the dict
            self._stats[key].answered(latency)
        if route.capture is not None:
            self._capture.write(route.capture, route.endpoint, variant.name, body, content_type,
                                out_body, out_type, inference_id)
        return Result(out_body, out_type, variant.name, attributes)

    def _count(self, key: tuple[str, str], kind: int) -> None:
        with self._stats_lock:
            stats = self._stats[key]
            stats.invocations += 1
            if kind == 4:
                stats.errors_4xx += 1
            else:
                stats.errors_5xx += 1

    def _model_error(self, endpoint: str, status: int, message: str) -> InvokeError:
        kind = "client" if status < 500 else "server"
        region, account = self.cloud.config.region, self.cloud.config.account_id
        group = f"/aws/sagemaker/Endpoints/{endpoint}"
        text = (f"Received {kind} error ({status}) from primary with message \"{message}\". "
                f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
                f"#logEventViewer:group={group} in account {account} for more information.")
        return InvokeError("ModelError", text, 424, OriginalStatusCode=status,
                           OriginalMessage=message,
                           LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{group}")

    def stats(self, endpoint: str) -> dict[str, dict[str, int]]:
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

    # - lifecycle --------------------------------------------------------------------------

    def launch(self, endpoint: str, op: str, config: dict[str, Any], update: bool) -> None:
        threading.Thread(target=self._deploy, args=(endpoint, op, config, update),
                         name=f"deploy-{endpoint}", daemon=True).start()

    def _deploy(self, endpoint: str, op: str, config: dict[str, Any], update: bool) -> None:
        """Load a config's models, then make it the endpoint's route (Creating/Updating → InService)."""
        try:
            route = self.build_route(endpoint, config)
            for variant in route.variants:
                variant.model.load()
            failure = None
        except Exception as exc:  # noqa: BLE001 - any load failure is the endpoint's failure
            log.warning("deploying endpoint %s failed: %s", endpoint, exc)
            route, failure = None, f"Failed to load model: {type(exc).__name__}: {exc}"
        # AWS provisions instances for minutes; Config.endpoint_delay stands for that time.
        if self.cloud.config.endpoint_delay > 0:
            self._closing.wait(self.cloud.config.endpoint_delay)
        if self._closed:
            return
        with self._control, self.cloud.state.transaction():
            doc = self.cloud.state.get(ENDPOINT, endpoint)
            if doc is None or doc.get("_Op") != op:   # deleted or superseded meanwhile
                return
            stamp = time.time()
            doc["LastModifiedTime"] = stamp
            doc.pop("_PendingConfig", None)
            if route is not None:
                self.install(route)
                doc.update(endpoint_view(config, stamp))
                doc.update(EndpointStatus="InService", EndpointConfigName=config["EndpointConfigName"],
                           _Config=config)
                doc.pop("FailureReason", None)
            elif update:   # AWS rolls back: the old config keeps serving
                doc.update(EndpointStatus="InService", FailureReason=failure)
            else:
                doc.update(EndpointStatus="Failed", FailureReason=failure)
            self.cloud.state.put(ENDPOINT, endpoint, doc)
            self._prune()

    def _recover(self) -> None:
        """After a restart: finish what was in flight; InService endpoints reload lazily."""
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
        self._capture.close()
        from localcloud.sagemaker.invocation_metrics import publish
        try:
            publish(self.cloud, force=True)   # the last, partial minute's counts
        except Exception:  # noqa: BLE001 — closing goes on (a state directory already removed...)
            log.exception("publishing the last invocation metrics failed")


def endpoint_view(config: dict[str, Any], stamp: float,
                   weights: dict[str, float] | None = None) -> dict[str, Any]:
    """DescribeEndpoint's ProductionVariants and DataCaptureConfig for a deployed config."""
    variants = []
    for pv in config["ProductionVariants"]:
        weight = (weights or {}).get(pv["VariantName"], pv.get("InitialVariantWeight", 1.0))
        summary = {"VariantName": pv["VariantName"], "CurrentWeight": weight, "DesiredWeight": weight,
                   "DeployedImages": [], "VariantStatus": []}
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
        view["DataCaptureConfig"] = _drop_none({
            "EnableCapture": enabled, "CaptureStatus": "Started" if enabled else "Stopped",
            "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage", 100),
            "DestinationS3Uri": capture.get("DestinationS3Uri"), "KmsKeyId": capture.get("KmsKeyId")})
    return view


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}
