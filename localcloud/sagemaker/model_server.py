"""The in-process model server behind the production variants that do not run as instance
processes (localcloud/sagemaker/hosting: script-mode models do): multi-model models (the 1.7-1
container serves them with the Java Multi Model Server, which this machine does not run),
serverless variants and models without SAGEMAKER_PROGRAM.

`ModelHandle` loads a Model's artifact with the serving code's `model_fn` (inference/serving.py,
imported in-process as the container would run it); for multi-model endpoints it loads each
TargetModel lazily, one load per artifact however many requests wait, and evicts least recently
used artifacts under a memory bound (`MLGW_MME_MEMORY_MB`), as SageMaker's multi-model server
does. Its errors are localcloud.sagemaker.exceptions' runtime errors (InvokeError).
"""

from __future__ import annotations

import collections
import logging
import math
import os
import re
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from localcloud.sagemaker.exceptions import InvokeError, ValidationError

if TYPE_CHECKING:
    from localcloud.sagemaker.models import SageMakerBackend

log = logging.getLogger("localcloud.hosting")

MULTI_MODEL_CACHE = 16  # loaded TargetModels kept per multi-model model (LRU)
MME_MEMORY_MB = 512.0  # default bound on estimated bytes loaded per multi-model model
MME_MEMORY_ENV = "MLGW_MME_MEMORY_MB"
MME_MAX_MODELS_ENV = "MLGW_MME_MAX_MODELS"
MME_SIZE_FACTOR = 1.0  # resident bytes per extracted artifact byte (estimate)
MME_FAILURE_TTL = 5.0  # seconds a TargetModel that failed to load answers from memory
_TARGET_MODEL = re.compile(r"\A\S[\x20-\x7e]*\Z")


# -- loaded models ----------------------------------------------------------------------------


def serving_code() -> Any:
    """The serving code (inference/serving.py), imported as the container imports it."""
    from inference import serving

    return serving


def preload_serving() -> list[str]:
    """Import the serving code and the libraries its model_fn imports at call time
    (serving.CALL_TIME_IMPORTS: xgboost, ~2 s), so the first CreateEndpoint loads its model in
    milliseconds instead. The modules imported. Raises what the import raises."""
    import importlib

    names = list(getattr(serving_code(), "CALL_TIME_IMPORTS", ()))
    for name in names:
        importlib.import_module(name)
    return names


class ModelLoadError(RuntimeError):
    """A TargetModel's artifact could not be loaded (corrupt tarball, bad booster, ...)."""


@dataclass
class _Loaded:
    model: Any
    size: int  # estimated resident bytes, what the memory bound counts


class _Pending:
    """One cold load in flight: the first request loads, concurrent ones wait on `done`."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.loaded: _Loaded | None = None
        self.error: BaseException | None = None


@dataclass
class CacheStats:
    loads: int = 0  # artifacts loaded (cold misses that succeeded)
    hits: int = 0  # served from memory
    waits: int = 0  # cold requests that waited on another request's load
    evictions: int = 0
    load_failures: int = 0
    failed_hits: int = 0  # answered from the short-lived failure cache
    bytes: int = 0  # estimated bytes loaded now
    models: int = 0  # models loaded now
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
    if not math.isfinite(value) or value <= 0:  # float() also reads "nan" and "inf"
        raise RuntimeError(f"{name}={raw!r} must be a positive number")
    return value


def _fresh(exc: BaseException) -> BaseException:
    """A new exception like exc: re-raising one object from many threads tangles tracebacks."""
    if isinstance(exc, InvokeError):
        return exc.fresh()
    if isinstance(exc, ModelLoadError):
        return ModelLoadError(str(exc))
    return exc


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class ModelHandle:
    """One SageMaker Model as loaded in memory: a single model, or a multi-model LRU cache
    bounded by estimated bytes (MLGW_MME_MEMORY_MB) and model count (MLGW_MME_MAX_MODELS)."""

    def __init__(self, backend: SageMakerBackend, doc: dict[str, Any]):
        self.backend = backend  # extract() and load_model() artifacts
        self.name: str = doc["ModelName"]
        container = doc["_Container"]
        self.data_url: str | None = container.get("ModelDataUrl")
        self.image: str | None = container.get("Image")
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
            self.stats.max_models = int(_env_number(self.environment, MME_MAX_MODELS_ENV, MULTI_MODEL_CACHE))

    def load(self) -> None:
        """Load eagerly (endpoint creation); a multi-model endpoint loads on first use."""
        if self.multi:
            if not self.data_url:
                raise RuntimeError(f"multi-model {self.name} has no ModelDataUrl prefix")
            return
        self.get(None)

    def get(self, target_model: str | None, *, endpoint: str = "", request_id: str = "") -> Any:
        """The model to serve a request with: this model, or a multi-model's TargetModel.
        ValidationError, with SageMaker's texts, for a TargetModel on a single-model endpoint
        ("Endpoint <name> is not a multi-model endpoint and does not support target model
        header.", aws/amazon-sagemaker-examples#1026) or none on a multi-model one ("Request
        <request id> is missing a target model header.",
        aws/sagemaker-tensorflow-serving-container#166)."""
        if not self.multi:
            if target_model is not None:
                raise ValidationError(
                    f"Endpoint {endpoint} is not a multi-model endpoint and does not support target model header."
                )
            model = self._model
            if model is None:
                with self._lock:  # one load even when the first requests race
                    if self._model is None:
                        self._model = self.backend.load_model(self.name, self.data_url)
                    model = self._model
            return model
        if target_model is None:
            raise ValidationError(f"Request {request_id} is missing a target model header.")
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
            if pending is None:
                pending = self._pending[target] = _Pending()
            else:
                self.stats.waits += 1
        if not owner:
            pending.done.wait()
            if pending.error is not None:
                raise _fresh(pending.error)
            assert pending.loaded is not None  # set before done, when there is no error
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
                if not isinstance(exc, InvokeError):  # missing objects may appear any moment
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
        if not self.data_url:
            raise RuntimeError(f"multi-model {self.name} has no ModelDataUrl prefix")
        uri = self.data_url.rstrip("/") + "/" + target
        try:
            path = self.backend.extract(self.name, uri)
        except FileNotFoundError:
            bucket, key = self.backend.cloud.s3.split_uri(uri)
            raise ValidationError(
                f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure "
                "that there is an object located at the URL and that the role passed to "
                "CreateModel has permissions to download the model."
            ) from None
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise ModelLoadError(f"Could not extract model {target}: {type(exc).__name__}: {exc}") from None
        try:
            model = serving_code().model_fn(path)
        except Exception as exc:
            raise ModelLoadError(f"Could not load model {target}: {type(exc).__name__}: {exc}") from None
        # Resident size ~ extracted artifact bytes (an xgboost booster in memory is about its
        # JSON dump); cheap, deterministic, and what an operator can check on disk.
        return _Loaded(model, max(1, int(_tree_bytes(path) * MME_SIZE_FACTOR)))

    def _insert(self, target: str, loaded: _Loaded) -> None:
        """Caller holds self._lock: add, then evict least-recently-used until under bounds."""
        self._cache[target] = loaded
        self._cache.move_to_end(target)
        self.stats.loads += 1
        self.stats.bytes += loaded.size
        while len(self._cache) > 1 and (
            self.stats.bytes > self.stats.memory_bound or len(self._cache) > self.stats.max_models
        ):
            evicted, old = self._cache.popitem(last=False)
            self.stats.bytes -= old.size
            self.stats.evictions += 1
            log.info("multi-model %s: evicted %s (%d bytes)", self.name, evicted, old.size)
        if self.stats.bytes > self.stats.memory_bound:  # one model alone exceeds the bound
            log.warning(
                "multi-model %s: %s (%d bytes) exceeds the memory bound of %d bytes",
                self.name,
                target,
                loaded.size,
                self.stats.memory_bound,
            )
        self.stats.models = len(self._cache)

    def cache_stats(self) -> dict[str, int]:
        with self._lock:
            return vars(self.stats).copy()


def check_target_model(target: str) -> None:
    parts = PurePosixPath(target).parts
    if (
        not _TARGET_MODEL.match(target)
        or target.startswith("/")
        or "\\" in target
        or any(p in ("..", ".") for p in parts)
        or len(target) > 1024
    ):
        raise ValidationError(
            f"Invalid TargetModel {target!r}: a relative path under the model's ModelDataUrl prefix is required"
        )


class model_environment:
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


def unpack_output(output: Any, accept: str | None) -> tuple[bytes, str, str | None]:
    """serving.encode may return body, (body, content_type) or (body, content_type, custom_attributes)."""
    attributes = None
    if isinstance(output, tuple):
        body, content_type, *rest = output
        attributes = rest[0] if rest else None
    else:
        body, content_type = output, accept or "application/json"
    if isinstance(body, str):
        body = body.encode()
    return bytes(body), content_type, attributes
