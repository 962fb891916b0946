"""Every server `mlgw` leaves running for a state directory: listed, and stopped together.

localcloud and the gateway run in the background (localcloud/daemon.py, mlgw/commands/
gateway.py); the studio and the MLflow UI run in the foreground of an `mlgw studio` / `mlgw
mlflow` command. Each is found by its run file in the state directory or, when that is gone
(deleted with the directory, or never written), by its process: its command line and the
state directory it was started for (`--home`, else its $MLGW_HOME, else `.mlgw` in its
working directory, as localcloud.config resolves it). `mlgw stop` and `make clean` use this.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

from localcloud import daemon
from localcloud.config import Config


@dataclass(frozen=True)
class Server:
    name: str  # "gateway", "studio", "MLflow UI", "localcloud"
    pid: int
    url: str
    orphan: bool  # found by its process, not its run file

    def __str__(self) -> str:
        gone = " (its run file was gone)" if self.orphan else ""
        return f"{self.name} at {self.url} (pid {self.pid}){gone}"


def _home_of(proc: psutil.Process, cmdline: list[str]) -> Path | None:
    """The state directory an `mlgw` command works on, resolved as the command did."""
    try:
        cwd = proc.cwd()
        given = daemon.flag_value(cmdline, "--home") or proc.environ().get("MLGW_HOME") or ".mlgw"
    except psutil.Error:
        return None
    return Path(os.path.abspath(Path(cwd, given)))


def _mlgw_command(cmdline: list[str]) -> str | None:
    """The subcommand of an `mlgw ...` or `python -m mlgw ...` command line, else None."""
    for i, arg in enumerate(cmdline[:3]):
        # `mlgw ...`, `python .../mlgw ...` or `python -m mlgw ...`: never a later argument
        if Path(arg).name == "mlgw" and (i == 0 or "python" in Path(cmdline[0]).name):
            rest = [a for a in cmdline[i + 1 :] if not a.startswith("-")]
            return rest[0] if rest else None
    return None


def _foreground(subcommand: str, home: Path) -> list[psutil.Process]:
    """Live `mlgw <subcommand>` processes working on `home` (never this process)."""
    home = home.resolve()
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if (
            proc.pid == os.getpid()
            or proc.info["status"] == psutil.STATUS_ZOMBIE
            or _mlgw_command(cmdline) != subcommand
        ):
            continue
        where = _home_of(proc, cmdline)
        if where is not None and (where == home or where.resolve() == home):
            found.append(proc)
    return found


def _mlflow_servers(home: Path) -> list[psutil.Process]:
    """`python -m mlflow server` processes whose tracking store is in `home` (left behind when
    the `mlgw mlflow` command that started them was killed)."""
    store = str(home.resolve() / "mlflow")
    found = []
    for proc in psutil.process_iter(["ppid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if daemon.runs_module(cmdline, "mlflow") and store in (daemon.flag_value(cmdline, "--backend-store-uri") or ""):
            found.append(proc)
    pids = {p.pid for p in found}
    return [p for p in found if p.info["ppid"] not in pids]


def _url(proc: psutil.Process) -> str:
    """Where a process listens (its first listening TCP socket), "?" if it does not (yet)."""
    try:
        for conn in proc.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                return f"http://{conn.laddr.ip}:{conn.laddr.port}"
    except psutil.Error:
        pass
    return "?"


def _is(subcommand: str, cmdline: list[str]) -> bool:
    """Whether a command line is `mlgw <subcommand>` (or, for mlflow, the server it runs)."""
    return _mlgw_command(cmdline) == subcommand or (subcommand == "mlflow" and daemon.runs_module(cmdline, "mlflow"))


def _record_server(name: str, subcommand: str, path: Path) -> Server | None:
    """The server a run file names while its process lives (answering or not yet: the MLflow
    UI takes a while to listen) and is that server: a stale file's pid may have been reused."""
    try:
        record = json.loads(path.read_text())
        pid, url = int(record["pid"]), str(record["url"])
        alive = daemon.pid_alive(pid) and _is(subcommand, psutil.Process(pid).cmdline())
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None
    return Server(name, pid, url, False) if alive else None


def running(home: Path) -> list[Server]:
    """The servers left running for `home`, gateway first and localcloud last."""
    from mlgw.commands import gateway
    from mlgw.studio.server import mlflow_file, studio_file

    config = Config.from_flags(str(home))
    servers: list[Server] = []
    record = gateway.status(config)
    if record:
        servers.append(Server("gateway", record["pid"], record["url"], record.get("run_file") is False))
    for name, subcommand, path in (
        ("studio", "studio", studio_file(config.home)),
        ("MLflow UI", "mlflow", mlflow_file(config.home)),
    ):
        found = _record_server(name, subcommand, path)
        if found is None:
            procs = _foreground(subcommand, config.home)
            if not procs and subcommand == "mlflow":
                procs = _mlflow_servers(config.home)
            if procs:
                found = Server(name, procs[0].pid, _url(procs[0]), True)
        if found:
            servers.append(found)
    record = daemon.status(config)
    if record:
        servers.append(Server("localcloud", record["pid"], record["url"], record.get("run_file") is False))
    return servers


def stop_all(home: Path) -> list[Server]:
    """Stop the gateway, the studio, the MLflow UI and localcloud of `home` (each with its child
    processes), in that order so no server outlives the one it calls; the servers stopped."""
    from mlgw.commands import gateway
    from mlgw.studio.server import mlflow_file, studio_file

    config = Config.from_flags(str(home))
    stopped = [Server("gateway", r["pid"], r["url"], r.get("run_file") is False) for r in gateway.stop(config)]
    for name, subcommand, path in (
        ("studio", "studio", studio_file(config.home)),
        ("MLflow UI", "mlflow", mlflow_file(config.home)),
    ):
        found = _record_server(name, subcommand, path)
        targets = ([found] if found else []) + [
            Server(name, p.pid, _url(p), True)
            for p in _foreground(subcommand, config.home)
            if not found or p.pid != found.pid
        ]
        if subcommand == "mlflow":
            targets += [Server(name, p.pid, _url(p), True) for p in _mlflow_servers(config.home)]
        # one line per server, though it may be several processes (`mlgw mlflow` and the
        # `mlflow server` it runs)
        if [server for server in targets if daemon.terminate(server.pid)]:
            stopped.append(targets[0])
        path.unlink(missing_ok=True)
    stopped += [Server("localcloud", r["pid"], r["url"], r.get("run_file") is False) for r in daemon.stop(config)]
    return stopped


def summary(home: Path, command: str = "mlgw", flags: str = "") -> str:
    """One line for the end of a run: what is left running for `home` and how to stop it
    (`flags`: what the stop command needs to find `home`, e.g. " --home DIR")."""
    servers = running(home)
    if not servers:
        return "nothing left running"
    return (
        f"left running: {', '.join(str(s) for s in servers)}; stop "
        f"{'it' if len(servers) == 1 else 'them all'} with `{command} stop{flags}`"
    )
