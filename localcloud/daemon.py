"""Run localcloud as a background process the CLI can find again: a run file in the state dir
records its pid and port; `ensure_running` starts it only when no live server answers."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from localcloud.config import Config

START_TIMEOUT_S = 10.0


class DaemonError(Exception):
    pass


def run_file(config: Config) -> Path:
    return config.home / "localcloud.json"


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A server this process started stays a zombie after exiting until it is reaped, and
    # kill(pid, 0) still succeeds on a zombie: reap it if it is ours, and call it dead.
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        return reaped != pid
    except ChildProcessError:       # not our child: whoever started it reaps it
        return True


def read_record(path: Path) -> dict | None:
    """A background server's run file (pid, host, port, url), if that server is still alive."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if pid_alive(record["pid"]) and answers(record["host"], record["port"]):
        return record
    return None


def write_record(path: Path, pid: int, host: str, port: int) -> dict:
    record = {"pid": pid, "host": host, "port": port, "url": f"http://{host}:{port}"}
    path.write_text(json.dumps(record))
    return record


def spawn(command: list[str], env: dict[str, str], host: str, port: int, log_path: Path,
          what: str, timeout: float = START_TIMEOUT_S) -> subprocess.Popen:
    """Start a detached server process logging to log_path; return once it answers on port."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DaemonError(f"{what} exited with code {proc.returncode}; see {log_path}")
        if answers(host, port):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise DaemonError(f"{what} did not start within {timeout:.0f} s; see {log_path}")


def stop_record(path: Path) -> bool:
    """Stop the server a run file names (SIGTERM, then SIGKILL if it is stuck); False if none."""
    record = read_record(path)
    if not record:
        return False
    os.kill(record["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_alive(record["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(record["pid"]):
        # Stuck past a clean shutdown: state is in SQLite (WAL) and renamed files, so a
        # kill loses at most the offline-store rows not yet flushed (they stay journaled).
        os.kill(record["pid"], signal.SIGKILL)
    path.unlink(missing_ok=True)
    return True


def status(config: Config) -> dict | None:
    """The running server's record (pid, port, url) or None if none is alive for this home."""
    return read_record(run_file(config))


def running_config(config: Config) -> Config | None:
    record = status(config)
    return replace(config, host=record["host"], port=record["port"]) if record else None


def require_running(config: Config) -> Config:
    """The running server's config for config.home; DaemonError saying how to start one."""
    found = running_config(config)
    if not found:
        raise DaemonError(f"localcloud is not running for {config.home}; start it with "
                          f"`mlgw localcloud start` (or use `mlgw run`, which starts it)")
    return found


def start(config: Config) -> Config:
    """Start a detached server for config.home (no-op if one is running); return its config."""
    found = running_config(config)
    if found:
        return found
    if answers(config.host, config.port):
        raise DaemonError(f"port {config.port} on {config.host} is taken by another program; "
                          f"choose another with --port or MLGW_PORT")
    env = {**os.environ, "MLGW_HOME": str(config.home), "MLGW_PORT": str(config.port)}
    proc = spawn([sys.executable, "-m", "localcloud", "--host", config.host, "--port",
                  str(config.port), "--home", str(config.home)],
                 env, config.host, config.port, config.home / "localcloud.log", "localcloud")
    write_record(run_file(config), proc.pid, config.host, config.port)
    return config


def stop(config: Config) -> bool:
    return stop_record(run_file(config))
