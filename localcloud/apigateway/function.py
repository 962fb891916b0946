"""The gateway's Lambda function, run from its deployment package as Lambda runs it.

The function is described by a GetFunction-shaped document (`{"Configuration": {FunctionName,
Runtime, Handler, Timeout, MemorySize, Environment: {Variables}}, "Code": {"Location": <zip>,
"CodeSha256"}}`, https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html) that mlgw
writes from infra/ml-gateway.yaml's GatewayFunction and the zip `mlgw build lambda` builds
(mlgw/lambda_package.py: the one builder). Nothing of the checkout is imported here or in the
function: the zip is unpacked once per CodeSha256 (Lambda's /var/task) and each execution
environment is a process of its own (lambda_bootstrap.py, `python -I -S -B`) whose sys.path is that
directory, the standard library, and the runtime's packages: boto3 and the distributions it
requires, linked from this interpreter's site-packages (the venv's boto3 stands in for the one
the python3.11 runtime ships, https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html).

Environments are long-lived and reused, one invocation at a time each, as warm Lambda execution
environments are; a new one starts when all are busy (up to MAX_ENVIRONMENTS) and after one dies
or times out. Its environment variables are Lambda's reserved ones (AWS_LAMBDA_FUNCTION_NAME,
AWS_LAMBDA_FUNCTION_MEMORY_SIZE, _HANDLER, LAMBDA_TASK_ROOT, AWS_REGION, ..., credentials;
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
the template's Environment.Variables, then the function environment the run configuration sets
(function_env.py, as UpdateFunctionConfiguration does: environments started before a change are
retired). MemorySize caps the process's data segment (RLIMIT_DATA, set by the bootstrap from
AWS_LAMBDA_FUNCTION_MEMORY_SIZE before the handler is imported); Timeout is the invocation's
deadline, after which the environment is killed and replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

log = logging.getLogger("ml_gateway.apigateway.lambda")

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
RUNTIME_DISTRIBUTION = "boto3"  # what the python3.11 runtime ships besides the standard library
MAX_ENVIRONMENTS = max(2, os.cpu_count() or 1)  # concurrent executions of this function, locally
INIT_TIMEOUT_S = 10.0  # Lambda's Init phase limit (lambda-runtime-environment.html)
# The variables of the gateway's own process an environment inherits: where localcloud is and
# the role's credentials (what Lambda gives the function from its execution role).
# The host's proxy settings pass too (network plumbing, not the function's configuration).
_PASSED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)
_PASSED_PREFIX = "AWS_ENDPOINT_URL"


def default_document(home: Path) -> Path:
    """Where a state directory's gateway function document lives (mlgw.lambda_package.publish
    writes it; `python -m localcloud.apigateway` reads it unless told another)."""
    return home / "apigateway" / "function.json"


class FunctionDocumentError(Exception):
    """The function's document or its zip is missing or not what GetFunction returns."""


@dataclass(frozen=True)
class FunctionConfiguration:
    name: str
    runtime: str
    handler: str  # "module.function"
    timeout_s: int
    memory_mb: int
    variables: dict[str, str]
    zip_path: Path
    code_sha256: str  # hex

    @classmethod
    def load(cls, path: Path) -> FunctionConfiguration:
        """The document at `path`; FunctionDocumentError naming the file and field at fault."""
        try:
            doc = json.loads(path.read_text())
            conf, code = doc["Configuration"], doc["Code"]
            out = cls(
                name=str(conf["FunctionName"]),
                runtime=str(conf["Runtime"]),
                handler=str(conf["Handler"]),
                timeout_s=int(conf["Timeout"]),
                memory_mb=int(conf["MemorySize"]),
                variables={str(k): str(v) for k, v in conf.get("Environment", {}).get("Variables", {}).items()},
                zip_path=Path(code["Location"]),
                code_sha256=str(code["CodeSha256"]),
            )
        except OSError as exc:
            raise FunctionDocumentError(f"{path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise FunctionDocumentError(f"{path}: not JSON: {exc}") from None
        except (KeyError, TypeError) as exc:
            raise FunctionDocumentError(f"{path}: field {exc} missing or of the wrong type") from None
        if not out.zip_path.is_file():
            raise FunctionDocumentError(f"{path}: Code.Location {out.zip_path}: no such file")
        return out


@dataclass
class Invocation:
    """An invocation's outcome: the handler's `result`, or Lambda's `error` document
    ({"errorType", "errorMessage"}), and whether it ended by the function's Timeout."""

    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False  # the function's Timeout ended it
    abandoned: bool = False  # the caller's wait_s ended it first
    duration_s: float = 0.0


def _built_once(target: Path, fill: Callable[[Path], None]) -> Path:
    """`target`, filled by `fill(folder)` the first time: built beside it and renamed into
    place (atomic; another gateway worker may win the race, and then its copy stands)."""
    if target.is_dir():
        return target
    partial = target.parent / f".{target.name}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    fill(partial)
    try:
        partial.rename(target)
    except OSError:  # another gateway worker got there first
        shutil.rmtree(partial, ignore_errors=True)
    return target


def unpack(zip_path: Path, code_sha256: str, root: Path) -> Path:
    """The zip unpacked under `root/<sha256>/` (once per content; atomic)."""

    def extract(folder: Path) -> None:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(folder)  # names checked by zipfile: no absolute paths, no '..'

    return _built_once(root / code_sha256, extract)


def _requirements(name: str, seen: dict[str, metadata.Distribution]) -> None:
    dist = metadata.distribution(name)
    key = dist.metadata["Name"].lower().replace("_", "-")
    if key in seen:
        return
    seen[key] = dist
    for text in dist.requires or ():
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            _requirements(requirement.name, seen)


def runtime_dir(root: Path) -> Path:
    """A folder holding links to boto3 and every distribution it requires (transitively, by
    their metadata), and nothing else: the runtime's packages. One per set of versions."""
    dists: dict[str, metadata.Distribution] = {}
    _requirements(RUNTIME_DISTRIBUTION, dists)
    tag = hashlib.sha256("\n".join(sorted(f"{k}=={d.version}" for k, d in dists.items())).encode()).hexdigest()[:16]

    def link(folder: Path) -> None:
        for dist in dists.values():
            tops = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
            for top in tops:
                source = Path(str(dist.locate_file(top)))
                if source.exists() and not top.endswith(".pth") and top != "__pycache__":
                    (folder / top).symlink_to(source)

    return _built_once(root / tag, link)


class _Environment:
    """One execution environment: the bootstrap process and its line protocol."""

    def __init__(self, command: list[str], env: dict[str, str], generation: int) -> None:
        self.generation = generation
        self.served = 0
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=env["LAMBDA_TASK_ROOT"],
        )
        self._buffer = b""
        self.ended = False  # its output closed: the process exited
        self.init: dict[str, Any] = {}

    def read(self, deadline: float) -> dict[str, Any] | None:
        """The next protocol line, or None when the deadline passes or the process ends."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                self.ended = True
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def send(self, message: dict[str, Any]) -> bool:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):
            return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@dataclass
class _Pool:
    idle: list[_Environment] = field(default_factory=list)
    count: int = 0


class LambdaFunction:
    """The function of `document` (FunctionConfiguration.load's file), run in execution
    environments under `state_dir` (its unpacked code and runtime folder). Thread-safe."""

    def __init__(self, document: Path, state_dir: Path) -> None:
        self.config = FunctionConfiguration.load(document)
        self.task_root = unpack(self.config.zip_path, self.config.code_sha256, state_dir / "code")
        self.runtime_root = runtime_dir(state_dir / "runtime")
        self._overrides: dict[str, str] = {}
        self._generation = 0
        self._pool = _Pool()
        self._cond = threading.Condition()
        self.last_init: dict[str, Any] = {}  # the latest environment's Init report (pid, sys.path, handler file)

    def reconfigure(self, variables: dict[str, str]) -> None:
        """Apply the function environment (function_env.py) over the template's variables;
        environments started before are retired, as after UpdateFunctionConfiguration."""
        with self._cond:
            if variables == self._overrides:
                return
            self._overrides = dict(variables)
            self._generation += 1
            stale, self._pool.idle = self._pool.idle, []
            self._pool.count -= len(stale)
            self._cond.notify_all()
        for environment in stale:
            environment.kill()

    def environment_variables(self) -> dict[str, str]:
        """What an execution environment's process sees (see the module docstring)."""
        c = self.config
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "_HANDLER": c.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{c.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": c.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(c.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{c.name}",
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "LAMBDA_RUNTIME_DIR": str(self.runtime_root),
            # A Lambda environment has no ~/.aws: credentials and region come from the above only.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        if region:
            env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
        for name, value in os.environ.items():
            if name in _PASSED or name.startswith(_PASSED_PREFIX):
                env[name] = value
        with self._cond:
            overrides = dict(self._overrides)
        env.update(c.variables)
        env.update(overrides)
        return env

    def _start(self, generation: int) -> tuple[_Environment | None, dict[str, Any] | None]:
        command = [sys.executable, "-I", "-S", "-B", str(BOOTSTRAP)]  # -B: the task root is read-only on Lambda
        environment = _Environment(command, self.environment_variables(), generation)
        report = environment.read(time.monotonic() + INIT_TIMEOUT_S)
        if report is None or report.get("init") != "ok":
            environment.kill()
            error = report or {
                "errorType": "Runtime.ExitError" if report is None else "Runtime.Unknown",
                "errorMessage": f"the execution environment exited or did not initialize in {INIT_TIMEOUT_S:.0f} s",
            }
            log.error(
                "function %s: Init failed: %s: %s", self.config.name, error.get("errorType"), error.get("errorMessage")
            )
            return None, error
        environment.init = report
        self.last_init = report
        log.info("function %s: execution environment pid %s ready", self.config.name, report.get("pid"))
        return environment, None

    def _acquire(self) -> tuple[_Environment | None, dict[str, Any] | None]:
        with self._cond:
            while True:
                while self._pool.idle:
                    warm = self._pool.idle.pop()
                    if warm.alive():
                        return warm, None
                    self._pool.count -= 1
                if self._pool.count < MAX_ENVIRONMENTS:
                    self._pool.count += 1
                    generation = self._generation
                    break
                self._cond.wait()
        environment, error = self._start(generation)
        if environment is None:
            self._release(None)
        return environment, error

    def _release(self, environment: _Environment | None) -> None:
        with self._cond:
            if environment is not None and environment.alive() and environment.generation == self._generation:
                self._pool.idle.append(environment)
            else:
                self._pool.count -= 1
                if environment is not None:
                    environment.kill()
            self._cond.notify()

    def invoke(self, event: Any, request_id: str, wait_s: float | None = None) -> Invocation:
        """Run the handler on `event` in a warm (or new) environment. The environment is killed
        after `timeout_s` (the function's Timeout, Lambda's "Task timed out" error) or after
        `wait_s` if that is shorter (the caller stops waiting: API Gateway's integration
        timeout); `timed_out` says which ended it."""
        started = time.monotonic()
        environment, error = self._acquire()
        if environment is None:
            return Invocation(error=error, duration_s=time.monotonic() - started)
        limit = self.config.timeout_s if wait_s is None else min(self.config.timeout_s, wait_s)
        deadline = time.monotonic() + limit
        sent = environment.send(
            {"event": event, "request_id": request_id, "deadline_ms": int((time.time() + self.config.timeout_s) * 1000)}
        )
        answer = environment.read(deadline) if sent else None
        duration = time.monotonic() - started
        if answer is None:
            timed_out = sent and not environment.ended
            environment.kill()  # a timed-out environment is not reused (Lambda resets it)
            self._release(environment)
            if timed_out and limit < self.config.timeout_s:
                message = f"{request_id} the caller stopped waiting after {limit:.2f} seconds"
                return Invocation(
                    error={"errorType": "Abandoned", "errorMessage": message}, abandoned=True, duration_s=duration
                )
            if timed_out:
                message = f"{request_id} Task timed out after {limit:.2f} seconds"
                return Invocation(
                    error={"errorType": "Sandbox.Timedout", "errorMessage": message},
                    timed_out=True,
                    duration_s=duration,
                )
            code = environment.proc.returncode
            return Invocation(
                error={
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
                },
                duration_s=duration,
            )
        environment.served += 1
        self._release(environment)
        if "result" in answer:
            return Invocation(result=answer["result"], duration_s=duration)
        return Invocation(error=answer, duration_s=duration)

    def close(self) -> None:
        """Stop every execution environment."""
        with self._cond:
            idle, self._pool.idle = self._pool.idle, []
            self._pool.count -= len(idle)
            self._generation += 1  # busy ones are retired when they return
        for environment in idle:
            environment.kill()
