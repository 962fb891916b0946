"""Build the studio for a target and serve it with uvicorn (127.0.0.1 unless told otherwise).

`<home>/studio.json` records the running studio (pid, host, port, url) so `mlgw run` can print
its URL; `<home>/mlflow.json` likewise records `mlgw mlflow`'s UI, which the studio links to.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import threading
import time
from pathlib import Path

from localcloud import daemon
from mlgw.studio.backend import Backend
from mlgw.target import Target

DEFAULT_PORT = 4700


def studio_file(home: Path) -> Path:
    return home / "studio.json"


def mlflow_file(home: Path) -> Path:
    return home / "mlflow.json"


def running_url(home: Path) -> str | None:
    """The URL of the studio serving this state directory, if one is running."""
    record = daemon.read_record(studio_file(home))
    return record["url"] if record else None


def mlflow_url(home: Path) -> str | None:
    record = daemon.read_record(mlflow_file(home))
    return record["url"] if record else None


def make_server(app, host: str, port: int):
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


class Background:
    """The studio served from a thread (tests, benchmarks): `.url`, `.stop()`."""

    def __init__(self, backend: Backend, host: str = "127.0.0.1", port: int = 0, mlflow: str | None = None):
        import socket

        from mlgw.studio.app import create_app

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.app = create_app(backend, mlflow, host)
        self.server = make_server(self.app, host, port)
        self.url = f"http://{host}:{port}"
        self.thread = threading.Thread(target=self.server.run, name="studio", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"studio did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class StudioError(Exception):
    """The studio cannot serve: one already serves this state directory, or the address
    cannot be bound (the message names the holder of the port)."""


def refuse_if_running(home: Path | None) -> None:
    """Raise StudioError naming the studio that already serves `home` (its run file's URL and pid)."""
    record = daemon.read_record(studio_file(home)) if home is not None else None
    if record:
        raise StudioError(
            f"studio already running at {record['url']} (pid {record['pid']}); "
            "stop it first (Ctrl-C in its terminal, or `mlgw stop`)"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or StudioError saying why not (the port's holder, an
    address not on this machine, an unknown host name). Bound here rather than by uvicorn so a
    refusal is one `mlgw: error:` line, and so the run file is written only once the port is ours."""
    address: tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]
    try:  # an address literal needs no resolver
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        address = (host, port)
    except ValueError:
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
                0
            ]
        except socket.gaierror as exc:
            raise StudioError(f"cannot serve on --host {host}: {exc.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StudioError(
                f"port {port} is taken by {daemon.port_holder(port) or 'another program'}; "
                "choose another with --studio-port or MLGW_STUDIO_PORT"
            ) from None
        raise StudioError(
            f"cannot serve on {host}:{port}: {exc.strerror} (--host must be an address of this machine)"
        ) from None
    return sock


def serve(
    target: Target, host: str, port: int, mlflow: str | None = None, out=None, sock: socket.socket | None = None
) -> None:
    """Serve in the foreground until interrupted; record the URL while running (local target).

    `sock`: bound by `bind(host, port)` already (else bound here). Raises StudioError before
    anything is written when a studio already serves target.home or the port cannot be bound.
    The run file is written once the port is bound and removed on exit only if it is still
    this process's."""
    from mlgw.studio.app import create_app

    home = target.home
    if sock is None:
        refuse_if_running(home)
        sock = bind(host, port)
    server = make_server(create_app(Backend(target), mlflow, host), host, port)
    url = f"http://{host}:{port}"
    path = studio_file(home) if home is not None else None
    if path is not None:
        daemon.write_record(path, os.getpid(), host, port)
    print(f"mlgw studio ({target.describe()}) on {url}  (Ctrl-C stops it)", file=out, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if path is not None:
            _remove_own_record(path)


def _remove_own_record(path: Path) -> None:
    try:
        mine = json.loads(path.read_text()).get("pid") == os.getpid()
    except (OSError, ValueError, AttributeError):
        return
    if mine:
        path.unlink(missing_ok=True)
