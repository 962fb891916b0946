"""The SageMaker container contract, without a container.

A job sees what its container would see, and nothing of this checkout:

- **A real `/opt/ml`.** On Linux the job runs in a private user + mount namespace
  (`unshare --user --mount --map-root-user`, util-linux) where the job folder
  `<jobdir>/opt/ml` is bind-mounted at `/opt/ml`, so scripts that open
  `/opt/ml/processing/...` themselves find their inputs, and whatever they write there is
  what gets uploaded. The host's `/opt` is never written: a tmpfs covers `/opt` inside the
  namespace only, with the host's entries bound back. Where namespaces are unavailable
  (not Linux, or user namespaces disabled) we fall back to rewriting every `/opt/ml` path in
  the entrypoint, arguments and environment to the job folder, and the job log says so.
- **Only the image's packages** (image.py): `python3` is an interpreter whose site-packages
  are the venv's third-party packages without this project's editable install, and
  PYTHONPATH is only what the job declares. So `import processing` works exactly when the
  job staged it, as in SageMaker (https://docs.aws.amazon.com/sagemaker/latest/dg/
  build-your-own-processing-container.html: inputs land under /opt/ml/processing/...).

boto3 inside the script talks to localcloud (the client environment).
"""

from __future__ import annotations

import collections
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

_OPT_ML = re.compile(r"(?<![\w./-])/opt/ml(?=/|$|[\s'\":=,;])")
_PYTHON = re.compile(r"(?:.*/)?python(?:3(?:\.\d+)?)?")
_SHELL = re.compile(r"(?:.*/)?(?:ba)?sh")
STDERR_TAIL_LINES = 15


class StopRequested(Exception):
    """The execution was stopped while this job ran."""


# Run inside the new namespace as `sh -c NAMESPACE_SETUP sh <jobdir> <cwd> <command...>`:
# cover /opt with a tmpfs (so the mount point /opt/ml never touches the host), bind the host's
# /opt entries back, bind the job folder at /opt/ml, then run the job in its working dir.
# A shell script rather than Python: it must run before the job's interpreter starts. The
# shell stays the process (group) leader, its command line naming the job folder, so
# kill_orphan can recognise it; a job killed by a signal is reported as killed by it.
NAMESPACE_SETUP = r"""set -e
root=$1; cwd=$2; shift 2
host="$root/.host-opt"
mkdir -p "$host"
mount --rbind /opt "$host"
mount -t tmpfs -o mode=755 tmpfs /opt
for entry in "$host"/* "$host"/.[!.]*; do
  [ -e "$entry" ] || [ -L "$entry" ] || continue
  name="/opt/${entry##*/}"
  if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "$name"
  elif [ -d "$entry" ]; then mkdir -p "$name"; mount --rbind "$entry" "$name"
  else touch "$name"; mount --bind "$entry" "$name"; fi
done
umount -l "$host"
rmdir "$host"
mkdir -p /opt/ml
mount --bind "$root/opt/ml" /opt/ml
cd "$cwd"
set +e
"$@"
rc=$?
if [ "$rc" -gt 128 ]; then kill -$((rc - 128)) $$; fi
exit "$rc"
"""
_UNSHARE = ["unshare", "--user", "--mount", "--map-root-user", "--propagation", "private"]


@functools.lru_cache(maxsize=1)
def namespace_support() -> str | None:
    """None when jobs can get a private /opt/ml, else why not (for the job log)."""
    if os.environ.get("MLGW_JOB_NAMESPACE", "").lower() in ("0", "off", "false", "no"):
        return "MLGW_JOB_NAMESPACE is off"
    if sys.platform != "linux":
        return f"mount namespaces are Linux-only (this is {sys.platform})"
    if not shutil.which("unshare") or not Path("/opt").is_dir():
        return "util-linux unshare or /opt is missing"
    try:
        probe = subprocess.run(
            [*_UNSHARE, "sh", "-c", "mount -t tmpfs tmpfs /opt"],
            capture_output=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unshare failed: {exc}"
    if probe.returncode != 0:
        return "user namespaces unavailable: " + probe.stderr.decode(errors="replace").strip()[:200]
    return None


@dataclass(frozen=True)
class Isolation:
    """How a job's process is isolated: its interpreter (the image's) and whether it gets a
    private mount namespace with a real /opt/ml (else /opt/ml paths are rewritten)."""

    python: str
    namespace: bool
    note: str

    @classmethod
    def for_jobs(cls, python: str) -> "Isolation":
        reason = namespace_support()
        if reason is None:
            return cls(
                python,
                True,
                "job isolation: private mount namespace, the job folder is /opt/ml; imports: the image's packages only",
            )
        return cls(
            python,
            False,
            f"job isolation: WARNING no private mount namespace "
            f"({reason}); /opt/ml paths are rewritten to the job folder "
            f"and a script building /opt/ml paths itself will not find "
            f"them; imports: the image's packages only",
        )


@dataclass(frozen=True)
class JobFolder:
    root: Path
    isolation: Isolation | None = None

    @property
    def namespaced(self) -> bool:
        return self.isolation is not None and self.isolation.namespace

    @property
    def python(self) -> str:
        return self.isolation.python if self.isolation else sys.executable

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
        rest = Path(container_path[len("/opt/ml") :].lstrip("/"))
        if ".." in rest.parts:
            raise ValueError(f"container path {container_path!r} leaves /opt/ml")
        return self.opt_ml / rest

    def view(self, container_path: str) -> str:
        """How the job's process names a container path: itself in a namespace, else the
        folder standing in for it."""
        local = self.local(container_path)
        return container_path if self.namespaced else str(local)

    def host(self, view: str) -> Path:
        """The host path of a path as the job's process names it."""
        return self.local(view) if self.namespaced else Path(view)

    def remap(self, text: str) -> str:
        if self.namespaced:
            return text
        return _OPT_ML.sub(lambda _: str(self.opt_ml), text)

    def wrap(self, cmd: list[str], cwd: str) -> list[str]:
        """The command that runs cmd as the job's process, in the job's working dir cwd (a
        path as the job names it)."""
        if not self.namespaced:
            return cmd
        return [*_UNSHARE, "sh", "-c", NAMESPACE_SETUP, "sh", str(self.root), cwd, *cmd]


def command(folder: JobFolder, entrypoint: list[str], arguments: list[str]) -> list[str]:
    cmd = [folder.remap(str(part)) for part in [*entrypoint, *arguments]]
    if cmd and _PYTHON.fullmatch(cmd[0]):
        cmd[0] = folder.python  # "python3" in the image: the image's interpreter
    elif cmd and _SHELL.fullmatch(cmd[0]) and not folder.namespaced:
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


# What a job keeps of localcloud's own environment: what an image's ENV holds (the search path,
# home, locale, time zone, temporary directory, library path), nothing else. A SageMaker
# container's environment is its image's plus what SageMaker sets (the job's Environment, SM_*,
# the region and the role's credentials; https://docs.aws.amazon.com/sagemaker/latest/dg/
# build-your-own-processing-container.html, .../your-algorithms-training-algo-running-container.html):
# never the variables of whoever started localcloud, so not its MLGW_SECRET_KEY, its AWS
# credentials or any other secret it holds.
_HOST_KEPT = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH")
_HOST_KEPT_PREFIXES = ("LC_",)


def base_environment(location_env: dict[str, str], folder: JobFolder) -> dict[str, str]:
    """The process environment a job starts from: of ours only what an image's ENV would hold
    (_HOST_KEPT: no identity, no Python path, no secret), plus where localcloud is
    (`location_env`: Config.location_env, no credentials). The caller adds the role's
    credentials and what the job declares; PYTHONPATH is only what the job declares."""
    env = {k: v for k, v in os.environ.items() if k in _HOST_KEPT or k.startswith(_HOST_KEPT_PREFIXES)}
    env.update(location_env)
    # `python3` inside shell entrypoints is the image's interpreter too.
    env["PATH"] = os.pathsep.join([str(Path(folder.python).parent), env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"
    # A SageMaker instance runs one job; here a job shares the machine's cores with a parallel
    # step, localcloud and the client. OpenMP threads (xgboost's) that spin while they wait
    # for work then steal cores from the others: on a busy 2-core machine the Train script
    # took 3.5-7 s spinning, 2.2-3 s waiting passively. Waiting passively costs a dedicated
    # machine nearly nothing; a job that declares its own OMP_WAIT_POLICY (Environment) keeps it.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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


def run(
    cmd: list[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    stop: threading.Event,
    max_runtime: float | None = None,
    on_start: Callable[[int], None] = lambda pid: None,
    note: str = "",
    shown: list[str] | None = None,
) -> Completed:
    """Run cmd to completion with stdout and stderr appended to log; kill it (and its children)
    if stop is set or it outlives max_runtime. on_start gets the process (group) id. The log
    starts with note and the command as the job sees it (shown, default cmd).

    A job is its whole process group: when the group's leader ends, for any reason (it exited,
    it was stopped, or someone killed only the wrapper around the job's interpreter), whatever
    is left of the group is killed before this returns, so nothing of an ended job runs on."""
    log.parent.mkdir(parents=True, exist_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
    with open(log, "ab", buffering=0) as out:
        if note:
            out.write(f"{note}\n".encode())
        out.write(f"$ {' '.join(shown or cmd)}\n".encode())
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            return Completed(127, [f"cannot start {cmd[0]}: {exc}"])
        try:
            on_start(proc.pid)
        except BaseException:  # the job could not be recorded (a full disk): it must not run on
            _kill(proc)
            _kill_group(proc.pid)
            raise

        def pump() -> None:  # stderr goes to the log too; its last lines explain a failure
            assert proc.stderr is not None
            for line in proc.stderr:
                try:
                    out.write(line)
                except OSError:  # a full disk: keep reading, or the job blocks on a full pipe
                    pass
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
        _kill_group(proc.pid)
        reader.join(timeout=5)
        if stop.is_set() and not timed_out:
            raise StopRequested()
        return Completed(proc.returncode, list(tail), timed_out)


def kill_orphan(pid: int, folder: JobFolder, started: float | None = None) -> bool:
    """Kill a job's process group left running by a previous server process: the group whose
    id is the job's first pid, if that pid is still the job's (its command line names the job
    folder) or, when the leader is gone (killed alone), the members of that group that started
    no earlier than the job (`started`, epoch s: a group id is a pid, and a pid can be reused
    only once its group is empty). True if something was killed."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        cmdline = None
    if cmdline is not None:
        if str(folder.root) not in cmdline:
            return False  # the pid is another process's now
        return _kill_group(pid)
    if started is None:
        return False
    members = []
    for process in psutil.process_iter(["create_time"]):
        try:
            if os.getpgid(process.pid) == pid and process.info["create_time"] >= started - 1.0:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    for process in members:
        try:
            process.kill()
        except psutil.Error:
            pass
    return bool(members)


def _kill_group(pgid: int) -> bool:
    """SIGKILL to every process left in a job's group; False if none was left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
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
