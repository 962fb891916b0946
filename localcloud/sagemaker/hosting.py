"""SageMaker hosting: models, endpoint configs and endpoints, and the in-process model server.

Split as moto does it: the `*_op` functions at the bottom are the wire API (validate, shape
documents, store them); `HostingBackend` (one per LocalCloud, `cloud.hosting`) holds what lives
in memory — loaded models and each endpoint's routing table — and the background loads.

Invocations never read SQLite: each serving endpoint has an immutable `Route` in memory,
replaced wholesale (one dict assignment, atomic under the GIL) by Create/Update/weights calls,
so a request that picked the old route finishes on the old models.
"""
from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import json
import logging
import os
import random
import re
import shutil
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from localcloud.errors import validation
from localcloud.state import AlreadyExists
from pipelines.executor import objects
from pipelines.executor.store import wire

log = logging.getLogger("localcloud.hosting")

MODEL = "sm-model"
ENDPOINT_CONFIG = "sm-endpoint-config"
ENDPOINT = "sm-endpoint"

MULTI_MODEL_CACHE = 16          # loaded TargetModels kept per multi-model model (LRU)
MME_MEMORY_MB = 512.0           # default bound on estimated bytes loaded per multi-model model
MME_MEMORY_ENV = "MLGW_MME_MEMORY_MB"
MME_MAX_MODELS_ENV = "MLGW_MME_MAX_MODELS"
MME_SIZE_FACTOR = 1.0           # resident bytes per extracted artifact byte (estimate)
MME_FAILURE_TTL = 5.0           # seconds a TargetModel that failed to load answers from memory
SERVING_STATES = ("InService", "Updating", "SystemUpdating", "RollingBack")
_TARGET_MODEL = re.compile(r"\A\S[\x20-\x7e]*\Z")


class InvokeError(Exception):
    """A runtime error, rendered by localcloud.sagemaker.runtime in the runtime's wire shape."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any):
        super().__init__(message)
        self.code, self.message, self.status, self.fields = code, message, status, fields


def _validation_error(message: str) -> InvokeError:
    return InvokeError("ValidationError", message, 400)


# -- loaded models ----------------------------------------------------------------------------

def _serving():
    from inference import serving
    return serving


class ModelLoadError(RuntimeError):
    """A TargetModel's artifact could not be loaded (corrupt tarball, bad booster, ...)."""


@dataclass
class _Loaded:
    model: Any
    size: int        # estimated resident bytes, what the memory bound counts


class _Pending:
    """One cold load in flight: the first request loads, concurrent ones wait on `done`."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.loaded: _Loaded | None = None
        self.error: BaseException | None = None


@dataclass
class CacheStats:
    loads: int = 0            # artifacts loaded (cold misses that succeeded)
    hits: int = 0             # served from memory
    waits: int = 0            # cold requests that waited on another request's load
    evictions: int = 0
    load_failures: int = 0
    failed_hits: int = 0      # answered from the short-lived failure cache
    bytes: int = 0            # estimated bytes loaded now
    models: int = 0           # models loaded now
    memory_bound: int = 0
    max_models: int = 0


def _env_number(env: dict[str, str], name: str, default: float) -> float:
    # The model's container Environment wins over the process's (per-endpoint tuning).
    raw = env.get(name) or os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RuntimeError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise RuntimeError(f"{name}={raw!r} must be positive")
    return value


def _fresh(exc: BaseException) -> BaseException:
    """A new exception like exc: re-raising one object from many threads tangles tracebacks."""
    if isinstance(exc, InvokeError):
        return InvokeError(exc.code, exc.message, exc.status, **exc.fields)
    if isinstance(exc, ModelLoadError):
        return ModelLoadError(str(exc))
    return exc


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class ModelHandle:
    """One SageMaker Model as loaded in memory: a single model, or a multi-model LRU cache
    bounded by estimated bytes (MLGW_MME_MEMORY_MB) and model count (MLGW_MME_MAX_MODELS)."""

    def __init__(self, backend: "HostingBackend", doc: dict[str, Any]):
        self.backend = backend
        self.name: str = doc["ModelName"]
        container = doc["_Container"]
        self.data_url: str | None = container.get("ModelDataUrl")
        self.environment: dict[str, str] = dict(container.get("Environment") or {})
        self.multi = container.get("Mode") == "MultiModel"
        self._lock = threading.Lock()
        self._model: Any = None
        self._cache: "collections.OrderedDict[str, _Loaded]" = collections.OrderedDict()
        self._pending: dict[str, _Pending] = {}
        self._failed: dict[str, tuple[float, BaseException]] = {}
        self.stats = CacheStats()
        if self.multi:
            mb = _env_number(self.environment, MME_MEMORY_ENV, MME_MEMORY_MB)
            self.stats.memory_bound = int(mb * 1024 * 1024)
            self.stats.max_models = int(_env_number(self.environment, MME_MAX_MODELS_ENV,
                                                    MULTI_MODEL_CACHE))

    def load(self) -> None:
        """Load eagerly (endpoint creation); a multi-model endpoint loads on first use."""
        if self.multi:
            if not self.data_url:
                raise RuntimeError(f"multi-model {self.name} has no ModelDataUrl prefix")
            return
        self.get(None)

    def get(self, target_model: str | None) -> Any:
        if not self.multi:
            if target_model is not None:
                raise _validation_error("TargetModel header is only valid for multi-model endpoints")
            model = self._model
            if model is None:
                with self._lock:   # one load even when the first requests race
                    if self._model is None:
                        self._model = self.backend.load_model(self.name, self.data_url)
                    model = self._model
            return model
        if target_model is None:
            raise _validation_error("TargetModel header is required for a multi-model endpoint")
        check_target_model(target_model)
        return self._get_target(target_model)

    def _get_target(self, target: str) -> Any:
        with self._lock:
            loaded = self._cache.get(target)
            if loaded is not None:
                self._cache.move_to_end(target)
                self.stats.hits += 1
                return loaded.model
            self._raise_if_recently_failed(target)
            pending = self._pending.get(target)
            owner = pending is None
            if owner:
                pending = self._pending[target] = _Pending()
            else:
                self.stats.waits += 1
        if not owner:
            pending.done.wait()
            if pending.error is not None:
                raise _fresh(pending.error)
            return pending.loaded.model
        return self._load_as_owner(target, pending)

    def _raise_if_recently_failed(self, target: str) -> None:
        # Caller holds self._lock. A broken artifact is not re-read on every request, but a
        # fixed upload is picked up after MME_FAILURE_TTL seconds.
        failed = self._failed.get(target)
        if failed is None:
            return
        if time.monotonic() - failed[0] < MME_FAILURE_TTL:
            self.stats.failed_hits += 1
            raise _fresh(failed[1])
        del self._failed[target]

    def _load_as_owner(self, target: str, pending: _Pending) -> Any:
        try:
            pending.loaded = self._load_target(target)
        except BaseException as exc:
            pending.error = exc
            with self._lock:
                del self._pending[target]
                if not isinstance(exc, InvokeError):   # missing objects may appear any moment
                    self._failed[target] = (time.monotonic(), exc)
                self.stats.load_failures += 1
            pending.done.set()
            raise
        with self._lock:
            del self._pending[target]
            self._failed.pop(target, None)
            self._insert(target, pending.loaded)
        pending.done.set()
        return pending.loaded.model

    def _load_target(self, target: str) -> _Loaded:
        uri = self.data_url.rstrip("/") + "/" + target
        try:
            path = self.backend.extract(self.name, uri)
        except FileNotFoundError:
            bucket, key = objects.split_uri(uri)
            raise _validation_error(
                f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure "
                "that there is an object located at the URL and that the role passed to "
                "CreateModel has permissions to download the model.") from None
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise ModelLoadError(f"Could not extract model {target}: {type(exc).__name__}: "
                                 f"{exc}") from None
        try:
            model = _serving().model_fn(path)
        except Exception as exc:
            raise ModelLoadError(f"Could not load model {target}: {type(exc).__name__}: "
                                 f"{exc}") from None
        # Resident size ~ extracted artifact bytes (an xgboost booster in memory is about its
        # JSON dump); cheap, deterministic, and what an operator can check on disk.
        return _Loaded(model, max(1, int(_tree_bytes(path) * MME_SIZE_FACTOR)))

    def _insert(self, target: str, loaded: _Loaded) -> None:
        """Caller holds self._lock: add, then evict least-recently-used until under bounds."""
        self._cache[target] = loaded
        self._cache.move_to_end(target)
        self.stats.loads += 1
        self.stats.bytes += loaded.size
        while len(self._cache) > 1 and (self.stats.bytes > self.stats.memory_bound
                                        or len(self._cache) > self.stats.max_models):
            evicted, old = self._cache.popitem(last=False)
            self.stats.bytes -= old.size
            self.stats.evictions += 1
            log.info("multi-model %s: evicted %s (%d bytes)", self.name, evicted, old.size)
        if self.stats.bytes > self.stats.memory_bound:   # one model alone exceeds the bound
            log.warning("multi-model %s: %s (%d bytes) exceeds the memory bound of %d bytes",
                        self.name, target, loaded.size, self.stats.memory_bound)
        self.stats.models = len(self._cache)

    def cache_stats(self) -> dict[str, int]:
        with self._lock:
            return vars(self.stats).copy()


def check_target_model(target: str) -> None:
    parts = PurePosixPath(target).parts
    if (not _TARGET_MODEL.match(target) or target.startswith("/") or "\\" in target
            or any(p in ("..", ".") for p in parts) or len(target) > 1024):
        raise _validation_error(f"Invalid TargetModel {target!r}: a relative path under the "
                                "model's ModelDataUrl prefix is required")


# -- routing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    name: str
    model: ModelHandle
    weight: float


@dataclass(frozen=True)
class Capture:
    """An endpoint config's DataCaptureConfig, prepared for the hot path."""
    destination: str
    percentage: int
    inputs: bool
    outputs: bool
    csv_types: frozenset[str]
    json_types: frozenset[str]

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> "Capture | None":
        if not config or not config.get("EnableCapture", False):
            return None
        modes = {o["CaptureMode"] for o in config.get("CaptureOptions") or []} or {"Input", "Output"}
        header = config.get("CaptureContentTypeHeader") or {}
        return cls(config["DestinationS3Uri"], config.get("InitialSamplingPercentage", 100),
                   "Input" in modes, "Output" in modes,
                   frozenset(header.get("CsvContentTypes") or ["text/csv"]),
                   frozenset(header.get("JsonContentTypes") or ["application/json"]))


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
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_latency_us: int = 0


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
        self._stats: dict[tuple[str, str], VariantStats] = collections.defaultdict(VariantStats)
        self._stats_lock = threading.Lock()
        self._capture_lock = threading.Lock()
        self._capture_files: dict[tuple[str, str, str], Any] = {}
        self._closed = False
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
               custom_attributes: str | None = None) -> Result:
        route = self.route(endpoint)
        variant = route.pick(target_variant)
        stats = self._stats[(endpoint, variant.name)]
        serving = _serving()
        started = time.perf_counter()
        try:
            model = variant.model.get(target_model)
            with _environment(serving, variant.model.environment):
                data = serving.input_fn(body, content_type)
                prediction = serving.predict_fn(data, model)
                output = serving.output_fn(prediction, accept)
        except InvokeError:
            self._count(stats, 4)
            raise
        except serving.InputError as exc:
            self._count(stats, 4)
            raise self._model_error(endpoint, exc.status, str(exc)) from None
        except Exception as exc:  # the model server answered 500
            log.exception("model error on endpoint %s variant %s", endpoint, variant.name)
            self._count(stats, 5)
            raise self._model_error(endpoint, 500, f"{type(exc).__name__}: {exc}") from None
        out_body, out_type, attributes = _unpack_output(output, accept)
        with self._stats_lock:
            stats.invocations += 1
            stats.model_latency_us += int((time.perf_counter() - started) * 1e6)
        if route.capture is not None:
            self._capture(route, variant.name, body, content_type, out_body, out_type)
        return Result(out_body, out_type, variant.name, attributes)

    def _count(self, stats: VariantStats, kind: int) -> None:
        with self._stats_lock:
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
            return {variant: vars(s).copy() for (name, variant), s in self._stats.items()
                    if name == endpoint}

    def cache_stats(self, endpoint: str) -> dict[str, dict[str, int]]:
        """Per-variant multi-model cache counters (loads, hits, waits, evictions, bytes...)."""
        route = self.route(endpoint)
        return {v.name: v.model.cache_stats() for v in route.variants if v.model.multi}

    # - data capture -----------------------------------------------------------------------

    def _capture(self, route: Route, variant: str, body: bytes, content_type: str | None,
                 out_body: bytes, out_type: str) -> None:
        capture = route.capture
        if capture.percentage < 100 and random.uniform(0, 100) >= capture.percentage:
            return
        when = dt.datetime.now(dt.timezone.utc)
        data: dict[str, Any] = {}
        if capture.inputs:
            data["endpointInput"] = _captured(body, content_type or "application/octet-stream",
                                              "INPUT", capture)
        if capture.outputs:
            data["endpointOutput"] = _captured(out_body, out_type, "OUTPUT", capture)
        line = json.dumps({"captureData": data,
                           "eventMetadata": {"eventId": str(uuid.uuid4()),
                                             "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
                           "eventVersion": "0"}) + "\n"
        hour = when.strftime("%Y/%m/%d/%H")
        try:
            with self._capture_lock:
                handle = self._capture_file(capture.destination, route.endpoint, variant, hour, when)
                handle.write(line)
                handle.flush()
        except (OSError, objects.ObjectStoreError) as exc:   # capture never fails a request
            log.warning("data capture for %s failed: %s", route.endpoint, exc)

    def _capture_file(self, destination: str, endpoint: str, variant: str, hour: str,
                      when: dt.datetime) -> Any:
        key = (destination, f"{endpoint}/{variant}", hour)
        handle = self._capture_files.get(key)
        if handle is None:
            for old in [k for k in self._capture_files if k[:2] == key[:2]]:   # a new hour
                self._capture_files.pop(old).close()
            bucket, prefix = objects.split_uri(destination)
            name = f"{when.strftime('%M-%S')}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            object_key = "/".join(p for p in (prefix.strip("/"), endpoint, variant, hour, name) if p)
            parts = PurePosixPath(object_key).parts
            if any(p in ("..", ".") for p in parts) or "/" in bucket or bucket.startswith("."):
                raise objects.ObjectStoreError(f"unusable capture destination {destination}")
            bucket_dir = self.cloud.config.s3_root / bucket
            if not bucket_dir.is_dir():
                raise objects.ObjectStoreError(f"bucket {bucket} does not exist")
            path = bucket_dir.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._capture_files[key] = open(path, "a", encoding="utf-8")
        return handle

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
                doc.update(_endpoint_view(config, stamp))
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
        with self._capture_lock:
            for handle in self._capture_files.values():
                handle.close()
            self._capture_files.clear()


class _environment:
    """Expose a Model's Environment to the serving code for one call (SERVING_THRESHOLD...)."""

    def __init__(self, serving: Any, env: dict[str, str]):
        self.var = getattr(serving, "ENVIRONMENT", None)
        self.env = env
        self.token = None

    def __enter__(self) -> None:
        if self.var is not None and self.env:
            self.token = self.var.set(self.env)

    def __exit__(self, *exc: Any) -> None:
        if self.token is not None:
            self.var.reset(self.token)


def _unpack_output(output: Any, accept: str | None) -> tuple[bytes, str, str | None]:
    """output_fn may return body, (body, content_type) or (body, content_type, custom_attributes)."""
    attributes = None
    if isinstance(output, tuple):
        body, content_type, *rest = output
        attributes = rest[0] if rest else None
    else:
        body, content_type = output, accept or "application/json"
    if isinstance(body, str):
        body = body.encode()
    return bytes(body), content_type, attributes


def _captured(data: bytes, content_type: str, mode: str, capture: Capture) -> dict[str, Any]:
    kind = content_type.split(";", 1)[0].strip()
    encoding = "CSV" if kind in capture.csv_types else "JSON" if kind in capture.json_types else "BASE64"
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        text = base64.b64encode(data).decode()
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


# == wire API =================================================================================

def _arn(cloud: Any, kind: str, name: str) -> str:
    return cloud.config.arn("sagemaker", f"{kind}/{name.lower()}")


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


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
    try:
        start = int(params.get("NextToken") or 0)
    except ValueError:
        raise validation("Invalid NextToken") from None
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
            bucket, key = objects.split_uri(uri)
        except objects.ObjectStoreError as exc:
            raise validation(str(exc)) from None
        path = cloud.config.s3_root / bucket / key
        exists = path.is_dir() if resolved.get("Mode") == "MultiModel" else path.is_file()
        if ".." in PurePosixPath(key).parts or not exists:
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

def _endpoint_view(config: dict[str, Any], stamp: float,
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
        doc.pop("FailureReason", None)
        doc.update(EndpointStatus="Updating", LastModifiedTime=time.time(),
                   _PendingConfig=config, _Op=op)
        cloud.state.put(ENDPOINT, name, doc)
    backend.launch(name, op, config, update=True)
    return {"EndpointArn": doc["EndpointArn"]}


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

__all__ = ["OPERATIONS", "HostingBackend", "InvokeError", "Result", "check_target_model"]
