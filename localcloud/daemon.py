"""Run localcloud as a background process the CLI can find again: a run file in the state dir
records its pid and port; `start` starts it only when no live server answers.

A server is also found without its run file (deleted with the state directory, or never
written): by its command line, `python -m <module> ... --home <state dir>`, which every server
`spawn` starts carries (`server_processes`), and a port's holder by the listening socket
(`port_holder`). psutil reads both portably; /proc parsing by hand would be Linux-only.
"""

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

import psutil

from localcloud.config import Config

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
MODULE = "localcloud"  # `python -m localcloud`: the server's command line


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
    except ChildProcessError:  # not our child: whoever started it reaps it
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


def spawn(
    command: list[str],
    env: dict[str, str],
    host: str,
    port: int,
    log_path: Path,
    what: str,
    timeout: float = START_TIMEOUT_S,
) -> subprocess.Popen:
    """Start a detached server process logging to log_path; return once it answers on port."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DaemonError(f"{what} exited with code {proc.returncode}; see {log_path}")
        if answers(host, port):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise DaemonError(f"{what} did not start within {timeout:.0f} s; see {log_path}")


def flag_value(cmdline: list[str], name: str) -> str | None:
    for i, arg in enumerate(cmdline[:-1]):
        if arg == name:
            return cmdline[i + 1]
    return None


def runs_module(cmdline: list[str], module: str) -> bool:
    return any(arg == "-m" and nxt == module for arg, nxt in zip(cmdline, cmdline[1:]))


def server_processes(module: str, home: Path) -> list[psutil.Process]:
    """Live processes started as `python -m <module> ... --home <home>` (relative homes are
    resolved against the process's working directory), outermost first: a gateway's forked
    workers share its command line and are left out, since stopping their parent stops them."""
    home = Path(home).resolve()
    found = []
    for proc in psutil.process_iter(["ppid", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE or not runs_module(cmdline, module):
            continue
        arg = flag_value(cmdline, "--home")
        if arg is None:
            continue
        try:
            where = Path(arg) if os.path.isabs(arg) else Path(proc.cwd(), arg)
        except psutil.Error:
            continue
        if Path(os.path.abspath(where)) == home or where.resolve() == home:
            found.append(proc)
    pids = {p.pid for p in found}
    return [p for p in found if p.info["ppid"] not in pids]


def process_record(proc: psutil.Process) -> dict:
    """A run-file-shaped record (pid, host, port, url) from a server's command line."""
    cmdline = proc.info.get("cmdline") if hasattr(proc, "info") else proc.cmdline()
    host = flag_value(cmdline or [], "--host") or "127.0.0.1"
    port = int(flag_value(cmdline or [], "--port") or 0)
    return {"pid": proc.pid, "host": host, "port": port, "url": f"http://{host}:{port}", "run_file": False}


def find(module: str, home: Path, path: Path) -> dict | None:
    """The server of `home` running `module`: from its run file `path` if that names a live
    server, else from the process table (then with "run_file": False)."""
    record = read_record(path)
    if record:
        return record
    procs = server_processes(module, home)
    return process_record(procs[0]) if procs else None


def port_holder(port: int) -> str | None:
    """Who listens on TCP `port` on this machine: "pid N (command)", "another user's
    process" when the pid is not ours to see, None when nobody does."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        conns = []
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return "another user's process"
            try:
                command = " ".join(psutil.Process(conn.pid).cmdline())
            except psutil.Error:
                command = "?"
            return f"pid {conn.pid} ({command[:120]})"
    return None


def terminate(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM a server and its child processes in its session, SIGKILL what is left after
    `timeout`; False if it was already gone. A child in a session of its own is a server
    `spawn` detached (a localcloud the studio started): it is left to be stopped as itself."""
    try:
        proc = psutil.Process(pid)
        if _gone(proc):
            return False
        session = os.getsid(pid)
        family = [proc]
        for child in proc.children(recursive=True):
            try:
                if os.getsid(child.pid) == session:
                    family.append(child)
            except OSError:
                pass
    except (psutil.NoSuchProcess, OSError):
        return False
    for member in family:
        try:
            member.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    alive = _wait_gone(family, timeout)
    # Stuck past a clean shutdown: state is in SQLite (WAL) and renamed files, so a kill loses
    # at most the offline-store rows not yet flushed (they stay journaled).
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    _wait_gone(alive, timeout)
    return True


def _gone(proc: psutil.Process) -> bool:
    # An exited server stays a zombie until its parent reaps it (this process, when it started
    # the server): reap it if it is ours, and count it as gone either way.
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    try:
        os.waitpid(proc.pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until `procs` have exited (or are zombies); those still running at `timeout`."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if not _gone(p)]
    return alive


def stop_servers(module: str, home: Path, path: Path) -> list[dict]:
    """Stop every server of `home` running `module`: the one its run file names and any the
    process table shows (an orphan whose run file was deleted). The records stopped."""
    stopped = []
    record = read_record(path)
    if record and terminate(record["pid"]):
        stopped.append(record)
    for proc in server_processes(module, home):
        info = process_record(proc)
        if terminate(proc.pid):
            stopped.append(info)
    path.unlink(missing_ok=True)
    return stopped


def stop_record(path: Path) -> bool:
    """Stop the server a run file names (SIGTERM, then SIGKILL if it is stuck); False if none."""
    record = read_record(path)
    if not record:
        return False
    terminate(record["pid"])
    path.unlink(missing_ok=True)
    return True


def status(config: Config) -> dict | None:
    """The running server's record (pid, host, port, url) or None if none is alive for this
    home; found by its run file, else by its command line ("run_file": False)."""
    return find(MODULE, config.home, run_file(config))


def running_config(config: Config) -> Config | None:
    record = status(config)
    return replace(config, host=record["host"], port=record["port"]) if record else None


def require_running(config: Config) -> Config:
    """The running server's config for config.home; DaemonError saying how to start one."""
    found = running_config(config)
    if not found:
        raise DaemonError(
            f"localcloud is not running for {config.home}; start it with "
            f"`mlgw localcloud start` (or use `mlgw run`, which starts it)"
        )
    return found


def start(config: Config) -> Config:
    """Start a detached server for config.home (no-op if one is running); return its config.
    DaemonError when the port is taken, or when a server of this home runs without its run
    file (its state directory was deleted under it, say): that one is stopped first."""
    record = status(config)
    if record and record.get("run_file") is False:
        raise DaemonError(
            f"a localcloud for {config.home} is already running (pid "
            f"{record['pid']}, port {record['port']}) without its run file, so "
            f"its state may be gone; stop it with `mlgw stop`"
        )
    if record:
        return replace(config, host=record["host"], port=record["port"])
    if answers(config.host, config.port):
        holder = port_holder(config.port)
        raise DaemonError(
            f"port {config.port} on {config.host} is taken by "
            f"{holder or 'another program'}; choose another with --port or "
            f"MLGW_PORT"
        )
    env = {**os.environ, "MLGW_HOME": str(config.home), "MLGW_PORT": str(config.port)}
    proc = spawn(
        [
            sys.executable,
            "-m",
            "localcloud",
            "--host",
            config.host,
            "--port",
            str(config.port),
            "--home",
            str(config.home),
        ],
        env,
        config.host,
        config.port,
        config.home / "localcloud.log",
        "localcloud",
    )
    write_record(run_file(config), proc.pid, config.host, config.port)
    return config


def stop(config: Config) -> list[dict]:
    """Stop this home's localcloud (and any orphan of it); the records stopped (empty: none
    was running)."""
    return stop_servers(MODULE, config.home, run_file(config))
