"""Endpoint instances as processes: each instance of a production variant is one process of the
serving image (container_entry.py run by the image's interpreter) speaking SageMaker's container
contract -- `GET /ping`, `POST /invocations` on SAGEMAKER_BIND_TO_PORT, the user module from
SAGEMAKER_PROGRAM / SAGEMAKER_SUBMIT_DIRECTORY, the model at /opt/ml/model in the job-style
private namespace (localcloud/sagemaker/jobs/container.py's JobFolder / Isolation).
Source: "Use Your Own Inference Code with Hosting Services"
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html).

A `Fleet` is one variant's instances for one deployed endpoint config. InvokeEndpoint picks an
instance by least outstanding requests (the routing SageMaker offers as
RoutingConfig.RoutingStrategy LEAST_OUTSTANDING_REQUESTS, API_ProductionVariantRoutingConfig)
and posts to its /invocations over the instance's pool of kept-alive connections (urllib3,
already pinned through botocore). Every live instance has a record
in the state store (kind INSTANCE: pid, port, folder, start time, image, versions, requests
served), so a later server kills an orphan (`kill_orphans`) and `mlgw endpoint describe` lists
instances; the record is localcloud's own, not part of DescribeEndpoint's shape.
"""

from __future__ import annotations

import functools
import logging
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import urllib3
from urllib3.response import HTTPResponse

from localcloud.sagemaker.jobs import container

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger("localcloud.hosting")

INSTANCE = "sm-endpoint-instance"  # state kind of the instance records
ENTRY = Path(__file__).with_name("container_entry.py")
# API_ProductionVariant: ContainerStartupHealthCheckTimeoutInSeconds, 60-3600; absent, the
# platform's default. sagemaker-containers' default_healthcheck_fn documents 30 s; a cold
# Python 3.9 + xgboost + pandas import on a busy 2-core machine takes several, so 60 s.
DEFAULT_STARTUP_TIMEOUT = 60.0
PING_TIMEOUT = 2.0  # "The request timeout on /ping attempts is 2 seconds" (sagemaker-containers _worker.py)
# InvokeEndpoint: "the model container must respond to requests within 60 seconds" (API_runtime_InvokeEndpoint).
INVOKE_TIMEOUT = 60.0
DRAIN_TIMEOUT = 60.0  # seconds a retired instance may finish its in-flight requests


FAILURE_REASON_MAX = 1024  # DescribeEndpoint's FailureReason: length 0-1024 (botocore's sagemaker model)


class InstanceStartError(RuntimeError):
    """An instance never answered /ping; the message is the endpoint's FailureReason."""

    def __init__(self, message: str):
        super().__init__(message[:FAILURE_REASON_MAX])


# -- the image ----------------------------------------------------------------------------------


def serving_python(image_uri: str | None) -> str:
    """The interpreter of the serving image's environment (localcloud/sagemaker/images.py:
    built from the image's definition on first use, progress in localcloud's log).
    InstanceStartError with images' reason for an image localcloud does not know or cannot
    build -- as SageMaker fails an endpoint whose image it cannot pull."""
    from localcloud.sagemaker import images

    if not image_uri:
        raise InstanceStartError("The model's PrimaryContainer names no Image")
    try:
        return images.python(image_uri, progress=lambda line: log.info("%s", line))
    except images.ImageError as exc:
        raise InstanceStartError(f"The serving image {image_uri} cannot run: {exc}") from None


@functools.lru_cache(maxsize=8)
def versions(python: str) -> tuple[str, str]:
    """(Python version, xgboost version) of an image interpreter, read without importing xgboost."""
    out = subprocess.run(
        [
            python,
            "-c",
            "import sys, importlib.metadata as m\n"
            "try: v = m.version('xgboost')\nexcept Exception: v = '-'\n"
            "print(sys.version.split()[0], v)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    parts = out.stdout.split()
    return (parts[0], parts[1]) if len(parts) == 2 else ("?", "?")


def post_invocation(pool: urllib3.HTTPConnectionPool, body: bytes, headers: dict[str, str]) -> HTTPResponse:
    """POST /invocations through `pool`'s kept-alive connections. A connection the instance
    closed as it was reused (gunicorn drops a connection idle for its keep-alive, 2 s, and the
    close can cross the next request) fails with ProtocolError before any answer: the request
    is sent again, once, on a new connection. On AWS this cannot happen: the container's nginx
    opens a new connection to gunicorn for every request, which is what the retry does. Raises
    urllib3.exceptions.HTTPError when the instance does not answer."""
    try:
        return pool.urlopen("POST", "/invocations", body=body, headers=headers, retries=False)
    except urllib3.exceptions.ProtocolError:
        fresh = urllib3.HTTPConnectionPool(pool.host, pool.port, maxsize=1, retries=False, timeout=pool.timeout)
        try:
            return fresh.urlopen("POST", "/invocations", body=body, headers=headers, retries=False)
        finally:
            fresh.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- one instance ---------------------------------------------------------------------------------


@dataclass(eq=False)  # an instance is itself: compared and found by identity
class Instance:
    """One serving process (the process group led by `pid`)."""

    id: str
    endpoint: str
    variant: str
    folder: container.JobFolder
    port: int
    proc: subprocess.Popen
    started: float
    image: str
    python_version: str
    xgboost_version: str
    outstanding: int = 0
    served: int = 0
    saved_served: int = 0
    _ps: psutil.Process | None = field(default=None, repr=False)
    pool: urllib3.HTTPConnectionPool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Connections kept alive to the instance (more are opened under load, not kept).
        self.pool = urllib3.HTTPConnectionPool(
            "127.0.0.1",
            self.port,
            maxsize=64,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=5.0, read=INVOKE_TIMEOUT),
        )

    def record(self) -> dict[str, Any]:
        return {
            "InstanceId": self.id,
            "EndpointName": self.endpoint,
            "VariantName": self.variant,
            "Pid": self.proc.pid,
            "Port": self.port,
            "Folder": str(self.folder.root),
            "Started": self.started,
            "Image": self.image,
            "PythonVersion": self.python_version,
            "XgboostVersion": self.xgboost_version,
            "RequestsServed": self.served,
        }

    def alive(self) -> bool:
        return self.proc.poll() is None

    def usage(self) -> tuple[float, float]:
        """(CPU %, memory % of the host) of the instance's whole process tree, psutil's measures
        since the previous call (the first call's CPU is 0)."""
        try:
            if self._ps is None:
                self._ps = psutil.Process(self.proc.pid)
            procs = [self._ps, *self._ps.children(recursive=True)]
        except psutil.Error:
            return 0.0, 0.0
        cpu = memory = 0.0
        for p in procs:
            try:
                cpu += p.cpu_percent(None)
                memory += p.memory_percent()
            except psutil.Error:
                continue
        return cpu, memory

    def post(self, body: bytes, headers: dict[str, str]) -> HTTPResponse:
        """POST /invocations; urllib3.exceptions.HTTPError when the instance does not answer."""
        return post_invocation(self.pool, body, headers)

    def stop(self) -> None:
        self.pool.close()
        container._kill(self.proc)
        container._kill_group(self.proc.pid)
        shutil.rmtree(self.folder.root, ignore_errors=True)

    def log_tail(self, lines: int = 1) -> str:
        """The last lines of the instance's output (the error a failed start ends with)."""
        try:
            text = (self.folder.root / "instance.log").read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


# -- a variant's fleet ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What a variant's instances run: the model's container and where its files are."""

    endpoint: str
    variant: str
    image: str
    environment: dict[str, str]
    model_dir: Path  # the extracted model.tar.gz
    code_archive: bytes | None  # SAGEMAKER_SUBMIT_DIRECTORY's sourcedir.tar.gz
    startup_timeout: float


class Fleet:
    """One variant's instances for one deployed endpoint config. Thread-safe."""

    def __init__(self, hosting: Hosting, spec: Spec):
        self.hosting = hosting
        self.spec = spec
        self.instances: list[Instance] = []
        self._lock = threading.Lock()
        self._turn = 0
        self.installed = False  # served by an installed route at some point
        self.retired = False
        self.desired = 0  # the instances `scale` was last asked for
        self._scaling = threading.Lock()  # one scale at a time

    # - scale ------------------------------------------------------------------------------

    def scale(self, count: int) -> None:
        """Run `count` instances: start the missing ones (all answering /ping before this
        returns; InstanceStartError otherwise, with the new ones stopped), or retire the extra
        ones after their in-flight requests (the least busy first)."""
        with self._scaling:
            self._scale(count)

    def _scale(self, count: int) -> None:
        with self._lock:
            have = len(self.instances)
            self.desired = count
        if count > have:
            try:
                started = self._start_many(count - have)
            except BaseException:
                with self._lock:  # what runs is what is wanted now: `heal` does not retry a failed scale-out
                    self.desired = len(self.instances)
                raise
            with self._lock:
                self.instances = [*self.instances, *started]
        elif count < have:
            with self._lock:
                keep = sorted(self.instances, key=lambda i: i.outstanding)
                extra, keep = keep[: have - count], keep[have - count :]
                self.instances = [i for i in self.instances if i in keep]
            for instance in extra:
                self.hosting.retire(instance)

    def _start_many(self, n: int) -> list[Instance]:
        results: list[Instance | BaseException | None] = [None] * n

        def one(k: int) -> None:
            try:
                results[k] = self.hosting.start(self.spec)
            except BaseException as exc:  # noqa: BLE001 - reported below
                results[k] = exc

        threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        started = [r for r in results if isinstance(r, Instance)]
        failures = [r for r in results if not isinstance(r, Instance)]
        if failures:
            for instance in started:
                self.hosting.stop(instance)
            raise failures[0] if isinstance(failures[0], BaseException) else InstanceStartError("instance not started")
        return started

    def heal(self) -> None:
        """Replace the instances whose process ended (killed, crashed, out of memory): they
        leave the rotation at once and new ones start in the background, as SageMaker replaces
        an instance that fails its health checks; a replacement that fails to start is tried
        again on the next call. Never while a scale runs (it starts what is wanted itself: a
        heal then would count its instances as missing and start them twice), and one
        replacement round at a time: the round holds the scaling lock until it ends."""
        if not self._scaling.acquire(blocking=False):
            return
        with self._lock:
            dead = [i for i in self.instances if not i.alive()]
            missing = self.desired - (len(self.instances) - len(dead))
            if self.retired or self.hosting.closed or (missing <= 0 and not dead):
                self._scaling.release()
                return
            self.instances = [i for i in self.instances if i not in dead]
        for instance in dead:
            log.warning(
                "endpoint %s instance %s exited (code %s); replacing it",
                instance.endpoint,
                instance.id,
                instance.proc.returncode,
            )
            self.hosting.stop(instance)

        def replace() -> None:
            try:
                started = self._start_many(missing) if missing > 0 else []
                with self._lock:
                    if self.retired:
                        for instance in started:
                            self.hosting.stop(instance)
                    else:
                        self.instances = [*self.instances, *started]
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                log.warning("replacing instances of %s/%s failed: %s", self.spec.endpoint, self.spec.variant, exc)
            finally:
                self._scaling.release()

        threading.Thread(target=replace, name=f"heal-{self.spec.endpoint}", daemon=True).start()

    def retire_all(self) -> None:
        self.retired = True
        with self._lock:
            instances, self.instances = self.instances, []
        for instance in instances:
            self.hosting.retire(instance)

    # - route ------------------------------------------------------------------------------

    def pick(self) -> Instance:
        """The instance with the fewest outstanding requests (ties in turn); its count is
        raised, the caller calls `done`."""
        with self._lock:
            instances = self.instances
            if not instances:
                raise InstanceStartError(f"variant {self.spec.variant} has no running instance")
            n = len(instances)
            self._turn = (self._turn + 1) % n
            best = min(range(n), key=lambda k: (instances[(self._turn + k) % n].outstanding, k))
            chosen = instances[(self._turn + best) % n]
            chosen.outstanding += 1
            return chosen

    def done(self, instance: Instance, answered: bool) -> None:
        with self._lock:
            instance.outstanding -= 1
            if answered:
                instance.served += 1


# -- all instances of one LocalCloud ------------------------------------------------------------


class Hosting:
    """Starts, tracks and stops the serving processes of one LocalCloud."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.root = cloud.config.home / "hosting" / "instances"
        self._live: dict[str, Instance] = {}
        self._lock = threading.Lock()
        self.closed = False

    def start(self, spec: Spec) -> Instance:
        """One new instance answering /ping; InstanceStartError (the FailureReason) if it exits
        or does not answer 200 within the spec's startup timeout."""
        if self.closed:
            raise InstanceStartError("localcloud is stopping")
        python = serving_python(spec.image)
        instance_id = f"{spec.variant}-{uuid.uuid4().hex[:8]}"
        isolation = container.Isolation.for_jobs(python)
        folder = container.JobFolder(self.root / spec.endpoint / instance_id, isolation)
        _stage(folder, spec)
        port = _free_port()
        env = container.base_environment(self.cloud.config.location_env(), folder)
        env.update(spec.environment)
        env.update(
            SAGEMAKER_BIND_TO_PORT=str(port),
            SAGEMAKER_SUBMIT_DIRECTORY=folder.view("/opt/ml/code"),
        )
        # Every local instance shares this machine's cores: one gunicorn worker per instance
        # unless the Model's Environment asks otherwise (an ml.m5.large would run one per vCPU).
        env.setdefault("SAGEMAKER_MODEL_SERVER_WORKERS", "1")
        if not folder.namespaced:
            env["SAGEMAKER_BASE_DIR"] = str(folder.opt_ml)  # sagemaker-containers' base path outside /opt/ml
        cmd = folder.wrap([python, str(ENTRY)], folder.view("/opt/ml"))
        python_version, xgboost_version = versions(python)
        with open(folder.root / "instance.log", "ab") as out:
            out.write(f"{isolation.note}\n$ {python} {ENTRY}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=folder.root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        instance = Instance(
            instance_id,
            spec.endpoint,
            spec.variant,
            folder,
            port,
            proc,
            time.time(),
            spec.image,
            python_version,
            xgboost_version,
        )
        with self._lock:
            self._live[instance_id] = instance
        try:
            self.cloud.state.put(INSTANCE, instance_id, instance.record())
            self._wait_healthy(instance, spec.startup_timeout)
        except BaseException:
            self.stop(instance)
            raise
        instance.usage()  # psutil measures CPU between calls: the first minute's starts now
        return instance

    def _wait_healthy(self, instance: Instance, timeout: float) -> None:
        """SageMaker's health check: GET /ping until it answers 200."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.closed:
                raise InstanceStartError("localcloud is stopping")
            if not instance.alive():
                raise InstanceStartError(
                    f"The primary container for production variant {instance.variant} exited "
                    f"(code {instance.proc.returncode}) before it passed the ping health check: "
                    f"{instance.log_tail()}"
                )
            try:
                answer = instance.pool.urlopen("GET", "/ping", retries=False, timeout=PING_TIMEOUT)
                if answer.status == 200:
                    return
                last = f"status {answer.status}"
            except urllib3.exceptions.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise InstanceStartError(
            f"The primary container for production variant {instance.variant} did not pass the "
            f"ping health check within {timeout:g} s (last: {last}). {instance.log_tail()}"
        )

    def stop(self, instance: Instance) -> None:
        """Kill an instance now and forget its record."""
        with self._lock:
            self._live.pop(instance.id, None)
        instance.stop()
        try:
            self.cloud.state.delete(INSTANCE, instance.id)
        except Exception:  # noqa: BLE001 - a closed state store while stopping: the record is an orphan's
            log.warning("could not delete the record of instance %s", instance.id)

    def retire(self, instance: Instance) -> None:
        """Stop an instance once its in-flight requests are answered (in the background)."""

        def drain() -> None:
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while instance.outstanding > 0 and time.monotonic() < deadline and not self.closed:
                time.sleep(0.05)
            self.stop(instance)

        threading.Thread(target=drain, name=f"retire-{instance.id}", daemon=True).start()

    def live(self, endpoint: str | None = None) -> list[Instance]:
        with self._lock:
            return [i for i in self._live.values() if endpoint is None or i.endpoint == endpoint]

    def save_served(self) -> None:
        """Write the requests-served counts that changed to the instance records (the clock's tick)."""
        for instance in self.live():
            if instance.served != instance.saved_served and instance.id in self._live:
                instance.saved_served = instance.served
                self.cloud.state.put(INSTANCE, instance.id, instance.record())

    def kill_orphans(self) -> int:
        """Kill the instances a previous server left running (their records), and forget them."""
        killed = 0
        for record in self.cloud.state.list(INSTANCE):
            if record["InstanceId"] in self._live:
                continue
            folder = container.JobFolder(Path(record["Folder"]))
            if container.kill_orphan(record["Pid"], folder, record.get("Started")):
                killed += 1
            shutil.rmtree(folder.root, ignore_errors=True)
            self.cloud.state.delete(INSTANCE, record["InstanceId"])
        return killed

    def close(self) -> None:
        self.closed = True
        for instance in self.live():
            self.stop(instance)


def _stage(folder: container.JobFolder, spec: Spec) -> None:
    """The instance's /opt/ml: model/ (a copy of the extracted model.tar.gz, as SageMaker
    downloads it onto the instance) and code/ (SAGEMAKER_SUBMIT_DIRECTORY's sourcedir.tar.gz)."""
    if folder.root.exists():
        shutil.rmtree(folder.root)
    folder.opt_ml.mkdir(parents=True)
    shutil.copytree(spec.model_dir, folder.opt_ml / "model")
    code = folder.opt_ml / "code"
    code.mkdir()
    if spec.code_archive is not None:
        import io

        with tarfile.open(fileobj=io.BytesIO(spec.code_archive), mode="r:*") as tar:
            tar.extractall(code, filter="data")
