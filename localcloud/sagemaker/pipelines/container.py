"""The SageMaker container contract, without a container.

A job runs our script in a subprocess whose `/opt/ml/...` is the folder `<jobdir>/opt/ml/...`:
every `/opt/ml` path in the entrypoint, arguments and environment is rewritten, `python3` is
this interpreter, and boto3 inside the script talks to localcloud (the client environment).
"""
from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The project root, so `import processing...` works in scripts wherever they were staged.
PROJECT_ROOT = Path(__file__).resolve().parents[3]
_OPT_ML = re.compile(r"(?<![\w./-])/opt/ml(?=/|$|[\s'\":=,;])")
_PYTHON = re.compile(r"(?:.*/)?python(?:3(?:\.\d+)?)?")
_SHELL = re.compile(r"(?:.*/)?(?:ba)?sh")
STDERR_TAIL_LINES = 15


class StopRequested(Exception):
    """The execution was stopped while this job ran."""


@dataclass(frozen=True)
class JobFolder:
    root: Path

    @property
    def opt_ml(self) -> Path:
        return self.root / "opt" / "ml"

    @property
    def log(self) -> Path:
        return self.root / "job.log"

    @property
    def failure_file(self) -> Path:
        # Where a SageMaker training container's script writes its failure reason.
        return self.opt_ml / "output" / "failure"

    def local(self, container_path: str) -> Path:
        """The folder standing in for a container path such as /opt/ml/processing/input."""
        if not (container_path == "/opt/ml" or container_path.startswith("/opt/ml/")):
            raise ValueError(f"container path {container_path!r} is not under /opt/ml")
        rest = Path(container_path[len("/opt/ml"):].lstrip("/"))
        if ".." in rest.parts:
            raise ValueError(f"container path {container_path!r} leaves /opt/ml")
        return self.opt_ml / rest

    def remap(self, text: str) -> str:
        return _OPT_ML.sub(lambda _: str(self.opt_ml), text)


def command(folder: JobFolder, entrypoint: list[str], arguments: list[str]) -> list[str]:
    cmd = [folder.remap(str(part)) for part in [*entrypoint, *arguments]]
    if cmd and _PYTHON.fullmatch(cmd[0]):
        cmd[0] = sys.executable   # "python3" in the image is our interpreter here
    elif cmd and _SHELL.fullmatch(cmd[0]):
        # A staged shell script (the SDK's runproc.sh) names /opt/ml paths in its text too.
        for part in cmd[1:]:
            path = Path(part)
            if path.is_file() and folder.opt_ml in path.parents:
                _remap_file(folder, path)
    return cmd


def _remap_file(folder: JobFolder, path: Path) -> None:
    try:
        text = path.read_text()
    except (UnicodeDecodeError, OSError):
        return
    path.write_text(folder.remap(text))


def base_environment(client_env: dict[str, str]) -> dict[str, str]:
    """The process environment a job starts from: ours minus any AWS identity, plus localcloud's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "SM_", "SAGEMAKER_"))}
    env.update(client_env)
    python_path = [str(PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(python_path))
    # `python3` inside shell entrypoints is this interpreter (its venv) too.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Completed:
    returncode: int
    stderr_tail: list[str]
    timed_out: bool = False

    def describe(self) -> str:
        if self.timed_out:
            return "the job exceeded its MaxRuntimeInSeconds and was stopped"
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"the process was killed by {name}"
        return f"exit code: {self.returncode}"


def run(cmd: list[str], env: dict[str, str], cwd: Path, log: Path,
        stop: threading.Event, max_runtime: float | None = None,
        on_start: Callable[[int], None] = lambda pid: None) -> Completed:
    """Run cmd to completion with stdout and stderr appended to log; kill it (and its children)
    if stop is set or it outlives max_runtime. on_start gets the process (group) id."""
    log.parent.mkdir(parents=True, exist_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
    with open(log, "ab", buffering=0) as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return Completed(127, [f"cannot start {cmd[0]}: {exc}"])
        on_start(proc.pid)

        def pump() -> None:   # stderr goes to the log too; its last lines explain a failure
            assert proc.stderr is not None
            for line in proc.stderr:
                out.write(line)
                text = line.decode(errors="replace").rstrip()
                if text:
                    tail.append(text)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        started, timed_out = time.monotonic(), False
        while True:
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            timed_out = max_runtime is not None and time.monotonic() - started > max_runtime
            if stop.is_set() or timed_out:
                _kill(proc)
                break
        reader.join(timeout=5)
        if stop.is_set() and not timed_out:
            raise StopRequested()
        return Completed(proc.returncode, list(tail), timed_out)


def kill_orphan(pid: int, folder: JobFolder) -> bool:
    """Kill a job's process group left running by a previous server process, if that pid is
    still the job's (its command line names the job folder). Linux /proc; elsewhere a no-op."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if str(folder.root) not in cmdline:
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
